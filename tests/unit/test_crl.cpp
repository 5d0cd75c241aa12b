// tests/unit/test_crl.cpp — CRL content, numbering, history and publishing schedule.
#include <doctest/doctest.h>

#include <botan/ber_dec.h>
#include <botan/x509_crl.h>
#include <botan/x509_ext.h>

#include "ca/certificate_facts.h"
#include "ca/encoding.h"
#include "ca/files.h"
#include "ca/revocation.h"
#include "crl/crl_builder.h"
#include "crl/crl_publisher.h"
#include "tests/unit/issuer_fixture.h"

using namespace edgeca;
using namespace std::chrono_literals;

namespace {

store::RevokedEntry entry(uint8_t id, int reason, ca::Time at) {
    return {{0x40, id, 0x33}, at, reason};
}

// The reasonCode of every entry, read back with Botan, in CRL order (-1: no reasonCode).
std::vector<int> reasons(const Botan::X509_CRL& crl) {
    std::vector<int> out;
    for (const auto& e : crl.get_revoked()) {
        out.push_back(e.extensions().extension_set(Botan::OID("2.5.29.21")) ? static_cast<int>(e.reason_code()) : -1);
    }
    return out;
}

}  // namespace

// Every case here runs on each store engine (see fresh_store).
TEST_SUITE_BEGIN("store");

TEST_CASE("a CRL carries number, dates, AKI and per entry the revocation date and reason") {
    test::IssuerFixture f;
    crl::CrlBuilder builder(f.identity.certificate, *f.issuer_key);
    const auto now = f.clock.now();
    builder.add(entry(1, 1, now - 60s));
    builder.add(entry(2, 0, now - 30s));
    builder.add(entry(3, 4, now - 10s));
    auto der = builder.sign(7, now, now + 24h, test::rng());

    Botan::X509_CRL crl(der);
    CHECK(crl.check_signature(*f.identity.certificate.load_subject_public_key()));
    CHECK(crl.crl_number() == 7);
    CHECK(crl.issuer_dn() == f.identity.certificate.subject_dn());
    CHECK(crl.authority_key_id() == f.identity.certificate.subject_key_id());
    CHECK(ca::to_time(crl.this_update()) == now);
    CHECK(ca::to_time(crl.next_update()) == now + 24h);
    REQUIRE(crl.get_revoked().size() == 3);
    CHECK(crl.get_revoked()[0].serial_number() == std::vector<uint8_t>{0x40, 1, 0x33});
    CHECK(ca::to_time(crl.get_revoked()[0].expire_time()) == now - 60s);
    // "unspecified" is left out, as RFC 5280 asks: that entry has no extensions at all.
    CHECK(reasons(crl) == std::vector<int>{1, -1, 4});
    CHECK(crl.get_revoked()[1].extensions().extensions().empty());
    CHECK(crl.signature_algorithm().get_oid().to_formatted_string() == "RSA/EMSA3(SHA-256)");
}

TEST_CASE("a CRL is complete: no Issuing Distribution Point and no critical extension") {
    // Mbed TLS (mbedtls_x509_crl_parse) refuses a CRL with any critical extension, and RFC 5280
    // 5.2.5 wants no Issuing Distribution Point on a CRL covering all the issuer's certificates.
    test::IssuerFixture f;
    crl::CrlBuilder builder(f.identity.certificate, *f.issuer_key);
    builder.add({.serial = {0x40, 1}, .revoked_at = f.clock.now(), .reason = 1});
    Botan::X509_CRL crl(builder.sign(1, f.clock.now(), f.clock.now() + 1h, test::rng()));
    CHECK_FALSE(crl.extensions().extension_set(Botan::OID("2.5.29.28")));
    CHECK(crl.crl_issuing_distribution_point().empty());
    for (const auto& entry : crl.extensions().extensions()) {
        const bool critical = entry.second;  // not a structured binding: CHECK_MESSAGE captures it
        CHECK_MESSAGE(!critical, entry.first->oid_name());
    }
    CHECK(crl.extensions().extension_set(Botan::OID("2.5.29.35")));  // Authority Key Identifier
    CHECK(crl.extensions().extension_set(Botan::OID("2.5.29.20")));  // CRL Number
}

TEST_CASE("an empty CRL leaves revokedCertificates out and still verifies") {
    test::IssuerFixture f;
    crl::CrlBuilder builder(f.identity.certificate, *f.issuer_key);
    auto der = builder.sign(1, f.clock.now(), f.clock.now() + 1h, test::rng());
    Botan::X509_CRL crl(der);
    CHECK(crl.get_revoked().empty());
    CHECK(crl.check_signature(*f.identity.certificate.load_subject_public_key()));
    // TBSCertList: version, signature, issuer, thisUpdate, nextUpdate, [0] extensions: six
    // elements, no empty SEQUENCE for the entries.
    Botan::BER_Decoder outer(der);
    Botan::BER_Decoder list = outer.start_cons(Botan::SEQUENCE);
    Botan::BER_Decoder tbs = list.start_cons(Botan::SEQUENCE);
    int elements = 0;
    while (tbs.more_items()) {
        tbs.get_next_object();
        ++elements;
    }
    CHECK(elements == 6);
}

TEST_CASE("sign_crl takes entries from the store, numbers only grow, old DER is pruned") {
    test::IssuerFixture f;
    f.register_device("SN-1");
    f.clock.advance(1h);
    auto a = f.authority.issue(f.hub, f.edge_request(*test::fresh_rsa_key(), "SN-1", "edge-1"));
    auto b = f.authority.issue(f.hub, f.edge_request(*test::fresh_rsa_key(), "SN-1", "edge-1"));
    ca::Revoker revoker(f.store, f.clock);
    revoker.revoke(f.hub, a.record.serial, 3);

    auto sign = [&] {
        return crl::sign_crl(f.store, f.identity.certificate, *f.issuer_key, f.clock.now(),
                             f.clock.now() + 24h, 2, test::rng(), "test");
    };
    auto first = sign();
    CHECK(first.number == 1);
    CHECK(first.entries == 1);
    Botan::X509_CRL parsed(first.der);
    CHECK(parsed.is_revoked(Botan::X509_Certificate(a.record.der)));
    CHECK_FALSE(parsed.is_revoked(Botan::X509_Certificate(b.record.der)));

    CHECK(sign().number == 2);
    CHECK(sign().number == 3);
    // Only the newest two keep their DER; every number stays recorded.
    auto kept = test::raw_database(f.store_location);
    auto count = kept.prepare("SELECT count(*), count(der) FROM crls");
    count.step();
    CHECK(count.integer(0) == 3);
    CHECK(count.integer(1) == 2);

    // A certificate past its notAfter leaves the CRL.
    f.clock.advance(std::chrono::days(731));
    CHECK(sign().entries == 0);
}

TEST_CASE("the publisher shares one CRL among a burst, and refreshes before nextUpdate") {
    test::IssuerFixture f;
    f.register_device("SN-1");
    f.clock.advance(1h);
    ca::Revoker revoker(f.store, f.clock);
    crl::CrlPublisher publisher(f.store, f.clock, test::rng(), f.identity.certificate, *f.issuer_key,
                                f.dir / "crl", {.publish_delay = 0s, .validity = 24h, .refresh_before = 8h});
    publisher.start();
    REQUIRE(publisher.current());
    CHECK(publisher.current()->number == 1);
    CHECK(std::filesystem::exists(f.dir / "crl" / "crl.der"));
    CHECK(ca::read_file(f.dir / "crl" / "crl.pem", "crl").starts_with("-----BEGIN X509 CRL-----"));

    std::vector<ca::IssuedCertificate> issued;
    for (int i = 0; i < 3; ++i) issued.push_back(f.authority.issue(f.hub, f.edge_request(*test::fresh_rsa_key(), "SN-1", "edge-1")));
    for (const auto& c : issued) {
        revoker.revoke(f.hub, c.record.serial, 4);
        publisher.note_revocation();
    }
    publisher.tick();
    CHECK(publisher.current()->number == 2);
    CHECK(publisher.current()->entries == 3);
    publisher.tick();
    CHECK(publisher.current()->number == 2);  // nothing changed: no new CRL

    // A revocation by another process is noticed through the store's counter.
    auto other = f.authority.issue(f.hub, f.edge_request(*test::fresh_rsa_key(), "SN-1", "edge-1"));
    ca::Revoker(f.store, f.clock).revoke(f.admin, other.record.serial, 0);
    publisher.tick();  // notices, due after publish_delay (0 s)
    publisher.tick();
    CHECK(publisher.current()->number == 3);
    CHECK(publisher.current()->entries == 4);

    f.clock.advance(16h + 1s);  // nextUpdate is 8 hours away: sign again, unchanged
    publisher.tick();
    CHECK(publisher.current()->number == 4);
    CHECK(publisher.current()->this_update == f.clock.now());

    // A restart adopts the newest CRL instead of signing another.
    crl::CrlPublisher restarted(f.store, f.clock, test::rng(), f.identity.certificate, *f.issuer_key,
                                f.dir / "crl", {.publish_delay = 0s, .validity = 24h, .refresh_before = 8h});
    restarted.start();
    CHECK(restarted.current()->number == 4);
}

TEST_SUITE_END();
