# Session 42, call 6 (one H200), carrying .device (base.tgz: 7fd54e2's csrc, fastmax and build
# files). The working tree: the row scalars' copy loop in chunk_kernel.cuh's load as an if
# (`if1`); base: 7fd54e2, built beside it. (1) the op's GPU tests on the working tree; (2) two
# alternating A/B rounds of `fastmax ab-time run` (bfloat16, the h200 shape set).
R=/tmp/r6; rm -rf $R; mkdir -p $R; S=$(date +%s); V=$PWD; pack() { tar czf $OUT/r.tgz -C /tmp r6; }
(nvidia-smi -L; python3 -c "import torch; print(torch.__version__, torch.version.cuda)"; git log -1 --format=%H; git status --short) > $R/gpu.txt 2>&1
export PYTHONUNBUFFERED=1 FASTMAX_BUILD_CUDA=1 FASTMAX_CUDA_ARCHS=9.0a MAX_JOBS=8
rm -rf /tmp/base && mkdir -p /tmp/base && tar xzf .device/base.tgz -C /tmp/base && (cd /tmp/base && python3 setup.py build_ext --inplace > $R/build-base.log 2>&1) &
python3 setup.py build_ext --inplace > $R/build.log 2>&1 || { tail -30 $R/build.log; pack; exit 1; }
wait; ls /tmp/base/fastmax/_C*.so > /dev/null || { tail -30 $R/build-base.log; pack; exit 1; }
echo "built $(( $(date +%s) - S )) s"; rm -f $R/build*.log
PYTHONPATH=$V timeout 90 python3 -m pytest -q -x tests/test_ops.py -p no:cacheprovider > $R/tests.txt 2>&1; echo "tests rc $?"; tail -n 1 $R/tests.txt; grep -E "^FAILED" $R/tests.txt | head -4; pack
echo "tests $(( $(date +%s) - S )) s"
for r in 1 2; do
  (cd /tmp/base && PYTHONPATH=/tmp/base python3 -m fastmax.cli ab-time run --label base --csv $R/ab.csv >> $R/ab.log 2>&1)
  PYTHONPATH=$V python3 -m fastmax.cli ab-time run --label if1 --csv $R/ab.csv >> $R/ab.log 2>&1
  echo "ab $r $(( $(date +%s) - S )) s"; pack
done
PYTHONPATH=$V python3 -m fastmax.cli ab-time table $R/ab.csv --base base 2>&1 | tee $R/ab-table.txt | tail -n 16; pack
