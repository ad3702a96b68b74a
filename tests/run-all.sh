#!/bin/sh
# The whole test suite on a fresh Debian 12 machine, as root: packages, build, unit and
# end-to-end tests. Every service a test needs is started (and stopped) by the test itself.
set -eu
cd "$(dirname "$0")/.."
./deploy/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_UNITY_BUILD=ON
cmake --build build -j"$(nproc)"
# Unit tests in parallel; end-to-end tests are marked RUN_SERIAL (one daemon at a time).
ctest --test-dir build --output-on-failure -j"$(nproc)" --timeout 600
