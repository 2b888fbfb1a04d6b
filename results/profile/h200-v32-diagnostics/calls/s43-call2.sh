# Session 43, call 2 (one H200), from the repository's root at 6b2a179 plus records. base: the
# working tree; trunc: it with ../trunc-on-6b2a179.diff (float32's TF32 splits in Frag<float>::put
# without cvt.rna: the high part rounded by an integer add and mask, the low part raw for the unit
# to truncate; 22-35% fewer static SASS instructions per float32 mma.sync kernel, no spills).
# (1) the op's and the TF32 file's GPU tests on trunc; (2) errors against float64 at N = 1024 to
# 65536, head_dim 128, default precision and TF32, for both; (3) two alternating rounds of
# `fastmax ab-time run --dtype float32` for both, at the default precision and with TF32
# allowed; (4) the correctness matrix's CUDA float32 cases on trunc at both precisions.
R=/tmp/r2; rm -rf $R; mkdir -p $R; S=$(date +%s); V=$PWD; C=$V/results/profile
pack() { tar czf $OUT/r.tgz -C /tmp r2; }
(nvidia-smi; python3 -c "import torch; print(torch.__version__, torch.version.cuda)"; git log -1 --format=%H; git status --short) > $R/gpu.txt 2>&1
export PYTHONUNBUFFERED=1 FASTMAX_BUILD_CUDA=1 FASTMAX_CUDA_ARCHS=9.0a MAX_JOBS=8
rm -rf /tmp/trunc && mkdir -p /tmp/trunc && tar cf - --exclude=./.git --exclude=./.whl --exclude=./.device . | tar xf - -C /tmp/trunc
(cd /tmp/trunc && patch -p1 -s < $C/h200-v32-diagnostics/trunc-on-6b2a179.diff) || { echo patch failed; exit 1; }
(cd /tmp/trunc && python3 setup.py build_ext --inplace > $R/build-trunc.log 2>&1) &
python3 setup.py build_ext --inplace > $R/build.log 2>&1 || { tail -30 $R/build.log; pack; exit 1; }
wait; ls /tmp/trunc/fastmax/_C*.so > /dev/null || { tail -30 $R/build-trunc.log; pack; exit 1; }
echo "built $(( $(date +%s) - S )) s"; rm -f $R/build*.log
(cd /tmp/trunc && PYTHONPATH=/tmp/trunc timeout 200 python3 -m pytest -q tests/test_ops.py tests/test_tf32_forward.py -p no:cacheprovider) > $R/tests-trunc.txt 2>&1; echo "tests rc $?"; tail -n 1 $R/tests-trunc.txt; grep -E "^FAILED" $R/tests-trunc.txt | cut -c1-200 | head -8; pack
echo "tests $(( $(date +%s) - S )) s"
for t in base trunc; do
  d=$V; [ $t = trunc ] && d=/tmp/trunc
  (cd $d && FASTMAX_SEQUENCE_SPLIT=0 PYTHONPATH=$d timeout 100 python3 $C/h200-v28-diagnostics/calls/errn2.py $t f32-128 tf32-128) >> $R/errn.txt 2>&1
done
cat $R/errn.txt; pack; echo "errn $(( $(date +%s) - S )) s"
TF='import sys, torch; torch.set_float32_matmul_precision("high"); from fastmax.cli import main; sys.exit(main(sys.argv[1:]))'
for r in 1 2; do
  for t in base trunc; do
    d=$V; [ $t = trunc ] && d=/tmp/trunc
    (cd $d && PYTHONPATH=$d python3 -m fastmax.cli ab-time run --dtype float32 --label $t --csv $R/ab.csv >> $R/ab.log 2>&1)
    (cd $d && PYTHONPATH=$d python3 -c "$TF" ab-time run --dtype float32 --label $t --csv $R/ab-tf32.csv >> $R/ab-tf32.log 2>&1)
  done
  echo "ab $r $(( $(date +%s) - S )) s"; pack
done
python3 -m fastmax.cli ab-time table $R/ab.csv --base base 2>&1 | tee $R/ab-table.txt
python3 -m fastmax.cli ab-time table $R/ab-tf32.csv --base base 2>&1 | tee $R/ab-tf32-table.txt; pack
for p in highest high; do
  (cd /tmp/trunc && PYTHONPATH=/tmp/trunc timeout 90 python3 -m fastmax.cli check --out $R/check-$p --backends cuda --dtypes float32 --float32-precision $p > $R/check-$p.log 2>&1); echo "check $p rc $?"; tail -c 300 $R/check-$p.log; pack
done
echo "end $(( $(date +%s) - S )) s"
