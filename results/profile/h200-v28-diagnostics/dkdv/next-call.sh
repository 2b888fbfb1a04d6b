# Prepared for the next session's first call (one GPU), not run. Before it, on this machine:
#   git apply results/profile/h200-v28-diagnostics/dkdv/dkdv-on-ae42698.diff
# (no carry needed). Builds the working tree (HEAD with DK and DV reversed on the wgmma kernel,
# DQ there as a KIND rather than a bool), runs the TF32 file, then ncu on one forward+backward
# (ncu_f32.py): launch stats, warp states, speed of light, instruction counts and global loads
# of the four tf32_fwd_kernel launches (forward, DQ, DK, DV), to tell why a reversed pass takes
# ~9 ms where the forward takes ~4 (PERF.md v28): DV's per-element den loads and divisions on
# v's path, kNormK's mid-step barrier, DK's descriptors in vector registers (241 R2UR in its
# SASS, none in the loop of the forward's), or the reversed addresses.
R=/tmp/r1; rm -rf $R; mkdir -p $R; pack() { tar czf $OUT/r.tgz -C /tmp r1; }
export PYTHONUNBUFFERED=1 FASTMAX_BUILD_CUDA=1 FASTMAX_CUDA_ARCHS=9.0a MAX_JOBS=16
S=$(date +%s); V=$PWD; C=$V/results/profile/h200-v28-diagnostics/dkdv
(nvidia-smi; ncu --version; git log -1 --format=%H; git status --short) > $R/gpu.txt 2>&1
python3 setup.py build_ext --inplace > $R/build.log 2>&1 || { tail -30 $R/build.log; pack; exit 1; }
echo "build $(( $(date +%s) - S )) s"
timeout 150 python3 -m pytest -q tests/test_tf32_forward.py -p no:cacheprovider > $R/tests-tf32.txt 2>&1; echo "tf32 tests rc $?"; tail -n 1 $R/tests-tf32.txt; grep -E "^FAILED" $R/tests-tf32.txt | head -8; pack
M=smsp__average_warps_issue_stalled_long_scoreboard_per_issue_active.ratio,smsp__average_warps_issue_stalled_wait_per_issue_active.ratio,smsp__average_warps_issue_stalled_barrier_per_issue_active.ratio,smsp__average_warps_issue_stalled_short_scoreboard_per_issue_active.ratio,smsp__average_warps_issue_stalled_math_pipe_throttle_per_issue_active.ratio,smsp__average_warps_issue_stalled_lg_throttle_per_issue_active.ratio,smsp__inst_executed.sum,l1tex__t_sectors_pipe_lsu_mem_global_op_ld.sum,l1tex__t_requests_pipe_lsu_mem_global_op_ld.sum,dram__bytes_read.sum
timeout 240 ncu --clock-control none --profile-from-start off -k regex:tf32_fwd_kernel --section LaunchStats --section WarpStateStats --section SpeedOfLight --section InstructionStats --metrics $M --csv --page details python3 $C/ncu_f32.py > $R/ncu.csv 2> $R/ncu.err; echo "ncu rc $? $(( $(date +%s) - S )) s"; pack
python3 - <<'PY'
import csv
rows = [r for r in csv.reader(open("/tmp/r1/ncu.csv")) if len(r) > 14]
head, body = rows[0], rows[1:]
ki, mi, vi = head.index("Kernel Name"), head.index("Metric Name"), head.index("Metric Value")
want = ("Duration", "Registers Per Thread", "Warp Cycles Per Issued Instruction", "Issue Slots Busy", "Executed Instructions", "smsp__inst_executed.sum", "l1tex__t_sectors_pipe_lsu_mem_global_op_ld.sum", "dram__bytes_read.sum")
for r in body:
    if r[mi] in want or "stalled" in r[mi]:
        print(r[ki].split("tf32_fwd_kernel")[-1][:40], r[mi], r[vi])
PY
echo "end $(( $(date +%s) - S )) s"; pack
