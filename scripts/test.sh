#!/usr/bin/env bash
# Runs every test of edgeca: installs what is missing (Debian packages), builds with warnings
# as errors, and runs, in this order:
#   1. the doctest unit tests and the integration tests that drive the real binaries (build/, g++);
#   2. the same whole suite again under AddressSanitizer + UndefinedBehaviorSanitizer
#      (build-asan/, clang), where any sanitizer report fails the run;
#   3. every libFuzzer target briefly, over its seed corpus and its named regression inputs
#      (the same build-asan/);
#   4. the unit tests and the concurrency integration tests under ThreadSanitizer (build-tsan/).
# Each stage prints its own count; the last line, alone, is "tests: N passed, N failed" over all
# of them, and the exit status is non-zero if anything failed.
#
# The sanitizer builds run in the background at the lowest CPU priority while the stage before
# them tests (build-asan/ during stage 1, build-tsan/ during stages 2 and 3): the integration
# tests leave much of the CPU idle, waiting on processes, sockets and fsync. The integration
# tests run their test classes in EDGECA_TEST_JOBS worker processes (default 2).
#
# Environment: EDGECA_FUZZ_SECONDS (default 15) is each fuzz target's time;
# EDGECA_TEST_STAGES (default "main asan fuzz tsan") picks stages, e.g. "main" for a quick run;
# EDGECA_TEST_JOBS (default 2) is the integration tests' worker processes.
#
# The sanitizer builds keep line tables only (-gline-tables-only after meson's -g): a report's
# stack still names each function, file and line, inlined frames included, and each object
# compiles in about an eighth less time (one of the larger files: 24.3 s with -g, 21.1 s).
set -uo pipefail
cd "$(dirname "$0")/.."

stages="${EDGECA_TEST_STAGES:-main asan fuzz tsan}"
fuzz_seconds="${EDGECA_FUZZ_SECONDS:-15}"
jobs="${EDGECA_TEST_JOBS:-2}"
# The integration tests run under the thread sanitizer: those where requests, revocations and
# CRL publishing race each other inside one `edgeca serve`.
tsan_patterns=(eight_clients sigterm burst within_the_configured_delay BarrageTest SlowClientsTest IdleConnectionsTest
               in_tokens_issue token_that_goes_away)

passed=0
failed=0
add_counts() {  # "P F": adds them
  passed=$((passed + $1))
  failed=$((failed + $2))
}
stage() { echo; echo "== $* (at ${SECONDS} s)"; }
wants() { [[ " $stages " == *" $1 "* ]]; }

scripts/install-deps.sh test

# The doctest binary of BUILD; adds its counts.
run_unit_tests() {
  local build="$1" log
  log=$(mktemp)
  "$build/tests/unit-tests" --no-intro 2>&1 | tee "$log" | grep -v "^\[doctest\] run with"
  local summary
  summary=$(grep -E '^\[doctest\] test cases:' "$log" | tail -n 1)
  if [ -n "$summary" ]; then
    add_counts "$(sed -E 's/.*\| *([0-9]+) passed.*/\1/' <<<"$summary")" \
               "$(sed -E 's/.*\| *([0-9]+) failed.*/\1/' <<<"$summary")"
  else
    echo "unit tests of $build did not report a summary"
    add_counts 0 1
  fi
  rm -f "$log"
}

# The integration tests against the binaries of BUILD, optionally only those matching -k
# patterns; adds their counts.
run_integration_tests() {
  local build="$1" counts
  shift
  counts=$(mktemp)
  python3 tests/integration/run.py --build-dir "$build" --jobs "$jobs" --counts-file "$counts" "$@"
  if [ -s "$counts" ]; then
    add_counts $(cat "$counts")
  else
    echo "integration tests against $build did not report a summary"
    add_counts 0 1
  fi
  rm -f "$counts"
}

# Sanitizer reports are written to files (log_path) rather than stderr, so that they are found
# whichever process made them (a service under test, a CLI subcommand, a unit test) and whatever
# the test did with its output. Each report counts as one failure.
sanitizer_reports=$(mktemp -d "${TMPDIR:-/tmp}/edgeca-sanitizer-reports.XXXXXX")
count_sanitizer_reports() {
  local label="$1" reports
  reports=$(find "$sanitizer_reports" -type f | sort)
  if [ -z "$reports" ]; then
    echo "$label: 0 sanitizer reports"
    return
  fi
  local n
  n=$(wc -l <<<"$reports")
  echo "$label: $n sanitizer reports:"
  while read -r report; do
    echo "--- $report"
    head -n 40 "$report"
  done <<<"$reports"
  add_counts 0 "$n"
  mkdir -p "$sanitizer_reports.kept" && mv "$sanitizer_reports"/* "$sanitizer_reports.kept"/
  echo "$label: reports kept in $sanitizer_reports.kept"
}

# A build started in the background at the lowest priority, its output kept: DIR TARGET...
# Sets background_pid; finish_background_build collects it.
background_log=$(mktemp)
background_pid=""
trap 'if [ -n "$background_pid" ]; then kill "$background_pid" 2>/dev/null; fi' EXIT
start_background_build() {
  local dir="$1"
  shift
  echo "(building $dir in the background, at the lowest priority)"
  nice -n 19 ninja -C "$dir" "$@" >"$background_log" 2>&1 &
  background_pid=$!
}
# Waits for the background build of DIR; on failure shows its output and builds again in the
# foreground, so that the errors are the last thing printed. Returns ninja's status.
finish_background_build() {
  local dir="$1"
  shift
  local status=0
  wait "$background_pid" || status=$?
  background_pid=""
  if [ "$status" -eq 0 ]; then
    echo "($dir built, at ${SECONDS} s)"
    return 0
  fi
  cat "$background_log"
  ninja -C "$dir" "$@"
}
tsan_targets=(cli/edgeca cli/edgeca-root tests/unit-tests tests/tools/botan-verify tests/tools/pkcs11-export-attempt)
setup_tsan_build() {
  if [ ! -f build-tsan/build.ninja ]; then
    CC=clang CXX=clang++ meson setup build-tsan -Db_sanitize=thread -Dwerror=true --buildtype=debugoptimized \
      -Dcpp_args=-gline-tables-only >/dev/null
  fi
}

if wants asan || wants fuzz; then
  if [ ! -f build-asan/build.ninja ]; then
    CC=clang CXX=clang++ meson setup build-asan -Dfuzzing=true -Dwerror=true --buildtype=debugoptimized \
      -Dcpp_args=-gline-tables-only >/dev/null
  fi
  start_background_build build-asan
elif wants tsan; then
  setup_tsan_build && start_background_build build-tsan "${tsan_targets[@]}"
fi

if wants main; then
  stage "build (g++, -Werror)"
  if scripts/build.sh; then
    stage "unit tests (doctest)"
    run_unit_tests build
    stage "integration tests (real binaries, real peers)"
    run_integration_tests build
  else
    echo "build failed"
    add_counts 0 1
  fi
fi

if wants asan || wants fuzz; then
  stage "build with AddressSanitizer + UndefinedBehaviorSanitizer + fuzzing (clang, build-asan/)"
  if finish_background_build build-asan; then
    asan_built=yes
  else
    echo "the sanitizer build failed"
    add_counts 0 1
    asan_built=no
  fi
  if wants tsan; then
    setup_tsan_build && start_background_build build-tsan "${tsan_targets[@]}"
  fi
fi

if wants asan && [ "$asan_built" = yes ]; then
  export ASAN_OPTIONS="log_path=$sanitizer_reports/asan:detect_leaks=1:abort_on_error=1:detect_stack_use_after_return=1:strict_string_checks=1"
  export UBSAN_OPTIONS="log_path=$sanitizer_reports/ubsan:print_stacktrace=1:halt_on_error=1"
  stage "unit tests under ASan + UBSan"
  run_unit_tests build-asan
  stage "integration tests under ASan + UBSan"
  # The PostgreSQL fleet tests (three nodes under SIGKILL, 100,000 rows migrated) spend their
  # time in PostgreSQL and Python; they ran in the main stage. The store suite on PostgreSQL,
  # every command on it and the failover run here too.
  run_integration_tests build-asan --exclude SeveralNodes --exclude Migration
  count_sanitizer_reports "asan+ubsan"
  unset ASAN_OPTIONS UBSAN_OPTIONS
fi

if wants fuzz && [ "$asan_built" = yes ]; then
  stage "fuzzing: every target for ${fuzz_seconds} s, after its regression inputs"
  fuzz_log=$(mktemp)
  tests/fuzz/run.sh build-asan "$fuzz_seconds" | tee "$fuzz_log"
  fuzz_summary=$(grep -E '^fuzz: [0-9]+ passed, [0-9]+ failed' "$fuzz_log" | tail -n 1)
  if [ -n "$fuzz_summary" ]; then
    add_counts $(sed -E 's/^fuzz: ([0-9]+) passed, ([0-9]+) failed.*/\1 \2/' <<<"$fuzz_summary")
    awk '/^fuzz_[a-z_]+: [0-9]+ executions/ { n += $2 } END { print "fuzz: " n + 0 " executions in all" }' "$fuzz_log"
  else
    add_counts 0 1
  fi
  rm -f "$fuzz_log"
fi

if wants tsan; then
  stage "build with ThreadSanitizer (clang, build-tsan/)"
  if finish_background_build build-tsan "${tsan_targets[@]}"; then
    export TSAN_OPTIONS="log_path=$sanitizer_reports/tsan:halt_on_error=0:second_deadlock_stack=1:suppressions=$PWD/tests/tsan.supp"
    export BOTAN_MLOCK_POOL_SIZE=0  # tests/tsan.supp says why
    stage "unit tests under TSan"
    run_unit_tests build-tsan
    stage "concurrency integration tests under TSan"
    ks=()
    for p in "${tsan_patterns[@]}"; do ks+=(-k "$p"); done
    run_integration_tests build-tsan "${ks[@]}"
    count_sanitizer_reports "tsan"
    unset TSAN_OPTIONS BOTAN_MLOCK_POOL_SIZE
  else
    echo "the thread-sanitizer build failed"
    add_counts 0 1
  fi
fi

rmdir "$sanitizer_reports" 2>/dev/null
rm -f "$background_log"
echo
echo "(${SECONDS} s in all)"
echo "tests: ${passed} passed, ${failed} failed"
[ "$failed" -eq 0 ]
