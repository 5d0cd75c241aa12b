// tests/unit/test_store_issuers.cpp — several issuers in one store: each certificate and each CRL
// belongs to one, CRL numbers run per issuer, retirement is recorded once.
#include <doctest/doctest.h>

#include "store/schema.h"
#include "store/store.h"
#include "tests/unit/test_support.h"

using namespace edgeca;
using namespace std::chrono_literals;

namespace {

store::CertificateRecord issued_by(int64_t issuer_id, uint8_t serial_byte, store::Time not_after) {
    store::CertificateRecord r;
    r.serial = {0x41, serial_byte};
    r.profile = "edge";
    r.subject = "CN=device";
    r.common_name = "device";
    r.spki_sha256 = std::string(64, static_cast<char>('a' + serial_byte % 6));
    r.fingerprint_sha256 = std::string(63, 'f') + static_cast<char>('0' + serial_byte % 10);
    r.not_before = store::Time(1000s);
    r.not_after = not_after;
    r.issued_at = store::Time(1000s);
    r.requester = "hub:test";
    r.der = {0x30, 0x00};
    r.issuer_id = issuer_id;
    return r;
}

store::IssuerRecord issuer(int64_t id, const std::string& spki) {
    return {.id = id, .der = {0x30, 0x00}, .subject = "CN=Issuing CA G" + std::to_string(id), .spki_sha256 = spki,
            .not_after = store::Time(100000s), .activated_at = store::Time(1000s * id), .retired_at = std::nullopt};
}

store::CrlRecord crl(int64_t issuer_id, int64_t number) {
    return {number, store::Time(1000s), store::Time(2000s), 0, 0, {0x30, 0x00}, issuer_id};
}

std::vector<std::vector<uint8_t>> revoked_serials(store::Store& s, int64_t issuer_id) {
    return s.read([&](const store::Reader& r) {
        std::vector<std::vector<uint8_t>> serials;
        r.each_revoked_entry(store::Time(1500s), [&](store::RevokedEntry&& e) { serials.push_back(e.serial); },
                             issuer_id);
        return serials;
    });
}

}  // namespace

TEST_SUITE_BEGIN("store");

TEST_CASE("issuers are recorded once each, listed oldest first, and retired once") {
    test::TempDir dir;
    auto s = test::fresh_store(dir, "t.db");
    s.write([](store::Writer& w) {
        w.insert_issuer(issuer(1, std::string(64, '1')));
        w.insert_issuer(issuer(2, std::string(64, '2')));
    });
    // The same id, or the same key under another id, is refused by the database.
    for (auto duplicate : {issuer(2, std::string(64, '3')), issuer(3, std::string(64, '1'))}) {
        try {
            s.write([&](store::Writer& w) { w.insert_issuer(duplicate); });
            FAIL("a duplicate issuer was accepted");
        } catch (const store::StoreError& e) {
            CHECK(e.constraint_violation());
        }
    }
    auto all = s.read([](const store::Reader& r) { return r.issuers(); });
    REQUIRE(all.size() == 2);
    CHECK(all[0].id == 1);
    CHECK(all[1].subject == "CN=Issuing CA G2");
    CHECK_FALSE(all[0].retired_at);
    CHECK(s.write([](store::Writer& w) { return w.retire_issuer(1, store::Time(5000s)); }));
    CHECK_FALSE(s.write([](store::Writer& w) { return w.retire_issuer(1, store::Time(6000s)); }));
    CHECK_FALSE(s.write([](store::Writer& w) { return w.retire_issuer(9, store::Time(6000s)); }));
    auto first = s.read([](const store::Reader& r) { return r.issuer(1); });
    REQUIRE(first);
    CHECK(first->retired_at == store::Time(5000s));
    CHECK_FALSE(s.read([](const store::Reader& r) { return r.issuer(9); }));
}

TEST_CASE("each issuer's revoked entries, CRL numbers and usage are its own") {
    test::TempDir dir;
    auto s = test::fresh_store(dir, "t.db");
    s.write([](store::Writer& w) {
        int64_t a = w.insert_certificate(issued_by(1, 1, store::Time(3000s)));
        w.insert_certificate(issued_by(1, 2, store::Time(1200s)));  // expired at 1500
        int64_t b = w.insert_certificate(issued_by(2, 3, store::Time(3000s)));
        w.insert_certificate(issued_by(2, 4, store::Time(3000s)));
        CHECK(w.revoke_certificate(a, store::Time(1100s), 1, "admin:test"));
        CHECK(w.revoke_certificate(b, store::Time(1100s), 4, "admin:test"));
    });
    CHECK(s.read([](const store::Reader& r) { return r.certificate_by_serial(std::vector<uint8_t>{0x41, 3}); })
              ->issuer_id == 2);

    // Each issuer counts its own revocations; the store's counter counts them all.
    CHECK(s.read([](const store::Reader& r) { return r.issuer_revocation_counter(1); }) == 1);
    CHECK(s.read([](const store::Reader& r) { return r.issuer_revocation_counter(2); }) == 1);
    CHECK(s.read([](const store::Reader& r) { return r.issuer_revocation_counter(3); }) == 0);
    CHECK(s.read([](const store::Reader& r) { return r.revocation_counter(); }) == 2);
    CHECK(revoked_serials(s, 1) == std::vector<std::vector<uint8_t>>{{0x41, 1}});
    CHECK(revoked_serials(s, 2) == std::vector<std::vector<uint8_t>>{{0x41, 3}});
    CHECK(revoked_serials(s, 3).empty());

    auto usage = s.read([](const store::Reader& r) { return r.issuer_usage(1, store::Time(1500s)); });
    CHECK(usage.issued == 2);
    CHECK(usage.unexpired == 1);
    usage = s.read([](const store::Reader& r) { return r.issuer_usage(2, store::Time(3001s)); });
    CHECK(usage.issued == 2);
    CHECK(usage.unexpired == 0);

    // Number 1 for each issuer; the same number twice for one issuer is refused.
    s.write([](store::Writer& w) {
        w.insert_crl(crl(1, 1), 10);
        w.insert_crl(crl(2, 1), 10);
        w.insert_crl(crl(2, 2), 10);
    });
    try {
        s.write([](store::Writer& w) { w.insert_crl(crl(1, 1), 10); });
        FAIL("a CRL number was used twice");
    } catch (const store::StoreError& e) {
        CHECK(e.constraint_violation());
    }
    CHECK(s.read([](const store::Reader& r) { return r.last_crl_number(1); }) == 1);
    CHECK(s.read([](const store::Reader& r) { return r.last_crl_number(2); }) == 2);
    CHECK(s.read([](const store::Reader& r) { return r.last_crl_number(3); }) == 0);
    auto latest = s.read([](const store::Reader& r) { return r.latest_crl(2); });
    REQUIRE(latest);
    CHECK(latest->number == 2);
    CHECK(latest->issuer_id == 2);
    // Pruning the history of one issuer leaves the other's alone.
    s.write([](store::Writer& w) { w.insert_crl(crl(2, 3), 1); });
    CHECK(s.read([](const store::Reader& r) { return r.latest_crl(1); }));
}

TEST_SUITE_END();

TEST_CASE("migrating a version 9 store makes every certificate and CRL issuer 1's and keeps numbering") {
    test::TempDir dir;
    auto path = dir / "old.db";
    {
        auto db = store::Database::open_sqlite(path, true);
        store::migrate(db, 9);
        db.exec("INSERT INTO certificates (serial, profile, subject, common_name, spki_sha256, "
                "fingerprint_sha256, not_before, not_after, issued_at, requester, der, revoked_at, "
                "revocation_reason) VALUES (x'41', 'edge', 'CN=a', 'a', 'k1', 'f1', 0, 5000, 0, 'hub', x'30', 5, 1)");
        db.exec("INSERT INTO crls (number, this_update, next_update, entries, der, revocations) VALUES "
                "(1, 0, 10, 0, NULL, 0), (2, 10, 20, 1, x'30', 1)");
    }
    auto s = store::Store::open(path);
    CHECK(s.schema_version() == store::current_schema_version());
    CHECK(s.read([](const store::Reader& r) { return r.certificate_by_serial(std::vector<uint8_t>{0x41}); })
              ->issuer_id == 1);
    CHECK(revoked_serials(s, 1).size() == 1);
    CHECK(s.read([](const store::Reader& r) { return r.last_crl_number(1); }) == 2);
    CHECK(s.read([](const store::Reader& r) { return r.latest_crl(1); })->number == 2);
    CHECK(s.read([](const store::Reader& r) { return r.issuers(); }).empty());
}

TEST_CASE("migrating a version 9 store gives issuer 1 the revocations counted so far") {
    test::TempDir dir;
    auto path = dir / "old.db";
    {
        auto db = store::Database::open_sqlite(path, true);
        store::migrate(db, 9);
        db.exec("INSERT INTO meta (key, value) VALUES ('revocations', '7')");
    }
    auto s = store::Store::open(path);
    CHECK(s.read([](const store::Reader& r) { return r.issuer_revocation_counter(1); }) == 7);
    CHECK(s.read([](const store::Reader& r) { return r.revocation_counter(); }) == 7);
}
