# Session 30 call 3 (one GPU): 8027b44 (the ones tile in the full mode) against c4f0f19 (base),
# built for 9.0a: the correctness matrix, bitwise against base, then issue 9's every-N sweep at
# D=128 (three target methods) for the rest of the call.
R=/tmp/r3; mkdir -p $R; pack() { tar czf $OUT/r.tgz -C /tmp r3; }
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit
export PYTHONUNBUFFERED=1 FASTMAX_BUILD_CUDA=1 FASTMAX_CUDA_ARCHS=9.0a MAX_JOBS=8
S=$(date +%s); V=$PWD
(nvidia-smi; python3 -c "import torch; print(torch.__version__, torch.version.cuda)"; git log -1 --format=%H; git status --short) > $R/gpu.txt 2>&1
rm -rf /tmp/base && mkdir -p /tmp/base && tar xzf .device/base.tgz -C /tmp/base
(cd /tmp/base && python3 setup.py build_ext --inplace > $R/build-base.log 2>&1) & PB=$!
python3 setup.py build_ext --inplace > $R/build.log 2>&1 || { tail -30 $R/build.log; pack; exit 1; }
echo "build $(( $(date +%s) - S )) s"
base() { (cd /tmp/base && PYTHONPATH=/tmp/site:/tmp/base python3 "$@"); }
cur() { (cd $V && PYTHONPATH=/tmp/site:$V python3 "$@"); }
timeout 110 bash -c "cd $V && PYTHONPATH=/tmp/site:$V python3 -m fastmax.cli check --out $R/kernels" > $R/check.log 2>&1; echo "check rc $?"; tail -c 300 $R/check.log; echo "t $(( $(date +%s) - S )) s"; pack
wait $PB || { tail -n 5 $R/build-base.log; pack; exit 0; }
base -m fastmax.cli bitwise save --out /tmp/base.pt > $R/bitwise.log 2>&1
cur -m fastmax.cli bitwise save --out /tmp/head.pt >> $R/bitwise.log 2>&1
cur -m fastmax.cli bitwise compare /tmp/base.pt /tmp/head.pt --csv $R/bitwise-8027b44-c4f0f19.csv > $R/bitwise.txt 2>&1; tail -n 1 $R/bitwise.txt; grep -v "bitwise=True" $R/bitwise.txt | head -n 12
echo "t $(( $(date +%s) - S )) s"; pack
M=$(python3 -c "print(round((545 - ($(date +%s) - $S)) / 60, 2))")
cur -m fastmax.cli bench --config workflow/config/bench/kernel-targets.yaml --set D=128 "methods=[fastmax_cuda,chunk_linear_attn,sdpa_flash]" --out $R/d128 --max-minutes $M > $R/bench-d128.log 2>&1; echo "bench rc $? ($M min)"; tail -n 3 $R/bench-d128.log; wc -l $R/d128/bench.csv
echo "end $(( $(date +%s) - S )) s"; pack
