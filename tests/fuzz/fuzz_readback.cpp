// tests/fuzz/fuzz_readback.cpp — certificates and CRLs read back from files: the issuing-CA and
// root certificates `edgeca install` and `edgeca serve` load (parse_certificate_pem, then the
// installation checks), PEM framing (decode_pem_blocks), DER framing
// (require_single_der_object), and CRLs as the crl/ tests read them (Botan::X509_CRL and its
// accessors). Our functions refuse with a ca::Error; where Botan is called directly its
// exceptions are expected too; no crash, sanitizer report or other exception.
#include <botan/x509_crl.h>
#include <botan/x509_ext.h>
#include <botan/x509cert.h>

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "ca/certificate_facts.h"
#include "ca/distinguished_name.h"
#include "ca/encoding.h"
#include "ca/issuer_identity.h"
#include "ca/key_policy.h"
#include "ca/public_key_info.h"
#include "tests/fuzz/fuzz_support.h"

using namespace edgeca;

namespace {

const ca::Time now{std::chrono::sys_days(std::chrono::year(2026) / 11 / 25)};

void pem_framing(std::string_view text) {
    try {
        auto blocks = ca::decode_pem_blocks(text, "the fuzz input");
        if (blocks.empty()) fuzz::finding("decode_pem_blocks accepted text without a block");
        for (const auto& block : blocks) {
            // What was decoded encodes back to a PEM that decodes to the same bytes.
            auto again = ca::decode_pem_blocks(ca::encode_pem(block.der, block.label), "again");
            if (again.size() != 1 || again[0].der != block.der || again[0].label != block.label) {
                fuzz::finding("a PEM block does not survive encode_pem", block.label);
            }
        }
    } catch (const ca::Error& e) {
        fuzz::check_error(e);
    }
}

void der_framing(std::span<const uint8_t> bytes) {
    try {
        ca::require_single_der_object(bytes, "the fuzz input");
    } catch (const ca::Error& e) {
        fuzz::check_error(e);
    }
}

// `edgeca install --cert F --root F`: the certificate file, then the checks it must pass.
void certificate_pem(const std::string& text) {
    try {
        auto certificate = ca::parse_certificate_pem(text, "the certificate");
        (void)ca::to_rfc4514(certificate.subject_dn());
        ca::check_issuing_ca_certificate(certificate, certificate, certificate.subject_public_key_info(), now);
    } catch (const ca::Error& e) {
        fuzz::check_error(e);
    } catch (const std::exception&) {
        // Botan, while reading a certificate it decoded (a key it cannot load, a time before
        // 1970): the CLI reports it as an error.
    }
}

// A certificate of our own store read back (renewal with the earlier key): DER.
void certificate_der(const std::vector<uint8_t>& der) {
    std::optional<Botan::X509_Certificate> certificate;
    try {
        certificate.emplace(der);
    } catch (const std::exception&) {
        return;
    }
    try {
        // What a renewal without a CSR reads of the earlier certificate (issuing_authority.cpp).
        ca::KeyPolicy::check(ca::PublicKeyInfo::decode(certificate->subject_public_key_info()),
                             "the renewed certificate's key");
        (void)ca::build_requested_subject(certificate->subject_dn());
        (void)ca::to_rfc4514(certificate->issuer_dn());
        (void)ca::sha256_hex(certificate->subject_public_key_info());
        (void)ca::to_time(certificate->not_before());
        (void)ca::to_time(certificate->not_after());
    } catch (const ca::Error& e) {
        fuzz::check_error(e);
    } catch (const std::exception&) {
    }
}

// As tests/unit/test_crl.cpp reads a CRL (DER or PEM).
void crl(const std::vector<uint8_t>& bytes) {
    try {
        Botan::X509_CRL crl(bytes);
        (void)crl.crl_number();
        (void)ca::to_rfc4514(crl.issuer_dn());
        (void)crl.authority_key_id();
        (void)ca::to_time(crl.this_update());
        (void)ca::to_time(crl.next_update());
        for (const auto& entry : crl.get_revoked()) {
            (void)entry.serial_number();
            (void)ca::to_time(entry.expire_time());
            if (entry.extensions().extension_set(Botan::OID("2.5.29.21"))) (void)entry.reason_code();
        }
    } catch (const std::exception&) {
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size > 256 * 1024) return 0;
    const std::span<const uint8_t> bytes(data, size);
    const std::vector<uint8_t> copy(data, data + size);
    const std::string text(fuzz::as_text(data, size));
    if (ca::looks_like_pem(bytes)) {
        pem_framing(text);
        certificate_pem(text);
    }
    der_framing(bytes);
    certificate_der(copy);
    crl(copy);
    return 0;
}
