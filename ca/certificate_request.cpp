// ca/certificate_request.cpp — CSR intake: exact framing, the structure of RFC 2986 decoded with
// Botan's BER decoder, then the proof of possession, then what the request says.
#include "ca/certificate_request.h"

#include <botan/ber_dec.h>
#include <botan/der_enc.h>
#include <botan/oids.h>
#include <botan/pubkey.h>
#include <botan/x509_ext.h>
#include <botan/x509_key.h>
#include <fmt/format.h>

#include "ca/encoding.h"
#include "ca/errors.h"
#include "ca/files.h"

namespace edgeca::ca {
namespace {

const Botan::OID extension_request("1.2.840.113549.1.9.14");
const Botan::OID subject_alternative_name("2.5.29.17");

// GeneralNames ::= SEQUENCE OF GeneralName, read for what Botan's AlternativeName does not keep:
// IPv6 addresses, and whether anything but dNSName [2] and iPAddress [7] is asked for.
void read_general_names(const std::vector<uint8_t>& der, std::vector<IpAddress>& ips, bool& other) {
    Botan::BER_Decoder outer(der);
    Botan::BER_Decoder names = outer.start_cons(Botan::SEQUENCE);
    while (names.more_items()) {
        Botan::BER_Object name = names.get_next_object();
        if (name.is_a(Botan::ASN1_Tag(2), Botan::CONTEXT_SPECIFIC)) continue;
        if (name.is_a(Botan::ASN1_Tag(7), Botan::CONTEXT_SPECIFIC)) {
            if (auto ip = IpAddress::from_bytes(std::vector<uint8_t>(name.bits(), name.bits() + name.length()))) {
                ips.push_back(*ip);
                continue;
            }
        }
        other = true;
    }
    names.end_cons();
    outer.verify_end();
}

[[noreturn]] void malformed(const char* what) {
    throw Error(ErrorKind::bad_input, "csr_malformed",
                fmt::format("the CSR is not a valid PKCS#10 certification request: {}", what));
}

[[noreturn]] void bad_signature() {
    throw Error(ErrorKind::bad_input, "csr_signature_invalid",
                "the CSR's signature does not verify with its own public key: it was altered, or "
                "not signed by the key it carries");
}

[[noreturn]] void unsupported_algorithm(const std::string& name) {
    throw Error(ErrorKind::bad_input, "csr_signature_invalid",
                fmt::format("the CSR's signature algorithm {} is not supported; sign it with "
                            "sha256WithRSAEncryption (RSASSA-PKCS1-v1_5)",
                            name));
}

// Botan's verification: any key and signature scheme Botan knows ("RSA/EMSA3(SHA-256)",
// "ECDSA/EMSA1(SHA-256)", "Ed25519"), so that a CSR is judged on its signature before its key
// is judged by the policy.
bool botan_verify(const PublicKeyInfo& key_info, const Botan::AlgorithmIdentifier& algorithm,
                  std::span<const uint8_t> body, std::span<const uint8_t> signature) {
    const std::string scheme = Botan::OIDS::oid2str_or_empty(algorithm.get_oid());
    if (scheme.empty()) unsupported_algorithm(algorithm.get_oid().to_string());
    const auto slash = scheme.find('/');
    const std::string key_algorithm = scheme.substr(0, slash);
    const std::string padding = slash == std::string::npos ? "Pure" : scheme.substr(slash + 1);
    std::unique_ptr<Botan::Public_Key> key;
    try {
        key.reset(Botan::X509::load_key(key_info.der));
    } catch (const std::exception& e) {
        if (std::string_view(e.what()).find("Invalid RSA public key parameters") != std::string_view::npos) {
            throw Error(ErrorKind::policy, "key_invalid",
                        "the CSR's key is not a valid RSA key (even modulus or bad exponent)");
        }
        throw Error(ErrorKind::bad_input, "csr_malformed", "the CSR's public key cannot be decoded");
    }
    if (key->algo_name() != key_algorithm) bad_signature();
    try {
        Botan::PK_Verifier verifier(*key, padding, key->default_x509_signature_format());
        return verifier.verify_message(body.data(), body.size(), signature.data(), signature.size());
    } catch (const Botan::Lookup_Error&) {
        // A scheme Botan names but cannot run from the OID alone, such as RSASSA-PSS (EMSA4),
        // whose hash and salt are parameters.
        unsupported_algorithm(scheme);
    }
}

}  // namespace

CertificateRequest CertificateRequest::parse(std::span<const uint8_t> bytes,
                                             const SignatureVerifier& verifier) {
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

    // CertificationRequest ::= SEQUENCE { info, signatureAlgorithm, signature BIT STRING }
    std::vector<uint8_t> info;
    Botan::AlgorithmIdentifier algorithm;
    std::vector<uint8_t> signature;
    std::vector<uint8_t> spki;
    Botan::BER_Object subject;
    std::vector<uint8_t> attributes;
    try {
        Botan::BER_Decoder(csr.der_)
            .start_cons(Botan::SEQUENCE)
            .start_cons(Botan::SEQUENCE)
            .raw_bytes(info)
            .end_cons()
            .decode(algorithm)
            .decode(signature, Botan::BIT_STRING)
            .end_cons()
            .verify_end();
        // CertificationRequestInfo ::= SEQUENCE { version 0, subject Name,
        //     subjectPKInfo SubjectPublicKeyInfo, attributes [0] IMPLICIT SET OF Attribute }
        Botan::BER_Decoder fields(info);
        size_t version = 1;
        fields.decode(version);
        if (version != 0) malformed("its version is not 1");
        subject = fields.get_next_object();
        subject.assert_is_a(Botan::SEQUENCE, Botan::CONSTRUCTED, "subject");
        Botan::BER_Object key = fields.get_next_object();
        key.assert_is_a(Botan::SEQUENCE, Botan::CONSTRUCTED, "subjectPKInfo");
        Botan::DER_Encoder(spki).add_object(Botan::SEQUENCE, Botan::CONSTRUCTED, key.bits(), key.length());
        Botan::BER_Object attribute_set = fields.get_next_object();
        if (attribute_set.is_set()) {
            attribute_set.assert_is_a(Botan::ASN1_Tag(0), Botan::ASN1_Tag(Botan::CONTEXT_SPECIFIC | Botan::CONSTRUCTED),
                                      "attributes");
            attributes.assign(attribute_set.bits(), attribute_set.bits() + attribute_set.length());
        }
        fields.verify_end();
    } catch (const Error&) {
        throw;
    } catch (const std::exception&) {
        malformed("its structure cannot be decoded");
    }

    // The proof of possession, before anything the request says is read.
    csr.key_info_ = PublicKeyInfo::decode(spki);
    std::vector<uint8_t> signed_body;
    Botan::DER_Encoder(signed_body).start_cons(Botan::SEQUENCE).raw_bytes(info).end_cons();
    std::optional<bool> verified;
    if (verifier) verified = verifier(csr.key_info_, algorithm, signed_body, signature);
    if (!verified) verified = botan_verify(csr.key_info_, algorithm, signed_body, signature);
    if (!*verified) bad_signature();

    try {
        std::vector<uint8_t> name;
        Botan::DER_Encoder(name).add_object(Botan::SEQUENCE, Botan::CONSTRUCTED, subject.bits(), subject.length());
        Botan::BER_Decoder(name).decode(csr.subject_).verify_end();
        Botan::BER_Decoder list(attributes);
        while (list.more_items()) {
            Botan::Attribute attribute;
            list.decode(attribute);
            if (attribute.get_oid() != extension_request) continue;
            Botan::Extensions requested;
            Botan::BER_Decoder(attribute.get_parameters()).decode(requested).verify_end();
            if (auto* names = requested.get_extension_object_as<Botan::Cert_Extension::Subject_Alternative_Name>()) {
                csr.requested_names_ = names->get_alt_name();
            }
            for (const auto& [oid, value] : requested.extensions_raw()) {
                if (oid == subject_alternative_name) {
                    read_general_names(value.first, csr.requested_ips_, csr.requests_other_names_);
                }
            }
        }
    } catch (const std::exception&) {
        malformed("its subject or its attributes cannot be decoded");
    }
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
    if (!requested_names_) return {};
    return requested_names_->get_attribute("DNS");
}

}  // namespace edgeca::ca
