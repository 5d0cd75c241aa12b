#!/usr/bin/env bash
# bench/profile.sh — where the CPU of one issuance goes, sampled with perf (real cycles, as the
# machine runs them; callgrind's instruction counts mislead here: under valgrind OpenSSL takes
# its generic big-number code, and the signature looks three times what it costs). Two runs:
# in-process (edgeca-bench issue, 1 thread) and over HTTPS (edgeca serve answering 8 clients
# renewing over mutual-TLS keep-alive connections). Prints each part's share, inclusive.
#
#   bench/profile.sh [--build-dir DIR] [--seconds N] [--keep DIR]
#
# perf samples CPU time, so other work on the machine changes the run's rate, not the shares.
# --keep saves perf's data files for `perf report`. Listens on 127.0.0.1 only; stops what it
# starts. Needs perf (Debian: linux-perf) and permission to use it.
set -euo pipefail
BUILD_DIR=build SECONDS_EACH=8 KEEP=""
while [ $# -gt 0 ]; do
  case "$1" in
    --build-dir) BUILD_DIR=$2; shift ;;
    --seconds) SECONDS_EACH=$2; shift ;;
    --keep) KEEP=$2; shift ;;
    -h | --help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "profile.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
cd "$(dirname "$0")/.."
. bench/bench_ca.sh
command -v perf >/dev/null || { echo "profile.sh: needs perf (apt-get install linux-perf)" >&2; exit 1; }
EDGECA=$BUILD_DIR/cli/edgeca EDGECA_ROOT=$BUILD_DIR/cli/edgeca-root BENCH=$BUILD_DIR/bench/edgeca-bench
W=$(mktemp -d "${TMPDIR:-/tmp}/edgeca-profile.XXXXXX")
SERVE_PID=""
cleanup() {
  [ -n "$SERVE_PID" ] && kill -9 "$SERVE_PID" 2>/dev/null || true
  rm -rf "$W"
}
trap cleanup EXIT

make_bench_ca "$W"

# perf report: each symbol's inclusive share of the samples, one "share<TAB>symbol" a line.
shares() {
  perf report -i "$1" --children -g none --percent-limit 0.5 --stdio 2>/dev/null |
    awk '/^ +[0-9.]+%/ { share = $1; sub(/%/, "", share); $1 = $2 = $3 = $4 = $5 = ""; sub(/^ +/, ""); print share "\t" $0 }'
}
record() {  # record OUT COMMAND...: perf record of COMMAND (or -p PID with sleep)
  local out=$1
  shift
  perf record -F 999 -g --call-graph dwarf,16384 -o "$out" "$@" >/dev/null 2>>"$W/perf.log"
}

echo "profile.sh: in-process issuance, $SECONDS_EACH s" >&2
record "$W/in-process.data" "$BENCH" issue --backend openssl --threads 1 --seconds "$SECONDS_EACH" --dir "$W/in-process"
shares "$W/in-process.data" >"$W/in-process.txt"

echo "profile.sh: HTTPS issuance, 8 clients, $SECONDS_EACH s" >&2
start_bench_serve "$W" "$W/serve.log" || exit 1
"$BENCH" load --port "$PORT" --ca "$W/root/root.pem" --cert "$W/admin.pem" --key "$W/admin.key" \
  --body "$W/request.json" --clients 8 --seconds "$((SECONDS_EACH + 2))" >"$W/load.json" &
LOAD_PID=$!
sleep 1
record "$W/https.data" -p "$SERVE_PID" -- sleep "$SECONDS_EACH"
wait "$LOAD_PID"
kill -TERM "$SERVE_PID"
wait "$SERVE_PID" 2>/dev/null || true
SERVE_PID=""
shares "$W/https.data" >"$W/https.txt"
if [ -n "$KEEP" ]; then
  mkdir -p "$KEEP"
  cp "$W/in-process.data" "$W/https.data" "$KEEP/"
fi

python3 - "$W/in-process.txt" "$W/https.txt" "$W/load.json" <<'PY'
import json, re, sys
in_process_file, https_file, load_file = sys.argv[1:]
load = json.load(open(load_file))

def read(path):
    shares = {}
    for line in open(path):
        share, _, name = line.rstrip("\n").partition("\t")
        shares[name] = max(shares.get(name, 0.0), float(share))
    return shares

def find(shares, pattern):
    return max((v for k, v in shares.items() if re.search(pattern, k)), default=0.0)

# (label, pattern, depth): the parts of an issuance, inclusive.
parts = [
    ("IssuingAuthority::issue", r"IssuingAuthority::issue\b", 0),
    ("deciding (decide)", r"IssuingAuthority::decide\b", 1),
    ("parsing the CSR and checking its signature (CertificateRequest::parse)", r"CertificateRequest::parse\b", 2),
    ("the key policy (KeyPolicy::check)", r"KeyPolicy::check\b", 2),
    ("signing and recording (sign_and_record)", r"IssuingAuthority::sign_and_record\b", 1),
    ("building and signing the certificate (sign_certificate_der)", r"\bsign_certificate(_der)?\b", 2),
    ("the RSA-2048 signature (RSA_sign)", r"^RSA_sign$", 3),
    ("the store write (Store::run_write)", r"Store::run_write\b", 2),
    ("fdatasync (the kernel's CPU in it)", r"fdatasync", 3),
]
https_only = [
    ("TLS record layer: SSL_read", r"^SSL_read$"),
    ("TLS record layer: SSL_write", r"^SSL_write$"),
    ("TLS handshakes (SSL_do_handshake)", r"^SSL_do_handshake$"),
    ("the request's JSON (nlohmann parser)", r"nlohmann.*parser.*::parse\b"),
    ("the event log line (api::log_event)", r"api::log_event\b"),
]

in_process, https = read(in_process_file), read(https_file)
whole = find(https, r"httplib::Server::process_request\b")
issue_ip = find(in_process, parts[0][1])
print(f"Shares of CPU samples, inclusive. In-process: of IssuingAuthority::issue. HTTPS "
      f"({load['per_second']:.0f}/s at 8 clients during the profile): of cpp-httplib's process_request, "
      f"one request on its worker.")
print()
print("| part | in-process | over HTTPS |")
print("| --- | --- | --- |")
print(f"| the whole request (process_request; {whole:.0f} % of the service's samples) | — | 100 % |")
def pct(value, of):
    return f"{100 * value / of:.0f} %" if value and of else "—"
for label, pattern, depth in parts:
    print(f"| {'↳ ' * depth}{label} | {pct(find(in_process, pattern), issue_ip)} | {pct(find(https, pattern), whole)} |")
for label, pattern in https_only:
    print(f"| {label} | — | {pct(find(https, pattern), whole)} |")
PY
