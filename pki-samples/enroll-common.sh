# pki-samples/enroll-common.sh — shared by hub-enroll, edge-enroll and edge-reset: option
# parsing helpers and a JSON POST with curl. Sourced, not run.

die() { echo "$(basename "$0"): $*" >&2; exit 1; }

need() { command -v "$1" >/dev/null 2>&1 || die "$1 is required (Debian package: $2)"; }
need openssl openssl
need curl curl
need python3 python3

# post_json URL JSON-FILE [curl options...]: prints the body; fails with the API's error message.
post_json() {
  local url=$1 body=$2
  shift 2
  local response status
  response=$(curl -sS --max-time 60 -H 'Content-Type: application/json' --data-binary "@$body" \
               -w '\n%{http_code}' "$@" "$url") || die "cannot reach $url"
  status=${response##*$'\n'}
  response=${response%$'\n'*}
  if [ "${status:0:1}" != 2 ]; then
    echo "$response" | python3 -c 'import json,sys
try:
    e = json.load(sys.stdin)["error"]; print("error %s: %s" % (e["code"], e["message"]), file=sys.stderr)
except Exception:
    print(sys.stdin.read(), file=sys.stderr)' || true
    die "$url answered HTTP $status"
  fi
  printf '%s' "$response"
}

# json_field FIELD < JSON
json_field() { python3 -c 'import json,sys; v=json.load(sys.stdin)[sys.argv[1]]; print(v if isinstance(v,str) else json.dumps(v))' "$1"; }
