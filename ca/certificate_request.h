// ca/certificate_request.h — a PKCS#10 CSR taken in: framing checked, signature verified first.
#pragma once

#include <botan/pk_keys.h>
#include <botan/pkcs10.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace edgeca::ca {

class CertificateRequest {
public:
    static constexpr size_t max_bytes = 64 * 1024;

    // Accepts one PEM block ("CERTIFICATE REQUEST" or "NEW CERTIFICATE REQUEST") or one DER
    // object. The proof of possession (the CSR's self-signature) is verified before anything
    // else is read from it. Throws Error(bad_input, "csr_malformed" | "csr_signature_invalid" |
    // "malformed_pem" | "malformed_der") or Error(too_large, "csr_too_large").
    // Only framing and signature are checked here; the key policy and the subject rules are
    // the caller's next steps.
    static CertificateRequest parse(std::span<const uint8_t> bytes);
    // The bytes of a CSR file, refusing more than max_bytes as "csr_too_large".
    static std::vector<uint8_t> read(const std::filesystem::path& path);

    const Botan::Public_Key& public_key() const { return *public_key_; }
    std::shared_ptr<const Botan::Public_Key> shared_public_key() const { return public_key_; }
    // DER SubjectPublicKeyInfo, as it will appear in the certificate.
    const std::vector<uint8_t>& public_key_info() const { return public_key_info_; }
    const Botan::X509_DN& subject() const { return request_->subject_dn(); }
    // dNSName entries of a requested subjectAltName; other requested extensions are never read.
    std::vector<std::string> requested_dns_names() const;
    // True when the requested subjectAltName holds names other than dNSName (IP, e-mail, URI).
    bool requests_non_dns_names() const;
    const std::vector<uint8_t>& der() const { return der_; }

private:
    CertificateRequest() = default;
    std::vector<uint8_t> der_;
    std::unique_ptr<Botan::PKCS10_Request> request_;
    std::shared_ptr<const Botan::Public_Key> public_key_;
    std::vector<uint8_t> public_key_info_;
};

}  // namespace edgeca::ca
