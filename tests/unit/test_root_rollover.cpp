// tests/unit/test_root_rollover.cpp — link certificates between two roots, and the trust bundle
// checks that decide what an issuing CA publishes.
#include <botan/pkcs8.h>
#include <botan/x509_ext.h>
#include <doctest/doctest.h>

#include "ca/certificate_facts.h"
#include "ca/errors.h"
#include "ca/extensions.h"
#include "ca/issuer_identity.h"
#include "ca/root_authority.h"
#include "ca/trust_bundle.h"
#include "tests/unit/test_support.h"

using namespace edgeca;
using namespace std::chrono_literals;

namespace {

struct Root {
    Root(const test::TempDir& dir, const std::string& name, const std::string& subject, int days,
         const ca::Clock& clock)
        : store(store::Store::create(dir / (name + ".db"))),
          key(test::fresh_rsa_key()),
          certificate(ca::RootAuthority::create(store, *key, ca::parse_distinguished_name(subject),
                                                days, clock, test::rng(), "cli:officer")),
          authority(store, clock, test::rng(), Botan::PKCS8::copy_key(*key), certificate) {}

    store::Store store;
    std::unique_ptr<Botan::Private_Key> key;
    Botan::X509_Certificate certificate;
    ca::RootAuthority authority;

    std::vector<store::AuditEntry> audit() {
        std::vector<store::AuditEntry> entries;
        store.read([&](const store::Reader& r) {
            r.each_audit_entry([&](const store::AuditEntry& e) {
                entries.push_back(e);
                return true;
            });
        });
        return entries;
    }
};

struct Rollover {
    test::TempDir dir;
    ca::FixedClock clock{ca::Time(std::chrono::sys_days(std::chrono::year(2026) / 11 / 25))};
    Root old_root{dir, "old", "CN=Test Root,O=Acme,C=CN", 3650, clock};
    Root new_root{dir, "new", "CN=Test Root G2,O=Acme,C=CN", 7300, clock};
};

}  // namespace

TEST_CASE("a link certifies the other root's name and key, issued by this root, for the overlap") {
    Rollover r;
    auto link = r.old_root.authority.certify_link(r.new_root.certificate, "cli:officer");
    CHECK(link.subject_dn() == r.new_root.certificate.subject_dn());
    CHECK(link.issuer_dn() == r.old_root.certificate.subject_dn());
    CHECK(link.subject_public_key_info() == r.new_root.certificate.subject_public_key_info());
    CHECK(link.check_signature(*r.old_root.certificate.load_subject_public_key()));
    CHECK_FALSE(link.is_self_signed());
    CHECK(link.is_CA_cert());
    CHECK(link.path_limit() == Botan::Cert_Extension::NO_CERT_PATH_LIMIT);
    CHECK(link.allowed_usage(Botan::KEY_CERT_SIGN));
    CHECK(link.allowed_usage(Botan::CRL_SIGN));
    CHECK(link.subject_key_id() == r.new_root.certificate.subject_key_id());
    CHECK(link.authority_key_id() == r.old_root.certificate.subject_key_id());
    CHECK(ca::to_time(link.not_before()) == r.clock.now());
    // The old root ends first: the link ends with it.
    CHECK(link.not_after() == r.old_root.certificate.not_after());

    auto record = r.old_root.store.read([&](const store::Reader& reader) {
        return reader.certificate_by_serial(link.serial_number());
    });
    REQUIRE(record);
    CHECK(record->profile == "link");
    auto audit = r.old_root.audit();
    CHECK(audit.back().event.action == "link");
    CHECK(audit.back().event.outcome == "ok");
}

TEST_CASE("a link to a root of the same name or the same key is refused and audited") {
    Rollover r;
    test::TempDir other;
    Root twin{other, "twin", "CN=Test Root,O=Acme,C=CN", 100, r.clock};
    CHECK(test::error_code([&] { r.old_root.authority.certify_link(twin.certificate, "cli:officer"); }) ==
          "same_subject");
    CHECK(test::error_code([&] {
              r.old_root.authority.certify_link(r.old_root.certificate, "cli:officer");
          }) == "same_key");
    CHECK(r.old_root.audit().back().event.outcome == "refused");
    CHECK(r.old_root.store.read(
              [](const store::Reader& reader) { return reader.certificate_count(); }) == 1);
}

TEST_CASE("the trust bundle takes the roots that links chain to the anchor, and nothing else") {
    Rollover r;
    auto old_with_new = r.old_root.authority.certify_link(r.new_root.certificate, "cli:officer");
    auto new_with_old = r.new_root.authority.certify_link(r.old_root.certificate, "cli:officer");
    const auto now = r.clock.now();

    auto bundle = ca::check_trust_bundle(
        r.old_root.certificate, {new_with_old, r.new_root.certificate, old_with_new, old_with_new},
        now);
    REQUIRE(bundle.roots.size() == 2);
    CHECK(bundle.roots[0] == r.old_root.certificate);
    CHECK(bundle.roots[1] == r.new_root.certificate);
    CHECK(bundle.links.size() == 2);
    REQUIRE(bundle.links_to(r.old_root.certificate).size() == 1);
    CHECK(bundle.links_to(r.old_root.certificate)[0] == new_with_old);
    CHECK(bundle.links_to(r.new_root.certificate)[0] == old_with_new);
    CHECK(ca::parse_certificates_pem(bundle.pem(), "the bundle").size() == 4);

    // From the new root's side, the old root is reached through new-with-old alone.
    auto reverse =
        ca::check_trust_bundle(r.new_root.certificate, {r.old_root.certificate, new_with_old}, now);
    CHECK(reverse.roots.size() == 2);

    // A new root alone, or with only the link that certifies the anchor, is not reachable.
    CHECK(test::error_code([&] {
              ca::check_trust_bundle(r.old_root.certificate, {r.new_root.certificate}, now);
          }) == "trust_bundle_invalid");
    CHECK(test::error_code([&] {
              ca::check_trust_bundle(r.old_root.certificate, {r.new_root.certificate, new_with_old},
                                     now);
          }) == "trust_bundle_invalid");
    // A link whose root is missing from the bundle.
    CHECK(test::error_code([&] { ca::check_trust_bundle(r.old_root.certificate, {old_with_new}, now); }) ==
          "trust_bundle_invalid");
    // A link signed by a root outside the bundle.
    test::TempDir other;
    Root stranger{other, "stranger", "CN=Stranger Root,O=Evil,C=XX", 100, r.clock};
    auto foreign = stranger.authority.certify_link(r.new_root.certificate, "cli:evil");
    CHECK(
        test::error_code([&] {
            ca::check_trust_bundle(r.old_root.certificate, {r.new_root.certificate, foreign}, now);
        }) == "trust_bundle_invalid");
    // A link not valid at `now`; without `now` (the service loading an installed bundle) it stays.
    const auto later = now + std::chrono::days(3651);
    CHECK(test::error_code([&] {
              ca::check_trust_bundle(r.old_root.certificate, {r.new_root.certificate, old_with_new},
                                     later);
          }) == "link_not_current");
    CHECK(ca::check_trust_bundle(r.old_root.certificate, {r.new_root.certificate, old_with_new},
                                 std::nullopt)
              .roots.size() == 2);
}

TEST_CASE("the chain an identity answers with is made once, and a changed copy makes its own") {
    Rollover r;
    auto old_with_new = r.old_root.authority.certify_link(r.new_root.certificate, "cli:officer");
    auto new_with_old = r.new_root.authority.certify_link(r.old_root.certificate, "cli:officer");
    // The certificates stand in for an issuing CA and its root: the chain only lists them.
    ca::IssuerIdentity alone{nullptr, r.new_root.certificate, r.old_root.certificate,
                             ca::check_trust_bundle(r.old_root.certificate, {}, r.clock.now())};
    const std::string& first = alone.chain_pem();
    CHECK(&alone.chain_pem() == &first);
    CHECK(ca::parse_certificates_pem(first, "the chain") ==
          std::vector<Botan::X509_Certificate>{r.new_root.certificate, r.old_root.certificate});

    ca::IssuerIdentity linked = alone;
    linked.trust = ca::check_trust_bundle(r.old_root.certificate,
                                          {new_with_old, r.new_root.certificate, old_with_new},
                                          r.clock.now());
    CHECK(ca::parse_certificates_pem(linked.chain_pem(), "the chain") ==
          std::vector<Botan::X509_Certificate>{r.new_root.certificate, new_with_old,
                                               r.old_root.certificate});
    CHECK(ca::parse_certificates_pem(alone.chain_pem(), "the chain").size() == 2);
}
