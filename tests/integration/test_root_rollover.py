"""Root rollover: edgeca-root rollover makes a new root and the two link certificates; the issuing
CA publishes them (edgeca trust add, GET /trust.pem, /ca.pem); an edge trusting only the old root
follows with pki-samples/edge-trust-update, and refuses forged bundles. OpenSSL, Go crypto/x509
and Java PKIX build paths through the links, in both directions."""
import hashlib
import os
import re
import shutil
import time
import unittest

from harness import (ROOT_PASSPHRASE, IssuingCA, on_terminal, RootCeremony, SharedWorkspace, StaticServer,
                     TempDirTestCase, binary, openssl, run, x509_text)

HERE = os.path.dirname(os.path.abspath(__file__))
PEERS = os.path.join(HERE, "..", "peers")
SCRIPT = os.path.join(HERE, "..", "..", "pki-samples", "edge-trust-update")
OLD_SUBJECT = "CN=Test-only Root CA,O=edgeca tests,C=CN"
NEW_SUBJECT = "CN=Test-only Root CA G2,O=edgeca tests,C=CN"
NEW_PASSPHRASE = "test-only new root passphrase 2"


class NewRoot:
    """The root a rollover made, used as RootCeremony is (IssuingCA signs its CSR with it)."""

    def __init__(self, test, directory, passphrase_file):
        self.test, self.dir, self.passphrase_file = test, directory, passphrase_file
        self.certificate = os.path.join(directory, "root.pem")

    def sign_intermediate(self, csr, out, *extra):
        return run([binary("edgeca-root"), "sign-intermediate", "--dir", self.dir, "--csr", csr, "--out", out,
                    "--passphrase-file", self.passphrase_file, *extra])


def rollover(space, old, new_dir, subject=NEW_SUBJECT, days=7300):
    new_pass = space.write(f"new-{time.monotonic_ns()}.pass", NEW_PASSPHRASE + "\n")
    result = run([binary("edgeca-root"), "rollover", "--dir", old.dir, "--new-dir", new_dir, "--subject", subject,
                  "--validity-days", str(days), "--passphrase-file", old.passphrase_file,
                  "--new-passphrase-file", new_pass])
    return result, new_pass


LINK_EXTENSIONS = ("basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n"
                   "subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n")


def expired_link(space, old, new_dir, new_pass):
    """The genuine old root key certifying the genuine new root, but for a month two years ago."""
    if shutil.which("faketime") is None:
        raise AssertionError("faketime (Debian's faketime) is needed to sign a link that has expired; "
                             "scripts/install-deps.sh installs it")
    new_csr = space.path(f"expired-{time.monotonic_ns()}.csr")
    openssl("x509", "-x509toreq", "-in", os.path.join(new_dir, "root.pem"), "-signkey", os.path.join(new_dir, "root.key"),
            "-passin", f"file:{new_pass}", "-out", new_csr)
    expired = space.path(f"expired-link-{time.monotonic_ns()}.pem")
    signed = run(["faketime", "-f", "-730d", "openssl", "x509", "-req", "-in", new_csr, "-CA", old.certificate,
                  "-CAkey", os.path.join(old.dir, "root.key"), "-passin", f"file:{old.passphrase_file}", "-days", "30",
                  "-set_serial", "0x1234", "-extfile", space.write(f"ext-{time.monotonic_ns()}", LINK_EXTENSIONS),
                  "-out", expired])
    space.assertEqual(signed.returncode, 0, signed.stderr)
    return expired


def issue_client(ca, name):
    """A client certificate issued by `ca` with edgeca issue (no service needed)."""
    _, csr = ca.test.make_key_and_csr(name, f"/CN={name}")
    out = ca.test.path(f"{name}.pem")
    ca.test.assertExit(ca.edgeca("issue", "--csr", csr, "--profile", "client", "--out", out, passphrase=True), 0)
    return out


def fingerprint(path):
    return openssl("x509", "-in", path, "-noout", "-fingerprint", "-sha256").stdout.split("=")[1].strip().replace(":", "").lower()


def snapshot(directory):
    return {name: open(os.path.join(directory, name), "rb").read() for name in sorted(os.listdir(directory))}


def verify(cafile, untrusted, leaf):
    return run(["openssl", "verify", "-x509_strict", "-CAfile", cafile, *(["-untrusted", untrusted] if untrusted else []),
                leaf])


_go = {}


def go_verifier(space):
    """tests/peers/link_path.go, built with the Go toolchain (golang-go) once per workspace."""
    if not os.path.exists(_go.get("path", "")):
        if shutil.which("go") is None:
            raise AssertionError("the Go toolchain (Debian's golang-go) is needed to build paths as Go's crypto/x509 "
                                 "does; scripts/install-deps.sh installs it")
        out = space.path("go")
        os.makedirs(out, exist_ok=True)
        env = {"GOCACHE": os.path.join(out, "cache"), "GOPATH": os.path.join(out, "gopath"), "GO111MODULE": "off",
               "CGO_ENABLED": "0", "HOME": out}
        built = run(["go", "build", "-o", os.path.join(out, "link_path"), os.path.join(PEERS, "link_path.go")],
                    env=env, timeout=300)
        if built.returncode != 0:
            raise AssertionError(f"go build of the path verifier failed:\n{built.stdout}\n{built.stderr}")
        _go["path"] = os.path.join(out, "link_path")
    return _go["path"]


def java_path(anchors, certs, leaf):
    if shutil.which("java") is None:
        raise AssertionError("java (Debian's default-jdk-headless) is needed to build paths with Java's PKIX")
    return run(["java", os.path.join(PEERS, "PkixLinkPath.java"), anchors, certs, leaf], timeout=180)


class RolloverWorld:
    """Old root with an issuing CA and a client certificate; a rollover; a new issuing CA certified
    by the new root with a client certificate; the old issuing CA publishing the trust bundle."""

    def __init__(self):
        self.space = space = SharedWorkspace()
        self.old = RootCeremony(space, subject=OLD_SUBJECT, name="old-root")
        self.old_ca = IssuingCA(space, root=self.old, name="old-issuer")
        self.old_leaf = issue_client(self.old_ca, "old-leaf")
        self.new_dir = space.path("new-root")
        self.rollover_result, new_pass = rollover(space, self.old, self.new_dir)
        space.assertEqual(self.rollover_result.returncode, 0, self.rollover_result.stderr)
        self.new = NewRoot(space, self.new_dir, new_pass)
        self.old_with_new = os.path.join(self.new_dir, "link-old-with-new.pem")
        self.new_with_old = os.path.join(self.new_dir, "link-new-with-old.pem")
        self.new_ca = IssuingCA(space, root=self.new, name="new-issuer")
        self.new_leaf = issue_client(self.new_ca, "new-leaf")
        added = self.old_ca.edgeca("trust add", "--cert", self.new.certificate, "--cert", self.old_with_new,
                                   "--cert", self.new_with_old)
        space.assertEqual(added.returncode, 0, added.stderr)
        self.trust_add_result = added

    def close(self):
        self.space.close()


class RolloverCeremonyTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.world = RolloverWorld()
        cls.space = cls.world.space

    @classmethod
    def tearDownClass(cls):
        cls.world.close()

    def test_links_certify_each_roots_key_for_the_overlap_only(self):
        w = self.world
        old_text, new_text = x509_text(w.old.certificate), x509_text(w.new.certificate)
        for link, subject_root, issuer_root in ((w.old_with_new, w.new.certificate, w.old.certificate),
                                                (w.new_with_old, w.old.certificate, w.new.certificate)):
            text = x509_text(link)
            pem = lambda path, *args: openssl("x509", "-in", path, "-noout", *args).stdout
            self.assertEqual(pem(link, "-subject"), pem(subject_root, "-subject"))
            self.assertEqual(pem(link, "-issuer").replace("issuer=", ""), pem(issuer_root, "-subject").replace("subject=", ""))
            self.assertEqual(pem(link, "-pubkey"), pem(subject_root, "-pubkey"))
            self.assertRegex(text, r"Basic Constraints: critical\s+CA:TRUE\s*\n")
            self.assertRegex(text, r"Key Usage: critical\s+Certificate Sign, CRL Sign\s*\n")
            ski = lambda t: re.search(r"Subject Key Identifier:\s*\n\s*([0-9A-F:]+)", t).group(1)
            aki = re.search(r"Authority Key Identifier:\s*\n\s*(?:keyid:)?([0-9A-F:]+)", text).group(1)
            self.assertEqual(ski(text), ski(x509_text(subject_root)))
            self.assertEqual(aki, ski(x509_text(issuer_root)))
            # Valid to the earlier notAfter of the two roots: the old one's (3650 days against 7300).
            self.assertEqual(pem(link, "-enddate"), pem(w.old.certificate, "-enddate"))
            ok = verify(issuer_root, None, link)
            self.assertEqual(ok.returncode, 0, ok.stdout + ok.stderr)
        self.assertNotEqual(old_text, new_text)
        printed = "".join(w.rollover_result.stdout.split()).replace(":", "").lower()
        self.assertIn(fingerprint(w.new.certificate), printed)

    def test_each_store_records_its_link_and_the_audit_trails_verify(self):
        w = self.world
        for directory, link in ((w.old.dir, w.old_with_new), (w.new_dir, w.new_with_old)):
            serial = openssl("x509", "-in", link, "-noout", "-serial").stdout.strip().split("=")[1].lower()
            listed = run([binary("edgeca-root"), "list", "--dir", directory], check=True).stdout.lower()
            self.assertIn(serial.lstrip("0"), listed)
            self.assertIn("link", listed)
            audit = run([binary("edgeca-root"), "audit", "--dir", directory, "--verify"])
            self.assertEqual(audit.returncode, 0, audit.stdout + audit.stderr)
            self.assertIn("link", audit.stdout)

    def test_certificates_under_the_new_root_verify_with_the_new_root(self):
        w = self.world
        ok = verify(w.new.certificate, w.new_ca.certificate, w.new_leaf)
        self.assertEqual(ok.returncode, 0, ok.stdout + ok.stderr)

    def test_peers_build_paths_through_the_links_both_ways(self):
        w, space = self.world, self.space
        # A device trusting only the old root, a certificate under the new: the old-with-new link.
        old_to_new = space.write("old-to-new.pem", open(w.new_ca.certificate).read() + open(w.old_with_new).read())
        # A device trusting only the new root, a certificate under the old: the new-with-old link.
        new_to_old = space.write("new-to-old.pem", open(w.old_ca.certificate).read() + open(w.new_with_old).read())
        go = go_verifier(space)
        for anchor, intermediates, leaf, issuer_cn in ((w.old.certificate, old_to_new, w.new_leaf, "G2"),
                                                       (w.new.certificate, new_to_old, w.old_leaf, "")):
            without_links = space.write(f"no-links-{time.monotonic_ns()}.pem", open(intermediates).read().split("-----END CERTIFICATE-----\n")[0] + "-----END CERTIFICATE-----\n")
            ossl = verify(anchor, intermediates, leaf)
            self.assertEqual(ossl.returncode, 0, f"OpenSSL: {ossl.stdout}{ossl.stderr}")
            self.assertNotEqual(verify(anchor, without_links, leaf).returncode, 0, "OpenSSL verified without the link")
            gor = run([go, anchor, intermediates, leaf])
            self.assertEqual(gor.returncode, 0, f"Go: {gor.stdout}{gor.stderr}")
            self.assertEqual(len(gor.stdout.splitlines()), 4, gor.stdout)  # leaf, issuing CA, link, anchor
            self.assertNotEqual(run([go, anchor, without_links, leaf]).returncode, 0, "Go verified without the link")
            jr = java_path(anchor, intermediates, leaf)
            self.assertEqual(jr.returncode, 0, f"Java: {jr.stdout}{jr.stderr}")
            self.assertEqual(len(jr.stdout.splitlines()), 4, jr.stdout)  # leaf, issuing CA, link, anchor line
            self.assertNotEqual(java_path(anchor, without_links, leaf).returncode, 0, "Java verified without the link")

    def test_trust_add_refuses_what_no_link_chains_and_keeps_the_bundle(self):
        w, space = self.world, self.space
        before = open(os.path.join(w.old_ca.dir, "trust.pem")).read()
        stranger_key = space.path("stranger.key")
        stranger = space.path("stranger.pem")
        openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", stranger_key, "-subj", "/CN=Stranger Root",
                "-days", "30", "-addext", "basicConstraints=critical,CA:TRUE",
                "-addext", "keyUsage=critical,keyCertSign,cRLSign", "-out", stranger)
        refused = w.old_ca.edgeca("trust add", "--cert", stranger)
        self.assertEqual(refused.returncode, 4, refused.stdout + refused.stderr)
        self.assertIn("no link certificate chains", refused.stderr)
        self.assertEqual(open(os.path.join(w.old_ca.dir, "trust.pem")).read(), before)
        # What is there already is added again without change.
        again = w.old_ca.edgeca("trust add", "--cert", w.old_with_new)
        self.assertEqual(again.returncode, 0, again.stderr)
        self.assertEqual(open(os.path.join(w.old_ca.dir, "trust.pem")).read(), before)
        audit = w.old_ca.edgeca("audit")
        self.assertIn("trust-add", audit.stdout)
        self.assertIn("refused", audit.stdout)

    def test_trust_add_refuses_an_expired_link(self):
        w = self.world
        before = open(os.path.join(w.old_ca.dir, "trust.pem")).read()
        expired = expired_link(self.space, w.old, w.new_dir, w.new.passphrase_file)
        refused = w.old_ca.edgeca("trust add", "--cert", expired)
        self.assertEqual(refused.returncode, 4, refused.stdout + refused.stderr)
        self.assertIn("not now", refused.stderr)
        self.assertEqual(open(os.path.join(w.old_ca.dir, "trust.pem")).read(), before)

    def test_trust_remove_drops_a_root_with_its_links_but_never_the_issuing_cas_root(self):
        w = self.world
        trust = os.path.join(w.new_ca.dir, "trust.pem")
        added = w.new_ca.edgeca("trust add", "--cert", w.old.certificate, "--cert", w.old_with_new, "--cert", w.new_with_old)
        self.assertEqual(added.returncode, 0, added.stderr)
        self.assertEqual(open(trust).read().count("BEGIN CERTIFICATE"), 4)
        own = w.new_ca.edgeca("trust remove", "--fingerprint", fingerprint(w.new.certificate))
        self.assertEqual(own.returncode, 4, own.stdout + own.stderr)
        unknown = w.new_ca.edgeca("trust remove", "--fingerprint", "00" * 32)
        self.assertEqual(unknown.returncode, 6, unknown.stdout + unknown.stderr)
        self.assertEqual(open(trust).read().count("BEGIN CERTIFICATE"), 4)
        colons = ":".join(fingerprint(w.old.certificate)[i:i + 2] for i in range(0, 64, 2)).upper()
        dropped = w.new_ca.edgeca("trust remove", "--fingerprint", colons)
        self.assertEqual(dropped.returncode, 0, dropped.stdout + dropped.stderr)
        self.assertEqual(open(trust).read(), open(w.new.certificate).read())
        self.assertIn("trust-remove", w.new_ca.edgeca("audit").stdout)

    def test_the_new_root_keeps_the_old_roots_crl_url_unless_told_otherwise(self):
        space = self.space
        url = "http://ca.test.example:8080/root.crl"
        old = RootCeremony(space, subject="CN=CRL Root,C=CN", name="crl-root", extra=("--crl-url", url))
        result, new_pass = rollover(space, old, space.path("crl-root-g2"), subject="CN=CRL Root G2,C=CN")
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertIn(f"root CRL URL: {url}", result.stdout)
        _, csr = space.make_key_and_csr(f"crl-issuer-{time.monotonic_ns()}", "/CN=CRL Issuing CA")
        out = space.path(f"crl-issuer-{time.monotonic_ns()}.pem")
        signed = NewRoot(space, space.path("crl-root-g2"), new_pass).sign_intermediate(csr, out)
        self.assertEqual(signed.returncode, 0, signed.stderr)
        self.assertIn(f"URI:{url}", x509_text(out))

    def test_on_a_terminal_the_old_passphrase_is_asked_once_then_the_new_twice(self):
        space = self.space
        old = RootCeremony(space, subject="CN=Prompt Root,C=CN", name=f"prompt-root-{time.monotonic_ns()}")
        prompts = []

        def respond(output):
            text = output.decode(errors="replace")
            asked = text.count("passphrase:") + text.count("(again):")
            if asked > len(prompts):
                prompt = text.rstrip().splitlines()[-1]
                prompts.append(prompt)
                return (NEW_PASSPHRASE if "New root" in prompt else ROOT_PASSPHRASE) + "\n"
            return None

        new_dir = space.path(f"prompt-root-g2-{time.monotonic_ns()}")
        code, output = on_terminal([binary("edgeca-root"), "rollover", "--dir", old.dir, "--new-dir", new_dir,
                                    "--subject", "CN=Prompt Root G2,C=CN", "--validity-days", "30"], respond)
        self.assertEqual(code, 0, output.decode(errors="replace"))
        self.assertEqual([p.split(":")[0] for p in prompts],
                         ["Root key passphrase", "New root key passphrase", "New root key passphrase (again)"])
        for secret in (ROOT_PASSPHRASE, NEW_PASSPHRASE):
            self.assertNotIn(secret.encode(), output, "a passphrase was echoed")
        # The new key opens with the new passphrase only.
        key = os.path.join(new_dir, "root.key")
        self.assertEqual(run(["openssl", "pkey", "-in", key, "-passin", f"pass:{NEW_PASSPHRASE}", "-noout"]).returncode, 0)
        self.assertNotEqual(run(["openssl", "pkey", "-in", key, "-passin", f"pass:{ROOT_PASSPHRASE}", "-noout"]).returncode, 0)

    def test_a_link_can_be_revoked_at_its_root_and_appears_on_the_root_crl(self):
        space = self.space
        old = RootCeremony(space, subject="CN=Revoking Root,C=CN", name=f"revoking-root-{time.monotonic_ns()}")
        new_dir = space.path(f"revoking-root-g2-{time.monotonic_ns()}")
        result, _ = rollover(space, old, new_dir, subject="CN=Revoking Root G2,C=CN")
        self.assertEqual(result.returncode, 0, result.stderr)
        link = os.path.join(new_dir, "link-old-with-new.pem")
        serial = openssl("x509", "-in", link, "-noout", "-serial").stdout.strip().split("=")[1]
        revoked = old.root("revoke", "--dir", old.dir, "--serial", serial, "--reason", "keyCompromise")
        self.assertEqual(revoked.returncode, 0, revoked.stdout + revoked.stderr)
        crl = space.path(f"revoking-{time.monotonic_ns()}.pem")
        self.assertEqual(old.root("crl", "--dir", old.dir, "--out", crl).returncode, 0)
        text = openssl("crl", "-in", crl, "-noout", "-text").stdout
        self.assertIn(serial.upper(), text.replace(":", "").upper())
        self.assertIn("Key Compromise", text)
        # The root itself still cannot be revoked.
        own = openssl("x509", "-in", old.certificate, "-noout", "-serial").stdout.strip().split("=")[1]
        self.assertEqual(old.root("revoke", "--dir", old.dir, "--serial", own, "--reason", "superseded").returncode, 4)

    def test_same_subject_is_refused_before_any_key_is_made(self):
        space = self.space
        result, _ = rollover(space, self.world.old, space.path("same-name"), subject=OLD_SUBJECT)
        self.assertEqual(result.returncode, 4, result.stdout + result.stderr)
        self.assertIn("another name", result.stderr)
        self.assertFalse(os.path.exists(space.path("same-name", "root.pem")))
        self.assertFalse(os.path.exists(space.path("same-name", "root.key")))

    def test_rollover_into_an_existing_root_is_refused(self):
        result, _ = rollover(self.space, self.world.old, self.world.old_ca.ceremony.dir, subject="CN=Other G3")
        self.assertEqual(result.returncode, 7, result.stdout + result.stderr)
        result, _ = rollover(self.space, self.world.old, self.world.new_dir, subject="CN=Other G3")
        self.assertEqual(result.returncode, 7, result.stdout + result.stderr)

    def test_wrong_old_passphrase_makes_nothing(self):
        space = self.space
        bad = space.write("bad.pass", "not the passphrase at all\n")
        new_pass = space.write("x.pass", NEW_PASSPHRASE + "\n")
        result = run([binary("edgeca-root"), "rollover", "--dir", self.world.old.dir, "--new-dir", space.path("x"),
                      "--subject", "CN=X G2", "--validity-days", "10", "--passphrase-file", bad,
                      "--new-passphrase-file", new_pass])
        self.assertEqual(result.returncode, 5, result.stdout + result.stderr)
        self.assertFalse(os.path.exists(space.path("x", "root.pem")))


class ServedTrustTest(unittest.TestCase):
    """The old issuing CA serving /trust.pem and /ca.pem; edges running edge-trust-update."""

    @classmethod
    def setUpClass(cls):
        cls.world = w = RolloverWorld()
        cls.space = w.space
        root_crl = w.space.path("old-root.crl")
        made = w.old.root("crl", "--dir", w.old.dir, "--out", root_crl)
        w.space.assertEqual(made.returncode, 0, made.stderr)
        installed = w.old_ca.edgeca("root-crl install", "--crl", root_crl)
        w.space.assertEqual(installed.returncode, 0, installed.stderr)
        w.old_ca.start()
        cls.url = f"http://127.0.0.1:{w.old_ca.public_port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and w.old_ca.request("GET", "/crl", tls=False)[0] != 200:
            time.sleep(0.2)

    @classmethod
    def tearDownClass(cls):
        cls.world.old_ca.stop()
        cls.world.close()

    def device(self, *roots):
        directory = self.space.path(f"device-{time.monotonic_ns()}")
        os.makedirs(directory)
        for i, root in enumerate(roots):
            shutil.copy(root, os.path.join(directory, f"factory-{i}.pem"))
        return directory

    @staticmethod
    def roots_in(trust_dir):
        return sorted(n for n in os.listdir(trust_dir) if n.endswith(".pem"))

    def update(self, trust_dir, *extra, url=None):
        return run([SCRIPT, "--url", url or self.url, "--trust-dir", trust_dir, *extra], timeout=120)

    def anchors(self, trust_dir):
        return self.space.write(f"anchors-{time.monotonic_ns()}.pem",
                                "".join(open(os.path.join(trust_dir, n)).read() for n in sorted(os.listdir(trust_dir))))

    def test_trust_pem_holds_both_roots_and_links_with_etag_and_cache_control(self):
        w = self.world
        status, headers, body = w.old_ca.request("GET", "/trust.pem", tls=False)
        self.assertEqual(status, 200)
        text = body.decode()
        self.assertEqual(text.count("BEGIN CERTIFICATE"), 4)
        for path in (w.old.certificate, w.new.certificate, w.old_with_new, w.new_with_old):
            self.assertIn(open(path).read(), text)
        self.assertTrue(text.startswith(open(w.old.certificate).read()))
        self.assertIn("max-age=", headers["cache-control"])
        self.assertIn(hashlib.sha256(body).hexdigest()[:32], headers["etag"])
        loaded = w.old_ca.wait_for_event("trust_bundle_loaded")
        self.assertEqual((loaded["roots"], loaded["links"]), (2, 2))
        self.assertNotIn("level", loaded)
        again, headers2, _ = w.old_ca.request("GET", "/trust.pem", tls=False, headers={"If-None-Match": headers["etag"]})
        self.assertEqual(again, 304)
        self.assertEqual(headers2["etag"], headers["etag"])

    def test_ca_pem_lets_a_device_trusting_only_the_new_root_verify_the_old_hierarchy(self):
        w = self.world
        for path in ("/ca.pem", "/enos/CA/cacert/RSA"):
            status, _, body = w.old_ca.request("GET", path, tls=False)
            self.assertEqual(status, 200)
            chain = self.space.write(f"served-chain-{time.monotonic_ns()}.pem", body)
            self.assertIn(open(w.new_with_old).read(), body.decode())
            for anchor in (w.new.certificate, w.old.certificate):
                ok = verify(anchor, chain, w.old_leaf)
                self.assertEqual(ok.returncode, 0, f"{path} with {anchor}: {ok.stdout}{ok.stderr}")
            gor = run([go_verifier(self.space), w.new.certificate, chain, w.old_leaf])
            self.assertEqual(gor.returncode, 0, gor.stdout + gor.stderr)
            jr = java_path(w.new.certificate, chain, w.old_leaf)
            self.assertEqual(jr.returncode, 0, jr.stdout + jr.stderr)

    def test_an_issuing_ca_under_the_new_root_serves_a_chain_devices_on_the_old_root_verify(self):
        w = self.world
        added = w.new_ca.edgeca("trust add", "--cert", w.old.certificate, "--cert", w.old_with_new,
                                "--cert", w.new_with_old)
        self.assertEqual(added.returncode, 0, added.stdout + added.stderr)
        w.new_ca.start()
        self.addCleanup(w.new_ca.stop)
        status, _, body = w.new_ca.request("GET", "/ca.pem", tls=False)
        self.assertEqual(status, 200)
        self.assertIn(open(w.old_with_new).read(), body.decode())
        chain = self.space.write("new-issuer-chain.pem", body)
        for anchor in (w.old.certificate, w.new.certificate):
            ok = verify(anchor, chain, w.new_leaf)
            self.assertEqual(ok.returncode, 0, f"{anchor}: {ok.stdout}{ok.stderr}")
        gor = run([go_verifier(self.space), w.old.certificate, chain, w.new_leaf])
        self.assertEqual(gor.returncode, 0, gor.stdout + gor.stderr)
        jr = java_path(w.old.certificate, chain, w.new_leaf)
        self.assertEqual(jr.returncode, 0, jr.stdout + jr.stderr)
        # Its bundle: its own root first, the old root reached through new-with-old.
        status, _, bundle = w.new_ca.request("GET", "/trust.pem", tls=False)
        self.assertTrue(bundle.decode().startswith(open(w.new.certificate).read()))
        self.assertEqual(bundle.decode().count("BEGIN CERTIFICATE"), 4)

    def test_device_trusting_only_the_old_root_installs_the_new_one_and_verifies_under_it(self):
        w = self.world
        device = self.device(w.old.certificate)
        crl_dir = self.space.path(f"crl-{time.monotonic_ns()}")
        before = verify(self.anchors(device), w.new_ca.certificate, w.new_leaf)
        self.assertNotEqual(before.returncode, 0, "verified under the new root before the update")
        result = self.update(device, "--crl-dir", crl_dir)
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        installed = os.path.join(device, f"root-{fingerprint(w.new.certificate)[:16]}.pem")
        self.assertEqual(open(installed).read(), open(w.new.certificate).read())
        self.assertEqual(self.roots_in(device), sorted(["factory-0.pem", os.path.basename(installed)]))
        after = verify(self.anchors(device), w.new_ca.certificate, w.new_leaf)
        self.assertEqual(after.returncode, 0, after.stdout + after.stderr)
        # The CRLs, verified up to the trusted roots.
        ok = run(["openssl", "crl", "-in", os.path.join(crl_dir, "crl.pem"), "-CAfile", w.old_ca.certificate, "-noout"])
        self.assertIn("verify OK", ok.stdout + ok.stderr)
        ok = run(["openssl", "crl", "-in", os.path.join(crl_dir, "root-crl.pem"), "-CAfile", w.old.certificate, "-noout"])
        self.assertIn("verify OK", ok.stdout + ok.stderr)
        # A second run changes nothing: the bundle's ETag was kept, the CA answers 304.
        _, headers, _ = w.old_ca.request("GET", "/trust.pem", tls=False)
        self.assertEqual(open(os.path.join(device, ".trust-etag")).read().strip(), headers["etag"])
        snap = snapshot(device)
        again = self.update(device)
        self.assertEqual(again.returncode, 0, again.stderr)
        self.assertIn("trust bundle unchanged", again.stderr)
        self.assertEqual(snapshot(device), snap)
        # Without the ETag the bundle is fetched and checked again, with the same outcome.
        os.remove(os.path.join(device, ".trust-etag"))
        full = self.update(device)
        self.assertEqual(full.returncode, 0, full.stderr)
        self.assertIn("up to date", full.stderr)
        self.assertEqual(snapshot(device), snap)
        # The old root stays until the edge is told to drop it; never the last one.
        dropped = run([SCRIPT, "--trust-dir", device, "--drop-root", fingerprint(w.old.certificate)])
        self.assertEqual(dropped.returncode, 0, dropped.stderr)
        self.assertEqual(self.roots_in(device), [os.path.basename(installed)])
        last = run([SCRIPT, "--trust-dir", device, "--drop-root", fingerprint(w.new.certificate)])
        self.assertEqual(last.returncode, 4, last.stderr)
        self.assertEqual(self.roots_in(device), [os.path.basename(installed)])

    def test_device_trusting_only_the_new_root_verifies_the_old_issuing_ca_and_its_crl(self):
        w = self.world
        device = self.device(w.new.certificate)
        crl_dir = self.space.path(f"crl-{time.monotonic_ns()}")
        result = self.update(device, "--crl-dir", crl_dir)
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        # The bundle's old root is linked by new-with-old: the device may take it too.
        self.assertTrue(os.path.exists(os.path.join(device, f"root-{fingerprint(w.old.certificate)[:16]}.pem")))
        self.assertTrue(os.path.exists(os.path.join(crl_dir, "crl.pem")))

    def test_unreachable_ca_changes_nothing(self):
        device = self.device(self.world.old.certificate)
        snap = snapshot(device)
        result = self.update(device, url="http://127.0.0.1:1")
        self.assertEqual(result.returncode, 3, result.stderr)
        self.assertEqual(snapshot(device), snap)


class ForgedBundleTest(TempDirTestCase):
    """Bundles an attacker could serve, from a plain HTTP server on loopback: each refused with
    exit 4 and the device's trust store left byte for byte as it was."""

    @classmethod
    def setUpClass(cls):
        cls.space = space = SharedWorkspace()
        cls.old = RootCeremony(space, subject=OLD_SUBJECT, name="old-root")
        new_dir = space.path("new-root")
        result, cls.new_pass = rollover(space, cls.old, new_dir)
        space.assertEqual(result.returncode, 0, result.stderr)
        cls.new_dir = new_dir
        cls.new_root = os.path.join(new_dir, "root.pem")
        cls.link = os.path.join(new_dir, "link-old-with-new.pem")
        cls.served = {}
        cls.server = StaticServer(cls.served)
        cls.url = cls.server.url

    @classmethod
    def tearDownClass(cls):
        cls.server.close()
        cls.space.close()

    def serve_bundle(self, *paths):
        self.served["/trust.pem"] = b"".join(open(p, "rb").read() for p in paths)

    def assertRefused(self, *paths, reason):
        self.serve_bundle(*paths)
        device = self.path("device")
        os.makedirs(device, exist_ok=True)
        shutil.copy(self.old.certificate, os.path.join(device, "factory.pem"))
        before = snapshot(device)
        result = run([SCRIPT, "--url", self.url, "--trust-dir", device], timeout=120)
        self.assertEqual(result.returncode, 4, result.stdout + result.stderr)
        self.assertIn(reason, result.stderr)
        self.assertIn("unchanged", result.stderr)
        self.assertEqual(snapshot(device), before)

    def ext_file(self):
        return self.write("link.ext", LINK_EXTENSIONS)

    def test_the_genuine_bundle_is_accepted(self):
        self.serve_bundle(self.old.certificate, self.new_root, self.link)
        device = self.path("device")
        os.makedirs(device)
        shutil.copy(self.old.certificate, os.path.join(device, "factory.pem"))
        result = run([SCRIPT, "--url", self.url, "--trust-dir", device], timeout=120)
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        self.assertEqual(len(os.listdir(device)), 2)

    def test_a_new_root_without_a_link_is_refused(self):
        self.assertRefused(self.old.certificate, self.new_root, reason="no link certificate in the bundle certifies it")

    def test_a_root_with_a_link_signed_by_another_key_is_refused(self):
        # An attacker's root, and a "link" for it under the old root's exact name but signed by a
        # key of the attacker's: everything a device could check by name alone matches.
        fake_old_key = self.path("fake-old.key")
        fake_old = self.path("fake-old.pem")
        openssl("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", fake_old_key)
        fake_csr = self.path("fake-old.csr")
        openssl("x509", "-x509toreq", "-in", self.old.certificate, "-signkey", fake_old_key, "-out", fake_csr)
        openssl("x509", "-req", "-in", fake_csr, "-signkey", fake_old_key, "-days", "30", "-extfile", self.ext_file(),
                "-out", fake_old)
        same = lambda p: openssl("x509", "-in", p, "-noout", "-subject").stdout
        self.assertEqual(same(fake_old), same(self.old.certificate))
        evil_key, evil_csr = self.make_key_and_csr("evil", "/CN=Test-only Root CA G2/O=edgeca tests/C=CN")
        evil_root = self.path("evil-root.pem")
        openssl("x509", "-req", "-in", evil_csr, "-key", evil_key, "-days", "30", "-extfile", self.ext_file(),
                "-out", evil_root)
        evil_link = self.path("evil-link.pem")
        openssl("x509", "-req", "-in", evil_csr, "-CA", fake_old, "-CAkey", fake_old_key, "-days", "30",
                "-extfile", self.ext_file(), "-out", evil_link)
        self.assertIn("does not verify against the trusted roots",
                      self._refusal(self.old.certificate, evil_root, evil_link))

    def _refusal(self, *paths):
        self.assertRefused(*paths, reason="refused")
        self.serve_bundle(*paths)
        device = self.path("device")
        return run([SCRIPT, "--url", self.url, "--trust-dir", device], timeout=120).stderr

    def test_a_link_revoked_on_the_root_crl_is_not_followed(self):
        serial = openssl("x509", "-in", self.link, "-noout", "-serial").stdout.strip().split("=")[1]
        revoked = self.old.root("revoke", "--dir", self.old.dir, "--serial", serial, "--reason", "keyCompromise")
        self.assertEqual(revoked.returncode, 0, revoked.stderr)
        crl = self.path("root.crl")
        self.assertEqual(self.old.root("crl", "--dir", self.old.dir, "--out", crl).returncode, 0)
        self.served["/root.crl"] = open(crl, "rb").read()
        self.addCleanup(self.served.pop, "/root.crl")
        self.assertIn("is revoked on the root CRL", self._refusal(self.old.certificate, self.new_root, self.link))

    def test_an_expired_link_is_refused(self):
        expired = expired_link(self, self.old, self.new_dir, self.new_pass)
        self.assertIn("expired", self._refusal(self.old.certificate, self.new_root, expired))

    def test_a_link_without_its_root_brings_nothing_and_is_refused(self):
        # The link alone, without the root it certifies, brings no root: nothing to install.
        self.serve_bundle(self.link)
        device = self.path("device")
        os.makedirs(device)
        shutil.copy(self.old.certificate, os.path.join(device, "factory.pem"))
        result = run([SCRIPT, "--url", self.url, "--trust-dir", device], timeout=120)
        self.assertEqual(result.returncode, 4, result.stderr)
        self.assertIn("no root", result.stderr)
        self.assertEqual(os.listdir(device), ["factory.pem"])


if __name__ == "__main__":
    unittest.main()
