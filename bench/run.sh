#!/bin/sh
# Runs Tether's benchmarks on this machine (root): tetherd beside the same work done by hand.
#   bench/run.sh [BUILD_DIR] [tether_bench flags...]      (BUILD_DIR defaults to ./build)
# Build first:  cmake --build BUILD_DIR --target tether_bench
# It starts a docker-registry on 127.0.0.1, pushes the test images (tests/images/build.sh) and the
# 200 MiB, 10-layer bench/big:1 (bench/make-image.sh), runs tether_bench (its own tetherd on a temp
# root, bridge tetherbench0, subnet 10.99.0.0/16), prints the tables, and stops and removes
# everything it started. Results and how to read them: docs/benchmarks.md.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
src=$(dirname "$here")
build=${1:-$src/build}
[ $# -gt 0 ] && shift
bin="$build/bench/tether_bench"
[ -x "$bin" ] || { echo "run.sh: $bin missing; cmake --build $build --target tether_bench" >&2; exit 1; }
[ "$(id -u)" = 0 ] || { echo "run.sh: needs root" >&2; exit 1; }
for tool in /usr/bin/runc /usr/bin/conmon /usr/bin/skopeo /usr/bin/docker-registry /bin/busybox \
            /usr/lib/cni/bridge /usr/lib/cni/host-local /usr/lib/cni/loopback /usr/lib/cni/portmap; do
  [ -x "$tool" ] || { echo "run.sh: $tool missing (deploy/install-deps.sh)" >&2; exit 1; }
done

work=$(mktemp -d /tmp/tether-bench-run.XXXXXX)
cleanup() {
  "$src/tests/images/registry.sh" stop "$work/registry" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

"$src/tests/images/registry.sh" start "$work/registry" >&2
reg=$(cat "$work/registry/registry.addr")
"$src/tests/images/build.sh" "$reg" "$work/images" >&2
"$here/make-image.sh" "$reg" "$work/big" >&2
rm -rf "$work/images" "$work/big"
echo "run.sh: $(date -u '+%Y-%m-%d %H:%M UTC'), $(hostname), registry $reg" >&2
"$bin" --registry="$reg" "$@"
