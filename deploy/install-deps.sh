#!/bin/sh
# Installs every Debian 12 package Tether's build, daemon and tests need. Idempotent; run as root.
set -eu

PACKAGES="
  build-essential cmake pkg-config clang-format
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler libabsl-dev
  libspdlog-dev libfmt-dev nlohmann-json3-dev libgtest-dev libgmock-dev libbenchmark-dev
  libcurl4-openssl-dev libarchive-dev libssl-dev zlib1g-dev libboost-dev libyaml-cpp-dev
  libcli11-dev libzstd-dev
  runc crun conmon containernetworking-plugins iptables iproute2 util-linux procps
  busybox-static docker-registry skopeo jq curl apache2-utils openssl
"

missing=""
for p in $PACKAGES; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -z "$missing" ]; then
  echo "install-deps: all packages present"
  exit 0
fi
echo "install-deps: installing$missing"
export DEBIAN_FRONTEND=noninteractive
# docker-registry's package starts its service on install; we start our own registries in tests.
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
  chmod 755 /usr/sbin/policy-rc.d
  trap 'rm -f /usr/sbin/policy-rc.d' EXIT
fi
apt-get update -q
# shellcheck disable=SC2086
apt-get install -y -q --no-install-recommends $missing
