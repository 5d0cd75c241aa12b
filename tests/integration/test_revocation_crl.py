"""Revocation and CRLs through the real binaries: OpenSSL and GnuTLS read what edgeca publishes,
and refuse what it revoked."""
import os
import re
import signal
import sqlite3
import time
import unittest
import urllib.request

from harness import (IssuingCA, RootCeremony, SERVICE_CONFIG, SharedWorkspace, TempDirTestCase, assert_crl_signed_by,
                     binary, extension_block, openssl, run, x509_text)

CRL_CONFIG = SERVICE_CONFIG + """
[crl]
publish_delay = "2s"
validity = "24h"
refresh_before = "8h"
"""


def crl_numbers(ca):
    db = sqlite3.connect(os.path.join(ca.dir, "issuer.db"))
    try:
        return [row[0] for row in db.execute("SELECT number FROM crls ORDER BY rowid")]
    finally:
        db.close()


class CrlMixin:
    def fetch_crl(self, pem=True, tls=False):
        path = "/crl.pem" if pem else "/crl"
        status, headers, body = self.ca.request("GET", path, tls=tls)
        self.assertEqual(status, 200)
        name = self.space.write(f"crl-{time.monotonic_ns()}.{'pem' if pem else 'der'}", body)
        return name, headers

    def crl_text(self, path):
        return openssl("crl", "-in", path, "-noout", "-text").stdout

    def crl_number(self, path):
        return int(re.search(r"X509v3 CRL Number: \n\s+(\d+)", self.crl_text(path)).group(1))

    def wait_for_serial_in_crl(self, serial, deadline_seconds):
        """Polls the public CRL until `serial` is listed; a bounded loop."""
        deadline = time.monotonic() + deadline_seconds
        while time.monotonic() < deadline:
            path, _ = self.fetch_crl()
            if serial.upper() in self.crl_text(path):
                return path
            time.sleep(0.2)
        self.fail(f"{serial} did not appear in the served CRL within {deadline_seconds}s")

    def verify(self, cert, crl, *extra):
        return run(["openssl", "verify", "-crl_check", "-CAfile", self.ca.root_pem, "-untrusted", self.ca.certificate,
                    "-CRLfile", crl, *extra, cert])


class RevocationServiceTest(CrlMixin, unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.space = SharedWorkspace()
        cls.ca = IssuingCA(cls.space, config=CRL_CONFIG)
        cls.ca.start()
        cls.hub = cls.ca.enroll("hub-1")
        cls.ca.add_product("P1")

    @classmethod
    def tearDownClass(cls):
        cls.ca.stop()
        cls.space.close()

    def edge(self, device_key):
        status, body, key = self.ca.edge_certificate(self.hub, device_key)
        self.assertEqual(status, 201, body)
        return self.space.write(f"{device_key}.pem", body["certificate"]), body["serial"], key

    def revoke(self, serial, reason="keyCompromise", caller=None):
        cert, key = caller or self.hub
        return self.ca.request("POST", f"/v1/certificates/{serial}/revoke", {"reason": reason}, cert=cert, key=key)

    def test_openssl_accepts_an_edge_before_revocation_and_refuses_it_after(self):
        cert, serial, _ = self.edge("SN-R1")
        before, _ = self.fetch_crl()
        self.assertExit(self.verify(cert, before, "-purpose", "sslclient"), 0)

        status, _, record = self.revoke(serial, "keyCompromise")
        self.assertEqual(status, 200, record)
        self.assertEqual((record["status"], record["revocation_reason"]), ("revoked", "keyCompromise"))
        after = self.wait_for_serial_in_crl(serial, 10)
        result = self.verify(cert, after)
        self.assertNotEqual(result.returncode, 0)
        self.assertIn("certificate revoked", result.stdout + result.stderr)

        text = self.crl_text(after)
        self.assertIn("Version 2 (0x1)", text)
        self.assertIn("Signature Algorithm: sha256WithRSAEncryption", text)
        self.assertRegex(text, r"X509v3 Authority Key Identifier: \n\s+[0-9A-F:]{59}")
        entry = re.search(rf"Serial Number: {serial.upper()}\n\s+Revocation Date: (.*)\n\s+CRL entry extensions:\n"
                          r"\s+X509v3 CRL Reason Code: \n\s+(.*)", text)
        self.assertIsNotNone(entry, text)
        self.assertEqual(entry.group(2).strip(), "Key Compromise")
        # The CRL verifies under the issuing CA, and GnuTLS reads the same number and dates.
        assert_crl_signed_by(after, self.ca.chain_pem)
        info = run(["certtool", "--crl-info", "--infile", after]).stdout
        self.assertIn(f"CRL Number (not critical): {self.crl_number(after):02x}", info)
        self.assertRegex(info, rf"Serial Number \(hex\): {serial}")
        self.assertRegex(info, r"Issued: .*\n\s+Next at: ")
        gnutls = run(["certtool", "--verify-crl", "--load-ca-certificate", self.ca.certificate, "--infile", after])
        self.assertIn("Verified.", gnutls.stdout + gnutls.stderr)

    def test_a_revocation_reaches_a_signed_crl_within_the_configured_delay(self):
        _, serial, _ = self.edge("SN-R2")
        status, _, record = self.revoke(serial, "superseded")
        self.assertEqual(status, 200)
        crl = self.wait_for_serial_in_crl(serial, 2 + 5)
        text = self.crl_text(crl)
        this_update = re.search(r"Last Update: (.*)", text).group(1)
        revoked_at = record["revoked_at"]
        # thisUpdate - revocation time, from the CRL and the record: at most the delay + 1 s.
        import email.utils, datetime
        t_crl = datetime.datetime.strptime(this_update.strip(), "%b %d %H:%M:%S %Y %Z")
        t_rev = datetime.datetime.strptime(revoked_at, "%Y-%m-%dT%H:%M:%SZ")
        self.assertLessEqual((t_crl - t_rev).total_seconds(), 3)
        self.assertGreaterEqual((t_crl - t_rev).total_seconds(), 0)

    def test_a_burst_of_revocations_shares_one_crl(self):
        serials = [self.edge(f"SN-B{i}")[1] for i in range(10)]
        path, _ = self.fetch_crl()
        number_before = self.crl_number(path)
        for serial in serials:
            self.assertEqual(self.revoke(serial, "cessationOfOperation")[0], 200)
        crl = self.wait_for_serial_in_crl(serials[-1], 10)
        text = self.crl_text(crl)
        for serial in serials:
            self.assertIn(serial.upper(), text)
        self.assertLessEqual(self.crl_number(crl) - number_before, 2,
                             "ten revocations within the delay should share one CRL (two at a boundary)")

    def test_refusals_change_nothing(self):
        _, serial, _ = self.edge("SN-R3")
        self.assertEqual(self.revoke(serial, "superseded")[0], 200)
        status, _, body = self.revoke(serial, "keyCompromise")
        self.assertEqual((status, body["error"]["code"]), (409, "already_revoked"))
        status, _, record = self.ca.request("GET", f"/v1/certificates/{serial}", cert=self.hub[0], key=self.hub[1])
        self.assertEqual(record["revocation_reason"], "superseded")

        status, _, body = self.revoke("4f" * 16)
        self.assertEqual((status, body["error"]["code"]), (404, "certificate_not_found"))
        _, other, _ = self.edge("SN-R4")
        status, _, body = self.revoke(other, "lostIt")
        self.assertEqual((status, body["error"]["code"]), (400, "reason_invalid"))
        status, _, body = self.revoke(other, "removeFromCRL")
        self.assertEqual((status, body["error"]["code"]), (400, "reason_invalid"))
        hub2 = self.ca.enroll("hub-2")
        status, _, body = self.revoke(other, "superseded", caller=hub2)
        self.assertEqual((status, body["error"]["code"]), (404, "certificate_not_found"))
        status, _, body = self.ca.request("POST", f"/v1/certificates/{other}/revoke", {"reason": "superseded"})
        self.assertEqual((status, body["error"]["code"]), (401, "authentication_required"))
        status, _, body = self.ca.request("POST", f"/v1/certificates/{other}/revoke", {"reason": "superseded", "x": 1},
                                          cert=self.hub[0], key=self.hub[1])
        self.assertEqual((status, body["error"]["code"]), (400, "unknown_field"))
        status, _, record = self.ca.request("GET", f"/v1/certificates/{other}", cert=self.hub[0], key=self.hub[1])
        self.assertEqual(record["status"], "valid")
        # An admin may revoke what another hub requested.
        admin = self.ca.admin()
        self.assertEqual(self.revoke(other, "privilegeWithdrawn", caller=admin)[0], 200)

    def test_key_compromise_blocks_the_key_for_good(self):
        cert, serial, key = self.edge("SN-R5")
        self.assertEqual(self.revoke(serial, "keyCompromise")[0], 200)
        csr = self.space.path("reuse.csr")
        openssl("req", "-new", "-key", key, "-subj", "/CN=SN-R5", "-out", csr)
        status, _, body = self.ca.request("POST", "/v1/certificates", {"csr": open(csr).read(), "profile": "edge",
                                          "product_key": "P1", "device_key": "SN-R5"}, cert=self.hub[0], key=self.hub[1])
        self.assertEqual((status, body["error"]["code"]), (422, "key_compromised"))

    def test_an_edge_reset_revokes_every_valid_certificate_of_the_device(self):
        first, s1, _ = self.edge("SN-R6")
        status, body, _ = self.ca.edge_certificate(self.hub, "SN-R6")
        s2 = body["serial"]
        status, _, result = self.ca.request("POST", "/v1/devices/SN-R6/revoke", {"reason": "cessationOfOperation"},
                                            cert=self.hub[0], key=self.hub[1])
        self.assertEqual(status, 200, result)
        self.assertEqual(sorted(r["serial"] for r in result["revoked"]), sorted([s1, s2]))
        crl = self.wait_for_serial_in_crl(s2, 10)
        self.assertIn(s1.upper(), self.crl_text(crl))
        status, _, result = self.ca.request("POST", "/v1/devices/SN-R6/revoke", cert=self.hub[0], key=self.hub[1])
        self.assertEqual((status, result["revoked"]), (200, []))
        status, _, result = self.ca.request("POST", "/v1/devices/SN-NOPE/revoke", cert=self.hub[0], key=self.hub[1])
        self.assertEqual((status, result["error"]["code"]), (404, "device_not_found"))

    def test_crl_is_served_on_both_listeners_with_cache_headers(self):
        for tls in (False, True):
            der_path, headers = self.fetch_crl(pem=False, tls=tls)
            self.assertEqual(headers["content-type"], "application/pkix-crl")
            openssl("crl", "-inform", "DER", "-in", der_path, "-noout")
            pem_path, headers = self.fetch_crl(pem=True, tls=tls)
            self.assertTrue(open(pem_path).read().startswith("-----BEGIN X509 CRL-----"))
            self.assertRegex(headers["etag"], r'^"crl-\d+-[0-9a-f]{16}"$')
            self.assertRegex(headers["last-modified"], r"^\w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d GMT$")
            max_age = int(re.search(r"max-age=(\d+)", headers["cache-control"]).group(1))
            self.assertLessEqual(max_age, 60)
            status, _, body = self.ca.request("GET", "/crl.pem", tls=tls, headers={"If-None-Match": headers["etag"]})
            self.assertEqual((status, body), (304, b""))

    def test_certificates_point_at_the_served_crl_and_metrics_report_it(self):
        cert, _, _ = self.edge("SN-R7")
        points = extension_block(x509_text(cert))["X509v3 CRL Distribution Points"][1]
        url = re.search(r"URI:(\S+)", points).group(1)
        with urllib.request.urlopen(url, timeout=10) as response:
            self.assertEqual(response.headers["Content-Type"], "application/pkix-crl")
            der = response.read()
        crl = self.space.write("from-cdp.der", der)
        assert_crl_signed_by(crl, self.ca.chain_pem, der=True)
        status, _, text = self.ca.request("GET", "/metrics")
        text = text.decode()
        number = int(float(re.search(r"^edgeca_crl_number\{node=\"[^\"]*\"\} (\S+)$", text, re.M).group(1)))
        self.assertGreaterEqual(number, 1)
        next_update = float(re.search(r"^edgeca_crl_next_update_seconds\{node=\"[^\"]*\"\} (\S+)$", text, re.M).group(1))
        self.assertGreater(next_update, 8 * 3600)
        self.assertRegex(text, r"(?m)^edgeca_crl_entries\{node=\"[^\"]*\"\} \d")
        self.assertRegex(text, r"(?m)^edgeca_crl_age_seconds\{node=\"[^\"]*\"\} \d")

    def assertExit(self, result, code):
        self.assertEqual(result.returncode, code, result.stdout + result.stderr)


class CrlDurabilityTest(CrlMixin, TempDirTestCase):
    def test_crl_numbers_never_repeat_or_go_back_across_restarts_and_kill_9(self):
        self.space = self
        self.ca = ca = IssuingCA(self, config=CRL_CONFIG.replace('publish_delay = "2s"', 'publish_delay = "0s"'))
        ca.start()
        hub = ca.enroll("hub-1")
        ca.add_product("P1")
        seen = []
        for round_ in range(4):
            status, body, _ = ca.edge_certificate(hub, f"SN-K{round_}")
            self.assertEqual(status, 201, body)
            ca.request("POST", f"/v1/certificates/{body['serial']}/revoke", {"reason": "superseded"}, cert=hub[0], key=hub[1])
            path = self.wait_for_serial_in_crl(body["serial"], 10)
            seen.append(self.crl_number(path))
            if round_ % 2 == 0:
                ca.process.send_signal(signal.SIGKILL)
                ca.process.wait(timeout=30)
                ca.log.close()
            else:
                self.assertEqual(ca.stop(), 0)
            ca.start()
            path, _ = self.fetch_crl()
            self.assertGreaterEqual(self.crl_number(path), seen[-1], "the CRL number went back after a restart")
        numbers = crl_numbers(ca)
        self.assertEqual(numbers, sorted(set(numbers)), "CRL numbers repeated or went back in the store")
        self.assertEqual(seen, sorted(set(seen)))
        # The file on disk is the newest CRL of the store.
        disk = open(os.path.join(ca.dir, "crl", "crl.pem")).read()
        served, _ = self.fetch_crl()
        self.assertEqual(disk, open(served).read())

    def test_command_line_revocation_is_published_by_the_running_service(self):
        self.space = self
        self.ca = ca = IssuingCA(self, config=CRL_CONFIG)
        ca.start()
        hub = ca.enroll("hub-1")
        ca.add_product("P1")
        status, body, _ = ca.edge_certificate(hub, "SN-CLI")
        result = ca.edgeca("revoke", "--serial", body["serial"], "--reason", "affiliationChanged")
        self.assertExit(result, 0, "revoked")
        self.assertExit(ca.edgeca("revoke", "--serial", body["serial"], "--reason", "superseded"), 7, "was revoked")
        self.assertExit(ca.edgeca("revoke", "--serial", body["serial"], "--reason", "lost"), 3, "not an RFC 5280 reason")
        path = self.wait_for_serial_in_crl(body["serial"], 10)
        self.assertIn("Affiliation Changed", self.crl_text(path))
        # edgeca crl signs one at once, with the next number.
        before = self.crl_number(path)
        out = self.path("manual.pem")
        self.assertExit(ca.edgeca("crl", "--out", out, passphrase=True), 0)
        self.assertEqual(self.crl_number(out), before + 1)


class RootRevocationTest(CrlMixin, TempDirTestCase):
    def test_a_revoked_intermediate_is_refused_with_crl_check_all(self):
        self.space = self
        self.ca = ca = IssuingCA(self, config=CRL_CONFIG)
        ca.start()
        hub = ca.enroll("hub-1")
        ca.add_product("P1")
        status, body, _ = ca.edge_certificate(hub, "SN-ROOT")
        edge = self.write("edge.pem", body["certificate"])
        issuer_crl, _ = self.fetch_crl()
        ceremony = ca.ceremony
        root_crl = self.path("root-crl.pem")
        self.assertExit(ceremony.root("crl", "--dir", ceremony.dir, "--out", root_crl), 0)
        assert_crl_signed_by(root_crl, ca.root_pem)
        chain = ["openssl", "verify", "-crl_check_all", "-CAfile", ca.root_pem, "-untrusted", ca.certificate,
                 "-CRLfile", issuer_crl, "-CRLfile", root_crl, edge]
        self.assertEqual(run(chain).returncode, 0, run(chain).stdout)

        serial = openssl("x509", "-in", ca.certificate, "-noout", "-serial").stdout.strip().split("=")[1]
        self.assertExit(ceremony.root("revoke", "--dir", ceremony.dir, "--serial", serial, "--reason", "cACompromise"), 0)
        self.assertExit(ceremony.root("revoke", "--dir", ceremony.dir, "--serial", serial, "--reason", "superseded"), 7)
        self.assertExit(ceremony.root("revoke", "--dir", ceremony.dir, "--serial", "0badc0de", "--reason", "superseded"), 6)
        self.assertExit(ceremony.root("revoke", "--dir", ceremony.dir, "--serial", serial, "--reason", "nope"), 3)
        root_serial = openssl("x509", "-in", ca.root_pem, "-noout", "-serial").stdout.strip().split("=")[1]
        self.assertExit(ceremony.root("revoke", "--dir", ceremony.dir, "--serial", root_serial, "--reason", "superseded"), 4)
        self.assertExit(ceremony.root("crl", "--dir", ceremony.dir, "--out", root_crl, "--next-update-days", "120"), 0)
        text = self.crl_text(root_crl)
        self.assertIn("CA Compromise", text)
        self.assertEqual(self.crl_number(root_crl), 2)
        result = run(chain)
        self.assertNotEqual(result.returncode, 0)
        self.assertIn("certificate revoked", result.stdout + result.stderr)
        self.assertRegex(result.stdout + result.stderr, r"error 23 at 1 depth")
        audit = ceremony.root("audit", "--dir", ceremony.dir, "--verify", passphrase=False)
        self.assertExit(audit, 0)
        self.assertRegex(audit.stdout, r"revoke\s+ok")
        self.assertRegex(audit.stdout, r"revoke\s+refused")


class RootCrlServiceTest(CrlMixin, TempDirTestCase):
    """The root CRL the ceremony signs is installed on the issuing CA (edgeca root-crl install),
    checked against the root, served at /root.crl and /root-crl.pem, and watched for freshness."""

    def root_crl(self, name, *extra):
        out = self.path(name)
        ceremony = self.ca.ceremony
        self.assertExit(ceremony.root("crl", "--dir", ceremony.dir, "--out", out, *extra), 0)
        return out

    def installed(self):
        path = os.path.join(self.ca.dir, "root-crl.der")
        return open(path, "rb").read() if os.path.exists(path) else None

    def test_install_checks_the_crl_and_the_service_serves_and_watches_it(self):
        self.ca = ca = IssuingCA(self, config=CRL_CONFIG)
        ca.start()
        # None installed yet: a precise 503, and the metric says so.
        status, _, body = ca.request("GET", "/root.crl", tls=False)
        self.assertEqual((status, body["error"]["code"]), (503, "root_crl_unavailable"))
        self.assertRegex(self.metrics(), r"(?m)^edgeca_root_crl_number\{node=\"[^\"]*\"\} -1$")

        first = self.root_crl("first.crl")
        second = self.root_crl("second.pem")
        # Refusals change nothing: another root's CRL, a tampered one, garbage.
        # Another root of the same name: only the signature tells them apart.
        other = RootCeremony(self, name="other-root")
        foreign = self.path("foreign.crl")
        self.assertExit(other.root("crl", "--dir", other.dir, "--out", foreign), 0)
        tampered = bytearray(open(first, "rb").read())
        tampered[-1] ^= 1
        refusals = [(foreign, 3, "crl_not_by_root"), (self.write("tampered.crl", bytes(tampered)), 3, "crl_not_by_root"),
                    (self.write("junk.crl", b"not a crl"), 3, "crl_invalid")]
        for path, code, rule in refusals:
            self.assertExit(ca.edgeca("root-crl install", "--crl", path), code, rule)
            self.assertIsNone(self.installed(), path)

        self.assertExit(ca.edgeca("root-crl install", "--crl", second), 0, "root CRL 2 installed")
        # An older CRL never replaces a newer one: it would un-revoke an issuing CA.
        self.assertExit(ca.edgeca("root-crl install", "--crl", first), 7, "crl_older")
        self.assertEqual(self.installed()[:1], b"\x30")
        ca.wait_for_event("root_crl_loaded")
        status, headers, body = ca.request("GET", "/root.crl", tls=False)
        self.assertEqual((status, headers["content-type"]), (200, "application/pkix-crl"))
        self.assertEqual(body, self.installed())
        status, headers, body = ca.request("GET", "/root-crl.pem", tls=False)
        self.assertEqual(status, 200)
        self.assertEqual(body.decode(), open(second).read())
        self.assertRegex(self.metrics(), r"(?m)^edgeca_root_crl_number\{node=\"[^\"]*\"\} 2$")
        seconds = float(re.search(r"(?m)^edgeca_root_crl_next_update_seconds\{node=\"[^\"]*\"\} (\S+)$", self.metrics()).group(1))
        self.assertAlmostEqual(seconds, 90 * 86400, delta=120)
        self.assertFalse([e for e in ca.events() if e.get("event") == "root_crl_stale"])

        # A CRL a day from its nextUpdate (inside the 14-day warning) is served with a warning.
        self.assertExit(ca.edgeca("root-crl install", "--crl", self.root_crl("short.crl", "--next-update-days", "1")), 0)
        stale = ca.wait_for_event("root_crl_stale")
        self.assertEqual((stale["level"], stale["state"]), ("warning", "due_soon"))
        self.assertRegex(self.metrics(), r"(?m)^edgeca_root_crl_number\{node=\"[^\"]*\"\} 3$")
        audit = ca.edgeca("audit").stdout
        self.assertRegex(audit, r"root-crl-install\s+ok")
        self.assertRegex(audit, r"root-crl-install\s+refused")

    def metrics(self):
        status, _, body = self.ca.request("GET", "/metrics")
        self.assertEqual(status, 200)
        return body.decode()
