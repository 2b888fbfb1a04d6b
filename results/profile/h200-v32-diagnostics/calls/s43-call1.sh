# Prepared in session 42 and run in session 43 as call 1 (one H200), from the
# repository's root at 562c72d or later with unchanged kernels, carrying .device with base.tgz =
# `git archive --format=tar.gz 7fd54e2 csrc fastmax setup.py pyproject.toml README.md`.
# Labels: v0 = 7fd54e2; head = the working tree (aa71241's row-scalar copy as an if); sigma1 =
# head with ../sigma1-on-562c72d.diff (float32's per-chunk sigma reduction as an if: 224-1288
# fewer static SASS instructions per float32 mma.sync kernel, registers unchanged). aa71241 was
# timed in bfloat16 only (call 6); float32's mma.sync passes (head_dim 128 at the default
# precision) change under both. (1) the op's GPU tests on sigma1; (2) two alternating rounds
# of `fastmax ab-time run --dtype float32` for v0, head and sigma1.
R=/tmp/rn; rm -rf $R; mkdir -p $R; S=$(date +%s); V=$PWD; pack() { tar czf $OUT/r.tgz -C /tmp rn; }
(nvidia-smi -L; python3 -c "import torch; print(torch.__version__, torch.version.cuda)"; git log -1 --format=%H; git status --short) > $R/gpu.txt 2>&1
export PYTHONUNBUFFERED=1 FASTMAX_BUILD_CUDA=1 FASTMAX_CUDA_ARCHS=9.0a MAX_JOBS=6
rm -rf /tmp/v0 /tmp/sigma1 && mkdir -p /tmp/v0 /tmp/sigma1 && tar xzf .device/base.tgz -C /tmp/v0
tar cf - --exclude=./.git --exclude=./.whl --exclude=./.device . | tar xf - -C /tmp/sigma1
(cd /tmp/sigma1 && patch -p1 -s < $V/results/profile/h200-v31-diagnostics/sigma1-on-562c72d.diff) || { echo patch failed; exit 1; }
for t in v0 sigma1; do (cd /tmp/$t && python3 setup.py build_ext --inplace > $R/build-$t.log 2>&1) & done
python3 setup.py build_ext --inplace > $R/build.log 2>&1 || { tail -30 $R/build.log; pack; exit 1; }
wait; for t in v0 sigma1; do ls /tmp/$t/fastmax/_C*.so > /dev/null || { tail -30 $R/build-$t.log; pack; exit 1; }; done
echo "built $(( $(date +%s) - S )) s"; rm -f $R/build*.log
(cd /tmp/sigma1 && PYTHONPATH=/tmp/sigma1 timeout 120 python3 -m pytest -q -x tests/test_ops.py -p no:cacheprovider) > $R/tests-sigma1.txt 2>&1; echo "tests rc $?"; tail -n 1 $R/tests-sigma1.txt; pack
for r in 1 2; do
  for t in v0 sigma1; do (cd /tmp/$t && PYTHONPATH=/tmp/$t python3 -m fastmax.cli ab-time run --dtype float32 --label $t --csv $R/ab.csv >> $R/ab.log 2>&1); done
  PYTHONPATH=$V python3 -m fastmax.cli ab-time run --dtype float32 --label head --csv $R/ab.csv >> $R/ab.log 2>&1
  echo "ab $r $(( $(date +%s) - S )) s"; pack
done
PYTHONPATH=$V python3 -m fastmax.cli ab-time table $R/ab.csv --base v0 2>&1 | tee $R/ab-table.txt | tail -n 18; pack
