# Session 27 call 4 (one GPU): HEAD (seq_max's peaks in one kernel per head each way) built for
# 9.0a: the GPU tests and the correctness matrix (fastmax check, seq_max cases included).
R=/tmp/r4; mkdir -p $R; pack() { tar czf $OUT/r.tgz -C /tmp r4; }
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit
export PYTHONUNBUFFERED=1 FASTMAX_BUILD_CUDA=1 FASTMAX_CUDA_ARCHS=9.0a MAX_JOBS=16
S=$(date +%s); V=$PWD
(nvidia-smi; python3 -c "import torch; print(torch.__version__, torch.version.cuda)"; git log -1 --format=%H; git status --short) > $R/gpu.txt 2>&1
python3 setup.py build_ext --inplace > $R/build.log 2>&1 || { tail -30 $R/build.log; pack; exit 1; }
echo "build $(( $(date +%s) - S )) s"
(cd $V && PYTHONPATH=/tmp/site:$V timeout 170 python3 -m pytest -q tests/test_seq_max_cuda.py tests/test_ops.py tests/test_model_attention.py tests/test_rope.py tests/test_ieee_fast.py -p no:cacheprovider > $R/tests-$(git rev-parse --short HEAD).txt 2>&1); echo "tests rc $?"; tail -1 $R/tests-*.txt; echo "tests $(( $(date +%s) - S )) s"; pack
timeout 100 bash -c "cd $V && PYTHONPATH=/tmp/site:$V python3 -m fastmax.cli check --out $R/kernels" > $R/check.log 2>&1; echo "check rc $?"; tail -c 400 $R/check.log; echo "check $(( $(date +%s) - S )) s"; pack
grep -E "^FAILED|^ERROR" $R/tests-*.txt | head
