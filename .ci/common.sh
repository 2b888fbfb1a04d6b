# Helpers shared by run.sh and the CI scripts; source it after setting NAME (the prefix of every
# message).
# shellcheck shell=bash

say() { echo "$NAME: $*" >&2; }
die() {
    say "FAILED: $*"
    exit 1
}
# logged FILE COMMAND...: run COMMAND with its output shown and kept in FILE; COMMAND's status.
logged() {
    local file=$1
    shift
    "$@" 2>&1 | tee "$file"
    return "${PIPESTATUS[0]}"
}
# timed NAME COMMAND...: run one phase and print how long it took.
timed() {
    local name=$1 start=$SECONDS
    shift
    say "== $name"
    "$@"
    say "== $name: $((SECONDS - start)) s"
}
