# Session 33 call 3 (one GPU): issue 9's every-N sweep of 235bd6e (main's kernels since
# session 31) at D=128, three target methods, built for 9.0a.
R=/tmp/r3; mkdir -p $R; pack() { tar czf $OUT/r.tgz -C /tmp r3; }
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit
export PYTHONUNBUFFERED=1 FASTMAX_BUILD_CUDA=1 FASTMAX_CUDA_ARCHS=9.0a MAX_JOBS=16
S=$(date +%s); V=$PWD
(nvidia-smi; python3 -c "import torch; print(torch.__version__, torch.version.cuda)"; git log -1 --format=%H; git status --short) > $R/gpu.txt 2>&1
python3 setup.py build_ext --inplace > $R/build.log 2>&1 || { tail -30 $R/build.log; pack; exit 1; }
echo "build $(( $(date +%s) - S )) s"
cur() { (cd $V && PYTHONPATH=/tmp/site:$V python3 "$@"); }
M=$(python3 -c "print(round((560 - ($(date +%s) - $S)) / 60, 2))")
cur -m fastmax.cli bench --config workflow/config/bench/kernel-targets.yaml --set D=128 "methods=[fastmax_cuda,chunk_linear_attn,sdpa_flash]" --out $R/d128 --max-minutes $M > $R/bench-d128.log 2>&1; echo "bench rc $? ($M min)"; tail -n 3 $R/bench-d128.log; wc -l $R/d128/bench.csv
echo "end $(( $(date +%s) - S )) s"; pack
