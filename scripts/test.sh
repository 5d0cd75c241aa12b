#!/usr/bin/env bash
# Runs every test of edgeca: installs what is missing (Debian packages), builds with warnings
# as errors, runs the doctest unit tests and the integration tests that drive the real
# binaries, and ends with one line "tests: N passed, N failed" counting both.
set -uo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh test
scripts/build.sh || { echo "build failed"; echo "tests: 0 passed, 1 failed"; exit 1; }

passed=0
failed=0
add_counts() {  # reads "P F" and adds them
  passed=$((passed + $1))
  failed=$((failed + $2))
}

echo "== unit tests (doctest)"
unit_log=$(mktemp)
./build/tests/unit-tests --no-intro 2>&1 | tee "$unit_log" | grep -v "^\[doctest\] run with"
summary=$(grep -E '^\[doctest\] test cases:' "$unit_log" | tail -n 1)
if [ -n "$summary" ]; then
  unit_passed=$(sed -E 's/.*\| *([0-9]+) passed.*/\1/' <<<"$summary")
  unit_failed=$(sed -E 's/.*\| *([0-9]+) failed.*/\1/' <<<"$summary")
  add_counts "$unit_passed" "$unit_failed"
else
  echo "unit tests did not report a summary"
  add_counts 0 1
fi
rm -f "$unit_log"

echo "== integration tests (real binaries, real peers)"
integration_counts=$(mktemp)
python3 tests/integration/run.py --build-dir build --counts-file "$integration_counts"
if [ -s "$integration_counts" ]; then
  add_counts $(cat "$integration_counts")
else
  echo "integration tests did not report a summary"
  add_counts 0 1
fi
rm -f "$integration_counts"

echo "tests: ${passed} passed, ${failed} failed"
[ "$failed" -eq 0 ]
