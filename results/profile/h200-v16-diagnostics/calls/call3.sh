# Session 26 call 3 (one GPU): HEAD built for 9.0a, GPU tests, then the D=128 target sweep with
# the three target methods (fastmax_cuda, chunk_linear_attn, sdpa_flash), keeping Triton's cache
# (fla's autotuning) in $OUT for a later call (.device/triton.tgz).
R=/tmp/r3; mkdir -p $R; pack() { tar czf $OUT/r.tgz -C /tmp r3; tar czf $OUT/triton.tgz -C /tmp/triton .; }
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit
export PYTHONUNBUFFERED=1 FASTMAX_BUILD_CUDA=1 FASTMAX_CUDA_ARCHS=9.0a MAX_JOBS=16 TRITON_CACHE_DIR=/tmp/triton
mkdir -p /tmp/triton; [ -f .device/triton.tgz ] && tar xzf .device/triton.tgz -C /tmp/triton
S=$(date +%s); V=$PWD
(nvidia-smi; python3 -c "import torch; print(torch.__version__, torch.version.cuda)"; git log -1 --format=%H) > $R/gpu.txt 2>&1
python3 setup.py build_ext --inplace > $R/build.log 2>&1 || { tail -30 $R/build.log; pack; exit 1; }
echo "build $(( $(date +%s) - S )) s"
var() { (cd $V && PYTHONPATH=/tmp/site:$V python3 "$@"); }
(cd $V && PYTHONPATH=/tmp/site:$V timeout 170 python3 -m pytest -q tests/test_seq_max_cuda.py tests/test_ops.py tests/test_model_attention.py tests/test_rope.py tests/test_ieee_fast.py -p no:cacheprovider > $R/tests-$(git rev-parse --short HEAD).txt 2>&1); echo "tests rc $?"; tail -1 $R/tests-*.txt; echo "tests $(( $(date +%s) - S )) s"; pack
M="methods=[fastmax_cuda,chunk_linear_attn,sdpa_flash]"; C=workflow/config/bench/kernel-targets.yaml
L=$(( 570 - ($(date +%s) - S) ))
var -m fastmax.cli bench --config $C --set D=128 "$M" --out $R/d128 --max-minutes $(( (L - 45) / 60 )) > $R/d128.log 2>&1
echo "d128 rc $? $(( $(date +%s) - S )) s"; tail -c 300 $R/d128.log; pack
