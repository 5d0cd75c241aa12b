"""Interop: every kind of artifact edgeca produces (root, intermediate, edge, hub and client
certificates; the issuer CRL and the root CRL) is read and checked by three independent
verifiers: OpenSSL (`verify`, `x509 -text`, `crl`), GnuTLS (`certtool`) and Botan's path
validation (tests/tools/botan-verify). Each verifier must accept what is valid and refuse what is
revoked, misused, tampered with or outside its constraints."""
import base64
import os
import re
import time
import unittest

from harness import (BUILD_DIR, IssuingCA, SERVICE_CONFIG, SharedWorkspace, TempDirTestCase, extension_block,
                     openssl, run, x509_text)

CONFIG = SERVICE_CONFIG + """
[crl]
publish_delay = "1s"
"""

BOTAN_VERIFY = os.path.join(BUILD_DIR, "tests", "tools", "botan-verify")

# One name per purpose for each verifier.
PURPOSES = {
    "client": {"openssl": "sslclient", "gnutls": "1.3.6.1.5.5.7.3.2", "botan": "tls-client"},
    "server": {"openssl": "sslserver", "gnutls": "1.3.6.1.5.5.7.3.1", "botan": "tls-server"},
}

OPENSSL_OK = ": OK"
GNUTLS_OK = "Chain verification output: Verified."
GNUTLS_REFUSED = "Chain verification output: Not verified."
BOTAN_OK = "Verified"


def pem_blocks(path, kind="CERTIFICATE"):
    with open(path) as f:
        return re.findall(rf"-----BEGIN {kind}-----.*?-----END {kind}-----\n?", f.read(), re.S)


def tampered(workspace, path, name, kind):
    """A copy of a PEM object with one bit of its signature flipped (the last octet of the DER)."""
    body = "".join(pem_blocks(path, kind)[0].splitlines()[1:-1])
    der = bytearray(base64.b64decode(body))
    der[-1] ^= 0x01
    text = base64.encodebytes(bytes(der)).decode().replace("\n", "")
    lines = [text[i:i + 64] for i in range(0, len(text), 64)]
    return workspace.write(name, f"-----BEGIN {kind}-----\n" + "\n".join(lines) + f"\n-----END {kind}-----\n")


def concatenate(workspace, name, *paths):
    return workspace.write(name, "".join(open(p).read() for p in paths))


class Verifiers:
    """The three peers, run on one chain: root (trusted), issuer (untrusted), leaf."""

    def openssl(self, leaf, *, root, issuer=None, crls=(), purpose=None, hostname=None, extra=(),
                crl_check="-crl_check_all"):
        command = ["openssl", "verify", "-x509_strict", "-CAfile", root]
        if issuer:
            command += ["-untrusted", issuer]
        for crl in crls:
            command += ["-CRLfile", crl]
        if crls:
            command.append(crl_check)
        if purpose:
            command += ["-purpose", PURPOSES[purpose]["openssl"]]
        if hostname:
            command += ["-verify_hostname", hostname]
        return run([*command, *extra, leaf])

    def gnutls(self, chain, *, root, crls=(), purpose=None, hostname=None):
        """`certtool --verify`: `chain` is the leaf followed by its issuer, checked against the root."""
        command = ["certtool", "--verify", "--verify-profile", "medium", "--load-ca-certificate", root,
                   "--infile", chain]
        if crls:
            command += ["--load-crl", concatenate(self, f"gnutls-crls-{time.monotonic_ns()}.pem", *crls)]
        if purpose:
            command += ["--verify-purpose", PURPOSES[purpose]["gnutls"]]
        if hostname:
            command += ["--verify-hostname", hostname]
        return run(command)

    def gnutls_chain(self, full_chain, *, purpose=None):
        """`certtool --verify-chain`: the file holds the whole path, ending with the root."""
        command = ["certtool", "--verify-chain", "--verify-profile", "medium", "--infile", full_chain]
        if purpose:
            command += ["--verify-purpose", PURPOSES[purpose]["gnutls"]]
        return run(command)

    def botan(self, leaf, *, root, issuer=None, crls=(), purpose=None, hostname=None):
        self.assertTrue(os.access(BOTAN_VERIFY, os.X_OK), f"{BOTAN_VERIFY} is not built (tests/tools/meson.build)")
        command = [BOTAN_VERIFY, "--trusted", root]
        if issuer:
            command += ["--untrusted", issuer]
        for crl in crls:
            command += ["--crl", crl]
        command += ["--usage", PURPOSES[purpose]["botan"] if purpose else "any"]
        if hostname:
            command += ["--hostname", hostname]
        return run([*command, leaf])

    # --- verdicts -----------------------------------------------------------------------------

    def assertAccepted(self, result, marker):
        output = result.stdout + result.stderr
        self.assertEqual(result.returncode, 0, f"{result.args}\n{output}")
        self.assertIn(marker, output)

    def assertRefused(self, result, reason):
        output = result.stdout + result.stderr
        self.assertNotEqual(result.returncode, 0, f"accepted: {result.args}\n{output}")
        self.assertIn(reason, output, f"{result.args}")


class InteropCase(Verifiers, TempDirTestCase):
    pass


class InteropTest(InteropCase):
    """One issuing CA serving its CRL; a root CRL from the ceremony; one edge revoked by its hub."""

    @classmethod
    def setUpClass(cls):
        # Class cleanups run even when setUpClass fails half-way: no service outlives the class.
        cls.space = space = SharedWorkspace()
        cls.addClassCleanup(space.close)
        cls.ca = ca = IssuingCA(space, config=CONFIG)
        ca.start()
        cls.addClassCleanup(ca.stop)
        cls.root, cls.issuer = ca.root_pem, ca.certificate
        cls.hub = ca.enroll("hub-1", dns="localhost")
        cls.client = ca.enroll("tool", profile="client", role="admin")
        ca.add_product("P1")
        cls.edge = cls.issue_edge("SN-OK")
        cls.revoked_edge = cls.issue_edge("SN-REVOKED")
        cls.issuer_crl_before = cls.served_crl("issuer-crl-before.pem")
        cls.root_crl = space.path("root-crl.pem")
        result = ca.ceremony.root("crl", "--dir", ca.ceremony.dir, "--out", cls.root_crl)
        space.assertEqual(result.returncode, 0, result.stdout + result.stderr)

        # The hub revokes SN-REVOKED through the API; the served CRL lists it within the delay.
        serial = cls.revoked_edge[2]
        status, _, record = ca.request("POST", f"/v1/certificates/{serial}/revoke", {"reason": "keyCompromise"},
                                       cert=cls.hub[0], key=cls.hub[1])
        space.assertEqual(status, 200, record)
        deadline = time.monotonic() + 10
        while True:
            cls.issuer_crl_after = cls.served_crl("issuer-crl-after.pem")
            text = openssl("crl", "-in", cls.issuer_crl_after, "-noout", "-text").stdout
            if serial.upper() in text:
                break
            if time.monotonic() > deadline:
                raise AssertionError(f"{serial} not in the served CRL within 10 s")
            time.sleep(0.2)

    @classmethod
    def issue_edge(cls, device_key):
        status, body, key = cls.ca.edge_certificate(cls.hub, device_key)
        cls.space.assertEqual(status, 201, body)
        return cls.space.write(f"{device_key}.pem", body["certificate"]), key, body["serial"]

    @classmethod
    def served_crl(cls, name):
        status, _, body = cls.ca.request("GET", "/crl.pem", tls=False)
        cls.space.assertEqual(status, 200, body)
        return cls.space.write(name, body)

    def chain(self, leaf):
        """leaf + issuing CA (what a peer sends) and leaf + issuing CA + root (the whole path)."""
        name = os.path.basename(leaf)
        return (concatenate(self, f"{name}.chain", leaf, self.issuer),
                concatenate(self, f"{name}.full", leaf, self.issuer, self.root))

    def check_leaf(self, leaf, accepted, refused, hostname=None):
        """Every verifier accepts `leaf` for each purpose in `accepted` and refuses it, as a misuse,
        for each purpose in `refused`."""
        chain, full = self.chain(leaf)
        for purpose in accepted:
            self.assertAccepted(self.openssl(leaf, root=self.root, issuer=self.issuer, purpose=purpose,
                                             hostname=hostname), OPENSSL_OK)
            self.assertAccepted(self.gnutls(chain, root=self.root, purpose=purpose, hostname=hostname), GNUTLS_OK)
            self.assertAccepted(self.gnutls_chain(full, purpose=purpose), GNUTLS_OK)
            self.assertAccepted(self.botan(leaf, root=self.root, issuer=self.issuer, purpose=purpose,
                                           hostname=hostname), BOTAN_OK)
        for purpose in refused:
            self.assertRefused(self.openssl(leaf, root=self.root, issuer=self.issuer, purpose=purpose),
                               "error 26 at 0 depth lookup: unsuitable certificate purpose")
            self.assertRefused(self.gnutls(chain, root=self.root, purpose=purpose),
                               "does not match the intended purpose")
            self.assertRefused(self.gnutls_chain(full, purpose=purpose), "does not match the intended purpose")
            self.assertRefused(self.botan(leaf, root=self.root, issuer=self.issuer, purpose=purpose),
                               "Certificate does not allow the requested usage")

    # --- CA certificates ----------------------------------------------------------------------

    def test_root_certificate(self):
        text = x509_text(self.root)
        subject = re.search(r"Subject: (.*)", text).group(1)
        self.assertEqual(re.search(r"Issuer: (.*)", text).group(1), subject, "the root is self-issued")
        extensions = extension_block(text)
        self.assertEqual(extensions["X509v3 Basic Constraints"], (True, "CA:TRUE"))
        self.assertEqual(extensions["X509v3 Key Usage"], (True, "Certificate Sign, CRL Sign"))
        self.assertIn("X509v3 Subject Key Identifier", extensions)
        self.assertIn("Public-Key: (2048 bit)", text)

        # Accepted as a trust anchor, with its self-signature checked ...
        self.assertAccepted(self.openssl(self.root, root=self.root, extra=["-check_ss_sig"]), OPENSSL_OK)
        self.assertAccepted(run(["certtool", "--verify-chain", "--verify-profile", "medium", "--infile", self.root]),
                            GNUTLS_OK)
        self.assertAccepted(self.gnutls(self.root, root=self.root), GNUTLS_OK)
        # (Botan refuses a self-signed end entity by design; it checks the root's self-signature,
        # key strength and validity as the anchor of the intermediate's path.)
        self.assertAccepted(self.botan(self.issuer, root=self.root), BOTAN_OK)

        # ... and refused once one bit of that signature is flipped.
        bad_root = tampered(self, self.root, "tampered-root.pem", "CERTIFICATE")
        self.assertRefused(self.openssl(bad_root, root=bad_root, extra=["-check_ss_sig"]), "certificate signature failure")
        self.assertRefused(run(["certtool", "--verify-chain", "--infile", bad_root]),
                           "The signature in the certificate is invalid")
        self.assertRefused(self.gnutls(bad_root, root=bad_root), "The signature in the certificate is invalid")
        # Botan calls a certificate self-signed only when its self-signature verifies: the tampered
        # root is no root to it, and the path back to it never ends.
        self.assertRefused(self.botan(self.issuer, root=bad_root), "Loop in certificate chain")

    def test_intermediate_certificate(self):
        text = x509_text(self.issuer)
        extensions = extension_block(text)
        self.assertEqual(extensions["X509v3 Basic Constraints"], (True, "CA:TRUE, pathlen:0"))
        self.assertEqual(extensions["X509v3 Key Usage"], (True, "Certificate Sign, CRL Sign"))
        self.assertIn("X509v3 Authority Key Identifier", extensions)
        info = run(["certtool", "--certificate-info", "--infile", self.issuer]).stdout
        self.assertRegex(info, r"Basic Constraints \(critical\):\n\s+Certificate Authority \(CA\): TRUE\n"
                               r"\s+Path Length Constraint: 0")

        chain = concatenate(self, "issuer.full", self.issuer, self.root)
        self.assertAccepted(self.openssl(self.issuer, root=self.root), OPENSSL_OK)
        self.assertAccepted(self.gnutls(self.issuer, root=self.root), GNUTLS_OK)
        self.assertAccepted(self.gnutls_chain(chain), GNUTLS_OK)
        self.assertAccepted(self.botan(self.issuer, root=self.root), BOTAN_OK)
        self.assertAccepted(self.botan(self.issuer, root=self.root, crls=[self.root_crl]), BOTAN_OK)

        # pathlen:0 means what it says: a CA certificate signed with the issuing CA's key (forged
        # here with OpenSSL; edgeca never issues one) cannot certify anything that verifies.
        sub_ca, sub_key = self.forge_sub_ca()
        # The forged CA itself verifies (it ends the path); only what it certifies breaks pathlen:0.
        self.assertAccepted(self.openssl(sub_ca, root=self.root, issuer=self.issuer), OPENSSL_OK)
        self.assertAccepted(self.gnutls(concatenate(self, "sub-ca.chain", sub_ca, self.issuer), root=self.root),
                            GNUTLS_OK)
        self.assertAccepted(self.botan(sub_ca, root=self.root, issuer=self.issuer), BOTAN_OK)
        leaf, _ = self.forge_leaf(sub_ca, sub_key)
        untrusted = concatenate(self, "sub-ca-chain.pem", sub_ca, self.issuer)
        self.assertRefused(self.openssl(leaf, root=self.root, issuer=untrusted), "path length constraint exceeded")
        self.assertRefused(self.gnutls(concatenate(self, "forged.chain", leaf, sub_ca, self.issuer), root=self.root),
                           "The certificate chain violates the signer's constraints")
        self.assertRefused(self.gnutls_chain(concatenate(self, "forged.full", leaf, sub_ca, self.issuer, self.root)),
                           "The certificate chain violates the signer's constraints")
        self.assertRefused(self.botan(leaf, root=self.root, issuer=untrusted), "Certificate chain too long")

    def forge_sub_ca(self):
        key, csr = self.make_key_and_csr("forged-sub-ca", "/CN=Forged Sub CA")
        extensions = self.write("forged-sub-ca.ext", "basicConstraints=critical,CA:TRUE\n"
                                "keyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\n"
                                "authorityKeyIdentifier=keyid\n")
        cert = self.path("forged-sub-ca.pem")
        openssl("x509", "-req", "-in", csr, "-CA", self.issuer, "-CAkey", os.path.join(self.ca.dir, "issuer.key"),
                "-passin", f"file:{self.ca.passphrase_file}", "-set_serial", "0x5ab5ca", "-days", "2",
                "-extfile", extensions, "-out", cert)
        return cert, key

    def forge_leaf(self, ca_cert, ca_key):
        key, csr = self.make_key_and_csr("forged-leaf", "/CN=SN-FORGED")
        extensions = self.write("forged-leaf.ext", "basicConstraints=critical,CA:FALSE\n"
                                "keyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n"
                                "authorityKeyIdentifier=keyid\n")
        cert = self.path("forged-leaf.pem")
        openssl("x509", "-req", "-in", csr, "-CA", ca_cert, "-CAkey", ca_key, "-set_serial", "0x1eaf",
                "-days", "2", "-extfile", extensions, "-out", cert)
        return cert, key

    # --- leaf certificates --------------------------------------------------------------------

    def test_edge_certificate_is_for_clients_only(self):
        extensions = extension_block(x509_text(self.edge[0]))
        self.assertEqual(extensions["X509v3 Basic Constraints"], (True, "CA:FALSE"))
        self.assertEqual(extensions["X509v3 Key Usage"], (True, "Digital Signature, Key Encipherment"))
        self.assertEqual(extensions["X509v3 Extended Key Usage"][1], "TLS Web Client Authentication")
        self.assertNotIn("X509v3 Subject Alternative Name", extensions)
        self.check_leaf(self.edge[0], accepted=["client"], refused=["server"])

    def test_hub_certificate_serves_and_calls_under_its_name(self):
        extensions = extension_block(x509_text(self.hub[0]))
        self.assertEqual(extensions["X509v3 Basic Constraints"], (True, "CA:FALSE"))
        self.assertEqual(extensions["X509v3 Extended Key Usage"][1],
                         "TLS Web Server Authentication, TLS Web Client Authentication")
        self.assertEqual(extensions["X509v3 Subject Alternative Name"][1], "DNS:localhost")
        self.check_leaf(self.hub[0], accepted=["server", "client"], refused=[], hostname="localhost")
        # A peer dialling another name refuses the hub.
        chain, _ = self.chain(self.hub[0])
        self.assertRefused(self.openssl(self.hub[0], root=self.root, issuer=self.issuer, purpose="server",
                                        hostname="otherhost.test.example"), "hostname mismatch")
        self.assertRefused(self.gnutls(chain, root=self.root, purpose="server", hostname="otherhost.test.example"),
                           "The name in the certificate does not match")
        self.assertRefused(self.botan(self.hub[0], root=self.root, issuer=self.issuer, purpose="server",
                                      hostname="otherhost.test.example"), "Certificate does not match provided name")

    def test_client_certificate_is_for_clients_only(self):
        extensions = extension_block(x509_text(self.client[0]))
        self.assertEqual(extensions["X509v3 Basic Constraints"], (True, "CA:FALSE"))
        self.assertEqual(extensions["X509v3 Extended Key Usage"][1], "TLS Web Client Authentication")
        self.check_leaf(self.client[0], accepted=["client"], refused=["server"])

    def test_a_certificate_is_refused_under_another_root(self):
        other = self.path("other-root.pem")
        openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", self.path("other-root.key"), "-out", other,
                "-days", "2", "-subj", "/C=CN/O=edgeca tests/CN=Test-only Root CA",
                "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign")
        chain, _ = self.chain(self.edge[0])
        self.assertRefused(self.openssl(self.edge[0], root=other, issuer=self.issuer, purpose="client"),
                           "unable to get local issuer certificate")
        self.assertRefused(self.gnutls(chain, root=other, purpose="client"), GNUTLS_REFUSED)
        self.assertRefused(self.botan(self.edge[0], root=other, issuer=self.issuer, purpose="client"),
                           "Certificate issuer not found")

    # --- CRLs ---------------------------------------------------------------------------------

    def test_crls_are_read_and_verified_under_their_issuer(self):
        for crl, signer, issuer_cn in [(self.issuer_crl_after, self.issuer, "Test-only Issuing CA"),
                                       (self.root_crl, self.root, "Test-only Root CA")]:
            text = openssl("crl", "-in", crl, "-noout", "-text").stdout
            self.assertIn("Version 2 (0x1)", text)
            self.assertIn(f"CN = {issuer_cn}", text)
            self.assertIn("Signature Algorithm: sha256WithRSAEncryption", text)
            self.assertRegex(text, r"X509v3 CRL Number: \n\s+\d+")
            self.assertRegex(text, r"X509v3 Authority Key Identifier: \n\s+[0-9A-F:]{59}")
            self.assertRegex(text, r"Next Update: \w{3} +\d+ [\d:]{8} \d{4} GMT")
            info = run(["certtool", "--crl-info", "--infile", crl]).stdout
            self.assertIn(f"CN={issuer_cn}", info)
            self.assertIn("CRL Number (not critical)", info)
            # `openssl crl -CAfile` exits 0 on a bad signature: its verdict is in its output.
            anchors = concatenate(self, "anchors.pem", signer, self.root)
            self.assertAccepted(run(["openssl", "crl", "-in", crl, "-noout", "-CAfile", anchors]), "verify OK")
            self.assertAccepted(run(["certtool", "--verify-crl", "--load-ca-certificate", signer, "--infile", crl]),
                                "Verification output: Verified.")
            # Under the wrong CA, and once tampered with, no verifier accepts the CRL.
            wrong = self.root if signer == self.issuer else self.issuer
            self.assertRefused(run(["openssl", "crl", "-in", crl, "-noout", "-CAfile", wrong]),
                               "Error getting CRL issuer certificate")
            self.assertRefused(run(["certtool", "--verify-crl", "--load-ca-certificate", wrong, "--infile", crl]),
                               "Not verified")
            bad = tampered(self, crl, f"tampered-{os.path.basename(crl)}", "X509 CRL")
            result = run(["openssl", "crl", "-in", bad, "-noout", "-CAfile", anchors])
            self.assertIn("verify failure", result.stdout + result.stderr)
            self.assertNotIn("verify OK", result.stdout + result.stderr)
            self.assertRefused(run(["certtool", "--verify-crl", "--load-ca-certificate", signer, "--infile", bad]),
                               "Not verified")
        # Botan reads each CRL in path validation: the root CRL for the intermediate, and a
        # tampered one is refused.
        self.assertAccepted(self.botan(self.issuer, root=self.root, crls=[self.root_crl]), BOTAN_OK)
        bad_root_crl = tampered(self, self.root_crl, "tampered-root-crl.pem", "X509 CRL")
        self.assertRefused(self.botan(self.issuer, root=self.root, crls=[bad_root_crl]), "CRL bad signature")
        bad_issuer_crl = tampered(self, self.issuer_crl_after, "tampered-issuer-crl.pem", "X509 CRL")
        self.assertRefused(self.botan(self.revoked_edge[0], root=self.root, issuer=self.issuer,
                                      crls=[bad_issuer_crl, self.root_crl], purpose="client"), "CRL bad signature")

    def test_openssl_checks_both_crls_before_and_after_a_revocation(self):
        edge, revoked = self.edge[0], self.revoked_edge[0]
        before = [self.issuer_crl_before, self.root_crl]
        after = [self.issuer_crl_after, self.root_crl]
        for leaf, crls in [(revoked, before), (edge, before), (edge, after), (self.hub[0], after), (self.client[0], after)]:
            self.assertAccepted(self.openssl(leaf, root=self.root, issuer=self.issuer, crls=crls, purpose="client"),
                                OPENSSL_OK)
        result = self.openssl(revoked, root=self.root, issuer=self.issuer, crls=after, purpose="client")
        self.assertRefused(result, "certificate revoked")
        self.assertIn("error 23 at 0 depth", result.stdout + result.stderr)
        # Without the root's CRL, -crl_check_all cannot vouch for the intermediate.
        self.assertRefused(self.openssl(edge, root=self.root, issuer=self.issuer, crls=[self.issuer_crl_after]),
                           "unable to get certificate CRL")

    def test_gnutls_checks_both_crls_before_and_after_a_revocation(self):
        revoked_chain, _ = self.chain(self.revoked_edge[0])
        before = [self.issuer_crl_before, self.root_crl]
        after = [self.issuer_crl_after, self.root_crl]
        for leaf, crls in [(self.revoked_edge[0], before), (self.edge[0], before), (self.edge[0], after),
                           (self.hub[0], after), (self.client[0], after)]:
            result = self.gnutls(self.chain(leaf)[0], root=self.root, crls=crls, purpose="client")
            self.assertAccepted(result, GNUTLS_OK)
            self.assertIn("Checked against CRL", result.stdout)
        result = self.gnutls(revoked_chain, root=self.root, crls=after, purpose="client")
        self.assertRefused(result, GNUTLS_REFUSED)
        self.assertIn("revoked", result.stdout.split("Chain verification output:")[1])

    def test_botan_refuses_a_revoked_edge(self):
        result = self.botan(self.revoked_edge[0], root=self.root, issuer=self.issuer,
                            crls=[self.issuer_crl_after, self.root_crl], purpose="client")
        self.assertRefused(result, "Certificate is revoked")
        # Revocation data is demanded: a leaf without its issuer's CRL is refused too.
        self.assertRefused(self.botan(self.edge[0], root=self.root, issuer=self.issuer, crls=[self.root_crl],
                                      purpose="client"), "No revocation data")

    def test_botan_accepts_unrevoked_leaves_with_the_crls(self):
        for leaf, crls, purpose in [(self.revoked_edge[0], [self.issuer_crl_before, self.root_crl], "client"),
                                    (self.edge[0], [self.issuer_crl_after, self.root_crl], "client"),
                                    (self.hub[0], [self.issuer_crl_after, self.root_crl], "server"),
                                    (self.client[0], [self.issuer_crl_after, self.root_crl], "client")]:
            result = self.botan(leaf, root=self.root, issuer=self.issuer, crls=crls, purpose=purpose)
            if "No CRL with matching distribution point" in result.stdout:
                # Botan 2.19 (PKIX::check_crl) wants a CRL whose issuingDistributionPoint URI equals
                # the certificate's CRL distribution point; edgeca's CRLs are complete and carry
                # none (Mbed TLS refuses the critical extension), and botan-verify applies RFC
                # 5280's rule for a complete CRL instead (tests/tools/botan_verify.cpp).
                idp = "Issuing Distribution Point" in openssl("crl", "-in", crls[0], "-noout", "-text").stdout
                cdp = extension_block(x509_text(leaf)).get("X509v3 CRL Distribution Points", (None, "none"))[1]
                self.fail(f"Botan refused {os.path.basename(leaf)} with the issuer CRL: {result.stdout.strip()}; "
                          f"certificate CDP: {' '.join(cdp.split())}; CRL has an issuingDistributionPoint: {idp}")
            self.assertAccepted(result, BOTAN_OK)

    def test_botan_verify_gives_botans_verdicts_on_an_openssl_ca(self):
        """The tool itself, on a CA made with `openssl ca` whose CRL names its distribution point:
        it accepts the valid leaf and refuses it once revoked, so what it says of edgeca's
        artifacts is Botan's verdict, not the tool's."""
        url = "http://127.0.0.1:9/crl"
        ca_key, ca_cert = self.path("control-ca.key"), self.path("control-ca.pem")
        openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", ca_key, "-out", ca_cert, "-days", "2",
                "-subj", "/CN=Control CA", "-addext", "basicConstraints=critical,CA:TRUE",
                "-addext", "keyUsage=critical,keyCertSign,cRLSign")
        key, csr = self.make_key_and_csr("control-leaf", "/CN=control-leaf")
        leaf = self.path("control-leaf.pem")
        extensions = self.write("control-leaf.ext", "basicConstraints=critical,CA:FALSE\n"
                                "keyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n"
                                f"crlDistributionPoints=URI:{url}\n")
        openssl("x509", "-req", "-in", csr, "-CA", ca_cert, "-CAkey", ca_key, "-set_serial", "0x0c0ffee",
                "-days", "2", "-extfile", extensions, "-out", leaf)
        self.write("index.txt", "")
        self.write("crlnumber", "01\n")
        config = self.write("control-ca.cnf", f"""[ca]
default_ca = control
[control]
database = {self.path("index.txt")}
crlnumber = {self.path("crlnumber")}
default_md = sha256
default_crl_days = 1
crl_extensions = crl_extensions
[crl_extensions]
authorityKeyIdentifier = keyid
issuingDistributionPoint = critical, @idp
[idp]
fullname = URI:{url}
""")
        ca = ["ca", "-config", config, "-keyfile", ca_key, "-cert", ca_cert]
        before = self.path("control-crl-before.pem")
        openssl(*ca, "-gencrl", "-out", before)
        self.assertAccepted(self.botan(leaf, root=ca_cert, crls=[before], purpose="client"), BOTAN_OK)
        openssl(*ca, "-revoke", leaf, "-crl_reason", "keyCompromise")
        after = self.path("control-crl-after.pem")
        openssl(*ca, "-gencrl", "-out", after)
        self.assertRefused(self.botan(leaf, root=ca_cert, crls=[after], purpose="client"), "Certificate is revoked")
        # OpenSSL and GnuTLS agree on both CRLs. (-crl_check only: under -crl_check_all OpenSSL
        # would also hold the self-signed CA, which has no distribution point, to this CRL's scope.)
        self.assertAccepted(self.openssl(leaf, root=ca_cert, crls=[before], purpose="client", crl_check="-crl_check"),
                            OPENSSL_OK)
        self.assertRefused(self.openssl(leaf, root=ca_cert, crls=[after], purpose="client", crl_check="-crl_check"),
                           "certificate revoked")
        self.assertAccepted(self.gnutls(leaf, root=ca_cert, crls=[before], purpose="client"), GNUTLS_OK)
        self.assertRefused(self.gnutls(leaf, root=ca_cert, crls=[after], purpose="client"), GNUTLS_REFUSED)


class InteropRootRevocationTest(InteropCase):
    def test_a_revoked_intermediate_is_refused_by_every_verifier(self):
        ca = IssuingCA(self, config=CONFIG)
        ca.start()
        hub = ca.enroll("hub-1", dns="localhost")
        ca.add_product("P1")
        status, body, _ = ca.edge_certificate(hub, "SN-1")
        self.assertEqual(status, 201, body)
        edge = self.write("edge.pem", body["certificate"])
        root, issuer, ceremony = ca.root_pem, ca.certificate, ca.ceremony
        status, _, crl = ca.request("GET", "/crl.pem", tls=False)
        issuer_crl = self.write("issuer-crl.pem", crl)
        root_crl = self.path("root-crl.pem")
        self.assertExit(ceremony.root("crl", "--dir", ceremony.dir, "--out", root_crl), 0)
        edge_chain = concatenate(self, "edge.chain", edge, issuer)

        def verdicts(root_crl):
            crls = [issuer_crl, root_crl]
            return {
                "openssl-intermediate": self.openssl(issuer, root=root, crls=[root_crl]),
                "openssl-edge": self.openssl(edge, root=root, issuer=issuer, crls=crls, purpose="client"),
                "gnutls-intermediate": self.gnutls(issuer, root=root, crls=[root_crl]),
                "gnutls-edge": self.gnutls(edge_chain, root=root, crls=crls, purpose="client"),
                "botan-intermediate": self.botan(issuer, root=root, crls=[root_crl]),
                "botan-edge": self.botan(edge, root=root, issuer=issuer, crls=crls, purpose="client"),
            }

        before = verdicts(root_crl)
        for name, marker in [("openssl-intermediate", OPENSSL_OK), ("openssl-edge", OPENSSL_OK),
                             ("gnutls-intermediate", GNUTLS_OK), ("gnutls-edge", GNUTLS_OK),
                             ("botan-intermediate", BOTAN_OK)]:
            self.assertAccepted(before[name], marker)

        serial = openssl("x509", "-in", issuer, "-noout", "-serial").stdout.strip().split("=")[1]
        self.assertExit(ceremony.root("revoke", "--dir", ceremony.dir, "--serial", serial, "--reason", "cACompromise"), 0)
        self.assertExit(ceremony.root("crl", "--dir", ceremony.dir, "--out", root_crl), 0)
        self.assertIn("CA Compromise", openssl("crl", "-in", root_crl, "-noout", "-text").stdout)

        after = verdicts(root_crl)
        for name, reason in [("openssl-intermediate", "certificate revoked"), ("openssl-edge", "certificate revoked"),
                             ("gnutls-intermediate", GNUTLS_REFUSED), ("gnutls-edge", GNUTLS_REFUSED),
                             ("botan-intermediate", "Certificate is revoked"), ("botan-edge", "Certificate is revoked")]:
            self.assertRefused(after[name], reason)
        self.assertIn("error 23 at 1 depth", after["openssl-edge"].stdout + after["openssl-edge"].stderr)
        self.assertIn("revoked", after["gnutls-edge"].stdout.split("Chain verification output:")[1])


if __name__ == "__main__":
    unittest.main()
