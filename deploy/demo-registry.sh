#!/bin/sh
# The demo's images without internet: a registry on 127.0.0.1 holding `busybox` built from
# Debian's busybox-static (by tests/images/build.sh, as for the tests), and tetherd's config
# mirroring docker.io to it, so that `image: busybox` in examples/ pulls from it (a machine with
# internet falls back to Docker Hub when the mirror is down).
#   deploy/demo-registry.sh [CONFIG]          (default /etc/tether/tetherd.json)
# Prints "changed" on its last line when it had to edit CONFIG (tetherd must then be restarted).
# Stop the registry with: kill "$(cat /var/lib/tether-demo/registry/registry.pid)"
set -eu
cd "$(dirname "$0")/.."
CONFIG=${1:-/etc/tether/tetherd.json}
DIR=${TETHER_DEMO_DIR:-/var/lib/tether-demo}/registry
ADDR=127.0.0.1:${TETHER_DEMO_REGISTRY_PORT:-5055}

if ! curl -fsS "http://$ADDR/v2/" >/dev/null 2>&1; then
  if ss -Htln "sport = :${ADDR#*:}" | grep -q .; then
    echo "demo-registry: $ADDR is taken by something that is not a registry" >&2
    exit 1
  fi
  mkdir -p "$DIR/data"
  cat > "$DIR/config.yml" <<YAML
version: 0.1
log:
  level: error
storage:
  filesystem:
    rootdirectory: $DIR/data
http:
  addr: $ADDR
YAML
  nohup /usr/bin/docker-registry serve "$DIR/config.yml" >"$DIR/registry.log" 2>&1 &
  echo $! > "$DIR/registry.pid"
  i=0
  until curl -fsS "http://$ADDR/v2/" >/dev/null 2>&1; do
    i=$((i + 1)); [ $i -lt 100 ] || { cat "$DIR/registry.log" >&2; exit 1; }; sleep 0.1
  done
  echo "demo-registry: registry on $ADDR (pid $(cat "$DIR/registry.pid")), data in $DIR/data"
fi

if ! skopeo inspect --tls-verify=false "docker://$ADDR/library/busybox:latest" >/dev/null 2>&1; then
  ./tests/images/build.sh "$ADDR" "$DIR/build" >/dev/null
  skopeo copy --quiet --src-tls-verify=false --dest-tls-verify=false \
    "docker://$ADDR/tether-test/busybox:1" "docker://$ADDR/library/busybox:latest"
  echo "demo-registry: pushed busybox (from /bin/busybox) as $ADDR/library/busybox:latest"
fi

MIRROR="http://$ADDR"
if [ "$(jq --arg m "$MIRROR" '(.registries["docker.io"].mirrors // []) | index($m) != null' "$CONFIG")" != true ]; then
  tmp=$(mktemp)
  jq --arg m "$MIRROR" \
    '.registries["docker.io"].mirrors = ((.registries["docker.io"].mirrors // []) + [$m])' \
    "$CONFIG" > "$tmp"
  install -m 0644 "$tmp" "$CONFIG"
  rm -f "$tmp"
  echo "demo-registry: $CONFIG mirrors docker.io to $MIRROR"
  echo changed
fi
