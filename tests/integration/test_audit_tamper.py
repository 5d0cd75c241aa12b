"""The audit log against a writer of the database: the real service issues and revokes, stops,
and then the SQLite file is edited as an attacker without the CA key would edit it. `audit
--verify` must notice each edit and name the first bad entry; an untouched log must verify."""
import hashlib
import os
import re
import shutil
import sqlite3
import tempfile
import unittest

from harness import IssuingCA, RootCeremony, SERVICE_CONFIG, SharedWorkspace, TempDirTestCase, binary, run


def entry_hash(seq, at_ms, actor, action, serial, fingerprint, outcome, detail, prev_hash):
    """store/audit_log.cpp's entry_hash: SHA-256 over 8-byte big-endian length-prefixed fields."""
    digest = hashlib.sha256()
    for field in (str(seq), str(at_ms), actor, action, serial, fingerprint, outcome, detail, prev_hash):
        data = field.encode()
        digest.update(len(data).to_bytes(8, "big"))
        digest.update(data)
    return digest.hexdigest()


def rewrite_from(db, seq, **changes):
    """Changes entry `seq` and recomputes its hash and every later one, so that the chain by
    itself verifies again: what a writer who read the source would do."""
    rows = db.execute("SELECT seq, at_ms, actor, action, serial, fingerprint, outcome, detail, prev_hash "
                      "FROM audit_log ORDER BY seq").fetchall()
    columns = ("seq", "at_ms", "actor", "action", "serial", "fingerprint", "outcome", "detail", "prev_hash")
    prev = None
    for row in rows:
        entry = dict(zip(columns, row))
        if entry["seq"] < seq:
            prev = db.execute("SELECT hash FROM audit_log WHERE seq = ?", (entry["seq"],)).fetchone()[0]
            continue
        if entry["seq"] == seq:
            entry.update(changes)
        entry["prev_hash"] = prev
        entry["hash"] = entry_hash(*(entry[c] for c in columns))
        db.execute("UPDATE audit_log SET actor=?, action=?, serial=?, fingerprint=?, outcome=?, detail=?, "
                   "prev_hash=?, hash=? WHERE seq=?",
                   (entry["actor"], entry["action"], entry["serial"], entry["fingerprint"], entry["outcome"],
                    entry["detail"], entry["prev_hash"], entry["hash"], entry["seq"]))
        prev = entry["hash"]


def chain_consistent(db):
    """The old `audit --verify`: links and hashes only."""
    prev = "0" * 64
    for row in db.execute("SELECT seq, at_ms, actor, action, serial, fingerprint, outcome, detail, prev_hash, hash "
                          "FROM audit_log ORDER BY seq"):
        if row[8] != prev or entry_hash(*row[:9]) != row[9]:
            return False
        prev = row[9]
    return True


def first_bad_entry(output):
    """(first, last) of 'first bad entry N' or 'first bad entry N or a later one up to M'."""
    match = re.search(r"audit log TAMPERED: first bad entry (\d+)(?: or a later one up to (\d+))?", output)
    if not match:
        raise AssertionError(f"no first bad entry named:\n{output}")
    first = int(match.group(1))
    return first, int(match.group(2) or first)


class IssuingServiceAuditTest(unittest.TestCase):
    """One service run (issue, revoke, issue, stop); each test tampers with its own copy."""

    @classmethod
    def setUpClass(cls):
        cls.space = SharedWorkspace()
        cls.ca = IssuingCA(cls.space, config=SERVICE_CONFIG)
        cls.ca.start()
        hub = cls.ca.enroll("hub-1")
        cls.ca.add_product("P1")
        cls.serials = []
        for device in ("SN-A1", "SN-A2", "SN-A3"):
            status, body, _ = cls.ca.edge_certificate(hub, device)
            cls.space.assertEqual(status, 201, body)
            cls.serials.append(body["serial"].lower())
        cert, key = hub
        status, _, body = cls.ca.request("POST", f"/v1/certificates/{cls.serials[0]}/revoke",
                                         {"reason": "keyCompromise"}, cert=cert, key=key)
        cls.space.assertEqual(status, 200, body)
        status, body, _ = cls.ca.edge_certificate(hub, "SN-A4")
        cls.space.assertEqual(status, 201, body)
        cls.space.assertEqual(cls.ca.stop(), 0, "edgeca serve exit code")

    @classmethod
    def tearDownClass(cls):
        cls.space.close()

    def setUp(self):
        tmp = tempfile.mkdtemp(prefix="edgeca-it-")
        self.addCleanup(shutil.rmtree, tmp, True)
        self.dir = os.path.join(tmp, "issuer")
        shutil.copytree(self.ca.dir, self.dir)
        self.db = sqlite3.connect(os.path.join(self.dir, "issuer.db"), isolation_level=None)
        self.addCleanup(self.db.close)

    def verify(self, *extra):
        return run([binary("edgeca"), "audit", "--dir", self.dir, "--verify", *extra])

    def seq_of(self, action, serial):
        row = self.db.execute("SELECT seq FROM audit_log WHERE action = ? AND serial = ? AND outcome = 'ok'",
                              (action, serial)).fetchone()
        self.assertIsNotNone(row, f"no {action} entry for {serial}")
        return row[0]

    def checkpoint_seqs(self):
        return [row[0] for row in self.db.execute("SELECT seq FROM audit_checkpoints ORDER BY number")]

    def test_the_untouched_log_verifies_and_every_entry_is_covered(self):
        result = self.verify()
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        self.assertIn("audit chain intact", result.stdout)
        self.assertIn("not yet covered by a checkpoint: 0 entries", result.stdout)
        self.assertIn("revocations: 1 in the store, each matching its audit entry", result.stdout)
        entries = self.db.execute("SELECT count(*) FROM audit_log").fetchone()[0]
        seqs = self.checkpoint_seqs()
        # Signed at start, after the revocation and at shutdown; never once per issuance.
        self.assertGreaterEqual(len(seqs), 3)
        self.assertLess(len(seqs), entries)
        self.assertEqual(seqs[-1], entries)
        self.assertIn(self.seq_of("revoke", self.serials[0]), range(seqs[0] + 1, seqs[-1]))

    def test_an_entry_rewritten_with_every_later_hash_recomputed_is_detected(self):
        edited = self.seq_of("issue", self.serials[1])
        self.db.execute("BEGIN")
        rewrite_from(self.db, edited, actor="hub:someone-else")
        self.db.execute("COMMIT")
        self.assertTrue(chain_consistent(self.db), "the rewrite must fool the chain alone")

        result = self.verify()
        self.assertEqual(result.returncode, 9, result.stdout + result.stderr)
        first, last = first_bad_entry(result.stdout)
        self.assertLessEqual(first, edited)
        self.assertLessEqual(edited, last)
        # Named as precisely as the checkpoints allow: after the last one that still matches, up
        # to the first one that no longer does.
        seqs = self.checkpoint_seqs()
        self.assertEqual(first, max(s for s in seqs if s < edited) + 1)
        self.assertEqual(last, min(s for s in seqs if s >= edited))
        self.assertIn("the later hashes recomputed", result.stdout)

    def test_an_entry_edited_in_place_is_named_exactly(self):
        edited = self.seq_of("issue", self.serials[2])
        self.db.execute("UPDATE audit_log SET outcome = 'refused' WHERE seq = ?", (edited,))
        result = self.verify()
        self.assertEqual(result.returncode, 9, result.stdout + result.stderr)
        self.assertEqual(first_bad_entry(result.stdout), (edited, edited))
        self.assertIn(f"entry {edited} was altered", result.stdout)

    def test_a_certificate_unrevoked_in_the_database_is_detected(self):
        serial = self.serials[0]
        self.db.execute("UPDATE certificates SET revoked_at = NULL, revocation_reason = NULL, revoked_by = NULL "
                        "WHERE serial = ?", (bytes.fromhex(serial),))
        self.assertEqual(self.db.total_changes, 1)
        result = self.verify()
        self.assertEqual(result.returncode, 9, result.stdout + result.stderr)
        revoke_seq = self.seq_of("revoke", serial)
        self.assertEqual(first_bad_entry(result.stdout), (revoke_seq, revoke_seq))
        self.assertIn(f"entry {revoke_seq}: it revoked {serial} (keyCompromise), but the store shows that "
                      "certificate not revoked", result.stdout)
        self.assertIn("the revocations checkpoint", result.stdout)

    def test_unrevoking_and_erasing_the_revoke_entry_from_the_chain_is_detected(self):
        serial = self.serials[0]
        revoke_seq = self.seq_of("revoke", serial)
        self.db.execute("BEGIN")
        self.db.execute("UPDATE certificates SET revoked_at = NULL, revocation_reason = NULL, revoked_by = NULL "
                        "WHERE serial = ?", (bytes.fromhex(serial),))
        # The entry becomes a harmless refusal, and every later hash is recomputed.
        rewrite_from(self.db, revoke_seq, outcome="refused", detail="certificate_not_found")
        self.db.execute("COMMIT")
        self.assertTrue(chain_consistent(self.db))
        result = self.verify()
        self.assertEqual(result.returncode, 9, result.stdout + result.stderr)
        first, last = first_bad_entry(result.stdout)
        self.assertLessEqual(first, revoke_seq)
        self.assertLessEqual(revoke_seq, last)

    def test_checkpoints_are_checked_with_the_certificate_given(self):
        # The root's certificate did not sign them: each is refused.
        result = self.verify("--cert", self.ca.root_pem)
        self.assertEqual(result.returncode, 9, result.stdout + result.stderr)
        self.assertIn("is not signed by the CA certificate given", result.stdout)
        self.assertIn("Test-only Root CA", result.stdout)
        result = self.verify("--cert", self.ca.certificate)
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)


class RootAuditTest(TempDirTestCase):
    def test_root_ceremonies_sign_checkpoints_and_an_unrevoked_intermediate_is_detected(self):
        ceremony = RootCeremony(self)
        _, csr = self.make_key_and_csr("issuer", "/CN=Issuing")
        self.assertExit(ceremony.sign_intermediate(csr, self.path("issuer.pem")), 0)
        listing = ceremony.root("list", "--dir", ceremony.dir, passphrase=False).stdout
        serial = re.search(r"^([0-9a-f]+)\s+intermediate\s", listing, re.M).group(1)
        self.assertExit(ceremony.root("revoke", "--dir", ceremony.dir, "--serial", serial, "--reason", "superseded"), 0)
        result = ceremony.root("audit", "--dir", ceremony.dir, "--verify", passphrase=False)
        self.assertExit(result, 0, "not yet covered by a checkpoint: 0 entries")
        self.assertIn("checkpoints: 3 signed by CN=Test-only Root CA", result.stdout)

        db = sqlite3.connect(os.path.join(ceremony.dir, "root.db"), isolation_level=None)
        try:
            db.execute("UPDATE certificates SET revoked_at = NULL, revocation_reason = NULL, revoked_by = NULL "
                       "WHERE revoked_at IS NOT NULL")
            revoke_seq = db.execute("SELECT seq FROM audit_log WHERE action = 'revoke'").fetchone()[0]
        finally:
            db.close()
        result = ceremony.root("audit", "--dir", ceremony.dir, "--verify", passphrase=False)
        self.assertExit(result, 9, f"first bad entry {revoke_seq}\n")


if __name__ == "__main__":
    unittest.main()
