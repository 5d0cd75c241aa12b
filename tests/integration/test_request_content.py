"""What edgeca keeps of a request and what it refuses, through the real `edgeca serve`: the CSR's
subject in its own order and encoding, IP addresses in hub certificates inside the configured
networks only, and weak RSA keys (a small factor, primes next to each other, a listed modulus)
made at test time with OpenSSL."""
import hashlib
import importlib.util
import os
import unittest

from harness import SERVICE_CONFIG, IssuingCA, SharedWorkspace, extension_block, openssl, x509_text

DATA = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data"))


def corpus_tools():
    """The DER writer and textbook RSA signer of tests/data/make-csr-corpus.py (test data only)."""
    spec = importlib.util.spec_from_file_location("make_csr_corpus", os.path.join(DATA, "make-csr-corpus.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


der = corpus_tools()


def pem_to_der(path):
    with open(path) as f:
        return der.from_pem(f.read())


def csr_subject_der(csr_path):
    # CertificationRequest { CertificationRequestInfo { version, subject, ... }, ... }
    info = der.children(der.content(pem_to_der(csr_path)))[0]
    return der.children(der.content(info))[1]


def certificate_subject_der(pem_text):
    # Certificate { TBSCertificate { [0] version, serial, signature, issuer, validity, subject, ... } }
    tbs = der.children(der.content(der.from_pem(pem_text)))[0]
    return der.children(der.content(tbs))[5]


def rfc2253(kind, path):
    return openssl(kind, "-in", path, "-noout", "-subject", "-nameopt", "RFC2253,-esc_msb").stdout.strip()


def new_prime(bits):
    return int(openssl("prime", "-generate", "-bits", str(bits)).stdout.strip())


def next_prime(start):
    """The first prime after the odd `start`, by `openssl prime` over batches of 1,000 odd numbers
    (1024-bit primes are some 700 apart on average)."""
    for batch in range(10):
        candidates = [start + 2 + 2 * i for i in range(batch * 1000, (batch + 1) * 1000)]
        lines = openssl("prime", *(str(c) for c in candidates)).stdout.splitlines()
        for candidate, line in zip(candidates, lines):
            if line.endswith(" is prime"):
                return candidate
    raise AssertionError("no prime among 10,000 odd numbers")


class RequestContentTest(unittest.TestCase):
    """One CA: hubs may carry IP addresses in 127.0.0.0/8 and ::1; one RSA modulus is listed as
    known weak."""

    @classmethod
    def setUpClass(cls):
        cls.space = SharedWorkspace()
        # A sound key, listed as weak the way Debian's openssl-blacklist lists moduli.
        cls.listed_key, cls.listed_csr = cls.space.make_key_and_csr("listed", "/CN=listed-weak-key")
        modulus = openssl("rsa", "-in", cls.listed_key, "-noout", "-modulus").stdout
        assert modulus.startswith("Modulus=") and modulus.endswith("\n"), modulus
        weak_file = cls.space.write("weak-keys.txt", "# RSA-2048, as openssl-blacklist writes it\n"
                                    + hashlib.sha1(modulus.encode()).hexdigest()[20:] + "\n")
        # SERVICE_CONFIG ends inside [profiles.hub]; top-level keys come before any section.
        config = (f'weak_keys_file = "{weak_file}"\n' + SERVICE_CONFIG
                  + 'allowed_ip_networks = ["127.0.0.0/8", "::1/128"]\n')
        cls.ca = IssuingCA(cls.space, config=config)
        cls.ca.start()
        cls.hub = cls.ca.enroll("hub-content")
        cls.ca.add_product("P1")
        cls.devices = 0

    @classmethod
    def tearDownClass(cls):
        cls.ca.stop()
        cls.space.close()

    def post(self, body, caller=None):
        cert, key = caller or self.hub
        return self.ca.request("POST", "/v1/certificates", body, cert=cert, key=key)

    def edge(self, csr_pem):
        """Asks for an edge certificate for a new device: (status, headers, body)."""
        type(self).devices += 1
        device = f"SN-C{self.devices}"
        status, _, body = self.ca.request("POST", "/v1/devices", {"product_key": "P1", "device_key": device},
                                          cert=self.hub[0], key=self.hub[1])
        self.assertEqual(status, 201, body)
        return self.post({"csr": csr_pem, "profile": "edge", "product_key": "P1", "device_key": device})

    def hub_certificate(self, name, san, caller=None):
        _, csr = self.space.make_key_and_csr(name, f"/CN={name}", extra=["-addext", f"subjectAltName={san}"])
        return self.post({"csr": open(csr).read(), "profile": "hub"}, caller)

    def assertRefused(self, result, code, says):
        status, _, body = result
        self.assertEqual((status, body.get("error", {}).get("code")), (422, code), body)
        self.assertIn(says, body["error"]["message"])

    # --- the subject ---------------------------------------------------------------------------

    def test_the_certificate_subject_is_the_csrs_in_its_order_and_encoding(self):
        for subject in ["/CN=order-a/O=edgeca tests/C=CN", "/C=CN/O=edgeca tests/CN=order-b",
                        "/O=edgeca tests/CN=order-c/C=DE/OU=Line 1", "/ST=Bavaria/CN=order-d/L=M\u00fcnchen",
                        "/CN=order-e/OU=Gr\u00fcn/O=edgeca tests/L=Shanghai/ST=SH/C=CN"]:
            with self.subTest(subject=subject):
                name = subject.split("CN=")[1].split("/")[0]
                _, csr = self.space.make_key_and_csr(name, subject, extra=["-utf8"])
                before = len(self.ca.serials_in_store())
                status, _, body = self.edge(open(csr).read())
                self.assertEqual(status, 201, body)
                self.assertEqual(len(self.ca.serials_in_store()), before + 1)
                cert = self.space.write(f"{name}.pem", body["certificate"])
                openssl("verify", "-CAfile", self.ca.root_pem, "-untrusted", self.ca.certificate, cert)
                self.assertEqual(certificate_subject_der(body["certificate"]), csr_subject_der(csr))
                self.assertEqual(rfc2253("x509", cert), rfc2253("req", csr))
        # The example of the report: CN, O, C comes back as CN, O, C, not C, O, CN.
        self.assertEqual(rfc2253("x509", self.space.path("order-a.pem")), "subject=C=CN,O=edgeca tests,CN=order-a")

    def test_subjects_typed_at_the_command_line_keep_their_encoding_order(self):
        # `--subject "CN=Test-only Issuing CA,O=edgeca tests,C=CN"` (RFC 4514, most specific
        # first) is encoded C, O, CN, as it always was.
        self.assertEqual(rfc2253("x509", self.ca.certificate), "subject=CN=Test-only Issuing CA,O=edgeca tests,C=CN")
        self.assertEqual(rfc2253("x509", self.ca.root_pem), "subject=CN=Test-only Root CA,O=edgeca tests,C=CN")
        text = openssl("x509", "-in", self.ca.certificate, "-noout", "-subject").stdout
        self.assertEqual(text.strip(), "subject=C = CN, O = edgeca tests, CN = Test-only Issuing CA")

    # --- IP addresses of hubs ------------------------------------------------------------------

    def test_a_hub_certificate_carries_ip_addresses_of_the_allowed_networks(self):
        # New addresses come from an admin (or an enrollment token): a hub renews only what it holds.
        status, _, body = self.hub_certificate("hub-by-ip", "DNS:localhost,IP:127.0.0.1,IP:::1")
        self.assertEqual((status, body["error"]["code"]), (403, "dns_name_not_held"), body)
        status, _, body = self.hub_certificate("hub-by-ip", "DNS:localhost,IP:127.0.0.1,IP:::1", self.ca.admin())
        self.assertEqual(status, 201, body)
        cert = self.space.write("hub-by-ip.pem", body["certificate"])
        san = extension_block(x509_text(cert))["X509v3 Subject Alternative Name"]
        self.assertEqual(san, (False, "DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1"))
        for address in ("127.0.0.1", "::1"):
            openssl("verify", "-CAfile", self.ca.root_pem, "-untrusted", self.ca.certificate,
                    "-purpose", "sslserver", "-verify_ip", address, cert)
        wrong = openssl("verify", "-CAfile", self.ca.root_pem, "-untrusted", self.ca.certificate,
                        "-purpose", "sslserver", "-verify_ip", "127.0.0.2", cert, check=False)
        self.assertNotEqual(wrong.returncode, 0)
        self.assertIn("IP address mismatch", wrong.stdout + wrong.stderr)

    def test_an_ip_address_outside_the_networks_is_refused_naming_it(self):
        before = len(self.ca.serials_in_store())
        self.assertRefused(self.hub_certificate("hub-outside", "DNS:localhost,IP:127.0.0.1,IP:192.168.1.1"),
                           "ip_address_not_allowed",
                           "the IP address 192.168.1.1 is not in an allowed network (allowed: 127.0.0.0/8, ::1/128)")
        self.assertRefused(self.hub_certificate("hub-outside-6", "DNS:localhost,IP:fd00::1"),
                           "ip_address_not_allowed", "the IP address fd00::1 is not in an allowed network")
        self.assertEqual(len(self.ca.serials_in_store()), before)

    def test_an_edge_certificate_never_carries_an_ip_address(self):
        _, csr = self.space.make_key_and_csr("edge-ip", "/CN=edge-ip", extra=["-addext", "subjectAltName=IP:127.0.0.1"])
        status, _, body = self.edge(open(csr).read())
        self.assertEqual(status, 201, body)
        cert = self.space.write("edge-ip.pem", body["certificate"])
        self.assertNotIn("X509v3 Subject Alternative Name", extension_block(x509_text(cert)))

    # --- weak keys -------------------------------------------------------------------------------

    def test_a_modulus_with_the_factor_53_is_refused(self):
        for _ in range(20):
            primes = [53, new_prime(1021), new_prime(1021)]
            if (53 * primes[1] * primes[2]).bit_length() == 2048:
                break
        else:
            self.fail("no 2048-bit modulus with the factor 53 in 20 tries")
        # Three primes: OpenSSL cannot sign with it, so the corpus generator's textbook RSA does.
        csr = der.to_pem(der.csr_from_primes(primes, 65537, "weak-factor-53"))
        before = len(self.ca.serials_in_store())
        self.assertRefused(self.edge(csr), "key_weak", "its modulus is divisible by 53")
        self.assertEqual(len(self.ca.serials_in_store()), before)

    def rsa_key_from_primes(self, name, p, q, e=65537):
        """An RSA private key of the chosen primes, written by `openssl asn1parse -genconf`."""
        d = pow(e, -1, (p - 1) * (q - 1))
        fields = {"version": 0, "modulus": p * q, "publicExponent": e, "privateExponent": d, "prime1": p,
                  "prime2": q, "exponent1": d % (p - 1), "exponent2": d % (q - 1), "coefficient": pow(q, -1, p)}
        config = "asn1=SEQUENCE:rsa_key\n[rsa_key]\n" + "".join(f"{k}=INTEGER:0x{v:X}\n" for k, v in fields.items())
        conf = self.space.write(f"{name}.genconf", config)
        key_der = self.space.path(f"{name}.der")
        openssl("asn1parse", "-genconf", conf, "-out", key_der, "-noout")
        key = self.space.path(f"{name}.key")
        openssl("pkey", "-inform", "DER", "-in", key_der, "-out", key)
        return key

    def test_primes_next_to_each_other_are_refused(self):
        p = new_prime(1024)
        q = next_prime(p)
        key = self.rsa_key_from_primes("fermat", p, q)
        # OpenSSL finds nothing wrong with the key, and signs a CSR with it.
        openssl("pkey", "-in", key, "-check", "-noout")
        csr = self.space.path("fermat.csr")
        openssl("req", "-new", "-key", key, "-subj", "/CN=weak-fermat", "-out", csr)
        openssl("req", "-in", csr, "-verify", "-noout")
        before = len(self.ca.serials_in_store())
        self.assertRefused(self.edge(open(csr).read()), "key_weak", "factored by Fermat's method in 1 step")
        self.assertEqual(len(self.ca.serials_in_store()), before)

    def test_a_modulus_on_the_weak_keys_list_is_refused(self):
        self.assertRefused(self.edge(open(self.listed_csr).read()), "key_weak",
                           "its modulus is on the list of known weak keys")
        _, other = self.space.make_key_and_csr("not-listed", "/CN=not-listed")
        status, _, body = self.edge(open(other).read())
        self.assertEqual(status, 201, body)
