#!/usr/bin/env bash
# Brings up edgeca on a fresh Debian 12 machine: installs the packages it needs, builds it, and
# runs a root key ceremony into a fresh data directory (default ./edgeca-data) with a generated
# development passphrase.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh build
scripts/build.sh
dir="${1:-edgeca-data}"
mkdir -p "$dir"
chmod 700 "$dir"
if [ ! -f "$dir/root-passphrase.dev.txt" ]; then
  (umask 077 && head -c 24 /dev/urandom | base64 > "$dir/root-passphrase.dev.txt")
fi
if [ -f "$dir/root/root.pem" ]; then
  echo "A root already exists in $dir/root:"
  build/cli/edgeca-root list --dir "$dir/root"
else
  build/cli/edgeca-root init --dir "$dir/root" --subject "CN=edgeca Development Root CA,O=edgeca,C=CN" \
    --validity-days 3650 --passphrase-file "$dir/root-passphrase.dev.txt"
fi
