# Prepared for the next session's first call (one GPU), not run. (1) The rate of TF32 products
# m64nNk8 against N (rate/rate.cu: ss and rs, one or two accumulator chains, one or two
# warpgroups per SM), to test v27's reading that a product costs about the same at N=24 as at
# N=64. (2) The first GPU run of this session's last commits, which ran on no GPU: the TF32
# file's tests (test_tf32_forward.py's kernel counts through _profiled) and the op's GPU tests
# (fastmax_ops.cpp's eps_in_pass_range). Needs .whl/ carried (the wheels of
# ../h200-v26-diagnostics/README.md); about three minutes on a warm machine.
R=/tmp/r1; rm -rf $R; mkdir -p $R; pack() { tar czf $OUT/r.tgz -C /tmp r1; }
NVCC=$(command -v nvcc || echo "${CUDA_HOME:-/usr/local/cuda}/bin/nvcc")
(nvidia-smi; nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm --format=csv; $NVCC --version | tail -2; python3 -c "import torch; print(torch.__version__, torch.version.cuda)"; git log -1 --format=%H; git status --short) > $R/gpu.txt 2>&1
D=results/profile/h200-v27-diagnostics/rate
$NVCC -O3 -std=c++17 -gencode=arch=compute_90a,code=sm_90a -I csrc -I $D $D/rate.cu -o /tmp/rate > $R/build-rate.log 2>&1 || { cat $R/build-rate.log; pack; exit 1; }
/tmp/rate > $R/rate.csv 2>&1; echo "rate rc $?"; cat $R/rate.csv; pack
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl > /dev/null 2>&1 || exit
export PYTHONUNBUFFERED=1 FASTMAX_BUILD_CUDA=1 FASTMAX_CUDA_ARCHS=9.0a MAX_JOBS=16
python3 setup.py build_ext --inplace > $R/build.log 2>&1 || { tail -30 $R/build.log; pack; exit 1; }
timeout 150 env PYTHONPATH=/tmp/site:$PWD python3 -m pytest -q tests/test_tf32_forward.py -p no:cacheprovider > $R/tests-tf32.txt 2>&1; echo "tf32 tests rc $?"; tail -n 1 $R/tests-tf32.txt; grep -E "^FAILED|^ERROR" $R/tests-tf32.txt | head -8
timeout 200 env PYTHONPATH=/tmp/site:$PWD python3 -m pytest -q tests/test_ops.py tests/test_seq_max_cuda.py tests/test_model_attention.py tests/test_bench_timing.py -p no:cacheprovider > $R/tests.txt 2>&1; echo "tests rc $?"; tail -n 1 $R/tests.txt; grep -E "^FAILED|^ERROR" $R/tests.txt | head -8
pack
