#!/bin/sh
# CTest fixture: a registry on 127.0.0.1 holding the test images. Usage: setup.sh DIR
set -eu
here=$(dirname "$0")
"$here/registry.sh" stop "$1" 2>/dev/null || true
"$here/registry.sh" start "$1"
"$here/build.sh" "$(cat "$1/registry.addr")" "$1/build"
