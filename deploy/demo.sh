#!/bin/sh
# The main job on a fresh Debian 12 machine, as root: install packages, build, install tetherd,
# start it on its default config and run a demo pod whose network namespace CNI wires; then play
# the examples/play-*.yaml pods as static pods and show them running. Needs no internet beyond the
# Debian packages: busybox, the examples' image, is built from Debian's busybox-static into a
# local registry that tetherd mirrors docker.io to (deploy/demo-registry.sh).
set -eu
cd "$(dirname "$0")/.."
./deploy/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_UNITY_BUILD=ON
cmake --build build -j"$(nproc)"
./deploy/install.sh build

SOCK=unix:///run/tether/tether.sock
CHANGED=$(./deploy/demo-registry.sh /etc/tether/tetherd.json | tee /dev/stderr | tail -n 1)
if [ "$CHANGED" = changed ] && tetherctl -r "$SOCK" version >/dev/null 2>&1; then
  echo "NOTE: tetherd was already running: restart it so that it reads the docker.io mirror"
fi
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

# --- the examples/ pods, as static pods ------------------------------------------------------
# `tetherctl play --watch` runs every manifest of a folder and follows it: add, edit or remove a
# file there and its pod starts, is replaced or is stopped. (tetherd --static-pods DIR does the
# same inside the daemon.)
PODS=/var/lib/tether-demo/pods
PLAY_PID=/run/tether/demo-play.pid
mkdir -p "$PODS" /var/log/tether
cp examples/play-*.yaml "$PODS/"
if ! { [ -f "$PLAY_PID" ] && kill -0 "$(cat "$PLAY_PID")" 2>/dev/null; }; then
  nohup tetherctl -r "$SOCK" play --watch "$PODS" >>/var/log/tether/play-examples.log 2>&1 &
  echo $! > "$PLAY_PID"
  echo "tetherctl play --watch $PODS started (pid $!), log /var/log/tether/play-examples.log"
fi
# Running containers of the play pods: web 2, proxied 2, shared-pid 2, wait-for-file 1 (its
# init container, waiting for a file).
running() {
  n=0
  for p in $(tetherctl -r "$SOCK" pods -q --label tether.io/play=true --state ready); do
    n=$((n + $(tetherctl -r "$SOCK" ps -q --pod "$p" --state running | wc -l)))
  done
  echo "$n"
}
echo "waiting for the example pods to run..."
i=0
until [ "$(running)" -ge 7 ]; do
  i=$((i + 1))
  [ $i -lt 180 ] || { echo "the example pods did not come up:"; tail -n 30 /var/log/tether/play-examples.log; exit 1; }
  sleep 1
done
tetherctl -r "$SOCK" pods --label tether.io/play=true
tetherctl -r "$SOCK" ps
echo "web (busybox httpd on host port 8080, through the logging pod):"
curl -fsS http://127.0.0.1:8080/ || true
echo "the native sidecar proxy (host port 8081 -> the app on 127.0.0.1:9000):"
curl -fsS http://127.0.0.1:8081/ || true
echo "wait-for-file is at Init:0/1 until its file exists; creating it:"
touch /var/lib/tether-play/ready/go
WAIT_POD=$(tetherctl -r "$SOCK" pods -q --name '^wait-for-file$' --label tether.io/play=true --state ready)
i=0
until [ -n "$(tetherctl -r "$SOCK" ps -q --pod "$WAIT_POD" --name '^app$' --state running)" ]; do
  i=$((i + 1)); [ $i -lt 60 ] || { echo "wait-for-file's app did not start"; exit 1; }; sleep 1
done
tetherctl -r "$SOCK" ps --pod "$WAIT_POD" -a
echo
echo "The example pods run from $PODS (status log: /var/log/tether/play-examples.log)."
echo "Edit, add or remove files there and watch the pods follow."
echo "Stop them all (in each pod's shutdown order) with: kill \$(cat $PLAY_PID)"
echo "  (or: tetherctl play --down --watch $PODS)"
echo "Stop the local image registry with: kill \$(cat /var/lib/tether-demo/registry/registry.pid)"
