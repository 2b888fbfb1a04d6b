#!/bin/sh
# Entry point of the Fastmax image. With no command: the workflow's `figures` target, with the
# `paper` config when PyTorch sees a CUDA GPU and `smoke` otherwise (it says which and why).
# With a command (`snakemake TARGET ...`, `fastmax check`, `bash`, ...): that command, in
# /workspace, with the pinned environment first on PATH and workflow/profiles/local as
# Snakemake's default profile.
set -eu
cd /workspace
# Run as a user the image does not know (docker run --user UID:GID): give it a name, which
# Snakemake asks for, and a writable home for caches and configs.
if ! id -un >/dev/null 2>&1; then
    USER=uid$(id -u)
    LOGNAME=$USER
    export USER LOGNAME
fi
if [ ! -w "${HOME:-/nonexistent}" ]; then
    HOME=$(mktemp -d /tmp/fastmax-home.XXXXXX)
    export HOME
fi
if [ "$#" -eq 0 ]; then
    config=$(python -m fastmax.workflow)
    echo "fastmax-repro: running the 'figures' target with the '$config' config" >&2
    set -- snakemake --config "profile=$config" -- figures
fi
exec "$@"
