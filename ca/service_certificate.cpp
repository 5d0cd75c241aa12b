// ca/service_certificate.cpp — keeping edgeca's own TLS certificate current.
#include "ca/service_certificate.h"

#include <botan/pkcs8.h>
#include <botan/pkcs10.h>
#include <botan/pkix_types.h>
#include <fmt/format.h>

#include <algorithm>
#include <set>

#include "ca/certificate_facts.h"
#include "ca/encoding.h"
#include "ca/errors.h"
#include "ca/files.h"
#include "ca/issuer_identity.h"
#include "ca/key_file.h"

namespace edgeca::ca {
namespace {

std::set<std::string> names_of(const Botan::X509_Certificate& cert) {
    std::set<std::string> names;
    for (const auto& name : cert.subject_alt_name().get_attribute("DNS")) names.insert(name);
    for (const auto& ip : cert.subject_alt_name().get_attribute("IP")) names.insert(ip);
    return names;
}

}  // namespace

ServiceCertificate::ServiceCertificate(IssuingAuthority& authority, const Clock& clock,
                                       Botan::RandomNumberGenerator& rng,
                                       std::filesystem::path directory, std::string passphrase,
                                       std::vector<std::string> names)
    : authority_(authority),
      clock_(clock),
      rng_(rng),
      directory_(std::move(directory)),
      passphrase_(std::move(passphrase)),
      names_(std::move(names)) {}

bool ServiceCertificate::due_for_renewal(const ServiceCredentials& c) const {
    auto lifetime = c.not_after - c.not_before;
    return clock_.now() >= c.not_after - lifetime / 3;
}

ServiceCredentials ServiceCertificate::current() {
    if (std::filesystem::exists(certificate_path()) && std::filesystem::exists(key_path())) {
        try {
            auto cert = parse_certificate_pem(read_file(certificate_path(), "the TLS certificate"),
                                              "the TLS certificate");
            auto key = load_encrypted_key(key_path(), passphrase_);
            const auto active = authority_.issuer();
            const auto& issuer = active->certificate;
            bool fits = key->subject_public_key() == cert.subject_public_key_info() &&
                        cert.issuer_dn() == issuer.subject_dn() &&
                        cert.check_signature(*issuer.load_subject_public_key()) &&
                        names_of(cert) == std::set<std::string>(names_.begin(), names_.end());
            ServiceCredentials credentials{
                encode_pem(cert.BER_encode(), "CERTIFICATE"), Botan::PKCS8::PEM_encode(*key),
                to_time(cert.not_before()), to_time(cert.not_after()), to_hex(cert.serial_number())};
            if (fits && !due_for_renewal(credentials)) return credentials;
        } catch (const Error&) {
            // Unreadable, foreign or mismatched files: make new ones below.
        }
    }
    return renew();
}

ServiceCredentials ServiceCertificate::renew() {
    ensure_private_directory(directory_);
    auto key = generate_rsa_2048(rng_);
    Botan::X509_DN subject;
    subject.add_attribute("X520.CommonName", names_.empty() ? std::string("edgeca") : names_.front());
    auto csr = Botan::PKCS10_Request::create(*key, subject, Botan::Extensions(), "SHA-256", rng_);
    IssuanceRequest request;
    request.csr = csr.BER_encode();
    request.profile = Profile::server;
    request.server_names = names_;
    auto issued = authority_.issue(Caller::self_service(), request);

    // The key first: a crash between the two writes leaves a pair that does not match, which
    // current() replaces.
    std::string encrypted = Botan::PKCS8::PEM_encode_encrypted_pbkdf_iter(
        *key, rng_, passphrase_, key_file_pbkdf2_iterations, "AES-256/CBC", "SHA-256");
    write_file_atomically(key_path(), encrypted, 0600);
    write_file_atomically(certificate_path(), issued.certificate_pem, 0644);
    return {issued.certificate_pem, Botan::PKCS8::PEM_encode(*key), issued.record.not_before,
            issued.record.not_after, to_hex(issued.record.serial)};
}

}  // namespace edgeca::ca
