// ca/certificate_request.cpp — CSR intake: exact framing, then the proof of possession.
#include "ca/certificate_request.h"

#include <botan/pkix_types.h>
#include <botan/x509_key.h>
#include <fmt/format.h>

#include "ca/encoding.h"
#include "ca/errors.h"
#include "ca/files.h"

namespace edgeca::ca {

CertificateRequest CertificateRequest::parse(std::span<const uint8_t> bytes) {
    if (bytes.size() > max_bytes) {
        throw Error(ErrorKind::too_large, "csr_too_large",
                    fmt::format("the CSR is {} bytes; at most {} are accepted", bytes.size(),
                                max_bytes));
    }
    CertificateRequest csr;
    if (looks_like_pem(bytes)) {
        std::string_view text(reinterpret_cast<const char*>(bytes.data()), bytes.size());
        csr.der_ = decode_single_pem(text, {"CERTIFICATE REQUEST", "NEW CERTIFICATE REQUEST"},
                                     "the CSR");
    } else {
        csr.der_.assign(bytes.begin(), bytes.end());
    }
    require_single_der_object(csr.der_, "the CSR");

    try {
        // Botan 2.19 verifies the self-signature inside this constructor, before the request
        // can be read at all: nothing of a CSR whose proof of possession fails is looked at.
        csr.request_ = std::make_unique<Botan::PKCS10_Request>(csr.der_);
        csr.public_key_.reset(csr.request_->subject_public_key());
    } catch (const std::exception& e) {
        // Botan's messages describe its parser; the answer names what is wrong with the input.
        const std::string_view why = e.what();
        if (why.find("Bad signature") != std::string_view::npos) {
            throw Error(ErrorKind::bad_input, "csr_signature_invalid",
                        "the CSR's signature does not verify with its own public key: it was "
                        "altered, or not signed by the key it carries");
        }
        if (why.find("Invalid RSA public key parameters") != std::string_view::npos) {
            throw Error(ErrorKind::policy, "key_invalid",
                        "the CSR's key is not a valid RSA key (even modulus or bad exponent)");
        }
        if (why.find("public key") != std::string_view::npos) {
            throw Error(ErrorKind::bad_input, "csr_malformed",
                        "the CSR's public key cannot be decoded");
        }
        throw Error(ErrorKind::bad_input, "csr_malformed",
                    "the CSR is not a valid PKCS#10 certification request");
    }
    csr.public_key_info_ = Botan::X509::BER_encode(*csr.public_key_);
    return csr;
}

std::vector<uint8_t> CertificateRequest::read(const std::filesystem::path& path) {
    std::string content;
    try {
        content = read_file(path, "the CSR", max_bytes);
    } catch (const Error& e) {
        if (e.kind() != ErrorKind::too_large) throw;
        throw Error(ErrorKind::too_large, "csr_too_large",
                    fmt::format("the CSR {} is larger than the {} bytes accepted", path.string(), max_bytes));
    }
    return {content.begin(), content.end()};
}

std::vector<std::string> CertificateRequest::requested_dns_names() const {
    return request_->subject_alt_name().get_attribute("DNS");
}

bool CertificateRequest::requests_non_dns_names() const {
    const auto& alt = request_->subject_alt_name();
    for (const auto& [type, value] : alt.contents()) {
        if (type != "DNS") return true;
    }
    return !alt.get_othernames().empty();
}

}  // namespace edgeca::ca
