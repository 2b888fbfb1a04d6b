#!/usr/bin/env bash
# CI: build docker/Dockerfile with a real Docker engine and run the image.
#
#   .ci/docker.sh
#
# As root. Installs Debian's docker.io and debootstrap when absent and starts a private Docker
# engine (its own socket; no bridge network or iptables rules; layers kept in the cache folder
# FASTMAX_CI_CACHE, default /var/cache/fastmax-ci, so the next run rebuilds only what changed).
# No image registry is needed: the base is a stand-in for nvidia/cuda (Debian 12 from
# debootstrap plus this machine's CUDA toolkit, CUDA_HOME or /usr/local/cuda), built once and
# cached. pip in the build gets PyPI (with this machine's extra CA certificates) and the local
# package indexes that `pip config list` names, served over http on 127.0.0.1, port
# FASTMAX_CI_INDEX_PORT (default 38123; the URL is part of the build cache's key: keep it).
# The image is built for sm_90a only (FASTMAX_CUDA_ARCHS=9.0a, as CI builds the op), then,
# without network:
#   1. the container's tests: the op's tests and the correctness matrix of the PyTorch backend;
#   2. the default command: the `figures` target, which must choose the smoke config (no GPU);
#   3. a target named on the command line, `snakemake data`, as another user (docker run --user)
#      into a bind-mounted results folder;
# then the engine is stopped. Prints the time of each phase.
set -euo pipefail
cd "$(dirname "$0")/.."
START=$SECONDS
CACHE=${FASTMAX_CI_CACHE:-/var/cache/fastmax-ci}
IMAGE=fastmax-repro:ci
INDEX_PORT=${FASTMAX_CI_INDEX_PORT:-38123}
DOCKER=/usr/bin/docker
CUDA_ROOT=$(readlink -f "${CUDA_HOME:-/usr/local/cuda}")

NAME=docker.sh
# shellcheck source=.ci/common.sh
source .ci/common.sh # the working directory is the repository root (cd above)

[ "$(id -u)" = 0 ] || die "run as root (it installs and starts a Docker engine)"
[ -x "$CUDA_ROOT/bin/nvcc" ] || die "no CUDA toolkit at $CUDA_ROOT (set CUDA_HOME)"

# A short path: the engine's sockets live under its exec root.
WORK=$(mktemp -d /tmp/fmdk.XXXXXX)
export DOCKER_HOST=unix://$WORK/docker.sock DOCKER_CONFIG=$WORK/config DOCKER_BUILDKIT=0
PIDS=()

cleanup() {
    local status=$?
    set +e
    if [ -S "$WORK/docker.sock" ]; then
        "$DOCKER" ps -aq | xargs -r "$DOCKER" rm -f >/dev/null
    fi
    if [ -s "$WORK/dockerd.pid" ]; then
        kill "$(cat "$WORK/dockerd.pid")"
        for _ in $(seq 30); do
            [ -e "$WORK/dockerd.pid" ] || break
            sleep 1
        done
    fi
    for pid in "${PIDS[@]}"; do
        kill "$pid" 2>/dev/null
    done
    if [ "$status" != 0 ] && [ -e "$WORK/dockerd.log" ]; then
        say "engine log (last lines):"
        tail -n 20 "$WORK/dockerd.log" >&2
    fi
    # The engine leaves its network namespace mounted under its exec root.
    find "$WORK/exec" -type f -path '*/netns/*' -exec umount {} \; 2>/dev/null
    rm -rf "$WORK"
    say "engine stopped; cache $CACHE: $(du -sh "$CACHE" 2>/dev/null | cut -f1); total $((SECONDS - START)) s"
    exit "$status"
}
trap cleanup EXIT

install_tools() {
    if [ -x "$DOCKER" ] && command -v dockerd >/dev/null && command -v debootstrap >/dev/null; then
        return
    fi
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        docker.io debootstrap >/dev/null
}

start_engine() {
    mkdir -p "$CACHE/docker" "$DOCKER_CONFIG"
    dockerd --host "$DOCKER_HOST" --data-root "$CACHE/docker" --exec-root "$WORK/exec" \
        --pidfile "$WORK/dockerd.pid" --bridge=none --iptables=false --ip6tables=false \
        >"$WORK/dockerd.log" 2>&1 &
    for _ in $(seq 60); do
        if "$DOCKER" version >/dev/null 2>&1; then
            "$DOCKER" version --format 'engine {{.Server.Version}}, client {{.Client.Version}}'
            return
        fi
        sleep 1
    done
    die "the Docker engine did not answer in 60 s"
}

# The stand-in base: what the image needs of nvidia/cuda:*-devel (a distribution whose archive
# has python3.11, the CUDA toolkit in /usr/local/cuda, nvcc on PATH), named after the toolkit.
stand_in_base() {
    local mirror version rootfs
    mirror=$(sed -n 's/^URIs: *\([^ ]*\).*/\1/p' /etc/apt/sources.list.d/debian.sources \
        2>/dev/null | head -n 1)
    version=$("$CUDA_ROOT/bin/nvcc" --version | sed -n 's/.*, V\([0-9.]*\)$/\1/p')
    BASE=fastmax-ci/cuda-devel:${version}-bookworm
    if "$DOCKER" image inspect "$BASE" >/dev/null 2>&1; then
        say "stand-in base $BASE: cached"
        return
    fi
    rootfs=$WORK/rootfs
    debootstrap --variant=minbase bookworm "$rootfs" "${mirror:-http://deb.debian.org/debian}" \
        >"$WORK/debootstrap.log" 2>&1 || {
        tail -n 20 "$WORK/debootstrap.log" >&2
        die "debootstrap failed"
    }
    rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/archives/*.deb
    cp -a "$CUDA_ROOT" "$rootfs/usr/local/cuda-${version%.*}"
    ln -s "cuda-${version%.*}" "$rootfs/usr/local/cuda"
    tar -C "$rootfs" -c . | "$DOCKER" import \
        --change 'ENV PATH=/usr/local/cuda/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change "ENV CUDA_VERSION=$version" \
        --change 'CMD ["bash"]' - "$BASE" >/dev/null
    rm -rf "$rootfs"
    say "stand-in base $BASE: $("$DOCKER" image inspect -f '{{.Size}}' "$BASE" | numfmt --to=iec)"
}

# Serve the local package indexes and find-links folders of pip's configuration on 127.0.0.1;
# sets PIP_ARGS (the build arguments that point pip at them).
serve_local_index() {
    local served=$WORK/index n=0 url path indexes=() links=()
    mkdir -p "$served"
    for url in $(python3 -m pip config get global.extra-index-url 2>/dev/null); do
        path=${url#file://}
        [ "$path" != "$url" ] && [ -d "$path" ] || continue
        n=$((n + 1))
        ln -s "$(dirname "$path")" "$served/$n"
        indexes+=("http://127.0.0.1:$INDEX_PORT/$n/$(basename "$path")")
    done
    for path in $(python3 -m pip config get global.find-links 2>/dev/null); do
        path=${path#file://}
        [ -d "$path" ] || continue
        n=$((n + 1))
        ln -s "$path" "$served/$n"
        links+=("http://127.0.0.1:$INDEX_PORT/$n/")
    done
    PIP_ARGS=()
    if [ "$n" = 0 ]; then
        say "no local package index configured: pip downloads everything"
        return
    fi
    python3 -m http.server --bind 127.0.0.1 --directory "$served" "$INDEX_PORT" \
        >"$WORK/index.log" 2>&1 &
    PIDS+=($!)
    PIP_ARGS=(--build-arg PIP_TRUSTED_HOST=127.0.0.1)
    [ "${#indexes[@]}" = 0 ] || PIP_ARGS+=(--build-arg "PIP_EXTRA_INDEX_URL=${indexes[*]}")
    [ "${#links[@]}" = 0 ] || PIP_ARGS+=(--build-arg "PIP_FIND_LINKS=${links[*]}")
    say "local package index on 127.0.0.1:$INDEX_PORT: ${indexes[*]} ${links[*]}"
}

# Builds the image; afterwards removes the images no tag needs any more (the previous build's),
# keeping the layers of this one, which the next build reuses.
build_image() {
    local certs=""
    if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
        certs=$(cat /usr/local/share/ca-certificates/*.crt)
    fi
    logged "$WORK/build.log" "$DOCKER" build --network host -f docker/Dockerfile -t "$IMAGE" \
        --build-arg BASE_IMAGE="$BASE" \
        --build-arg FASTMAX_CUDA_ARCHS=9.0a --build-arg MAX_JOBS="$(nproc)" \
        --build-arg EXTRA_CA_CERTS="$certs" \
        --build-arg FASTMAX_GIT_COMMIT="$(git rev-parse HEAD)" \
        "${PIP_ARGS[@]}" . >/dev/null || {
        tail -n 60 "$WORK/build.log" >&2
        die "docker build failed"
    }
    grep -E '^Step [0-9]+/|^ ---> Using cache' "$WORK/build.log" | cut -c1-100
    "$DOCKER" image prune -f >/dev/null
    say "image $IMAGE: $("$DOCKER" image inspect -f '{{.Size}}' "$IMAGE" | numfmt --to=iec)"
}

# in_image ARGS...: docker run of the image without network.
in_image() {
    "$DOCKER" run --rm --network none "$@"
}

container_tests() {
    in_image "$IMAGE" python -c 'import sys, fastmax, fastmax._C; print(sys.version)'
    in_image "$IMAGE" python -m pytest -q -p no:cacheprovider tests/test_ops.py
    in_image "$IMAGE" fastmax check --quick --backends torch --out /tmp/check
}

default_command() {
    local results=$WORK/default-results
    install -d -o 1000 -g 1000 "$results"
    logged "$WORK/default.log" in_image -v "$results:/workspace/results" "$IMAGE" >/dev/null || {
        tail -n 40 "$WORK/default.log" >&2
        die "the default command failed"
    }
    grep -E "^fastmax|Fastmax workflow|steps \(" "$WORK/default.log"
    grep -q "running the 'figures' target with the 'smoke' config" "$WORK/default.log" ||
        die "the default command did not say it runs figures with the smoke config"
    for file in kernels/correctness.csv figures/fig3_time.png profile/movement/fig5_movement.png \
        profile/bench_train/bench_train.png; do
        [ -s "$results/smoke/$file" ] || die "the default command did not write smoke/$file"
    done
    say "default command: figures (smoke) written to the results volume"
}

# A target named on the command line, run as another user than the image's (docker run --user,
# as for a results folder owned by the caller).
named_target() {
    local results=$WORK/target-results
    install -d -o 4321 -g 4321 "$results"
    in_image --user 4321:4321 -v "$results:/workspace/results" "$IMAGE" \
        snakemake --config profile=smoke -- data >"$WORK/target.log" 2>&1 || {
        tail -n 40 "$WORK/target.log" >&2
        die "snakemake data in the container failed"
    }
    [ -s "$results/smoke/data/shards/manifest.json" ] || die "no shards manifest written"
    say "named target: snakemake data (as uid 4321) wrote" \
        "$(find "$results/smoke/data/shards" -type f | wc -l) files of shards"
}

timed "install docker.io, debootstrap (if absent)" install_tools
timed "start the Docker engine" start_engine
timed "stand-in CUDA devel base" stand_in_base
timed "local package index" serve_local_index
timed "docker build ($IMAGE, FROM $BASE)" build_image
timed "container tests" container_tests
timed "default command (figures)" default_command
timed "snakemake data in the container" named_target
say "Docker image: all checks passed"
