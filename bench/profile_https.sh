#!/usr/bin/env bash
# bench/profile_https.sh — a callgrind profile of issuance over HTTPS: `edgeca serve` under
# valgrind answers N edge renewals over one mutual-TLS keep-alive connection, and the
# instruction counts of what one request costs are printed, inclusive, by part.
#
#   bench/profile_https.sh [--build-dir DIR] [--requests N] [--keep FILE]
#
# Instruction counts, so the machine's load does not change them. --keep saves callgrind's
# output for callgrind_annotate. Listens on 127.0.0.1 only; stops what it starts.
set -euo pipefail
BUILD_DIR=build REQUESTS=300 KEEP=""
while [ $# -gt 0 ]; do
  case "$1" in
    --build-dir) BUILD_DIR=$2; shift ;;
    --requests) REQUESTS=$2; shift ;;
    --keep) KEEP=$2; shift ;;
    -h | --help) sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "profile_https.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
cd "$(dirname "$0")/.."
command -v valgrind >/dev/null || { echo "profile_https.sh: needs valgrind (apt-get install valgrind)" >&2; exit 1; }
EDGECA=$BUILD_DIR/cli/edgeca EDGECA_ROOT=$BUILD_DIR/cli/edgeca-root BENCH=$BUILD_DIR/bench/edgeca-bench
W=$(mktemp -d "${TMPDIR:-/tmp}/edgeca-profile.XXXXXX")
SERVE_PID=""
cleanup() {
  [ -n "$SERVE_PID" ] && kill -9 "$SERVE_PID" 2>/dev/null || true
  rm -rf "$W"
}
trap cleanup EXIT

(umask 077 && echo "profile-only root passphrase" >"$W/root.pass" && echo "profile-only issuer passphrase" >"$W/issuer.pass")
"$EDGECA_ROOT" init --dir "$W/root" --subject "CN=Profile Root" --validity-days 365 --passphrase-file "$W/root.pass" >/dev/null
"$EDGECA" init --dir "$W/issuer" --subject "CN=Profile Issuing CA" --passphrase-file "$W/issuer.pass" >/dev/null
"$EDGECA_ROOT" sign-intermediate --dir "$W/root" --csr "$W/issuer/issuer.csr" --out "$W/issuer.pem" \
  --passphrase-file "$W/root.pass" >/dev/null
"$EDGECA" install --dir "$W/issuer" --cert "$W/issuer.pem" --root "$W/root/root.pem" >/dev/null
"$EDGECA" product add --dir "$W/issuer" --product-key P1 --name profile >/dev/null
"$EDGECA" device add --dir "$W/issuer" --product-key P1 --device-key SN-PROFILE >/dev/null
openssl req -new -newkey rsa:2048 -nodes -keyout "$W/admin.key" -subj /CN=profile-admin -out "$W/admin.csr" 2>/dev/null
"$EDGECA" issue --dir "$W/issuer" --csr "$W/admin.csr" --profile client --grant-role admin --validity-days 2 \
  --out "$W/admin.pem" --passphrase-file "$W/issuer.pass" >/dev/null
openssl req -new -newkey rsa:2048 -nodes -keyout "$W/device.key" -subj /CN=SN-PROFILE -out "$W/device.csr" 2>/dev/null
python3 -c 'import json, sys; print(json.dumps({"csr": open(sys.argv[1]).read(), "profile": "edge",
            "product_key": "P1", "device_key": "SN-PROFILE"}))' "$W/device.csr" >"$W/request.json"

valgrind --tool=callgrind --callgrind-out-file="$W/callgrind.out" "$EDGECA" serve --dir "$W/issuer" \
  --passphrase-file "$W/issuer.pass" --listen 127.0.0.1:0 --public-listen 127.0.0.1:0 >"$W/serve.log" 2>&1 &
SERVE_PID=$!
for _ in $(seq 1 1200); do
  grep -q '"event":"listening"' "$W/serve.log" && break
  kill -0 "$SERVE_PID" 2>/dev/null || { cat "$W/serve.log" >&2; exit 1; }
  sleep 0.25
done
PORT=$(grep -m1 '"event":"listening"' "$W/serve.log" | sed -n 's/.*"api":"https:\/\/[^"]*:\([0-9]*\)".*/\1/p')
[ -n "$PORT" ] || { echo "profile_https.sh: edgeca serve did not listen within 300 s" >&2; exit 1; }
"$BENCH" load --port "$PORT" --ca "$W/root/root.pem" --cert "$W/admin.pem" --key "$W/admin.key" \
  --body "$W/request.json" --clients 1 --max-requests "$REQUESTS" --seconds 3600 >"$W/load.json"
kill -TERM "$SERVE_PID"
for _ in $(seq 1 600); do kill -0 "$SERVE_PID" 2>/dev/null || break; sleep 0.1; done
wait "$SERVE_PID" 2>/dev/null || true
SERVE_PID=""
[ -n "$KEEP" ] && cp "$W/callgrind.out" "$KEEP"

callgrind_annotate --inclusive=yes --threshold=100 "$W/callgrind.out" >"$W/annotated.txt" 2>/dev/null
python3 - "$W/annotated.txt" "$W/load.json" <<'PY'
import json, re, sys
annotated, load = sys.argv[1:]
requests = json.load(open(load))["requests"]
inclusive = {}
for line in open(annotated):
    m = re.match(r"\s*([\d,]+) \([^)]*\)\s+(?:\?\?\?|[^:\s]+):(.*) \[", line)
    if m:
        name = m.group(2).strip()
        inclusive[name] = max(inclusive.get(name, 0), int(m.group(1).replace(",", "")))
def find(*patterns):
    for p in patterns:
        hits = [v for k, v in inclusive.items() if re.search(p, k)]
        if hits:
            return max(hits)
    return 0
parts = [
    ("the whole request on its worker (cpp-httplib's process_request)", find(r"httplib::Server::process_request")),
    ("  IssuingAuthority::issue", find(r"IssuingAuthority::issue\(")),
    ("    deciding (decide: CSR, proof of possession, key policy, subject, device)", find(r"IssuingAuthority::decide\(")),
    ("      the key policy (KeyPolicy::check)", find(r"KeyPolicy::check\(")),
    ("    building and signing the certificate (sign_certificate)", find(r"sign_certificate\(")),
    ("      the RSA signature (RSA_sign)", find(r"^RSA_sign$")),
    ("    the store write (Store::commit_batch)", find(r"Store::commit_batch\(")),
    ("  reading the request from TLS (SSL_read)", find(r"^SSL_read$")),
    ("  writing the response to TLS (SSL_write)", find(r"^SSL_write$")),
    ("  parsing the JSON body (nlohmann parser)", find(r"nlohmann.*parser.*::parse\(")),
]
print(f"{requests} requests over one keep-alive connection; instructions per request:")
print()
print("| part | instructions per request | share of the request |")
print("| --- | --- | --- |")
whole = parts[0][1] or 1
for name, count in parts:
    shown = f"{count / requests / 1e6:.2f} M" if count else "— (not in the profile)"
    depth = (len(name) - len(name.lstrip())) // 2
    print(f"| {'↳ ' * depth}{name.strip()} | {shown} | {100 * count / whole:.0f} % |")
handshake = find(r"^SSL_do_handshake$")
print(f"| the TLS handshake, once per connection (SSL_do_handshake) | {handshake / 1e6:.2f} M once "
      f"({handshake / requests / 1e6:.2f} M a request here) | — |")
PY
