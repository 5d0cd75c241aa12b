#!/usr/bin/env bash
# bench/compare.sh — two builds' issuance side by side, in alternating runs on one machine, so
# that a change's effect is read against the same load: for each round and each build,
# in-process issuance (edgeca-bench issue, 1 and 2 threads) and HTTPS issuance at 8 clients
# (edgeca serve, mutual-TLS keep-alive renewals), with the raw OpenSSL sign rate of that moment.
#
#   bench/compare.sh --base DIR --new DIR [--rounds N] [--seconds N] [--clients N]
#
# DIR is a build directory holding cli/edgeca, cli/edgeca-root and bench/edgeca-bench (a
# release build: meson setup DIR --buildtype=release && ninja -C DIR). Prints one markdown row
# per run. Listens on 127.0.0.1 only; stops what it starts; removes its files.
set -euo pipefail
BASE="" NEW="" ROUNDS=3 SECONDS_EACH=6 CLIENTS=8
while [ $# -gt 0 ]; do
  case "$1" in
    --base) BASE=$2; shift ;;
    --new) NEW=$2; shift ;;
    --rounds) ROUNDS=$2; shift ;;
    --seconds) SECONDS_EACH=$2; shift ;;
    --clients) CLIENTS=$2; shift ;;
    -h | --help) sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "compare.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
[ -n "$BASE" ] && [ -n "$NEW" ] || { echo "compare.sh: --base DIR and --new DIR are needed (--help)" >&2; exit 2; }
for dir in "$BASE" "$NEW"; do
  for binary in cli/edgeca cli/edgeca-root bench/edgeca-bench; do
    [ -x "$dir/$binary" ] || { echo "compare.sh: no $dir/$binary: build it first" >&2; exit 2; }
  done
done
BASE=$(realpath "$BASE") NEW=$(realpath "$NEW")
cd "$(dirname "$0")/.."
. bench/bench_ca.sh
W=$(mktemp -d "${TMPDIR:-/tmp}/edgeca-compare.XXXXXX")
SERVE_PID=""
cleanup() {
  [ -n "$SERVE_PID" ] && kill -9 "$SERVE_PID" 2>/dev/null || true
  rm -rf "$W"
}
trap cleanup EXIT

field() { python3 -c 'import json, sys; print(round(json.load(open(sys.argv[1]))[sys.argv[2]], 1))' "$1" "$2"; }

echo "| round | build | raw sign, 1 thread | in-process, 1 thread | in-process, 2 threads | HTTPS, $CLIENTS clients | p50 | p99 | load average |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"
for round in $(seq 1 "$ROUNDS"); do
  for label in base new; do
    dir=$BASE
    [ "$label" = new ] && dir=$NEW
    EDGECA=$dir/cli/edgeca EDGECA_ROOT=$dir/cli/edgeca-root BENCH=$dir/bench/edgeca-bench
    r="$W/$label-$round"
    mkdir -p "$r"
    make_bench_ca "$r" 2>>"$W/setup.log" || { cat "$W/setup.log" >&2; exit 1; }
    "$BENCH" sign --backend openssl --threads 1 --seconds "$SECONDS_EACH" >"$r/sign.json"
    "$BENCH" issue --backend openssl --threads 1 --seconds "$SECONDS_EACH" --dir "$r/in-process-1" >"$r/issue-1.json"
    "$BENCH" issue --backend openssl --threads 2 --seconds "$SECONDS_EACH" --dir "$r/in-process-2" >"$r/issue-2.json"
    start_bench_serve "$r" "$r/serve.log" || exit 1
    "$BENCH" load --port "$PORT" --ca "$r/root/root.pem" --cert "$r/admin.pem" --key "$r/admin.key" \
      --body "$r/request.json" --clients "$CLIENTS" --seconds "$SECONDS_EACH" >"$r/load.json"
    kill -TERM "$SERVE_PID"
    wait "$SERVE_PID" 2>/dev/null || true
    SERVE_PID=""
    echo "| $round | $label | $(field "$r/sign.json" per_second)/s | $(field "$r/issue-1.json" per_second)/s |" \
         "$(field "$r/issue-2.json" per_second)/s | $(field "$r/load.json" per_second)/s |" \
         "$(field "$r/load.json" p50_ms) ms | $(field "$r/load.json" p99_ms) ms | $(cut -d' ' -f1 /proc/loadavg) |"
    rm -rf "$r"
  done
done
