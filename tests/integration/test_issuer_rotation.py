"""Issuing CA rotation (issue 14): edgeca issuer new / activate / list / retire while the service
runs. New certificates come from the newest issuer; every issuer not retired keeps signing its own
CRL (own number sequence, own distribution point); a revocation lands on its own issuer's CRL
only; refusals change nothing; concurrent issuance never fails across the switch; mosquitto with
both issuing CAs and /crls.pem lets in edges of both generations and refuses a revoked one of each."""
import itertools
import os
import re
import sqlite3
import threading
import time
import unittest

from harness import (IssuingCA, RootCeremony, SERVICE_CONFIG, SharedWorkspace, StaticServer, TempDirTestCase,
                     assert_crl_signed_by, faketime_env, openssl, run, x509_text)
from mqtt_support import Broker, MqttIdentity

CONFIG = SERVICE_CONFIG + """
[crl]
publish_delay = "1s"
"""
EDGE_TRUST_UPDATE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "pki-samples",
                                 "edge-trust-update")
NON_CA_EXTENSIONS = "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n"


def after_expiry_of(issuing_ca_cert):
    """libfaketime's environment for a command run two days after the issuing CA's notAfter, when
    every certificate it signed (clamped to its notAfter) has expired."""
    end = openssl("x509", "-in", issuing_ca_cert, "-noout", "-enddate").stdout.strip().split("=", 1)[1]
    days = int((time.mktime(time.strptime(end, "%b %d %H:%M:%S %Y %Z")) - time.time()) / 86400) + 2
    return faketime_env(f"+{days}d")


def pending_csr(ca, issuer_id):
    return os.path.join(ca.dir, "issuers", str(issuer_id), "issuer.csr")


def new_issuer(test, ca, issuer_id=2):
    """edgeca issuer new, then the root signs the CSR: returns the new issuing CA's certificate."""
    made = ca.edgeca("issuer new", passphrase=True)
    test.assertEqual(made.returncode, 0, made.stdout + made.stderr)
    test.assertIn(f"issuers/{issuer_id}/issuer.csr", made.stdout)
    cert = ca.test.path(f"{os.path.basename(ca.dir)}-issuer-{issuer_id}.pem")
    signed = ca.ceremony.sign_intermediate(pending_csr(ca, issuer_id), cert)
    test.assertEqual(signed.returncode, 0, signed.stderr)
    return cert


def activate(test, ca, cert, issuer_id=2):
    """edgeca issuer activate, then waits for the running service to sign with it."""
    events_before = len(ca.events())
    done = ca.edgeca("issuer activate", "--cert", cert)
    test.assertEqual(done.returncode, 0, done.stdout + done.stderr)
    event = ca.wait_for_event("issuer_activated", after=events_before)
    test.assertEqual(event["issuer_id"], issuer_id)
    return done


def issuer_rows(ca):
    db = sqlite3.connect(os.path.join(ca.dir, "issuer.db"))
    try:
        return db.execute("SELECT id, retired_at IS NOT NULL FROM issuers ORDER BY id").fetchall()
    finally:
        db.close()


def crl_numbers(ca, issuer_id):
    db = sqlite3.connect(os.path.join(ca.dir, "issuer.db"))
    try:
        return [row[0] for row in db.execute("SELECT number FROM crls WHERE issuer_id = ? ORDER BY rowid", (issuer_id,))]
    finally:
        db.close()


def crl_serials(path):
    text = openssl("crl", "-in", path, "-noout", "-text").stdout
    return {s.lower().lstrip("0") for s in re.findall(r"Serial Number: ([0-9A-F]+)", text)}


def crl_number(path):
    return int(re.search(r"X509v3 CRL Number: \n\s+(\d+)", openssl("crl", "-in", path, "-noout", "-text").stdout).group(1))


def verifies(root, issuer_cert, leaf):
    result = run(["openssl", "verify", "-x509_strict", "-CAfile", root, "-untrusted", issuer_cert, leaf])
    return result.returncode == 0


class RotationMixin:
    def fetch(self, path, suffix):
        status, _, body = self.ca.request("GET", path, tls=False)
        self.assertEqual(status, 200, body)
        return self.space.write(f"fetched-{time.monotonic_ns()}.{suffix}", body)

    def wait_for_crls(self, wanted, seconds=20):
        """Polls /crl.pem and /crl/2.pem (a bounded loop) until each lists the serials `wanted`
        maps it to; returns their files."""
        deadline = time.monotonic() + seconds
        while True:
            files = {path: self.fetch(path, "pem") for path in wanted}
            if all(set(serials) <= crl_serials(files[path]) for path, serials in wanted.items()):
                return files
            if time.monotonic() > deadline:
                self.fail(f"the CRLs did not list {wanted} within {seconds}s")
            time.sleep(0.2)

    def revoke(self, serial, reason="keyCompromise"):
        cert, key = self.ca.admin()
        status, _, body = self.ca.request("POST", f"/v1/certificates/{serial}/revoke", {"reason": reason},
                                          cert=cert, key=key)
        self.assertEqual(status, 200, body)

    def issue_client(self, name):
        """A client certificate issued over HTTPS by the admin: (certificate file, serial)."""
        _, csr = self.space.make_key_and_csr(name, f"/CN={name}")
        cert, key = self.ca.admin()
        status, _, body = self.ca.request("POST", "/v1/certificates", {"csr": open(csr).read(), "profile": "client"},
                                          cert=cert, key=key)
        self.assertEqual(status, 201, body)
        return self.space.write(f"{name}.pem", body["certificate"]), body["serial"].lower().lstrip("0"), body


class IssuerRotationTest(RotationMixin, unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.space = SharedWorkspace()
        cls.addClassCleanup(cls.space.close)
        cls.ca = IssuingCA(cls.space, config=CONFIG)
        cls.ca.start()
        cls.addClassCleanup(cls.ca.stop)
        cls.ca.admin()

    def test_1_refusals_name_the_reason_and_change_nothing(self):
        ca, space = self.ca, self.space
        made = ca.edgeca("issuer new", passphrase=True)
        self.assertEqual(made.returncode, 0, made.stdout + made.stderr)
        # A second new while one is pending is refused.
        self.assertExit(ca.edgeca("issuer new", passphrase=True), 7, "pending")
        csr = pending_csr(ca, 2)

        # A certificate for another key (a CSR of its own, signed by the very root).
        _, other_csr = space.make_key_and_csr("other-ca", "/CN=Other Issuing CA")
        other_key_cert = space.path("other-key-issuer.pem")
        self.assertEqual(ca.ceremony.sign_intermediate(other_csr, other_key_cert).returncode, 0)
        # The pending key certified by a root this directory does not trust.
        stranger = RootCeremony(space, subject="CN=Stranger Root,O=elsewhere,C=CN", name="stranger-root")
        untrusted_cert = space.path("untrusted-issuer.pem")
        self.assertEqual(stranger.sign_intermediate(csr, untrusted_cert).returncode, 0)
        # The pending key certified by the right root, but not as a CA.
        not_ca_cert = space.path("not-ca-issuer.pem")
        openssl("x509", "-req", "-in", csr, "-CA", ca.ceremony.certificate,
                "-CAkey", os.path.join(ca.ceremony.dir, "root.key"), "-passin", f"file:{ca.ceremony.passphrase_file}",
                "-days", "30", "-set_serial", "0x5151", "-out", not_ca_cert,
                "-extfile", space.write("not-ca.ext", NON_CA_EXTENSIONS))

        served_before = self.fetch("/ca.pem", "pem")
        for cert, reason in ((other_key_cert, "key"), (untrusted_cert, "not a root this directory trusts"),
                             (not_ca_cert, "CA")):
            refused = ca.edgeca("issuer activate", "--cert", cert)
            self.assertIn(refused.returncode, (3, 4), refused.stdout + refused.stderr)
            self.assertIn(reason, refused.stderr)
            self.assertEqual(issuer_rows(ca), [(1, 0)])
            self.assertFalse(os.path.exists(os.path.join(ca.dir, "issuers", "2", "issuer.pem")))
        audit = ca.edgeca("audit").stdout
        self.assertEqual(audit.count("issuer-activate"), 3, audit)
        self.assertEqual(open(self.fetch("/ca.pem", "pem")).read(), open(served_before).read())
        # Issuance still comes from issuer 1.
        leaf, _, _ = self.issue_client("after-refusals")
        self.assertTrue(verifies(ca.root_pem, ca.certificate, leaf))

    def test_2_rotation_while_serving_keeps_each_issuers_crl_its_own(self):
        ca = self.ca
        before, before_serial, _ = self.issue_client("before-rotation")
        self.assertTrue(verifies(ca.root_pem, ca.certificate, before))
        # An idempotent request answered by issuer 1, to be repeated after the rotation.
        admin_cert, admin_key = ca.admin()
        _, csr = self.space.make_key_and_csr("idempotent", "/CN=idempotent")
        idempotent = {"csr": open(csr).read(), "profile": "client"}
        status, _, first = ca.request("POST", "/v1/certificates", idempotent, cert=admin_cert, key=admin_key,
                                      headers={"Idempotency-Key": "rotation-repeat"})
        self.assertEqual(status, 201, first)
        cert = ca.test.path("issuer-2-cert.pem")
        if not os.path.exists(os.path.join(ca.dir, "issuers", "2", "issuer.key")):
            new_issuer(self, ca)
        self.assertEqual(ca.ceremony.sign_intermediate(pending_csr(ca, 2), cert).returncode, 0)
        activated = activate(self, ca, cert)
        self.assertIn("/crl/2", activated.stdout)

        after, after_serial, body = self.issue_client("after-rotation")
        # Signed by issuer 2, verifiable with its chain, not with issuer 1's.
        self.assertTrue(verifies(ca.root_pem, cert, after))
        self.assertFalse(verifies(ca.root_pem, ca.certificate, after))
        self.assertIn(open(cert).read().strip(), body["chain"])
        # The repeat is answered with the first certificate and the chain of issuer 1, its signer.
        status, _, repeat = ca.request("POST", "/v1/certificates", idempotent, cert=admin_cert, key=admin_key,
                                       headers={"Idempotency-Key": "rotation-repeat"})
        self.assertIn(status, (200, 201), repeat)
        self.assertEqual(repeat["serial"], first["serial"])
        self.assertIn(open(ca.certificate).read().strip(), repeat["chain"])
        self.assertNotIn(open(cert).read().strip(), repeat["chain"])
        text = x509_text(after)
        self.assertRegex(text, r"URI:http://127\.0\.0\.1:\d+/crl/2\s")
        self.assertRegex(x509_text(before), r"URI:http://127\.0\.0\.1:\d+/crl\s")
        # /ca.pem serves the active issuer's chain; /issuers.pem both issuing CAs.
        self.assertIn(open(cert).read().strip(), open(self.fetch("/ca.pem", "pem")).read())
        issuers = open(self.fetch("/issuers.pem", "pem")).read()
        self.assertIn(open(cert).read().strip(), issuers)
        self.assertIn(open(ca.certificate).read().strip(), issuers)

        # One revocation under each issuer: each lands on its own issuer's CRL only.
        numbers_before = crl_number(self.fetch("/crl.pem", "pem")), crl_number(self.fetch("/crl/2.pem", "pem"))
        self.revoke(before_serial)
        self.revoke(after_serial)
        files = self.wait_for_crls({"/crl.pem": [before_serial], "/crl/2.pem": [after_serial]})
        self.assertNotIn(after_serial, crl_serials(files["/crl.pem"]))
        self.assertNotIn(before_serial, crl_serials(files["/crl/2.pem"]))
        first_chain = self.space.write("chain-1.pem", open(ca.certificate).read() + open(ca.root_pem).read())
        second_chain = self.space.write("chain-2.pem", open(cert).read() + open(ca.root_pem).read())
        assert_crl_signed_by(files["/crl.pem"], first_chain)
        assert_crl_signed_by(files["/crl/2.pem"], second_chain)
        with self.assertRaises(AssertionError):
            assert_crl_signed_by(files["/crl/2.pem"], first_chain)
        der = self.fetch("/crl/2", "der")
        assert_crl_signed_by(der, second_chain, der=True)
        # Numbers: each sequence its own; issuer 2's started at 1 when it was activated.
        self.assertGreater(crl_number(files["/crl.pem"]), numbers_before[0])
        self.assertGreater(crl_number(files["/crl/2.pem"]), numbers_before[1])
        self.assertEqual(crl_numbers(ca, 2)[0], 1)
        self.assertEqual(crl_numbers(ca, 2), sorted(set(crl_numbers(ca, 2))))
        self.assertGreater(crl_numbers(ca, 1)[0], 0)
        crl_files = self.fetch("/crls.pem", "pem")
        self.assertEqual(open(crl_files).read().count("BEGIN X509 CRL"), 2)
        # openssl with both issuing CAs and /crls.pem refuses both revoked certificates.
        cafile = self.space.write("cafile.pem", open(ca.root_pem).read() + issuers)
        for leaf in (before, after):
            checked = run(["openssl", "verify", "-crl_check", "-CAfile", cafile, "-CRLfile", crl_files, leaf])
            self.assertIn("certificate revoked", checked.stdout + checked.stderr)
        status, _, _ = self.ca.request("GET", "/crl/9", tls=False)
        self.assertEqual(status, 404)

        listed = ca.edgeca("issuer list")
        self.assertEqual(listed.returncode, 0, listed.stderr)
        rows = {line.split()[0]: line.split() for line in listed.stdout.splitlines()[1:]}
        self.assertEqual(rows["1"][1], "publishing")
        self.assertEqual(rows["2"][1], "active")
        health = self.ca.request("GET", "/healthz")[2]
        self.assertEqual(health["issuer_id"], 2)
        metrics = self.ca.request("GET", "/metrics")[2].decode()
        self.assertRegex(metrics, r"edgeca_issuer_id\{[^}]*\} 2\n")
        # An API client whose certificate issuer 2 signed is let in by the running service.
        admin2 = ca.enroll("admin-of-issuer-2", profile="client", role="admin")
        self.assertTrue(verifies(ca.root_pem, cert, admin2[0]))
        status, _, body = ca.request("GET", "/v1/products", cert=admin2[0], key=admin2[1])
        self.assertEqual(status, 200, body)

        # An edge following the CA with edge-trust-update takes both issuers' CRLs, each checked
        # against its own issuing CA, and refuses the revoked certificate of each generation.
        trust_dir, crl_dir = self.space.path("edge-trust"), self.space.path("edge-crl")
        os.makedirs(trust_dir)
        with open(os.path.join(trust_dir, "root.pem"), "w") as f:
            f.write(open(ca.root_pem).read())
        updated = run([EDGE_TRUST_UPDATE, "--url", f"http://127.0.0.1:{ca.public_port}", "--trust-dir", trust_dir,
                       "--crl-dir", crl_dir], timeout=120)
        self.assertEqual(updated.returncode, 0, updated.stdout + updated.stderr)
        self.assertIn("installed crls.pem (2 issuing CAs)", updated.stderr)
        self.assertIn(before_serial, crl_serials(os.path.join(crl_dir, "crl.pem")))
        per_issuer = sorted(n for n in os.listdir(crl_dir) if re.fullmatch(r"crl-[0-9a-f]{16}\.pem", n))
        self.assertEqual(len(per_issuer), 2, os.listdir(crl_dir))
        installed = os.path.join(crl_dir, "crls.pem")
        self.assertEqual(open(installed).read().count("BEGIN X509 CRL"), 2)
        for leaf in (before, after):
            checked = run(["openssl", "verify", "-crl_check", "-CAfile", cafile, "-CRLfile", installed, leaf])
            self.assertIn("certificate revoked", checked.stdout + checked.stderr)
        kept = run(["openssl", "verify", "-crl_check", "-CAfile", cafile, "-CRLfile", installed, admin2[0]])
        self.assertEqual(kept.returncode, 0, kept.stdout + kept.stderr)

        # The same files served with a CRL that no issuing CA signed added to /crls.pem: that CRL
        # is refused (exit 5), the two real ones are installed.
        stranger = RootCeremony(self.space, subject="CN=Stranger CRL Root,O=elsewhere,C=CN", name="stranger-crl-root")
        forged_der = self.space.path("forged-crl.der")
        self.assertEqual(stranger.root("crl", "--dir", stranger.dir, "--out", forged_der).returncode, 0)
        forged = openssl("crl", "-inform", "DER", "-in", forged_der).stdout.encode()
        served = {}
        for path in ("/trust.pem", "/ca.pem", "/issuers.pem", "/crl", "/root.crl"):
            status, _, body = ca.request("GET", path, tls=False)
            if status == 200:
                served[path] = body
        served["/crls.pem"] = ca.request("GET", "/crls.pem", tls=False)[2] + forged
        with StaticServer(served) as server:
            forged_dir = self.space.path("edge-crl-forged")
            refused = run([EDGE_TRUST_UPDATE, "--url", server.url, "--trust-dir", trust_dir, "--crl-dir", forged_dir], timeout=120)
        self.assertEqual(refused.returncode, 5, refused.stdout + refused.stderr)
        self.assertIn("Stranger CRL Root", refused.stderr)
        self.assertEqual(open(os.path.join(forged_dir, "crls.pem")).read(), open(installed).read())

    def test_3_retire_waits_for_the_last_certificate_to_expire(self):
        ca = self.ca
        if issuer_rows(ca) == [(1, 0)]:
            self.test_2_rotation_while_serving_keeps_each_issuers_crl_its_own()
        refused = ca.edgeca("issuer retire", "--id", "2")
        self.assertExit(refused, 4, "active one")
        refused = ca.edgeca("issuer retire", "--id", "1")
        self.assertExit(refused, 4, "have not expired")
        self.assertEqual(issuer_rows(ca), [(1, 0), (2, 0)])
        # A day after issuer 1's own notAfter, every certificate it signed has expired.
        retired = ca.edgeca("issuer retire", "--id", "1", env=after_expiry_of(ca.certificate))
        self.assertEqual(retired.returncode, 0, retired.stdout + retired.stderr)
        self.assertIn("retired", retired.stdout)
        self.assertEqual(issuer_rows(ca), [(1, 1), (2, 0)])
        ca.wait_for_event("issuer_retired")
        status, _, _ = ca.request("GET", "/crl.pem", tls=False)
        self.assertEqual(status, 503)
        self.assertEqual(open(self.fetch("/crls.pem", "pem")).read().count("BEGIN X509 CRL"), 1)
        self.assertExit(ca.edgeca("issuer retire", "--id", "1"), 7, "retired")
        listed = ca.edgeca("issuer list").stdout
        self.assertRegex(listed, r"\n1\s+retired")
        audit = ca.edgeca("audit", "--verify")
        self.assertEqual(audit.returncode, 0, audit.stdout + audit.stderr)
        self.assertIn("issuer-retire", audit.stdout)
        # Issuance goes on under issuer 2.
        leaf, _, _ = self.issue_client("after-retire")
        self.assertTrue(verifies(ca.root_pem, ca.test.path("issuer-2-cert.pem"), leaf))

        # A third generation; then issuer 2, once its certificates have expired, goes with its key.
        cert3 = new_issuer(self, ca, 3)
        self.assertIn("G3", x509_text(cert3))
        activate(self, ca, cert3, 3)
        key2 = os.path.join(ca.dir, "issuers", "2", "issuer.key")
        self.assertTrue(os.path.exists(key2))
        events_before = len(ca.events())
        retired = ca.edgeca("issuer retire", "--id", "2", env=after_expiry_of(ca.test.path("issuer-2-cert.pem")))
        self.assertEqual(retired.returncode, 0, retired.stdout + retired.stderr)
        self.assertFalse(os.path.exists(key2))
        ca.wait_for_event("issuer_retired", after=events_before)
        self.assertEqual(ca.request("GET", "/crl/2", tls=False)[0], 404)
        self.assertEqual(issuer_rows(ca), [(1, 1), (2, 1), (3, 0)])
        leaf, _, _ = self.issue_client("under-issuer-3")
        self.assertTrue(verifies(ca.root_pem, cert3, leaf))
        self.assertRegex(x509_text(leaf), r"URI:http://127\.0\.0\.1:\d+/crl/3\s")

    def assertExit(self, result, code, message_part):
        self.assertEqual(result.returncode, code, result.stdout + result.stderr)
        self.assertIn(message_part, result.stderr)


class RotationUnderLoadTest(RotationMixin, TempDirTestCase):
    """Issue 14, test 4: clients issue without pause over HTTPS while the issuer is activated."""

    def test_no_request_fails_and_each_certificate_comes_from_the_issuer_active_when_asked(self):
        self.space = self
        self.ca = ca = IssuingCA(self, config=CONFIG)
        ca.start()
        cert2 = new_issuer(self, ca)
        admin_cert, admin_key = ca.admin()
        threads, per_thread = 4, 6
        csrs = [[self.make_key_and_csr(f"load-{t}-{i}", f"/CN=load-{t}-{i}")[1] for i in range(per_thread)]
                for t in range(threads)]
        results = [[] for _ in range(threads)]  # (started, status, body) in order
        stop = threading.Event()

        def client(t):
            # Each client cycles through its CSRs (a key may be certified again for its own subject)
            # until told to stop.
            for i in itertools.count():
                if stop.is_set():
                    return
                started = time.monotonic()
                try:
                    status, _, body = ca.request("POST", "/v1/certificates",
                                                 {"csr": open(csrs[t][i % per_thread]).read(), "profile": "client"},
                                                 cert=admin_cert, key=admin_key)
                except Exception as e:  # a failed connection is a failed request
                    status, body = None, repr(e)
                results[t].append((started, status, body))

        def wait_until(condition, what):
            deadline = time.monotonic() + 120
            while not condition():
                if time.monotonic() > deadline:
                    stop.set()
                    self.fail(f"{what} within 120s")
                time.sleep(0.05)

        workers = [threading.Thread(target=client, args=(t,)) for t in range(threads)]
        for w in workers:
            w.start()
        wait_until(lambda: all(len(r) >= 3 for r in results), "every client issued 3 certificates")
        activate_started = time.monotonic()
        events_before = len(ca.events())
        done = ca.edgeca("issuer activate", "--cert", cert2)
        self.assertEqual(done.returncode, 0, done.stdout + done.stderr)
        ca.wait_for_event("issuer_activated", after=events_before)
        activated_seen = time.monotonic()
        wait_until(lambda: all(sum(1 for started, _, _ in list(r) if started > activated_seen) >= 3 for r in results),
                   "every client issued 3 certificates after the switch")
        stop.set()
        for w in workers:
            w.join(timeout=120)

        failures = [(status, body) for per in results for _, status, body in per if status != 201]
        self.assertEqual(failures, [])
        first, second = [], []
        for per in results:
            generations = []
            for started, _, body in per:
                leaf = self.write(f"load-{time.monotonic_ns()}.pem", body["certificate"])
                generation = 2 if verifies(ca.root_pem, cert2, leaf) else 1 if verifies(ca.root_pem, ca.certificate, leaf) else 0
                self.assertNotEqual(generation, 0, body["certificate"])
                generations.append(generation)
                if started < activate_started:
                    self.assertEqual(generation, 1)
                if started > activated_seen:
                    self.assertEqual(generation, 2)
                (first if generation == 1 else second).append((leaf, body["serial"].lower().lstrip("0")))
            # Per client: issuer 1 until the switch, issuer 2 from then on, never back.
            self.assertEqual(generations, sorted(generations))
        self.assertTrue(first and second, (len(first), len(second)))

        # Not keyCompromise: that would revoke every certificate of the key, and the clients reuse keys.
        self.revoke(first[0][1], "superseded")
        self.revoke(second[-1][1], "superseded")
        files = self.wait_for_crls({"/crl.pem": [first[0][1]], "/crl/2.pem": [second[-1][1]]})
        self.assertEqual(crl_serials(files["/crl.pem"]), {first[0][1]})
        self.assertEqual(crl_serials(files["/crl/2.pem"]), {second[-1][1]})
        assert_crl_signed_by(files["/crl.pem"], self.write("c1.pem", open(ca.certificate).read() + open(ca.root_pem).read()))
        assert_crl_signed_by(files["/crl/2.pem"], self.write("c2.pem", open(cert2).read() + open(ca.root_pem).read()))


class RotationOnPostgresqlTest(RotationMixin, TempDirTestCase):
    """Two nodes on one PostgreSQL store: both follow an activation made on one, and each issuer's
    CRL is signed under its own lease and served alike by both."""

    def test_two_nodes_switch_together_and_serve_each_issuers_crl(self):
        from pg_support import PgCluster
        cluster = PgCluster.create(self)
        url = cluster.create_database("edgeca")
        self.space = self
        self.ca = ca = IssuingCA(self, config=CONFIG, env={"EDGECA_STORE_URL": url, "EDGECA_NODE_NAME": "ca-1"})
        ca.start()
        ca.admin()
        cert2 = new_issuer(self, ca)
        other = ca.another_node("ca-2")
        other.start()
        events_before = len(other.events())
        activate(self, ca, cert2)
        other.wait_for_event("issuer_activated", after=events_before)

        serials = []
        for node in (ca, other):
            _, csr = self.make_key_and_csr(f"pg-{node.env['EDGECA_NODE_NAME']}", "/CN=pg-client")
            status, _, body = node.request("POST", "/v1/certificates", {"csr": open(csr).read(), "profile": "client"},
                                           cert=ca.admin()[0], key=ca.admin()[1])
            self.assertEqual(status, 201, body)
            leaf = self.write(f"pg-{len(serials)}.pem", body["certificate"])
            self.assertTrue(verifies(ca.root_pem, cert2, leaf))
            serials.append(body["serial"].lower().lstrip("0"))
        self.revoke(serials[1], "superseded")
        self.wait_for_crls({"/crl/2.pem": [serials[1]]})
        deadline = time.monotonic() + 20
        while True:
            served = [node.request("GET", "/crl/2", tls=False)[2] for node in (ca, other)]
            if served[0] == served[1]:
                break
            self.assertLess(time.monotonic(), deadline, "the two nodes serve different CRLs of issuer 2")
            time.sleep(0.2)
        der = self.write("pg-crl-2.der", served[0])
        assert_crl_signed_by(der, self.write("pg-chain-2.pem", open(cert2).read() + open(ca.root_pem).read()), der=True)
        leases = cluster.psql("edgeca", "SELECT name FROM leases ORDER BY name").split()
        self.assertEqual(leases, ["crl-signer", "crl-signer/2"])
        numbers = cluster.psql("edgeca", "SELECT issuer_id || ':' || number FROM crls ORDER BY issuer_id, number").split()
        self.assertIn("2:1", numbers)
        self.assertIn("1:1", numbers)


class MosquittoOverlapTest(RotationMixin, TempDirTestCase):
    """Issue 14, test 2: a broker trusting the root and both issuing CAs, with /crls.pem as its
    crlfile: edges of both generations connect over mutual TLS 1.2, a revoked one of each is refused."""

    def test_edges_of_both_generations_connect_and_a_revoked_one_of_each_is_refused(self):
        self.space = self
        self.ca = ca = IssuingCA(self, config=CONFIG)
        ca.start()
        hub = ca.enroll("hub-1", dns="localhost")
        ca.add_product("P1")

        def edge(device_key):
            status, body, key = ca.edge_certificate(hub, device_key)
            self.assertEqual(status, 201, body)
            return self.write(f"edge-{device_key}.pem", body["certificate"]), key, body["serial"].lower().lstrip("0")

        old_kept, old_revoked = edge("SN-OLD-KEPT"), edge("SN-OLD-REVOKED")
        cert2 = new_issuer(self, ca)
        activate(self, ca, cert2)
        new_kept, new_revoked = edge("SN-NEW-KEPT"), edge("SN-NEW-REVOKED")
        self.assertTrue(verifies(ca.root_pem, cert2, new_kept[0]))
        self.assertTrue(verifies(ca.root_pem, ca.certificate, old_kept[0]))

        self.revoke(old_revoked[2])
        self.revoke(new_revoked[2])
        self.wait_for_crls({"/crl.pem": [old_revoked[2]], "/crl/2.pem": [new_revoked[2]]})
        cafile = self.write("broker-ca.pem", open(ca.root_pem).read() + open(self.fetch("/issuers.pem", "pem")).read())
        crlfile = self.fetch("/crls.pem", "pem")
        # The hub's own certificate came from issuer 1; its chain goes out with it.
        certfile = self.write("hub-chain.pem", open(hub[0]).read() + open(ca.certificate).read())
        broker = Broker(self, cafile=cafile, certfile=certfile, keyfile=hub[1], crlfile=crlfile).start()

        for (cert, key, _), name in ((old_kept, "SN-OLD-KEPT"), (new_kept, "SN-NEW-KEPT")):
            result = MqttIdentity(ca.root_pem, cert, key).publish(broker, name, f"devices/{name}/telemetry", "ping")
            self.assertEqual(result.returncode, 0, result.stdout + result.stderr + broker.log_text()[-2000:])
            self.assertEqual(broker.connected_as(name), name)
        for (cert, key, _), name in ((old_revoked, "SN-OLD-REVOKED"), (new_revoked, "SN-NEW-REVOKED")):
            log_before = broker.log_size()
            result = MqttIdentity(ca.root_pem, cert, key).publish(broker, name, f"devices/{name}/telemetry", "x")
            output = result.stdout + result.stderr
            self.assertNotEqual(result.returncode, 0, f"{name} was let in:\n{output}")
            self.assertIn("alert certificate revoked", output)
            broker.wait_for_log("certificate verify failed", timeout=5, since=log_before)
            self.assertIsNone(broker.connected_as(name))


if __name__ == "__main__":
    unittest.main()
