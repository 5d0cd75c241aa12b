#!/usr/bin/env bash
# Configures (once) and builds edgeca into build/ with warnings as errors.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -f build/build.ninja ]; then
  meson setup build --buildtype=debugoptimized -Dwerror=true >/dev/null
fi
ninja -C build >/dev/null || ninja -C build
