// tests/fuzz/fuzz_csr.cpp — CSR intake, PEM and DER: whatever bytes arrive as a CSR (the "csr"
// string of POST /v1/certificates or EnOS apply, the file of `edgeca issue --csr`), the engine's
// chain — framing, structure, proof of possession, key policy, subject rules, SAN reading —
// either accepts them or refuses them with a ca::Error whose response can be written. Nothing
// else may happen: no crash, no sanitizer report, no other exception.
//
// Two kinds of input:
// - anything not starting with a zero byte is the CSR itself (the seeds are real CSR files);
// - 0x00, a 2-byte little-endian length L, L bytes of Name content, then the content of the
//   attributes [0] SET: the target frames these into a CertificationRequestInfo with a fixed
//   Ed25519 key and signs it, so that mutated subjects and requested extensions get past the
//   signature check (which a mutated CSR almost never does) into the decoding behind it.
//   Ed25519 signs in microseconds; RSA would cost a millisecond per input.
#include <botan/auto_rng.h>
#include <botan/der_enc.h>
#include <botan/ed25519.h>
#include <botan/pubkey.h>

#include <cstdint>
#include <span>
#include <vector>

#include "ca/certificate_request.h"
#include "ca/distinguished_name.h"
#include "ca/encoding.h"
#include "ca/key_policy.h"
#include "ca/public_key_info.h"
#include "tests/fuzz/error_response.h"

using namespace edgeca;

namespace {

struct Ed25519Signer {
    Botan::AutoSeeded_RNG rng;
    Botan::Ed25519_PrivateKey key{rng};
    std::vector<uint8_t> spki = key.subject_public_key();

    std::vector<uint8_t> csr(std::span<const uint8_t> name, std::span<const uint8_t> attributes) {
        std::vector<uint8_t> info;
        Botan::DER_Encoder(info)
            .start_cons(Botan::SEQUENCE)
            .encode(size_t(0))
            .add_object(Botan::SEQUENCE, Botan::CONSTRUCTED, name.data(), name.size())
            .raw_bytes(spki)
            .add_object(Botan::ASN1_Tag(0), Botan::ASN1_Tag(Botan::CONTEXT_SPECIFIC | Botan::CONSTRUCTED),
                        attributes.data(), attributes.size())
            .end_cons();
        Botan::PK_Signer signer(key, rng, "Pure");
        const auto signature = signer.sign_message(info, rng);
        std::vector<uint8_t> der;
        Botan::DER_Encoder(der)
            .start_cons(Botan::SEQUENCE)
            .raw_bytes(info)
            .encode(Botan::AlgorithmIdentifier(Botan::OID("1.3.101.112"), Botan::AlgorithmIdentifier::USE_EMPTY_PARAM))
            .encode(signature, Botan::BIT_STRING)
            .end_cons();
        return der;
    }
};

// Through the API a CSR is the text of a JSON string, so always UTF-8; DER arrives there wrapped
// in PEM and meets the same checks. Text that is not UTF-8 only comes from a file (`edgeca issue
// --csr`), whose errors are printed, not put into JSON.
void refused(const ca::Error& e, std::span<const uint8_t> bytes) {
    const std::string_view text(reinterpret_cast<const char*>(bytes.data()), bytes.size());
    if (!ca::looks_like_pem(bytes) || fuzz::is_utf8(text)) {
        fuzz::render_error(e);
    } else {
        fuzz::check_error(e);
    }
}

// The same steps, in the same order, as IssuingAuthority::issue (ca/issuing_authority.cpp).
void engine_chain(std::span<const uint8_t> bytes) {
    try {
        auto csr = ca::CertificateRequest::parse(bytes);
        ca::KeyPolicy::check(csr.key_info(), "the CSR's key");
        auto subject = ca::build_requested_subject(csr.subject());
        if (ca::common_name_of(subject).empty()) fuzz::finding("an accepted subject without a CN");
        (void)ca::to_rfc4514(subject);
        (void)ca::sha256_hex(csr.public_key_info());
        // What the hub profile reads next.
        (void)csr.requests_other_names();
        (void)csr.requested_ip_addresses();
        (void)csr.requested_dns_names();
    } catch (const ca::Error& e) {
        refused(e, bytes);
    }
}

// A request whose signature verifies: everything parse decodes behind it, and the subject rules
// (an attacker signs with an RSA-2048 key of their own to get there).
void signed_parts(std::span<const uint8_t> input) {
    static Ed25519Signer signer;
    if (input.size() < 2) return;
    const size_t length = std::min<size_t>(input[0] | (size_t(input[1]) << 8), input.size() - 2);
    const auto name = input.subspan(2, length);
    const auto attributes = input.subspan(2 + length);
    const auto der = signer.csr(name, attributes);
    try {
        auto csr = ca::CertificateRequest::parse(der);
        (void)csr.requests_other_names();
        (void)csr.requested_ip_addresses();
        (void)csr.requested_dns_names();
        try {
            ca::KeyPolicy::check(csr.key_info(), "the CSR's key");
            fuzz::finding("an Ed25519 key passed the RSA-2048 policy");
        } catch (const ca::Error& e) {
            if (e.code() != "key_not_rsa") fuzz::finding("an Ed25519 key refused for another reason", e.code());
        }
        auto subject = ca::build_requested_subject(csr.subject());
        (void)ca::to_rfc4514(subject);
    } catch (const ca::Error& e) {
        fuzz::render_error(e);
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::span<const uint8_t> input(data, size);
    if (size > 0 && data[0] == 0x00) {
        signed_parts(input.subspan(1));
    } else {
        engine_chain(input);
    }
    return 0;
}
