# Prepared in session 40, not run (its device time was spent): for one H200, from the
# repository's root. DQ with one stage beside DK and DV (../dq1-on-93d9877.diff, a diagnostic on
# 93d9877: FASTMAX_DIAG_DQ1 set runs DQ's one-stage kernel on the current stream without
# waiting for DK and DV; unset, 9fd9273's order and kernels). Two alternating A/B rounds of
# f32ab.py (float32, default precision, causal, token, B=4, H=16, N=65536, head_dim 64).
R=/tmp/r4; rm -rf $R; mkdir -p $R; S=$(date +%s); V=$PWD
pack() { tar czf $OUT/r.tgz -C /tmp r4; }
(nvidia-smi -L; python3 -c "import torch; print(torch.__version__, torch.version.cuda)"; git log -1 --format=%H; git status --short) > $R/gpu.txt 2>&1
export PYTHONUNBUFFERED=1 FASTMAX_BUILD_CUDA=1 FASTMAX_CUDA_ARCHS=9.0a MAX_JOBS=16
rm -rf /tmp/dq1 && mkdir -p /tmp/dq1 && tar cf - --exclude=./.git --exclude=./.whl --exclude=./.device . | tar xf - -C /tmp/dq1
cd /tmp/dq1 && patch -p1 -s < $V/results/profile/h200-v30-diagnostics/dq1-on-93d9877.diff && python3 setup.py build_ext --inplace > $R/build.log 2>&1 || { tail -20 $R/build.log; pack; exit 1; }
echo "built $(( $(date +%s) - S )) s"; rm -f $R/build.log
for r in 1 2; do
  PYTHONPATH=/tmp/dq1 python3 $V/results/profile/h200-v26-diagnostics/calls/f32ab.py base $r $R/ab.csv >> $R/ab.log 2>&1
  FASTMAX_DIAG_DQ1=1 PYTHONPATH=/tmp/dq1 python3 $V/results/profile/h200-v26-diagnostics/calls/f32ab.py dq1 $r $R/ab.csv >> $R/ab.log 2>&1
done
sort -t, -k2,2 -k1,1 $R/ab.csv; echo "end $(( $(date +%s) - S )) s"; pack
