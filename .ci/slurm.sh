#!/usr/bin/env bash
# CI: the SLURM profile (workflow/profiles/slurm) against a real SLURM cluster on this machine.
#
#   .ci/slurm.sh
#
# As root. Installs Debian's slurmctld, slurmd and munge when absent, writes a single-node
# /etc/slurm/slurm.conf (the plugin's job steps read it there; one already there is put back at
# the end), starts munge, slurmctld and slurmd on localhost with their state in a temporary
# folder, then, each in a fresh copy of the repository:
#   1. the smoke data and training targets through the profile, CPU-only (no GPU requests);
#      every job must have been a SLURM job that completed, its rule log written while it ran;
#   2. the same targets with workflow/profiles/local: tokenizer, shards and checkpoint configs
#      must be identical and the training losses equal to the SLURM run's;
#   3. train_linear as two srun tasks of one job (a two-GPU node's layout, on CPUs): both ranks
#      must come from SLURM and the checkpoint must record devices: 2;
#   4. a job that fails, through the same profile: Snakemake must report it and stop within a
#      time limit, and SLURM must record it as failed;
# then stops the daemons it started. The Python environment is that of `./run.sh setup`
# (.venv, or FASTMAX_VENV); prints the time of each phase.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
VENV=$(cd "${FASTMAX_VENV:-.venv}" 2>/dev/null && pwd) || VENV=
START=$SECONDS
TARGETS=(data train_regular train_linear)
FAIL_TIMEOUT=300 # seconds the failing workflow may take before it counts as hanging

NAME=slurm.sh
# shellcheck source=.ci/common.sh
source .ci/common.sh # the working directory is the repository root (cd above)

[ "$(id -u)" = 0 ] || die "run as root (it installs and starts the SLURM daemons)"
[ -n "$VENV" ] && [ -x "$VENV/bin/snakemake" ] ||
    die "no environment with snakemake at ${FASTMAX_VENV:-.venv}: run ./run.sh setup first"

WORK=$(mktemp -d /tmp/fastmax-slurm.XXXXXX)
STATE=$WORK/slurm
CONF=/etc/slurm/slurm.conf
STARTED=()

cleanup() {
    local status=$?
    set +e
    if [ -x /usr/bin/scancel ] && [ -e "$STATE/slurmctld.pid" ]; then
        scancel --user=root >/dev/null 2>&1
    fi
    local pids=() pidfile
    for pidfile in "${STARTED[@]}"; do
        if [ -s "$pidfile" ]; then
            pids+=("$(cat "$pidfile")")
        fi
    done
    if [ "${#pids[@]}" != 0 ]; then
        kill "${pids[@]}" 2>/dev/null
        for _ in $(seq 20); do
            kill -0 "${pids[@]}" 2>/dev/null || break
            sleep 0.5
        done
    fi
    if [ -e "$WORK/slurm.conf.saved" ]; then
        mv "$WORK/slurm.conf.saved" "$CONF"
    elif [ -e "$WORK/slurm.conf.ours" ]; then
        rm -f "$CONF"
    fi
    if [ "$status" != 0 ] && [ -d "$STATE" ]; then
        say "daemon logs (last lines):"
        tail -n 20 "$STATE"/*.log >&2
    fi
    rm -rf "$WORK"
    say "stopped the daemons it started; total $((SECONDS - START)) s"
    exit "$status"
}
trap cleanup EXIT

install_slurm() {
    if command -v slurmctld >/dev/null && command -v slurmd >/dev/null &&
        command -v munged >/dev/null; then
        return
    fi
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        slurmctld slurmd munge >/dev/null
}

# One node (this machine, as localhost): every CPU, memory not scheduled (CR_CPU), no cgroup
# plugins (process tracking by /proc, no task containment: they need nothing of this host's
# cgroup setup), no accounting database; finished jobs go to a job-completion file, which is
# how this script reads their final state.
write_config() {
    local host cpus mem
    host=$(hostname -s)
    cpus=$(nproc)
    mem=$(($(awk '/MemTotal/ {print int($2 / 1024)}' /proc/meminfo) - 1024))
    mkdir -p "$STATE/ctld" "$STATE/d" /etc/slurm
    if [ -e "$CONF" ]; then
        cp -p "$CONF" "$WORK/slurm.conf.saved"
    fi
    cat >"$WORK/slurm.conf.ours" <<EOF
ClusterName=fastmax-ci
SlurmctldHost=$host(127.0.0.1)
SlurmUser=root
AuthType=auth/munge
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/d
SlurmctldPidFile=$STATE/slurmctld.pid
SlurmdPidFile=$STATE/slurmd.pid
SlurmctldLogFile=$STATE/slurmctld.log
SlurmdLogFile=$STATE/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc=$STATE/jobcomp.txt
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
MpiDefault=none
ReturnToService=2
MinJobAge=300
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=ci Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
    cp "$WORK/slurm.conf.ours" "$CONF"
}

start_cluster() {
    write_config
    if munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
        say "munged is already running: using it"
    else
        if [ ! -s /etc/munge/munge.key ]; then
            runuser -u munge -- mungekey --create --keyfile=/etc/munge/munge.key
        fi
        install -d -o munge -g munge -m 0755 /run/munge /var/log/munge /var/lib/munge
        runuser -u munge -- munged
        STARTED+=(/run/munge/munged.pid)
    fi
    slurmctld -f "$CONF"
    STARTED+=("$STATE/slurmctld.pid")
    slurmd -f "$CONF"
    STARTED+=("$STATE/slurmd.pid")
    for _ in $(seq 60); do
        if [ "$(sinfo -h -o %T 2>/dev/null)" = idle ]; then
            sinfo
            return
        fi
        sleep 1
    done
    sinfo >&2 || true
    die "the node did not become idle in 60 s"
}

# copy_repository DEST: the files git tracks or would track (no results, no venv).
copy_repository() {
    mkdir -p "$1"
    git ls-files -z --cached --others --exclude-standard |
        while IFS= read -r -d '' name; do
            [ -f "$name" ] && printf '%s\0' "$name"
        done | tar --null -T - -cf - | tar -xf - -C "$1"
}

# in_copy DIR COMMAND...: run in DIR with the venv first on PATH and DIR's code imported.
in_copy() {
    local dir=$1
    shift
    (cd "$dir" && env PATH="$VENV/bin:$PATH" PYTHONPATH="$dir" "$@")
}

# submitted_jobs LOG: "rule slurm_jobid rule_log slurm_log" for each job Snakemake submitted,
# from its job blocks ("rule NAME:" ... "log: PATH" ... "jobid: N") and its lines "Job N has
# been submitted with SLURM jobid ID (log: PATH)".
submitted_jobs() {
    awk '
        /^(local)?rule [a-z_0-9]+:$/ { rule = substr($2, 1, length($2) - 1); rule_log = "-" }
        /^    log: / { rule_log = $2; sub(/,$/, "", rule_log) }
        /^    jobid: / { rules[$2] = rule; rule_logs[$2] = rule_log }
        /has been submitted with SLURM jobid/ {
            match($0, /SLURM jobid [0-9]+/); id = substr($0, RSTART + 12, RLENGTH - 12)
            match($0, /\(log: [^)]*\)/); slurm_log = substr($0, RSTART + 6, RLENGTH - 7)
            print rules[$2], id, rule_logs[$2], slurm_log
        }' "$1"
}

# jobcomp_field ID FIELD: a field of SLURM's job-completion record of job ID.
jobcomp_field() {
    grep -E "^JobId=$1 " "$STATE/jobcomp.txt" | tr ' ' '\n' | sed -n "s/^$2=//p" | tail -n 1
}

slurm_run() {
    local run=$WORK/slurm-run
    copy_repository "$run"
    # CPU-only cluster: no GPU requests, one training process, both CPUs per job.
    logged "$WORK/slurm-run.log" in_copy "$run" env FASTMAX_SLURM_GPU_GRES= \
        FASTMAX_SLURM_TRAIN_TASKS_PER_NODE=1 FASTMAX_SLURM_CPUS_PER_TASK="$(nproc)" \
        snakemake --profile workflow/profiles/slurm --config profile=smoke \
        --slurm-init-seconds-before-status-checks 5 --slurm-keep-successful-logs \
        -- "${TARGETS[@]}" || die "the smoke run through the SLURM profile failed"
}

check_slurm_jobs() {
    local run=$WORK/slurm-run rule id rule_log slurm_log state start end written count=0
    while read -r rule id rule_log slurm_log; do
        count=$((count + 1))
        state=$(jobcomp_field "$id" JobState)
        [ "$state" = COMPLETED ] || die "SLURM job $id (rule $rule) ended ${state:-unrecorded}"
        [ -s "$slurm_log" ] && [ "$(basename "$slurm_log")" = "$id.log" ] ||
            die "no SLURM log named after job $id (rule $rule): $slurm_log"
        start=$(date -d "$(jobcomp_field "$id" StartTime)" +%s)
        end=$(date -d "$(jobcomp_field "$id" EndTime)" +%s)
        written=$(stat -c %Y "$run/$rule_log")
        ((start <= written && written <= end)) ||
            die "$rule_log was not written during SLURM job $id ($start..$end, at $written)"
        say "rule $rule: SLURM job $id COMPLETED on $(jobcomp_field "$id" NodeList) in" \
            "$((end - start)) s; $rule_log written while it ran"
    done < <(submitted_jobs "$WORK/slurm-run.log")
    [ "$count" = 5 ] || die "expected 5 SLURM jobs (tokenizer, corpus, shards, 2 trainings), saw $count"
}

local_run() {
    local run=$WORK/local-run
    copy_repository "$run"
    in_copy "$run" snakemake --profile workflow/profiles/local --config profile=smoke \
        -- "${TARGETS[@]}" >"$WORK/local-run.log" 2>&1 || {
        tail -n 40 "$WORK/local-run.log" >&2
        die "the local smoke run failed"
    }
}

# Outputs of the two runs: the same files; JSON equal up to creation times and the run's own
# folder in paths; other files byte for byte; the weights through the losses of metrics.csv.
compare_runs() {
    in_copy "$WORK/local-run" python - "$WORK/slurm-run" "$WORK/local-run" <<'EOF' ||
import json
import sys
from pathlib import Path

import pandas as pd

VOLATILE = {"created", "updated_at"}
runs = [Path(arg) for arg in sys.argv[1:]]


def normal(value, root):
    if isinstance(value, dict):
        return {k: normal(v, root) for k, v in value.items() if k not in VOLATILE}
    if isinstance(value, list):
        return [normal(v, root) for v in value]
    return value.replace(str(root), "<run>") if isinstance(value, str) else value


def content(run, path):
    if path.suffix == ".json":
        return normal(json.loads((run / path).read_text()), run)
    return (run / path).read_bytes()


trees = ["results/smoke/data/tokenizer", "results/smoke/data/shards"]
trees += [f"results/smoke/train/{v}/final" for v in ("regular", "linear")]
for tree in trees:
    files = [sorted(p.relative_to(r) for p in (r / tree).rglob("*") if p.is_file()) for r in runs]
    assert files[0] and files[0] == files[1], f"{tree}: the runs wrote different files"
    for path in files[0]:
        if path.suffix != ".pth":
            assert content(runs[0], path) == content(runs[1], path), f"{path} differs"
    print(f"{tree}: {len(files[0])} files, equal")
for variant in ("regular", "linear"):
    slurm, local = (pd.read_csv(r / f"results/smoke/train/{variant}/metrics.csv") for r in runs)
    columns = ["step", "loss", "val_loss"]
    assert set(columns) <= set(local.columns), f"metrics.csv columns: {list(local.columns)}"
    pd.testing.assert_frame_equal(slurm[columns], local[columns], rtol=1e-5)
    print(f"train/{variant}/metrics.csv: {len(local)} rows of {', '.join(columns)}, equal")
EOF
        die "the SLURM run's outputs differ from the local run's"
    say "tokenizer, shards, checkpoint configs and losses of the SLURM run equal the local run's"
}

# Training as two srun tasks of one job (the layout of a node with two GPUs, on CPUs here):
# Fabric must take both ranks from SLURM (two processes in all, not two each), and the
# checkpoint must record that layout. On CPUs the smoke config's strategy becomes ddp (auto
# means FSDP for several processes, which Lightning runs on GPUs only); the data is the first
# run's.
tasks_run() {
    local run=$WORK/tasks-run id log rank
    copy_repository "$run"
    sed -i 's/^strategy: auto/strategy: ddp/' "$run/workflow/config/train/smoke-linear.yaml"
    mkdir -p "$run/results/smoke"
    cp -a "$WORK/slurm-run/results/smoke/data" "$run/results/smoke/"
    logged "$WORK/tasks-run.log" in_copy "$run" env FASTMAX_SLURM_GPU_GRES= \
        FASTMAX_SLURM_TRAIN_TASKS_PER_NODE=2 FASTMAX_SLURM_CPUS_PER_TASK=1 \
        snakemake --profile workflow/profiles/slurm --config profile=smoke \
        --slurm-init-seconds-before-status-checks 5 -- train_linear >/dev/null || {
        tail -n 40 "$WORK/tasks-run.log" "$run/results/smoke/logs/train/linear.log" >&2
        die "training as two srun tasks failed"
    }
    grep -F "srun --nodes=1 --ntasks-per-node=2 --cpus-per-task=1 fastmax train" \
        "$WORK/tasks-run.log" >/dev/null || die "the train job was not launched by srun"
    read -r _ id _ < <(submitted_jobs "$WORK/tasks-run.log")
    [ "$(jobcomp_field "$id" JobState)" = COMPLETED ] || die "SLURM job $id did not complete"
    log=$run/results/smoke/logs/train/linear.log
    [ "$(grep -c "Initializing distributed: GLOBAL_RANK" "$log")" = 2 ] || {
        tail -n 40 "$log" >&2
        die "SLURM job $id did not run exactly two training processes"
    }
    for rank in 0 1; do
        grep -q "GLOBAL_RANK: $rank, MEMBER: $((rank + 1))/2" "$log" ||
            die "rank $rank of 2 did not start in SLURM job $id"
    done
    grep -q "^devices: 2$" "$run/results/smoke/train/linear/final/train_config.yaml" ||
        die "the checkpoint does not record devices: 2"
    say "SLURM job $id: fastmax train as 2 srun tasks, ranks 0 and 1 from SLURM, devices: 2"
}

failing_run() {
    local run=$WORK/failing status id
    mkdir -p "$run"
    cat >"$run/Snakefile" <<'EOF'
rule fails:
    output:
        "never.txt",
    log:
        "fails.log",
    shell:
        "echo 'this job fails on purpose' > {log}; exit 3"
EOF
    set +e
    (cd "$run" && timeout "$FAIL_TIMEOUT" env PATH="$VENV/bin:$PATH" \
        snakemake --profile "$REPO/workflow/profiles/slurm" \
        --slurm-init-seconds-before-status-checks 5 >"$WORK/failing.log" 2>&1)
    status=$?
    set -e
    [ "$status" != 124 ] || die "the failing workflow still ran after $FAIL_TIMEOUT s (hangs)"
    [ "$status" != 0 ] || die "the failing workflow reported success"
    grep -q "Error in rule fails" "$WORK/failing.log" || die "Snakemake did not report the error"
    id=$(submitted_jobs "$WORK/failing.log" | awk '{print $2}')
    [ -n "$id" ] || die "the failing job was never submitted to SLURM"
    [ "$(jobcomp_field "$id" JobState)" = FAILED ] ||
        die "SLURM recorded job $id as $(jobcomp_field "$id" JobState), not FAILED"
    [ ! -e "$run/never.txt" ] || die "the failed job left its output behind"
    say "failing job: SLURM job $id FAILED ($(jobcomp_field "$id" ExitCode)); Snakemake exited $status"
}

timed "install slurmctld, slurmd, munge (if absent)" install_slurm
timed "start munge, slurmctld, slurmd" start_cluster
timed "smoke ${TARGETS[*]} through workflow/profiles/slurm" slurm_run
timed "check the SLURM jobs" check_slurm_jobs
timed "smoke ${TARGETS[*]} with workflow/profiles/local" local_run
timed "compare the two runs" compare_runs
timed "train_linear as two srun tasks through workflow/profiles/slurm" tasks_run
timed "a failing job through workflow/profiles/slurm" failing_run
say "SLURM profile: all checks passed"
