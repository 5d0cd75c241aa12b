"""M-of-N backup of the root key through the real edgeca-root: backup into five sealed custodian
shares, restore from any three, and every refusal leaves the root directory as it was."""
import hashlib
import os
import re
import shutil
import stat
import subprocess

from harness import ROOT_PASSPHRASE, RootCeremony, SharedWorkspace, TempDirTestCase, binary, on_terminal, openssl, run

CUSTODIANS = [f"custodian {i} passphrase, test only" for i in range(1, 6)]
NEW_ROOT_PASSPHRASE = "restored root passphrase, test only"


def spki_sha256(certificate):
    """SHA-256 of the certificate's SubjectPublicKeyInfo (DER), as OpenSSL computes it."""
    pem = openssl("x509", "-in", certificate, "-noout", "-pubkey").stdout
    der = subprocess.run(["openssl", "pkey", "-pubin", "-outform", "DER"], input=pem.encode(),
                         capture_output=True, check=True, timeout=60).stdout
    return hashlib.sha256(der).hexdigest()


def snapshot(directory):
    """Every file under `directory` with the SHA-256 of its content and its mode."""
    state = {}
    for name in sorted(os.listdir(directory)):
        path = os.path.join(directory, name)
        with open(path, "rb") as f:
            state[name] = (hashlib.sha256(f.read()).hexdigest(), stat.S_IMODE(os.stat(path).st_mode))
    return state


class RootBackupTest(TempDirTestCase):
    """One root and one backup for the class (scrypt and RSA key generation are slow); each test
    restores into its own copy of the root directory."""

    @classmethod
    def setUpClass(cls):
        cls.space = SharedWorkspace()
        cls.root = RootCeremony(cls.space)
        cls.custodian_files = [cls.space.write(f"custodian-{i}.pass", p + "\n")
                               for i, p in enumerate(CUSTODIANS, 1)]
        cls.shares = cls.space.path("shares")
        cls.backup_result = cls.backup(cls.root, cls.shares)
        cls.space.assertEqual(cls.backup_result.returncode, 0, cls.backup_result.stderr)
        # Another root, backed up with the same custodian passphrases: only its key differs.
        cls.other = RootCeremony(cls.space, subject="CN=Other Root", name="other")
        cls.other_shares = cls.space.path("other-shares")
        other_result = cls.backup(cls.other, cls.other_shares)
        cls.space.assertEqual(other_result.returncode, 0, other_result.stderr)

    @classmethod
    def tearDownClass(cls):
        cls.space.close()

    @classmethod
    def backup(cls, root, out_dir, threshold=3, files=None):
        files = cls.custodian_files if files is None else files
        command = ["backup", "--dir", root.dir, "--shares", str(len(files)), "--threshold",
                   str(threshold), "--out-dir", out_dir]
        for f in files:
            command += ["--share-passphrase-file", f]
        return root.root(*command)

    def setUp(self):
        super().setUp()
        self.dir = self.path("root")
        shutil.copytree(self.root.dir, self.dir)
        os.remove(os.path.join(self.dir, "root.key"))
        self.new_passphrase = self.write("new-root.pass", NEW_ROOT_PASSPHRASE + "\n")

    def share(self, index, shares=None):
        return os.path.join(shares or self.shares, f"share-{index}-of-5.pem")

    def restore(self, shares, passphrase_files):
        command = [binary("edgeca-root"), "restore", "--dir", self.dir,
                   "--passphrase-file", self.new_passphrase]
        for share in shares:
            command += ["--share", share]
        for f in passphrase_files:
            command += ["--share-passphrase-file", f]
        return run(command)

    def assertNoSecretsIn(self, result):
        for secret in CUSTODIANS + [ROOT_PASSPHRASE, NEW_ROOT_PASSPHRASE]:
            self.assertNotIn(secret, result.stdout + result.stderr)

    def audit(self, directory):
        result = run([binary("edgeca-root"), "audit", "--dir", directory, "--verify"])
        self.assertExit(result, 0)
        return result.stdout

    # --- backup ---

    def test_backup_writes_one_sealed_file_per_custodian_and_names_each(self):
        self.assertEqual(sorted(os.listdir(self.shares)), [f"share-{i}-of-5.pem" for i in range(1, 6)])
        self.assertEqual(stat.S_IMODE(os.stat(self.shares).st_mode), 0o700)
        out = self.backup_result.stdout
        fingerprint = spki_sha256(self.root.certificate)
        colon = ":".join(fingerprint[i:i + 2] for i in range(0, 64, 2)).upper()
        self.assertIn(colon, out)
        self.assertIn("any 3 of them restore it (3 of 5)", out)
        for i in range(1, 6):
            self.assertRegex(out, rf"share-{i}-of-5\.pem\s+custodian {i} of 5")
            path = self.share(i)
            self.assertEqual(stat.S_IMODE(os.stat(path).st_mode), 0o600)
            with open(path) as f:
                text = f.read()
            self.assertTrue(text.startswith("-----BEGIN EDGECA ROOT KEY SHARE-----\n"))
            self.assertTrue(text.endswith("-----END EDGECA ROOT KEY SHARE-----\n"))
        self.assertNoSecretsIn(self.backup_result)
        # The audit entry names M, N and the key, not the shares or the passphrases.
        entry = [line for line in self.audit(self.root.dir).splitlines() if "key-backup" in line]
        self.assertEqual(len(entry), 1)
        self.assertIn(f"3-of-5 key-sha256={fingerprint}", entry[0])
        self.assertNotIn("share-", entry[0])

    def test_backup_never_overwrites_a_share_and_writes_nothing_when_refused(self):
        out_dir = self.path("again")
        os.makedirs(out_dir)
        with open(os.path.join(out_dir, "share-4-of-5.pem"), "w") as f:
            f.write("earlier share\n")
        before_root = snapshot(self.root.dir)
        result = self.backup(self.root, out_dir)
        self.assertExit(result, 7, "share-4-of-5.pem already exists")
        self.assertEqual(os.listdir(out_dir), ["share-4-of-5.pem"])
        self.assertEqual(snapshot(self.root.dir), before_root)

    def test_backup_refuses_splits_that_are_not_m_of_n(self):
        cases = [(1, self.custodian_files, "threshold of 1 is not a split"),
                 (0, self.custodian_files, "threshold 0 of 5"),
                 (6, self.custodian_files, "threshold 6 of 5"),
                 (2, self.custodian_files[:1], "1 shares")]
        for threshold, files, message in cases:
            with self.subTest(threshold=threshold, n=len(files)):
                out_dir = self.path(f"split-{threshold}-{len(files)}")
                self.assertExit(self.backup(self.root, out_dir, threshold, files), 3, message)
                self.assertFalse(os.path.exists(out_dir))
        many = self.root.root("backup", "--dir", self.root.dir, "--shares", "255", "--threshold", "2",
                              "--out-dir", self.path("many"))
        self.assertExit(many, 3, "2 to 254")
        self.assertFalse(os.path.exists(self.path("many")))

    def test_backup_needs_one_passphrase_file_per_custodian_each_distinct_and_long(self):
        out_dir = self.path("refused")
        result = self.root.root("backup", "--dir", self.root.dir, "--shares", "5", "--threshold", "3",
                                "--out-dir", out_dir, "--share-passphrase-file", self.custodian_files[0])
        self.assertExit(result, 3, "1 --share-passphrase-file given for 5 custodian")
        same = self.custodian_files[:4] + [self.custodian_files[1]]
        self.assertExit(self.backup(self.root, out_dir, 3, same), 4, "custodians 2 and 5")
        short = self.write("short.pass", "short\n")
        self.assertExit(self.backup(self.root, out_dir, 3, self.custodian_files[:4] + [short]), 4,
                        "at least 12")
        self.assertFalse(os.path.exists(out_dir))

    def test_backup_with_a_wrong_root_passphrase_writes_no_share(self):
        wrong = self.write("wrong.pass", "not the root passphrase\n")
        command = [binary("edgeca-root"), "backup", "--dir", self.root.dir, "--shares", "5",
                   "--threshold", "3", "--out-dir", self.path("refused"), "--passphrase-file", wrong]
        for f in self.custodian_files:
            command += ["--share-passphrase-file", f]
        self.assertExit(run(command), 5, "does not open the key file")
        self.assertFalse(os.path.exists(self.path("refused")))

    # --- restore ---

    def test_restore_from_three_shares_gives_a_working_root_key(self):
        chosen = [5, 2, 4]
        result = self.restore([self.share(i) for i in chosen],
                              [self.custodian_files[i - 1] for i in chosen])
        self.assertExit(result, 0)
        self.assertNoSecretsIn(result)
        key = os.path.join(self.dir, "root.key")
        self.assertEqual(stat.S_IMODE(os.stat(key).st_mode), 0o600)
        certificate = os.path.join(self.dir, "root.pem")
        opened = openssl("pkey", "-in", key, "-passin", f"file:{self.new_passphrase}", "-pubout").stdout
        self.assertEqual(opened, openssl("x509", "-in", certificate, "-noout", "-pubkey").stdout)
        self.assertNotEqual(openssl("pkey", "-in", key, "-passin", f"file:{self.root.passphrase_file}",
                                    "-noout", check=False).returncode, 0,
                            "the restored key is under the new passphrase, not the old one")
        fingerprint = spki_sha256(certificate)
        self.assertIn(":".join(fingerprint[i:i + 2] for i in range(0, 64, 2)).upper(), result.stdout)

        # The restored key signs: an issuing CA certificate that verifies under root.pem.
        _, csr = self.make_key_and_csr("issuer", "/CN=Issuing after restore")
        out = self.path("issuer.pem")
        signed = run([binary("edgeca-root"), "sign-intermediate", "--dir", self.dir, "--csr", csr,
                      "--out", out, "--passphrase-file", self.new_passphrase])
        self.assertExit(signed, 0)
        openssl("verify", "-CAfile", certificate, out)
        entry = [line for line in self.audit(self.dir).splitlines() if "key-restore" in line]
        self.assertEqual(len(entry), 1)
        self.assertIn(f"3-of-5 key-sha256={fingerprint}", entry[0])

    def assertRefusedUnchanged(self, shares, passphrase_files, code, *message_parts):
        before = snapshot(self.dir)
        result = self.restore(shares, passphrase_files)
        self.assertExit(result, code)
        for part in message_parts:
            self.assertIn(part, result.stderr)
        self.assertNoSecretsIn(result)
        self.assertEqual(snapshot(self.dir), before, "a refused restore changed the root directory")
        return result

    def test_two_shares_of_a_three_of_five_backup_are_refused(self):
        self.assertRefusedUnchanged([self.share(1), self.share(3)], self.custodian_files[0:3:2], 3,
                                    "2 distinct share(s)", "needs 3 of 5", "[shares_too_few]")

    def test_the_same_share_twice_is_refused(self):
        copy = self.path("copy-of-share-2.pem")
        shutil.copy(self.share(2), copy)
        files = [self.custodian_files[i] for i in (1, 1, 3)]
        self.assertRefusedUnchanged([self.share(2), copy, self.share(4)], files, 3,
                                    f"{self.share(2)} and {copy} are both share 2 of 5",
                                    "[share_duplicate]")

    def test_a_share_with_a_flipped_byte_is_refused_naming_it(self):
        with open(self.share(2)) as f:
            lines = f.read().split("\n")
        middle = len(lines) // 2
        line = lines[middle]
        lines[middle] = ("B" if line[10] == "A" else "A").join([line[:10], line[11:]])
        damaged = self.write("damaged-share-2.pem", "\n".join(lines))
        files = [self.custodian_files[i] for i in (0, 1, 2)]
        self.assertRefusedUnchanged([self.share(1), damaged, self.share(3)], files, 5,
                                    f"does not open {damaged}", "[share_wrong_passphrase]")

    def test_a_share_of_another_roots_backup_is_refused_naming_it(self):
        foreign = self.share(3, self.other_shares)
        files = [self.custodian_files[i] for i in (0, 1, 2)]
        self.assertRefusedUnchanged([self.share(1), self.share(2), foreign], files, 3,
                                    f"{foreign} is a share of another key", "[share_other_key]")

    def test_a_wrong_custodian_passphrase_is_refused_naming_the_share(self):
        files = [self.custodian_files[i] for i in (0, 4, 2)]  # custodian 5's on share 2
        self.assertRefusedUnchanged([self.share(1), self.share(2), self.share(3)], files, 5,
                                    f"does not open {self.share(2)}", "[share_wrong_passphrase]")

    def test_restore_never_replaces_a_root_key(self):
        shutil.copy(os.path.join(self.root.dir, "root.key"), os.path.join(self.dir, "root.key"))
        files = [self.custodian_files[i] for i in (0, 1, 2)]
        self.assertRefusedUnchanged([self.share(1), self.share(2), self.share(3)], files, 7,
                                    "root.key already exists", "[root_key_exists]")

    def test_passphrase_files_must_pair_with_the_shares(self):
        self.assertRefusedUnchanged([self.share(1), self.share(2), self.share(3)],
                                    self.custodian_files[:2], 3, "2 --share-passphrase-file given for 3",
                                    "[share_passphrase_count]")

    def test_a_file_that_is_not_a_share_is_refused(self):
        files = [self.custodian_files[i] for i in (0, 1, 2)]
        self.assertRefusedUnchanged([self.share(1), self.share(2), self.root.certificate], files, 3,
                                    f"{self.root.certificate} is not an edgeca key share",
                                    "[share_malformed]")

    def test_restore_asks_each_custodian_on_the_terminal_naming_their_share(self):
        shares = [self.share(i) for i in (1, 3, 5)]
        argv = [binary("edgeca-root"), "restore", "--dir", self.dir]
        for share in shares:
            argv += ["--share", share]
        prompt = re.compile(rb"(Passphrase of custodian (\d) of 5 \(([^)]*)\)|New root key passphrase"
                            rb"(?: \(again\))?): ")
        answered = []

        def respond(output):
            typed = ""
            for match in prompt.findall(output)[len(answered):]:
                custodian = int(match[1]) if match[1] else None
                answered.append((custodian, match[2].decode()))
                typed += (CUSTODIANS[custodian - 1] if custodian else NEW_ROOT_PASSPHRASE) + "\n"
            return typed or None

        code, output = on_terminal(argv, respond, timeout=120)
        self.assertEqual(code, 0, output.decode(errors="replace"))
        self.assertEqual(answered, [(1, shares[0]), (3, shares[1]), (5, shares[2]), (None, ""), (None, "")])
        for secret in CUSTODIANS + [NEW_ROOT_PASSPHRASE]:
            self.assertNotIn(secret.encode(), output, "a passphrase was echoed")
        self.assertTrue(os.path.exists(os.path.join(self.dir, "root.key")))

    def test_help_lists_both_commands(self):
        result = run([binary("edgeca-root"), "--help"])
        self.assertExit(result, 0)
        self.assertRegex(result.stdout, r"backup\s+split the root key")
        self.assertRegex(result.stdout, r"restore\s+rebuild root.key")
        self.assertIsNotNone(re.search(r"--share-passphrase-file",
                                       run([binary("edgeca-root"), "restore", "--help"]).stdout))
