"""Crash and fault consistency of the issuing service (DESIGN.md invariants 6, 7, 9, 10):

- CrashConsistencyTest: several hubs issue and revoke against `edgeca serve` while it is killed
  with SIGKILL at random moments (seeded; set EDGECA_CRASH_SEED to replay a run) and restarted;
  nothing a client was answered 201/200 for is lost, no serial is used twice, CRL numbers only
  grow, the audit chain verifies and SQLite's integrity check passes.
- StoreFaultTest: a store that cannot be written (file-size limit, full tmpfs) gives 503
  `store_unavailable` and a `store_error` log line, returns nothing unrecorded, and recovers
  without a restart once writable. A file system cannot be made read-only under a running
  service (Linux refuses with EBUSY while files are open for writing), so read-only is tested at
  start-up only.
- BarrageTest: bad callers (no certificate, wrong role, another hub, a foreign CA, spent token,
  replayed EnOS signature, 1 MiB bodies) each get their error while a legitimate hub keeps
  being served at a bounded latency.
"""
import hashlib
import json
import multiprocessing
import os
import random
import re
import shlex
import shutil
import signal
import ssl
import sys
import threading
import time
import unittest

from crash_support import (SUPERSEDED, TRANSPORT_ERRORS, Caller, Serve, StoreView, audit_verify, crl_number,
                           error_code, fill_file_system, listen_overflows, pem_to_der, percentile, store_file_sizes,
                           user_namespaces_work)
from enos_client import EnosClient
from harness import IssuingCA, SERVICE_CONFIG, TempDirTestCase, openssl

CRASH_CONFIG = SERVICE_CONFIG + """
[crl]
publish_delay = "0s"
"""


def say(line):
    """Figures for the person reading the test output (run.py prints one line per test)."""
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


# --- (a) SIGKILL at random moments ------------------------------------------------------------

class CrashClient:
    """One hub with its own devices (one key each), issuing and revoking (reason superseded).
    It remembers what it was answered: a 201 is a certificate received, a 200 a revocation
    done. A request cut by a kill is retried after the restart: an issuance with the same
    Idempotency-Key (so a certificate committed before the kill is handed out then, not issued
    twice), a revocation as such (200 now, or 409 already_revoked if it had been committed)."""

    def __init__(self, index, ca, hub, devices, seed):
        self.index = index
        self.caller = Caller(ca, *hub, timeout=15)
        self.principal = ca.principals[hub[0]]  # the CA assigns it at enrolment
        self.devices = devices  # [(device_key, request body)]
        self.rng = random.Random(seed)
        self.received = {}  # serial -> (der, device_key, idempotency key)
        self.idempotency = {}  # idempotency key -> serial
        self.revoked = set()  # answered 200 (or 409 already_revoked on a retry of a cut revocation)
        self.valid = []  # received, never asked to be revoked
        self.pending_issue = None  # (idempotency key, body) of a cut issuance
        self.pending_revokes = set()  # cut revocations
        self.counter = 0
        self.cut_issues = self.cut_revokes = self.replayed = self.confirmed_on_retry = 0
        self.unexpected = []

    def next_action(self):
        if self.pending_revokes:
            return "revoke", sorted(self.pending_revokes)[0]
        if self.pending_issue is not None:
            return "issue", self.pending_issue
        if self.valid and self.rng.random() < 0.35:
            serial = self.valid.pop(self.rng.randrange(len(self.valid)))
            return "revoke", serial
        self.counter += 1
        device_key, body = self.devices[self.rng.randrange(len(self.devices))]
        return "issue", (f"crash-{self.index}-{self.counter}", body)

    def run_round(self, round_no, stop, killed):
        while not stop.is_set():
            kind, what = self.next_action()
            try:
                if kind == "issue":
                    self.issue(round_no, *what)
                else:
                    self.revoke(round_no, what)
            except TRANSPORT_ERRORS as e:
                if kind == "issue":
                    self.pending_issue = what
                    self.cut_issues += 1
                else:
                    self.pending_revokes.add(what)
                    self.cut_revokes += 1
                if not killed.is_set():
                    self.unexpected.append(f"round {round_no}: {kind} failed before the kill: {e!r}")
                return
            except Exception as e:  # noqa: BLE001 - reported, not swallowed
                self.unexpected.append(f"round {round_no}: {kind} {what!r:.80}: {e!r}")
                return

    def issue(self, round_no, key, body):
        status, headers, payload = self.caller.request("POST", "/v1/certificates", body,
                                                       headers={"Idempotency-Key": key})
        self.pending_issue = None
        if status != 201:
            self.unexpected.append(f"round {round_no}: issuance {key} answered {status} {payload}")
            return
        serial = payload["serial"]
        if serial in self.received:
            self.unexpected.append(f"round {round_no}: serial {serial} received twice")
            return
        if headers.get("idempotent-replayed") == "true":
            self.replayed += 1
        self.received[serial] = (pem_to_der(payload["certificate"]), body["device_key"], key)
        self.idempotency[key] = serial
        self.valid.append(serial)

    def revoke(self, round_no, serial):
        retry = serial in self.pending_revokes
        status, _, payload = self.caller.request("POST", f"/v1/certificates/{serial}/revoke", {"reason": "superseded"})
        self.pending_revokes.discard(serial)
        if status == 200 and payload.get("status") == "revoked":
            self.revoked.add(serial)
        elif retry and status == 409 and error_code(payload) == "already_revoked":
            self.revoked.add(serial)  # committed before the kill cut the answer
            self.confirmed_on_retry += 1
        else:
            self.unexpected.append(f"round {round_no}: revocation of {serial} (retry={retry}) answered {status} {payload}")


class CrlWatcher:
    """Fetches the served CRL (DER, public listener) every ~50 ms: keeps its numbers in the order
    seen, and the SHA-256 of each number's content (one number, one CRL)."""

    def __init__(self, ca):
        self.ca = ca
        self.numbers = []  # (round, number), in the order seen
        self.contents = {}  # number -> sha256 of the DER
        self.unexpected = []

    def fetch(self, round_no):
        status, headers, der = self.ca.request("GET", "/crl", tls=False)
        if status != 200:
            raise AssertionError(f"GET /crl answered {status}")
        number = crl_number(der)
        digest = hashlib.sha256(der).hexdigest()
        if self.contents.setdefault(number, digest) != digest:
            self.unexpected.append(f"round {round_no}: CRL number {number} was served with two different contents")
        return number

    def run_round(self, round_no, stop, killed):
        while not stop.is_set():
            try:
                self.numbers.append((round_no, self.fetch(round_no)))
            except TRANSPORT_ERRORS as e:
                if not killed.is_set():
                    self.unexpected.append(f"round {round_no}: GET /crl failed before the kill: {e!r}")
                return
            except Exception as e:  # noqa: BLE001 - reported, not swallowed
                self.unexpected.append(f"round {round_no}: GET /crl: {e!r}")
                return
            stop.wait(0.05)


class CrashConsistencyTest(TempDirTestCase):
    CLIENTS = 4
    DEVICES_PER_CLIENT = 2
    LOADED_KILLS = 22  # kills while clients issue and revoke
    STARTUP_KILLS = 3  # kills while the service starts (recovery, first CRL, TLS certificate)

    def test_sigkill_at_random_moments_loses_nothing_that_was_answered(self):
        started = time.monotonic()
        seed = int(os.environ.get("EDGECA_CRASH_SEED", str(time.time_ns() % 2 ** 32)))
        say(f"crash: seed {seed} (EDGECA_CRASH_SEED={seed} replays the kill schedule)")
        rng = random.Random(seed)
        ca = IssuingCA(self, config=CRASH_CONFIG)
        ca.start()
        ca.add_product("P1")
        clients = []
        for index in range(self.CLIENTS):
            hub = ca.enroll(f"crash-hub-{index}")
            devices = []
            for d in range(self.DEVICES_PER_CLIENT):
                device_key = f"SN-C{index}-{d}"
                status, _, body = ca.request("POST", "/v1/devices", {"product_key": "P1", "device_key": device_key},
                                             cert=hub[0], key=hub[1])
                self.assertEqual(status, 201, body)
                _, csr = self.make_key_and_csr(f"edge-{device_key}", f"/CN={device_key}")
                devices.append((device_key, {"csr": open(csr).read(), "profile": "edge", "product_key": "P1",
                                             "device_key": device_key}))
            clients.append(CrashClient(index, ca, hub, devices, rng.randrange(2 ** 32)))
        watcher = CrlWatcher(ca)
        store = StoreView(ca.dir)

        # Some restarts are themselves killed while the service starts (recovery, CRL, TLS).
        startup_kills = set(rng.sample(range(self.LOADED_KILLS), self.STARTUP_KILLS))
        delays = []
        served_after_restart = []
        startup_before_listening = 0
        for round_no in range(self.LOADED_KILLS):
            stop, killed = threading.Event(), threading.Event()
            threads = [threading.Thread(target=c.run_round, args=(round_no, stop, killed), daemon=True)
                       for c in clients]
            threads.append(threading.Thread(target=watcher.run_round, args=(round_no, stop, killed), daemon=True))
            for t in threads:
                t.start()
            delay = rng.uniform(0.02, 1.2)
            time.sleep(delay)
            delays.append(round(delay, 3))
            killed.set()
            self.kill(ca)
            stop.set()
            for t in threads:
                t.join(timeout=30)
                self.assertFalse(t.is_alive(), f"round {round_no}: a client did not stop within 30 s")
            if round_no in startup_kills:
                listening = self.count_events(ca, "listening")
                ca.start(expect_ready=False)
                delay = rng.uniform(0.0, 0.4)
                time.sleep(delay)
                self.kill(ca)
                early = self.count_events(ca, "listening") == listening
                startup_before_listening += early
                delays.append(f"start+{delay:.3f}{' (before listening)' if early else ''}")
            ca.start()
            served_after_restart.append(self.check_after_restart(ca, store, clients, watcher, round_no))

        # After the last restart every cut request is settled, then the service stops cleanly.
        final = self.LOADED_KILLS
        for client in clients:
            for _ in range(10):
                if not client.pending_issue and not client.pending_revokes:
                    break
                kind, what = client.next_action()
                if kind == "issue":
                    client.issue(final, *what)
                else:
                    client.revoke(final, what)
            self.assertFalse(client.pending_issue or client.pending_revokes, "cut requests were not settled")
        self.check_after_restart(ca, store, clients, watcher, final)
        revoked = set().union(*(c.revoked for c in clients))
        final_crl = self.wait_for_crl_listing(ca, revoked, 15)
        self.assertEqual(ca.stop(), 0, "edgeca serve did not stop cleanly after the last restart")

        # After a clean stop: the whole store once more.
        self.check_store(store, clients, "after the final clean stop", strict=True)
        self.assertEqual(store.integrity(), ["ok"])
        numbers = [n for n, _ in store.crls()]
        self.assertEqual(numbers, sorted(set(numbers)), "CRL numbers in the store repeat or go back")
        updates = [u for _, u in store.crls()]
        self.assertEqual(updates, sorted(updates), "a newer CRL number has an older thisUpdate")
        # Every CRL served is the one the store recorded under its number (where still kept whole).
        kept = {n: hashlib.sha256(der).hexdigest() for n, der in store.query("SELECT number, der FROM crls "
                                                                               "WHERE der IS NOT NULL")}
        differing = [n for n, digest in watcher.contents.items() if n in kept and kept[n] != digest]
        self.assertEqual(differing, [], "CRLs served under a number differ from the store's CRL of that number")
        audit = audit_verify(ca)
        self.assertExit(audit, 0, "audit chain intact")
        # The CRL file on disk is the newest of the store, and it verifies under the issuing CA.
        disk = open(os.path.join(ca.dir, "crl", "crl.pem"), "rb").read()
        self.assertEqual(crl_number(pem_to_der(disk)), max(numbers))
        openssl("crl", "-in", os.path.join(ca.dir, "crl", "crl.pem"), "-noout", "-CAfile", ca.chain_pem)
        self.assertGreaterEqual(crl_number(pem_to_der(final_crl)), max(n for _, n in watcher.numbers))

        seen = [n for _, n in watcher.numbers]
        received = sum(len(c.received) for c in clients)
        say(f"crash: {len(delays)} kills survived ({self.LOADED_KILLS} under load, {self.STARTUP_KILLS} during "
            f"start-up, {startup_before_listening} of them before it listened), {self.CLIENTS} clients, {received} certificates received, {len(revoked)} revocations, "
            f"{sum(c.cut_issues for c in clients)} issuances and {sum(c.cut_revokes for c in clients)} revocations "
            f"cut by a kill ({sum(c.replayed for c in clients)} cut issuances turned out committed and were handed "
            f"out on retry, {sum(c.confirmed_on_retry for c in clients)} cut revocations had been committed), "
            f"CRL numbers seen {len(set(seen))} distinct from {min(seen)} to {max(seen)} "
            f"(store: {len(numbers)} CRLs, 1..{max(numbers)}), served after each restart {served_after_restart}, "
            f"seed {seed}, {time.monotonic() - started:.1f}s")
        say(f"crash: kill delays {delays}")

    @staticmethod
    def count_events(ca, name):
        return sum(1 for e in ca.events() if e.get("event") == name)

    def kill(self, ca):
        ca.process.send_signal(signal.SIGKILL)
        ca.process.wait(timeout=30)
        ca.log.close()

    def check_after_restart(self, ca, store, clients, watcher, round_no):
        """The service is back: what was answered is in the store, the CRL did not go back."""
        problems = [p for c in clients for p in c.unexpected] + watcher.unexpected
        self.assertEqual(problems, [], f"round {round_no}: unexpected answers")
        served = watcher.fetch(round_no)
        before = max((n for _, n in watcher.numbers), default=0)
        self.assertGreaterEqual(served, before, f"round {round_no}: the served CRL number went back after a restart")
        watcher.numbers.append((round_no, served))
        self.check_store(store, clients, f"after restart {round_no}")
        self.assertEqual(store.integrity(), ["ok"], f"round {round_no}")
        audit = audit_verify(ca)
        self.assertEqual(audit.returncode, 0, f"round {round_no}: {audit.stdout[-1500:]}{audit.stderr}")
        self.assertIn("audit chain intact", audit.stdout)
        seen = [n for _, n in watcher.numbers]
        self.assertEqual(seen, sorted(seen), f"round {round_no}: a served CRL number went back: {watcher.numbers}")
        return served

    def check_store(self, store, clients, when, strict=False):
        stored = store.certificates()
        self.assertEqual(store.duplicate_serials(), [], f"{when}: a serial appears twice")
        issued_ok = store.audit("issue")
        revoked_ok = store.audit("revoke")
        idempotency = store.idempotency()
        all_received = set()
        for client in clients:
            for serial, (der, device_key, key) in client.received.items():
                self.assertNotIn(serial, all_received, f"{when}: serial {serial} was given to two clients")
                all_received.add(serial)
                self.assertIn(serial, stored, f"{when}: certificate {serial} was returned (201) but is not in the store")
                row_der, revoked_at, reason, requester, profile = stored[serial]
                self.assertEqual(bytes(row_der), der, f"{when}: the stored certificate {serial} is not the one returned")
                self.assertEqual((requester, profile), (client.principal, "edge"))
                self.assertIn(serial, issued_ok, f"{when}: no audit entry for the issuance of {serial}")
                self.assertEqual(idempotency.get((client.principal, key)), serial,
                                 f"{when}: the Idempotency-Key {key} does not lead to {serial}")
                if serial in client.revoked:
                    self.assertIsNotNone(revoked_at, f"{when}: revocation of {serial} was answered 200 but is lost")
                    self.assertEqual(reason, SUPERSEDED, f"{when}: {serial}")
                    self.assertIn(serial, revoked_ok, f"{when}: no audit entry for the revocation of {serial}")
                elif serial not in client.pending_revokes:
                    self.assertIsNone(revoked_at, f"{when}: {serial} is revoked but nobody asked for it")
        if strict:
            # Every edge certificate the store holds for these hubs was handed out: a committed
            # issuance whose answer was cut was found again through its Idempotency-Key.
            principals = {c.principal for c in clients}
            mine = {s for s, row in stored.items() if row[3] in principals and row[4] == "edge"}
            orphans = sorted(mine - all_received)
            keys = {serial: key for key, serial in idempotency.items()}
            details = []
            for serial in orphans:
                key = keys.get(serial)
                client = next((c for c in clients if key and c.principal == key[0]), None)
                details.append(f"{serial}: idempotency key {key}, "
                               f"which the client has as {client.idempotency.get(key[1]) if client else None}")
            self.assertEqual(orphans, [], f"{when}: certificates in the store that no client received: {details}")

    def wait_for_crl_listing(self, ca, serials, seconds):
        """The served CRL lists every revoked serial (committed before a kill or not); returns its PEM."""
        deadline = time.monotonic() + seconds
        path = self.path("final-crl.pem")
        while True:
            status, _, pem = ca.request("GET", "/crl.pem", tls=False)
            self.assertEqual(status, 200)
            with open(path, "wb") as f:
                f.write(pem)
            text = openssl("crl", "-in", path, "-noout", "-text").stdout
            listed = {s.lower() for s in re.findall(r"Serial Number: ([0-9A-F]+)", text)}
            missing = serials - listed
            if not missing:
                return pem
            if time.monotonic() > deadline:
                self.fail(f"{len(missing)} revoked serials are not in the served CRL after {seconds}s: "
                          f"{sorted(missing)[:5]}")
            time.sleep(0.2)


# --- (b) a store that cannot be written -------------------------------------------------------

class StoreFaultMixin:
    def prepare(self, ca, devices=3):
        ca.start()
        hub = ca.enroll("hub-1")
        ca.add_product("P1")
        bodies = []
        for d in range(devices):
            device_key = f"SN-F{d}"
            status, _, body = ca.request("POST", "/v1/devices", {"product_key": "P1", "device_key": device_key},
                                         cert=hub[0], key=hub[1])
            self.assertEqual(status, 201, body)
            _, csr = self.make_key_and_csr(f"edge-{device_key}", f"/CN={device_key}")
            bodies.append({"csr": open(csr).read(), "profile": "edge", "product_key": "P1", "device_key": device_key})
        # One certificate from before the fault, to try to revoke during it.
        status, _, body = ca.request("POST", "/v1/certificates", bodies[0], cert=hub[0], key=hub[1])
        self.assertEqual(status, 201, body)
        self.earlier_serial = body["serial"]
        return hub, bodies

    def issue(self, caller, body, received):
        status, _, payload = caller.request("POST", "/v1/certificates", body)
        if status == 201:
            received[payload["serial"]] = pem_to_der(payload["certificate"])
        return status, payload

    def fill_until_refused(self, caller, bodies, received, attempts=400):
        """Issues until the store refuses: returns the answers from the first refusal on."""
        for i in range(attempts):
            status, payload = self.issue(caller, bodies[i % len(bodies)], received)
            if status != 201:
                return [(status, error_code(payload))]
        self.fail(f"{attempts} issuances succeeded: the store never filled up")

    def assert_fault_behaviour(self, ca, serve, caller, bodies, received, store):
        """Issuance and revocation while the store cannot be written: 503 store_unavailable, a
        store_error log line, nothing changed, the service alive and serving reads."""
        stored_before, received_before = len(store.certificates()), len(received)
        answers = self.fill_until_refused(caller, bodies, received)
        some_serial = self.earlier_serial
        for i in range(6):
            status, payload = self.issue(caller, bodies[i % len(bodies)], received)
            answers.append((status, error_code(payload)))
        status, _, payload = caller.request("POST", f"/v1/certificates/{some_serial}/revoke", {"reason": "superseded"})
        revoke_answer = (status, error_code(payload))
        self.assertIsNone(serve.process.poll(), f"edgeca serve exited on a full store:\n{serve.output()[-3000:]}")
        self.assertEqual(set(answers), {(503, "store_unavailable")},
                         f"issuance on a store that cannot be written: {answers}\n{serve.output()[-3000:]}")
        # A revocation is a smaller transaction than an issuance: it may still fit where the
        # failed issuance left room (SQLite reuses the WAL after the last commit). Either it is
        # refused with 503, or it is answered 200 and then it is recorded.
        self.assertIn(revoke_answer, [(503, "store_unavailable"), (200, None)])
        errors = [e for e in ca.events() if e.get("event") == "store_error"]
        self.assertTrue(any(e.get("path") == "/v1/certificates" and e.get("error") for e in errors),
                        f"no store_error log line for /v1/certificates:\n{serve.output()[-3000:]}")
        # Reads still work, and nothing refused was changed.
        status, _, record = caller.request("GET", f"/v1/certificates/{some_serial}")
        expected = "valid" if revoke_answer[0] == 503 else "revoked"
        self.assertEqual((status, record.get("status")), (200, expected), record)
        revoked_at = store.certificates()[some_serial][1]
        self.assertEqual(revoked_at is None, revoke_answer[0] == 503, "the store disagrees with the answer")
        self.assertEqual(ca.request("GET", "/healthz")[0], 200)
        self.assertEqual(ca.request("GET", "/crl.pem", tls=False)[0], 200)
        self.assert_recorded(store, received)
        self.assertEqual(len(store.certificates()), stored_before + len(received) - received_before,
                         "a refused issuance left a certificate in the store")
        status, _, metrics = ca.request("GET", "/metrics")
        counted = re.search(r'(?m)^edgeca_http_responses_total\{node="[^"]*",code="503"\} (\S+)$', metrics.decode())
        self.assertIsNotNone(counted, "503 answers are not counted in /metrics")
        refused_revocations = 1 if revoke_answer[0] == 503 else 0
        self.assertGreaterEqual(float(counted.group(1)), len(answers) + refused_revocations)
        return answers + [("revoke", *revoke_answer)], errors

    def assert_recovered(self, ca, serve, caller, bodies, received, store):
        """Writable again: issuance and revocation work at once, without a restart."""
        pid = serve.process.pid
        after = []
        for i in range(3):
            status, payload = self.issue(caller, bodies[i % len(bodies)], received)
            after.append((status, error_code(payload)))
        self.assertEqual([s for s, _ in after], [201, 201, 201],
                         f"issuance after the store became writable again: {after}\n{serve.output()[-3000:]}")
        serial = list(received)[-1]
        status, _, record = caller.request("POST", f"/v1/certificates/{serial}/revoke", {"reason": "superseded"})
        self.assertEqual((status, record.get("status")), (200, "revoked"), record)
        self.assertEqual(serve.process.pid, pid)
        self.assertIsNone(serve.process.poll())
        self.assert_recorded(store, received)
        return after

    def assert_recorded(self, store, received):
        stored = store.certificates()
        missing = [s for s in received if s not in stored]
        self.assertEqual(missing, [], "a certificate was returned (201) but is not in the store")
        for serial, der in received.items():
            self.assertEqual(bytes(stored[serial][0]), der)
        self.assertEqual(store.integrity(), ["ok"])


class StoreFaultTest(StoreFaultMixin, TempDirTestCase):
    def test_a_file_size_limit_on_the_store_gives_503_and_the_service_recovers_without_restart(self):
        """RLIMIT_FSIZE just above the store files' sizes: SQLite's writes past it fail with EFBIG,
        as they would on a full disk; raising the limit makes the store writable again."""
        ca = IssuingCA(self, config=CRASH_CONFIG)
        hub, bodies = self.prepare(ca)
        self.assertEqual(ca.stop(), 0)  # a clean stop folds the WAL into issuer.db
        sizes = store_file_sizes(ca.dir)
        limit = max(sizes.values()) + 4096
        serve = Serve(ca, file_size_limit=limit)
        serve.start()
        caller = Caller(ca, *hub)
        store = StoreView(ca.dir)
        received = {}
        answers, errors = self.assert_fault_behaviour(ca, serve, caller, bodies, received, store)
        full = store_file_sizes(ca.dir)
        serve.set_file_size_limit(None)
        after = self.assert_recovered(ca, serve, caller, bodies, received, store)
        self.assertEqual(serve.stop(), 0)
        self.assertEqual(store.integrity(), ["ok"])
        self.assertExit(audit_verify(ca), 0, "audit chain intact")
        say(f"fault: file-size limit {limit} bytes (store files {sizes}, at the limit {full}): "
            f"{len(received) - 3} certificates issued before the store filled, then {answers}; "
            f"log: {errors[0]}; after raising the limit: {after}")

    def test_a_full_file_system_gives_503_and_freeing_space_recovers_without_restart(self):
        """The store on a small tmpfs (in a user and mount namespace, no root needed), filled up to
        ENOSPC while the service runs, then freed."""
        if not user_namespaces_work():
            self.skipTest("unprivileged user namespaces are disabled: cannot mount a small tmpfs")
        ca = IssuingCA(self, config=CRASH_CONFIG)
        hub, bodies = self.prepare(ca)
        self.assertEqual(ca.stop(), 0)
        seed = ca.dir + ".seed"
        shutil.copytree(ca.dir, seed, symlinks=True)
        used = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(seed) for f in fs)
        size = used + (4 << 20)
        setup = (f"mount -t tmpfs -o size={size},mode=0700 edgeca-small {shlex.quote(ca.dir)}\n"
                 f"cp -a {shlex.quote(seed)}/. {shlex.quote(ca.dir)}/")
        serve = Serve(ca, mount_setup=setup)
        serve.start()
        inside = serve.view(ca.dir)  # the tmpfs, for plain file operations
        caller = Caller(ca, *hub)
        store = StoreView(ca.dir, pid=serve.process.pid)
        received = {}
        for body in bodies:
            self.assertEqual(self.issue(caller, body, received)[0], 201)
        filler = os.path.join(inside, "filler")
        filled = fill_file_system(filler)
        answers, errors = self.assert_fault_behaviour(ca, serve, caller, bodies, received, store)
        os.unlink(filler)
        after = self.assert_recovered(ca, serve, caller, bodies, received, store)
        self.assertExit(audit_verify(ca, pid=serve.process.pid), 0, "audit chain intact")
        self.assertEqual(serve.stop(), 0)
        say(f"fault: tmpfs of {size} bytes filled with {filled} bytes: {answers}; log: {errors[0]}; "
            f"after freeing it: {after}")

    def test_serve_on_a_read_only_store_after_a_clean_stop_fails_clearly_and_starts_once_writable(self):
        """A read-only file system can only be tested at start-up: Linux refuses to remount a file
        system read-only (EBUSY) while the service holds its store open for writing. After a clean
        stop the WAL is folded into issuer.db and removed, so SQLite must create it to open."""
        self.check_read_only_start(crashed=False)

    def test_serve_on_a_read_only_store_after_a_crash_fails_clearly_and_starts_once_writable(self):
        """As above, after SIGKILL: issuer.db-wal and issuer.db-shm are left behind."""
        self.check_read_only_start(crashed=True)

    def check_read_only_start(self, crashed):
        if not user_namespaces_work():
            self.skipTest("unprivileged user namespaces are disabled: cannot make a read-only bind mount")
        ca = IssuingCA(self, config=CRASH_CONFIG)
        hub, bodies = self.prepare(ca, devices=1)
        if crashed:
            ca.process.send_signal(signal.SIGKILL)
            ca.process.wait(timeout=30)
            ca.log.close()
        else:
            self.assertEqual(ca.stop(), 0)
        files = sorted(os.listdir(ca.dir))
        with open(os.path.join(ca.dir, "issuer.db"), "rb") as f:
            before = f.read()
        d = shlex.quote(ca.dir)
        serve = Serve(ca, mount_setup=f"mount --bind {d} {d}\nmount -o remount,bind,ro {d}")
        serve.start(expect_ready=False)
        code = serve.wait_exit(30)
        output = serve.output().splitlines()[-1:]
        say(f"fault: serve on a read-only store ({'after SIGKILL' if crashed else 'after a clean stop'}, "
            f"files {files}) exited {code}: {output}")
        self.assertGreater(code, 0, f"edgeca serve died of a signal on a read-only store: {output}")
        message = "\n".join(output)
        self.assertIn("read-only", message.lower().replace("readonly", "read-only"),
                      f"the error does not say that the file system is read-only: {output}")
        self.assertIn(ca.dir, message, f"the error does not name the file it could not write: {output}")
        with open(os.path.join(ca.dir, "issuer.db"), "rb") as f:
            self.assertEqual(f.read(), before)
        # Writable again (the namespace went with the process): it starts and issues.
        ca.start()
        status, _, payload = ca.request("POST", "/v1/certificates", bodies[0], cert=hub[0], key=hub[1])
        self.assertEqual(status, 201, payload)


# --- (c) bad callers next to a legitimate one -------------------------------------------------

BARRAGE_CONFIG = SERVICE_CONFIG + """
[enos]
org_id = "o-barrage"
"""


class BarrageTest(TempDirTestCase):
    LEGIT_REQUESTS = 150
    BASELINE_REQUESTS = 40

    def legit_run(self, caller, body, count, failures):
        latencies = []
        for i in range(count):
            start = time.monotonic()
            try:
                status, _, payload = caller.request("POST", "/v1/certificates", body)
            except TRANSPORT_ERRORS as e:
                failures.append(f"request {i}: {e!r}")
                continue
            latencies.append(time.monotonic() - start)
            if status != 201:
                failures.append(f"request {i}: {status} {payload}")
            else:
                self.legit_serials.append(payload["serial"])
        return latencies

    def test_bad_callers_get_their_errors_while_a_hub_keeps_being_served(self):
        started = time.monotonic()
        ca = IssuingCA(self, config=BARRAGE_CONFIG)
        ca.start()
        hub = ca.enroll("hub-1")
        other_hub = ca.enroll("hub-2")
        ca.add_product("P1")
        self.legit_serials = []

        # The legitimate client: hub-1 issuing edge certificates for its device.
        ca.request("POST", "/v1/devices", {"product_key": "P1", "device_key": "SN-LEGIT"}, cert=hub[0], key=hub[1])
        _, csr = self.make_key_and_csr("legit", "/CN=SN-LEGIT")
        legit_body = {"csr": open(csr).read(), "profile": "edge", "product_key": "P1", "device_key": "SN-LEGIT"}
        # A certificate of hub-1 that hub-2 will try to revoke.
        status, victim, _ = ca.edge_certificate(hub, "SN-VICTIM")
        self.assertEqual(status, 201, victim)
        # A spent enrollment token.
        token = ca.token("hub")
        _, hub_csr = self.make_key_and_csr("hub-3", "/CN=hub-3", extra=["-addext", "subjectAltName=DNS:localhost"])
        token_body = {"csr": open(hub_csr).read(), "profile": "hub"}
        status, _, body = ca.request("POST", "/v1/certificates", token_body, token=token)
        self.assertEqual(status, 201, body)
        # An edge certificate (not on the access list) and a certificate from another CA.
        edge_cert = self.write("victim.pem", victim["certificate"])
        edge_key = self.path("edge-SN-VICTIM.key")
        openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", self.path("stranger.key"),
                "-subj", "/CN=hub-1", "-days", "2", "-out", self.path("stranger.pem"),
                "-addext", "extendedKeyUsage=clientAuth")
        # A signed EnOS request, used once, then replayed: answered as the first, issuing nothing.
        self.assertExit(ca.edgeca("product add", "--product-key", "PKE"), 0)
        self.assertExit(ca.edgeca("device add", "--product-key", "PKE", "--device-key", "SN-ENOS"), 0)
        created = ca.edgeca("app create", "--name", "barrage-app", "--role", "hub")
        self.assertExit(created, 0)
        app_key = re.search(r"appKey:\s+(\S+)", created.stdout).group(1)
        app_secret = re.search(r"appSecret:\s+(\S+)", created.stdout).group(1)
        enos = EnosClient("127.0.0.1", ca.api_port, ca.root_pem, app_key, app_secret)
        self.assertEqual(enos.get_token()[1]["status"], 0)
        _, enos_csr = self.make_key_and_csr("enos-edge", "/CN=enos-edge")
        enos_query = {"action": "apply", "orgId": "o-barrage", "productKey": "PKE", "deviceKey": "SN-ENOS"}
        enos_body = {"csr": open(enos_csr).read()}
        signed = enos.headers(enos_query, json.dumps(enos_body))
        status, answer = enos.call("/connect-service/v2.0/certificates", enos_query, enos_body, headers=signed)
        self.assertEqual((status, answer["code"]), (200, 0), answer)
        store = StoreView(ca.dir)
        count_before = len(store.certificates())

        no_cert = Caller(ca)
        hub2 = Caller(ca, *other_hub)
        hub1 = Caller(ca, *hub)
        edge = Caller(ca, edge_cert, edge_key)
        stranger = Caller(ca, self.path("stranger.pem"), self.path("stranger.key"))
        big = b'{"csr": "' + b"A" * (1 << 20) + b'"}'

        def enos_replay():
            status, answer = enos.call("/connect-service/v2.0/certificates", enos_query, enos_body, headers=signed)
            return status, answer

        bad = {
            # name: (request, expected (status, code))
            "no certificate": (lambda: no_cert.request("POST", "/v1/certificates", legit_body),
                               (401, "authentication_required")),
            "edge certificate not on the access list": (lambda: edge.request("GET", "/v1/certificates"),
                                                        (401, "certificate_not_authorized")),
            "hub asking for an admin action": (lambda: hub2.request("POST", "/v1/products", {"product_key": "EVIL"}),
                                               (403, "admin_required")),
            "another hub revoking": (lambda: hub2.request("POST", f"/v1/certificates/{victim['serial']}/revoke",
                                                          {"reason": "keyCompromise"}),
                                     (404, "certificate_not_found")),
            "spent enrollment token": (lambda: no_cert.request("POST", "/v1/certificates", token_body,
                                                               headers={"Authorization": f"Bearer {token}"}),
                                       (401, "token_spent")),
            # A repeat of a call that acted gets the first answer and issues nothing.
            "replayed EnOS signature": (enos_replay, (200, 0)),
            "1 MiB body": (lambda: hub1.request("POST", "/v1/certificates", raw=big), (413, "body_too_large")),
            "certificate from another CA": (lambda: stranger.request("GET", "/v1/certificates"), "tls_refused"),
        }

        # Alone first, for a baseline.
        failures = []
        baseline = self.legit_run(hub1, legit_body, self.BASELINE_REQUESTS, failures)
        self.assertEqual(failures, [])

        # The barrage runs in a child process (threads, one per kind of bad request), so that the
        # legitimate client's latency is the service's, not this interpreter's lock.
        context = multiprocessing.get_context("fork")
        done, results = context.Event(), context.Queue()

        def barrage():
            counts = {name: 0 for name in bad}
            wrong = []

            def attacker(name, request, expected):
                while not done.is_set():
                    try:
                        result = request()
                        got = (result[0], error_code(result[-1]))
                    except ssl.SSLError:
                        got = "tls_refused"
                    except TRANSPORT_ERRORS as e:
                        got = "tls_refused" if expected == "tls_refused" else repr(e)
                    counts[name] += 1
                    if got != expected:
                        wrong.append((name, got, expected))

            threads = [threading.Thread(target=attacker, args=(name, request, expected), daemon=True)
                       for name, (request, expected) in bad.items()]
            for t in threads:
                t.start()
            for t in threads:
                t.join(timeout=120)
            results.put((counts, wrong[:20], len(wrong), sum(t.is_alive() for t in threads)))

        attackers = context.Process(target=barrage, daemon=True)
        attackers.start()
        self.addCleanup(lambda: attackers.is_alive() and attackers.kill())
        time.sleep(0.5)  # the barrage is on before the legitimate client starts
        overflows_before = listen_overflows()
        try:
            under_fire = self.legit_run(hub1, legit_body, self.LEGIT_REQUESTS, failures)
        finally:
            done.set()
        overflows = listen_overflows()
        overflows = None if overflows is None or overflows_before is None else overflows - overflows_before
        counts, wrong, wrong_count, stuck = results.get(timeout=150)
        attackers.join(timeout=30)
        self.assertEqual(stuck, 0, "an attacker did not stop")

        base_p99, p50, p99 = percentile(baseline, 0.99), percentile(under_fire, 0.5), percentile(under_fire, 0.99)
        say(f"barrage: legitimate hub {len(under_fire)} issuances under fire, p50 {p50 * 1000:.0f} ms, "
            f"p99 {p99 * 1000:.0f} ms, max {max(under_fire) * 1000:.0f} ms (alone: p50 "
            f"{percentile(baseline, 0.5) * 1000:.0f} ms, p99 {base_p99 * 1000:.0f} ms), "
            f"{sum(1 for t in under_fire if t > 0.9)} over 0.9 s, {overflows} SYNs dropped on a full accept queue "
            f"meanwhile; bad requests "
            f"{sum(counts.values())}: {counts}; {time.monotonic() - started:.1f}s")
        self.assertEqual(failures, [], "the legitimate client failed under the barrage")
        self.assertEqual(wrong, [], f"{wrong_count} bad requests got another answer than their error")
        for name, count in counts.items():
            self.assertGreaterEqual(count, 5, f"too few '{name}' requests ran alongside the legitimate client")
        bound = max(2.0, 10 * base_p99)
        self.assertLessEqual(p99, bound, f"the legitimate client's p99 {p99:.3f}s exceeds {bound:.3f}s under the barrage")

        # Nothing the bad callers did changed anything.
        stored = store.certificates()
        self.assertEqual(len(stored), count_before + len(self.legit_serials))
        self.assertTrue(set(self.legit_serials) <= set(stored))
        self.assertIsNone(stored[victim["serial"]][1], "another hub revoked a certificate it did not request")
        status, listed = enos.certificates("list", {"orgId": "o-barrage", "productKey": "PKE", "deviceKey": "SN-ENOS"})
        self.assertEqual(len(listed["data"]), 1, "a replayed EnOS apply issued a certificate")
        status, _, products = ca.request("GET", "/v1/products", cert=ca.admin()[0], key=ca.admin()[1])
        self.assertNotIn("EVIL", json.dumps(products))
        self.assertIsNone(ca.process.poll())
        self.assertEqual(ca.stop(), 0)
        self.assertEqual(store.integrity(), ["ok"])
        self.assertExit(audit_verify(ca), 0, "audit chain intact")


if __name__ == "__main__":
    unittest.main()
