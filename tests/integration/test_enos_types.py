"""The EnOS surface as the official SDKs decode it: every answer is decoded by a Go program into
structs whose field types are the EnOS SDK's and documentation's (tests/integration/enos_sdk/
decode.go: a field of another type, an unknown field or a missing one fails the decoding), and
issuer and subject are compared with what Java's X500Principal prints. Also the request rules
real EnOS clients rely on: unknown body fields ignored, certSn as a string, the public endpoints
without the algorithm, and the same signed call repeated within a second."""
import atexit
import json
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
import unittest

from enos_client import EnosClient
from harness import IssuingCA, SharedWorkspace, TempDirTestCase, faketime_env, openssl, run
from test_enos_compat import ENOS_CONFIG, ORG, EnosTestBase, certificate_count

HERE = os.path.dirname(os.path.abspath(__file__))
_decoder = {}


def sdk_decoder():
    """The Go decoder, built once per run with the Go toolchain (golang-go)."""
    if "path" not in _decoder:
        if shutil.which("go") is None:
            raise AssertionError("the Go toolchain (Debian's golang-go) is needed to decode as the Go SDK does; "
                                 "scripts/install-deps.sh installs it")
        out = tempfile.mkdtemp(prefix="edgeca-go-")
        # The build cache and the binary (a few MB) go with the run that made them.
        atexit.register(shutil.rmtree, out, True)
        env = {"GOCACHE": os.path.join(out, "cache"), "GOPATH": os.path.join(out, "gopath"), "GOFLAGS": "-mod=mod",
               "GO111MODULE": "off", "CGO_ENABLED": "0", "HOME": out}
        built = run(["go", "build", "-o", os.path.join(out, "decode"), os.path.join(HERE, "enos_sdk", "decode.go")],
                    env=env, timeout=300)
        if built.returncode != 0:
            raise AssertionError(f"go build of the SDK decoder failed:\n{built.stdout}\n{built.stderr}")
        _decoder["path"] = os.path.join(out, "decode")
    return _decoder["path"]


def decode(kind, answer):
    """Decodes `answer` (the JSON text, or a parsed answer) as the Go SDK would; returns the
    decoded struct as a dict, or raises with the decoder's error."""
    text = answer if isinstance(answer, str) else json.dumps(answer)
    result = subprocess.run([sdk_decoder(), kind], input=text, capture_output=True, text=True, timeout=30)
    if result.returncode != 0:
        raise AssertionError(f"the Go SDK types refuse this {kind} answer: {result.stderr.strip()}\n{text[:2000]}")
    return json.loads(result.stdout)


def java_principals(cert_path):
    """Subject and issuer as Java's X500Principal.toString() prints them."""
    if shutil.which("java") is None:
        raise AssertionError("java (Debian's default-jdk-headless) is needed to compare with Java's DN form")
    result = run(["java", os.path.join(HERE, "enos_sdk", "JavaPrincipals.java"), cert_path], timeout=120)
    if result.returncode != 0:
        raise AssertionError(f"JavaPrincipals failed: {result.stderr}")
    subject, issuer = result.stdout.rstrip("\n").split("\n")
    return subject, issuer


class RawClient(EnosClient):
    """An EnosClient whose answers come back as the raw text as well."""

    def _post(self, path, body_text, headers):
        import http.client
        conn = http.client.HTTPSConnection(self.host, self.port, context=self.context, timeout=60)
        try:
            conn.request("POST" if body_text is not None else "GET", path, body=body_text, headers=headers)
            response = conn.getresponse()
            self.last_text = response.read().decode()
            return response.status, json.loads(self.last_text or "null")
        finally:
            conn.close()


class EnosTypedAnswersTest(EnosTestBase):
    def client(self):
        client = RawClient("127.0.0.1", self.ca.api_port, self.ca.root_pem, self.app_key, self.app_secret)
        status, answer = client.get_token()
        self.assertEqual((status, answer["status"]), (200, 0), answer)
        token = decode("token", client.last_text)
        self.assertEqual((token["data"]["expire"], token["business"]), (7200, "apim-token-service"))
        return client

    def test_apply_renew_revoke_list_decode_into_the_sdk_types(self):
        client = self.client()
        self.register("SN-T1")
        _, csr = self.csr("edge-t1")

        client.certificates("apply", self.device("SN-T1"), {"csr": csr, "validDay": 100})
        applied = decode("apply", client.last_text)
        self.assertEqual(applied["code"], 0, applied)
        self.assertRegex(applied["data"]["certSN"], r"^[0-9]+$")
        self.assertEqual(applied["data"]["issueAuthority"], "RSA")
        self.assertIn("BEGIN CERTIFICATE", applied["data"]["caCert"])
        first_sn = applied["data"]["certSN"]

        # Renew without a CSR (the same key again), then with one (a new key).
        client.certificates("renew", self.device("SN-T1"), {"certSn": first_sn})
        renewed = decode("renew", client.last_text)
        self.assertEqual(renewed["code"], 0, renewed)
        self.assertRegex(renewed["data"]["certSN"], r"^[0-9]+$")
        self.assertNotEqual(renewed["data"]["certSN"], first_sn)
        _, new_csr = self.csr("edge-t1-new", cn="edge-t1")
        client.certificates("renew", self.device("SN-T1"), {"certSn": int(renewed["data"]["certSN"]), "csr": new_csr})
        rekeyed = decode("renew", client.last_text)
        self.assertEqual(rekeyed["code"], 0, rekeyed)

        client.certificates("revoke", self.device("SN-T1"), {"certSn": int(first_sn), "reason": 4})
        revoked = decode("revoke", client.last_text)
        self.assertEqual((revoked["code"], revoked["msg"]), (0, "OK"))

        client.certificates("list", self.device("SN-T1"))
        listed = decode("list", client.last_text)
        self.assertEqual(listed["code"], 0)
        items = {item["certSN"]: item for item in listed["data"]}
        self.assertEqual(set(items), {first_sn, renewed["data"]["certSN"], rekeyed["data"]["certSN"]})

        gone, live = items[first_sn], items[renewed["data"]["certSN"]]
        self.assertEqual((gone["certStatus"], gone["revoker"], gone["revokerReason"]), (1, "app:hub-app", "SUPERSEDED"))
        self.assertEqual((live["certStatus"], live["revoker"], live["revokerReason"]), (0, "", ""))
        for item in items.values():
            self.assertTrue(item["isEnosCert"])
            self.assertEqual(item["issueAuthority"], "RSA")
            self.assertEqual(item["audit"]["ns"], ORG)
            self.assertEqual(item["audit"]["createBy"], "app:hub-app")
            self.assertFalse(item["audit"]["deleted"])
            self.assertEqual(item["audit"]["createTime"], item["signDate"])
            self.assertLessEqual(item["effetiveDate"], item["signDate"])
            self.assertGreater(item["expireDate"], item["effetiveDate"])
        self.assertGreaterEqual(gone["audit"]["updateTime"], gone["audit"]["createTime"])
        self.assertEqual(gone["audit"]["updateBy"], "app:hub-app")
        self.assertEqual(round((live["expireDate"] - live["effetiveDate"]) / 86400000), 730)

        # issuer and subject are Java's X500Principal form of the certificate itself.
        cert = self.space.write("t1.pem", live["cert"])
        subject, issuer = java_principals(cert)
        self.assertEqual((live["subject"], live["issuer"]), (subject, issuer))
        self.assertEqual(live["issuer"], "CN=Test-only Issuing CA, O=edgeca tests, C=CN")
        self.assertEqual(live["subject"], "CN=edge-t1, OU=IoT, O=Acme, L=Shanghai, ST=Shanghai, C=CN")

    def test_subjects_with_special_characters_print_as_java_prints_them(self):
        client = self.client()
        self.register("SN-T6")
        # Java quotes values with , + = < > # ; " \ or doubled spaces, and escapes " and \.
        key, csr = self.space.make_key_and_csr("edge-t6", '/C=CN/O=Acme\\, "Labs"/OU=a  b/L=x\\+y=z;w/CN=edge t6 #1')
        client.certificates("apply", self.device("SN-T6"), {"csr": open(csr).read()})
        self.assertEqual(decode("apply", client.last_text)["code"], 0, client.last_text)
        client.certificates("list", self.device("SN-T6"))
        item = decode("list", client.last_text)["data"][0]
        subject, issuer = java_principals(self.space.write("t6.pem", item["cert"]))
        self.assertEqual((item["subject"], item["issuer"]), (subject, issuer))
        self.assertIn('"', item["subject"])  # the case is exercised: Java quoted something

    def test_revoked_items_name_each_enos_reason(self):
        client = self.client()
        self.register("SN-T2")
        names = {0: "UNSPECIFIED", 1: "KEY COMPROMISE", 3: "AFFILIATION CHANGED", 4: "SUPERSEDED",
                 5: "CESSATION OF OPERATION", 6: "CERTIFICATE HOLD", 9: "PRIVILEGE WITHDRAWN"}
        expected = {}
        for reason, name in names.items():
            _, csr = self.csr(f"edge-t2-{reason}")  # a key of its own: keyCompromise revokes its key's certificates
            client.certificates("apply", self.device("SN-T2"), {"csr": csr})
            applied = decode("apply", client.last_text)
            self.assertEqual(applied["code"], 0, applied)
            client.certificates("revoke", self.device("SN-T2"), {"certSn": applied["data"]["certSN"], "reason": reason})
            self.assertEqual(decode("revoke", client.last_text)["code"], 0)
            expected[applied["data"]["certSN"]] = name
        client.certificates("list", self.device("SN-T2"))
        listed = decode("list", client.last_text)
        got = {item["certSN"]: (item["certStatus"], item["revokerReason"]) for item in listed["data"]}
        self.assertEqual(got, {sn: (1, name) for sn, name in expected.items()})

    def test_refusals_decode_with_no_data(self):
        client = self.client()
        self.register("SN-T3")
        client.certificates("apply", self.device("SN-T3"), {"csr": "not a csr"})
        refused = decode("error", client.last_text)
        self.assertEqual(refused["code"], 99400)
        client.certificates("list", self.device("SN-NOBODY"))
        self.assertEqual(decode("error", client.last_text)["code"], 11404)

    def test_unknown_body_fields_are_ignored_and_wrong_types_name_the_field(self):
        client = self.client()
        self.register("SN-T4")
        _, csr = self.csr("edge-t4")
        before = certificate_count(self.ca)
        # A widely used EnOS client sends "timestamp" in the apply body.
        client.certificates("apply", self.device("SN-T4"),
                            {"csr": csr, "timestamp": int(time.time() * 1000), "somethingNew": {"a": [1]}})
        applied = decode("apply", client.last_text)
        self.assertEqual(applied["code"], 0, applied)
        self.assertEqual(certificate_count(self.ca), before + 1)
        # issueAuthority is case-insensitive, as EnOS documents.
        _, csr2 = self.csr("edge-t4b", cn="edge-t4b")
        self.register("SN-T4B")
        client.certificates("apply", self.device("SN-T4B"), {"csr": csr2, "issueAuthority": "rsa"})
        self.assertEqual(decode("apply", client.last_text)["code"], 0)
        before = certificate_count(self.ca)
        cases = [
            ("apply", {"csr": 12345}, "csr"),
            ("apply", {"csr": csr, "validDay": "ten"}, "validDay"),
            ("apply", {"csr": csr, "issueAuthority": 1}, "issueAuthority"),
            ("renew", {"certSn": [1]}, "certSn"),
            ("renew", {"certSn": "12a"}, "certSn"),
            ("revoke", {"certSn": applied["data"]["certSN"], "reason": "keyCompromise"}, "reason"),
        ]
        for action, body, field in cases:
            with self.subTest(action=action, field=field):
                client.certificates(action, self.device("SN-T4"), body)
                refused = decode("error", client.last_text)
                self.assertEqual(refused["code"], 99400)
                self.assertIn(field, refused["msg"])
        self.assertEqual(certificate_count(self.ca), before)

    def test_cert_sn_is_taken_as_a_number_or_a_string_of_digits(self):
        client = self.client()
        self.register("SN-T5")
        _, csr = self.csr("edge-t5")
        client.certificates("apply", self.device("SN-T5"), {"csr": csr})
        sn = decode("apply", client.last_text)["data"]["certSN"]
        client.certificates("renew", self.device("SN-T5"), {"certSn": sn})  # the string, as answered
        by_string = decode("renew", client.last_text)
        self.assertEqual(by_string["code"], 0, by_string)
        client.certificates("revoke", self.device("SN-T5"), {"certSn": int(by_string["data"]["certSN"]), "reason": 5})
        self.assertEqual(decode("revoke", client.last_text)["code"], 0)
        client.certificates("list", self.device("SN-T5"))
        states = {i["certSN"]: i["certStatus"] for i in decode("list", client.last_text)["data"]}
        self.assertEqual(states, {sn: 0, by_string["data"]["certSN"]: 1})

    def test_public_endpoints_answer_with_and_without_the_algorithm(self):
        chains = {}
        for path in ("/enos/CA/cacert", "/enos/CA/cacert/RSA"):
            for tls in (False, True):
                status, headers, body = self.ca.request("GET", path, tls=tls)
                self.assertEqual(status, 200, (path, tls))
                chains[(path, tls)] = body
        self.assertEqual(len(set(chains.values())), 1)
        chain = self.space.write("cacert.pem", chains[("/enos/CA/cacert", False)])
        self.assertEqual(chains[("/enos/CA/cacert", False)].decode().count("BEGIN CERTIFICATE"), 2)
        openssl("verify", "-CAfile", self.ca.root_pem, chain)  # the issuing CA, under the root
        crls = {}
        for path in ("/enos/CA/crl", "/enos/CA/crl/RSA"):
            status, headers, body = self.ca.request("GET", path, tls=False)
            self.assertEqual((status, headers["content-type"]), (200, "application/pkix-crl"), path)
            crls[path] = (headers["etag"], body)
            crl = self.space.write(f"crl{len(crls)}.der", body)
            openssl("crl", "-inform", "DER", "-in", crl, "-noout", "-CAfile", chain)
        self.assertEqual(crls["/enos/CA/crl"], crls["/enos/CA/crl/RSA"])
        for path in ("/enos/CA/cacert/ECC", "/enos/CA/crl/ECC"):
            status, _, body = self.ca.request("GET", path, tls=False)
            self.assertEqual(status, 404, path)
            error = body["error"]
            self.assertEqual(error["code"], "issue_authority_not_offered")
            self.assertIn("RSA", error["message"])


class EnosRepeatedCallsTest(EnosTestBase):
    """The Go SDK signs with second-resolution timestamps: two identical calls within a second
    carry the same apim-signature. Neither may fail, and the CA must not act twice."""

    def raw_client(self):
        client = RawClient("127.0.0.1", self.ca.api_port, self.ca.root_pem, self.app_key, self.app_secret)
        self.assertEqual(client.get_token()[1]["status"], 0)
        return client

    def same_second_headers(self, client, query, body):
        """The headers the Go SDK would send for this call in this second."""
        return client.headers(query, json.dumps(body) if body is not None else None,
                              timestamp=int(time.time()) * 1000)

    def test_the_same_token_request_twice_gets_the_same_token(self):
        client = RawClient("127.0.0.1", self.ca.api_port, self.ca.root_pem, self.app_key, self.app_secret)
        timestamp = int(time.time()) * 1000
        first = client.get_token(timestamp=timestamp)[1]
        again = client.get_token(timestamp=timestamp)[1]
        self.assertEqual((first["status"], again["status"]), (0, 0), (first, again))
        self.assertEqual(first["data"]["accessToken"], again["data"]["accessToken"])

    def test_a_repeated_list_is_answered_again(self):
        client = self.raw_client()
        self.register("SN-P1")
        query = {"action": "list", **self.device("SN-P1")}
        headers = self.same_second_headers(client, query, None)
        answers = [client.call("/connect-service/v2.0/certificates", query, headers=headers) for _ in range(2)]
        for status, answer in answers:
            self.assertEqual((status, answer["code"]), (200, 0), answer)
            decode("list", answer)

    def test_a_repeated_apply_returns_the_first_certificate_recorded_once(self):
        client = self.raw_client()
        self.register("SN-P2")
        _, csr = self.csr("edge-p2")
        query = {"action": "apply", **self.device("SN-P2")}
        body = {"csr": csr}
        headers = self.same_second_headers(client, query, body)
        before = certificate_count(self.ca)
        first = client.call("/connect-service/v2.0/certificates", query, body, headers=headers)
        first_text = client.last_text
        again = client.call("/connect-service/v2.0/certificates", query, body, headers=headers)
        self.assertEqual(first[1]["code"], 0, first)
        self.assertEqual(client.last_text, first_text, "a repeat gets the first call's answer, byte for byte")
        self.assertEqual(decode("apply", again[1])["data"]["certSN"], first[1]["data"]["certSN"])
        self.assertEqual(certificate_count(self.ca), before + 1)
        # Concurrent repeats of another apply: one certificate, the same answer for all.
        self.register("SN-P3")
        _, csr3 = self.csr("edge-p3")
        body3 = {"csr": csr3}
        query3 = {"action": "apply", **self.device("SN-P3")}
        headers3 = self.same_second_headers(client, query3, body3)
        results = []

        def send():
            own = RawClient("127.0.0.1", self.ca.api_port, self.ca.root_pem, self.app_key, self.app_secret)
            results.append(own.call("/connect-service/v2.0/certificates", query3, body3, headers=headers3))

        threads = [threading.Thread(target=send) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        self.assertEqual(len(results), 6)
        self.assertEqual({answer["code"] for _, answer in results}, {0}, results)
        self.assertEqual(len({answer["data"]["certSN"] for _, answer in results}), 1)
        self.assertEqual(certificate_count(self.ca), before + 2)
        # The audit log holds one issuance for it.
        audit = self.ca.edgeca("audit").stdout
        self.assertEqual(audit.count("subject=CN=edge-p3"), 1, audit)

    def test_a_repeated_revoke_answers_as_the_first_and_revokes_once(self):
        client = self.raw_client()
        self.register("SN-P4")
        _, csr = self.csr("edge-p4")
        sn = client.certificates("apply", self.device("SN-P4"), {"csr": csr})[1]["data"]["certSN"]
        query = {"action": "revoke", **self.device("SN-P4")}
        body = {"certSn": sn, "reason": 1}
        headers = self.same_second_headers(client, query, body)
        first = client.call("/connect-service/v2.0/certificates", query, body, headers=headers)
        again = client.call("/connect-service/v2.0/certificates", query, body, headers=headers)
        self.assertEqual((first[1]["code"], again[1]["code"]), (0, 0), (first, again))
        self.assertEqual(first[1]["requestId"], again[1]["requestId"])
        audit = self.ca.edgeca("audit").stdout
        self.assertEqual(len([l for l in audit.splitlines() if " revoke " in f" {l} " and "ok" in l and
                              "app:hub-app" in l and "keyCompromise" in l]), 1, audit)

    def test_a_repeat_after_a_restart_still_gets_the_first_answer(self):
        client = self.raw_client()
        self.register("SN-P5")
        _, csr = self.csr("edge-p5")
        query = {"action": "apply", **self.device("SN-P5")}
        body = {"csr": csr}
        headers = client.headers(query, json.dumps(body))
        first = client.call("/connect-service/v2.0/certificates", query, body, headers=headers)
        first_text = client.last_text
        before = certificate_count(self.ca)
        self.ca.stop()
        self.ca.start()
        client.port = self.ca.api_port
        again = client.call("/connect-service/v2.0/certificates", query, body, headers=headers)
        self.assertEqual(first[1]["code"], 0)
        self.assertEqual(client.last_text, first_text)
        self.assertEqual(certificate_count(self.ca), before)


class EnosExpiredListTest(TempDirTestCase):
    def test_an_expired_certificate_is_listed_with_status_2(self):
        if shutil.which("faketime") is None:
            raise AssertionError("faketime (Debian's faketime package) is needed; scripts/install-deps.sh installs it")
        ca = IssuingCA(self, config=ENOS_CONFIG)
        ca.start()
        self.assertExit(ca.edgeca("product add", "--product-key", "PK1"), 0)
        self.assertExit(ca.edgeca("device add", "--product-key", "PK1", "--device-key", "SN-OLD"), 0)
        created = ca.edgeca("app create", "--name", "hub-app", "--role", "hub")
        app_key = re.search(r"appKey:\s+(\S+)", created.stdout).group(1)
        secret = re.search(r"appSecret:\s+(\S+)", created.stdout).group(1)
        client = RawClient("127.0.0.1", ca.api_port, ca.root_pem, app_key, secret)
        client.get_token()
        device = {"orgId": ORG, "productKey": "PK1", "deviceKey": "SN-OLD"}
        _, csr = self.make_key_and_csr("old", "/CN=edge-old")
        client.certificates("apply", device, {"csr": open(csr).read(), "validDay": 1})
        sn = decode("apply", client.last_text)["data"]["certSN"]
        ca.stop()
        # Three days later, by the service's clock.
        ca.start(env=faketime_env("+3d"))
        self.addCleanup(ca.stop)  # libfaketime's shared memory goes only at a clean exit
        client.port = ca.api_port
        client.clock_offset_ms = 3 * 86400 * 1000
        client.get_token()
        client.certificates("list", device)
        listed = decode("list", client.last_text)
        self.assertEqual([(i["certSN"], i["certStatus"], i["revoker"], i["revokerReason"]) for i in listed["data"]],
                         [(sn, 2, "", "")])
        # A clean stop: libfaketime removes its shared memory (/dev/shm/faketime_shm_*) only at exit.
        self.assertEqual(ca.stop(), 0)


if __name__ == "__main__":
    unittest.main()
