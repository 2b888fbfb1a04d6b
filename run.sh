#!/usr/bin/env bash
# Fastmax from a fresh clone: set up the pinned environment, then run the workflow or the tests.
#
#   ./run.sh workflow [smoke|paper] [TARGET ...]
#       the targets (default: all) under results/<config>/, then their HTML report
#       results/<config>/report.html; without a config name: paper on a machine with a CUDA GPU,
#       smoke without one
#   ./run.sh test
#       ruff, snakefmt, snakemake --lint, the lock check, pytest (the smoke workflow end to end
#       included): everything CI runs
#   ./run.sh setup
#       the environment alone: .venv from environment/requirements.lock (hashes checked), then
#       this package, editable, with the CUDA op when a CUDA toolkit is found
#
# Settings (environment): FASTMAX_VENV (default .venv), PYTHON (default python3.11), and those of
# the build (setup.py): FASTMAX_BUILD_CUDA, FASTMAX_CUDA_ARCHS, CUDA_HOME, MAX_JOBS.
set -euo pipefail
cd "$(dirname "$0")"

VENV=${FASTMAX_VENV:-.venv}
PYTHON=${PYTHON:-python3.11}
RUN_START=$SECONDS

NAME=run.sh
# shellcheck source=.ci/common.sh
source .ci/common.sh # say, timed (the working directory is the repository root, cd above)

# pip itself first (the venv's bundled pip may be too old for the lock), then everything.
install_lock() {
    local pip_pin="$VENV/.fastmax-pip.txt"
    sed -n '/^pip==/,/[^\\]$/p' environment/requirements.lock >"$pip_pin"
    "$VENV/bin/python" -m pip install --require-hashes --no-deps -r "$pip_pin"
    "$VENV/bin/python" -m pip install --require-hashes -r environment/requirements.lock
}

install_package() {
    "$VENV/bin/python" -m pip install --no-build-isolation --no-deps -e .
    if [ "${FASTMAX_BUILD_CUDA:-auto}" = 1 ]; then
        "$VENV/bin/python" -c 'import fastmax._C' # the op must load after a required build
    fi
    "$VENV/bin/python" -m pip check
}

# Reinstall only what changed: the lock, or the package's build inputs and settings.
setup() {
    if [ ! -x "$VENV/bin/python" ]; then
        timed "create $VENV" "$PYTHON" -m venv "$VENV"
    fi
    "$VENV/bin/python" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11) and
        f"run.sh: the lock is for Python 3.11, {sys.executable} is {sys.version.split()[0]}")'
    local lock_sum build_sum
    lock_sum=$(sha256sum environment/requirements.lock | cut -d' ' -f1)
    if [ "$(cat "$VENV/.fastmax-lock" 2>/dev/null)" != "$lock_sum" ]; then
        timed "install environment/requirements.lock" install_lock
        echo "$lock_sum" >"$VENV/.fastmax-lock"
    fi
    build_sum=$({
        cat setup.py pyproject.toml
        if [ -d csrc ]; then find csrc -type f -print0 | sort -z | xargs -0 -r cat; fi
        echo "${FASTMAX_BUILD_CUDA:-} ${FASTMAX_CUDA_ARCHS:-} ${CUDA_HOME:-}"
    } | sha256sum | cut -d' ' -f1)
    if [ "$(cat "$VENV/.fastmax-build" 2>/dev/null)" != "$build_sum" ]; then
        timed "install fastmax (editable, CUDA op: ${FASTMAX_BUILD_CUDA:-auto})" install_package
        echo "$build_sum" >"$VENV/.fastmax-build"
    fi
    export PATH="$PWD/$VENV/bin:$PATH"
}

workflow() {
    local config
    case "${1:-}" in
        smoke | paper)
            config=$1
            shift
            ;;
        *) config=$(python -m fastmax.workflow) ;;
    esac
    timed "snakemake ($config)" snakemake --profile workflow/profiles/local \
        --config profile="$config" -- "$@"
    timed "report" snakemake --cores 1 --config profile="$config" \
        --report "results/$config/report.html" -- "$@"
    say "artifacts in results/$config/, report in results/$config/report.html"
}

tests() {
    timed "ruff check" ruff check .
    timed "ruff format --check" ruff format --check .
    timed "snakefmt --check" snakefmt --check Snakefile workflow
    timed "snakemake --lint (smoke)" snakemake --lint --config profile=smoke
    timed "snakemake --lint (paper)" snakemake --lint --config profile=paper
    timed "lock check" python environment/check_lock.py
    timed "pytest (fast tests)" python -m pytest -m "not slow"
    timed "pytest (slow tests: the smoke workflow end to end, ...)" python -m pytest -m slow
}

case "${1:-}" in
    setup) setup ;;
    workflow)
        shift
        setup
        workflow "$@"
        ;;
    test)
        setup
        tests
        ;;
    *)
        sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//' >&2
        exit 2
        ;;
esac
say "done in $((SECONDS - RUN_START)) s"
