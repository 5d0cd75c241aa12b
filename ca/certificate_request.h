// ca/certificate_request.h — a PKCS#10 CSR taken in: framing checked, signature verified first.
#pragma once

#include <botan/asn1_obj.h>
#include <botan/pkix_types.h>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "ca/ip_network.h"
#include "ca/public_key_info.h"

namespace edgeca::ca {

// Verifies a signature over `signed_data` with `key`: true or false, or nullopt when it does not
// handle this key and algorithm (Botan then does). The online issuer plugs OpenSSL in here:
// loading an RSA public key into Botan costs more than an RSA signature with OpenSSL.
using SignatureVerifier = std::function<std::optional<bool>(
    const PublicKeyInfo& key, const Botan::AlgorithmIdentifier& algorithm,
    std::span<const uint8_t> signed_data, std::span<const uint8_t> signature)>;

class CertificateRequest {
public:
    static constexpr size_t max_bytes = 64 * 1024;

    // Accepts one PEM block ("CERTIFICATE REQUEST" or "NEW CERTIFICATE REQUEST") or one DER
    // object holding a CertificationRequest (RFC 2986). Its structure is decoded with Botan's
    // BER decoder and its self-signature (the proof of possession) is verified before anything
    // it says is used: a CSR object exists only once its signature verified. Throws
    // Error(bad_input, "csr_malformed" | "csr_signature_invalid" | "malformed_pem" |
    // "malformed_der"), Error(policy, "key_invalid") for an RSA key that cannot be one, or
    // Error(too_large, "csr_too_large"). Key policy and subject rules are the caller's next steps.
    static CertificateRequest parse(std::span<const uint8_t> bytes,
                                    const SignatureVerifier& verifier = {});
    // The bytes of a CSR file, refusing more than max_bytes as "csr_too_large".
    static std::vector<uint8_t> read(const std::filesystem::path& path);

    // The key as the policy sees it, decoded without loading it.
    const PublicKeyInfo& key_info() const { return key_info_; }
    // DER SubjectPublicKeyInfo, as it will appear in the certificate.
    const std::vector<uint8_t>& public_key_info() const { return key_info_.der; }
    const Botan::X509_DN& subject() const { return subject_; }
    // dNSName entries of a requested subjectAltName; other requested extensions are never read.
    std::vector<std::string> requested_dns_names() const;
    // iPAddress entries of a requested subjectAltName, IPv4 and IPv6 (Botan 2.19's own reading
    // drops IPv6 addresses).
    const std::vector<IpAddress>& requested_ip_addresses() const { return requested_ips_; }
    // True when the requested subjectAltName holds names other than dNSName and iPAddress
    // (e-mail, URI, directoryName, otherName...), or an iPAddress of neither 4 nor 16 bytes.
    bool requests_other_names() const { return requests_other_names_; }
    const std::vector<uint8_t>& der() const { return der_; }

private:
    CertificateRequest() = default;
    std::vector<uint8_t> der_;
    PublicKeyInfo key_info_;
    Botan::X509_DN subject_;
    std::optional<Botan::AlternativeName> requested_names_;
    std::vector<IpAddress> requested_ips_;
    bool requests_other_names_ = false;
};

}  // namespace edgeca::ca
