// tests/unit/test_signing_backends.cpp — the OpenSSL backend signs and verifies exactly as Botan.
// RSASSA-PKCS1-v1_5 is deterministic, so the same content signed with the same key by either
// backend must give the same bytes; any difference is a bug in one of them.
#include <doctest/doctest.h>

#include <botan/pubkey.h>
#include <botan/x509_crl.h>
#include <botan/x509_ext.h>

#include <filesystem>
#include <fstream>
#include <fmt/format.h>

#include <iterator>

#include "ca/certificate_request.h"
#include "ca/certificate_signer.h"
#include "ca/distinguished_name.h"
#include "ca/errors.h"
#include "ca/extensions.h"
#include "ca/openssl_signing_key.h"
#include "crl/crl_builder.h"
#include "tests/unit/issuer_fixture.h"

using namespace edgeca;
using namespace std::chrono_literals;

namespace {

ca::CertificateContent leaf_content(const Botan::Private_Key& subject_key, const Botan::X509_Certificate& issuer) {
    auto extensions = ca::profile_extensions({.profile = ca::Profile::hub,
                                              .subject_key_id = ca::key_identifier(subject_key),
                                              .authority_key_id = issuer.subject_key_id(),
                                              .dns_names = {"hub.example.com"},
                                              .crl_urls = {"http://ca.example.com/crl"},
                                              .ca_issuer_urls = {"http://ca.example.com/ca.pem"}});
    return {.serial = ca::SerialNumber::from_hex("4d2a9c0f1e3b5a7788990011aabbccdd"),
            .subject = ca::build_subject(ca::parse_distinguished_name("CN=hub.example.com,O=edgeca tests,C=CN")),
            .subject_public_key_info = subject_key.subject_public_key(),
            .not_before = ca::Time(std::chrono::sys_days(std::chrono::year(2026) / 11 / 25)),
            .not_after = ca::Time(std::chrono::sys_days(std::chrono::year(2027) / 11 / 25)),
            .extensions = extensions};
}

std::vector<uint8_t> read_bytes(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// "ok" when the CSR parses, else the code of the error it was refused with.
std::string parse_outcome(const std::vector<uint8_t>& bytes, const ca::SignatureVerifier& verifier) {
    try {
        ca::CertificateRequest::parse(bytes, verifier);
        return "ok";
    } catch (const ca::Error& e) {
        return e.code();
    }
}

}  // namespace

TEST_CASE("Botan and OpenSSL sign a certificate byte for byte alike, and it verifies") {
    test::IssuerFixture f;
    auto botan = ca::signing_key(f.issuer_key, ca::SigningBackend::botan);
    auto openssl = ca::signing_key(f.issuer_key, ca::SigningBackend::openssl);
    REQUIRE(openssl.get() != botan.get());  // the OpenSSL backend is a different key object
    const auto& issuer = f.identity.certificate;
    auto content = leaf_content(test::rsa_key(), issuer);

    auto by_botan = ca::sign_certificate(content, issuer.subject_dn(), *botan, test::rng());
    auto by_openssl = ca::sign_certificate(content, issuer.subject_dn(), *openssl, test::rng());
    CHECK(by_botan.BER_encode() == by_openssl.BER_encode());
    CHECK(by_openssl.check_signature(*issuer.load_subject_public_key()));
    CHECK(by_openssl.serial_number() == content.serial.bytes());
}

TEST_CASE("Botan and OpenSSL sign a CRL byte for byte alike, and it verifies") {
    test::IssuerFixture f;
    const auto& issuer = f.identity.certificate;
    auto now = f.clock.now();
    auto build = [&](const Botan::Private_Key& key) {
        crl::CrlBuilder builder(issuer, key);
        for (int i = 0; i < 50; ++i) {
            auto serial = ca::SerialNumber::from_hex(fmt::format("{:032x}", 0x1000 + i)).bytes();
            builder.add({.serial = serial, .revoked_at = now - std::chrono::minutes(i), .reason = i % 6});
        }
        return builder.sign(42, now, now + 24h, test::rng());
    };
    auto by_botan = build(*ca::signing_key(f.issuer_key, ca::SigningBackend::botan));
    auto by_openssl = build(*ca::signing_key(f.issuer_key, ca::SigningBackend::openssl));
    CHECK(by_botan == by_openssl);
    Botan::X509_CRL parsed(by_openssl);
    CHECK(parsed.check_signature(*issuer.load_subject_public_key()));
    CHECK(parsed.get_revoked().size() == 50);
}

TEST_CASE("the OpenSSL backend's raw signatures verify under Botan for many messages") {
    test::IssuerFixture f;
    auto openssl = ca::signing_key(f.issuer_key, ca::SigningBackend::openssl);
    Botan::PK_Signer botan_signer(*f.issuer_key, test::rng(), "EMSA3(SHA-256)");
    Botan::PK_Signer openssl_signer(*openssl, test::rng(), "EMSA3(SHA-256)");
    Botan::PK_Verifier verifier(*f.issuer_key, "EMSA3(SHA-256)");
    for (size_t length : {0, 1, 55, 64, 1000, 65536}) {
        CAPTURE(length);
        std::vector<uint8_t> message(length);
        test::rng().randomize(message.data(), message.size());
        auto signature = openssl_signer.sign_message(message, test::rng());
        CHECK(signature == botan_signer.sign_message(message, test::rng()));
        CHECK(verifier.verify_message(message, signature));
    }
}

TEST_CASE("the OpenSSL CSR verifier reaches Botan's verdict on every CSR of the hostile corpus") {
    const std::filesystem::path corpus = std::filesystem::path(EDGECA_SOURCE_DIR) / "tests" / "data" / "csr";
    auto verifier = ca::openssl_signature_verifier();
    int files = 0;
    int refused = 0;
    for (const auto& entry : std::filesystem::directory_iterator(corpus)) {
        if (entry.file_size() > ca::CertificateRequest::max_bytes) continue;  // refused before parsing
        auto bytes = read_bytes(entry.path());
        CAPTURE(entry.path().filename().string());
        auto by_botan = parse_outcome(bytes, {});
        CHECK(parse_outcome(bytes, verifier) == by_botan);
        ++files;
        if (by_botan != "ok") ++refused;
    }
    // The corpus holds accepted requests and bad signatures alike: the comparison means something.
    CHECK(files >= 40);
    CHECK(refused >= 3);
    CHECK(files - refused >= 10);
}
