#!/usr/bin/env bash
# bench/run.sh — every figure of docs/benchmarks.md, measured in one run on this machine and
# printed as one markdown table beside its limit or peer: raw RSA-2048 signatures (file key,
# and a key in a SoftHSM2 token), in-process issuance, HTTPS issuance (file key and token key)
# (edgeca serve, and cfssl serve with its SQLite certdb when Debian has it), an enrollment storm
# of distinct devices (on a small store, then on 1M stored certificates), CRLs beside
# `openssl ca -gencrl`, start-up with 1M stored certificates, and the delay from a burst of
# revocations to the served CRL.
#
#   bench/run.sh [--quick] [--build-dir DIR] [--wait-idle SECONDS]
#
# --quick runs tiny sizes (a minute or so) to check the script itself; its figures mean little.
# --wait-idle waits up to SECONDS for the 1-minute load average to fall below 0.7 first.
# Servers listen on 127.0.0.1 only; everything started here is stopped on exit, and the
# work files (a temporary directory) are removed.
set -euo pipefail

usage() {
  echo "usage: bench/run.sh [--quick] [--build-dir DIR] [--wait-idle SECONDS]"
}

QUICK=0
BUILD_DIR=""
WAIT_IDLE=0
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) QUICK=1 ;;
    --build-dir) [ $# -ge 2 ] || { usage >&2; exit 2; }; BUILD_DIR="$2"; shift ;;
    --wait-idle) [ $# -ge 2 ] || { usage >&2; exit 2; }; WAIT_IDLE="$2"; shift ;;
    -h | --help) usage; exit 0 ;;
    *) echo "run.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
  esac
  shift
done

cd "$(dirname "$0")/.."
REPO=$(pwd)
BUILD_DIR=$(realpath -m "${BUILD_DIR:-build-bench}")

if [ "$QUICK" = 1 ]; then
  SIGN_SECONDS=0.5 LOAD_SECONDS=1 CRL_SIZES="1000 10000" FILL_TO=20000 BURST=50 STARTS=1 IDLE=1 STORM=300
else
  SIGN_SECONDS=5 LOAD_SECONDS=10 CRL_SIZES="1000 10000 100000 1000000" FILL_TO=1000000 BURST=10000 STARTS=3 IDLE=5 STORM=100000
fi
CLIENT_COUNTS="1 2 8"
PUBLISH_DELAY=5  # crl.publish_delay, edgeca's default: the bound a revocation is published within

log() { echo "run.sh: $*" >&2; }
die() { log "$*"; exit 1; }

# --- packages and build ----------------------------------------------------------------------

"$REPO/scripts/install-deps.sh" build
apt_updated=0
apt_install() {  # installs the packages not yet installed; fails when apt-get does
  local missing=()
  for package in "$@"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
  done
  [ "${#missing[@]}" -eq 0 ] && return 0
  local sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  if [ "$apt_updated" = 0 ]; then
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq || return 1
    apt_updated=1
  fi
  log "installing ${missing[*]}"
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}
apt_install python3 time sqlite3 openssl || die "cannot install python3, time, sqlite3, openssl"
CFSSL=available
if ! command -v cfssl >/dev/null; then
  apt_install golang-cfssl 2>/dev/null || true
  command -v cfssl >/dev/null || CFSSL="not available"
fi
log "cfssl: $CFSSL"

if [ ! -f "$BUILD_DIR/build.ninja" ]; then
  meson setup "$BUILD_DIR" --buildtype=release >/dev/null
fi
ninja -C "$BUILD_DIR" >/dev/null || ninja -C "$BUILD_DIR"
EDGECA="$BUILD_DIR/cli/edgeca"
EDGECA_ROOT="$BUILD_DIR/cli/edgeca-root"
BENCH="$BUILD_DIR/bench/edgeca-bench"

# --- work directory, results, clean-up -----------------------------------------------------

WORK=$(mktemp -d "${TMPDIR:-/tmp}/edgeca-bench.XXXXXX")
RESULTS="$WORK/results.tsv"
: >"$RESULTS"
STARTED_PIDS=()

stop_pid() {  # SIGTERM, up to 10 s, then SIGKILL
  local pid=$1
  kill -0 "$pid" 2>/dev/null || return 0
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 100); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -9 "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}
cleanup() {
  local pid
  for pid in "${STARTED_PIDS[@]}"; do stop_pid "$pid"; done
  if [ -f "$WORK/startup.pid" ]; then stop_pid "$(cat "$WORK/startup.pid")"; fi
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# record LABEL COMMAND...: runs a measurement; its JSON lines go to the results under LABEL.
# A measurement that fails (failed requests, a CRL that never came) is reported in the table,
# and the run goes on.
record() {
  local label=$1
  shift
  local out status=0
  out=$("$@" 2>>"$WORK/stderr.log") || status=$?
  if [ "$status" -ne 0 ]; then
    log "$label exited $status: $*"
    tail -n 5 "$WORK/stderr.log" >&2
  fi
  local line
  while IFS= read -r line; do
    case "$line" in "{"*) printf '%s\t%s\n' "$label" "$line" >>"$RESULTS" ;; esac
  done <<<"$out"
}
note() {  # note LABEL JSON
  printf '%s\t%s\n' "$1" "$2" >>"$RESULTS"
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

memory_of() {  # {"rss_bytes": .., "peak_rss_bytes": ..} of a pid
  awk '/^VmRSS:/ {rss = $2 * 1024} /^VmHWM:/ {hwm = $2 * 1024}
       END {printf "{\"rss_bytes\": %d, \"peak_rss_bytes\": %d}\n", rss, hwm}' "/proc/$1/status"
}

if [ "$WAIT_IDLE" -gt 0 ] 2>/dev/null; then
  for _ in $(seq 1 $(((WAIT_IDLE + 29) / 30))); do
    awk '{exit !($1 < 0.7)}' /proc/loadavg && break
    log "waiting for the load average to fall below 0.7: $(cut -d' ' -f1-3 /proc/loadavg)"
    sleep 30
  done
fi
LOAD_AT_START=$(cut -d' ' -f1-3 /proc/loadavg)
log "load average at start: $LOAD_AT_START"

# --- 1. raw RSA-2048 signatures --------------------------------------------------------------

for backend in botan openssl; do
  for threads in 1 2; do
    log "raw signatures: $backend, $threads thread(s)"
    record sign "$BENCH" sign --backend "$backend" --threads "$threads" --seconds "$SIGN_SECONDS"
  done
done

# --- 1b. the same signatures with the key in a SoftHSM2 token --------------------------------
# The token lives in the work directory; its key is made inside it by `edgeca init --key`, as
# an issuing CA's would be, and that issuing CA serves HTTPS in 3b.

apt_install softhsm2 || die "cannot install softhsm2"
SOFTHSM_MODULE=/usr/lib/softhsm/libsofthsm2.so
H="$WORK/softhsm"
mkdir -p "$H/tokens"
printf 'directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n' "$H/tokens" >"$H/softhsm2.conf"
export SOFTHSM2_CONF="$H/softhsm2.conf"
TOKEN_PIN=bench-only-pin-4711
(umask 077 && echo "$TOKEN_PIN" >"$H/pin")
softhsm2-util --init-token --free --label BENCH --so-pin bench-only-so-pin --pin "$TOKEN_PIN" >/dev/null
TOKEN_ISSUER="$WORK/token-issuer"
"$EDGECA" init --dir "$TOKEN_ISSUER" --subject "CN=Bench Token Issuing CA,O=edgeca bench" \
  --key "pkcs11:token=BENCH;object=bench-issuing-ca" --pkcs11-module "$SOFTHSM_MODULE" --pin-file "$H/pin" >/dev/null
for threads in 1 2; do
  log "raw signatures: pkcs11 (SoftHSM2), $threads thread(s)"
  record sign env EDGECA_PKCS11_PIN="$TOKEN_PIN" "$BENCH" sign --backend pkcs11 \
    --pkcs11-uri "pkcs11:token=BENCH;object=bench-issuing-ca" --pkcs11-module "$SOFTHSM_MODULE" \
    --threads "$threads" --seconds "$SIGN_SECONDS"
done

# --- 2. in-process issuance ------------------------------------------------------------------

for backend in openssl botan; do
  for threads in 1 2; do
    log "in-process issuance: $backend, $threads thread(s)"
    record issue "$BENCH" issue --backend "$backend" --threads "$threads" --seconds "$SIGN_SECONDS" \
      --dir "$WORK/issue-$backend-$threads"
    rm -rf "$WORK/issue-$backend-$threads"
  done
done

# --- the enrollment storm's devices: keys and CSRs made before any clock starts ---------------

log "making $STORM x 2 device keys and CSRs for the enrollment storms"
record storm-keys "$BENCH" storm-keys --count "$STORM" --sets 2 --out-dir "$WORK/storm"

# --- a PKI as the docs make it: root, issuing CA, admin client, one device -----------------

P="$WORK/pki"
mkdir -p "$P"
(umask 077 && echo "bench-only root passphrase" >"$P/root.pass" && echo "bench-only issuer passphrase" >"$P/issuer.pass")
"$EDGECA_ROOT" init --dir "$P/root" --subject "CN=Bench Root CA,O=edgeca bench" --validity-days 3650 \
  --passphrase-file "$P/root.pass" >/dev/null
"$EDGECA" init --dir "$P/issuer" --subject "CN=Bench Issuing CA,O=edgeca bench" --passphrase-file "$P/issuer.pass" >/dev/null
"$EDGECA_ROOT" sign-intermediate --dir "$P/root" --csr "$P/issuer/issuer.csr" --out "$P/issuer-cert.pem" \
  --passphrase-file "$P/root.pass" >/dev/null
"$EDGECA" install --dir "$P/issuer" --cert "$P/issuer-cert.pem" --root "$P/root/root.pem" >/dev/null
"$EDGECA" product add --dir "$P/issuer" --product-key P1 --name bench --max-validity-days 730 >/dev/null
"$EDGECA" device add --dir "$P/issuer" --product-key P1 --device-key SN-BENCH >/dev/null
openssl req -new -newkey rsa:2048 -nodes -keyout "$P/admin.key" -subj /CN=bench-admin -out "$P/admin.csr" 2>/dev/null
"$EDGECA" issue --dir "$P/issuer" --csr "$P/admin.csr" --profile client --grant-role admin --validity-days 30 \
  --out "$P/admin.pem" --passphrase-file "$P/issuer.pass" >/dev/null
# The issuing CA whose key is in the token (1b), certified by the same root, with the same
# product, device and admin client.
"$EDGECA_ROOT" sign-intermediate --dir "$P/root" --csr "$TOKEN_ISSUER/issuer.csr" --out "$P/token-issuer-cert.pem" \
  --passphrase-file "$P/root.pass" >/dev/null
"$EDGECA" install --dir "$TOKEN_ISSUER" --cert "$P/token-issuer-cert.pem" --root "$P/root/root.pem" >/dev/null
"$EDGECA" product add --dir "$TOKEN_ISSUER" --product-key P1 --name bench --max-validity-days 730 >/dev/null
"$EDGECA" device add --dir "$TOKEN_ISSUER" --product-key P1 --device-key SN-BENCH >/dev/null
"$EDGECA" issue --dir "$TOKEN_ISSUER" --csr "$P/admin.csr" --profile client --grant-role admin --validity-days 30 \
  --out "$P/token-admin.pem" >/dev/null
# The device renews with the same key and CSR on every request.
openssl req -new -newkey rsa:2048 -nodes -keyout "$P/device.key" -subj /CN=SN-BENCH -out "$P/device.csr" 2>/dev/null
python3 -c 'import json, sys; print(json.dumps({"csr": open(sys.argv[1]).read(), "profile": "edge",
            "product_key": "P1", "device_key": "SN-BENCH"}))' "$P/device.csr" >"$WORK/edge-request.json"
python3 -c 'import json, sys; print(json.dumps({"certificate_request": open(sys.argv[1]).read()}))' \
  "$P/device.csr" >"$WORK/cfssl-request.json"

start_serve() {  # start_serve [DIR [NODE]]: the file-key issuing CA, or DIR, as node NODE
  local node=${2:-bench} log="$WORK/serve${2:+-$2}.log"
  EDGECA_NODE_NAME=$node "$EDGECA" serve --dir "${1:-$P/issuer}" --passphrase-file "$P/issuer.pass" \
    --listen 127.0.0.1:0 --public-listen 127.0.0.1:0 >"$log" 2>&1 &
  SERVE_PID=$!
  STARTED_PIDS+=("$SERVE_PID")
  for _ in $(seq 1 600); do
    grep -q '"event":"listening"' "$log" && break
    kill -0 "$SERVE_PID" 2>/dev/null || { cat "$log" >&2; die "edgeca serve ($node) exited"; }
    sleep 0.1
  done
  local line
  line=$(grep -m1 '"event":"listening"' "$log") || die "edgeca serve ($node) did not listen within 60 s"
  API_PORT=$(sed -n 's/.*"api":"https:\/\/[^"]*:\([0-9]*\)".*/\1/p' <<<"$line")
  PUBLIC_PORT=$(sed -n 's/.*"public":"http:\/\/[^"]*:\([0-9]*\)".*/\1/p' <<<"$line")
}
tls_client=(--ca "$P/root/root.pem" --cert "$P/admin.pem" --key "$P/admin.key")

# --- 3. HTTPS issuance against edgeca serve ----------------------------------------------------

start_serve
: >"$WORK/serials.txt"
for clients in $CLIENT_COUNTS; do
  log "HTTPS issuance, edgeca serve: $clients client(s)"
  record edgeca-load "$BENCH" load --port "$API_PORT" "${tls_client[@]}" --body "$WORK/edge-request.json" \
    --clients "$clients" --seconds "$LOAD_SECONDS" --serials-out "$WORK/serials-$clients.txt"
  cat "$WORK/serials-$clients.txt" >>"$WORK/serials.txt"
done
note edgeca-memory "$(memory_of "$SERVE_PID")"
# Each certificate was committed (WAL, synchronous=FULL) before its response: every serial
# returned is in the store.
record durable "$BENCH" check-stored --store "$P/issuer/issuer.db" --serials "$WORK/serials.txt"

# --- 3d. an enrollment storm: distinct devices, each enrolling once with its own key -----------
# The devices are registered first (not timed); then 8 clients enroll them, one request each.

stored_now() { sqlite3 "$P/issuer/issuer.db" 'SELECT count(*) FROM certificates'; }
log "enrollment storm: $STORM devices, 8 clients, $(stored_now) certificates stored"
record storm "$BENCH" storm --port "$API_PORT" "${tls_client[@]}" --bodies "$WORK/storm/storm-1.jsonl" \
  --clients 8 --server-pid "$SERVE_PID" --label "$(stored_now)"

# --- 7. a burst of revocations, followed to the served CRL ---------------------------------

log "revocation burst: $BURST revocations"
record burst "$BENCH" burst --port "$API_PORT" "${tls_client[@]}" --public-port "$PUBLIC_PORT" \
  --body "$WORK/edge-request.json" --count "$BURST" --clients 8 --reason superseded --timeout 120
stop_pid "$SERVE_PID"

# --- 3c. HTTPS issuance with the issuing CA's key in the SoftHSM2 token ------------------------
# (The service's TLS key stays a file key, encrypted under the passphrase.)

start_serve "$TOKEN_ISSUER"
for clients in $CLIENT_COUNTS; do
  log "HTTPS issuance, edgeca serve, key in SoftHSM2: $clients client(s)"
  record edgeca-token-load "$BENCH" load --port "$API_PORT" --ca "$P/root/root.pem" --cert "$P/token-admin.pem" \
    --key "$P/admin.key" --body "$WORK/edge-request.json" --clients "$clients" --seconds "$LOAD_SECONDS"
done
stop_pid "$SERVE_PID"

# --- 3b. the same HTTPS issuance with the store on PostgreSQL: one node, then two ------------
# A throwaway PostgreSQL 15 cluster on loopback (tests/integration/pg_support.py makes it, as
# the tests do); the issuing CA's store is copied into it with `edgeca store migrate`.

PG_STATE="$WORK/pg.json"
if python3 - "$PG_STATE" <<'PY' 2>>"$WORK/stderr.log"
import json, sys
sys.path.insert(0, "tests/integration")
from pg_support import PgCluster
cluster = PgCluster.create()
url = cluster.create_database("edgeca")
json.dump({"url": url, "pid": cluster.pid, "base": cluster.base, "data": cluster.data_dir,
           "bindir": cluster.bindir}, open(sys.argv[1], "w"))
PY
then
  PG_URL=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["url"])' "$PG_STATE")
  stop_pg() {
    python3 - "$PG_STATE" <<'PY' || true
import json, os, signal, shutil, sys
state = json.load(open(sys.argv[1]))
try:
    os.kill(state["pid"], signal.SIGINT)  # fast shutdown of the postmaster
except ProcessLookupError:
    pass
import time
for _ in range(300):
    try:
        os.kill(state["pid"], 0)
    except ProcessLookupError:
        break
    time.sleep(0.1)
shutil.rmtree(state["base"], ignore_errors=True)
PY
  }
  cp -a "$P/issuer" "$P/issuer-pg"
  rm -rf "$P/issuer-pg/tls" "$P/issuer-pg/crl"
  "$EDGECA" store migrate --dir "$P/issuer-pg" --to "$PG_URL" >/dev/null 2>>"$WORK/stderr.log" ||
    die "edgeca store migrate failed"
  start_pg_node() {  # start_pg_node NAME: a node of the PostgreSQL CA (a copy of issuer-pg)
    local dir="$P/issuer-$1"
    [ -d "$dir" ] || { cp -a "$P/issuer-pg" "$dir"; rm -rf "$dir/tls" "$dir/crl"; }
    start_serve "$dir" "$1"
  }
  start_pg_node pg
  PG1_PID=$SERVE_PID PG1_PORT=$API_PORT
  log "HTTPS issuance, one node on PostgreSQL: 8 clients"
  record pg-load-1 "$BENCH" load --port "$PG1_PORT" "${tls_client[@]}" --body "$WORK/edge-request.json" \
    --clients 8 --seconds "$LOAD_SECONDS"
  start_pg_node pg2
  PG2_PID=$SERVE_PID PG2_PORT=$API_PORT
  log "HTTPS issuance, two nodes on PostgreSQL: 4 clients each"
  "$BENCH" load --port "$PG2_PORT" "${tls_client[@]}" --body "$WORK/edge-request.json" --clients 4 \
    --seconds "$LOAD_SECONDS" >"$WORK/pg2-b.json" 2>>"$WORK/stderr.log" &
  second=$!
  record pg-load-2a "$BENCH" load --port "$PG1_PORT" "${tls_client[@]}" --body "$WORK/edge-request.json" \
    --clients 4 --seconds "$LOAD_SECONDS"
  wait "$second" || log "the second node's load exited $?"
  while IFS= read -r line; do
    case "$line" in "{"*) note pg-load-2b "$line" ;; esac
  done <"$WORK/pg2-b.json"
  stop_pid "$PG1_PID"
  stop_pid "$PG2_PID"
  stop_pg
else
  log "PostgreSQL could not be started for the benchmark (see $WORK/stderr.log); its rows stay empty"
  tail -n 5 "$WORK/stderr.log" >&2
fi

# --- 4. the same workload against cfssl serve with its SQLite certdb -------------------------

if [ "$CFSSL" = available ]; then
  C="$WORK/cfssl"
  mkdir -p "$C"
  openssl req -x509 -newkey rsa:2048 -nodes -keyout "$C/ca.key" -subj "/CN=cfssl Bench CA" -days 3650 \
    -out "$C/ca.pem" 2>/dev/null
  openssl req -new -newkey rsa:2048 -nodes -keyout "$C/tls.key" -subj /CN=127.0.0.1 -out "$C/tls.csr" 2>/dev/null
  openssl x509 -req -in "$C/tls.csr" -CA "$C/ca.pem" -CAkey "$C/ca.key" -CAcreateserial -days 30 \
    -extfile <(printf 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n') -out "$C/tls.pem" 2>/dev/null
  openssl req -new -newkey rsa:2048 -nodes -keyout "$C/client.key" -subj /CN=bench-client -out "$C/client.csr" 2>/dev/null
  openssl x509 -req -in "$C/client.csr" -CA "$C/ca.pem" -CAkey "$C/ca.key" -CAcreateserial -days 30 \
    -extfile <(printf 'extendedKeyUsage=clientAuth\n') -out "$C/client.pem" 2>/dev/null
  cat >"$C/config.json" <<'EOF'
{"signing": {"default": {"expiry": "17520h", "usages": ["digital signature", "key encipherment", "client auth"]}}}
EOF
  # cfssl's certdb schema for SQLite (certdb/sqlite/migrations of cfssl 1.2).
  sqlite3 "$C/certs.db" <<'EOF'
CREATE TABLE certificates (
  serial_number            blob NOT NULL,
  authority_key_identifier blob NOT NULL,
  ca_label                 blob,
  status                   blob NOT NULL,
  reason                   int,
  expiry                   timestamp,
  revoked_at               timestamp,
  pem                      blob NOT NULL,
  PRIMARY KEY(serial_number, authority_key_identifier)
);
CREATE TABLE ocsp_responses (
  serial_number            blob NOT NULL,
  authority_key_identifier blob NOT NULL,
  body                     blob NOT NULL,
  expiry                   timestamp,
  PRIMARY KEY(serial_number, authority_key_identifier),
  FOREIGN KEY(serial_number, authority_key_identifier) REFERENCES certificates(serial_number, authority_key_identifier)
);
EOF
  printf '{"driver": "sqlite3", "data_source": "%s"}\n' "$C/certs.db" >"$C/db.json"
  CFSSL_PORT=$(free_port)
  cfssl serve -address 127.0.0.1 -port "$CFSSL_PORT" -ca "$C/ca.pem" -ca-key "$C/ca.key" -config "$C/config.json" \
    -db-config "$C/db.json" -tls-cert "$C/tls.pem" -tls-key "$C/tls.key" -mutual-tls-ca "$C/ca.pem" \
    -loglevel 5 >"$WORK/cfssl.log" 2>&1 &
  CFSSL_PID=$!
  STARTED_PIDS+=("$CFSSL_PID")
  for _ in $(seq 1 300); do
    (exec 3<>"/dev/tcp/127.0.0.1/$CFSSL_PORT") 2>/dev/null && break
    kill -0 "$CFSSL_PID" 2>/dev/null || { cat "$WORK/cfssl.log" >&2; die "cfssl serve exited"; }
    sleep 0.1
  done
  cfssl_requests=0
  for clients in $CLIENT_COUNTS; do
    log "HTTPS issuance, cfssl serve: $clients client(s)"
    record cfssl-load "$BENCH" load --port "$CFSSL_PORT" --ca "$C/ca.pem" --cert "$C/client.pem" --key "$C/client.key" \
      --path /api/v1/cfssl/sign --expect-status 200 --body "$WORK/cfssl-request.json" \
      --clients "$clients" --seconds "$LOAD_SECONDS"
  done
  note cfssl-memory "$(memory_of "$CFSSL_PID")"
  note cfssl-durable "{\"stored\": $(sqlite3 "$C/certs.db" 'SELECT count(*) FROM certificates')}"
  stop_pid "$CFSSL_PID"
fi

# --- 5. CRLs beside openssl ca -gencrl -------------------------------------------------------

for entries in $CRL_SIZES; do
  log "CRL of $entries entries"
  D="$WORK/crl-$entries"
  record crl "$BENCH" crl --entries "$entries" --dir "$D/edgeca" --openssl-dir "$D/openssl"
  start=$EPOCHREALTIME
  (cd "$D/openssl" && /usr/bin/time -o "$D/time.txt" -f '%M' openssl ca -gencrl -batch -config openssl.cnf \
    -out crl.pem 2>/dev/null)
  end=$EPOCHREALTIME
  der_bytes=$(openssl crl -in "$D/openssl/crl.pem" -outform DER | wc -c)
  listed=$(openssl crl -in "$D/openssl/crl.pem" -noout -text | grep -c "Serial Number:" || true)
  note openssl-crl "$(printf '{"entries": %d, "listed": %d, "seconds": %s, "peak_rss_bytes": %d, "der_bytes": %d}' \
    "$entries" "$listed" "$(awk -v a="$start" -v b="$end" 'BEGIN {print b - a}')" \
    "$(($(tail -n1 "$D/time.txt") * 1024))" "$der_bytes")"
  rm -rf "$D"
done

# --- 6. start-up and idle memory with 1M certificates in the store -----------------------

log "filling the store to $FILL_TO certificates"
record fill "$BENCH" fill --store "$P/issuer/issuer.db" --until "$FILL_TO" --revoked-every 100
# The first start after the fill signs a CRL for the revocations the fill added; the starts
# measured after it find their CRL current, as a restarted service does.
for run in $(seq 0 "$STARTS"); do
  api=$(free_port)
  public=$(free_port)
  log "start-up $run of $STARTS"
  record "startup-$([ "$run" = 0 ] && echo first || echo again)" "$BENCH" startup --port "$api" "${tls_client[@]}" \
    --log "$WORK/startup.log" --pid-file "$WORK/startup.pid" --idle "$IDLE" --timeout 120 -- \
    "$EDGECA" serve --dir "$P/issuer" --passphrase-file "$P/issuer.pass" --listen "127.0.0.1:$api" \
    --public-listen "127.0.0.1:$public"
  rm -f "$WORK/startup.pid"
done

# The same storm again, other devices, with the store filled.
start_serve
log "enrollment storm: $STORM devices, 8 clients, $(stored_now) certificates stored"
record storm "$BENCH" storm --port "$API_PORT" "${tls_client[@]}" --bodies "$WORK/storm/storm-2.jsonl" \
  --clients 8 --server-pid "$SERVE_PID" --label "$(stored_now)"
stop_pid "$SERVE_PID"

LOAD_AT_END=$(cut -d' ' -f1-3 /proc/loadavg)
log "load average at end: $LOAD_AT_END"

# --- the table -------------------------------------------------------------------------------

python3 - "$RESULTS" "$QUICK" "$CFSSL" "$PUBLISH_DELAY" "$LOAD_AT_START" "$LOAD_AT_END" <<'EOF'
import json, os, platform, sys, time

results_file, quick, cfssl, publish_delay, load_start, load_end = sys.argv[1:]
publish_delay = float(publish_delay)
rows = []
with open(results_file) as f:
    for line in f:
        label, text = line.rstrip("\n").split("\t", 1)
        rows.append((label, json.loads(text)))

def all_of(label, **match):
    return [r for l, r in rows if l == label and all(r.get(k) == v for k, v in match.items())]

def one(label, **match):
    found = all_of(label, **match)
    return found[0] if found else None

def rate(x): return f"{x:,.0f}/s"
def mib(b): return f"{b / 2**20:,.1f} MiB" if b >= 2**20 else f"{b / 2**10:,.0f} KiB"
def secs(s): return f"{s:.3f} s" if s < 10 else f"{s:.1f} s"
def ratio(a, b): return f"{a / b:.2f}" if b else "—"
def verdict(ok): return "met" if ok else "**missed**"

table = []
def row(n, what, figure, against="—", r="—", target="—", result="—"):
    table.append(f"| {n} | {what} | {figure} | {against} | {r} | {target} | {result} |")

sign = {(r["backend"], r["threads"]): r for r in all_of("sign")}
for (backend, threads), r in sorted(sign.items()):
    name = "pkcs11 (key in SoftHSM2)" if backend == "pkcs11" else backend
    row(1, f"raw RSA-2048 signature, {name}, {threads} thread{'s' if threads > 1 else ''}",
        f"{rate(r['per_second'])} ({r['cpu_us_per_op']:.0f} µs CPU each)", result="limit")

for r in all_of("issue"):
    limit = sign.get((r["backend"], r["threads"]))
    t = r["threads"]
    row(2, f"in-process issuance, {r['backend']} backend, {t} thread{'s' if t > 1 else ''}",
        f"{rate(r['per_second'])} ({r['cpu_us_per_op']:.0f} µs CPU each)",
        f"raw {r['backend']} sign, {t} thread{'s' if t > 1 else ''}: {rate(limit['per_second'])}",
        ratio(r["per_second"], limit["per_second"]), "≥ 0.8",
        verdict(r["per_second"] >= 0.8 * limit["per_second"]))

cf = {r["clients"]: r for r in all_of("cfssl-load")}
openssl2 = sign[("openssl", 2)]["per_second"]
for r in all_of("edgeca-load"):
    c = r["clients"]
    figure = (f"{rate(r['per_second'])}, p50 {r['p50_ms']:.1f} ms, p99 {r['p99_ms']:.1f} ms"
              + (f", {r['failures']} failed" if r["failures"] else ""))
    if c == 8:
        row(3, "HTTPS issuance (mTLS, keep-alive), 8 clients", figure,
            f"raw openssl sign, 2 threads: {rate(openssl2)}", ratio(r["per_second"], openssl2), "≥ 0.5",
            verdict(r["per_second"] >= 0.5 * openssl2))
        if 8 in cf:
            row(3, "HTTPS issuance, 8 clients, against cfssl", figure, f"cfssl serve, 8 clients: {rate(cf[8]['per_second'])}",
                ratio(r["per_second"], cf[8]["per_second"]), "≥ 5", verdict(r["per_second"] >= 5 * cf[8]["per_second"]))
        else:
            row(3, "HTTPS issuance, 8 clients, against cfssl", figure, f"cfssl serve: {cfssl}", "—", "≥ 5", "not measured")
    else:
        peer = cf.get(c)
        row(3, f"HTTPS issuance (mTLS, keep-alive), {c} client{'s' if c > 1 else ''}", figure,
            f"cfssl serve, {c} client{'s' if c > 1 else ''}: {rate(peer['per_second'])}" if peer else "—",
            ratio(r["per_second"], peer["per_second"]) if peer else "—")
sqlite8 = next((r for r in all_of("edgeca-load") if r["clients"] == 8), None)
pg1, pg2a, pg2b = one("pg-load-1"), one("pg-load-2a"), one("pg-load-2b")
if pg1:
    figure = f"{rate(pg1['per_second'])}, p50 {pg1['p50_ms']:.1f} ms, p99 {pg1['p99_ms']:.1f} ms"
    row(3, "HTTPS issuance, 8 clients, one node on PostgreSQL", figure,
        f"one node on SQLite: {rate(sqlite8['per_second'])}" if sqlite8 else "—",
        ratio(pg1["per_second"], sqlite8["per_second"]) if sqlite8 else "—", "≥ 0.7",
        verdict(sqlite8 is not None and pg1["per_second"] >= 0.7 * sqlite8["per_second"]))
    row(3, "HTTPS issuance, 8 clients, one node on PostgreSQL, against the sign rate", figure,
        f"raw openssl sign, 2 threads: {rate(openssl2)}", ratio(pg1["per_second"], openssl2))
if pg2a and pg2b:
    both = pg2a["per_second"] + pg2b["per_second"]
    row(3, "HTTPS issuance, two nodes on PostgreSQL, 4 clients each", f"{rate(both)} together, p99 "
        f"{max(pg2a['p99_ms'], pg2b['p99_ms']):.1f} ms" + (f", {pg2a['failures'] + pg2b['failures']} failed"
                                                           if pg2a["failures"] + pg2b["failures"] else ""),
        f"one node on PostgreSQL: {rate(pg1['per_second'])}" if pg1 else "—",
        ratio(both, pg1["per_second"]) if pg1 else "—")
file_key = {r["clients"]: r for r in all_of("edgeca-load")}
for r in all_of("edgeca-token-load"):
    c = r["clients"]
    peer = file_key.get(c)
    row(3, f"HTTPS issuance, key in SoftHSM2 token, {c} client{'s' if c > 1 else ''}",
        f"{rate(r['per_second'])}, p50 {r['p50_ms']:.1f} ms, p99 {r['p99_ms']:.1f} ms"
        + (f", {r['failures']} failed" if r["failures"] else ""),
        f"file key, {c} client{'s' if c > 1 else ''}: {rate(peer['per_second'])}" if peer else "—",
        ratio(r["per_second"], peer["per_second"]) if peer else "—")
d = one("durable")
if d:
    row(3, "every certificate durable before its response", f"{d['stored']:,} of {d['serials']:,} returned serials in the store",
        "—", "—", "all", verdict(d["stored"] == d["serials"]))
m = one("edgeca-memory")
if m:
    row(3, "edgeca serve memory after the HTTPS runs", f"RSS {mib(m['rss_bytes'])}, peak {mib(m['peak_rss_bytes'])}")

if cf:
    for c, r in sorted(cf.items()):
        row(4, f"cfssl serve + SQLite certdb, {c} client{'s' if c > 1 else ''}",
            f"{rate(r['per_second'])}, p50 {r['p50_ms']:.1f} ms, p99 {r['p99_ms']:.1f} ms"
            + (f", {r['failures']} failed" if r["failures"] else ""), result="peer")
    cd, cm = one("cfssl-durable"), one("cfssl-memory")
    total = sum(r["requests"] - r["failures"] for r in cf.values())
    if cd:
        row(4, "cfssl certdb rows after its runs", f"{cd['stored']:,} for {total:,} certificates returned")
    if cm:
        row(4, "cfssl serve memory after its runs", f"RSS {mib(cm['rss_bytes'])}, peak {mib(cm['peak_rss_bytes'])}")
else:
    row(4, "cfssl serve + SQLite certdb", cfssl, result="not available")

crl_targets = {100000: 0.15, 1000000: 1.5}
for r in all_of("crl"):
    n = r["entries"]
    o = one("openssl-crl", entries=n)
    limit = crl_targets.get(n)
    row(5, f"CRL build + sign, {n:,} entries with reasons", f"{secs(r['build_sign_seconds'])}, DER {mib(r['der_bytes'])}",
        f"limit {limit} s" if limit else (f"openssl ca -gencrl: {secs(o['seconds'])}" if o else "—"),
        ratio(r["build_sign_seconds"], limit) if limit else (ratio(r["build_sign_seconds"], o["seconds"]) if o else "—"),
        "≤ 1" if limit else "—", verdict(r["build_sign_seconds"] <= limit) if limit else "—")
    if limit and o:
        row(5, f"CRL build + sign, {n:,} entries, against openssl", secs(r["build_sign_seconds"]),
            f"openssl ca -gencrl: {secs(o['seconds'])}", ratio(r["build_sign_seconds"], o["seconds"]))
    row(5, f"CRL build + sign peak memory, {n:,} entries", f"{mib(r['build_sign_peak_growth_bytes'])} above the process's",
        f"DER {mib(r['der_bytes'])}", ratio(r["build_sign_peak_growth_bytes"], r["der_bytes"]), "≤ 3" if limit else "—",
        verdict(r["build_sign_peak_growth_bytes"] <= 3 * r["der_bytes"]) if limit else "—")
    row(5, f"CRL published (+ store commit, audit, PEM), {n:,}",
        f"{secs(r['publish_seconds'])}, peak {mib(r['publish_peak_growth_bytes'])}",
        f"DER {mib(r['der_bytes'])}", ratio(r["publish_peak_growth_bytes"], r["der_bytes"]) + " (memory)")
    if o:
        row(5, f"openssl ca -gencrl, {n:,} entries",
            f"{secs(o['seconds'])}, peak RSS {mib(o['peak_rss_bytes'])}, DER {mib(o['der_bytes'])}, {o['listed']:,} listed",
            result="peer")

f = one("fill")
for label in ("startup-first", "startup-again"):
    runs = all_of(label)
    if not runs:
        continue
    ok = [r for r in runs if "ready_seconds" in r]
    if len(ok) < len(runs):
        row(6, label, "; ".join(r.get("error", "?") for r in runs if "ready_seconds" not in r), result="**failed**")
        continue
    ready = sorted(r["ready_seconds"] for r in ok)
    median = ready[len(ready) // 2]
    idle = max(r["idle_rss_bytes"] for r in ok)
    held = f"{f['certificates']:,}" if f else "?"
    if label == "startup-first":
        row(6, f"first start after filling the store ({held} certificates; signs a CRL)",
            f"{secs(ready[0])}, idle RSS {mib(idle)}")
        continue
    row(6, f"edgeca serve start-up, {held} certificates stored", f"{secs(median)} (median of {len(ready)}: "
        + ", ".join(secs(x) for x in ready) + ")", "limit 0.5 s", ratio(median, 0.5), "< 1", verdict(median < 0.5))
    row(6, f"edgeca serve idle RSS, {held} certificates stored", f"{mib(idle)} (peak {mib(max(r['peak_rss_bytes'] for r in ok))})",
        "limit 50 MB", ratio(idle, 50e6), "< 1", verdict(idle < 50e6))

b = one("burst")
if b:
    if "first_to_crl_seconds" in b:
        row(7, f"revocation burst of {b['revocations']:,} to the served CRL",
            f"{secs(b['first_to_crl_seconds'])} from the first revocation, {secs(b['last_to_crl_seconds'])} "
            f"from the last ({secs(b['revoke_seconds'])} to revoke all; {b['failures']} failed)",
            f"crl.publish_delay {publish_delay:g} s", ratio(b["first_to_crl_seconds"], publish_delay),
            "delay + signing")
    else:
        row(7, f"revocation burst of {b['revocations']:,}", b.get("error", "?"), result="**failed**")

storms = all_of("storm")
for i, r in enumerate(storms):
    stored = int(r["label"]) if r.get("label", "").isdigit() else None
    figure = (f"{rate(r['per_second'])}, p50 {r['p50_ms']:.1f} ms, p99 {r['p99_ms']:.1f} ms, RSS "
              f"{mib(r['rss_start_bytes'])} → max {mib(r['rss_max_bytes'])}"
              + (f", {r['failures']} failed" if r["failures"] else "")
              + (f", {r['distinct_serials']:,} distinct serials" if r["distinct_serials"] != r["devices"] else ""))
    what = f"enrollment storm, {r['devices']:,} new devices, 8 clients, {stored:,} stored before" if stored is not None \
        else f"enrollment storm, {r['devices']:,} new devices, 8 clients"
    if i == 0:
        row(8, what, figure, f"raw openssl sign, 2 threads: {rate(openssl2)}", ratio(r["per_second"], openssl2))
    else:
        first = storms[0]
        row(8, what, figure, f"the storm on the smaller store: {rate(first['per_second'])}",
            ratio(r["per_second"], first["per_second"]), "≥ 0.9", verdict(r["per_second"] >= 0.9 * first["per_second"]))
sk = one("storm-keys")
if sk:
    row(8, "storm keys made before the clock", f"{sk['keys']:,} RSA-2048 keys and CSRs from {sk['primes']} primes in {secs(sk['seconds'])}")

def cpu_model():
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "?"

mem = next((int(l.split()[1]) * 1024 for l in open("/proc/meminfo") if l.startswith("MemTotal:")), 0)
print(f"## edgeca benchmark{' (--quick: sizes too small to mean anything)' if quick == '1' else ''}")
print()
print(f"- machine: {os.cpu_count()} CPUs ({cpu_model()}), {mem / 2**30:.1f} GiB memory, {platform.platform()}")
print(f"- date: {time.strftime('%Y-%m-%d %H:%M %Z')}; load average (1, 5, 15 min) at start {load_start}, at end {load_end}")
print()
print("| # | measurement | figure | limit or peer | ratio | target | |")
print("| --- | --- | --- | --- | --- | --- | --- |")
print("\n".join(table))
EOF
