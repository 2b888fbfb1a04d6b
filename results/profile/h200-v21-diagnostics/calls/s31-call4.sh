# Session 31 call 4 (one GPU): ncu of one token forward+backward (B=4, H=16, N=16384, D=128,
# causal, bfloat16; the passes serialized by ncu) for c68e51d (DK) and nocl (DKN's epilogue
# without the cluster exchange): launch stats, warp states, speed of light, global load
# sectors, to tell DKN's extra time in its k loads from its registers.
R=/tmp/r4; mkdir -p $R; pack() { tar czf $OUT/r.tgz -C /tmp r4; }
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit
export PYTHONUNBUFFERED=1 FASTMAX_BUILD_CUDA=1 FASTMAX_CUDA_ARCHS=9.0a MAX_JOBS=8
S=$(date +%s); V=$PWD
(nvidia-smi; ncu --version; git log -1 --format=%H; git status --short) > $R/gpu.txt 2>&1
rm -rf /tmp/nocl && mkdir -p /tmp/nocl && tar xzf .device/nocl.tgz -C /tmp/nocl
(cd /tmp/nocl && python3 setup.py build_ext --inplace > $R/build-nocl.log 2>&1) & PB=$!
python3 setup.py build_ext --inplace > $R/build.log 2>&1 || { tail -30 $R/build.log; pack; exit 1; }
wait $PB || { tail -n 20 $R/build-nocl.log; pack; exit 1; }
echo "build $(( $(date +%s) - S )) s"
M=smsp__average_warps_issue_stalled_long_scoreboard_per_issue_active.ratio,smsp__average_warps_issue_stalled_wait_per_issue_active.ratio,smsp__average_warps_issue_stalled_barrier_per_issue_active.ratio,smsp__average_warps_issue_stalled_short_scoreboard_per_issue_active.ratio,smsp__average_warps_issue_stalled_math_pipe_throttle_per_issue_active.ratio,smsp__average_warps_issue_stalled_lg_throttle_per_issue_active.ratio,smsp__average_warps_issue_stalled_no_instruction_per_issue_active.ratio,smsp__inst_executed.sum,l1tex__t_sectors_pipe_lsu_mem_global_op_ld.sum,l1tex__t_requests_pipe_lsu_mem_global_op_ld.sum,dram__bytes_read.sum,lts__t_bytes.sum
for t in c68e51d nocl; do
  d=$V; [ $t = nocl ] && d=/tmp/nocl
  (cd $d && PYTHONPATH=/tmp/site:$d timeout 110 ncu --clock-control none --profile-from-start off -k regex:chunk_kernel --section LaunchStats --section WarpStateStats --section SpeedOfLight --metrics $M --csv --page details python3 $V/.device/ncu_bwd.py > $R/ncu-$t.csv 2> $R/ncu-$t.err); echo "ncu $t rc $? $(( $(date +%s) - S )) s"; pack
done
python3 - <<'PY'
import csv
for t in ("c68e51d", "nocl"):
    rows = [r for r in csv.reader(open(f"/tmp/r4/ncu-{t}.csv")) if len(r) > 14]
    head, body = rows[0], rows[1:]
    ki, mi, vi = head.index("Kernel Name"), head.index("Metric Name"), head.index("Metric Value")
    want = ("Duration", "Registers Per Thread", "Warp Cycles Per Issued Instruction", "Stall Long Scoreboard", "Stall Wait", "Stall Barrier", "smsp__inst_executed.sum", "l1tex__t_sectors_pipe_lsu_mem_global_op_ld.sum", "l1tex__t_requests_pipe_lsu_mem_global_op_ld.sum", "dram__bytes_read.sum")
    for r in body:
        if (r[mi] in want or "stalled" in r[mi]) and (", 2, 1," in r[ki] or ", 5, 1," in r[ki]):
            print(t, r[ki][:48], r[mi], r[vi])
PY
echo "end $(( $(date +%s) - S )) s"; pack
