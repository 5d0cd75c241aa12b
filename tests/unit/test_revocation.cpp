// tests/unit/test_revocation.cpp — who may revoke, what a revocation changes, and what not.
#include <doctest/doctest.h>

#include "ca/encoding.h"
#include "ca/revocation.h"
#include "ca/revocation_reason.h"
#include "tests/unit/issuer_fixture.h"

using namespace edgeca;
using namespace std::chrono_literals;

namespace {

struct RevocationFixture : test::IssuerFixture {
    ca::Revoker revoker{store, clock};
    int notified = 0;
    RevocationFixture() {
        register_device("SN-1");
        clock.advance(1h);
        revoker.on_revocation([this] { ++notified; });
    }
    ca::IssuedCertificate edge(const Botan::Private_Key& key, const ca::Caller& by) {
        return authority.issue(by, edge_request(key, "SN-1", "edge-1"));
    }
    store::CertificateRecord record(const ca::IssuedCertificate& c) {
        return *store.read([&](const store::Reader& r) { return r.certificate_by_serial(c.record.serial); });
    }
};

}  // namespace

// Every case here runs on each store engine (see fresh_store).
TEST_SUITE_BEGIN("store");

TEST_CASE("reason names are RFC 5280's") {
    CHECK(ca::reason_code("keyCompromise") == 1);
    CHECK(ca::reason_code("cessationOfOperation") == 5);
    CHECK(ca::reason_code("privilegeWithdrawn") == 9);
    CHECK_FALSE(ca::reason_code("removeFromCRL"));
    CHECK_FALSE(ca::reason_code("lost"));
    CHECK(ca::reason_name(4) == "superseded");
}

TEST_CASE("a hub revokes what it requested; another hub sees nothing to revoke; an admin revokes any") {
    RevocationFixture f;
    auto mine = f.edge(*test::fresh_rsa_key(), f.hub);
    auto other_hub = ca::Caller::with_role("hub:hub-2", store::Role::hub);
    CHECK(test::error_code([&] { f.revoker.revoke(other_hub, mine.record.serial, 0); }) == "certificate_not_found");
    CHECK_FALSE(f.record(mine).revoked_at);

    auto revoked = f.revoker.revoke(f.hub, mine.record.serial, 4);
    REQUIRE(revoked.size() == 1);
    CHECK(revoked[0].revocation_reason == 4);
    CHECK(f.record(mine).revoked_at == f.clock.now());
    CHECK(f.record(mine).revoked_by == "hub:hub-1");
    CHECK(f.notified == 1);

    auto theirs = f.edge(*test::fresh_rsa_key(), f.admin);
    CHECK(test::error_code([&] { f.revoker.revoke(f.hub, theirs.record.serial, 0); }) == "certificate_not_found");
    CHECK(f.revoker.revoke(f.admin, theirs.record.serial, 5).size() == 1);
    CHECK(f.store.read([](const store::Reader& r) { return r.revocation_counter(); }) == 2);
}

TEST_CASE("a second revocation is a conflict and changes nothing") {
    RevocationFixture f;
    auto c = f.edge(*test::fresh_rsa_key(), f.hub);
    f.revoker.revoke(f.hub, c.record.serial, 4);
    auto before = f.record(c);
    f.clock.advance(10s);
    CHECK(test::error_code([&] { f.revoker.revoke(f.admin, c.record.serial, 1); }) == "already_revoked");
    auto after = f.record(c);
    CHECK(after.revoked_at == before.revoked_at);
    CHECK(after.revocation_reason == 4);
    CHECK(f.notified == 1);
    CHECK(f.store.read([](const store::Reader& r) { return r.revocation_counter(); }) == 1);
}

TEST_CASE("unknown serials, unknown reasons and anonymous callers are refused and audited") {
    RevocationFixture f;
    auto c = f.edge(*test::fresh_rsa_key(), f.hub);
    CHECK(test::error_code([&] { f.revoker.revoke(f.hub, std::vector<uint8_t>{0x40, 1}, 0); }) == "certificate_not_found");
    CHECK(test::error_code([&] { f.revoker.revoke(f.hub, c.record.serial, 8); }) == "reason_invalid");
    CHECK(test::error_code([&] { f.revoker.revoke(f.hub, c.record.serial, 7); }) == "reason_invalid");
    CHECK(test::error_code([&] { f.revoker.revoke(ca::Caller::anonymous("x"), c.record.serial, 0); }) ==
          "authentication_required");
    CHECK_FALSE(f.record(c).revoked_at);
    auto audit = f.last_audit();
    CHECK(audit.event.action == "revoke");
    CHECK(audit.event.outcome == "refused");
    CHECK(f.notified == 0);
}

TEST_CASE("keyCompromise revokes every valid certificate of the key and blocks it for good") {
    RevocationFixture f;
    auto key = test::fresh_rsa_key();
    auto first = f.edge(*key, f.hub);
    auto renewed = f.edge(*key, f.hub);  // the same device renewed with the same key
    auto revoked = f.revoker.revoke(f.hub, first.record.serial, ca::reason_key_compromise);
    CHECK(revoked.size() == 2);
    CHECK(f.record(renewed).revocation_reason == ca::reason_key_compromise);
    CHECK(test::error_code([&] { f.edge(*key, f.hub); }) == "key_compromised");
    CHECK_NOTHROW(f.edge(*test::fresh_rsa_key(), f.hub));
}

TEST_CASE("revoking a device revokes each of its valid certificates the caller may revoke") {
    RevocationFixture f;
    auto a = f.edge(*test::fresh_rsa_key(), f.hub);
    auto b = f.edge(*test::fresh_rsa_key(), f.hub);
    auto c = f.edge(*test::fresh_rsa_key(), f.admin);
    auto other_hub = ca::Caller::with_role("hub:hub-2", store::Role::hub);
    CHECK(test::error_code([&] { f.edge(*test::fresh_rsa_key(), other_hub); }) == "device_not_found");
    CHECK(test::error_code([&] { f.revoker.revoke_device(other_hub, "SN-1", 5); }) == "device_not_found");
    f.revoker.revoke(f.hub, a.record.serial, 4);
    auto revoked = f.revoker.revoke_device(f.hub, "SN-1", 5);
    REQUIRE(revoked.size() == 1);
    CHECK(revoked[0].serial == b.record.serial);
    CHECK_FALSE(f.record(c).revoked_at);
    CHECK(f.revoker.revoke_device(f.admin, "SN-1", 5).size() == 1);
    CHECK(f.revoker.revoke_device(f.admin, "SN-1", 5).empty());
    CHECK(test::error_code([&] { f.revoker.revoke_device(f.admin, "SN-404", 5); }) == "device_not_found");
}

TEST_CASE("a revoked client certificate loses API access at once") {
    RevocationFixture f;
    Botan::X509_Cert_Options options("hub-9");
    options.dns = "hub.example.com";
    ca::IssuanceRequest r;
    r.csr = test::make_csr(*test::fresh_rsa_key(), options);
    r.profile = ca::Profile::hub;
    auto hub_cert = f.authority.issue(f.admin, r);
    CHECK(f.access.caller_for_certificate(hub_cert.record.fingerprint_sha256));
    f.revoker.revoke(f.admin, hub_cert.record.serial, 9);
    CHECK_FALSE(f.access.caller_for_certificate(hub_cert.record.fingerprint_sha256));
}

TEST_CASE("revoking a hub's certificate revokes every credential granted to its principal") {
    RevocationFixture f;
    auto hub_request = [&] {
        Botan::X509_Cert_Options options("hub-9");
        options.dns = "hub.example.com";
        ca::IssuanceRequest r;
        r.csr = test::make_csr(*test::fresh_rsa_key(), options);
        r.profile = ca::Profile::hub;
        return r;
    };
    auto first = f.authority.issue(f.admin, hub_request());
    auto hub = *f.access.caller_for_certificate(first.record.fingerprint_sha256);
    ca::IssuanceRequest client;
    client.csr = test::make_csr(*test::fresh_rsa_key(), "hub-9-client");
    client.profile = ca::Profile::client;
    auto minted = f.authority.issue(hub, client);
    auto renewed = f.authority.issue(hub, hub_request());
    CHECK(minted.principal == hub.principal);

    // Superseded: the hub replaced its certificate and lives on.
    CHECK(f.revoker.revoke(hub, first.record.serial, ca::reason_superseded).size() == 1);
    CHECK(f.access.caller_for_certificate(minted.record.fingerprint_sha256));
    // The hub retiring one of its client certificates ends that one only.
    auto spare = f.authority.issue(hub, [&] {
        ca::IssuanceRequest r = client;
        r.csr = test::make_csr(*test::fresh_rsa_key(), "hub-9-spare");
        return r;
    }());
    CHECK(f.revoker.revoke(hub, spare.record.serial, 5).size() == 1);
    CHECK(f.access.caller_for_certificate(renewed.record.fingerprint_sha256));

    auto revoked = f.revoker.revoke(f.admin, renewed.record.serial, 5);
    REQUIRE(revoked.size() == 2);
    CHECK(revoked[1].serial == minted.record.serial);
    CHECK_FALSE(f.access.caller_for_certificate(minted.record.fingerprint_sha256));
    CHECK_FALSE(f.access.caller_for_certificate(renewed.record.fingerprint_sha256));
}

TEST_SUITE_END();
