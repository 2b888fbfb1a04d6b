# Prepared for the next session's first call (one GPU), not run. The working tree is HEAD with
# dq/dqdkdv-on-f2605fd.diff applied (git apply); base is HEAD (.device/base.tgz: git archive of
# HEAD without results/ and docs/), and dq and dqdv are base with dq/dq-on-f2605fd.diff and
# dq/dqdv-on-f2605fd.diff, all built beside it; .device/ also holds f32ab.py and f32err.py of
# ../h200-v26-diagnostics/calls/; carry .device/ and .whl/ (see README). In order: (1) the rate
# of TF32 products m64nNk8 against N (rate/rate.cu), to test v27's reading of call 3; (2) the
# float32 backward passes at head_dim 64 on the wgmma forward kernel: the TF32 file's tests and
# the op's GPU tests on the working tree (also the first GPU run of this session's
# eps_in_pass_range, _profiled and _matmul_precision), errors, bitwise against base (out, dk and dv of the bitwise
# set's cases should be equal, dq of its float32 head_dim 64 causal case not: its heads are
# grouped, so its DK and DV stay on mma.sync), three alternating A/B rounds of base, dq, dqdv
# and dqdkdv at the paper's shape. next-call-2.sh then runs forward+backward beside fla at every
# N on the same warm machine (this call's in-place build is kept between calls).
R=/tmp/r1; rm -rf $R; mkdir -p $R; pack() { tar czf $OUT/r.tgz -C /tmp r1; }
NVCC=$(command -v nvcc || echo "${CUDA_HOME:-/usr/local/cuda}/bin/nvcc")
S=$(date +%s); V=$PWD
(nvidia-smi; $NVCC --version | tail -2; python3 -c "import torch; print(torch.__version__, torch.version.cuda)"; git log -1 --format=%H; git status --short) > $R/gpu.txt 2>&1
D=results/profile/h200-v27-diagnostics/rate
$NVCC -O3 -std=c++17 -gencode=arch=compute_90a,code=sm_90a -I csrc -I $D $D/rate.cu -o /tmp/rate > $R/build-rate.log 2>&1 || { cat $R/build-rate.log; pack; exit 1; }
/tmp/rate > $R/rate.csv 2>&1; echo "rate rc $? $(( $(date +%s) - S )) s"; cat $R/rate.csv; pack
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl > /dev/null 2>&1 || exit
export PYTHONUNBUFFERED=1 FASTMAX_BUILD_CUDA=1 FASTMAX_CUDA_ARCHS=9.0a MAX_JOBS=4
for t in base dq dqdv; do
  rm -rf /tmp/$t && mkdir -p /tmp/$t && tar xzf .device/base.tgz -C /tmp/$t
  [ $t = base ] || (cd /tmp/$t && git apply $V/results/profile/h200-v27-diagnostics/dq/$t-on-f2605fd.diff) || { echo "$t diff"; pack; exit 1; }
  (cd /tmp/$t && python3 setup.py build_ext --inplace > $R/build-$t.log 2>&1) &
done
python3 setup.py build_ext --inplace > $R/build.log 2>&1 || { tail -30 $R/build.log; pack; exit 1; }
wait; ls /tmp/base/fastmax/_C*.so /tmp/dq/fastmax/_C*.so /tmp/dqdv/fastmax/_C*.so > /dev/null || { tail -20 $R/build-*.log; pack; exit 1; }
echo "built $(( $(date +%s) - S )) s"
cur() { (cd $V && PYTHONPATH=/tmp/site:$V python3 "$@"); }
timeout 150 bash -c "cd $V && PYTHONPATH=/tmp/site:$V python3 -m pytest -q tests/test_tf32_forward.py -p no:cacheprovider" > $R/tests-tf32.txt 2>&1; TRC=$?; echo "tf32 tests rc $TRC"; tail -n 1 $R/tests-tf32.txt; grep -E "^E +AssertionError|^FAILED" $R/tests-tf32.txt | cut -c1-300 | head -8
cur .device/f32err.py > $R/f32err.txt 2>&1; cat $R/f32err.txt; pack
(cd /tmp/base && PYTHONPATH=/tmp/site:/tmp/base python3 -m fastmax.cli bitwise save --out /tmp/base.pt) > $R/bitwise.log 2>&1
cur -m fastmax.cli bitwise save --out /tmp/head.pt >> $R/bitwise.log 2>&1
cur -m fastmax.cli bitwise compare /tmp/base.pt /tmp/head.pt --csv $R/bitwise.csv > $R/bitwise.txt 2>&1; tail -n 1 $R/bitwise.txt; grep "bitwise=False" $R/bitwise.txt | cut -c1-150 | head -8
timeout 200 bash -c "cd $V && PYTHONPATH=/tmp/site:$V python3 -m pytest -q tests/test_ops.py tests/test_seq_max_cuda.py tests/test_model_attention.py tests/test_bench_timing.py -p no:cacheprovider" > $R/tests.txt 2>&1; echo "tests rc $?"; tail -n 1 $R/tests.txt; grep -E "^FAILED|^ERROR" $R/tests.txt | head -8; echo "t $(( $(date +%s) - S )) s"; pack
for r in 1 2 3; do
  (cd /tmp/base && PYTHONPATH=/tmp/site:/tmp/base python3 $V/.device/f32ab.py base $r $R/ab.csv) >> $R/ab.log 2>&1
  for t in dq dqdv; do (cd /tmp/$t && PYTHONPATH=/tmp/site:/tmp/$t python3 $V/.device/f32ab.py $t $r $R/ab.csv) >> $R/ab.log 2>&1; done
  cur .device/f32ab.py dqdkdv $r $R/ab.csv >> $R/ab.log 2>&1
done
sort -t, -k2,2 -k1,1 $R/ab.csv; echo "ab $(( $(date +%s) - S )) s"; pack
echo "end $(( $(date +%s) - S )) s"; pack
