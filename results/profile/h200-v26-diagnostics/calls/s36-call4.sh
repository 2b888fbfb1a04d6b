# Session 36, call 4: where the three-product forward's time goes (head_dim 64, default
# precision). HEAD (cur) and four variants of csrc/pass_tf32_fwd.cu built side by side: nosplit
# (no low parts of Q and K computed), norest (W's and Q S's two low products not issued), onev
# (one product in W V and the state update), ilv (W's and Q S's low products interleaved, one
# group); the first three give wrong values and are timed only. ilv's tests, three alternating
# rounds, then ncu of cur.
R=/tmp/r4; rm -rf $R; mkdir -p $R; pack() { tar czf $OUT/r.tgz -C /tmp r4; }
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl > /dev/null 2>&1 || exit
export PYTHONUNBUFFERED=1 FASTMAX_BUILD_CUDA=1 FASTMAX_CUDA_ARCHS=9.0a MAX_JOBS=3
S=$(date +%s); V=$PWD; X="nosplit norest onev ilv"
(nvidia-smi; ncu --version; python3 -c "import torch; print(torch.__version__, torch.version.cuda)"; git log -1 --format=%H; git status --short) > $R/gpu.txt 2>&1
for x in $X; do rm -rf /tmp/$x && mkdir -p /tmp/$x && tar xzf .device/$x.tgz -C /tmp/$x; (cd /tmp/$x && python3 setup.py build_ext --inplace > $R/build-$x.log 2>&1) & done
python3 setup.py build_ext --inplace > $R/build.log 2>&1 || { tail -30 $R/build.log; pack; exit 1; }
wait; for x in $X; do ls /tmp/$x/fastmax/_C*.so > /dev/null || { tail -20 $R/build-$x.log; pack; exit 1; }; done
echo "built $(( $(date +%s) - S )) s"
timeout 100 bash -c "cd /tmp/ilv && PYTHONPATH=/tmp/site:/tmp/ilv python3 -m pytest -q tests/test_tf32_forward.py -p no:cacheprovider" > $R/tests-tf32-ilv.txt 2>&1; echo "ilv tf32 tests rc $?"; tail -n 1 $R/tests-tf32-ilv.txt
for r in 1 2 3; do
  for x in cur $X; do
    T=/tmp/$x; [ $x = cur ] && T=$V
    (cd $T && PYTHONPATH=/tmp/site:$T python3 $V/.device/f32ab.py $x $r $R/ab.csv) >> $R/ab.log 2>&1
  done
  echo "round $r $(( $(date +%s) - S )) s"; pack
done
sort -t, -k2,2 -k1,1 -k3,3 $R/ab.csv
(cd $V && PYTHONPATH=/tmp/site:$V timeout 120 ncu --clock-control none --profile-from-start off -k regex:tf32_fwd_kernel --section LaunchStats --section Occupancy --section WarpStateStats --section SpeedOfLight --section ComputeWorkloadAnalysis --section MemoryWorkloadAnalysis --section SchedulerStats --section InstructionStats --metrics 'regex:smsp__average_warps_issue_stalled_.*_per_issue_active\.ratio' > $R/ncu-cur.txt 2> $R/ncu-cur.err python3 .device/ncu_f32.py); echo "ncu rc $? $(( $(date +%s) - S )) s"
grep -E "Duration|Warp Cycles Per Issued|Issue Slots Busy|Executed Ipc|Compute \(SM\) Throughput|Memory Throughput|stalled" $R/ncu-cur.txt | grep -v " 0$" | head -40
echo "end $(( $(date +%s) - S )) s"; pack
