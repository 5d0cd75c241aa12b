"""Relying parties that load edgeca's CRLs themselves: Mbed TLS (the TLS stack of the EnOS C
device SDK) parses the issuer CRL and the root CRL as served and finds the revoked serials, and
Java's PKIX validation, with revocation on and CRLs fetched only from the certificates'
distribution points, accepts the valid edge and refuses a revoked edge and a revoked issuing CA.
Both peers are built here from tests/peers with the system's compilers: a peer that cannot be
built fails the test."""
import os
import re
import shutil
import tempfile
import time
import unittest

from harness import (IssuingCA, RootCeremony, SERVICE_CONFIG, SharedWorkspace, TempDirTestCase, free_port,
                     openssl, run)

PEERS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "peers")
CONFIG = SERVICE_CONFIG + """
[crl]
publish_delay = "1s"
"""


def build_mbedtls_peer(workspace):
    """tests/peers/mbedtls_crl_check.c against Debian's libmbedtls-dev (scripts/install-deps.sh)."""
    out = workspace.path("mbedtls_crl_check")
    result = run(["cc", "-std=c99", "-Wall", "-Werror", "-o", out, os.path.join(PEERS, "mbedtls_crl_check.c"),
                  "-lmbedx509", "-lmbedcrypto"])
    if result.returncode != 0:
        raise AssertionError("the Mbed TLS peer does not build (is libmbedtls-dev installed? "
                             f"scripts/install-deps.sh):\n{result.stderr}")
    return out


def build_java_peer(workspace):
    """tests/peers/PkixCrlCheck.java with javac (default-jdk-headless, scripts/install-deps.sh)."""
    classes = workspace.path("java-classes")
    os.makedirs(classes, exist_ok=True)
    if not shutil.which("javac") or not shutil.which("java"):
        raise AssertionError("javac and java are needed (default-jdk-headless; scripts/install-deps.sh)")
    result = run(["javac", "-d", classes, os.path.join(PEERS, "PkixCrlCheck.java")])
    if result.returncode != 0:
        raise AssertionError(f"the Java peer does not build:\n{result.stderr}")
    return classes


class PeerCase(TempDirTestCase):
    """An issuing CA served on a public port known before the ceremony, so that the root can name
    its CRL URL (edgeca-root init --crl-url); edges issued by a hub; one revoked."""

    @classmethod
    def make_ca(cls, space):
        cls.port = free_port()
        cls.root_crl_url = f"http://127.0.0.1:{cls.port}/root.crl"
        ceremony = RootCeremony(space, extra=("--crl-url", cls.root_crl_url))
        cls.ca = ca = IssuingCA(space, config=CONFIG, root=ceremony)
        cls.ceremony = ceremony
        cls.root_crl_count = 0
        cls.install_root_crl()
        ca.start(public_listen=f"127.0.0.1:{cls.port}")
        cls.addClassCleanup(ca.stop)
        cls.hub = ca.enroll("hub-1", dns="localhost")
        ca.add_product("P1")
        cls.edge = cls.issue_edge("SN-OK")
        cls.revoked_edge = cls.issue_edge("SN-REVOKED")
        serial = cls.revoked_edge[2]
        status, _, record = ca.request("POST", f"/v1/certificates/{serial}/revoke", {"reason": "keyCompromise"},
                                       cert=cls.hub[0], key=cls.hub[1])
        space.assertEqual(status, 200, record)
        deadline = time.monotonic() + 10
        while serial.upper() not in cls.served_text("/crl.pem"):
            if time.monotonic() > deadline:
                raise AssertionError(f"{serial} not in the served CRL within 10 s")
            time.sleep(0.2)

    @classmethod
    def install_root_crl(cls, *extra):
        """edgeca-root crl (DER, by the name) then edgeca root-crl install; once the service runs,
        waits until it serves the new one."""
        cls.root_crl_count += 1
        path = cls.space.path(f"root-{cls.root_crl_count}.crl")
        result = cls.ceremony.root("crl", "--dir", cls.ceremony.dir, "--out", path, *extra)
        cls.space.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        before = len([e for e in cls.ca.events() if e.get("event") == "root_crl_loaded"]) \
            if cls.ca.process is not None else 0
        result = cls.ca.edgeca("root-crl install", "--crl", path)
        cls.space.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        if cls.ca.process is not None:
            deadline = time.monotonic() + 10
            while len([e for e in cls.ca.events() if e.get("event") == "root_crl_loaded"]) <= before:
                if time.monotonic() > deadline:
                    raise AssertionError("the service did not load the new root CRL within 10 s")
                time.sleep(0.1)
        return path

    @classmethod
    def issue_edge(cls, device_key):
        status, body, key = cls.ca.edge_certificate(cls.hub, device_key)
        cls.space.assertEqual(status, 201, body)
        return cls.space.write(f"{device_key}.pem", body["certificate"]), key, body["serial"]

    @classmethod
    def served(cls, path, name):
        status, headers, body = cls.ca.request("GET", path, tls=False)
        cls.space.assertEqual(status, 200, body)
        return cls.space.write(name, body), headers

    @classmethod
    def served_text(cls, path):
        file, _ = cls.served(path, f"served-{time.monotonic_ns()}")
        return openssl("crl", "-in", file, "-noout", "-text",
                       *(["-inform", "DER"] if not path.endswith(".pem") else [])).stdout


class MbedTlsCrlTest(PeerCase):
    """Mbed TLS refused every CRL edgeca served (mbedtls_x509_crl_parse: -0x2562, a critical
    extension: the Issuing Distribution Point); it must load both and see what is revoked."""

    @classmethod
    def setUpClass(cls):
        cls.space = space = SharedWorkspace()
        cls.addClassCleanup(space.close)
        cls.make_ca(space)
        cls.peer = build_mbedtls_peer(space)
        # A second issuing CA, revoked at the root: the root CRL has an entry to find.
        key, csr = space.make_key_and_csr("spare-issuer", "/CN=Spare Issuing CA/O=edgeca tests/C=CN")
        spare = space.path("spare-issuer.pem")
        result = cls.ceremony.sign_intermediate(csr, spare)
        space.assertEqual(result.returncode, 0, result.stderr)
        cls.spare_serial = re.search(r"serial:\s+([0-9a-fA-F]+)", result.stdout).group(1)
        result = cls.ceremony.root("revoke", "--dir", cls.ceremony.dir, "--serial", cls.spare_serial,
                                   "--reason", "cessationOfOperation")
        space.assertEqual(result.returncode, 0, result.stderr)
        cls.install_root_crl()

    def listed(self, crl):
        result = run([self.peer, "list", crl])
        self.assertEqual(result.returncode, 0, f"Mbed TLS cannot load {crl}: {result.stdout}{result.stderr}")
        return [line.split()[1].lstrip("0") for line in result.stdout.splitlines() if line.startswith("serial ")]

    def test_mbedtls_loads_the_served_issuer_crl_and_finds_the_revoked_edge(self):
        for path in ("/crl", "/crl.pem"):
            crl, _ = self.served(path, f"issuer{path.replace('/', '-')}")
            serials = self.listed(crl)
            self.assertIn(self.revoked_edge[2].upper().lstrip("0"), serials, path)
            self.assertNotIn(self.edge[2].upper().lstrip("0"), serials, path)

    def test_mbedtls_loads_the_served_root_crl_and_finds_the_revoked_issuing_ca(self):
        for path in ("/root.crl", "/root-crl.pem"):
            crl, _ = self.served(path, f"root{path.replace('/', '-')}")
            self.assertEqual(self.listed(crl), [self.spare_serial.upper().lstrip("0")], path)

    def test_mbedtls_verifies_the_valid_edge_and_refuses_the_revoked_one_with_both_crls(self):
        issuer_crl, _ = self.served("/crl", "verify-issuer.crl")
        root_crl, _ = self.served("/root.crl", "verify-root.crl")
        chains = {}
        for name, leaf in (("ok", self.edge[0]), ("revoked", self.revoked_edge[0])):
            chains[name] = self.write(f"mbed-{name}.chain", open(leaf).read() + open(self.ca.certificate).read())
        ok = run([self.peer, "verify", self.ca.root_pem, chains["ok"], issuer_crl, root_crl])
        self.assertEqual((ok.returncode, ok.stdout.strip()), (0, "verified"), ok.stdout + ok.stderr)
        revoked = run([self.peer, "verify", self.ca.root_pem, chains["revoked"], issuer_crl, root_crl])
        self.assertEqual(revoked.returncode, 1, revoked.stdout)
        self.assertIn("revoked", revoked.stdout)


class JavaPkixTest(PeerCase):
    """Java's PKIX with revocation on fetches each certificate's CRL from its distribution point and
    refused every edge (UNDETERMINED_REVOCATION_STATUS) while the issuing CA named none."""

    @classmethod
    def setUpClass(cls):
        cls.space = space = SharedWorkspace()
        cls.addClassCleanup(space.close)
        cls.make_ca(space)
        cls.classes = build_java_peer(space)

    def java(self, leaf):
        chain = self.write(f"java-{time.monotonic_ns()}.chain", open(leaf).read() + open(self.ca.certificate).read())
        return run(["java", "-cp", self.classes, "PkixCrlCheck", self.ca.root_pem, chain], timeout=120)

    def test_java_fetches_both_crls_from_distribution_points_and_decides_each_path(self):
        valid = self.java(self.edge[0])
        self.assertEqual((valid.returncode, valid.stdout.strip()), (0, "VALID"), valid.stdout + valid.stderr)
        revoked = self.java(self.revoked_edge[0])
        self.assertEqual(revoked.returncode, 1, revoked.stdout + revoked.stderr)
        self.assertIn("reason=REVOKED index=0", revoked.stdout)

        # The root revokes the issuing CA; its next CRL, installed on the service, refuses the
        # valid edge too, at the issuing CA (index 1).
        issuer_serial = openssl("x509", "-in", self.ca.certificate, "-noout", "-serial").stdout.strip().split("=")[1]
        result = self.ceremony.root("revoke", "--dir", self.ceremony.dir, "--serial", issuer_serial,
                                    "--reason", "keyCompromise")
        self.assertExit(result, 0)
        self.install_root_crl()
        after = self.java(self.edge[0])
        self.assertEqual(after.returncode, 1, after.stdout + after.stderr)
        self.assertIn("reason=REVOKED index=1", after.stdout)


if __name__ == "__main__":
    unittest.main()
