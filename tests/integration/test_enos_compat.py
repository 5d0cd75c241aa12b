"""The EnOS-compatible surface, driven by a client written from EnOS's public documentation:
token, apply, list, renew, revoke, list again, CA chain and CRL, checked with OpenSSL; and every
refusal with its EnOS code, changing nothing."""
import json
import os
import re
import sqlite3
import time
import unittest

from enos_client import EnosClient, sha256_hex
from harness import IssuingCA, SERVICE_CONFIG, SharedWorkspace, TempDirTestCase, openssl, run

ENOS_CONFIG = SERVICE_CONFIG + """
[crl]
publish_delay = "1s"

[enos]
org_id = "o15724268424841"
"""
ORG = "o15724268424841"


def certificate_count(ca):
    db = sqlite3.connect(os.path.join(ca.dir, "issuer.db"))
    try:
        return db.execute("SELECT count(*) FROM certificates").fetchone()[0]
    finally:
        db.close()


class EnosTestBase(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.space = SharedWorkspace()
        cls.ca = IssuingCA(cls.space, config=ENOS_CONFIG)
        cls.ca.start()
        for args in (["--product-key", "PK1", "--max-validity-days", "1000"],
                     ["--product-key", "PKOFF", "--certificate-auth", "false"]):
            result = cls.ca.edgeca("product add", *args)
            assert result.returncode == 0, result.stderr
        created = cls.ca.edgeca("app create", "--name", "hub-app", "--role", "hub")
        assert created.returncode == 0, created.stderr
        cls.app_key = re.search(r"appKey:\s+(\S+)", created.stdout).group(1)
        cls.app_secret = re.search(r"appSecret:\s+(\S+)", created.stdout).group(1)

    @classmethod
    def tearDownClass(cls):
        cls.ca.stop()
        cls.space.close()

    def client(self):
        client = EnosClient("127.0.0.1", self.ca.api_port, self.ca.root_pem, self.app_key, self.app_secret)
        status, answer = client.get_token()
        self.assertEqual((status, answer["status"]), (200, 0), answer)
        return client

    def register(self, device_key, product="PK1"):
        result = self.ca.edgeca("device add", "--product-key", product, "--device-key", device_key)
        self.assertEqual(result.returncode, 0, result.stderr)
        return re.search(r"asset_id=(\S+)", result.stdout).group(1)

    def csr(self, name, cn=None, newkey="rsa:2048"):
        key, csr = self.space.make_key_and_csr(name, f"/C=CN/ST=Shanghai/L=Shanghai/O=Acme/OU=IoT/CN={cn or name}", newkey=newkey)
        return key, open(csr).read()

    def device(self, device_key, product="PK1"):
        return {"orgId": ORG, "productKey": product, "deviceKey": device_key}


class EnosFlowTest(EnosTestBase):
    def test_token_apply_list_renew_revoke_list_chain_and_crl(self):
        client = self.client()
        asset = self.register("SN-E1")
        _, csr = self.csr("edge-e1")

        status, applied = client.certificates("apply", {"orgId": ORG, "assetId": asset}, {"csr": csr, "validDay": 365,
                                                                                          "issueAuthority": "RSA"})
        self.assertEqual((status, applied["code"], applied["msg"]), (200, 0, "OK"), applied)
        self.assertTrue(applied["requestId"])
        data = applied["data"]
        self.assertEqual(set(data), {"cert", "caCert", "certSN", "certChainURL", "issueAuthority"})
        self.assertRegex(data["certSN"], r"^[0-9]+$")  # a string of digits, as the SDKs' types have it
        self.assertLess(int(data["certSN"]), 2 ** 53)
        self.assertEqual(data["issueAuthority"], "RSA")
        cert = self.space.write("e1.pem", data["cert"])
        chain = self.space.write("e1-ca.pem", data["caCert"])
        openssl("verify", "-CAfile", self.ca.root_pem, "-untrusted", chain, "-purpose", "sslclient", cert)
        end = openssl("x509", "-in", cert, "-noout", "-startdate", "-enddate").stdout
        self.assertIn("notAfter", end)
        # The numeric handle and the random hex serial are both visible in edgeca show.
        serial = openssl("x509", "-in", cert, "-noout", "-serial").stdout.strip().split("=")[1].lower()
        shown = self.ca.edgeca("show", serial).stdout
        self.assertIn(f"id:           {data['certSN']}", shown)

        status, listed = client.certificates("list", self.device("SN-E1"))
        self.assertEqual((status, listed["code"]), (200, 0), listed)
        self.assertEqual(len(listed["data"]), 1)
        item = listed["data"][0]
        for field in ("certSN", "cert", "certStatus", "issuer", "subject", "signDate", "effetiveDate", "expireDate",
                      "audit", "revoker", "revokerReason", "isEnosCert", "issueAuthority"):
            self.assertIn(field, item)
        self.assertEqual((item["certSN"], item["certStatus"]), (data["certSN"], 0))
        self.assertGreater(item["expireDate"], item["effetiveDate"])
        self.assertGreater(item["signDate"], 1.7e12)

        # Renew without a CSR: the same key, certified again.
        status, renewed = client.certificates("renew", self.device("SN-E1"), {"certSn": data["certSN"], "validDay": 30})
        self.assertEqual((status, renewed["code"]), (200, 0), renewed)
        renewed_cert = self.space.write("e1-renewed.pem", renewed["data"]["cert"])
        self.assertEqual(openssl("x509", "-in", renewed_cert, "-noout", "-pubkey").stdout,
                         openssl("x509", "-in", cert, "-noout", "-pubkey").stdout)
        self.assertNotEqual(renewed["data"]["certSN"], data["certSN"])
        # Renew with a new CSR: a new key.
        _, new_csr = self.csr("edge-e1-new", cn="edge-e1")
        status, rekeyed = client.certificates("renew", self.device("SN-E1"), {"certSn": renewed["data"]["certSN"], "csr": new_csr})
        self.assertEqual((status, rekeyed["code"]), (200, 0), rekeyed)

        status, revoked = client.certificates("revoke", self.device("SN-E1"), {"certSn": data["certSN"], "reason": 4})
        self.assertEqual((status, revoked["code"]), (200, 0), revoked)
        status, listed = client.certificates("list", {"orgId": ORG, "assetId": asset})
        states = {i["certSN"]: (i["certStatus"], i["revokerReason"]) for i in listed["data"]}
        self.assertEqual(states[data["certSN"]], (1, "SUPERSEDED"))
        self.assertEqual(states[renewed["data"]["certSN"]][0], 0)
        self.assertEqual(len(states), 3)

        status, _, chain_pem = self.ca.request("GET", "/enos/CA/cacert/RSA", tls=False)
        self.assertEqual(status, 200)
        full_chain = self.space.write("enos-chain.pem", chain_pem)
        self.assertEqual(chain_pem.decode().count("BEGIN CERTIFICATE"), 2)
        deadline = time.monotonic() + 10
        while True:
            status, headers, crl_der = self.ca.request("GET", "/enos/CA/crl/RSA", tls=False)
            crl = self.space.write("enos-crl.der", crl_der)
            text = openssl("crl", "-inform", "DER", "-in", crl, "-noout", "-text").stdout
            if serial.upper() in text or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        self.assertEqual(headers["content-type"], "application/pkix-crl")
        self.assertIn(serial.upper(), text)
        openssl("crl", "-inform", "DER", "-in", crl, "-out", self.space.path("enos-crl.pem"))
        refused = run(["openssl", "verify", "-crl_check", "-CAfile", self.ca.root_pem, "-untrusted", full_chain,
                       "-CRLfile", self.space.path("enos-crl.pem"), cert])
        self.assertNotEqual(refused.returncode, 0)
        self.assertIn("certificate revoked", refused.stdout + refused.stderr)
        accepted = run(["openssl", "verify", "-crl_check", "-CAfile", self.ca.root_pem, "-untrusted", full_chain,
                        "-CRLfile", self.space.path("enos-crl.pem"), renewed_cert])
        self.assertEqual(accepted.returncode, 0, accepted.stdout + accepted.stderr)

    def test_edge_api_variant_takes_valid_day_in_the_query(self):
        client = self.client()
        self.register("SN-E2")
        _, csr = self.csr("edge-e2")
        status, applied = client.certificates("apply", {**self.device("SN-E2"), "validDay": "10"}, {"csr": csr})
        self.assertEqual(applied["code"], 0, applied)
        cert = self.space.write("e2.pem", applied["data"]["cert"])
        dates = openssl("x509", "-in", cert, "-noout", "-startdate", "-enddate").stdout
        start = re.search(r"notBefore=(.*)", dates).group(1)
        end = re.search(r"notAfter=(.*)", dates).group(1)
        import datetime
        fmt = "%b %d %H:%M:%S %Y %Z"
        days = (datetime.datetime.strptime(end, fmt) - datetime.datetime.strptime(start, fmt)).total_seconds() / 86400
        self.assertAlmostEqual(days, 10, delta=0.01)

    def test_default_valid_day_is_730(self):
        client = self.client()
        self.register("SN-E3")
        _, csr = self.csr("edge-e3")
        status, applied = client.certificates("apply", self.device("SN-E3"), {"csr": csr})
        self.assertEqual(applied["code"], 0, applied)
        status, listed = client.certificates("list", self.device("SN-E3"))
        item = listed["data"][0]
        days = (item["expireDate"] - item["signDate"]) / 86400000
        self.assertAlmostEqual(days, 730, delta=0.01)


class EnosRefusalTest(EnosTestBase):
    def assertEnosRefused(self, answer, code, message=None):
        self.assertEqual(answer["code"], code, answer)
        self.assertTrue(answer["msg"])
        if message:
            self.assertIn(message, answer["msg"])

    def assertNothingIssued(self, before):
        self.assertEqual(certificate_count(self.ca), before)

    def test_token_refusals(self):
        client = EnosClient("127.0.0.1", self.ca.api_port, self.ca.root_pem, self.app_key, self.app_secret)
        cases = [
            (dict(app_key="5acb82e7-a11e-4300-9164-c8b20b638e8b"), 1002),
            (dict(encryption="0" * 64), 1003),
            (dict(timestamp=int(time.time() * 1000) - 3600 * 1000), 1004),
        ]
        for kwargs, code in cases:
            with self.subTest(code=code):
                status, answer = client.get_token(**kwargs)
                self.assertEqual((status, answer["status"]), (401, code), answer)
                self.assertIsNone(client.access_token)
        timestamp = client.timestamp()
        status, first = client.get_token(timestamp=timestamp)
        self.assertEqual(first["status"], 0)
        status, again = client.get_token(timestamp=timestamp)
        # The same request again (a client asking twice in a second) gets the same token.
        self.assertEqual((status, again["status"]), (200, 0), again)
        self.assertEqual(again["data"]["accessToken"], first["data"]["accessToken"])

    def test_call_refusals_issue_nothing(self):
        client = self.client()
        self.register("SN-X1")
        _, csr = self.csr("edge-x1")
        before = certificate_count(self.ca)
        device = self.device("SN-X1")
        body = {"csr": csr}
        query = {"action": "apply", **device}
        body_text = json.dumps(body)
        good = client.headers(query, body_text)

        cases = [
            ({k: v for k, v in good.items() if k != "apim-signature"}, 1202),
            ({**good, "apim-accesstoken": "eat_unknown"}, 1203),
            ({**good, "apim-signature": "0" * 64}, 1003),
            (client.headers(query, body_text, timestamp=int(time.time() * 1000) - 3600 * 1000), 1004),
            (client.headers(query, body_text + " "), 1003),  # signed over another body
        ]
        for headers, code in cases:
            with self.subTest(code=code):
                status, answer = client.call("/connect-service/v2.0/certificates", query, body, headers=headers)
                self.assertEqual(status, 401)
                self.assertEnosRefused(answer, code)
        self.assertNothingIssued(before)
        # A signed request acts once: the same signature again gets the first answer.
        headers = client.headers(query, body_text)
        status, first = client.call("/connect-service/v2.0/certificates", query, body, headers=headers)
        self.assertEqual(first["code"], 0, first)
        status, again = client.call("/connect-service/v2.0/certificates", query, body, headers=headers)
        self.assertEqual((status, again), (200, first))
        self.assertNothingIssued(before + 1)

    def test_apply_refusals(self):
        client = self.client()
        self.register("SN-A1")
        self.register("SN-A2")
        self.register("SN-OFF", product="PKOFF")
        _, csr = self.csr("edge-a1")
        openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", self.space.path("ec.key"))
        openssl("req", "-new", "-key", self.space.path("ec.key"), "-subj", "/CN=ec-edge", "-out", self.space.path("ec.csr"))
        ec_csr = open(self.space.path("ec.csr")).read()
        status, first = client.certificates("apply", self.device("SN-A1"), {"csr": csr})
        self.assertEqual(first["code"], 0, first)
        before = certificate_count(self.ca)
        _, other_csr = self.csr("edge-a2", cn="edge-a1")  # the CN SN-A1's valid certificate holds
        cases = [
            (self.device("SN-A2"), {"csr": csr, "issueAuthority": "ECC"}, 99400, "RSA 2048"),
            (self.device("SN-A2"), {"csr": ec_csr}, 99400, "only RSA 2048-bit keys"),
            (self.device("SN-A2"), {"csr": csr, "validDay": 1001}, 99400, "1000 days"),
            (self.device("SN-A2"), {}, 99400, "csr is required"),
            (self.device("SN-NONE"), {"csr": csr}, 11404, None),
            ({"orgId": ORG, "assetId": "no-such-asset"}, {"csr": csr}, 11404, None),
            ({**self.device("SN-A2"), "productKey": "PKOFF"}, {"csr": csr}, 11404, None),
            (self.device("SN-OFF", product="PKOFF"), {"csr": csr}, 99400, "not enabled"),
            (self.device("SN-A2"), {"csr": other_csr}, 99400, "belongs to the valid certificate"),
            ({"orgId": "o-someone-else", "productKey": "PK1", "deviceKey": "SN-A2"}, {"csr": csr}, 99400, "orgId"),
            ({"productKey": "PK1", "deviceKey": "SN-A2"}, {"csr": csr}, 99400, "orgId"),
        ]
        for device, body, code, message in cases:
            with self.subTest(code=code, message=message, device=device):
                status, answer = client.certificates("apply", device, body)
                self.assertEqual(status, 200)
                self.assertEnosRefused(answer, code, message)
        self.assertNothingIssued(before)

    def test_renew_and_revoke_refusals_change_nothing(self):
        client = self.client()
        self.register("SN-R1")
        self.register("SN-R2")
        _, csr1 = self.csr("edge-r1")
        _, csr2 = self.csr("edge-r2")
        one = client.certificates("apply", self.device("SN-R1"), {"csr": csr1})[1]["data"]["certSN"]
        two = client.certificates("apply", self.device("SN-R2"), {"csr": csr2})[1]["data"]["certSN"]
        before = certificate_count(self.ca)
        # A certificate bound to another device: 11833, for renew and revoke.
        status, answer = client.certificates("renew", self.device("SN-R1"), {"certSn": two})
        self.assertEnosRefused(answer, 11833)
        status, answer = client.certificates("revoke", self.device("SN-R1"), {"certSn": two, "reason": 1})
        self.assertEnosRefused(answer, 11833)
        # Unknown handles and bad reasons: 99400.
        status, answer = client.certificates("revoke", self.device("SN-R1"), {"certSn": 987654321, "reason": 1})
        self.assertEnosRefused(answer, 99400)
        status, answer = client.certificates("revoke", self.device("SN-R1"), {"certSn": one, "reason": 2})
        self.assertEnosRefused(answer, 99400, "reason")
        status, answer = client.certificates("renew", self.device("SN-R1"), {})
        self.assertEnosRefused(answer, 99400, "certSn")
        status, listed = client.certificates("list", self.device("SN-R2"))
        self.assertEqual(listed["data"][0]["certStatus"], 0)
        self.assertNothingIssued(before)
        # A revoked original cannot be renewed.
        self.assertEqual(client.certificates("revoke", self.device("SN-R1"), {"certSn": one, "reason": 4})[1]["code"], 0)
        status, answer = client.certificates("renew", self.device("SN-R1"), {"certSn": one})
        self.assertEnosRefused(answer, 99400, "revoked")
        status, answer = client.certificates("revoke", self.device("SN-R1"), {"certSn": one, "reason": 4})
        self.assertEnosRefused(answer, 99400, "was revoked")
        self.assertNothingIssued(before)

    def test_secrets_are_sealed_in_the_store_and_never_logged(self):
        db = sqlite3.connect(os.path.join(self.ca.dir, "issuer.db"))
        rows = db.execute("SELECT app_key, sealed_secret FROM apps").fetchall()
        db.close()
        self.assertTrue(rows)
        for _, sealed in rows:
            self.assertNotIn(self.app_secret.encode(), sealed)
            self.assertEqual(len(sealed), 256, "sealed with the issuing CA's RSA-2048 key")
        with open(os.path.join(self.ca.dir, "issuer.db"), "rb") as f:
            self.assertNotIn(self.app_secret.encode(), f.read())
        client = self.client()
        with open(self.ca.log_path) as f:
            log = f.read()
        self.assertNotIn(self.app_secret, log)
        self.assertNotIn(client.access_token, log)
        listing = self.ca.edgeca("app list")
        self.assertIn("hub-app", listing.stdout)
        self.assertNotIn(self.app_secret, listing.stdout)


class EnosTokenExpiryTest(TempDirTestCase):
    def test_an_expired_access_token_is_refused_and_a_removed_app_loses_access(self):
        ca = IssuingCA(self, config=ENOS_CONFIG + 'token_lifetime = "2s"\n')
        ca.start()
        created = ca.edgeca("app create", "--name", "short", "--role", "hub")
        app_key = re.search(r"appKey:\s+(\S+)", created.stdout).group(1)
        secret = re.search(r"appSecret:\s+(\S+)", created.stdout).group(1)
        client = EnosClient("127.0.0.1", ca.api_port, ca.root_pem, app_key, secret)
        status, answer = client.get_token()
        self.assertEqual(answer["data"]["expire"], 2)
        device = {"orgId": ORG, "productKey": "PK", "deviceKey": "nobody"}
        status, answer = client.certificates("list", device)
        self.assertEqual(answer["code"], 11404)  # authenticated; the device is unknown
        time.sleep(3)
        status, answer = client.certificates("list", device)
        self.assertEqual((status, answer["code"]), (401, 1203))
        self.assertIn("expired", answer["msg"])
        client.get_token()
        self.assertEqual(ca.edgeca("app remove", "--app-key", app_key).returncode, 0)
        status, answer = client.certificates("list", device)
        self.assertEqual((status, answer["code"]), (401, 1203))
        status, answer = client.get_token()
        self.assertEqual((status, answer["status"]), (401, 1002))
