#!/bin/sh
# A throwaway docker-registry on 127.0.0.1 for the tests.
#   tests/images/registry.sh start DIR   → starts it, writes DIR/registry.addr and DIR/registry.pid
#   tests/images/registry.sh stop DIR    → stops the one started in DIR (by its pid) and deletes DIR
set -eu
cmd=$1
DIR=$2
case "$cmd" in
  start)
    mkdir -p "$DIR/data"
    port=""
    for p in $(seq 25000 25100); do
      if ! ss -Htln "sport = :$p" | grep -q .; then port=$p; break; fi
    done
    [ -n "$port" ] || { echo "registry.sh: no free port" >&2; exit 1; }
    cat > "$DIR/config.yml" <<YAML
version: 0.1
log:
  level: error
storage:
  filesystem:
    rootdirectory: $DIR/data
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$port
YAML
    /usr/bin/docker-registry serve "$DIR/config.yml" > "$DIR/registry.log" 2>&1 &
    echo $! > "$DIR/registry.pid"
    i=0
    until curl -fsS "http://127.0.0.1:$port/v2/" >/dev/null 2>&1; do
      i=$((i + 1)); [ $i -lt 100 ] || { cat "$DIR/registry.log" >&2; exit 1; }; sleep 0.1
    done
    echo "127.0.0.1:$port" > "$DIR/registry.addr"
    echo "registry.sh: registry on 127.0.0.1:$port (pid $(cat "$DIR/registry.pid"))"
    ;;
  stop)
    if [ -f "$DIR/registry.pid" ]; then
      kill "$(cat "$DIR/registry.pid")" 2>/dev/null || true
    fi
    rm -rf "$DIR"
    ;;
  *) echo "usage: $0 start|stop DIR" >&2; exit 2 ;;
esac
