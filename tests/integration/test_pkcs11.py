"""CA keys in a PKCS#11 token (SoftHSM2, initialised in a temporary directory): a root ceremony
and the whole issuance / revocation / CRL flow on token keys, checked with OpenSSL; the keys
cannot be read or wrapped out of the token; a wrong PIN, a missing token and a missing object
each give a clear error and change nothing."""
import concurrent.futures
import hashlib
import os
import re
import shutil
import sqlite3
import time

from harness import (BUILD_DIR, SERVICE_CONFIG, IssuingCA, TempDirTestCase, assert_crl_signed_by, binary,
                     has_command, openssl, run)

MODULE = "/usr/lib/softhsm/libsofthsm2.so"
USER_PIN = "test-only-pin-4711"
SO_PIN = "test-only-so-pin-0815"
EXPORT_ATTEMPT = os.path.join(BUILD_DIR, "tests", "tools", "pkcs11-export-attempt")


def snapshot(directory):
    """Every file under `directory` with the SHA-256 of its bytes."""
    files = {}
    for base, _, names in os.walk(directory):
        for name in names:
            path = os.path.join(base, name)
            with open(path, "rb") as f:
                files[os.path.relpath(path, directory)] = hashlib.sha256(f.read()).hexdigest()
    return files


class SoftHsmTest(TempDirTestCase):
    """A test with its own SoftHSM2 token directory and configuration (SOFTHSM2_CONF)."""

    def setUp(self):
        super().setUp()
        missing = [tool for tool in ("softhsm2-util", "pkcs11-tool") if not has_command(tool)]
        if not os.path.exists(MODULE):
            missing.append(MODULE)
        if not os.path.exists(EXPORT_ATTEMPT):
            missing.append(EXPORT_ATTEMPT)
        if missing:
            self.fail(f"the PKCS#11 tests need {', '.join(missing)} (Debian softhsm2 and opensc; "
                      "scripts/install-deps.sh test installs them)")
        self.tokens = self.path("tokens")
        os.makedirs(self.tokens)
        conf = self.write("softhsm2.conf", f"directories.tokendir = {self.tokens}\nobjectstore.backend = file\n"
                                           "log.level = ERROR\n")
        saved = os.environ.get("SOFTHSM2_CONF")
        os.environ["SOFTHSM2_CONF"] = conf
        self.addCleanup(lambda: os.environ.pop("SOFTHSM2_CONF") if saved is None
                        else os.environ.__setitem__("SOFTHSM2_CONF", saved))
        self.pin_file = self.write("user.pin", USER_PIN + "\n")
        self.wrong_pin_file = self.write("wrong.pin", "not-the-pin\n")

    def init_token(self, label):
        run(["softhsm2-util", "--init-token", "--free", "--label", label, "--so-pin", SO_PIN, "--pin", USER_PIN],
            check=True)

    def token_objects(self, *labels):
        """What each token holds, as pkcs11-tool lists it. (The token's files are no measure: a
        refused PIN rightly changes the token's failed-login state in them.)"""
        listing = {}
        for label in labels:
            result = run(["pkcs11-tool", "--module", MODULE, "--token-label", label, "--login", "--pin", USER_PIN,
                          "--list-objects"], check=True)
            listing[label] = result.stdout
        return listing

    def export_attempt(self, token, label):
        return run([EXPORT_ATTEMPT, MODULE, token, label, self.pin_file])

    def root_init(self, directory, uri, pin_file=None, extra=()):
        return run([binary("edgeca-root"), "init", "--dir", directory, "--subject",
                    "CN=Test-only Token Root CA,O=edgeca tests,C=CN", "--validity-days", "3650", "--key", uri,
                    "--pkcs11-module", MODULE, "--pin-file", pin_file or self.pin_file, *extra])

    def root(self, *args, pin_file=None):
        """edgeca-root with the PIN in $EDGECA_ROOT_PKCS11_PIN, as a ceremony script would give it."""
        with open(pin_file or self.pin_file) as f:
            pin = f.read().strip()
        return run([binary("edgeca-root"), *args], env={"EDGECA_ROOT_PKCS11_PIN": pin})


class TokenRoot:
    """An edgeca-root whose key was generated in token ROOT, like RootCeremony for a file key."""

    def __init__(self, test, new_token=True):
        self.test = test
        if new_token:
            test.init_token("ROOT")
        self.dir = test.path("root")
        self.init_result = test.root_init(self.dir, "pkcs11:token=ROOT;object=edgeca-root")
        test.assertExit(self.init_result, 0)
        self.certificate = os.path.join(self.dir, "root.pem")

    def sign_intermediate(self, csr, out, *extra):
        return self.test.root("sign-intermediate", "--dir", self.dir, "--csr", csr, "--out", out, *extra)


class TokenIssuingCA(IssuingCA):
    """IssuingCA with the issuing CA's key generated in token ISSUER by `edgeca init --key`. The
    passphrase file still protects the service's own TLS key, which stays a file key."""

    def __init__(self, test, root):
        test.init_token("ISSUER")
        self.test = test
        self.ceremony = root
        self.dir = test.path("issuer")
        self.passphrase_file = test.write("issuer.pass", "test-only TLS key passphrase 1\n")
        self.init_result = run([binary("edgeca"), "init", "--dir", self.dir, "--subject",
                                "CN=Test-only Token Issuing CA,O=edgeca tests,C=CN",
                                "--key", "pkcs11:token=ISSUER;object=edgeca-issuing-ca",
                                "--pkcs11-module", MODULE, "--pin-file", test.pin_file])
        test.assertExit(self.init_result, 0)
        self.certificate = test.path("issuer-cert.pem")
        test.assertExit(root.sign_intermediate(os.path.join(self.dir, "issuer.csr"), self.certificate), 0)
        test.assertExit(self.edgeca("install", "--cert", self.certificate, "--root", root.certificate), 0)
        self.root_pem = root.certificate
        self.chain_pem = os.path.join(self.dir, "chain.pem")
        config = os.path.join(self.dir, "edgeca.toml")
        with open(config) as f:
            token_settings = "".join(line for line in f if re.match(r"^(key|pkcs11_module|pin_file) = ", line))
        with open(config, "w") as f:
            f.write(token_settings + SERVICE_CONFIG + '\n[crl]\npublish_delay = "1s"\n')
        self.process = None
        self.log_path = test.path("issuer-serve.log")
        self.principals = {}


class TokenKeysTest(SoftHsmTest):
    def test_root_and_issuing_ca_in_tokens_issue_revoke_and_sign_crls_that_openssl_verifies(self):
        root = TokenRoot(self)
        self.assertIn("never extractable", root.init_result.stdout)
        self.assertFalse(os.path.exists(os.path.join(root.dir, "root.key")))
        openssl("verify", "-CAfile", root.certificate, root.certificate)

        ca = TokenIssuingCA(self, root)
        self.assertFalse(os.path.exists(os.path.join(ca.dir, "issuer.key")))
        with open(os.path.join(ca.dir, "edgeca.toml")) as f:
            settings = f.read()
        self.assertRegex(settings, r'key = "pkcs11:token=ISSUER;object=edgeca-issuing-ca;id=(%[0-9A-F]{2})+;type=private"')
        self.assertIn(f'pkcs11_module = "{MODULE}"', settings)
        openssl("verify", "-CAfile", root.certificate, ca.certificate)

        # The offline path first: issue and crl sign with the token key, PIN from pin_file.
        _, csr = self.make_key_and_csr("offline", "/CN=offline-client")
        offline = self.path("offline.pem")
        self.assertExit(ca.edgeca("issue", "--csr", csr, "--profile", "client", "--out", offline), 0)
        openssl("verify", "-CAfile", root.certificate, "-untrusted", ca.certificate, offline)

        # The service: many threads sign in parallel through the token's session pool.
        ca.start()
        self.assertEqual(ca.listening.get("signing_backend"), "openssl")
        hubs = []
        with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
            hubs = list(pool.map(lambda i: ca.enroll(f"hub{i}"), range(16)))
        for cert, _ in hubs:
            openssl("verify", "-CAfile", root.certificate, "-untrusted", ca.certificate, cert)
        # The service's own TLS certificate came from the token key too, and OpenSSL trusts it.
        served = run(["openssl", "s_client", "-connect", f"127.0.0.1:{ca.api_port}", "-CAfile", root.certificate,
                      "-verify_return_error", "-brief"], input="")
        self.assertIn("Verification: OK", served.stdout + served.stderr)

        admin_cert, admin_key = ca.admin()
        serial = openssl("x509", "-in", hubs[0][0], "-noout", "-serial").stdout.strip().split("=")[1].lower()
        status, _, record = ca.request("POST", f"/v1/certificates/{serial}/revoke", {"reason": "keyCompromise"},
                                       cert=admin_cert, key=admin_key)
        self.assertEqual((status, record["status"]), (200, "revoked"))
        deadline = time.monotonic() + 30
        crl = None
        while time.monotonic() < deadline:
            status, _, body = ca.request("GET", "/crl.pem", tls=False)
            if status == 200 and serial.upper() in openssl("crl", "-noout", "-text", input=body.decode()).stdout:
                crl = self.write("served.crl.pem", body)
                break
            time.sleep(0.2)
        self.assertIsNotNone(crl, f"{serial} did not reach the served CRL within 30 s")
        assert_crl_signed_by(crl, ca.chain_pem)
        revoked = run(["openssl", "verify", "-crl_check", "-CAfile", root.certificate, "-untrusted", ca.certificate,
                       "-CRLfile", crl, hubs[0][0]])
        self.assertIn("certificate revoked", revoked.stdout + revoked.stderr)
        still_good = run(["openssl", "verify", "-crl_check", "-CAfile", root.certificate, "-untrusted",
                          ca.certificate, "-CRLfile", crl, hubs[1][0]])
        self.assertExit(still_good, 0)
        self.assertEqual(ca.stop(), 0)

        # The root's own ceremonies: revoke nothing, sign its CRL; both audit trails verify.
        root_crl = self.path("root.crl")
        self.assertExit(self.root("crl", "--dir", root.dir, "--out", root_crl), 0)
        assert_crl_signed_by(root_crl, root.certificate, der=True)
        self.assertExit(run([binary("edgeca-root"), "audit", "--dir", root.dir, "--verify"]), 0)
        self.assertExit(ca.edgeca("audit", "--verify"), 0)

        # Neither key comes out of its token: reading the private exponent or primes and
        # wrapping under our own AES key are all refused by the token itself.
        for token, label in (("ROOT", "edgeca-root"), ("ISSUER", "edgeca-issuing-ca")):
            attempt = self.export_attempt(token, label)
            self.assertExit(attempt, 0)
            self.assertEqual(attempt.stdout.count("CKR_ATTRIBUTE_SENSITIVE"), 3, attempt.stdout)
            self.assertIn("wrap the key: CKR_KEY_UNEXTRACTABLE", attempt.stdout)
        # The attempt is a real one: a key made extractable on purpose is wrapped out.
        run(["pkcs11-tool", "--module", MODULE, "--login", "--pin", USER_PIN, "--token-label", "ISSUER",
             "--keypairgen", "--key-type", "rsa:2048", "--label", "control-extractable", "--extractable"], check=True)
        control = self.export_attempt("ISSUER", "control-extractable")
        self.assertExit(control, 1)
        self.assertIn("KEY WRAPPED OUT", control.stdout)

        # The root's key cannot be split into M-of-N shares either: the token's own backup is
        # the procedure (docs/key-ceremony.md).
        backup = run([binary("edgeca-root"), "backup", "--dir", root.dir, "--threshold", "2", "--shares", "3",
                      "--out-dir", self.path("shares")])
        self.assertExit(backup, 7, "root_key_in_token")
        self.assertFalse(os.path.exists(self.path("shares")) and os.listdir(self.path("shares")))

    def test_a_wrong_pin_a_missing_token_and_a_missing_object_are_clear_errors_that_change_nothing(self):
        self.init_token("ROOT")
        tokens_before = self.token_objects("ROOT")

        wrong_pin = self.root_init(self.path("r1"), "pkcs11:token=ROOT;object=edgeca-root",
                                   pin_file=self.wrong_pin_file)
        self.assertExit(wrong_pin, 5, "refused the PIN (CKR_PIN_INCORRECT)")
        no_token = self.root_init(self.path("r2"), "pkcs11:token=NOT-THERE;object=edgeca-root")
        self.assertExit(no_token, 6, 'matches object "edgeca-root" in token "NOT-THERE"')
        no_module = run([binary("edgeca-root"), "init", "--dir", self.path("r3"), "--subject", "CN=R",
                         "--validity-days", "10", "--key", "pkcs11:token=ROOT;object=x", "--pkcs11-module",
                         self.path("missing.so"), "--pin-file", self.pin_file])
        self.assertExit(no_module, 6, "pkcs11_module_missing")
        pin_in_uri = self.root_init(self.path("r4"), "pkcs11:token=ROOT;object=x?pin-value=1234")
        self.assertExit(pin_in_uri, 3, "puts the PIN in the URI")
        for name in ("r1", "r2", "r3", "r4"):
            self.assertFalse(os.path.exists(self.path(name)), f"{name} was created")
        self.assertEqual(self.token_objects("ROOT"), tokens_before, "a refused init changed the token")

        # A real root in the same token, then each failure at a later ceremony.
        root = TokenRoot(self, new_token=False)
        self.assertExit(self.root_init(self.path("r5"), "pkcs11:token=ROOT;object=edgeca-root"), 7,
                        "pkcs11_object_exists")
        tokens_before = self.token_objects("ROOT")
        root_pem_before = snapshot(root.dir)["root.pem"]
        refused = self.root("crl", "--dir", root.dir, "--out", self.path("x.crl"), pin_file=self.wrong_pin_file)
        self.assertExit(refused, 5, "pkcs11_pin_wrong")
        self.assertFalse(os.path.exists(self.path("x.crl")))
        audit = run([binary("edgeca-root"), "audit", "--dir", root.dir]).stdout.splitlines()
        self.assertRegex(audit[-1], r"unlock\s+refused.*pkcs11_pin_wrong")

        # The recorded module, overridden by a missing one: a clear error too.
        moved = self.root("crl", "--dir", root.dir, "--out", self.path("y.crl"), "--pkcs11-module",
                          self.path("gone.so"))
        self.assertExit(moved, 6, "pkcs11_module_missing")

        # The token gone (its directory moved away): not found, not a hang.
        shutil.move(self.tokens, self.path("tokens-away"))
        os.makedirs(self.tokens)
        gone = self.root("crl", "--dir", root.dir, "--out", self.path("z.crl"))
        self.assertExit(gone, 6, "pkcs11_token_missing")
        shutil.rmtree(self.tokens)
        shutil.move(self.path("tokens-away"), self.tokens)
        self.assertEqual(self.token_objects("ROOT"), tokens_before)
        self.assertEqual(snapshot(root.dir)["root.pem"], root_pem_before)
        self.assertFalse(any(os.path.exists(self.path(n)) for n in ("x.crl", "y.crl", "z.crl")))

        # edgeca init refuses a wrong PIN before it writes anything.
        refused_init = run([binary("edgeca"), "init", "--dir", self.path("i1"), "--subject", "CN=I",
                            "--key", "pkcs11:token=ROOT;object=another", "--pkcs11-module", MODULE,
                            "--pin-file", self.wrong_pin_file])
        self.assertExit(refused_init, 5, "pkcs11_pin_wrong")
        self.assertFalse(os.path.exists(self.path("i1")))
        self.assertEqual(self.token_objects("ROOT"), tokens_before)

        # The issuing CA: wrong PIN, missing token and missing object at issue and serve.
        ca = TokenIssuingCA(self, root)
        _, csr = self.make_key_and_csr("client", "/CN=client")
        issuer_before = snapshot(ca.dir)
        tokens_before = self.token_objects("ROOT", "ISSUER")
        config = os.path.join(ca.dir, "edgeca.toml")
        with open(config) as f:
            good_config = f.read()

        self.assertExit(ca.edgeca("issue", "--csr", csr, "--profile", "client", "--pin-file", self.wrong_pin_file),
                        5, "pkcs11_pin_wrong")
        with open(config, "w") as f:
            f.write(re.sub(r"object=edgeca-issuing-ca;id=(%[0-9A-F]{2})+", "object=not-in-the-token", good_config))
        self.assertExit(ca.edgeca("issue", "--csr", csr, "--profile", "client"), 6,
                        'no private key that matches object "not-in-the-token"')
        with open(config, "w") as f:
            f.write(good_config.replace("token=ISSUER", "token=ELSEWHERE"))
        self.assertExit(ca.edgeca("crl"), 6, "pkcs11_token_missing")
        # Without pin_file the PIN comes from $EDGECA_PKCS11_PIN; with neither, a clear refusal.
        with open(config, "w") as f:
            f.write(re.sub(r"(?m)^pin_file = .*\n", "", good_config))
        no_pin = ca.edgeca("crl")
        self.assertExit(no_pin, 5, "pin_missing")
        self.assertIn("EDGECA_PKCS11_PIN", no_pin.stderr)
        self.assertExit(ca.edgeca("crl", env={"EDGECA_PKCS11_PIN": "wrong"}), 5, "pkcs11_pin_wrong")
        with open(config, "w") as f:
            f.write(good_config)
        # Rotation makes file keys only: a directory whose key is in a token is refused, nothing made.
        self.assertExit(ca.edgeca("issuer new"), 4, "issuer_rotation_token_unsupported")
        self.assertFalse(os.path.exists(os.path.join(ca.dir, "issuers")))

        ca.start(expect_ready=False, *["--pin-file", self.wrong_pin_file])
        self.assertEqual(ca.process.wait(timeout=60), 5)
        self.assertEqual(self.token_objects("ROOT", "ISSUER"), tokens_before)
        after = snapshot(ca.dir)
        self.assertEqual({k: v for k, v in after.items() if not k.startswith("issuer.db")},
                         {k: v for k, v in issuer_before.items() if not k.startswith("issuer.db")})
        db = sqlite3.connect(os.path.join(ca.dir, "issuer.db"))
        try:
            self.assertEqual(db.execute("SELECT COUNT(*) FROM certificates").fetchone()[0], 0)
        finally:
            db.close()

    def test_a_token_that_goes_away_under_the_service_gives_an_error_at_once_not_a_hang(self):
        root = TokenRoot(self)
        ca = TokenIssuingCA(self, root)
        ca.start()
        ca.enroll("before")
        # Pulling the token: SoftHSM2's token directory moved away under the running service.
        shutil.move(self.tokens, self.path("pulled"))
        _, csr = self.make_key_and_csr("after", "/CN=after", extra=["-addext", "subjectAltName=DNS:localhost"])
        with open(csr) as f:
            body = {"csr": f.read(), "profile": "hub"}
        started = time.monotonic()
        status, _, answer = ca.request("POST", "/v1/certificates", body, token=ca.token("hub"))
        elapsed = time.monotonic() - started
        self.assertEqual((status, answer["error"]["code"]), (503, "pkcs11_signing_failed"), answer)
        self.assertIn("the token did not sign", answer["error"]["message"])
        self.assertLess(elapsed, 10, "the refusal took too long")
        # Nothing was issued for the refused request, and the service still answers.
        self.assertEqual(len(ca.serials_in_store()), 2)  # the service's TLS certificate and "before"
        status, _, _ = ca.request("GET", "/ca.pem", tls=False)
        self.assertEqual(status, 200)
        self.assertEqual(ca.stop(), 0)
