// tests/unit/test_root_authority.cpp — the root certificate and the intermediates it signs carry
// exactly the profile's extensions; refusals record nothing but an audit entry.
#include <doctest/doctest.h>

#include <botan/pkcs8.h>
#include <botan/x509_ext.h>
#include <botan/x509path.h>

#include <set>

#include "ca/certificate_facts.h"
#include "ca/errors.h"
#include "ca/extensions.h"
#include "ca/root_authority.h"
#include "tests/unit/test_support.h"

using namespace edgeca;
using namespace std::chrono_literals;

namespace {

std::set<std::string> extension_oids(const Botan::X509_Certificate& cert) {
    std::set<std::string> oids;
    for (const auto& oid : cert.v3_extensions().get_extension_oids()) oids.insert(oid.to_string());
    return oids;
}

struct RootFixture {
    test::TempDir dir;
    store::Store store = store::Store::create(dir / "root.db");
    ca::FixedClock clock{ca::Time(std::chrono::sys_days(std::chrono::year(2026) / 11 / 25))};
    std::unique_ptr<Botan::Private_Key> key = test::fresh_rsa_key();
    Botan::X509_Certificate root_cert =
        ca::RootAuthority::create(store, *key, ca::parse_distinguished_name("CN=Test Root,O=Acme,C=CN"),
                                  3650, clock, test::rng(), "cli:officer");

    ca::RootAuthority authority() {
        auto copy = Botan::PKCS8::copy_key(*key);
        return ca::RootAuthority(store, clock, test::rng(), std::move(copy), root_cert);
    }
    int64_t certificates() {
        return store.read([](const store::Reader& r) { return r.certificate_count(); });
    }
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

std::string refusal_code(RootFixture& f, const std::vector<uint8_t>& csr) {
    auto root = f.authority();
    try {
        root.sign_intermediate(csr, std::nullopt, "cli:officer");
    } catch (const ca::Error& e) {
        return e.code();
    }
    return "accepted";
}

}  // namespace

TEST_CASE("the root certificate is self-signed with exactly CA:TRUE, keyCertSign+cRLSign, SKI") {
    RootFixture f;
    const auto& root = f.root_cert;
    CHECK(root.is_self_signed());
    CHECK(root.check_signature(*root.load_subject_public_key()));
    CHECK(root.is_CA_cert());
    CHECK(root.path_limit() == Botan::Cert_Extension::NO_CERT_PATH_LIMIT);
    CHECK(root.constraints() == (Botan::KEY_CERT_SIGN | Botan::CRL_SIGN));
    CHECK(extension_oids(root) == std::set<std::string>{"2.5.29.19", "2.5.29.15", "2.5.29.14"});
    CHECK(root.v3_extensions().critical_extension_set(Botan::OID("2.5.29.19")));
    CHECK(root.v3_extensions().critical_extension_set(Botan::OID("2.5.29.15")));
    CHECK(root.signature_algorithm().get_oid().to_formatted_string() == "RSA/EMSA3(SHA-256)");
    CHECK(root.subject_key_id() == ca::key_identifier(*f.key));
    CHECK(ca::to_time(root.not_after()) - ca::to_time(root.not_before()) == std::chrono::days(3650));
    CHECK(f.certificates() == 1);
    auto audit = f.audit();
    REQUIRE(audit.size() == 1);
    CHECK(audit[0].event.action == "init");
    CHECK(audit[0].event.actor == "cli:officer");
}

TEST_CASE("an intermediate gets CA:TRUE pathLen 0, keyCertSign+cRLSign, SKI, AKI and chains") {
    RootFixture f;
    auto root = f.authority();
    auto csr = test::make_csr(test::rsa_key(), Botan::X509_Cert_Options("Issuing CA 1/CN/Acme/Devices"));
    auto cert = root.sign_intermediate(csr, std::nullopt, "cli:officer");
    CHECK(cert.is_CA_cert());
    CHECK(cert.path_limit() == 0);
    CHECK(cert.constraints() == (Botan::KEY_CERT_SIGN | Botan::CRL_SIGN));
    CHECK(extension_oids(cert) ==
          std::set<std::string>{"2.5.29.19", "2.5.29.15", "2.5.29.14", "2.5.29.35"});
    CHECK(cert.authority_key_id() == f.root_cert.subject_key_id());
    CHECK(cert.subject_key_id() == ca::key_identifier(test::rsa_key()));
    CHECK(cert.issuer_dn() == f.root_cert.subject_dn());
    // The CSR's order (Botan writes CN, C, O, OU), kept.
    CHECK(ca::to_rfc4514(cert.subject_dn()) == "OU=Devices,O=Acme,C=CN,CN=Issuing CA 1");
    CHECK(ca::to_time(cert.not_after()) - ca::to_time(cert.not_before()) ==
          std::chrono::days(ca::RootAuthority::default_intermediate_days));

    Botan::Certificate_Store_In_Memory trusted(f.root_cert);
    Botan::Path_Validation_Restrictions restrictions(false, 110);
    auto result = Botan::x509_path_validate(
        std::vector<Botan::X509_Certificate>{cert}, restrictions, trusted, "",
        Botan::Usage_Type::UNSPECIFIED, f.clock.now() + 1h);
    CHECK_MESSAGE(result.successful_validation(), result.result_string());

    auto record = f.store.read([&](const store::Reader& r) {
        return r.certificate_by_serial(cert.serial_number());
    });
    REQUIRE(record);
    CHECK(record->profile == "intermediate");
    CHECK(record->der == cert.BER_encode());
}

TEST_CASE("a CSR asking for anything gets none of it: its extensions are never copied") {
    RootFixture f;
    Botan::X509_Cert_Options options("Sneaky");
    options.CA_key(5);  // asks for CA:TRUE pathLen 5
    options.add_ex_constraint("PKIX.CodeSigning");
    options.dns = "evil.example";
    auto csr = test::make_csr(test::rsa_key(), options);
    auto cert = f.authority().sign_intermediate(csr, std::nullopt, "cli:officer");
    CHECK(cert.path_limit() == 0);
    CHECK(cert.extended_key_usage().empty());
    CHECK(cert.subject_alt_name().get_attribute("DNS").empty());
    CHECK(extension_oids(cert) ==
          std::set<std::string>{"2.5.29.19", "2.5.29.15", "2.5.29.14", "2.5.29.35"});
}

TEST_CASE("the intermediate's validity is clamped to the root's") {
    RootFixture f;
    auto csr = test::make_csr(test::rsa_key(), "Issuing CA");
    auto cert = f.authority().sign_intermediate(csr, 36000, "cli:officer");
    CHECK(cert.not_after() == f.root_cert.not_after());
}

TEST_CASE("refused CSRs record no certificate, only a refused audit entry") {
    RootFixture f;
    auto good = test::make_csr(test::rsa_key(), "Issuing CA");
    CHECK(refusal_code(f, test::with_broken_signature(good)) == "csr_signature_invalid");
    CHECK(refusal_code(f, test::make_csr(test::rsa_key(1024), "Issuing CA")) == "key_size_not_2048");
    CHECK(refusal_code(f, test::make_csr(test::rsa_key(4096), "Issuing CA")) == "key_size_not_2048");
    CHECK(refusal_code(f, test::make_csr(test::ec_key(), "Issuing CA")) == "key_not_rsa");
    CHECK(refusal_code(f, test::make_csr(test::ed25519_key(), "Issuing CA")) == "key_not_rsa");
    CHECK(refusal_code(f, {0x30, 0x03, 0x02, 0x01, 0x05}) == "csr_malformed");
    CHECK(refusal_code(f, test::make_csr(test::rsa_key(), "")) == "subject_cn_missing");
    CHECK(f.certificates() == 1);  // the root's own
    auto audit = f.audit();
    REQUIRE(audit.size() == 8);
    for (size_t i = 1; i < audit.size(); ++i) {
        CHECK(audit[i].event.outcome == "refused");
        CHECK(audit[i].event.serial.empty());
    }
    CHECK(audit[1].event.detail == "csr_signature_invalid");
}

TEST_CASE("signing is refused while the clock stands before the root's notBefore") {
    RootFixture f;
    f.clock.advance(-48h);
    CHECK(refusal_code(f, test::make_csr(test::rsa_key(), "Issuing CA")) == "clock_behind");
}
