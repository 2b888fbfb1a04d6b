# Prepared for the next session's first call (one GPU), not run: the rate of TF32 products
# m64nNk8 against N (rate/rate.cu: ss and rs, one or two accumulator chains, one or two
# warpgroups per SM), to test v27's reading that a product costs about the same at N=24 as at
# N=64. About a minute on a warm machine. Needs nothing in .device/.
R=/tmp/r1; rm -rf $R; mkdir -p $R; pack() { tar czf $OUT/r.tgz -C /tmp r1; }
NVCC=$(command -v nvcc || echo "${CUDA_HOME:-/usr/local/cuda}/bin/nvcc")
(nvidia-smi; nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm --format=csv; $NVCC --version | tail -2; git log -1 --format=%H; git status --short) > $R/gpu.txt 2>&1
D=results/profile/h200-v27-diagnostics/rate
$NVCC -O3 -std=c++17 -gencode=arch=compute_90a,code=sm_90a -I csrc -I $D $D/rate.cu -o /tmp/rate > $R/build.log 2>&1 || { cat $R/build.log; pack; exit 1; }
/tmp/rate > $R/rate.csv 2>&1; echo "rate rc $?"; cat $R/rate.csv; pack
