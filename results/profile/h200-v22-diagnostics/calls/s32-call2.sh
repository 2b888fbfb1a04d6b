# Session 32 call 2 (one GPU): ncu of one token forward+backward (B=4, H=16, N=16384, D=128,
# causal, bfloat16; passes serialized by ncu) for dbe47b2 (base) and tma: where TMA's copies
# make the scans slower (warp stalls, memory traffic, L2 hits).
R=/tmp/r2; mkdir -p $R; pack() { tar czf $OUT/r.tgz -C /tmp r2; }
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit
export PYTHONUNBUFFERED=1 FASTMAX_BUILD_CUDA=1 FASTMAX_CUDA_ARCHS=9.0a MAX_JOBS=8
S=$(date +%s); V=$PWD
(nvidia-smi; ncu --version; git log -1 --format=%H; git status --short) > $R/gpu.txt 2>&1
if ! ls /tmp/base/fastmax/_C*.so >/dev/null 2>&1; then rm -rf /tmp/base && mkdir -p /tmp/base && tar xzf .device/base.tgz -C /tmp/base; (cd /tmp/base && python3 setup.py build_ext --inplace > $R/build-base.log 2>&1) & fi
python3 setup.py build_ext --inplace > $R/build.log 2>&1 || { tail -30 $R/build.log; pack; exit 1; }
wait; echo "build $(( $(date +%s) - S )) s"
M=smsp__average_warps_issue_stalled_long_scoreboard_per_issue_active.ratio,smsp__average_warps_issue_stalled_wait_per_issue_active.ratio,smsp__average_warps_issue_stalled_barrier_per_issue_active.ratio,smsp__average_warps_issue_stalled_short_scoreboard_per_issue_active.ratio,smsp__average_warps_issue_stalled_math_pipe_throttle_per_issue_active.ratio,smsp__average_warps_issue_stalled_sleeping_per_issue_active.ratio,smsp__average_warps_issue_stalled_membar_per_issue_active.ratio,smsp__average_warps_issue_stalled_branch_resolving_per_issue_active.ratio,smsp__average_warps_issue_stalled_no_instruction_per_issue_active.ratio,smsp__average_warps_issue_stalled_mio_throttle_per_issue_active.ratio,smsp__average_warps_issue_stalled_lg_throttle_per_issue_active.ratio,smsp__inst_executed.sum,dram__bytes_read.sum,lts__t_sector_hit_rate.pct,lts__t_bytes.sum,sm__cycles_active.avg
for t in base tma; do
  d=$V; [ $t = base ] && d=/tmp/base
  (cd $d && PYTHONPATH=/tmp/site:$d timeout 150 ncu --clock-control none --profile-from-start off -k regex:chunk_kernel --section LaunchStats --section WarpStateStats --section SpeedOfLight --metrics $M --csv --page details python3 $V/.device/ncu_bwd.py > $R/ncu-$t.csv 2> $R/ncu-$t.err); echo "ncu $t rc $? $(( $(date +%s) - S )) s"; pack
done
python3 - <<'PY'
import csv
for t in ("base", "tma"):
    rows = [r for r in csv.reader(open(f"/tmp/r2/ncu-{t}.csv")) if len(r) > 14]
    head, body = rows[0], rows[1:]
    ki, mi, vi = head.index("Kernel Name"), head.index("Metric Name"), head.index("Metric Value")
    for r in body:
        m = r[mi]
        if m in ("Duration", "Registers Per Thread", "Warp Cycles Per Issued Instruction", "smsp__inst_executed.sum", "dram__bytes_read.sum", "lts__t_sector_hit_rate.pct") or ("stalled" in m and not m.endswith("_not_issued")):
            print(t, r[ki][29:52], m.replace("smsp__average_warps_issue_stalled_", "").replace("_per_issue_active.ratio", ""), r[vi])
PY
echo "end $(( $(date +%s) - S )) s"; pack
