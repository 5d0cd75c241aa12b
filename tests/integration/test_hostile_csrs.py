"""Hostile CSRs from tests/data/csr/ (TEST-ONLY fixtures, see tests/data/README.md) through the
real `edgeca serve` and the real `edgeca issue`: each file is refused with its precise error and
changes nothing in the store, or is issued with only what the profile decides ("tamed")."""
import base64
import os
import re
import unittest
from dataclasses import dataclass
from typing import Optional

from harness import SERVICE_CONFIG, IssuingCA, SharedWorkspace, extension_block, openssl, x509_text

DATA = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data"))
CORPUS = os.path.join(DATA, "csr")


@dataclass(frozen=True)
class Case:
    profile: str                   # "edge" (device P1/SN-1) or "hub" (DNS names from the SAN)
    status: int                    # what POST /v1/certificates answers
    code: Optional[str] = None     # its error.code; None for 201
    says: Optional[str] = None     # refused: a part of the error message a user needs to act
    cli_exit: Optional[int] = None  # edgeca issue; default: 3 for 400/413, 4 for 422
    cli_code: Optional[str] = None  # default: same code as the API
    kind: str = "refused"          # "refused", "tamed" (issued without the requested extensions) or "control"
    cn: Optional[str] = None       # issued: the certificate's subject is exactly CN=cn (after the CSR's C, O)
    # A refusal whose code is not the one it should be: `code` is what edgeca answers today,
    # `defect` what it should answer and why (reported; update the row when edgeca is fixed).
    defect: Optional[str] = None


def refused(profile, status, code, says=None, **kw):
    return Case(profile, status, code, says, **kw)


def tamed(cn):
    return Case("edge", 201, kind="tamed", cn=cn)


def control(profile, cn):
    return Case(profile, 201, kind="control", cn=cn)


# Each file of the corpus, what must happen to it. Hub cases use the allowed domains of
# SERVICE_CONFIG: localhost and hub.test.example.
CASES = {
    # Controls: the corpus's own well-formed requests are issued.
    "control-rsa2048.csr.pem": control("edge", "hostile-control"),
    "control-hub-san-allowed.csr.pem": control("hub", "hostile-hub-control"),
    "subject-cn-64-chars.csr.der": control("edge", "hostile-cn-64-" + "x" * 50),
    "subject-cn-64-chars-utf8.csr.der": control("edge", "\u00e9" * 64),
    # Keys.
    "rsa1024.csr.pem": refused("edge", 422, "key_size_not_2048", "RSA 1024-bit"),
    "rsa2047.csr.pem": refused("edge", 422, "key_size_not_2048", "RSA 2047-bit"),
    "rsa2049.csr.pem": refused("edge", 422, "key_size_not_2048", "RSA 2049-bit"),
    "rsa4096.csr.pem": refused("edge", 422, "key_size_not_2048", "RSA 4096-bit"),
    "rsa2048-exponent3.csr.pem": refused("edge", 422, "key_exponent_not_65537", "exponent 3"),
    "rsa2048-even-modulus.csr.der": refused("edge", 422, "key_invalid", "not a valid RSA key"),
    "rsa2048-modulus-divisible-by-3.csr.der": refused("edge", 422, "key_weak", "divisible by 3"),
    "rsa2048-modulus-divisible-by-53.csr.der": refused("edge", 422, "key_weak", "divisible by 53"),
    "rsa2048-fermat-close-primes.csr.der": refused("edge", 422, "key_weak", "factored by Fermat's method in 1 step"),
    "ec-p256.csr.pem": refused("edge", 422, "key_not_rsa", "only RSA 2048-bit"),
    "ed25519.csr.pem": refused("edge", 422, "key_not_rsa", "only RSA 2048-bit"),
    # Proof of possession.
    "bad-signature.csr.der": refused("edge", 400, "csr_signature_invalid", "signature"),
    "bad-signature-altered-subject.csr.der": refused("edge", 400, "csr_signature_invalid", "signature"),
    "bad-signature-other-key.csr.der": refused("edge", 400, "csr_signature_invalid", "signature"),
    "rsa-pss-signature.csr.pem": refused("edge", 400, "csr_signature_invalid", "RSASSA-PKCS1-v1_5"),
    # Requested extensions: issued, with the profile's extensions only.
    "ca-flag.csr.pem": tamed("hostile-ca-flag"),
    "path-length.csr.pem": tamed("hostile-path-length"),
    "name-constraints.csr.pem": tamed("hostile-name-constraints"),
    "key-usage-certsign.csr.pem": tamed("hostile-key-usage"),
    "eku-codesigning.csr.pem": tamed("hostile-eku"),
    "edge-with-san.csr.pem": tamed("hostile-edge-san"),
    "unknown-critical-extension.csr.pem": tamed("hostile-unknown-ext"),
    # Hub names.
    "san-outside-domains.csr.pem": refused("hub", 422, "dns_name_not_allowed", "mqtt.evil.example"),
    "san-lookalike-domain.csr.pem": refused("hub", 422, "dns_name_not_allowed", "evilhub.test.example"),
    "san-wildcard.csr.pem": refused("hub", 422, "dns_name_invalid", "wildcard"),
    # No IP networks are configured for hubs in SERVICE_CONFIG.
    "san-ip.csr.pem": refused("hub", 422, "ip_address_not_allowed", "IP address 127.0.0.1 is not in an allowed network"),
    "san-ipv6.csr.pem": refused("hub", 422, "ip_address_not_allowed", "IP address ::1 is not in an allowed network"),
    "san-email.csr.pem": refused("hub", 422, "san_type_not_allowed", "DNS names and IP addresses only"),
    "san-uri.csr.pem": refused("hub", 422, "san_type_not_allowed", "DNS names and IP addresses only"),
    "san-missing.csr.pem": refused("hub", 422, "dns_name_required", "subjectAltName"),
    # Subjects.
    "subject-email-attribute.csr.pem": refused("edge", 422, "subject_attribute_not_allowed", "not allowed"),
    "subject-serialnumber-attribute.csr.pem": refused("edge", 422, "subject_attribute_not_allowed", "not allowed"),
    "subject-cn-65-chars.csr.der": refused("edge", 422, "subject_attribute_too_long", "65 characters"),
    "subject-cn-65-chars-utf8.csr.der": refused("edge", 422, "subject_attribute_too_long", "65 characters"),
    "subject-cn-40000-chars.csr.der": refused("edge", 422, "subject_attribute_too_long", "40000 characters"),
    "subject-country-3-letters.csr.der": refused("edge", 422, "subject_country_invalid", "two-letter"),
    "subject-country-utf8.csr.der": refused("edge", 422, "subject_country_invalid", "two-letter"),
    "subject-cn-trailing-space.csr.der": refused("edge", 422, "subject_attribute_invalid", "ends with a space"),
    "subject-cn-bidi-override.csr.der":
        refused("edge", 422, "subject_character_not_allowed", "CN contains U+202E (RIGHT-TO-LEFT OVERRIDE)"),
    "subject-cn-zero-width-space.csr.der":
        refused("edge", 422, "subject_character_not_allowed", "CN contains U+200B (ZERO WIDTH SPACE)"),
    "subject-o-bidi-isolate.csr.der":
        refused("edge", 422, "subject_character_not_allowed", "O contains U+2067 (RIGHT-TO-LEFT ISOLATE)"),
    "subject-cn-noncharacter.csr.der": refused("edge", 422, "subject_character_not_allowed", "U+FDD0, a Unicode noncharacter"),
    "subject-no-cn.csr.pem": refused("edge", 422, "subject_cn_missing", "common name"),
    "subject-two-cns.csr.pem": refused("edge", 422, "subject_attribute_repeated", "CN"),
    "subject-embedded-nul.csr.der": refused("edge", 422, "subject_attribute_invalid", "NUL"),
    "subject-bad-utf8.csr.der": refused("edge", 422, "subject_attribute_invalid", "UTF-8"),
    # Over the API's 64 KiB body limit, so refused before the engine; the CLI reads at most
    # 64 KiB of a CSR file.
    "subject-1mb.csr.der": refused("edge", 413, "body_too_large", "at most", cli_code="csr_too_large"),
    # Framing.
    "trailing-garbage.csr.der": refused("edge", 400, "malformed_der", "trailing bytes"),
    "truncated.csr.der": refused("edge", 400, "malformed_der", "not valid DER"),
    "spki-instead-of-csr.csr.der": refused("edge", 400, "csr_malformed", "PKCS#10"),
    "pem-trailing-text.csr.pem": refused("edge", 400, "malformed_pem", "after its last PEM block"),
    # `openssl req -text` output: text, then the PEM block. edgeca takes text that does not
    # start with "-----BEGIN" for DER, decodes "Ce" as a 101-byte object and blames trailing
    # bytes: refused, but with a misleading message.
    "pem-text-before.csr.pem": refused("edge", 400, "malformed_pem", "text before its PEM block"),
    "pem-with-headers.csr.pem": refused("edge", 400, "malformed_pem", "PEM headers"),
    "pem-two-blocks.csr.pem": refused("edge", 400, "malformed_pem", "2 PEM blocks"),
    "pem-wrong-label.csr.pem": refused("edge", 400, "malformed_pem", "'CERTIFICATE'"),
}

EDGE_EXTENSIONS = {"X509v3 Basic Constraints", "X509v3 Key Usage", "X509v3 Extended Key Usage",
                   "X509v3 Subject Key Identifier", "X509v3 Authority Key Identifier",
                   "X509v3 CRL Distribution Points", "Authority Information Access"}


def corpus_path(filename):
    return os.path.join(CORPUS, filename)


def csr_field(filename):
    """The JSON `csr` string for a file: a .pem file's exact text (framing cases are about that
    text); a .der file's bytes wrapped in one PEM block, so the engine sees exactly those DER bytes
    (the raw DER goes through `edgeca issue --csr FILE`)."""
    with open(corpus_path(filename), "rb") as f:
        data = f.read()
    if filename.endswith(".pem"):
        return data.decode()
    body = base64.b64encode(data).decode()
    return ("-----BEGIN CERTIFICATE REQUEST-----\n" + "\n".join(body[i:i + 64] for i in range(0, len(body), 64))
            + "\n-----END CERTIFICATE REQUEST-----\n")


def slug(filename):
    return re.sub(r"[^0-9a-z]+", "_", filename.lower().replace(".csr", "").replace(".pem", "").replace(".der", "")).strip("_")


class HostileCsrTest(unittest.TestCase):
    """One running CA for the whole corpus: a hub caller, product P1 and device SN-1."""

    @classmethod
    def setUpClass(cls):
        cls.space = SharedWorkspace()
        cls.ca = IssuingCA(cls.space, config=SERVICE_CONFIG)
        cls.ca.start()
        # A hub renews hub certificates only for its own names: enrol with those the corpus asks for.
        cls.hub = cls.ca.enroll("hub-1", dns="localhost,DNS:mqtt.hub.test.example")
        cls.ca.add_product("P1")
        cls.register("SN-1")

    @classmethod
    def tearDownClass(cls):
        kinds = [case.kind for case in CASES.values()]
        print(f"hostile: {len(CASES)} CSR files, each through the API and `edgeca issue`: "
              f"{kinds.count('refused')} refused with their code and nothing recorded, "
              f"{kinds.count('tamed')} issued with the profile's extensions only, {kinds.count('control')} controls; "
              f"{len(cls.ca.serials_in_store())} certificates in the store at the end", flush=True)
        cls.ca.stop()
        cls.space.close()

    @classmethod
    def register(cls, device_key):
        status, _, body = cls.ca.request("POST", "/v1/devices", {"product_key": "P1", "device_key": device_key},
                                         cert=cls.hub[0], key=cls.hub[1])
        if status != 201:
            raise AssertionError(f"registering {device_key}: {status} {body}")

    def count(self):
        return len(self.ca.serials_in_store())

    def post(self, case, csr, device_key="SN-1"):
        body = {"csr": csr, "profile": case.profile}
        if case.profile == "edge":
            body.update(product_key="P1", device_key=device_key)
        return self.ca.request("POST", "/v1/certificates", body, cert=self.hub[0], key=self.hub[1])

    def cli_issue(self, case, path, device_key="SN-1", out=None):
        args = ["--csr", path, "--profile", case.profile]
        if case.profile == "edge":
            args += ["--product-key", "P1", "--device-key", device_key]
        if out:
            args += ["--out", out]
        return self.ca.edgeca("issue", *args, passphrase=True)

    # --- refused: the precise error, and nothing recorded ------------------------------------

    def check_api_refusal(self, filename, case):
        before = self.count()
        status, _, body = self.post(case, csr_field(filename))
        self.assertIsInstance(body, dict, f"{filename}: not a JSON error: {body!r}")
        error = body.get("error", {})
        self.assertEqual((status, error.get("code")), (case.status, case.code),
                         f"{filename}: {body}" + (f" (known defect: {case.defect})" if case.defect else ""))
        self.assertTrue(error.get("message"), f"{filename}: empty message")
        if case.says:
            self.assertIn(case.says, error["message"], filename)
        self.assertNotIn("certificate", body)
        self.assertEqual(self.count(), before, f"{filename}: a certificate was recorded")

    def check_cli_refusal(self, filename, case):
        before = self.count()
        result = self.cli_issue(case, corpus_path(filename))
        expected_exit = case.cli_exit or (4 if case.status == 422 else 3)
        code = case.cli_code or case.code
        self.assertExit(result, expected_exit, f"[{code}]")
        self.assertNotIn("BEGIN CERTIFICATE", result.stdout)
        self.assertEqual(self.count(), before, f"{filename}: a certificate was recorded by the CLI")

    # --- tamed and controls: issued, with only what the profile decides ----------------------

    def check_issued(self, filename, case, pem, serial):
        cert = self.space.write(f"{slug(filename)}-{serial}.pem", pem)
        self.assertIn(serial, self.ca.serials_in_store())
        purpose = "sslserver" if case.profile == "hub" else "sslclient"
        openssl("verify", "-CAfile", self.ca.root_pem, "-untrusted", self.ca.certificate, "-purpose", purpose, cert)
        extensions = extension_block(x509_text(cert))
        self.assertEqual(extensions["X509v3 Basic Constraints"], (True, "CA:FALSE"))
        self.assertEqual(extensions["X509v3 Key Usage"], (True, "Digital Signature, Key Encipherment"))
        self.assertNotIn("X509v3 Name Constraints", extensions)
        if case.profile == "hub":
            self.assertEqual(extensions["X509v3 Extended Key Usage"],
                             (False, "TLS Web Server Authentication, TLS Web Client Authentication"))
            self.assertEqual(set(extensions), EDGE_EXTENSIONS | {"X509v3 Subject Alternative Name"})
        else:
            self.assertEqual(extensions["X509v3 Extended Key Usage"], (False, "TLS Web Client Authentication"))
            self.assertNotIn("X509v3 Subject Alternative Name", extensions)
            self.assertEqual(set(extensions), EDGE_EXTENSIONS, filename)
        subject = openssl("x509", "-in", cert, "-noout", "-subject", "-nameopt", "RFC2253,-esc_msb").stdout
        # The CSR says /CN=hostile-control/O=edgeca tests/C=CN, encoded in that order; RFC 2253
        # writes the last first.
        expected = ("C=CN,O=edgeca tests," if filename == "control-rsa2048.csr.pem" else "") + f"CN={case.cn}"
        self.assertEqual(subject.strip(), f"subject={expected}")
        # The subject is the CSR's, in its order, as a broker mapping it to a user name reads it.
        inform = "DER" if filename.endswith(".der") else "PEM"
        requested = openssl("req", "-inform", inform, "-in", corpus_path(filename), "-noout", "-subject",
                            "-nameopt", "RFC2253,-esc_msb").stdout
        self.assertEqual(subject.strip(), requested.strip())
        # The certificate certifies the key of the CSR, and nothing else of the CSR was copied.
        self.assertEqual(openssl("x509", "-in", cert, "-noout", "-pubkey").stdout,
                         openssl("req", "-inform", inform, "-in", corpus_path(filename), "-noout", "-pubkey").stdout)
        return extensions

    def issue_by_api_and_cli(self, filename, case):
        device_key = f"SN-{slug(filename)}"
        if case.profile == "edge":
            self.register(device_key)
        before = self.count()
        status, _, body = self.post(case, csr_field(filename), device_key=device_key)
        self.assertEqual(status, 201, f"{filename}: {body}")
        self.assertEqual(self.count(), before + 1)
        extensions = self.check_issued(filename, case, body["certificate"], body["serial"])
        if filename == "control-hub-san-allowed.csr.pem":
            self.assertEqual(extensions["X509v3 Subject Alternative Name"],
                             (False, "DNS:mqtt.hub.test.example, DNS:localhost"))
        # The CLI reads the file's raw bytes (DER included); the same key for the same device
        # (or hub name) again is allowed, and gets the same treatment.
        known = set(self.ca.serials_in_store())
        out = self.space.path(f"{slug(filename)}-cli.pem")
        result = self.cli_issue(case, corpus_path(filename), device_key=device_key, out=out)
        self.assertExit(result, 0)
        new = set(self.ca.serials_in_store()) - known
        self.assertEqual(len(new), 1, new)
        with open(out) as f:
            self.check_issued(filename, case, f.read(), new.pop())

    # --- state-dependent and whole-corpus checks ---------------------------------------------

    def test_duplicate_cn_held_by_another_device_is_refused(self):
        """Made at test time: the rule depends on what the store already holds."""
        self.register("SN-DUP-A")
        self.register("SN-DUP-B")
        _, first = self.space.make_key_and_csr("dup-a", "/CN=hostile-duplicate-cn")
        _, second = self.space.make_key_and_csr("dup-b", "/CN=hostile-duplicate-cn")
        edge = Case("edge", 201)
        status, _, body = self.post(edge, open(first).read(), device_key="SN-DUP-A")
        self.assertEqual(status, 201, body)
        holder = body["serial"]
        before = self.count()
        status, _, body = self.post(edge, open(second).read(), device_key="SN-DUP-B")
        self.assertEqual((status, body["error"]["code"]), (422, "duplicate_subject"), body)
        self.assertIn(holder, body["error"]["message"])
        self.assertIn("SN-DUP-A", body["error"]["message"])
        self.assertEqual(self.count(), before)
        result = self.cli_issue(edge, second, device_key="SN-DUP-B")
        self.assertExit(result, 4, "[duplicate_subject]")
        self.assertEqual(self.count(), before)

    def test_every_corpus_file_has_a_case_and_a_readme_line_and_no_private_key(self):
        files = sorted(f for f in os.listdir(CORPUS) if not f.startswith("."))
        self.assertEqual(files, sorted(CASES))
        with open(os.path.join(DATA, "README.md")) as f:
            readme = f.read()
        self.assertIn("TEST-ONLY", readme)
        for filename in files:
            self.assertIn(f"`{filename}`", readme)
            path = corpus_path(filename)
            self.assertLess(os.path.getsize(path), 2 * 1024 * 1024, filename)
            with open(path, "rb") as f:
                self.assertNotIn(b"PRIVATE KEY", f.read(), filename)
        self.assertLess(os.path.getsize(corpus_path("subject-1mb.csr.der")), 2 * 1024 * 1024)
        self.assertGreater(os.path.getsize(corpus_path("subject-1mb.csr.der")), 1024 * 1024)

    def assertExit(self, result, code, message_part=None):
        self.space.assertExit(result, code, message_part)


def _add_case_tests():
    for filename, case in CASES.items():
        name = slug(filename)
        if case.kind == "refused":
            api = lambda self, f=filename, c=case: self.check_api_refusal(f, c)
            cli = lambda self, f=filename, c=case: self.check_cli_refusal(f, c)
            setattr(HostileCsrTest, f"test_api_refuses_{name}", api)
            setattr(HostileCsrTest, f"test_cli_refuses_{name}", cli)
        else:
            issued = lambda self, f=filename, c=case: self.issue_by_api_and_cli(f, c)
            setattr(HostileCsrTest, f"test_{case.kind}_{name}_issued_by_api_and_cli", issued)


_add_case_tests()
