# Session 27 call 1 (one GPU): HEAD built for 9.0a; GPU tests of the changed ops; the correctness
# matrix with seq_max; seq_max at B=1 N=8192 profiled; then the every-N D=128 target sweep
# (continued by s27-call2.sh on the same warm machine, Triton cache kept in /tmp/triton).
R=/tmp/r1; mkdir -p $R; pack() { tar czf $OUT/r.tgz -C /tmp r1; }
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit
export PYTHONUNBUFFERED=1 FASTMAX_BUILD_CUDA=1 FASTMAX_CUDA_ARCHS=9.0a MAX_JOBS=16 TRITON_CACHE_DIR=/tmp/triton
S=$(date +%s); V=$PWD; mkdir -p /tmp/triton
(nvidia-smi; python3 -c "import torch; print(torch.__version__, torch.version.cuda)"; git log -1 --format=%H) > $R/gpu.txt 2>&1
python3 setup.py build_ext --inplace > $R/build.log 2>&1 || { tail -30 $R/build.log; pack; exit 1; }
echo "build $(( $(date +%s) - S )) s"
var() { (cd $V && PYTHONPATH=/tmp/site:$V python3 "$@"); }
(cd $V && PYTHONPATH=/tmp/site:$V timeout 150 python3 -m pytest -q tests/test_seq_max_cuda.py tests/test_ops.py -p no:cacheprovider > $R/tests-$(git rev-parse --short HEAD).txt 2>&1); echo "tests rc $?"; tail -1 $R/tests-*.txt; echo "tests $(( $(date +%s) - S )) s"
timeout 90 bash -c "cd $V && PYTHONPATH=/tmp/site:$V python3 -m fastmax.cli check --out $R/kernels" > $R/check.log 2>&1; echo "check rc $?"; tail -c 300 $R/check.log; echo "check $(( $(date +%s) - S )) s"
mkdir -p $R/b1; timeout 60 bash -c "cd $V && PYTHONPATH=/tmp/site:$V python3 .device/prof_b1.py $R/b1" > $R/b1/prof.log 2>&1; echo "prof rc $?"; cat $R/b1/prof.log | tail -8; pack
M="methods=[fastmax_cuda,chunk_linear_attn,sdpa_flash]"; C=workflow/config/bench/kernel-targets.yaml
var -m fastmax.cli bench --config $C --set D=128 "$M" --out $R/d128 --max-minutes $(( (530 - ($(date +%s) - S)) / 60 )) > $R/d128.log 2>&1
echo "d128 rc $? $(( $(date +%s) - S )) s"; tail -c 200 $R/d128.log; pack
