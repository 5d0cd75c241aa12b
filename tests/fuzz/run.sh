#!/usr/bin/env bash
# tests/fuzz/run.sh BUILD_DIR SECONDS_PER_TARGET — runs every libFuzzer target of tests/fuzz:
# first each file of regressions/<target>/ once, then the target over a temporary copy of its
# seed corpus (corpus/<target>/, plus regressions/ as seeds) for SECONDS_PER_TARGET. Prints one
# line per target and ends with "fuzz: N passed, M failed"; exits non-zero on any failure.
#
# BUILD_DIR is configured when it does not exist yet:
#   CC=clang CXX=clang++ meson setup BUILD_DIR -Dfuzzing=true -Dbuildtype=debugoptimized
# and the fuzz targets are (re)built with ninja before they run. The repository is never written:
# new corpus entries and crash files stay in a temporary directory (kept, and named in the
# output, when something failed). FUZZ_PARALLEL (default: the number of CPUs) targets run at once.
set -uo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
targets=(fuzz_csr fuzz_json_bodies fuzz_distinguished_name fuzz_config fuzz_enos_auth fuzz_readback fuzz_serial)

if [ $# -ne 2 ] || ! [[ "$2" =~ ^[0-9]+$ ]]; then
  echo "usage: $0 BUILD_DIR SECONDS_PER_TARGET" >&2
  exit 2
fi
build="$1"
seconds="$2"
case "$build" in /*) ;; *) build="$PWD/$build" ;; esac

build_failed() {
  echo "fuzz: the fuzz targets could not be built ($1)"
  echo "fuzz: 0 passed, ${#targets[@]} failed"
  exit 1
}

if [ ! -f "$build/build.ninja" ]; then
  (cd "$root" && CC=clang CXX=clang++ meson setup "$build" -Dfuzzing=true -Dbuildtype=debugoptimized >/dev/null) ||
    build_failed "meson setup $build -Dfuzzing=true"
fi
ninja_targets=()
for t in "${targets[@]}"; do ninja_targets+=("tests/fuzz/$t"); done
ninja -C "$build" "${ninja_targets[@]}" >/dev/null || ninja -C "$build" "${ninja_targets[@]}" || build_failed "ninja -C $build"

work="$(mktemp -d "${TMPDIR:-/tmp}/edgeca-fuzz-run.XXXXXX")"
export ASAN_OPTIONS="${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1:allocator_may_return_null=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"

# Runs one target; leaves "<status> <executions> <seconds>" in $work/<target>.result and the
# libFuzzer output in $work/<target>.log. status: ok, crash (in fuzzing) or regression.
run_target() {
  local t="$1" dir="$work/$1" bin="$build/tests/fuzz/$1"
  mkdir -p "$dir/corpus" "$dir/artifacts"
  local -a options=(-timeout=10 -rss_limit_mb=2048 -artifact_prefix="$dir/artifacts/")
  [ -f "$here/$t.dict" ] && options+=(-dict="$here/$t.dict")

  # Every named regression input, once.
  local -a regressions=()
  if [ -d "$here/regressions/$t" ]; then
    while IFS= read -r -d '' f; do regressions+=("$f"); done \
      < <(find "$here/regressions/$t" -type f ! -name 'README*' -print0 | sort -z)
  fi
  if [ "${#regressions[@]}" -gt 0 ]; then
    if ! "$bin" "${options[@]}" "${regressions[@]}" >"$dir/regressions.log" 2>&1; then
      cp "$dir/regressions.log" "$work/$t.log"
      echo "regression 0 0" >"$work/$t.result"
      return
    fi
  fi

  # Then fuzzing, from a copy of the seeds.
  cp -r "$here/corpus/$t/." "$dir/corpus/" 2>/dev/null
  local start=$SECONDS status=ok
  "$bin" "${options[@]}" -max_total_time="$seconds" -print_final_stats=1 \
    "$dir/corpus" ${regressions[@]+"$here/regressions/$t"} >"$work/$t.log" 2>&1 || status=crash
  local executions
  executions=$(sed -nE 's/^stat::number_of_executed_units: *([0-9]+).*/\1/p' "$work/$t.log" | tail -n 1)
  echo "$status ${executions:-0} $((SECONDS - start))" >"$work/$t.result"
}

parallel="${FUZZ_PARALLEL:-$(nproc 2>/dev/null || echo 1)}"
for t in "${targets[@]}"; do
  while [ "$(jobs -rp | wc -l)" -ge "$parallel" ]; do wait -n; done
  run_target "$t" &
done
wait

passed=0
failed=0
for t in "${targets[@]}"; do
  read -r status executions elapsed <"$work/$t.result" || { status=crash executions=0 elapsed=0; }
  artifacts=$(find "$work/$t/artifacts" -type f 2>/dev/null | wc -l)
  case "$status" in
    ok)
      echo "$t: $executions executions in $elapsed s, 0 crashes"
      passed=$((passed + 1))
      ;;
    regression)
      echo "$t: a regression input fails (tests/fuzz/regressions/$t/), 1 crash"
      failed=$((failed + 1))
      ;;
    *)
      echo "$t: $executions executions in $elapsed s, $((artifacts > 0 ? artifacts : 1)) crashes"
      failed=$((failed + 1))
      ;;
  esac
  if [ "$status" != ok ]; then
    # What libFuzzer said about the failure: the finding, the sanitizer report and the stack.
    # Frames of the project's code only; the whole report stays in the kept log.
    grep -E 'FUZZ FINDING|ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error:|terminate called|what\(\):|^SUMMARY|Running: |Test unit written|^Base64|#[0-9]+ .* (edgeca::|LLVMFuzzerTestOneInput|\(anonymous namespace\))' \
      "$work/$t.log" | head -n 30 | sed -E 's/ \(BuildId: [0-9a-f]+\)//; s/^/    /'
    for a in "$work/$t/artifacts"/*; do [ -f "$a" ] && echo "    input kept: $a"; done
  fi
done

echo "fuzz: ${passed} passed, ${failed} failed"
if [ "$failed" -eq 0 ]; then
  rm -rf "$work"
else
  echo "fuzz: logs and inputs kept in $work (docs/fuzzing.md: minimise and add to regressions/)"
fi
[ "$failed" -eq 0 ]
