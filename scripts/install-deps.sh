#!/usr/bin/env bash
# Installs the Debian 12 packages edgeca needs, asking apt-get only for what is missing, so a
# second run costs a few dpkg queries. `install-deps.sh build` for building and running;
# `install-deps.sh test` (the default) adds the peers the tests check our output with.
set -euo pipefail

build_packages=(
  g++ meson ninja-build pkg-config
  libbotan-2-dev libsqlite3-dev libpq-dev libcpp-httplib-dev libssl-dev libcli11-dev libfmt-dev
  doctest-dev nlohmann-json3-dev
  libp11-dev libp11-kit-dev
  openssl ca-certificates
)
test_packages=(
  python3 curl gnutls-bin mosquitto mosquitto-clients strace sqlite3
  libmbedtls-dev default-jdk-headless
  clang libclang-rt-14-dev
  golang-go faketime
  postgresql-15
  softhsm2 opensc
)

packages=("${build_packages[@]}")
if [ "${1:-test}" = "test" ]; then
  packages+=("${test_packages[@]}")
fi

missing=()
for package in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$package")
  fi
done

if [ "${#missing[@]}" -eq 0 ]; then
  exit 0
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then
  sudo="sudo"
fi
echo "install-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
