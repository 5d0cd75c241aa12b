// ca/issuer_identity.cpp — installing an issuing-CA certificate: what must hold before use.
#include "ca/issuer_identity.h"

#include <botan/pkix_types.h>
#include <fmt/format.h>

#include "ca/certificate_facts.h"
#include "ca/distinguished_name.h"
#include "ca/encoding.h"
#include "ca/errors.h"
#include "ca/key_policy.h"

namespace edgeca::ca {
namespace {

[[noreturn]] void refuse(std::string code, const std::string& why) {
    throw Error(ErrorKind::policy, std::move(code), why);
}

}  // namespace

const std::string& IssuerIdentity::chain_pem() const {
    // The links before the root: a verifier that takes the first certificate naming the issuer
    // (OpenSSL) then reaches the root it trusts through the link instead of stopping at the
    // self-signed root it does not trust; one that trusts this root finds it in its store first.
    return chain_pem_made.get([this] {
        std::string pem = encode_pem(certificate.BER_encode(), "CERTIFICATE");
        for (const auto& link : trust.links_to(root)) {
            pem += encode_pem(link.BER_encode(), "CERTIFICATE");
        }
        return pem + encode_pem(root.BER_encode(), "CERTIFICATE");
    });
}

std::vector<std::string> issuer_crl_urls(const std::vector<std::string>& configured, int64_t id) {
    if (id == 1) return configured;
    std::vector<std::string> urls;
    for (const auto& url : configured) urls.push_back(fmt::format("{}/{}", url, id));
    return urls;
}

Botan::X509_Certificate parse_certificate_pem(const std::string& text, std::string_view what) {
    auto der = decode_single_pem(text, {"CERTIFICATE"}, what);
    require_single_der_object(der, what);
    try {
        return Botan::X509_Certificate(der);
    } catch (const std::exception& e) {
        throw Error(ErrorKind::bad_input, "certificate_malformed",
                    fmt::format("{} is not a valid X.509 certificate: {}", what, e.what()));
    }
}

void check_issuing_ca_certificate(const Botan::X509_Certificate& cert,
                                  const Botan::X509_Certificate& root,
                                  const std::vector<uint8_t>& expected_spki, Time now) {
    if (!root.is_self_signed() || !root.is_CA_cert()) {
        refuse("root_invalid", "the root file does not hold a self-signed CA certificate");
    }
    auto root_key = root.load_subject_public_key();
    if (!root.check_signature(*root_key)) {
        refuse("root_invalid", "the root certificate's self-signature does not verify");
    }
    if (cert.subject_public_key_info() != expected_spki) {
        refuse("certificate_key_mismatch",
               "the certificate does not certify this issuing CA's key (was it made from "
               "another CSR?)");
    }
    KeyPolicy::check(*cert.load_subject_public_key(), "the issuing CA's key");
    if (!cert.is_CA_cert()) refuse("not_a_ca", "the certificate is not a CA certificate");
    if (cert.path_limit() != 0) {
        refuse("path_length_not_zero",
               "the certificate must limit the path length to 0: an issuing CA certifies no "
               "other CA");
    }
    if (!cert.allowed_usage(Botan::KEY_CERT_SIGN) || !cert.allowed_usage(Botan::CRL_SIGN)) {
        refuse("key_usage_missing", "the certificate does not allow keyCertSign and cRLSign");
    }
    if (cert.issuer_dn() != root.subject_dn()) {
        refuse("not_issued_by_root",
               fmt::format("the certificate was issued by '{}', not by the root '{}'",
                           to_rfc4514(cert.issuer_dn()), to_rfc4514(root.subject_dn())));
    }
    if (!cert.check_signature(*root_key)) {
        refuse("not_issued_by_root", "the certificate's signature does not verify with the root's key");
    }
    if (now < to_time(cert.not_before()) || now > to_time(cert.not_after())) {
        refuse("certificate_not_current",
               fmt::format("the certificate is valid from {} to {}, not now ({})",
                           to_rfc3339(to_time(cert.not_before())),
                           to_rfc3339(to_time(cert.not_after())), to_rfc3339(now)));
    }
}

}  // namespace edgeca::ca
