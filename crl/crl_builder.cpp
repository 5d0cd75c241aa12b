// crl/crl_builder.cpp — the TBSCertList of RFC 5280 section 5.1, with Botan's DER_Encoder.
#include "crl/crl_builder.h"

#include <botan/der_enc.h>
#include <botan/pkix_types.h>
#include <botan/pubkey.h>
#include <botan/x509_ext.h>
#include <botan/x509_obj.h>

#include <algorithm>
#include <array>
#include <ctime>
#include <stdexcept>
#include <string>

namespace edgeca::crl {
namespace {

const Botan::OID reason_code_oid("2.5.29.21");

// A CRL may list a million entries: each is encoded straight into one buffer with
// DER_Encoder::add_object, without the per-entry BigInt, X509_Time and nested encoders that
// cost microseconds each, and the signed CRL is assembled in one buffer of its final size.

// The identifier and length octets of a definite-length DER element (X.690 8.1.2, 8.1.3):
// what DER_Encoder writes before each object, needed here ahead of contents that are
// already encoded elsewhere.
void append_header(std::vector<uint8_t>& out, uint8_t identifier, size_t length) {
    out.push_back(identifier);
    if (length < 0x80) {
        out.push_back(static_cast<uint8_t>(length));
        return;
    }
    uint8_t octets = 0;
    for (size_t rest = length; rest > 0; rest >>= 8) ++octets;
    out.push_back(static_cast<uint8_t>(0x80 | octets));
    for (int shift = 8 * (octets - 1); shift >= 0; shift -= 8) out.push_back(static_cast<uint8_t>(length >> shift));
}

size_t header_size(size_t length) {
    size_t octets = 0;
    for (size_t rest = length; rest > 0; rest >>= 8) ++octets;
    return length < 0x80 ? 2 : 2 + octets;
}

constexpr uint8_t sequence_identifier = 0x30;  // SEQUENCE, constructed

// crlEntryExtensions holding only a reasonCode.
std::vector<uint8_t> encode_reason_extensions(int reason) {
    std::vector<uint8_t> value;
    Botan::DER_Encoder(value).encode(static_cast<size_t>(reason), Botan::ENUMERATED, Botan::UNIVERSAL);
    std::vector<uint8_t> encoded;
    Botan::DER_Encoder(encoded)
        .start_cons(Botan::SEQUENCE)
        .start_cons(Botan::SEQUENCE)
        .encode(reason_code_oid)
        .encode(value, Botan::OCTET_STRING)
        .end_cons()
        .end_cons();
    return encoded;
}

// The same, encoded once for each of RFC 5280's reasons.
void append_reason_extensions(std::vector<uint8_t>& out, int reason) {
    static const auto table = [] {
        std::array<std::vector<uint8_t>, 11> encoded;
        for (size_t code = 1; code < encoded.size(); ++code) encoded[code] = encode_reason_extensions(static_cast<int>(code));
        return encoded;
    }();
    if (reason >= 1 && static_cast<size_t>(reason) < table.size()) {
        out.insert(out.end(), table[static_cast<size_t>(reason)].begin(), table[static_cast<size_t>(reason)].end());
    } else {
        const auto encoded = encode_reason_extensions(reason);
        out.insert(out.end(), encoded.begin(), encoded.end());
    }
}

// userCertificate: the serial's magnitude as a DER INTEGER's contents (no leading zero
// octets, one zero octet before a magnitude whose top bit is set: it is positive).
void encode_serial(Botan::DER_Encoder& der, const std::vector<uint8_t>& magnitude) {
    size_t first = 0;
    while (first + 1 < magnitude.size() && magnitude[first] == 0) ++first;
    if (magnitude.empty() || (magnitude[first] & 0x80) == 0) {
        const uint8_t zero = 0;
        der.add_object(Botan::INTEGER, Botan::UNIVERSAL, magnitude.empty() ? &zero : magnitude.data() + first,
                       magnitude.empty() ? 1 : magnitude.size() - first);
        return;
    }
    uint8_t contents[1 + 64];
    const size_t length = magnitude.size() - first;
    if (length >= sizeof contents) throw std::invalid_argument("a serial number longer than 64 octets");
    contents[0] = 0;
    std::copy_n(magnitude.data() + first, length, contents + 1);
    der.add_object(Botan::INTEGER, Botan::UNIVERSAL, contents, length + 1);
}

// revocationDate as X509_Time encodes it: UTCTime through 2049, GeneralizedTime from 2050
// (RFC 5280 section 5.1.2.4).
void encode_time(Botan::DER_Encoder& der, ca::Time at) {
    const std::time_t seconds = at.time_since_epoch().count();
    std::tm utc{};
    gmtime_r(&seconds, &utc);
    const int year = utc.tm_year + 1900;
    const bool utc_time = year >= 1950 && year < 2050;
    char text[32];
    const size_t length = std::strftime(text, sizeof text, utc_time ? "%y%m%d%H%M%SZ" : "%Y%m%d%H%M%SZ", &utc);
    der.add_object(utc_time ? Botan::UTC_TIME : Botan::GENERALIZED_TIME, Botan::UNIVERSAL,
                   reinterpret_cast<const uint8_t*>(text), length);
}

}  // namespace

CrlBuilder::CrlBuilder(const Botan::X509_Certificate& issuer, const Botan::Private_Key& key)
    : issuer_(issuer), key_(key) {}

void CrlBuilder::add(const store::RevokedEntry& entry) {
    // revokedCertificate ::= SEQUENCE { userCertificate, revocationDate, crlEntryExtensions }
    scratch_.clear();
    Botan::DER_Encoder fields(scratch_);
    encode_serial(fields, entry.serial);
    encode_time(fields, entry.revoked_at);
    if (entry.reason != 0) append_reason_extensions(scratch_, entry.reason);
    Botan::DER_Encoder(encoded_entries_).add_object(Botan::SEQUENCE, Botan::CONSTRUCTED, scratch_.data(), scratch_.size());
    ++count_;
}

std::vector<uint8_t> CrlBuilder::sign(int64_t number, ca::Time this_update, ca::Time next_update,
                                      Botan::RandomNumberGenerator& rng) const {
    Botan::AlgorithmIdentifier algorithm;
    auto signer = Botan::X509_Object::choose_sig_format(algorithm, key_, rng, "SHA-256",
                                                        "EMSA3(SHA-256)");
    Botan::Extensions extensions;
    extensions.add(new Botan::Cert_Extension::Authority_Key_ID(issuer_.subject_key_id()));
    extensions.add(new Botan::Cert_Extension::CRL_Number(static_cast<size_t>(number)));

    // TBSCertList: version, signature, issuer, thisUpdate, nextUpdate, revokedCertificates
    // (left out when empty), [0] crlExtensions. Botan's Extensions writes the extension list
    // without its SEQUENCE OF (X509_CA adds it).
    std::vector<uint8_t> head;
    Botan::DER_Encoder(head)
        .encode(static_cast<size_t>(1))  // v2
        .encode(algorithm)
        .encode(issuer_.subject_dn())
        .encode(Botan::X509_Time(this_update))
        .encode(Botan::X509_Time(next_update));
    std::vector<uint8_t> tail;
    Botan::DER_Encoder(tail).start_explicit(0).start_cons(Botan::SEQUENCE).encode(extensions).end_cons().end_explicit();
    std::vector<uint8_t> algorithm_der;
    Botan::DER_Encoder(algorithm_der).encode(algorithm);

    const size_t list_length = count_ > 0 ? header_size(encoded_entries_.size()) + encoded_entries_.size() : 0;
    const size_t tbs_length = head.size() + list_length + tail.size();
    const size_t signature_bits_length = signer->signature_length() + 1;  // BIT STRING: unused-bits octet
    const size_t crl_length = header_size(tbs_length) + tbs_length + algorithm_der.size() +
                              header_size(signature_bits_length) + signature_bits_length;

    // CertificateList ::= SEQUENCE { tbsCertList, signatureAlgorithm, signatureValue }
    std::vector<uint8_t> crl;
    crl.reserve(header_size(crl_length) + crl_length);
    append_header(crl, sequence_identifier, crl_length);
    const size_t tbs_start = crl.size();
    append_header(crl, sequence_identifier, tbs_length);
    crl.insert(crl.end(), head.begin(), head.end());
    if (count_ > 0) {
        append_header(crl, sequence_identifier, encoded_entries_.size());
        crl.insert(crl.end(), encoded_entries_.begin(), encoded_entries_.end());
    }
    crl.insert(crl.end(), tail.begin(), tail.end());
    const auto signature = signer->sign_message(crl.data() + tbs_start, crl.size() - tbs_start, rng);
    crl.insert(crl.end(), algorithm_der.begin(), algorithm_der.end());
    Botan::DER_Encoder(crl).encode(signature, Botan::BIT_STRING);
    if (crl.size() != header_size(crl_length) + crl_length) {
        throw std::logic_error("the CRL's signature is not as long as its key promised");
    }
    return crl;
}

}  // namespace edgeca::crl
