// tests/unit/test_certificate_signer.cpp — the certificate builder gives, byte for byte, what
// Botan's X509_CA::make_cert gave for the same content (RSASSA-PKCS1-v1_5 is deterministic),
// and the record read off the content is the record read off the parsed certificate.
#include <botan/pubkey.h>
#include <botan/x509_ca.h>
#include <botan/x509_obj.h>
#include <doctest/doctest.h>

#include "ca/certificate_facts.h"
#include "ca/certificate_signer.h"
#include "ca/distinguished_name.h"
#include "ca/extensions.h"
#include "ca/openssl_signing_key.h"
#include "tests/unit/issuer_fixture.h"

using namespace edgeca;

namespace {

// The builder this project used before: make_cert, which parses what it signed.
std::vector<uint8_t> make_cert_der(const ca::CertificateContent& content,
                                   const Botan::X509_DN& issuer, const Botan::Private_Key& key) {
    Botan::AlgorithmIdentifier algorithm;
    auto signer = Botan::X509_Object::choose_sig_format(algorithm, key, test::rng(), "SHA-256",
                                                        "EMSA3(SHA-256)");
    return Botan::X509_CA::make_cert(
               signer.get(), test::rng(), content.serial.to_bigint(), algorithm,
               content.subject_public_key_info, Botan::X509_Time(content.not_before),
               Botan::X509_Time(content.not_after), issuer, content.subject, content.extensions)
        .BER_encode();
}

struct Case {
    const char* name;
    ca::Profile profile;
    const char* subject;
    std::vector<std::string> dns_names;
    std::vector<std::string> ip_addresses;
};

ca::CertificateContent content_of(const Case& c, const Botan::Private_Key& subject_key,
                                  const Botan::X509_Certificate& issuer) {
    std::vector<ca::IpAddress> ips;
    for (const auto& ip : c.ip_addresses) ips.push_back(*ca::IpAddress::parse(ip));
    const bool root = c.profile == ca::Profile::root;
    auto extensions = ca::profile_extensions(
        {.profile = c.profile,
         .subject_key_id = ca::key_identifier(subject_key),
         .authority_key_id = root ? std::vector<uint8_t>{} : issuer.subject_key_id(),
         .dns_names = c.dns_names,
         .ip_addresses = ips,
         .crl_urls = root ? std::vector<std::string>{}
                          : std::vector<std::string>{"http://ca.example.com/crl",
                                                     "http://ca2.example.com/crl"},
         .ca_issuer_urls = {"http://ca.example.com/ca.pem"}});
    return {.serial = ca::SerialNumber::from_hex("4d2a9c0f1e3b5a7788990011aabbccdd"),
            .subject = ca::build_requested_subject(
                ca::build_subject(ca::parse_distinguished_name(c.subject))),
            .subject_public_key_info = subject_key.subject_public_key(),
            .not_before = ca::Time(std::chrono::sys_days(std::chrono::year(2026) / 11 / 25)) +
                          std::chrono::seconds(3725),
            // After 2049: a GeneralizedTime, where before it is a UTCTime.
            .not_after = ca::Time(std::chrono::sys_days(std::chrono::year(2051) / 1 / 2)),
            .extensions = extensions};
}

const Case cases[] = {
    {"edge", ca::Profile::edge, "CN=SN-0001,O=Acme,C=CN", {}, {}},
    {"edge, UTF-8 subject", ca::Profile::edge, "CN=Gerät 7 – Halle,OU=Wärme,O=Acme,C=DE", {}, {}},
    {"hub with DNS names and IPv4 and IPv6 addresses",
     ca::Profile::hub,
     "CN=hub.example.com",
     {"hub.example.com", "a.hub.example.com"},
     {"10.1.2.3", "fd00::17"}},
    {"server", ca::Profile::server, "CN=ca.example.com", {"ca.example.com"}, {}},
    {"client", ca::Profile::client, "CN=admin", {}, {}},
    {"intermediate", ca::Profile::intermediate, "CN=Issuing CA,O=Acme", {}, {}},
    {"root", ca::Profile::root, "CN=Root,O=Acme,C=CN", {}, {}},
};

}  // namespace

TEST_CASE(
    "the certificate builder gives make_cert's bytes, with either backend, for every profile") {
    test::IssuerFixture f;
    const auto& issuer = f.identity.certificate;
    const auto issuer_public = issuer.load_subject_public_key();
    const auto& subject_key = test::rsa_key();
    for (const auto backend : {ca::SigningBackend::botan, ca::SigningBackend::openssl}) {
        auto key = ca::signing_key(f.issuer_key, backend);
        for (const auto& c : cases) {
            CAPTURE(std::string(c.name));
            CAPTURE(std::string(ca::to_string(backend)));
            auto content = content_of(c, subject_key, issuer);
            auto built = ca::sign_certificate_der(content, issuer.subject_dn(), *key, test::rng());
            CHECK(built == make_cert_der(content, issuer.subject_dn(), *key));

            Botan::X509_Certificate parsed(built);
            CHECK(parsed.check_signature(*issuer_public));
            CHECK(parsed.serial_number() == content.serial.bytes());
            CHECK(parsed.subject_dn() == content.subject);
            CHECK(parsed.issuer_dn() == issuer.subject_dn());
            CHECK(ca::to_time(parsed.not_before()) == content.not_before);
            CHECK(ca::to_time(parsed.not_after()) == content.not_after);
            CHECK(parsed.subject_public_key_info() == content.subject_public_key_info);
        }
    }
}

TEST_CASE("the record read off the content is the record read off the parsed certificate") {
    test::IssuerFixture f;
    const auto& issuer = f.identity.certificate;
    for (const auto& c : cases) {
        CAPTURE(std::string(c.name));
        auto content = content_of(c, test::rsa_key(), issuer);
        auto der =
            ca::sign_certificate_der(content, issuer.subject_dn(), *f.issuer_key, test::rng());
        const ca::Time issued_at = f.clock.now();
        auto direct = ca::record_of(content, der, c.profile, "hub:hub-1", issued_at);
        auto parsed =
            ca::record_of(Botan::X509_Certificate(der), c.profile, "hub:hub-1", issued_at);
        CHECK(direct.serial == parsed.serial);
        CHECK(direct.profile == parsed.profile);
        CHECK(direct.subject == parsed.subject);
        CHECK(direct.common_name == parsed.common_name);
        CHECK(direct.spki_sha256 == parsed.spki_sha256);
        CHECK(direct.der == parsed.der);
        CHECK(direct.fingerprint_sha256 == parsed.fingerprint_sha256);
        CHECK(direct.not_before == parsed.not_before);
        CHECK(direct.not_after == parsed.not_after);
        CHECK(direct.issued_at == parsed.issued_at);
        CHECK(direct.requester == parsed.requester);
    }
}
