"""Identity and scope, attacked through the real `edgeca serve` on loopback: a principal is the
CA's, never a CSR's CN; devices and certificates belong to the principal that registered or
requested them; a hub renews only its own DNS names; revoking a hub's certificate ends what it
minted; on the EnOS surface an app reaches only its own certificates."""
import re
import unittest

from enos_client import EnosClient
from harness import SERVICE_CONFIG, IssuingCA, SharedWorkspace

ORG = "o-scope-test"
SCOPE_CONFIG = SERVICE_CONFIG + f"""
[enos]
org_id = "{ORG}"
"""


class ScopeTest(unittest.TestCase):
    """One running CA; each test enrols its own hubs under its own names."""

    @classmethod
    def setUpClass(cls):
        cls.space = SharedWorkspace()
        cls.ca = IssuingCA(cls.space, config=SCOPE_CONFIG)
        cls.ca.start()
        cls.ca.add_product("P1")

    @classmethod
    def tearDownClass(cls):
        cls.ca.stop()
        cls.space.close()

    # --- helpers -----------------------------------------------------------------------------

    def enroll(self, file_name, cn, dns="localhost", profile="hub"):
        """Enrols with a fresh hub token and a CSR whose CN is `cn`: (cert, key, response)."""
        extra = ["-addext", f"subjectAltName=DNS:{dns}"] if profile == "hub" else []
        key, csr = self.space.make_key_and_csr(file_name, f"/CN={cn}", extra=extra)
        status, _, body = self.ca.request("POST", "/v1/certificates", {"csr": open(csr).read(), "profile": profile},
                                          token=self.ca.token("hub"))
        self.assertEqual(status, 201, body)
        cert = self.space.write(f"{file_name}.pem", body["certificate"])
        return cert, key, body

    def call(self, method, path, who, body=None):
        status, _, answer = self.ca.request(method, path, body, cert=who[0], key=who[1])
        return status, answer

    def issue(self, who, name, body, cn=None, dns=None):
        extra = ["-addext", f"subjectAltName=DNS:{dns}"] if dns else []
        key, csr = self.space.make_key_and_csr(name, f"/CN={cn or name}", extra=extra)
        status, answer = self.call("POST", "/v1/certificates", who, {"csr": open(csr).read(), **body})
        cert = self.space.write(f"{name}.pem", answer["certificate"]) if status == 201 else None
        return status, answer, cert, key

    def edge(self, who, device_key, name=None):
        return self.issue(who, name or f"edge-{device_key}",
                          {"profile": "edge", "product_key": "P1", "device_key": device_key})

    def register(self, who, device_key):
        status, answer = self.call("POST", "/v1/devices", who, {"product_key": "P1", "device_key": device_key})
        self.assertEqual(status, 201, answer)

    # --- attacks -----------------------------------------------------------------------------

    def test_a_token_with_an_existing_hubs_cn_gets_a_principal_of_its_own(self):
        hub = self.enroll("p-hub", "scope-hub-1")
        self.register(hub, "SC-P1")
        status, mine, _, _ = self.edge(hub, "SC-P1")
        self.assertEqual(status, 201, mine)

        # The attacker enrols with a hub token and a CSR naming the existing hub.
        impostor = self.enroll("p-impostor", "scope-hub-1")
        self.assertNotEqual(impostor[2]["principal"], hub[2]["principal"])
        self.assertRegex(impostor[2]["principal"], r"^hub:[0-9a-f]{16}$")
        self.assertNotIn("scope-hub-1", impostor[2]["principal"])

        status, listing = self.call("GET", "/v1/certificates?device_key=SC-P1", impostor)
        self.assertEqual((status, listing["certificates"]), (200, []))
        status, answer = self.call("GET", f"/v1/certificates/{mine['serial']}", impostor)
        self.assertEqual((status, answer["error"]["code"]), (404, "certificate_not_found"))
        status, answer = self.call("POST", f"/v1/certificates/{mine['serial']}/revoke", impostor,
                                   {"reason": "keyCompromise"})
        self.assertEqual((status, answer["error"]["code"]), (404, "certificate_not_found"))
        status, record = self.call("GET", f"/v1/certificates/{mine['serial']}", hub)
        self.assertEqual((status, record["status"], record["requester"]), (200, "valid", hub[2]["principal"]))

    def test_a_hub_cannot_get_certificates_for_or_reset_another_hubs_device(self):
        owner = self.enroll("d-owner", "scope-owner")
        other = self.enroll("d-other", "scope-other")
        self.register(owner, "SC-D1")
        status, first, _, _ = self.edge(owner, "SC-D1")
        self.assertEqual(status, 201, first)

        # Another hub is told the device does not exist, whatever it tries.
        status, answer, _, _ = self.edge(other, "SC-D1", name="edge-SC-D1-stolen")
        self.assertEqual((status, answer["error"]["code"]), (404, "device_not_found"), answer)
        status, answer = self.call("GET", "/v1/devices/SC-D1", other)
        self.assertEqual((status, answer["error"]["code"]), (404, "device_not_found"))
        status, listing = self.call("GET", "/v1/devices", other)
        self.assertNotIn("SC-D1", [d["device_key"] for d in listing["devices"]])
        status, answer = self.call("POST", "/v1/devices/SC-D1/revoke", other, {"reason": "keyCompromise"})
        self.assertEqual((status, answer["error"]["code"]), (404, "device_not_found"))

        # The owner's reset revokes every certificate the device has.
        status, reset = self.call("POST", "/v1/devices/SC-D1/revoke", owner, {"reason": "cessationOfOperation"})
        self.assertEqual(status, 200, reset)
        status, listing = self.call("GET", "/v1/certificates?device_key=SC-D1", self.ca.admin())
        self.assertEqual(status, 200)
        self.assertEqual([c["status"] for c in listing["certificates"]], ["revoked"])
        self.assertEqual(listing["certificates"][0]["serial"], first["serial"])

    def test_an_unowned_device_belongs_to_the_first_hub_that_gets_its_certificate(self):
        first = self.enroll("c-first", "scope-first")
        second = self.enroll("c-second", "scope-second")
        self.assertEqual(self.ca.edgeca("device add", "--product-key", "P1", "--device-key", "SC-C1").returncode, 0)
        status, answer, _, _ = self.edge(first, "SC-C1")
        self.assertEqual(status, 201, answer)
        status, answer = self.call("GET", "/v1/devices/SC-C1", first)
        self.assertEqual((status, answer["owner"]), (200, first[2]["principal"]))
        status, answer, _, _ = self.edge(second, "SC-C1", name="edge-SC-C1-second")
        self.assertEqual((status, answer["error"]["code"]), (404, "device_not_found"), answer)

    def test_a_hub_cannot_mint_a_hub_certificate_for_another_hubs_dns_name(self):
        victim = self.enroll("n-victim", "scope-victim", dns="victim.hub.test.example")
        attacker = self.enroll("n-attacker", "scope-attacker", dns="attacker.hub.test.example")
        status, answer, _, _ = self.issue(attacker, "n-stolen", {"profile": "hub"}, dns="victim.hub.test.example")
        self.assertEqual((status, answer["error"]["code"]), (403, "dns_name_not_held"), answer)
        # Its own name it may renew, and the renewal keeps its principal.
        status, answer, _, _ = self.issue(attacker, "n-renewed", {"profile": "hub"}, dns="attacker.hub.test.example")
        self.assertEqual(status, 201, answer)
        self.assertEqual(answer["principal"], attacker[2]["principal"])
        self.assertEqual(self.call("GET", "/v1/certificates", victim)[0], 200)

    def test_revoking_a_hubs_certificate_ends_the_credentials_it_minted(self):
        hub = self.enroll("r-hub", "scope-revoked", dns="revoked.hub.test.example")
        status, answer, client, client_key = self.issue(hub, "r-client", {"profile": "client"})
        self.assertEqual(status, 201, answer)
        self.assertEqual(answer["principal"], hub[2]["principal"])
        status, renewal, renewed, renewed_key = self.issue(hub, "r-renewed", {"profile": "hub"},
                                                           dns="revoked.hub.test.example")
        self.assertEqual(status, 201, renewal)

        # Replacing its first certificate (superseded) leaves the hub and its credentials alive.
        status, answer = self.call("POST", f"/v1/certificates/{hub[2]['serial']}/revoke", (renewed, renewed_key),
                                   {"reason": "superseded"})
        self.assertEqual((status, answer["also_revoked"]), (200, []), answer)
        self.assertEqual(self.call("GET", "/v1/certificates", hub)[0], 401)
        for cert, key in ((client, client_key), (renewed, renewed_key)):
            self.assertEqual(self.call("GET", "/v1/certificates", (cert, key))[0], 200)

        # An admin revoking the hub's certificate ends the client certificate the hub minted.
        status, answer = self.call("POST", f"/v1/certificates/{renewal['serial']}/revoke", self.ca.admin(),
                                   {"reason": "cessationOfOperation"})
        self.assertEqual(status, 200, answer)
        self.assertEqual(len(answer["also_revoked"]), 1, answer)
        for cert, key in ((client, client_key), (renewed, renewed_key)):
            status, answer = self.call("GET", "/v1/certificates", (cert, key))
            self.assertEqual((status, answer["error"]["code"]), (401, "certificate_not_authorized"))

    def test_an_enos_app_cannot_renew_revoke_or_list_another_apps_certificate(self):
        def app(name):
            created = self.ca.edgeca("app create", "--name", name, "--role", "hub")
            self.assertEqual(created.returncode, 0, created.stderr)
            client = EnosClient("127.0.0.1", self.ca.api_port, self.ca.root_pem,
                                re.search(r"appKey:\s+(\S+)", created.stdout).group(1),
                                re.search(r"appSecret:\s+(\S+)", created.stdout).group(1))
            self.assertEqual(client.get_token()[1]["status"], 0)
            return client

        owner, intruder = app("scope-app-a"), app("scope-app-b")
        self.assertEqual(self.ca.edgeca("device add", "--product-key", "P1", "--device-key", "SC-E1").returncode, 0)
        device = {"orgId": ORG, "productKey": "P1", "deviceKey": "SC-E1"}
        _, csr = self.space.make_key_and_csr("enos-e1", "/CN=SC-E1")
        status, applied = owner.certificates("apply", device, {"csr": open(csr).read(), "validDay": 30})
        self.assertEqual((status, applied["code"]), (200, 0), applied)
        cert_sn = applied["data"]["certSN"]

        status, answer = intruder.certificates("renew", device, {"certSn": cert_sn, "validDay": 30})
        self.assertEqual((status, answer["code"]), (200, 99400), answer)
        self.assertNotIn("data", answer)
        status, answer = intruder.certificates("revoke", device, {"certSn": cert_sn, "reason": 1})
        self.assertEqual(answer["code"], 99400, answer)
        _, csr2 = self.space.make_key_and_csr("enos-e1-intruder", "/CN=SC-E1")
        status, answer = intruder.certificates("apply", device, {"csr": open(csr2).read(), "validDay": 30})
        self.assertEqual(answer["code"], 11404, answer)
        status, listed = intruder.certificates("list", device)
        self.assertEqual(listed.get("data", []), [], listed)

        status, listed = owner.certificates("list", device)
        self.assertEqual([(item["certSN"], item["certStatus"]) for item in listed["data"]], [(cert_sn, 0)])
        status, renewed = owner.certificates("renew", device, {"certSn": cert_sn, "validDay": 30})
        self.assertEqual((status, renewed["code"]), (200, 0), renewed)


if __name__ == "__main__":
    unittest.main()
