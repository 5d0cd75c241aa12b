"""The offline root: the key ceremony, signing an issuing CA, refusals, audit trail, and the
no-network property, all through the real edgeca-root binary and checked with OpenSSL."""
import os
import re
import sqlite3
import stat
import subprocess

from harness import (ROOT_PASSPHRASE, RootCeremony, TempDirTestCase, binary, extension_block, on_terminal,
                     openssl, run, x509_text)


class RootInitTest(TempDirTestCase):
    def test_init_writes_root_certificate_encrypted_key_and_store(self):
        root = RootCeremony(self)
        self.assertEqual(sorted(os.listdir(root.dir)), ["root.db", "root.key", "root.pem"])
        self.assertEqual(stat.S_IMODE(os.stat(os.path.join(root.dir, "root.key")).st_mode), 0o600)
        self.assertEqual(stat.S_IMODE(os.stat(root.dir).st_mode), 0o700)

        text = x509_text(root.certificate)
        self.assertIn("Signature Algorithm: sha256WithRSAEncryption", text)
        self.assertIn("Public-Key: (2048 bit)", text)
        self.assertIn("Subject: C = CN, O = edgeca tests, CN = Test-only Root CA", text)
        extensions = extension_block(text)
        self.assertEqual(set(extensions), {"X509v3 Basic Constraints", "X509v3 Key Usage",
                                           "X509v3 Subject Key Identifier"})
        self.assertEqual(extensions["X509v3 Basic Constraints"], (True, "CA:TRUE"))
        self.assertEqual(extensions["X509v3 Key Usage"], (True, "Certificate Sign, CRL Sign"))
        # The root verifies against itself.
        openssl("verify", "-CAfile", root.certificate, root.certificate)

    def test_printed_fingerprint_is_the_certificates_sha256(self):
        root = RootCeremony(self)
        printed = re.search(r"SHA-256 fingerprint.*\n\s+([0-9A-F:]{95})", root.init_result.stdout).group(1)
        actual = openssl("x509", "-in", root.certificate, "-noout", "-fingerprint", "-sha256").stdout
        self.assertEqual(actual.strip().split("=", 1)[1], printed)

    def test_serial_is_random_positive_and_16_octets(self):
        serials = set()
        for i in range(3):
            os.makedirs(self.path(f"r{i}"))
            result = run([binary("edgeca-root"), "init", "--dir", self.path(f"r{i}", "root"),
                          "--subject", "CN=r", "--validity-days", "30"],
                         env={"EDGECA_ROOT_PASSPHRASE": ROOT_PASSPHRASE})
            self.assertExit(result, 0)
            serial = openssl("x509", "-in", self.path(f"r{i}", "root", "root.pem"), "-noout",
                             "-serial").stdout.strip().split("=")[1]
            self.assertEqual(len(serial), 32)
            self.assertLess(int(serial[0], 16), 8, "a serial's top bit is clear: it is positive")
            serials.add(serial)
        self.assertEqual(len(serials), 3)

    def test_key_file_is_pbes2_encrypted_pkcs8_that_openssl_opens_only_with_the_passphrase(self):
        root = RootCeremony(self)
        key = os.path.join(root.dir, "root.key")
        with open(key) as f:
            pem = f.read()
        self.assertTrue(pem.startswith("-----BEGIN ENCRYPTED PRIVATE KEY-----"))
        structure = openssl("asn1parse", "-in", key).stdout
        for part in ("PBES2", "PBKDF2", "hmacWithSHA256", "aes-256-cbc"):
            self.assertIn(part, structure)
        iterations = re.search(r"prim: INTEGER\s+:([0-9A-F]+)", structure).group(1)
        self.assertGreaterEqual(int(iterations, 16), 600000)

        wrong = openssl("pkey", "-in", key, "-passin", "pass:not the passphrase", "-noout", check=False)
        self.assertNotEqual(wrong.returncode, 0)
        opened = openssl("pkey", "-in", key, "-passin", f"file:{root.passphrase_file}", "-pubout").stdout
        certified = openssl("x509", "-in", root.certificate, "-noout", "-pubkey").stdout
        self.assertEqual(opened, certified)

    def test_existing_root_is_never_touched(self):
        root = RootCeremony(self)
        before = {name: open(os.path.join(root.dir, name), "rb").read() for name in os.listdir(root.dir)}
        result = root.root("init", "--dir", root.dir, "--subject", "CN=Other", "--validity-days", "10")
        self.assertExit(result, 7, "already holds a root")
        after = {name: open(os.path.join(root.dir, name), "rb").read() for name in os.listdir(root.dir)}
        self.assertEqual(before, after)

    def test_bad_subjects_and_validities_are_refused_before_anything_is_written(self):
        cases = [
            ("CN=x,emailAddress=a@b", "30", 4, "not allowed"),
            ("O=no common name", "30", 4, "no common name"),
            ("CN=x,C=China", "30", 4, "two-letter"),
            ("CN=x", "0", 3, "out of range"),
            ("CN=x", "40000", 3, "out of range"),
        ]
        for subject, days, code, message in cases:
            with self.subTest(subject=subject, days=days):
                directory = self.path("refused")
                result = run([binary("edgeca-root"), "init", "--dir", directory, "--subject", subject,
                              "--validity-days", days], env={"EDGECA_ROOT_PASSPHRASE": ROOT_PASSPHRASE})
                self.assertExit(result, code, message)
                self.assertFalse(os.path.exists(directory))

    def test_short_passphrase_is_refused_for_a_new_root(self):
        result = run([binary("edgeca-root"), "init", "--dir", self.path("root"), "--subject", "CN=r",
                      "--validity-days", "30"], env={"EDGECA_ROOT_PASSPHRASE": "short"})
        self.assertExit(result, 4, "at least 12")
        self.assertFalse(os.path.exists(self.path("root", "root.key")))

    def test_no_passphrase_source_is_a_clear_error_not_a_hang(self):
        result = subprocess.run([binary("edgeca-root"), "init", "--dir", self.path("root"), "--subject",
                                 "CN=r", "--validity-days", "30"], capture_output=True, text=True,
                                stdin=subprocess.DEVNULL, timeout=30, start_new_session=True,
                                env={k: v for k, v in os.environ.items() if "PASSPHRASE" not in k})
        self.assertEqual(result.returncode, 5, result.stderr)
        self.assertIn("--passphrase-file", result.stderr)

    def test_passphrase_is_not_accepted_on_the_command_line(self):
        result = run([binary("edgeca-root"), "init", "--dir", self.path("root"), "--subject", "CN=r",
                      "--validity-days", "30", "--passphrase", ROOT_PASSPHRASE])
        self.assertExit(result, 2)
        self.assertFalse(os.path.exists(self.path("root")))

    def test_terminal_prompt_asks_twice_with_echo_off(self):
        answered = []

        def respond(output):
            if output.count(b"passphrase") > len(answered) and len(answered) < 2:
                answered.append(True)
                return ROOT_PASSPHRASE + "\n"
            return None

        code, output = on_terminal([binary("edgeca-root"), "init", "--dir", self.path("root"), "--subject",
                                    "CN=Prompted Root", "--validity-days", "30"], respond)
        self.assertEqual(code, 0, output.decode(errors="replace"))
        self.assertEqual(len(answered), 2)
        self.assertIn(b"(again)", output)
        self.assertNotIn(ROOT_PASSPHRASE.encode(), output, "the passphrase was echoed")
        self.assertTrue(os.path.exists(self.path("root", "root.pem")))


class SignIntermediateTest(TempDirTestCase):
    def setUp(self):
        super().setUp()
        self.ceremony = RootCeremony(self)

    def test_openssl_csr_is_certified_as_issuing_ca_with_exactly_the_profile_extensions(self):
        _, csr = self.make_key_and_csr("issuer", "/C=CN/O=edgeca tests/CN=Test-only Issuing CA")
        out = self.path("issuer.pem")
        result = self.ceremony.sign_intermediate(csr, out)
        self.assertExit(result, 0)
        openssl("verify", "-CAfile", self.ceremony.certificate, out)
        text = x509_text(out)
        extensions = extension_block(text)
        self.assertEqual(set(extensions), {"X509v3 Basic Constraints", "X509v3 Key Usage",
                                           "X509v3 Subject Key Identifier",
                                           "X509v3 Authority Key Identifier"})
        self.assertEqual(extensions["X509v3 Basic Constraints"], (True, "CA:TRUE, pathlen:0"))
        self.assertEqual(extensions["X509v3 Key Usage"], (True, "Certificate Sign, CRL Sign"))
        root_ski = extension_block(x509_text(self.ceremony.certificate))["X509v3 Subject Key Identifier"][1]
        self.assertEqual(extensions["X509v3 Authority Key Identifier"][1].replace("keyid:", ""), root_ski)
        self.assertIn("Subject: C = CN, O = edgeca tests, CN = Test-only Issuing CA", text)
        self.assertIn("sha256WithRSAEncryption", text)
        # Recorded in the root store, and the store's copy is the file's.
        serial = openssl("x509", "-in", out, "-noout", "-serial").stdout.strip().split("=")[1].lower()
        self.assertIn(serial, self.ceremony.list_serials())
        shown = self.ceremony.root("show", "--dir", self.ceremony.dir, serial, passphrase=False)
        self.assertExit(shown, 0)
        self.assertIn("profile:      intermediate", shown.stdout)
        with open(out) as f:
            self.assertIn(f.read().strip(), shown.stdout)

    def test_requested_extensions_are_never_copied(self):
        _, csr = self.make_key_and_csr("issuer", "/CN=Greedy CA", extra=[
            "-addext", "basicConstraints=critical,CA:TRUE,pathlen:5",
            "-addext", "keyUsage=critical,digitalSignature,keyCertSign,cRLSign,keyEncipherment",
            "-addext", "extendedKeyUsage=codeSigning,serverAuth",
            "-addext", "subjectAltName=DNS:*.evil.example,IP:10.0.0.1",
            "-addext", "nameConstraints=permitted;DNS:evil.example"])
        out = self.path("issuer.pem")
        self.assertExit(self.ceremony.sign_intermediate(csr, out), 0)
        extensions = extension_block(x509_text(out))
        self.assertEqual(extensions["X509v3 Basic Constraints"], (True, "CA:TRUE, pathlen:0"))
        self.assertEqual(extensions["X509v3 Key Usage"], (True, "Certificate Sign, CRL Sign"))
        for absent in ("X509v3 Extended Key Usage", "X509v3 Subject Alternative Name",
                       "X509v3 Name Constraints"):
            self.assertNotIn(absent, extensions)

    def test_validity_is_clamped_to_the_roots(self):
        short = RootCeremony(self, subject="CN=Short Root", days=30, name="short")
        _, csr = self.make_key_and_csr("issuer", "/CN=Issuing")
        out = self.path("issuer.pem")
        self.assertExit(short.sign_intermediate(csr, out, "--validity-days", "1825"), 0)
        end = lambda p: openssl("x509", "-in", p, "-noout", "-enddate").stdout
        self.assertEqual(end(out), end(short.certificate))

    def assertRefusedAndNothingRecorded(self, csr, code, message):
        before = self.ceremony.list_serials()
        out = self.path("refused.pem")
        result = self.ceremony.sign_intermediate(csr, out)
        self.assertExit(result, code, message)
        self.assertFalse(os.path.exists(out), "a refused operation wrote a certificate")
        self.assertEqual(self.ceremony.list_serials(), before, "a refused operation recorded a serial")
        audit = self.ceremony.root("audit", "--dir", self.ceremony.dir, passphrase=False).stdout
        self.assertRegex(audit.strip().splitlines()[-1], r"sign-intermediate\s+refused")

    def test_malformed_csr_is_refused(self):
        path = self.write("garbage.csr", "-----BEGIN CERTIFICATE REQUEST-----\nnot base64!\n-----END CERTIFICATE REQUEST-----\n")
        self.assertRefusedAndNothingRecorded(path, 3, "not base64")
        path = self.write("random.der", os.urandom(300))
        self.assertRefusedAndNothingRecorded(path, 3, "the CSR")

    def test_csr_with_bad_signature_is_refused(self):
        _, csr = self.make_key_and_csr("issuer", "/CN=Tampered")
        openssl("req", "-in", csr, "-outform", "DER", "-out", self.path("c.der"))
        with open(self.path("c.der"), "rb") as f:
            data = bytearray(f.read())
        data[-1] ^= 0x01
        path = self.write("tampered.der", bytes(data))
        self.assertRefusedAndNothingRecorded(path, 3, "signature does not verify")

    def test_non_rsa_and_wrong_size_keys_are_refused(self):
        for newkey, message in (("rsa:1024", "RSA 1024-bit"), ("rsa:4096", "RSA 4096-bit"),
                                ("ec", "only RSA 2048-bit")):
            with self.subTest(newkey=newkey):
                if newkey == "ec":
                    openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
                            "-out", self.path("ec.key"))
                    csr = self.path("ec.csr")
                    openssl("req", "-new", "-key", self.path("ec.key"), "-subj", "/CN=EC", "-out", csr)
                else:
                    _, csr = self.make_key_and_csr(newkey.replace(":", ""), "/CN=Weak", newkey=newkey)
                self.assertRefusedAndNothingRecorded(csr, 4, message)

    def test_wrong_passphrase_is_refused_and_audited(self):
        _, csr = self.make_key_and_csr("issuer", "/CN=Issuing")
        wrong = self.write("wrong.pass", "not the root passphrase\n")
        result = run([binary("edgeca-root"), "sign-intermediate", "--dir", self.ceremony.dir, "--csr", csr,
                      "--out", self.path("x.pem"), "--passphrase-file", wrong])
        self.assertExit(result, 5, "passphrase does not open")
        self.assertNotIn("not the root passphrase", result.stderr + result.stdout)
        self.assertFalse(os.path.exists(self.path("x.pem")))
        audit = self.ceremony.root("audit", "--dir", self.ceremony.dir, passphrase=False).stdout
        self.assertRegex(audit, r"unlock\s+refused.*wrong_passphrase")

    def test_missing_directory_is_refused(self):
        _, csr = self.make_key_and_csr("issuer", "/CN=Issuing")
        result = self.ceremony.root("sign-intermediate", "--dir", self.path("nowhere"), "--csr", csr,
                                    "--out", self.path("x.pem"))
        self.assertExit(result, 6, "does not exist")

    def test_existing_output_file_is_not_overwritten(self):
        _, csr = self.make_key_and_csr("issuer", "/CN=Issuing")
        out = self.write("existing.pem", "keep me")
        self.assertExit(self.ceremony.sign_intermediate(csr, out), 7, "already exists")
        with open(out) as f:
            self.assertEqual(f.read(), "keep me")

    def test_passphrase_never_reaches_output_or_store(self):
        _, csr = self.make_key_and_csr("issuer", "/CN=Issuing")
        result = self.ceremony.sign_intermediate(csr, self.path("issuer.pem"))
        self.assertExit(result, 0)
        for name in os.listdir(self.ceremony.dir):
            with open(os.path.join(self.ceremony.dir, name), "rb") as f:
                self.assertNotIn(ROOT_PASSPHRASE.encode(), f.read(), name)
        self.assertNotIn(ROOT_PASSPHRASE, result.stdout + result.stderr + self.ceremony.init_result.stdout
                         + self.ceremony.init_result.stderr)


class RootCrlUrlTest(TempDirTestCase):
    """init --crl-url puts the root CRL's URL into every issuing CA certificate signed later (a
    verifier that fetches CRLs, as Java's PKIX does, needs it); sign-intermediate --crl-url
    replaces it for later signings too."""

    def crl_points(self, cert):
        return extension_block(x509_text(cert)).get("X509v3 CRL Distribution Points")

    def test_the_root_crl_url_is_kept_and_written_into_each_issuing_ca(self):
        url = "http://ca.test.example:8080/root.crl"
        ceremony = RootCeremony(self, extra=("--crl-url", url))
        self.assertIn(f"root CRL URL: {url}", ceremony.init_result.stdout)
        signed = []
        for name, extra in (("first", ()), ("second", ()), ("third", ("--crl-url", "http://other.test.example/r.crl"))):
            _, csr = self.make_key_and_csr(name, f"/CN={name} Issuing CA")
            out = self.path(f"{name}.pem")
            self.assertExit(ceremony.sign_intermediate(csr, out, *extra), 0)
            signed.append(out)
        self.assertEqual(self.crl_points(signed[0]), (False, f"Full Name:\nURI:{url}"))
        self.assertEqual(self.crl_points(signed[1]), (False, f"Full Name:\nURI:{url}"))
        self.assertEqual(self.crl_points(signed[2]), (False, "Full Name:\nURI:http://other.test.example/r.crl"))
        _, csr = self.make_key_and_csr("fourth", "/CN=fourth Issuing CA")
        self.assertExit(ceremony.sign_intermediate(csr, self.path("fourth.pem")), 0)
        self.assertEqual(self.crl_points(self.path("fourth.pem"))[1], "Full Name:\nURI:http://other.test.example/r.crl")
        audit = ceremony.root("audit", "--dir", ceremony.dir, passphrase=False).stdout
        self.assertEqual(audit.count("set-crl-url"), 2, audit)

    def test_without_a_url_issuing_cas_name_no_distribution_point(self):
        ceremony = RootCeremony(self)
        _, csr = self.make_key_and_csr("issuer", "/CN=Issuing CA")
        self.assertExit(ceremony.sign_intermediate(csr, self.path("issuer.pem")), 0)
        self.assertIsNone(self.crl_points(self.path("issuer.pem")))

    def test_bad_urls_are_refused_before_anything_is_written(self):
        for url in ("ldap://x/crl", "https://ca.test.example/root.crl", "http://", "http://a b/crl", "/root.crl"):
            name = f"bad-{abs(hash(url))}"
            result = run([binary("edgeca-root"), "init", "--dir", self.path(name), "--subject", "CN=Root",
                          "--validity-days", "10", "--crl-url", url])
            self.assertExit(result, 3, "is not a CRL URL")
            self.assertFalse(os.path.exists(self.path(name)), url)


class RootCrlFormatTest(TempDirTestCase):
    """`edgeca-root crl --out root.der` wrote PEM. The file is what its name or --format says."""

    def test_the_name_or_format_decides_der_or_pem(self):
        ceremony = RootCeremony(self)
        cases = [("root.der", (), "DER"), ("root.crl", (), "DER"), ("root.pem", (), "PEM"), ("root-crl", (), "PEM"),
                 ("ROOT.DER", (), "DER"), ("forced.pem", ("--format", "der"), "DER"),
                 ("forced.der", ("--format", "pem"), "PEM")]
        for name, extra, expected in cases:
            out = self.path(name)
            self.assertExit(ceremony.root("crl", "--dir", ceremony.dir, "--out", out, *extra), 0)
            with open(out, "rb") as f:
                head = f.read(30)
            self.assertEqual("PEM" if head.startswith(b"-----BEGIN X509 CRL-----") else "DER", expected, name)
            if expected == "DER":
                self.assertEqual(head[0], 0x30, name)  # a DER SEQUENCE
            openssl("crl", "-in", out, "-inform", expected, "-noout")
        self.assertExit(ceremony.root("crl", "--dir", ceremony.dir, "--out", self.path("x"), "--format", "txt"), 2)


class AuditTrailTest(TempDirTestCase):
    def test_audit_lists_operations_and_verify_detects_tampering(self):
        ceremony = RootCeremony(self)
        _, csr = self.make_key_and_csr("issuer", "/CN=Issuing")
        self.assertExit(ceremony.sign_intermediate(csr, self.path("issuer.pem")), 0)
        result = ceremony.root("audit", "--dir", ceremony.dir, "--verify", passphrase=False)
        self.assertExit(result, 0, "audit chain intact: 2 entries")
        lines = result.stdout.splitlines()
        self.assertRegex(lines[0], r"^\s+1 \S+Z cli:\S+\s+init\s+ok\s+serial=[0-9a-f]{32} sha256=[0-9a-f]{64}")
        self.assertRegex(lines[1], r"sign-intermediate\s+ok\s+serial=[0-9a-f]{32}")

        db = sqlite3.connect(os.path.join(ceremony.dir, "root.db"))
        db.execute("UPDATE audit_log SET actor='cli:someone-else' WHERE seq=1")
        db.commit()
        db.close()
        result = ceremony.root("audit", "--dir", ceremony.dir, "--verify", passphrase=False)
        self.assertExit(result, 9, "entry 1 was altered")

    def test_deleted_entry_is_detected(self):
        ceremony = RootCeremony(self)
        for i in range(2):
            _, csr = self.make_key_and_csr(f"issuer{i}", f"/CN=Issuing {i}")
            self.assertExit(ceremony.sign_intermediate(csr, self.path(f"issuer{i}.pem")), 0)
        db = sqlite3.connect(os.path.join(ceremony.dir, "root.db"))
        db.execute("DELETE FROM audit_log WHERE seq=2")
        db.commit()
        db.close()
        result = ceremony.root("audit", "--dir", ceremony.dir, "--verify", passphrase=False)
        self.assertExit(result, 9, "missing")


class OfflineTest(TempDirTestCase):
    """edgeca-root must not link an HTTP or TLS library, nor call socket functions."""

    def test_binary_links_no_network_library(self):
        libraries = run(["ldd", binary("edgeca-root")], check=True).stdout
        for forbidden in ("httplib", "libssl", "libcurl"):
            self.assertNotIn(forbidden, libraries)

    def test_binary_imports_no_socket_function(self):
        symbols = run(["nm", "-D", "--undefined-only", binary("edgeca-root")], check=True).stdout
        names = {line.split()[-1].split("@")[0] for line in symbols.splitlines() if line.strip()}
        forbidden = {"socket", "connect", "bind", "listen", "accept", "accept4", "getaddrinfo",
                     "gethostbyname", "sendto", "recvfrom", "socketpair"}
        self.assertEqual(names & forbidden, set())

    def test_a_whole_ceremony_makes_no_network_system_call(self):
        log = self.path("strace.log")
        passfile = self.write("p", ROOT_PASSPHRASE)
        _, csr = self.make_key_and_csr("issuer", "/CN=Issuing")
        script = (f"{binary('edgeca-root')} init --dir {self.path('root')} --subject CN=Offline "
                  f"--validity-days 30 --passphrase-file {passfile} && "
                  f"{binary('edgeca-root')} sign-intermediate --dir {self.path('root')} --csr {csr} "
                  f"--out {self.path('i.pem')} --passphrase-file {passfile} && "
                  f"{binary('edgeca-root')} list --dir {self.path('root')} && "
                  f"{binary('edgeca-root')} audit --verify --dir {self.path('root')}")
        # Under AddressSanitizer (scripts/test.sh's second pass) LeakSanitizer cannot run beneath
        # ptrace and would fail the process; leaks are checked by every other run.
        asan = os.environ.get("ASAN_OPTIONS")
        env = {"ASAN_OPTIONS": (asan + ":" if asan else "") + "detect_leaks=0"}
        result = run(["strace", "-f", "-qq", "-e", "signal=none", "-e", "trace=%network", "-o", log,
                      "sh", "-c", script], env=env)
        self.assertExit(result, 0)
        with open(log) as f:
            calls = [line for line in f if re.match(r"^\d+\s+\w+\(", line)]
        self.assertEqual(calls, [], "edgeca-root made network system calls")
        self.assertTrue(os.path.exists(self.path("i.pem")))


class HelpTest(TempDirTestCase):
    def test_help_lists_every_subcommand_and_the_exit_codes(self):
        result = run([binary("edgeca-root"), "--help"])
        self.assertExit(result, 0)
        for word in ("init", "sign-intermediate", "list", "show", "audit", "Exit codes",
                     "EDGECA_ROOT_PASSPHRASE"):
            self.assertIn(word, result.stdout)
