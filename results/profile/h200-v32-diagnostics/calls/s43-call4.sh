# Session 43, call 4 (one H200), from the repository's root at the commit in gpu.txt, carrying
# .whl (LitGPT, which test_model_attention.py imports): the op's GPU test files, then the
# correctness matrix (fastmax check, every backend and dtype).
R=/tmp/r4; rm -rf $R; mkdir -p $R; S=$(date +%s); pack() { tar czf $OUT/r.tgz -C /tmp r4; }
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl > /dev/null 2>&1 || exit
(nvidia-smi; python3 -c "import torch; print(torch.__version__, torch.version.cuda)"; git log -1 --format=%H; git status --short) > $R/gpu.txt 2>&1
export PYTHONUNBUFFERED=1 FASTMAX_BUILD_CUDA=1 FASTMAX_CUDA_ARCHS=9.0a MAX_JOBS=16
python3 setup.py build_ext --inplace > $R/build.log 2>&1 || { tail -30 $R/build.log; pack; exit 1; }
echo "built $(( $(date +%s) - S )) s"; rm -f $R/build.log
PYTHONPATH=/tmp/site:$PWD timeout 200 python3 -m pytest -q tests/test_ops.py tests/test_tf32_forward.py tests/test_seq_max_cuda.py tests/test_model_attention.py -p no:cacheprovider > $R/tests.txt 2>&1; echo "tests rc $?"; tail -n 1 $R/tests.txt; grep -E "^FAILED" $R/tests.txt | head; pack
PYTHONPATH=$PWD timeout 150 python3 -m fastmax.cli check --out $R/kernels > $R/check.log 2>&1; echo "check rc $?"; tail -c 450 $R/check.log; pack
echo "end $(( $(date +%s) - S )) s"
