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


def test_ids(suite):
    """Every test id of a suite, in its order."""
    for test in suite:
        if isinstance(test, unittest.TestSuite):
            yield from test_ids(test)
        else:
            yield test.id()


# Classes that take most of a run's time, started first so that the workers finish together.
SLOW_FIRST = ("SeveralNodes", "Migration", "StoreSuiteOnPostgresql", "CrashConsistencyTest",
              "CommandsOnPostgresql", "RotationUnderLoadTest", "Failover", "BarrageTest")


def by_class(ids):
    """The ids grouped by test class (a class's set-up runs once, in one worker), slowest first."""
    classes = {}
    for test_id in ids:
        classes.setdefault(test_id.rsplit(".", 1)[0], []).append(test_id)
    rank = {name: i for i, name in enumerate(SLOW_FIRST)}
    return sorted(classes.values(),
                  key=lambda group: rank.get(group[0].rsplit(".", 2)[1], len(rank)))


def run_ids(ids, stream):
    """Runs the tests named by ids; returns their CountingResult."""
    suite = unittest.TestLoader().loadTestsFromNames(ids)
    runner = unittest.TextTestRunner(stream=stream, verbosity=0, resultclass=CountingResult)
    return runner.run(suite)


def worker(result_fd):
    """A worker of --jobs: reads a JSON list of test ids per line on stdin, runs them, and writes
    one JSON line per list to result_fd: the lines it printed, and which tests ran and failed."""
    import io
    import json
    with os.fdopen(result_fd, "w") as results:
        for line in sys.stdin:
            stream = io.StringIO()
            began = time.monotonic()
            result = run_ids(json.loads(line), stream)
            # The runner's own summary ("Ran 3 tests in 2.1s", "OK") is left out: run.py counts.
            output = stream.getvalue()
            summary = output.rfind("-" * 70 + "\nRan ")
            results.write(json.dumps({"output": output[:summary] if summary >= 0 else output,
                                      "run": result.testsRun,
                                      "failed": sorted(result.failed_ids),
                                      "started": sorted(result.started_ids),
                                      "seconds": time.monotonic() - began}) + "\n")
            results.flush()
    return 0


def run_in_parallel(groups, jobs, build_dir):
    """Runs each group (one test class) in one of `jobs` worker processes, the next group going
    to the first worker free. Each worker takes free ports from blocks of its own
    (harness.free_port), so two workers never pick the same one. Returns (run, failed, started,
    seconds), the last the wall time of each class, set-up included."""
    import json
    import selectors
    import subprocess
    selector = selectors.DefaultSelector()
    workers = []
    for index in range(min(jobs, len(groups))):
        read_end, write_end = os.pipe()
        env = dict(os.environ, EDGECA_TEST_WORKER=f"{index}/{jobs}")
        process = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--build-dir", build_dir,
                                    "--worker-fd", str(write_end)],
                                   stdin=subprocess.PIPE, text=True, env=env, pass_fds=(write_end,))
        os.close(write_end)
        reader = os.fdopen(read_end)
        workers.append((process, reader))
        selector.register(reader, selectors.EVENT_READ, process)
    pending = list(groups)
    given = {}  # the group each worker is running
    run, failed, started, seconds = 0, set(), set(), {}

    def hand_out(process):
        given[process] = pending.pop(0) if pending else None
        try:
            if given[process]:
                process.stdin.write(json.dumps(given[process]) + "\n")
                process.stdin.flush()
            else:
                process.stdin.close()
        except OSError:
            pass  # the worker died: its end of file says so next, and its group counts as lost

    def lost(ids, why):
        for test_id in ids:
            print(f"ERROR {test_id} ({why})")
        failed.update(ids)

    for process, _ in workers:
        hand_out(process)
    busy = len(workers)
    while busy:
        for key, _ in selector.select():
            line = key.fileobj.readline()
            process = key.data
            if not line:  # the worker is gone: the tests it was running count as failed
                selector.unregister(key.fileobj)
                busy -= 1
                code = process.wait(timeout=60)
                if given.get(process) or code != 0:
                    lost(given.get(process) or [f"worker {process.pid}"], f"its test worker exited {code}")
                continue
            try:
                answer = json.loads(line)
            except ValueError:  # cut short: the worker died while answering; its end of file follows
                continue
            sys.stdout.write(answer["output"])
            sys.stdout.flush()
            run += answer["run"]
            failed |= set(answer["failed"])
            started |= set(answer["started"])
            seconds[given[process][0].rsplit(".", 1)[0]] = answer["seconds"]
            hand_out(process)
    for process, reader in workers:
        process.wait(timeout=60)
        reader.close()
    for group in pending:  # every worker died before these were handed out
        lost(group, "no test worker was left to run it")
    return run, failed, started, seconds


def print_slowest(seconds, count=8):
    """The classes that took longest, to see where a run's time goes (SLOW_FIRST orders them)."""
    slowest = sorted(seconds.items(), key=lambda item: -item[1])[:count]
    print(f"slowest classes ({sum(seconds.values()):.0f} s in all classes): "
          + ", ".join(f"{name.rsplit('.', 1)[1]} {s:.0f} s" for name, s in slowest))


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--build-dir", default="build")
    parser.add_argument("--counts-file", help="write 'passed failed' here")
    parser.add_argument("-k", dest="pattern", action="append", help="only tests matching this")
    parser.add_argument("--exclude", action="append", default=[],
                        help="leave out the tests whose id holds this (a pass that runs them elsewhere)")
    parser.add_argument("--jobs", type=int, default=1,
                        help="run test classes in this many worker processes at once (default 1)")
    parser.add_argument("--worker-fd", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()

    here = os.path.dirname(os.path.abspath(__file__))
    os.environ["EDGECA_BUILD_DIR"] = os.path.abspath(args.build_dir)
    sys.path.insert(0, here)
    if args.worker_fd is not None:
        return worker(args.worker_fd)
    loader = unittest.TestLoader()
    if args.pattern:
        loader.testNamePatterns = [f"*{p}*" for p in args.pattern]
    suite = loader.discover(here, pattern="test_*.py", top_level_dir=here)
    if args.exclude:
        suite = without(suite, args.exclude)
    if args.jobs > 1:
        run, failed_ids, started_ids, seconds = run_in_parallel(by_class(test_ids(suite)), args.jobs,
                                                                args.build_dir)
        print_slowest(seconds)
    else:
        runner = unittest.TextTestRunner(stream=sys.stdout, verbosity=0, resultclass=CountingResult)
        result = runner.run(suite)
        run, failed_ids, started_ids = result.testsRun, result.failed_ids, result.started_ids
    # A test counts once: failed when it, or any of its subtests, failed or errored. A class or
    # module whose set-up failed counts as one failure (its tests never started).
    failed = len(failed_ids)
    passed = run - len(failed_ids & started_ids)
    print(f"integration: {passed} passed, {failed} failed")
    if args.counts_file:
        with open(args.counts_file, "w") as f:
            f.write(f"{passed} {failed}\n")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
