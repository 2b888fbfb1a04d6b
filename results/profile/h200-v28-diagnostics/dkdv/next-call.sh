# Prepared for the next session's first call (one GPU), not run. Before it, on this machine:
#   rm -rf .device && mkdir .device
#   git archive HEAD $(git ls-tree --name-only HEAD | grep -v -E "^(results|docs)$") | gzip > .device/base.tgz
#   cp results/profile/h200-v26-diagnostics/calls/f32ab.py .device/
#   git apply results/profile/h200-v28-diagnostics/dkdv/dkdv-on-b22562d.diff
#   git apply results/profile/h200-v28-diagnostics/dkdv/keys-on-dkdv.diff
# and carry .device/. Three trees built side by side: base (HEAD), dkdv (HEAD with
# dkdv-on-b22562d.diff: DK and DV reversed on the wgmma kernel as v28 measured them, ~9 ms
# each) and the working tree, keys (dkdv with keys-on-dkdv.diff: DV's 1 / den and DK's q scales
# as per-key scales and terms taken once a chunk, no per-element loads on v's path). In order:
# the TF32 file's and the op's GPU tests on keys; its errors against float64 at N = 1024..65536;
# two alternating A/B rounds of f32ab.py over the three; ncu of one forward+backward
# (ncu_f32.py) on dkdv and keys over the four launches of the wgmma kernel.
R=/tmp/r1; rm -rf $R; mkdir -p $R; pack() { tar czf $OUT/r.tgz -C /tmp r1; }
export PYTHONUNBUFFERED=1 FASTMAX_BUILD_CUDA=1 FASTMAX_CUDA_ARCHS=9.0a MAX_JOBS=5
S=$(date +%s); V=$PWD; C=$V/results/profile/h200-v28-diagnostics
(nvidia-smi; ncu --version; python3 -c "import torch; print(torch.__version__, torch.version.cuda)"; git log -1 --format=%H; git status --short) > $R/gpu.txt 2>&1
for t in base dkdv; do
  rm -rf /tmp/$t && mkdir -p /tmp/$t && tar xzf .device/base.tgz -C /tmp/$t
  [ $t = base ] || (cd /tmp/$t && git apply $C/dkdv/dkdv-on-b22562d.diff) || { echo "$t diff"; pack; exit 1; }
  (cd /tmp/$t && python3 setup.py build_ext --inplace > $R/build-$t.log 2>&1) &
done
python3 setup.py build_ext --inplace > $R/build.log 2>&1 || { tail -30 $R/build.log; pack; exit 1; }
wait; ls /tmp/base/fastmax/_C*.so /tmp/dkdv/fastmax/_C*.so > /dev/null || { tail -20 $R/build-*.log; pack; exit 1; }
echo "built $(( $(date +%s) - S )) s"
on() { local t=$1; shift; if [ $t = keys ]; then (cd $V && PYTHONPATH=$V "$@"); else (cd /tmp/$t && PYTHONPATH=/tmp/$t "$@"); fi; }
on keys timeout 240 python3 -m pytest -q tests/test_tf32_forward.py tests/test_ops.py tests/test_seq_max_cuda.py tests/test_model_attention.py -p no:cacheprovider > $R/tests-keys.txt 2>&1; echo "keys tests rc $?"; tail -n 1 $R/tests-keys.txt; grep -E "^FAILED|^ERROR" $R/tests-keys.txt | head -8; pack
FASTMAX_SEQUENCE_SPLIT=0 on keys python3 $C/calls/errn2.py keys f32 > $R/errn.txt 2>&1; cat $R/errn.txt; pack
for r in 1 2; do for t in base dkdv keys; do on $t python3 $V/.device/f32ab.py $t $r $R/ab.csv >> $R/ab.log 2>&1; done; done
sort -t, -k2,2 -k1,1 $R/ab.csv; echo "ab $(( $(date +%s) - S )) s"; pack
M=smsp__average_warps_issue_stalled_long_scoreboard_per_issue_active.ratio,smsp__average_warps_issue_stalled_wait_per_issue_active.ratio,smsp__average_warps_issue_stalled_barrier_per_issue_active.ratio,smsp__average_warps_issue_stalled_short_scoreboard_per_issue_active.ratio,smsp__average_warps_issue_stalled_math_pipe_throttle_per_issue_active.ratio,smsp__average_warps_issue_stalled_lg_throttle_per_issue_active.ratio,smsp__inst_executed.sum,l1tex__t_sectors_pipe_lsu_mem_global_op_ld.sum,dram__bytes_read.sum
for t in dkdv keys; do
  on $t timeout 100 ncu --clock-control none --profile-from-start off -k regex:tf32_fwd_kernel --section LaunchStats --section WarpStateStats --section SpeedOfLight --metrics $M --csv --page details python3 $C/dkdv/ncu_f32.py > $R/ncu-$t.csv 2> $R/ncu-$t.err; echo "ncu $t rc $? $(( $(date +%s) - S )) s"; pack
done
python3 - <<'PY'
import csv
for t in ("dkdv", "keys"):
    rows = [r for r in csv.reader(open(f"/tmp/r1/ncu-{t}.csv")) if len(r) > 14]
    if not rows:
        continue
    head, body = rows[0], rows[1:]
    ki, mi, vi = head.index("Kernel Name"), head.index("Metric Name"), head.index("Metric Value")
    want = ("Duration", "Warp Cycles Per Issued Instruction", "Issue Slots Busy", "smsp__inst_executed.sum", "l1tex__t_sectors_pipe_lsu_mem_global_op_ld.sum")
    for r in body:
        if r[mi] in want or "stalled" in r[mi]:
            print(t, r[ki].split("tf32_fwd_kernel")[-1][:40], r[mi], r[vi])
PY
echo "end $(( $(date +%s) - S )) s"; pack
