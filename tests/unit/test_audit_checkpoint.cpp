// tests/unit/test_audit_checkpoint.cpp — signed checkpoints of the audit log: what a writer of
// the database who lacks the CA key can no longer change unnoticed, and what is named then.
#include <doctest/doctest.h>
#include <sqlite3.h>

#include "ca/audit_checkpoint.h"
#include "ca/audit_verification.h"
#include "ca/encoding.h"
#include "ca/revocation.h"
#include "tests/unit/issuer_fixture.h"

using namespace edgeca;
using namespace std::chrono_literals;

namespace {

void tamper(const std::filesystem::path& path, const std::string& sql) {
    sqlite3* db = nullptr;
    REQUIRE(sqlite3_open(path.c_str(), &db) == SQLITE_OK);
    char* error = nullptr;
    int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &error);
    std::string message = error ? error : "";
    sqlite3_free(error);
    sqlite3_close(db);
    REQUIRE_MESSAGE(rc == SQLITE_OK, message);
}

struct CheckpointFixture : test::IssuerFixture {
    ca::Revoker revoker{store, clock};
    std::vector<ca::IssuedCertificate> issued;

    CheckpointFixture() {
        register_device("SN-1");
        clock.advance(1h);
    }
    void issue(int n) {
        for (int i = 0; i < n; ++i) {
            issued.push_back(authority.issue(admin, edge_request(*test::fresh_rsa_key(), "SN-1", "edge-1")));
        }
    }
    store::AuditCheckpoint checkpoint() {
        clock.advance(1s);
        auto c = ca::sign_audit_checkpoint(store, *issuer_key, test::rng(), clock.now());
        REQUIRE(c);
        return *c;
    }
    ca::AuditReport verify() {
        auto key = identity.certificate.load_subject_public_key();
        return store.read([&](const store::Reader& r) { return ca::verify_audit_log(r, *key); });
    }
    int64_t head() { return store.read([](const store::Reader& r) { return r.audit_head().seq; }); }

    // What a writer of the file can do: change one entry and recompute every later hash, exactly
    // as the store does, so that the chain alone verifies again.
    void rewrite_entry(int64_t seq, const std::string& new_detail) {
        std::vector<store::AuditEntry> entries;
        store.read([&](const store::Reader& r) {
            r.each_audit_entry([&](const store::AuditEntry& e) {
                entries.push_back(e);
                return true;
            });
        });
        std::string sql = "BEGIN;";
        std::string prev;
        for (auto& e : entries) {
            if (e.seq < seq) {
                prev = e.hash;
                continue;
            }
            if (e.seq == seq) {
                e.event.detail = new_detail;
                sql += "UPDATE audit_log SET detail='" + new_detail + "' WHERE seq=" + std::to_string(seq) + ";";
            }
            e.prev_hash = prev;
            e.hash = store::audit_entry_hash(e);
            prev = e.hash;
            sql += "UPDATE audit_log SET prev_hash='" + e.prev_hash + "', hash='" + e.hash +
                   "' WHERE seq=" + std::to_string(e.seq) + ";";
        }
        tamper(store.path(), sql + "COMMIT;");
    }
};

}  // namespace

TEST_CASE("an untouched log verifies, and what no checkpoint covers yet is counted") {
    CheckpointFixture f;
    CHECK_FALSE(f.verify().anchor);
    CHECK(f.verify().intact());
    f.issue(1);
    f.revoker.revoke(f.admin, f.issued[0].record.serial, 1);
    auto c = f.checkpoint();
    CHECK(c.number == 1);
    CHECK(c.seq == f.head());
    CHECK(c.revocations == 1);
    // Nothing new: no second checkpoint.
    CHECK_FALSE(ca::sign_audit_checkpoint(f.store, *f.issuer_key, test::rng(), f.clock.now()));

    auto report = f.verify();
    CHECK(report.intact());
    REQUIRE(report.anchor);
    CHECK(report.anchor->number == 1);
    CHECK(report.uncovered() == 0);
    CHECK(report.revocations == 1);

    // A revocation after the newest checkpoint is in the chain: not a problem, only uncovered.
    f.issue(1);
    f.revoker.revoke(f.admin, f.issued[1].record.serial, 4);
    report = f.verify();
    CHECK(report.intact());
    CHECK(report.uncovered() == f.head() - c.seq);
    CHECK(f.checkpoint().number == 2);
    CHECK(f.verify().uncovered() == 0);
}

TEST_CASE("an entry rewritten with every later hash recomputed breaks the checkpoint that covers it") {
    CheckpointFixture f;
    f.issue(1);
    auto first = f.checkpoint();
    f.issue(2);
    const int64_t edited = first.seq + 2;
    auto second = f.checkpoint();
    f.issue(1);
    f.checkpoint();
    f.rewrite_entry(edited, "forged");
    // The chain alone no longer notices.
    CHECK(f.store.read([](const store::Reader& r) { return r.verify_audit_chain(); }).intact);

    auto report = f.verify();
    REQUIRE_FALSE(report.intact());
    REQUIRE(report.problems.size() == 1);
    CHECK(report.first_bad_seq() == first.seq + 1);
    CHECK(report.problems[0].last_bad_seq == second.seq);
    CHECK(report.problems[0].first_bad_seq <= edited);
    CHECK(edited <= report.problems[0].last_bad_seq);
    CHECK(report.problems[0].text.find("checkpoint #2") != std::string::npos);
    REQUIRE(report.anchor);
    CHECK(report.anchor->number == 1);
}

TEST_CASE("an entry edited without recomputing is named exactly") {
    CheckpointFixture f;
    f.issue(2);
    f.checkpoint();
    tamper(f.store.path(), "UPDATE audit_log SET actor='cli:someone-else' WHERE seq=3");
    auto report = f.verify();
    REQUIRE_FALSE(report.intact());
    CHECK(report.first_bad_seq() == 3);
    CHECK(report.problems[0].last_bad_seq == 3);
    CHECK(report.problems[0].text == "entry 3 was altered: its hash does not match its content");
}

TEST_CASE("a revocation undone in the database is named by its audit entry") {
    CheckpointFixture f;
    f.issue(2);
    f.revoker.revoke(f.admin, f.issued[0].record.serial, 1);
    const int64_t revoke_seq = f.head();
    f.checkpoint();
    const auto serial = ca::to_hex(f.issued[0].record.serial);
    tamper(f.store.path(), "UPDATE certificates SET revoked_at=NULL, revocation_reason=NULL, revoked_by=NULL "
                           "WHERE hex(serial)=upper('" + serial + "')");
    auto report = f.verify();
    REQUIRE_FALSE(report.intact());
    CHECK(report.first_bad_seq() == revoke_seq);
    CHECK(report.problems[0].text.find("revocation was undone") != std::string::npos);
    CHECK(report.problems[0].text.find(serial) != std::string::npos);
    // The signed revocation digest disagrees too.
    REQUIRE(report.problems.size() == 2);
    CHECK(report.problems[1].first_bad_seq == 0);
    CHECK(report.problems[1].text.find("checkpoint #1 signed (1 certificates)") != std::string::npos);
}

TEST_CASE("a revocation backdated or with another reason is detected") {
    CheckpointFixture f;
    f.issue(1);
    f.revoker.revoke(f.admin, f.issued[0].record.serial, 1);
    const int64_t revoke_seq = f.head();
    f.checkpoint();
    SUBCASE("time changed: only the signed digest can tell") {
        tamper(f.store.path(), "UPDATE certificates SET revoked_at = revoked_at - 86400 WHERE revoked_at IS NOT NULL");
        auto report = f.verify();
        REQUIRE(report.problems.size() == 1);
        CHECK(report.first_bad_seq() == 0);
        CHECK(report.problems[0].text.find("time or reason changed") != std::string::npos);
    }
    SUBCASE("reason changed") {
        tamper(f.store.path(), "UPDATE certificates SET revocation_reason = 4 WHERE revoked_at IS NOT NULL");
        auto report = f.verify();
        REQUIRE_FALSE(report.intact());
        CHECK(report.first_bad_seq() == revoke_seq);
        CHECK(report.problems[0].text.find("for keyCompromise, the store now says superseded") != std::string::npos);
    }
}

TEST_CASE("a revocation made in the database alone has no audit entry") {
    CheckpointFixture f;
    f.issue(1);
    f.checkpoint();
    tamper(f.store.path(), "UPDATE certificates SET revoked_at = 1, revocation_reason = 0");
    auto report = f.verify();
    REQUIRE(report.problems.size() == 2);
    CHECK(report.first_bad_seq() == 0);
    CHECK(report.problems[0].text.find("no audit entry records its revocation") != std::string::npos);
    CHECK(report.problems[1].text.find("checkpoint #1 signed (0 certificates)") != std::string::npos);
}

TEST_CASE("forged, removed and out-of-reach checkpoints are detected") {
    CheckpointFixture f;
    f.issue(1);
    auto first = f.checkpoint();
    f.issue(1);
    auto second = f.checkpoint();
    SUBCASE("a checkpoint signed by another key") {
        auto other = test::fresh_rsa_key();
        tamper(f.store.path(), "DELETE FROM audit_checkpoints WHERE number=2");
        f.clock.advance(1s);
        REQUIRE(ca::sign_audit_checkpoint(f.store, *other, test::rng(), f.clock.now()));
        auto report = f.verify();
        REQUIRE(report.problems.size() == 1);
        CHECK(report.problems[0].text.find("checkpoint #2 (entry") != std::string::npos);
        CHECK(report.problems[0].text.find("not signed by the CA certificate") != std::string::npos);
        CHECK(report.first_bad_seq() == 0);
        // The forged one proves nothing: what it claims to cover is uncovered.
        REQUIRE(report.anchor);
        CHECK(report.anchor->number == 1);
        CHECK(report.uncovered() == f.head() - first.seq);
    }
    SUBCASE("a head altered in the table") {
        tamper(f.store.path(), "UPDATE audit_checkpoints SET head_hash='" + std::string(64, 'a') + "' WHERE number=1");
        CHECK(f.verify().problems[0].text.find("checkpoint #1 (entry") != std::string::npos);
    }
    SUBCASE("a checkpoint removed from the middle") {
        f.issue(1);
        f.checkpoint();
        tamper(f.store.path(), "DELETE FROM audit_checkpoints WHERE number=2");
        auto report = f.verify();
        REQUIRE(report.problems.size() == 1);
        CHECK(report.problems[0].text == "checkpoint #3 follows #1: 1 signed checkpoint(s) removed");
    }
    SUBCASE("the log cut after a checkpoint") {
        tamper(f.store.path(), "DELETE FROM audit_log WHERE seq > " + std::to_string(first.seq));
        auto report = f.verify();
        REQUIRE(report.problems.size() == 1);
        CHECK(report.first_bad_seq() == first.seq + 1);
        CHECK(report.problems[0].last_bad_seq == second.seq);
        CHECK(report.problems[0].text.find("were removed") != std::string::npos);
    }
}

TEST_CASE("the service's schedule signs after a revocation and by count, not per entry") {
    CheckpointFixture f;
    ca::AuditCheckpointer checkpointer(f.store, f.clock, test::rng(), *f.issuer_key, {.entries = 3, .interval = 1h});
    auto count = [&] {
        int64_t n = 0;
        f.store.read([&](const store::Reader& r) {
            r.each_audit_checkpoint([&](const store::AuditCheckpoint&) { return ++n, true; });
        });
        return n;
    };
    checkpointer.checkpoint_now();
    CHECK(count() == 1);
    f.issue(1);
    checkpointer.tick();
    CHECK(count() == 1);  // one entry, the interval not over: not yet
    f.issue(2);
    checkpointer.tick();
    CHECK(count() == 2);  // three new entries
    f.issue(1);
    f.revoker.revoke(f.admin, f.issued[0].record.serial, 0);  // as another process would
    checkpointer.tick();
    CHECK(count() == 3);
    checkpointer.tick();
    CHECK(count() == 3);  // nothing new
    CHECK(f.verify().intact());
    CHECK(f.verify().uncovered() == 0);
}
