"""Flow 3 with a real broker: mosquitto plays the hub's MQTT endpoint with edgeca's hub certificate,
chain and served CRL; mosquitto_pub/mosquitto_sub play the edge with its edgeca certificate.
Telemetry goes up and control comes down over mutual TLS 1.2, and every impostor is refused."""
import itertools
import re
import time
import unittest

from harness import IssuingCA, SERVICE_CONFIG, SharedWorkspace, TempDirTestCase, openssl, run
from mqtt_support import Broker, MqttIdentity

CONFIG = SERVICE_CONFIG + """
[crl]
publish_delay = "1s"
"""


def s_client(broker, cafile, cert, key, hostname, *extra):
    """One TLS handshake with OpenSSL's s_client as the edge would make it; returns its output."""
    result = run(["openssl", "s_client", "-connect", f"127.0.0.1:{broker.port}", "-CAfile", cafile,
                  "-cert", cert, "-key", key, "-verify_hostname", hostname, "-verify_return_error", *extra],
                 input="", timeout=15)
    return result.returncode, result.stdout + result.stderr


class MqttMutualTlsTest(TempDirTestCase):
    @classmethod
    def setUpClass(cls):
        # Class cleanups run even when setUpClass fails half-way: no service outlives the class.
        cls.space = SharedWorkspace()
        cls.addClassCleanup(cls.space.close)
        cls.ca = IssuingCA(cls.space, config=CONFIG)
        cls.ca.start()
        cls.addClassCleanup(cls.ca.stop)
        cls.hub = cls.ca.enroll("hub-1", dns="localhost")
        cls.ca.add_product("P1")
        cls.edges = {}

    # --- the parties --------------------------------------------------------------------------

    def edge(self, device_key):
        """(certificate, key, serial) of a device, issued by edgeca through the hub (flow 2)."""
        if device_key not in self.edges:
            status, body, key = self.ca.edge_certificate(self.hub, device_key)
            self.assertEqual(status, 201, body)
            cert = self.space.write(f"edge-{device_key}.pem", body["certificate"])
            self.edges[device_key] = (cert, key, body["serial"])
        return self.edges[device_key]

    def edge_identity(self, device_key, **options):
        cert, key, _ = self.edge(device_key)
        return MqttIdentity(self.ca.root_pem, cert, key, **options)

    def hub_client(self):
        return MqttIdentity(self.ca.root_pem, *self.hub)

    def served_crl(self):
        status, _, body = self.ca.request("GET", "/crl.pem", tls=False)
        self.assertEqual(status, 200, body)
        return body

    def broker(self, hub=None, name="broker"):
        """A broker with a hub certificate from edgeca; its certfile carries the issuing CA after
        the hub certificate, since edges trust only the root."""
        cert, key = hub or self.hub
        certfile = self.write(f"{name}-hub-chain.pem", open(cert).read() + open(self.ca.certificate).read())
        crlfile = self.write(f"{name}-crl.pem", self.served_crl())
        return Broker(self, cafile=self.ca.chain_pem, certfile=certfile, keyfile=key, crlfile=crlfile,
                      name=name).start()

    def assertConnects(self, broker, identity, client_id, topic="devices/SN-1/telemetry"):
        result = identity.publish(broker, client_id, topic, "ping")
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        return broker.connected_as(client_id)

    def assertRefused(self, broker, identity, client_id, alert, broker_reason):
        """The client cannot publish and hears `alert` from the broker, the broker never saw it
        connect, and the broker's log names why the handshake failed."""
        log_before = broker.log_size()
        result = identity.publish(broker, client_id, "devices/SN-1/telemetry", "should never arrive")
        output = result.stdout + result.stderr
        self.assertNotEqual(result.returncode, 0, f"{client_id} was let in:\n{output}")
        self.assertIn(alert, output)
        broker.wait_for_log(broker_reason, timeout=5, since=log_before)
        self.assertIsNone(broker.connected_as(client_id), broker.log_text()[-2000:])
        return result

    # --- flow 3 -------------------------------------------------------------------------------

    def test_telemetry_goes_up_and_control_comes_down_over_mutual_tls(self):
        broker = self.broker()
        edge = self.edge_identity("SN-1")

        # 3c: the edge publishes telemetry; the hub, a client with its own certificate, gets it.
        telemetry = '{"sn": "SN-1", "temperature": 21.5}'
        hub_subscription = self.hub_client().subscribe(self, broker, "hub-1-telemetry", "devices/+/telemetry")
        result = edge.publish(broker, "SN-1", "devices/SN-1/telemetry", telemetry)
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        code, out, err = hub_subscription.result()
        self.assertEqual((code, out.strip()), (0, f"devices/SN-1/telemetry {telemetry}"), err)

        # 3d: the hub sends a control message; the edge, subscribed to its topic, gets it.
        control = '{"command": "set-interval", "seconds": 30}'
        edge_subscription = edge.subscribe(self, broker, "SN-1-control", "devices/SN-1/control")
        result = self.hub_client().publish(broker, "hub-1-control", "devices/SN-1/control", control)
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        code, out, err = edge_subscription.result()
        self.assertEqual((code, out.strip()), (0, f"devices/SN-1/control {control}"), err)

        # 3a/3b: each side was authenticated by its certificate; the broker knows them by CN.
        self.assertEqual(broker.connected_as("SN-1"), "SN-1")
        self.assertEqual(broker.connected_as("SN-1-control"), "SN-1")
        self.assertEqual(broker.connected_as("hub-1-telemetry"), "hub-1")

    def test_the_broker_speaks_tls_1_2_only_and_sends_the_hub_chain(self):
        broker = self.broker()
        cert, key, _ = self.edge("SN-1")
        code, output = s_client(broker, self.ca.root_pem, cert, key, "localhost")
        self.assertEqual(code, 0, output)
        self.assertRegex(output, r"Protocol\s*: TLSv1\.2")
        self.assertIn("Verify return code: 0 (ok)", output)
        # The hub sent its certificate and the issuing CA: the edge, trusting only the root, built the path.
        self.assertRegex(output, r"(?s)0 s:CN = hub-1.*1 s:C = CN, O = edgeca tests, CN = Test-only Issuing CA")

        result = self.edge_identity("SN-1", tls_version="tlsv1.3").publish(broker, "SN-1-tls13", "devices/SN-1/telemetry", "x")
        self.assertNotEqual(result.returncode, 0, result.stdout + result.stderr)
        self.assertIsNone(broker.connected_as("SN-1-tls13"))
        broker.wait_for_log(r"unsupported protocol")

    # --- refusals -----------------------------------------------------------------------------

    def test_an_edge_certificate_from_another_ca_is_refused(self):
        broker = self.broker()
        # A second CA, made by OpenSSL, certifies a key under the same device name.
        foreign_key = self.path("foreign-ca.key")
        foreign_ca = self.path("foreign-ca.pem")
        openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", foreign_key, "-out", foreign_ca,
                "-days", "2", "-subj", "/CN=Test-only Foreign Root/O=elsewhere",
                "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign")
        key, csr = self.make_key_and_csr("foreign-edge", "/CN=SN-1")
        extensions = self.write("foreign-edge.ext", "basicConstraints=critical,CA:FALSE\n"
                                "keyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n")
        cert = self.path("foreign-edge.pem")
        openssl("x509", "-req", "-in", csr, "-CA", foreign_ca, "-CAkey", foreign_key, "-CAcreateserial",
                "-days", "2", "-extfile", extensions, "-out", cert)
        # The certificate is sound under its own CA: what the broker refuses is the CA.
        openssl("verify", "-CAfile", foreign_ca, "-purpose", "sslclient", cert)

        self.assertRefused(broker, MqttIdentity(self.ca.root_pem, cert, key), "SN-1-foreign",
                           "alert unknown ca", r"certificate verify failed")
        # The genuine edge still gets in.
        self.assertEqual(self.assertConnects(broker, self.edge_identity("SN-1"), "SN-1-genuine"), "SN-1")

    def test_an_edge_without_a_certificate_is_refused(self):
        broker = self.broker()
        self.assertRefused(broker, MqttIdentity(self.ca.root_pem), "SN-1-anonymous",
                           "alert handshake failure", r"peer did not return a certificate")

    def test_a_revoked_edge_is_refused_once_the_broker_has_the_new_crl(self):
        broker = self.broker()
        revoked = self.edge_identity("SN-REVOKED")
        kept = self.edge_identity("SN-KEPT")
        self.assertEqual(self.assertConnects(broker, revoked, "SN-REVOKED-before"), "SN-REVOKED")

        # 4a/4b: the hub revokes the certificate through the API; edgeca re-signs its CRL.
        serial = self.edge("SN-REVOKED")[2]
        status, _, record = self.ca.request("POST", f"/v1/certificates/{serial}/revoke", {"reason": "keyCompromise"},
                                            cert=self.hub[0], key=self.hub[1])
        self.assertEqual((status, record.get("status")), (200, "revoked"), record)
        crl = self.wait_for_serial_in_served_crl(serial, 10)

        # The broker still holds the CRL it was started with: the revoked edge gets in until it reloads.
        self.assertEqual(self.assertConnects(broker, revoked, "SN-REVOKED-stale"), "SN-REVOKED")
        with open(broker.crlfile, "wb") as f:
            f.write(crl)

        # A reload (SIGHUP) takes the new CRL without a restart; it is applied in the broker's
        # main loop, so the first refusal is awaited in a bounded loop.
        broker.reload()
        deadline = time.monotonic() + 5
        for attempt in itertools.count():
            result = revoked.publish(broker, f"SN-REVOKED-reload-{attempt}", "devices/SN-REVOKED/telemetry", "x")
            if result.returncode != 0 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        self.assertRefused(broker, revoked, "SN-REVOKED-reloaded", "alert certificate revoked",
                           r"certificate verify failed")
        self.assertEqual(self.assertConnects(broker, kept, "SN-KEPT-reloaded"), "SN-KEPT")

        # A restart reads the same CRL file.
        broker.restart()
        self.assertRefused(broker, revoked, "SN-REVOKED-restarted", "alert certificate revoked",
                           r"certificate verify failed")
        self.assertEqual(self.assertConnects(broker, kept, "SN-KEPT-restarted"), "SN-KEPT")

    def test_an_edge_refuses_a_hub_whose_name_does_not_match_what_it_dials(self):
        other_hub = self.ca.enroll("hub-x", dns="hub.test.example")
        broker = self.broker(hub=other_hub, name="broker-x")
        edge = self.edge_identity("SN-1")

        result = edge.publish(broker, "SN-1-mismatch", "devices/SN-1/telemetry", "should never arrive")
        self.assertNotEqual(result.returncode, 0, result.stdout + result.stderr)
        self.assertIn("host name verification failed", result.stdout + result.stderr)
        self.assertIsNone(broker.connected_as("SN-1-mismatch"))
        # The name is the only fault: without the name check the same edge connects, and OpenSSL
        # verifies the same chain for the name the certificate carries.
        insecure = self.edge_identity("SN-1", insecure=True)
        self.assertEqual(self.assertConnects(broker, insecure, "SN-1-insecure"), "SN-1")
        cert, key, _ = self.edge("SN-1")
        code, output = s_client(broker, self.ca.root_pem, cert, key, "localhost")
        self.assertNotEqual(code, 0, output)
        self.assertIn("hostname mismatch", output)
        code, output = s_client(broker, self.ca.root_pem, cert, key, "hub.test.example")
        self.assertEqual(code, 0, output)
        self.assertIn("Verify return code: 0 (ok)", output)

    # --- helpers ------------------------------------------------------------------------------

    def wait_for_serial_in_served_crl(self, serial, deadline_seconds):
        """The served CRL (PEM bytes) once it lists `serial`; a bounded loop."""
        deadline = time.monotonic() + deadline_seconds
        while time.monotonic() < deadline:
            crl = self.served_crl()
            path = self.write("served-crl.pem", crl)
            text = openssl("crl", "-in", path, "-noout", "-text").stdout
            if re.search(rf"Serial Number: {serial.upper()}\b", text):
                return crl
            time.sleep(0.2)
        self.fail(f"{serial} did not appear in the served CRL within {deadline_seconds}s")


if __name__ == "__main__":
    unittest.main()
