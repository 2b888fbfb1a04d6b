# Session 42, call 1 (one H200), from the repository's root at 7fd54e2 plus CPU-only changes.
# DQ with one stage (../dq1-on-7fd54e2.diff, a diagnostic: FASTMAX_DIAG_DQ1 set runs the
# head_dim 64 three-product DQ with one stage of tiles; =1 beside DK and DV without waiting for
# them, =2 after them as today; unset, 7fd54e2's kernels and order). (1) the TF32 file's and
# the op's GPU tests with FASTMAX_DIAG_DQ1=1; (2) errors against float64 at N = 1024 to 65536
# (errn2.py f32) for dq1; (3) two alternating A/B rounds of f32ab.py (float32, default
# precision, causal, token, B=4, H=16, N=65536, head_dim 64): base, dq1, dq2.
R=/tmp/r1; rm -rf $R; mkdir -p $R; S=$(date +%s); V=$PWD; C=$V/results/profile
pack() { tar czf $OUT/r.tgz -C /tmp r1; }
(nvidia-smi; python3 -c "import torch; print(torch.__version__, torch.version.cuda)"; git log -1 --format=%H; git status --short) > $R/gpu.txt 2>&1
export PYTHONUNBUFFERED=1 FASTMAX_BUILD_CUDA=1 FASTMAX_CUDA_ARCHS=9.0a MAX_JOBS=16
rm -rf /tmp/dq1 && mkdir -p /tmp/dq1 && tar cf - --exclude=./.git --exclude=./.whl --exclude=./.device . | tar xf - -C /tmp/dq1
cd /tmp/dq1 && patch -p1 -s < $C/h200-v31-diagnostics/dq1-on-7fd54e2.diff && python3 setup.py build_ext --inplace > $R/build.log 2>&1 || { tail -30 $R/build.log; pack; exit 1; }
echo "built $(( $(date +%s) - S )) s"; rm -f $R/build.log
FASTMAX_DIAG_DQ1=1 PYTHONPATH=/tmp/dq1 timeout 200 python3 -m pytest -q tests/test_tf32_forward.py tests/test_ops.py -p no:cacheprovider > $R/tests-dq1.txt 2>&1; echo "tests rc $?"; tail -n 1 $R/tests-dq1.txt; grep -E "^FAILED|^E +assert" $R/tests-dq1.txt | cut -c1-200 | head -8; pack
echo "tests $(( $(date +%s) - S )) s"
FASTMAX_SEQUENCE_SPLIT=0 FASTMAX_DIAG_DQ1=1 PYTHONPATH=/tmp/dq1 timeout 120 python3 $C/h200-v28-diagnostics/calls/errn2.py dq1 f32 > $R/errn.txt 2>&1; cat $R/errn.txt; pack
echo "errn $(( $(date +%s) - S )) s"
for r in 1 2; do
  PYTHONPATH=/tmp/dq1 python3 $C/h200-v26-diagnostics/calls/f32ab.py base $r $R/ab.csv >> $R/ab.log 2>&1
  FASTMAX_DIAG_DQ1=1 PYTHONPATH=/tmp/dq1 python3 $C/h200-v26-diagnostics/calls/f32ab.py dq1 $r $R/ab.csv >> $R/ab.log 2>&1
  FASTMAX_DIAG_DQ1=2 PYTHONPATH=/tmp/dq1 python3 $C/h200-v26-diagnostics/calls/f32ab.py dq2 $r $R/ab.csv >> $R/ab.log 2>&1
done
sort -t, -k2,2 -k1,1 $R/ab.csv; echo "end $(( $(date +%s) - S )) s"; pack
