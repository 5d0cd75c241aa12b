#!/usr/bin/env python3
"""Runs the integration tests: each drives the real binaries and checks their output with real
peers (openssl, certtool, curl, mosquitto). Prints one line per test and a count."""
import argparse
import os
import sys
import time
import unittest


class CountingResult(unittest.TextTestResult):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.failed_ids = set()
        self.started_ids = set()

    def startTest(self, test):
        self._started = time.monotonic()
        self.started_ids.add(test.id())
        super().startTest(test)

    def _line(self, verdict, test):
        elapsed = time.monotonic() - getattr(self, "_started", time.monotonic())
        self.stream.write(f"{verdict:<5} {test.id()} ({elapsed:.1f}s)\n")
        self.stream.flush()

    def addSuccess(self, test):
        unittest.TestResult.addSuccess(self, test)
        self._line("FAIL" if test.id() in self.failed_ids else "ok", test)

    def addFailure(self, test, err):
        unittest.TestResult.addFailure(self, test, err)
        self.failed_ids.add(test.id())
        self._line("FAIL", test)

    def addError(self, test, err):
        unittest.TestResult.addError(self, test, err)
        self.failed_ids.add(test.id())
        self._line("ERROR", test)

    def addSubTest(self, test, subtest, err):
        # A failing subtest fails its test, once: the test's own line says FAIL.
        super().addSubTest(test, subtest, err)
        if err is not None:
            self.failed_ids.add(test.id())
            self.stream.write(f"FAIL  {subtest.id()}\n")

    def addSkip(self, test, reason):
        # A skipped test proves nothing: it counts as a failure.
        unittest.TestResult.addFailure(self, test, (AssertionError, AssertionError(f"skipped: {reason}"), None))
        self.failed_ids.add(test.id())
        self._line("SKIP", test)


def without(suite, excluded):
    """The suite less the tests whose id holds one of `excluded`."""
    kept = unittest.TestSuite()
    for test in suite:
        if isinstance(test, unittest.TestSuite):
            kept.addTest(without(test, excluded))
        elif not any(e in test.id() for e in excluded):
            kept.addTest(test)
    return kept


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--build-dir", default="build")
    parser.add_argument("--counts-file", help="write 'passed failed' here")
    parser.add_argument("-k", dest="pattern", action="append", help="only tests matching this")
    parser.add_argument("--exclude", action="append", default=[],
                        help="leave out the tests whose id holds this (a pass that runs them elsewhere)")
    args = parser.parse_args()

    here = os.path.dirname(os.path.abspath(__file__))
    os.environ["EDGECA_BUILD_DIR"] = os.path.abspath(args.build_dir)
    sys.path.insert(0, here)
    loader = unittest.TestLoader()
    if args.pattern:
        loader.testNamePatterns = [f"*{p}*" for p in args.pattern]
    suite = loader.discover(here, pattern="test_*.py", top_level_dir=here)
    if args.exclude:
        suite = without(suite, args.exclude)
    runner = unittest.TextTestRunner(stream=sys.stdout, verbosity=0, resultclass=CountingResult)
    result = runner.run(suite)
    # A test counts once: failed when it, or any of its subtests, failed or errored. A class or
    # module whose set-up failed counts as one failure (its tests never started).
    failed = len(result.failed_ids)
    passed = result.testsRun - len(result.failed_ids & result.started_ids)
    print(f"integration: {passed} passed, {failed} failed")
    if args.counts_file:
        with open(args.counts_file, "w") as f:
            f.write(f"{passed} {failed}\n")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
