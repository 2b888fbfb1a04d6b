#!/bin/sh
# Entry point of the Fastmax image. With no command: the workflow's `figures` target, with the
# `paper` config when PyTorch sees a CUDA GPU and `smoke` otherwise (it says which and why).
# With a command (`snakemake TARGET ...`, `fastmax check`, `bash`, ...): that command, in
# /workspace, with the pinned environment first on PATH and workflow/profiles/local as
# Snakemake's default profile.
set -eu
cd /workspace
if [ ! -w "${HOME:-/nonexistent}" ]; then
    # Run as another user (docker run --user): caches and configs go to a writable home.
    HOME=$(mktemp -d /tmp/fastmax-home.XXXXXX)
    export HOME
fi
if [ "$#" -eq 0 ]; then
    config=$(python -m fastmax.workflow)
    echo "fastmax-repro: running the 'figures' target with the '$config' config" >&2
    set -- snakemake --config "profile=$config" -- figures
fi
exec "$@"
