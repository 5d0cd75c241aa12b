#!/usr/bin/env bash
# Brings up edgeca on a fresh Debian 12 machine: installs the Debian packages it needs (only
# those missing), builds it, then runs `edgeca quickstart`: a development PKI (root made by
# edgeca-root, issuing CA naming the root CRL's URL, root CRL installed and served at /root.crl,
# admin client certificate, hub token) in ./edgeca-data (or $1), and the service in the foreground. Run it again to start the same CA. Extra arguments go to quickstart.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh build
scripts/build.sh
dir="${1:-edgeca-data}"
shift || true
exec build/cli/edgeca quickstart --dir "$dir" "$@"
