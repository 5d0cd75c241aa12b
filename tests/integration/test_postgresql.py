"""The store on PostgreSQL, against real throwaway servers: the store suite, every command, three
nodes under concurrent issuance and revocation while they are SIGKILLed, the CRL signer's
takeover, a failover to a synchronous standby, and a migration of 100,000 certificates from
SQLite. A server that cannot start fails the test with its log; nothing is skipped."""
import json
import os
import random
import re
import subprocess
import sys
import threading
import time
import unittest
from datetime import datetime, timezone

from harness import (BUILD_DIR, IssuingCA, TempDirTestCase, openssl, run)
from pg_support import PgCluster, multi_host_url

NODE_CONFIG = """
[profiles.hub]
allowed_domains = ["localhost"]

[crl]
publish_delay = "1s"
signer_lease = "3s"
"""


def unit_tests():
    return os.path.join(BUILD_DIR, "tests", "unit-tests")


def crl_facts(test, der):
    """(number, thisUpdate epoch, nextUpdate epoch, set of serials as ints) of a DER CRL."""
    path = test.write(f"crl-{random.getrandbits(48):x}.der", "")
    with open(path, "wb") as f:
        f.write(der)
    text = openssl("crl", "-inform", "DER", "-in", path, "-noout", "-text").stdout
    os.unlink(path)

    def when(label):
        value = re.search(rf"{label}: (.+)", text).group(1).strip()
        return datetime.strptime(value, "%b %d %H:%M:%S %Y GMT").replace(tzinfo=timezone.utc).timestamp()

    number = int(re.search(r"X509v3 CRL Number: *\n\s*(\d+)", text).group(1))
    serials = {int(s, 16) for s in re.findall(r"Serial Number: ([0-9A-Fa-f]+)", text)}
    return number, when("Last Update"), when("Next Update"), serials


class Fleet:
    """Nodes of one CA on one PostgreSQL store, a hub and its devices, and clients that issue
    and revoke through whichever node is up, recording what each was told."""

    def __init__(self, test, url, nodes=3, config=NODE_CONFIG):
        self.test = test
        first = IssuingCA(test, config=config, env={"EDGECA_STORE_URL": url, "EDGECA_NODE_NAME": "node-a"})
        self.nodes = [first] + [first.another_node(f"node-{chr(ord('b') + i)}") for i in range(nodes - 1)]
        first.start()
        self.hub = first.enroll("hub-1")
        first.add_product("P1")
        for node in self.nodes[1:]:
            node.start()
        self.lock = threading.Lock()
        self.received = {}     # serial (int) -> device key
        self.revoked = {}      # serial (int) -> time.time() when the revocation was acknowledged
        self.failures = []     # answers other than success, connection loss or 503
        self.stop = threading.Event()
        self.devices = []
        for i in range(12):
            device = f"PG-{i}"
            status, _, body = first.request("POST", "/v1/devices", {"product_key": "P1", "device_key": device},
                                            cert=self.hub[0], key=self.hub[1])
            test.assertEqual(status, 201, body)
            key, csr = test.make_key_and_csr(f"dev-{i}", f"/CN=pg-device-{i}")
            self.devices.append((device, open(csr).read()))

    def live_node(self):
        candidates = [n for n in self.nodes if n.process is not None and n.process.poll() is None]
        return random.choice(candidates) if candidates else None

    def call(self, method, path, body):
        """One request to a live node: (status, body), or None when the node went away."""
        node = self.live_node()
        if node is None:
            return None
        try:
            status, _, answer = node.request(method, path, body, cert=self.hub[0], key=self.hub[1])
        except (OSError, ValueError, json.JSONDecodeError, Exception) as e:  # killed mid-request
            if isinstance(e, AssertionError):
                raise
            return None
        return status, answer

    def client(self, devices):
        while not self.stop.is_set():
            device, csr = random.choice(devices)
            answer = self.call("POST", "/v1/certificates",
                               {"csr": csr, "profile": "edge", "product_key": "P1", "device_key": device})
            if answer is None or answer[0] == 503:
                continue
            status, body = answer
            if status != 201:
                with self.lock:
                    self.failures.append(("issue", status, body))
                continue
            serial = int(body["serial"], 16)
            with self.lock:
                self.received[serial] = device
            if random.random() < 0.3:
                answer = self.call("POST", f"/v1/certificates/{body['serial']}/revoke", {"reason": "superseded"})
                if answer is not None and answer[0] == 200:
                    with self.lock:
                        self.revoked[serial] = time.time()
                elif answer is not None and answer[0] not in (503, 409):
                    with self.lock:
                        self.failures.append(("revoke", answer[0], answer[1]))

    def start_clients(self, count=6):
        self.threads = []
        for i in range(count):
            mine = self.devices[i * 2:(i + 1) * 2] or self.devices
            t = threading.Thread(target=self.client, args=(mine,), daemon=True)
            t.start()
            self.threads.append(t)

    def stop_clients(self):
        self.stop.set()
        for t in self.threads:
            t.join(timeout=120)
            self.test.assertFalse(t.is_alive(), "a client did not stop")

    def served_crl(self, node):
        status, _, der = node.request("GET", "/crl", tls=False)
        return der if status == 200 else None


class PostgresqlTestCase(TempDirTestCase):
    def sql(self, cluster, database, query):
        return cluster.psql(database, query).strip()


class StoreSuiteOnPostgresql(PostgresqlTestCase):
    # The unit stage runs the same suite on SQLite.
    def test_the_store_suite_passes_on_postgresql(self):
        cluster = PgCluster.create(self)
        result = run([unit_tests(), "-ts=store"], env={"EDGECA_TEST_STORE_URL": cluster.url("postgres")}, timeout=1800)
        summary = re.search(r"test cases:\s*(\d+) \|\s*(\d+) passed \|\s*(\d+) failed", result.stdout)
        self.assertIsNotNone(summary, f"no doctest summary\n{result.stdout[-3000:]}{result.stderr[-2000:]}")
        total, passed, failed = map(int, summary.groups())
        self.assertEqual((result.returncode, failed), (0, 0), result.stdout[-6000:])
        self.assertGreaterEqual(passed, 40, f"the store suite ran only {passed} cases")


class CommandsOnPostgresql(PostgresqlTestCase):
    def test_every_command_works_on_a_postgresql_store_and_serve_names_it(self):
        cluster = PgCluster.create(self)
        url = cluster.create_database("edgeca")
        ca = IssuingCA(self, env={"EDGECA_STORE_URL": url, "EDGECA_NODE_NAME": "ca-1"})
        self.assertFalse(os.path.exists(os.path.join(ca.dir, "issuer.db")), "init made a SQLite file")
        settings = open(os.path.join(ca.dir, "edgeca.toml")).read()
        self.assertIn(f'url = "{url}"', settings)
        # From here on the directory's settings name the store: no environment needed.
        ca.env = {}
        ok = lambda r: self.assertExit(r, 0)
        ok(ca.edgeca("product add", "--product-key", "P1"))
        ok(ca.edgeca("device add", "--product-key", "P1", "--device-key", "SN-1"))
        self.assertIn("SN-1", ca.edgeca("device list").stdout)
        key, csr = self.make_key_and_csr("sn1", "/CN=sn-1")
        issued = ca.edgeca("issue", "--csr", csr, "--profile", "edge", "--product-key", "P1", "--device-key", "SN-1",
                           "--out", self.path("sn1.pem"), passphrase=True)
        ok(issued)
        serial = openssl("x509", "-in", self.path("sn1.pem"), "-noout", "-serial").stdout.strip().split("=")[1]
        self.assertIn(serial.lower(), ca.edgeca("list").stdout.lower())
        ok(ca.edgeca("revoke", "--serial", serial, "--reason", "keyCompromise"))
        self.assertIn(serial.lower(), ca.edgeca("list", "--status", "revoked").stdout.lower())
        token = ca.edgeca("token create", "--role", "hub")
        ok(token)
        ok(ca.edgeca("app create", "--name", "hub-app", "--role", "hub"))
        self.assertIn("hub-app", ca.edgeca("app list").stdout)
        ok(ca.edgeca("crl", "--out", self.path("crl.pem"), passphrase=True))
        self.assertIn(f"Serial Number: {serial.upper()}", openssl("crl", "-in", self.path("crl.pem"), "-noout", "-text").stdout)
        audit = ca.edgeca("audit", "--verify")
        ok(audit)
        self.assertEqual(self.sql(cluster, "edgeca", "SELECT count(*) FROM certificates WHERE revoked_at IS NOT NULL"), "1")

        ca.start(env={"EDGECA_NODE_NAME": "ca-1"})
        status, _, health = ca.request("GET", "/healthz")
        self.assertEqual((status, health["store"], health["node"]), (200, "postgresql", "ca-1"))
        status, _, metrics = ca.request("GET", "/metrics")
        self.assertRegex(metrics.decode(), r'(?m)^edgeca_crl_signer\{node="ca-1"\} 1$')
        hub = ca.enroll("hub-1")
        status, body, _ = ca.edge_certificate(hub, "SN-2")
        self.assertEqual(status, 201, body)
        self.assertIn(int(body["serial"], 16),
                      {int(s, 16) for s in self.sql(cluster, "edgeca",
                                                    "SELECT encode(serial, 'hex') FROM certificates").split()})

    def test_a_writer_lock_held_too_long_gives_a_clear_error_not_a_hang_and_then_work_resumes(self):
        cluster = PgCluster.create(self)
        url = cluster.create_database("edgeca")
        ca = IssuingCA(self, env={"EDGECA_STORE_URL": url})
        # Another session holds the lock every writer takes first, for longer than a writer waits.
        holder = subprocess.Popen([cluster.psql_path(), "-X", "-q", "-d", url, "-c",
                                   "SELECT pg_advisory_lock(1162101569); SELECT pg_sleep(15)"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.addCleanup(lambda: holder.poll() is None and (holder.kill(), holder.wait()))
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and self.sql(cluster, "edgeca",
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted") != "1":
            time.sleep(0.1)
        started = time.monotonic()
        refused = ca.edgeca("product add", "--product-key", "P1", timeout=60)
        waited = time.monotonic() - started
        self.assertEqual(refused.returncode, 8, refused.stderr)
        self.assertIn("lock", refused.stderr)
        self.assertLess(waited, 14, "the writer waited past its lock timeout")
        self.assertEqual(self.sql(cluster, "edgeca", "SELECT count(*) FROM products"), "0")
        holder.wait(timeout=30)
        self.assertExit(ca.edgeca("product add", "--product-key", "P1"), 0)
        self.assertEqual(self.sql(cluster, "edgeca", "SELECT count(*) FROM products"), "1")

    def test_a_store_url_with_a_password_or_a_foreign_database_is_refused_and_nothing_is_made(self):
        cluster = PgCluster.create(self)
        url = cluster.create_database("foreign")
        cluster.psql("foreign", "CREATE TABLE stock (item text)")
        directory = self.path("refused")
        with_password = url.replace("postgres@", "postgres:secret@")
        for store_url, message in ((with_password, "PGPASSWORD"), (url, "not empty")):
            result = run([os.path.join(BUILD_DIR, "cli", "edgeca"), "init", "--dir", directory, "--subject", "CN=X",
                          "--passphrase-file", self.write("p", "test-only passphrase 12345\n")],
                         env={"EDGECA_STORE_URL": store_url})
            self.assertNotEqual(result.returncode, 0)
            self.assertIn(message, result.stderr)
            self.assertNotIn("secret", result.stderr)
            self.assertFalse(os.path.exists(os.path.join(directory, "issuer.key")))
        self.assertEqual(self.sql(cluster, "foreign", "SELECT count(*) FROM pg_tables WHERE schemaname='public'"), "1")


class SeveralNodes(PostgresqlTestCase):
    def test_three_nodes_under_load_and_sigkill_behave_as_one_ca(self):
        cluster = PgCluster.create(self)
        url = cluster.create_database("edgeca")
        fleet = Fleet(self, url)
        crls = []  # (node name, fetch time, DER)

        def watch_crls():
            while not fleet.stop.is_set():
                node = fleet.live_node()
                try:
                    der = fleet.served_crl(node) if node else None
                except Exception:
                    der = None
                if der:
                    crls.append((node.env.get("EDGECA_NODE_NAME"), time.time(), der))
                time.sleep(0.3)

        watcher = threading.Thread(target=watch_crls, daemon=True)
        fleet.start_clients()
        watcher.start()
        kills = 0
        for _ in range(12):
            time.sleep(random.uniform(0.5, 2.0))
            victim = random.choice(fleet.nodes)
            if victim.process is None or victim.process.poll() is not None:
                continue
            victim.kill()
            kills += 1
            time.sleep(random.uniform(0.1, 0.6))
            victim.start()
        time.sleep(1)
        fleet.stop_clients()
        watcher.join(timeout=30)
        print(f"\n  {kills} kills, {len(fleet.received)} certificates and {len(fleet.revoked)} revocations "
              f"acknowledged, {len(crls)} CRLs fetched", file=sys.stderr)
        self.assertGreaterEqual(kills, 10)
        self.assertEqual(fleet.failures, [], "requests failed other than by a node going away")
        self.assertGreater(len(fleet.received), 30, "too little was issued to mean anything")
        self.assertGreater(len(fleet.revoked), 5)

        # Every certificate a client received is stored, exactly once.
        rows = self.sql(cluster, "edgeca", "SELECT encode(serial, 'hex'), device_key FROM certificates").splitlines()
        stored = {}
        for row in rows:
            serial, device = row.split("|")
            self.assertNotIn(int(serial, 16), stored, "a serial is stored twice")
            stored[int(serial, 16)] = device
        for serial, device in fleet.received.items():
            self.assertEqual(stored.get(serial), device, f"certificate {serial:x} was received but is not stored")
        # No CN is held by two devices at once, and no key belongs to two devices.
        self.assertEqual(self.sql(cluster, "edgeca", """
            SELECT count(*) FROM certificates a JOIN certificates b
              ON a.common_name = b.common_name AND a.device_key <> b.device_key AND a.profile = b.profile
             WHERE a.revoked_at IS NULL AND b.revoked_at IS NULL"""), "0")
        self.assertEqual(self.sql(cluster, "edgeca", """
            SELECT count(*) FROM (SELECT spki_sha256 FROM certificates WHERE device_key IS NOT NULL
                                  GROUP BY spki_sha256 HAVING count(DISTINCT device_key) > 1) k"""), "0")
        # Every acknowledged revocation is recorded.
        revoked = {int(s, 16) for s in self.sql(cluster, "edgeca",
                   "SELECT encode(serial, 'hex') FROM certificates WHERE revoked_at IS NOT NULL").split()}
        self.assertEqual(set(fleet.revoked) - revoked, set())
        # One audit chain, intact.
        self.assertExit(fleet.nodes[0].edgeca("audit", "--verify"), 0)
        # CRL numbers are never reused, and each node serves them in increasing order.
        numbers = [int(n) for n in self.sql(cluster, "edgeca", "SELECT number FROM crls ORDER BY number").split()]
        self.assertEqual(numbers, sorted(set(numbers)))
        self.assertGreater(len(crls), 10)
        last = {}
        for node, fetched, der in crls:
            number, this_update, _, serials = crl_facts(self, der)
            self.assertGreaterEqual(number, last.get(node, 0), f"{node} served CRL {number} after {last.get(node)}")
            last[node] = number
            # A CRL lists every revocation acknowledged before it was signed.
            missing = [s for s, acknowledged in fleet.revoked.items() if acknowledged < this_update and s not in serials]
            self.assertEqual(missing, [], f"CRL {number} from {node} misses revocations acknowledged before it")
        # In the end every node serves one CRL, with one ETag, listing every revocation.
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            answers = [n.request("GET", "/crl", tls=False) for n in fleet.nodes]
            etags = {headers.get("ETag") for _, headers, _ in answers}
            facts = crl_facts(self, answers[0][2])
            if len(etags) == 1 and set(fleet.revoked) <= facts[3]:
                break
            time.sleep(0.5)
        self.assertEqual(len(etags), 1, "the nodes serve different CRLs")
        self.assertLessEqual(set(fleet.revoked), facts[3])

    def test_when_the_crl_signer_dies_another_node_signs_before_the_old_crl_expires(self):
        cluster = PgCluster.create(self)
        url = cluster.create_database("edgeca")
        config = NODE_CONFIG + 'validity = "60s"\nrefresh_before = "40s"\n'
        fleet = Fleet(self, url, nodes=2, config=config)

        def signer_of(node):
            _, _, text = node.request("GET", "/metrics")
            return re.search(r'(?m)^edgeca_crl_signer\{node="[^"]+"\} (\S+)$', text.decode()).group(1) == "1"

        signers = [n for n in fleet.nodes if signer_of(n)]
        self.assertEqual(len(signers), 1, "not exactly one node holds the signer lease")
        signer = signers[0]
        survivor = next(n for n in fleet.nodes if n is not signer)
        old_number, _, old_next_update, _ = crl_facts(self, fleet.served_crl(survivor))
        signer.kill()
        killed_at = time.time()
        # A revocation through the survivor: it must reach a CRL the survivor signs itself.
        status, body, _ = survivor.edge_certificate(fleet.hub, "PG-0")
        self.assertEqual(status, 201, body)
        status, _, answer = survivor.request("POST", f"/v1/certificates/{body['serial']}/revoke",
                                             {"reason": "keyCompromise"}, cert=fleet.hub[0], key=fleet.hub[1])
        self.assertEqual(status, 200, answer)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            number, this_update, _, serials = crl_facts(self, fleet.served_crl(survivor))
            if number > old_number and int(body["serial"], 16) in serials:
                break
            time.sleep(0.25)
        self.assertGreater(number, old_number, "no new CRL after the signer died")
        self.assertIn(int(body["serial"], 16), serials)
        self.assertLess(time.time(), old_next_update, "the new CRL came after the old one expired")
        self.assertLess(time.time() - killed_at, 3 + 1 + 1 + 10, "the takeover took longer than lease + tick + delay")
        self.assertTrue(signer_of(survivor))


class Failover(PostgresqlTestCase):
    def test_promoting_the_synchronous_standby_loses_no_acknowledged_certificate(self):
        primary, standby = PgCluster.create_primary_with_standby(self)
        primary.create_database("edgeca")
        url = multi_host_url("edgeca", [primary, standby])
        fleet = Fleet(self, url, nodes=2)
        fleet.start_clients(4)
        time.sleep(3)
        before = len(fleet.received)
        self.assertGreater(before, 5)
        primary.kill()
        killed = time.time()
        time.sleep(1)
        standby.promote()
        # The nodes carry on on the new primary.
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and len(fleet.received) < before + 20:
            time.sleep(0.5)
        fleet.stop_clients()
        print(f"\n  {before} certificates before the primary died, {len(fleet.received)} in all", file=sys.stderr)
        self.assertGreaterEqual(len(fleet.received), before + 20, "issuance did not resume after the failover")
        self.assertEqual(fleet.failures, [])
        stored = {int(s, 16) for s in self.sql(standby, "edgeca", "SELECT encode(serial, 'hex') FROM certificates").split()}
        missing = [f"{s:x}" for s in fleet.received if s not in stored]
        self.assertEqual(missing, [], f"acknowledged certificates lost in the failover at {killed}")
        revoked = {int(s, 16) for s in self.sql(standby, "edgeca",
                   "SELECT encode(serial, 'hex') FROM certificates WHERE revoked_at IS NOT NULL").split()}
        self.assertEqual(set(fleet.revoked) - revoked, set())
        self.assertExit(fleet.nodes[0].edgeca("audit", "--verify"), 0)


class Migration(PostgresqlTestCase):
    def test_a_sqlite_store_of_100k_certificates_moves_to_postgresql_and_verifies(self):
        cluster = PgCluster.create(self)
        url = cluster.create_database("edgeca")
        ca = IssuingCA(self)
        ok = lambda r: self.assertExit(r, 0)
        ok(ca.edgeca("product add", "--product-key", "P1"))
        ok(ca.edgeca("device add", "--product-key", "P1", "--device-key", "SN-1"))
        key, csr = self.make_key_and_csr("sn1", "/CN=sn-1")
        ok(ca.edgeca("issue", "--csr", csr, "--profile", "edge", "--product-key", "P1", "--device-key", "SN-1",
                     "--out", self.path("sn1.pem"), passphrase=True))
        # Renewals with the same key, then a device reset: three revocations of one second, which
        # each engine may list in its own order.
        for renewal in (2, 3):
            ok(ca.edgeca("issue", "--csr", csr, "--profile", "edge", "--product-key", "P1", "--device-key", "SN-1",
                         "--out", self.path(f"sn1-{renewal}.pem"), passphrase=True))
        ok(ca.edgeca("revoke", "--device-key", "SN-1", "--reason", "keyCompromise"))
        fill = run([os.path.join(BUILD_DIR, "bench", "edgeca-bench"), "fill", "--store",
                    os.path.join(ca.dir, "issuer.db"), "--count", "100000", "--revoked-every", "10"], timeout=600)
        ok(fill)
        ok(ca.edgeca("crl", passphrase=True))
        # The fill writes rows without audit entries, as a tamperer would: the verification says
        # so, and must say exactly the same of the copy.
        findings = lambda r: sorted(line for line in r.stdout.splitlines() if "no audit entry" in line)
        before = ca.edgeca("audit", "--verify")
        self.assertEqual(len(findings(before)), 10000)

        # An empty url in the [store] section is the SQLite default too; migrate replaces it.
        settings_path = os.path.join(ca.dir, "edgeca.toml")
        settings = open(settings_path).read()
        self.assertIn("[store]\n", settings)
        with open(settings_path, "w") as f:
            f.write(settings.replace("[store]\n", '[store]\nurl = ""\n', 1))
        result = ca.edgeca("store migrate", "--to", url, timeout=1200)
        ok(result)
        url_lines = [l for l in open(settings_path).read().splitlines() if l.strip().startswith("url")]
        self.assertEqual(url_lines, [f'url = "{url}"'])
        for check in ("every table holds as many rows", "the audit chain", "every certificate",
                      "lists the same 10003 serials"):
            self.assertIn(check, result.stderr)
        self.assertIn(f'url = "{url}"', open(os.path.join(ca.dir, "edgeca.toml")).read())
        self.assertEqual(self.sql(cluster, "edgeca", "SELECT count(*) FROM certificates"), "100003")
        after = ca.edgeca("audit", "--verify")
        self.assertEqual((after.returncode, findings(after)), (before.returncode, findings(before)))
        # The directory now works on PostgreSQL: a new certificate gets the next id.
        ok(ca.edgeca("device add", "--product-key", "P1", "--device-key", "SN-2"))
        key2, csr2 = self.make_key_and_csr("sn2", "/CN=sn-2")
        ok(ca.edgeca("issue", "--csr", csr2, "--profile", "edge", "--product-key", "P1", "--device-key", "SN-2",
                     "--out", self.path("sn2.pem"), passphrase=True))
        self.assertEqual(self.sql(cluster, "edgeca", "SELECT count(*) FROM certificates"), "100004")
        ca.start()
        der = ca.request("GET", "/crl", tls=False)[2]
        self.assertEqual(len(crl_facts(self, der)[3]), 10003)
        # Migrating again is refused: the directory already uses a server, and a store is only
        # copied into an empty database.
        again = ca.edgeca("store migrate", "--to", url)
        self.assertNotEqual(again.returncode, 0)
        self.assertIn("already uses", again.stderr)


if __name__ == "__main__":
    unittest.main()
