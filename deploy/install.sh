#!/bin/sh
# Installs a built tree: binaries, the pause, the default config and the CNI network (only when
# the machine has none). Usage: deploy/install.sh BUILD_DIR
set -eu
cd "$(dirname "$0")/.."
BUILD=${1:-build}
install -m 0755 "$BUILD/cmd/tetherd/tetherd" /usr/local/bin/tetherd
install -m 0755 "$BUILD/cmd/tetherctl/tetherctl" /usr/local/bin/tetherctl
install -d /usr/local/libexec/tether
install -m 0755 "$BUILD/cmd/tether-pause/tether-pause" /usr/local/libexec/tether/tether-pause
install -d /etc/tether /etc/cni/net.d
[ -e /etc/tether/tetherd.json ] || install -m 0644 configs/tetherd.json /etc/tether/tetherd.json
if ! ls /etc/cni/net.d/*.conf /etc/cni/net.d/*.conflist /etc/cni/net.d/*.json >/dev/null 2>&1; then
  install -m 0644 configs/cni/10-tether-bridge.conflist /etc/cni/net.d/10-tether-bridge.conflist
fi
[ -e /etc/crictl.yaml ] || install -m 0644 deploy/crictl.yaml /etc/crictl.yaml
echo "installed tetherd, tetherctl and tether-pause"
