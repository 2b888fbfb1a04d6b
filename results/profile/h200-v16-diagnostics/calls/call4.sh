# Session 26 call 4 (one GPU, the session's last ~500 s): the N=65536 target sweep of HEAD, D=128
# then D=64, three target methods, on call 3's machine when still warm (build, Triton cache).
R=/tmp/r4; mkdir -p $R; pack() { tar czf $OUT/r.tgz -C /tmp r4; }
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit
export PYTHONUNBUFFERED=1 FASTMAX_BUILD_CUDA=1 FASTMAX_CUDA_ARCHS=9.0a MAX_JOBS=16 TRITON_CACHE_DIR=/tmp/triton
S=$(date +%s); V=$PWD; mkdir -p /tmp/triton
(nvidia-smi; python3 -c "import torch; print(torch.__version__, torch.version.cuda)"; git log -1 --format=%H) > $R/gpu.txt 2>&1
python3 setup.py build_ext --inplace > $R/build.log 2>&1 || { tail -30 $R/build.log; pack; exit 1; }
echo "build $(( $(date +%s) - S )) s"
var() { (cd $V && PYTHONPATH=/tmp/site:$V python3 "$@"); }
M="methods=[fastmax_cuda,chunk_linear_attn,sdpa_flash]"; C=workflow/config/bench/kernel-targets.yaml
left() { echo $(( (440 - ($(date +%s) - S)) / 60 )); }
var -m fastmax.cli bench --config $C --set D=128 "N=[65536]" "$M" --out $R/d128-n65536 --max-minutes $(left) > $R/d128.log 2>&1
echo "d128 rc $? $(( $(date +%s) - S )) s"; tail -c 200 $R/d128.log; pack
var -m fastmax.cli bench --config $C --set D=64 "N=[65536]" "$M" --out $R/d64-n65536 --max-minutes $(left) > $R/d64.log 2>&1
echo "d64 rc $? $(( $(date +%s) - S )) s"; tail -c 200 $R/d64.log; pack
