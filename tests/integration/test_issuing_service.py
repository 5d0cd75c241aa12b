"""The online issuing CA through the real `edgeca serve`, with curl, openssl and Python's TLS
client as callers: enrollment, device registration, edge certificates, refusals, concurrency."""
import concurrent.futures
import json
import os
import re
import socket
import sqlite3
import ssl
import subprocess
import time
import unittest

from harness import (ISSUER_PASSPHRASE, SERVICE_CONFIG, IssuingCA, RootCeremony, SharedWorkspace,
                     TempDirTestCase, binary, extension_block, openssl, run, x509_text)


class ServiceTest(unittest.TestCase):
    """One running CA shared by the tests of this class; each test makes its own callers."""

    @classmethod
    def setUpClass(cls):
        cls.space = SharedWorkspace()
        cls.ca = IssuingCA(cls.space, config=SERVICE_CONFIG)
        cls.ca.start()
        cls.hub = cls.ca.enroll("hub-1")
        cls.ca.add_product("P1")

    @classmethod
    def tearDownClass(cls):
        cls.ca.stop()
        cls.space.close()

    def curl(self, *args, cert=None, key=None):
        command = ["curl", "-sS", "--max-time", "30", "--cacert", self.ca.root_pem]
        if cert:
            command += ["--cert", cert, "--key", key]
        return run(command + list(args))

    def url(self, path):
        return f"https://127.0.0.1:{self.ca.api_port}{path}"

    def test_hub_enrolls_with_a_token_using_curl_and_openssl_accepts_it_as_a_server(self):
        token = self.ca.token("hub")
        key, csr = self.space.make_key_and_csr("curl-hub", "/CN=curl-hub", extra=["-addext", "subjectAltName=DNS:localhost"])
        body = self.space.write("curl-hub.json", json.dumps({"csr": open(csr).read(), "profile": "hub"}))
        result = self.curl("-H", f"Authorization: Bearer {token}", "-H", "Content-Type: application/json",
                           "--data-binary", f"@{body}", "-w", "\n%{http_code}", self.url("/v1/certificates"))
        payload, status = result.stdout.rsplit("\n", 1)
        self.assertEqual(status, "201", payload)
        response = json.loads(payload)
        for field in ("serial", "certificate", "chain", "not_before", "not_after"):
            self.assertIn(field, response)
        self.assertRegex(response["not_after"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
        cert = self.space.write("curl-hub.pem", response["certificate"])
        chain = self.space.write("curl-hub-chain.pem", response["chain"])
        openssl("verify", "-CAfile", self.ca.root_pem, "-untrusted", self.ca.certificate, "-purpose", "sslserver", cert)
        openssl("verify", "-CAfile", self.ca.root_pem, "-untrusted", chain, "-purpose", "sslclient", cert)
        extensions = extension_block(x509_text(cert))
        self.assertEqual(extensions["X509v3 Subject Alternative Name"], (False, "DNS:localhost"))
        self.assertEqual(extensions["X509v3 Extended Key Usage"],
                         (False, "TLS Web Server Authentication, TLS Web Client Authentication"))

        # The token is spent: a second use is refused and issues nothing.
        before = len(self.ca.serials_in_store())
        again = self.curl("-H", f"Authorization: Bearer {token}", "-H", "Content-Type: application/json",
                          "--data-binary", f"@{body}", "-w", "\n%{http_code}", self.url("/v1/certificates"))
        payload, status = again.stdout.rsplit("\n", 1)
        self.assertEqual(status, "401")
        self.assertEqual(json.loads(payload)["error"]["code"], "token_spent")
        self.assertEqual(len(self.ca.serials_in_store()), before)

        # With its new certificate the hub is a known caller.
        listed = self.curl("--cert", cert, "--key", key, self.url("/v1/certificates"))
        self.assertEqual(len(json.loads(listed.stdout)["certificates"]), 1)

    def test_hub_registers_a_device_and_gets_its_edge_certificate_bound_to_it(self):
        status, body, edge_key = self.ca.edge_certificate(self.hub, "SN-0001")
        self.assertEqual(status, 201, body)
        cert = self.space.write("edge-SN-0001.pem", body["certificate"])
        openssl("verify", "-CAfile", self.ca.root_pem, "-untrusted", self.ca.certificate, "-purpose", "sslclient", cert)
        extensions = extension_block(x509_text(cert))
        self.assertEqual(set(extensions), {"X509v3 Basic Constraints", "X509v3 Key Usage", "X509v3 Extended Key Usage",
                                           "X509v3 Subject Key Identifier", "X509v3 Authority Key Identifier",
                                           "X509v3 CRL Distribution Points", "Authority Information Access"})
        self.assertEqual(extensions["X509v3 Basic Constraints"], (True, "CA:FALSE"))
        self.assertEqual(extensions["X509v3 Key Usage"], (True, "Digital Signature, Key Encipherment"))
        self.assertEqual(extensions["X509v3 Extended Key Usage"], (False, "TLS Web Client Authentication"))
        self.assertIn(f"URI:http://127.0.0.1:{self.ca.public_port}/crl", extensions["X509v3 CRL Distribution Points"][1])
        self.assertIn(f"CA Issuers - URI:http://127.0.0.1:{self.ca.public_port}/ca.cer",
                      extensions["Authority Information Access"][1])
        # The key never left the edge: the certificate certifies the key the edge made.
        self.assertEqual(openssl("x509", "-in", cert, "-noout", "-pubkey").stdout,
                         openssl("pkey", "-in", edge_key, "-pubout").stdout)

        status, _, record = self.ca.request("GET", f"/v1/certificates/{body['serial']}", cert=self.hub[0], key=self.hub[1])
        self.assertEqual(status, 200)
        self.assertEqual((record["device_key"], record["product_key"], record["status"], record["profile"]),
                         ("SN-0001", "P1", "valid", "edge"))
        self.assertEqual(record["requester"], self.ca.principals[self.hub[0]])
        self.assertRegex(record["requester"], r"^hub:[0-9a-f]{16}$")
        shown = self.ca.edgeca("show", body["serial"])
        self.assertIn("device key:   SN-0001", shown.stdout)
        self.assertIn(body["serial"], self.ca.serials_in_store())

    def test_callers_without_a_known_certificate_are_refused(self):
        # No certificate at all.
        status, _, body = self.ca.request("GET", "/v1/certificates")
        self.assertEqual((status, body["error"]["code"]), (401, "authentication_required"))
        # A certificate of this CA that is not on the access list (an edge's).
        _, edge, edge_key = self.ca.edge_certificate(self.hub, "SN-0002")
        edge_cert = self.space.write("edge-SN-0002.pem", edge["certificate"])
        status, _, body = self.ca.request("GET", "/v1/certificates", cert=edge_cert, key=edge_key)
        self.assertEqual((status, body["error"]["code"]), (401, "certificate_not_authorized"))
        # A certificate from another CA: the TLS handshake itself fails.
        openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", self.space.path("stranger.key"),
                "-subj", "/CN=stranger", "-days", "2", "-out", self.space.path("stranger.pem"),
                "-addext", "extendedKeyUsage=clientAuth")
        result = self.curl("--cert", self.space.path("stranger.pem"), "--key", self.space.path("stranger.key"),
                           self.url("/v1/certificates"))
        self.assertNotEqual(result.returncode, 0)
        self.assertEqual(result.stdout, "")
        # A made-up token.
        status, _, body = self.ca.request("POST", "/v1/certificates", {"csr": "x", "profile": "hub"}, token="ect_madeup")
        self.assertEqual(status, 400 if body["error"]["code"].startswith("malformed") else 401, body)

    def test_unknown_token_is_refused(self):
        key, csr = self.space.make_key_and_csr("tokenless", "/CN=tokenless", extra=["-addext", "subjectAltName=DNS:localhost"])
        status, _, body = self.ca.request("POST", "/v1/certificates", {"csr": open(csr).read(), "profile": "hub"},
                                          token="ect_not-a-real-token")
        self.assertEqual((status, body["error"]["code"]), (401, "token_invalid"))

    def test_a_hub_sees_only_what_it_requested_and_an_admin_sees_all(self):
        other = self.ca.enroll("hub-2")
        status, mine, _ = self.ca.edge_certificate(self.hub, "SN-0003")
        self.assertEqual(status, 201)
        status, _, body = self.ca.request("GET", f"/v1/certificates/{mine['serial']}", cert=other[0], key=other[1])
        self.assertEqual((status, body["error"]["code"]), (404, "certificate_not_found"))
        status, _, listing = self.ca.request("GET", "/v1/certificates?device_key=SN-0003", cert=other[0], key=other[1])
        self.assertEqual(listing["certificates"], [])
        admin = self.ca.admin()
        status, _, record = self.ca.request("GET", f"/v1/certificates/{mine['serial']}", cert=admin[0], key=admin[1])
        self.assertEqual(status, 200)
        # A hub may not add products; an admin may.
        status, _, body = self.ca.request("POST", "/v1/products", {"product_key": "HUBMADE"}, cert=other[0], key=other[1])
        self.assertEqual((status, body["error"]["code"]), (403, "admin_required"))

    def test_bad_requests_get_a_precise_error_and_change_nothing(self):
        cert, key = self.hub
        self.ca.request("POST", "/v1/devices", {"product_key": "P1", "device_key": "SN-0001"}, cert=cert, key=key)
        before = len(self.ca.serials_in_store())
        _, csr = self.space.make_key_and_csr("bad-edge", "/CN=bad-edge")
        good = {"csr": open(csr).read(), "profile": "edge", "product_key": "P1", "device_key": "SN-0001"}
        cases = [
            (dict(raw=b"{not json", content_type="application/json"), 400, "malformed_json"),
            (dict(raw=b"[1,2]", content_type="application/json"), 400, "malformed_json"),
            (dict(body=good, content_type="text/plain"), 415, "unsupported_media_type"),
            (dict(body={**good, "is_ca": True}), 400, "unknown_field"),
            (dict(body={**good, "profile": "root"}), 400, "profile_unknown"),
            (dict(body={**good, "profile": "server"}), 400, "profile_unknown"),
            (dict(body={k: v for k, v in good.items() if k != "csr"}), 400, "missing_field"),
            (dict(body={**good, "validity_days": "ten"}), 400, "field_type"),
            (dict(body={**good, "csr": "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n"}), 400, "malformed_der"),
            (dict(body={**good, "csr": open(csr).read() * 2}), 400, "malformed_pem"),
            (dict(body={**good, "device_key": "SN-404"}), 404, "device_not_found"),
            (dict(body={**good, "validity_days": 5000}), 422, "validity_too_long"),
            (dict(raw=b"{" + b"\"a\":" * 40 + b"1" + b"}" * 40, content_type="application/json"), 400, "malformed_json"),
            (dict(raw=b"{\"csr\": \"" + b"A" * 70000 + b"\"}", content_type="application/json"), 413, "body_too_large"),
            # Bytes that are not UTF-8, quoted back in the message (fuzzing found these as 500s).
            (dict(raw=b"{\"csr\": \"\xff\xfe\"}", content_type="application/json"), 400, "malformed_json"),
            (dict(raw=b"{\"" + b"x" * 63 + "\u00e9".encode() + b"\": 1}", content_type="application/json"), 400, "unknown_field"),
        ]
        for kwargs, status, code in cases:
            with self.subTest(code=code, status=status):
                got, _, body = self.ca.request("POST", "/v1/certificates", cert=cert, key=key, **kwargs)
                self.assertEqual((got, body["error"]["code"]), (status, code), body)
                self.assertTrue(body["error"]["message"])
        self.assertEqual(len(self.ca.serials_in_store()), before)

    def test_policy_refusals_are_422_with_the_rule(self):
        cert, key = self.hub
        self.ca.request("POST", "/v1/devices", {"product_key": "P1", "device_key": "SN-POLICY"}, cert=cert, key=key)
        _, weak = self.space.make_key_and_csr("weak", "/CN=weak", newkey="rsa:1024")
        status, _, body = self.ca.request("POST", "/v1/certificates", {"csr": open(weak).read(), "profile": "edge",
                                          "product_key": "P1", "device_key": "SN-POLICY"}, cert=cert, key=key)
        self.assertEqual((status, body["error"]["code"]), (422, "key_size_not_2048"))
        _, outside = self.space.make_key_and_csr("outside", "/CN=outside", extra=["-addext", "subjectAltName=DNS:mqtt.evil.example"])
        status, _, body = self.ca.request("POST", "/v1/certificates", {"csr": open(outside).read(), "profile": "hub"},
                                          cert=cert, key=key)
        self.assertEqual((status, body["error"]["code"]), (422, "dns_name_not_allowed"))
        self.assertIn("mqtt.evil.example", body["error"]["message"])

    def test_idempotency_key_returns_the_same_certificate(self):
        cert, key = self.hub
        self.ca.request("POST", "/v1/devices", {"product_key": "P1", "device_key": "SN-IDEM"}, cert=cert, key=key)
        _, csr = self.space.make_key_and_csr("idem", "/CN=SN-IDEM")
        body = {"csr": open(csr).read(), "profile": "edge", "product_key": "P1", "device_key": "SN-IDEM"}
        headers = {"Idempotency-Key": "order-42"}
        first = self.ca.request("POST", "/v1/certificates", body, cert=cert, key=key, headers=headers)
        second = self.ca.request("POST", "/v1/certificates", body, cert=cert, key=key, headers=headers)
        self.assertEqual((first[0], second[0]), (201, 201))
        self.assertEqual(first[2]["serial"], second[2]["serial"])
        self.assertEqual(second[1].get("idempotent-replayed"), "true")
        third = self.ca.request("POST", "/v1/certificates", {**body, "validity_days": 30}, cert=cert, key=key, headers=headers)
        self.assertEqual((third[0], third[2]["error"]["code"]), (409, "idempotency_key_reused"))

    def test_eight_clients_times_fifty_requests_give_400_distinct_recorded_serials(self):
        cert, key = self.hub
        self.ca.request("POST", "/v1/devices", {"product_key": "P1", "device_key": "SN-LOAD"}, cert=cert, key=key)
        _, csr = self.space.make_key_and_csr("load", "/CN=SN-LOAD")
        body = json.dumps({"csr": open(csr).read(), "profile": "edge", "product_key": "P1", "device_key": "SN-LOAD"})

        def client(_):
            import http.client
            conn = http.client.HTTPSConnection("127.0.0.1", self.ca.api_port, context=self.ca.context(cert, key), timeout=60)
            serials = []
            for _ in range(50):
                conn.request("POST", "/v1/certificates", body=body, headers={"Content-Type": "application/json"})
                response = conn.getresponse()
                payload = json.loads(response.read())
                assert response.status == 201, payload
                serials.append(payload["serial"])
            conn.close()
            return serials

        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            results = list(pool.map(client, range(8)))
        serials = [s for r in results for s in r]
        self.assertEqual(len(serials), 400)
        self.assertEqual(len(set(serials)), 400)
        stored = set(self.ca.serials_in_store())
        self.assertTrue(set(serials) <= stored, "a returned certificate is missing from the store")

    def test_public_listener_serves_downloads_only(self):
        status, headers, chain = self.ca.request("GET", "/ca.pem", tls=False)
        self.assertEqual(status, 200)
        self.assertEqual(chain.decode().count("BEGIN CERTIFICATE"), 2)
        status, headers, der = self.ca.request("GET", "/ca.cer", tls=False)
        self.assertEqual((status, headers["content-type"]), (200, "application/pkix-cert"))
        self.assertIn(b"Test-only Issuing CA", der)
        for path in ("/v1/certificates", "/healthz", "/metrics", "/v1/devices"):
            status, _, _ = self.ca.request("GET", path, tls=False)
            self.assertEqual(status, 404, path)

    def test_healthz_and_metrics(self):
        status, _, health = self.ca.request("GET", "/healthz")
        self.assertEqual((status, health["status"], health["store"]), (200, "ok", "sqlite"))
        self.assertTrue(health["node"])
        _, csr = self.space.make_key_and_csr("metrics-weak", "/CN=m", newkey="rsa:1024")
        self.ca.request("POST", "/v1/certificates", {"csr": open(csr).read(), "profile": "client"},
                        cert=self.hub[0], key=self.hub[1])
        status, _, text = self.ca.request("GET", "/metrics")
        text = text.decode()
        self.assertEqual(status, 200)
        issued = int(re.search(r'edgeca_certificates_issued_total\{node="[^"]+",profile="hub"\} (\d+)', text).group(1))
        self.assertGreaterEqual(issued, 1)
        self.assertRegex(text, r'edgeca_issuance_refusals_total\{node="[^"]+",reason="key_size_not_2048"\} [1-9]')
        self.assertRegex(text, r"edgeca_issuance_duration_seconds_count\{node=\"[^\"]*\"\} [1-9]")

    def test_server_sends_its_chain_for_localhost_and_127_0_0_1_and_refuses_tls_1_1(self):
        result = run(["openssl", "s_client", "-connect", f"127.0.0.1:{self.ca.api_port}", "-showcerts",
                      "-CAfile", self.ca.root_pem, "-verify_return_error", "-verify_hostname", "localhost"],
                     input="", timeout=30)
        self.assertIn("Verify return code: 0 (ok)", result.stdout)
        self.assertEqual(result.stdout.count("BEGIN CERTIFICATE"), 2, "the server must send its certificate and the issuing CA")
        served = re.search(r"(-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----)", result.stdout, re.S).group(1)
        extensions = extension_block(x509_text(self.space.write("served.pem", served)))
        self.assertEqual(extensions["X509v3 Subject Alternative Name"][1], "DNS:localhost, IP Address:127.0.0.1")
        self.assertEqual(extensions["X509v3 Extended Key Usage"][1], "TLS Web Server Authentication")
        old = run(["openssl", "s_client", "-connect", f"127.0.0.1:{self.ca.api_port}", "-tls1_1",
                   "-CAfile", self.ca.root_pem], input="", timeout=30)
        self.assertNotEqual(old.returncode, 0)
        self.assertIn("no peer certificate available", old.stdout)
        self.assertIn("Cipher is (NONE)", old.stdout)

    def test_a_reconnecting_client_resumes_its_tls_session_and_stays_who_it_is(self):
        # A hub that reconnects skips the full handshake (no certificate chain sent or checked
        # again) and is still served as the hub its client certificate named, with each
        # protocol version the service speaks; once that certificate is revoked, a resumed
        # session is refused like a new one.
        cert, key = self.ca.enroll("hub-resuming")
        request = "GET /v1/certificates HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"

        def s_client(version, session, resume):
            result = run(["openssl", "s_client", "-connect", f"127.0.0.1:{self.ca.api_port}", version,
                          "-CAfile", self.ca.root_pem, "-verify_return_error", "-cert", cert, "-key", key,
                          resume, session, "-ign_eof"], input=request, timeout=30)
            return result.stdout

        for version in ("-tls1_2", "-tls1_3"):
            session = self.space.path(f"session{version}.pem")
            first, again = s_client(version, session, "-sess_out"), s_client(version, session, "-sess_in")
            self.assertIn("New,", first, version)
            self.assertIn("Reused,", again, version)
            for output in (first, again):
                self.assertIn("HTTP/1.1 200", output, version)
                # The hub's own certificate, listed to it as its owner.
                self.assertEqual(output.count('"serial":'), 1, output)
        serial = openssl("x509", "-in", cert, "-noout", "-serial").stdout.strip().split("=")[1].lower()
        admin_cert, admin_key = self.ca.admin()
        status, _, body = self.ca.request("POST", f"/v1/certificates/{serial}/revoke", {"reason": "superseded"},
                                          cert=admin_cert, key=admin_key)
        self.assertEqual(status, 200, body)
        revoked = s_client("-tls1_3", self.space.path("session-tls1_3.pem"), "-sess_in")
        self.assertIn("Reused,", revoked)
        self.assertIn("HTTP/1.1 401", revoked)

    def test_request_log_is_json_and_never_holds_secrets(self):
        token = self.ca.token("hub")
        self.ca.request("POST", "/v1/certificates", {"csr": "x", "profile": "hub"}, token=token)
        time.sleep(0.2)
        with open(self.ca.log_path) as f:
            text = f.read()
        for line in text.splitlines():
            json.loads(line)
        self.assertNotIn(token, text)
        self.assertNotIn(token[4:], text)
        self.assertNotIn(ISSUER_PASSPHRASE, text)
        requests = [e for e in self.ca.events() if e.get("event") == "request"]
        self.assertTrue(all({"method", "path", "status", "ms", "caller"} <= set(e) for e in requests))


class ServiceLifecycleTest(TempDirTestCase):
    def test_sigterm_lets_requests_in_flight_finish_and_closes_cleanly(self):
        ca = IssuingCA(self, config=SERVICE_CONFIG)
        ca.start()
        hub = ca.enroll("hub-1")
        ca.add_product("P1")
        ca.request("POST", "/v1/devices", {"product_key": "P1", "device_key": "SN-1"}, cert=hub[0], key=hub[1])
        _, csr = self.make_key_and_csr("edge", "/CN=SN-1")
        body = json.dumps({"csr": open(csr).read(), "profile": "edge", "product_key": "P1", "device_key": "SN-1"})
        received = []
        errors = []

        def client():
            import http.client
            for _ in range(200):
                try:
                    conn = http.client.HTTPSConnection("127.0.0.1", ca.api_port, context=ca.context(*hub), timeout=30)
                    conn.request("POST", "/v1/certificates", body=body, headers={"Content-Type": "application/json"})
                    response = conn.getresponse()
                    payload = response.read()
                    conn.close()
                except (OSError, ssl.SSLError, http.client.HTTPException) as e:
                    errors.append(e)
                    return
                if response.status == 201:
                    received.append(json.loads(payload)["serial"])

        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            futures = [pool.submit(client) for _ in range(4)]
            time.sleep(1.0)
            code = ca.stop()
            for f in futures:
                f.result(timeout=60)
        self.assertEqual(code, 0)
        self.assertGreater(len(received), 0)
        stored = set(ca.serials_in_store())
        self.assertTrue(set(received) <= stored, "a certificate returned before shutdown is missing")
        events = [e["event"] for e in ca.events()]
        self.assertIn("stopping", events)
        self.assertEqual(events[-1], "stopped")
        db = sqlite3.connect(os.path.join(ca.dir, "issuer.db"))
        self.assertEqual(db.execute("PRAGMA integrity_check").fetchone()[0], "ok")
        db.close()

    def test_restart_keeps_the_service_certificate_and_refuses_a_wrong_passphrase(self):
        ca = IssuingCA(self)
        ca.start()
        first = ca.listening["tls_certificate"]
        self.assertEqual(ca.stop(), 0)
        ca.start()
        self.assertEqual(ca.listening["tls_certificate"], first)
        self.assertEqual(ca.stop(), 0)
        wrong = self.write("wrong.pass", "not the passphrase\n")
        result = run([binary("edgeca"), "serve", "--dir", ca.dir, "--passphrase-file", wrong,
                      "--listen", "127.0.0.1:0", "--public-listen", "127.0.0.1:0"], timeout=60)
        self.assertExit(result, 5, "passphrase does not open")
        self.assertNotIn("not the passphrase", result.stdout + result.stderr)

    def test_new_host_names_get_a_new_service_certificate(self):
        ca = IssuingCA(self)
        ca.start()
        first = ca.listening["tls_certificate"]
        ca.stop()
        ca.start("--hostname", "localhost", "--hostname", "127.0.0.1", "--hostname", "ca.test.example")
        self.assertNotEqual(ca.listening["tls_certificate"], first)
        result = run(["openssl", "s_client", "-connect", f"127.0.0.1:{ca.api_port}", "-CAfile", ca.root_pem,
                      "-verify_return_error", "-verify_hostname", "ca.test.example"], input="", timeout=30)
        self.assertIn("Verify return code: 0 (ok)", result.stdout)

    def test_every_thread_runs_under_the_configured_scheduling_policy(self):
        def policies(process):
            self.assertEqual(ca.request("GET", "/healthz")[0], 200)  # a worker has served a request
            found = {}
            for tid in os.listdir(f"/proc/{process.pid}/task"):
                try:
                    found[int(tid)] = os.sched_getscheduler(int(tid)) & ~os.SCHED_RESET_ON_FORK
                except ProcessLookupError:
                    pass
            self.assertGreater(len(found), 4, "the listeners' workers, the maintenance and signal threads")
            return set(found.values())

        def serve(scheduling, wrapper=()):
            with open(settings, "w") as f:  # before the file's first [table]
                f.write((f'scheduling = "{scheduling}"\n' if scheduling else "") + written)
            process = ca.start(wrapper=wrapper)
            self.addCleanup(ca.stop)  # a clean stop even when an assertion below fails
            return process

        ca = IssuingCA(self)
        settings = os.path.join(ca.dir, "edgeca.toml")
        written = open(settings).read()
        runner = os.sched_getscheduler(0) & ~os.SCHED_RESET_ON_FORK
        cases = [  # (scheduling, started with, in force)
            (None, (), runner), (None, ["chrt", "--batch", "0"], os.SCHED_BATCH),
            ("batch", (), os.SCHED_BATCH), ("normal", ["chrt", "--batch", "0"], os.SCHED_OTHER),
            ("batch", ["chrt", "--reset-on-fork", "--other", "0"], os.SCHED_BATCH),
        ]
        names = {os.SCHED_OTHER: "normal", os.SCHED_BATCH: "batch"}
        for scheduling, wrapper, expected in cases:
            with self.subTest(scheduling=scheduling, started_with=wrapper):
                process = serve(scheduling, wrapper)
                self.assertEqual(ca.listening["scheduling"], names[expected])
                self.assertEqual(policies(process), {expected})
                self.assertNotIn("scheduling_unchanged", [e["event"] for e in ca.events()[ca.events_before_start:]])
                self.assertEqual(ca.stop(), 0)
        # An idle or real-time policy the service was started with stays: test_config.cpp (a
        # service under SCHED_IDLE may wait minutes for a CPU on a busy machine).

        with open(settings, "w") as f:
            f.write('scheduling = "fast"\n' + written)
        result = run([binary("edgeca"), "serve", "--dir", ca.dir, "--passphrase-file", ca.passphrase_file], timeout=60)
        self.assertExit(result, 3, 'must be "batch" or "normal"')

    def test_a_taken_port_or_bad_settings_fail_with_a_clear_message(self):
        ca = IssuingCA(self, config='unknown_key = 1\n')
        result = run([binary("edgeca"), "serve", "--dir", ca.dir, "--passphrase-file", ca.passphrase_file], timeout=60)
        self.assertExit(result, 3, "'unknown_key' is not a setting")
        with open(os.path.join(ca.dir, "edgeca.toml"), "w") as f:
            f.write("[profiles.edge]\nmax_validity_days = \"many\"\n")
        result = run([binary("edgeca"), "serve", "--dir", ca.dir, "--passphrase-file", ca.passphrase_file], timeout=60)
        self.assertExit(result, 3, "must be an integer")
        os.remove(os.path.join(ca.dir, "edgeca.toml"))
        busy = socket.socket()
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        result = run([binary("edgeca"), "serve", "--dir", ca.dir, "--passphrase-file", ca.passphrase_file,
                      "--listen", f"127.0.0.1:{port}", "--public-listen", "127.0.0.1:0"], timeout=60)
        busy.close()
        self.assertExit(result, 8, f"cannot listen on 127.0.0.1:{port}")


class IssuerSetupTest(TempDirTestCase):
    def test_init_refuses_an_existing_issuer_and_serve_refuses_before_install(self):
        root = RootCeremony(self)
        result = run([binary("edgeca"), "init", "--dir", self.path("issuer"), "--subject", "CN=Issuing"],
                     env={"EDGECA_PASSPHRASE": ISSUER_PASSPHRASE})
        self.assertExit(result, 0)
        self.assertEqual(oct(os.stat(self.path("issuer", "issuer.key")).st_mode & 0o777), "0o600")
        structure = openssl("asn1parse", "-in", self.path("issuer", "issuer.key")).stdout
        self.assertIn("PBES2", structure)
        again = run([binary("edgeca"), "init", "--dir", self.path("issuer"), "--subject", "CN=Other"],
                    env={"EDGECA_PASSPHRASE": ISSUER_PASSPHRASE})
        self.assertExit(again, 7, "already holds an issuing CA")
        serve = run([binary("edgeca"), "serve", "--dir", self.path("issuer")], env={"EDGECA_PASSPHRASE": ISSUER_PASSPHRASE})
        self.assertExit(serve, 6, "edgeca install")
        del root

    def test_install_refuses_a_certificate_for_another_key_or_from_another_root(self):
        ceremony = RootCeremony(self)
        run([binary("edgeca"), "init", "--dir", self.path("issuer"), "--subject", "CN=Issuing"],
            env={"EDGECA_PASSPHRASE": ISSUER_PASSPHRASE}, check=True)
        # A certificate the root made for some other key.
        _, other_csr = self.make_key_and_csr("other", "/CN=Other CA")
        self.assertExit(ceremony.sign_intermediate(other_csr, self.path("other.pem")), 0)
        result = run([binary("edgeca"), "install", "--dir", self.path("issuer"), "--cert", self.path("other.pem"),
                      "--root", ceremony.certificate])
        self.assertExit(result, 4, "does not certify this issuing CA's key")
        # The right key, but signed by an OpenSSL root with pathlen 1.
        openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", self.path("o-root.key"),
                "-subj", "/CN=OpenSSL Root", "-days", "30", "-out", self.path("o-root.pem"))
        self.write("ext.cnf", "basicConstraints=critical,CA:TRUE,pathlen:1\nkeyUsage=critical,keyCertSign,cRLSign\n")
        openssl("x509", "-req", "-in", self.path("issuer", "issuer.csr"), "-CA", self.path("o-root.pem"),
                "-CAkey", self.path("o-root.key"), "-CAcreateserial", "-days", "10", "-extfile", self.path("ext.cnf"),
                "-out", self.path("pathlen1.pem"))
        result = run([binary("edgeca"), "install", "--dir", self.path("issuer"), "--cert", self.path("pathlen1.pem"),
                      "--root", self.path("o-root.pem")])
        self.assertExit(result, 4, "path length to 0")
        # The right certificate with the wrong root.
        self.assertExit(ceremony.sign_intermediate(self.path("issuer", "issuer.csr"), self.path("good.pem")), 0)
        result = run([binary("edgeca"), "install", "--dir", self.path("issuer"), "--cert", self.path("good.pem"),
                      "--root", self.path("o-root.pem")])
        self.assertExit(result, 4, "not by the root")
        self.assertFalse(os.path.exists(self.path("issuer", "issuer.pem")))
        audit = run([binary("edgeca"), "audit", "--dir", self.path("issuer"), "--verify"])
        self.assertExit(audit, 0)
        self.assertEqual(audit.stdout.count("install"), 3)
        self.assertExit(run([binary("edgeca"), "install", "--dir", self.path("issuer"), "--cert", self.path("good.pem"),
                             "--root", ceremony.certificate]), 0)


class CommandLineIssuanceTest(TempDirTestCase):
    def test_issue_list_show_and_audit_without_the_service(self):
        ca = IssuingCA(self)
        self.assertExit(ca.edgeca("product add", "--product-key", "P1", "--max-validity-days", "100"), 0)
        self.assertExit(ca.edgeca("device add", "--product-key", "P1", "--device-key", "SN-9"), 0)
        self.assertExit(ca.edgeca("device add", "--product-key", "P1", "--device-key", "SN-9"), 7, "already registered")
        self.assertExit(ca.edgeca("device add", "--product-key", "NOPE", "--device-key", "SN-10"), 6, "does not exist")
        _, csr = self.make_key_and_csr("edge", "/CN=SN-9")
        out = self.path("edge.pem")
        result = ca.edgeca("issue", "--csr", csr, "--profile", "edge", "--product-key", "P1", "--device-key", "SN-9",
                           "--out", out, passphrase=True)
        self.assertExit(result, 0)
        openssl("verify", "-CAfile", ca.root_pem, "-untrusted", ca.certificate, "-purpose", "sslclient", out)
        days = openssl("x509", "-in", out, "-noout", "-enddate").stdout
        too_long = ca.edgeca("issue", "--csr", csr, "--profile", "edge", "--product-key", "P1", "--device-key", "SN-9",
                             "--validity-days", "101", passphrase=True)
        self.assertExit(too_long, 4, "more than the 100 days")
        listing = ca.edgeca("list", "--device-key", "SN-9")
        self.assertEqual(len(listing.stdout.strip().splitlines()), 2)
        serial = listing.stdout.splitlines()[1].split()[0]
        self.assertIn("device key:   SN-9", ca.edgeca("show", serial).stdout)
        audit = ca.edgeca("audit", "--verify")
        self.assertExit(audit, 0, "audit chain intact")
        self.assertRegex(audit.stdout, r"issue\s+ok\s+serial=" + serial)
        self.assertRegex(audit.stdout, r"issue\s+refused.*validity_too_long")
        self.assertIn("notAfter", days)

    def test_access_list_grant_and_revoke_take_effect_at_once(self):
        ca = IssuingCA(self, config=SERVICE_CONFIG)
        ca.start()
        hub = ca.enroll("hub-1")
        status, _, _ = ca.request("GET", "/v1/certificates", cert=hub[0], key=hub[1])
        self.assertEqual(status, 200)
        self.assertExit(ca.edgeca("access revoke", "--cert", hub[0]), 0)
        status, _, body = ca.request("GET", "/v1/certificates", cert=hub[0], key=hub[1])
        self.assertEqual((status, body["error"]["code"]), (401, "certificate_not_authorized"))
        self.assertExit(ca.edgeca("access grant", "--cert", hub[0], "--role", "hub", "--name", "hub-1"), 0)
        status, _, _ = ca.request("GET", "/v1/certificates", cert=hub[0], key=hub[1])
        self.assertEqual(status, 200)
        listing = ca.edgeca("access list")
        self.assertIn("hub:hub-1", listing.stdout)


class HelpTest(TempDirTestCase):
    def test_edgeca_help_lists_its_subcommands(self):
        result = run([binary("edgeca"), "--help"])
        self.assertExit(result, 0)
        for word in ("init", "install", "serve", "issue", "list", "show", "audit", "token", "device",
                     "product", "access", "Exit codes", "EDGECA_PASSPHRASE"):
            self.assertIn(word, result.stdout)
        self.assertExit(run([binary("edgeca"), "serve", "--help"]), 0, "--listen")
