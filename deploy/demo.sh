#!/bin/sh
# The main job on a fresh Debian 12 machine, as root: install packages, build, install tetherd,
# start it on its default config and run a demo pod whose network namespace CNI wires.
set -eu
cd "$(dirname "$0")/.."
./deploy/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo
cmake --build build -j"$(nproc)"
./deploy/install.sh build

SOCK=unix:///run/tether/tether.sock
if ! tetherctl -r "$SOCK" version >/dev/null 2>&1; then
  mkdir -p /var/log/tether
  nohup /usr/local/bin/tetherd --config /etc/tether/tetherd.json >>/var/log/tether/tetherd.log 2>&1 &
  echo "tetherd started (pid $!), log /var/log/tether/tetherd.log"
  i=0
  until tetherctl -r "$SOCK" version >/dev/null 2>&1; do
    i=$((i + 1)); [ $i -lt 100 ] || { echo "tetherd did not come up"; exit 1; }; sleep 0.1
  done
fi
tetherctl -r "$SOCK" version
POD=$(tetherctl -r "$SOCK" pods -q --name '^demo$' --namespace '^default$')
[ -n "$POD" ] || POD=$(tetherctl -r "$SOCK" runp examples/demo-pod.yaml)
tetherctl -r "$SOCK" pods
PID=$(tetherctl -r "$SOCK" inspectp "$POD" | jq .info.pid)
echo "pause pid $PID; the pod's network namespace:"
nsenter -t "$PID" -n ip -4 addr show eth0
echo "the pod's processes (the pause is PID 1 of its PID namespace):"
grep NSpid "/proc/$PID/status"
echo "remove the demo pod with: tetherctl rmp -f $POD"
