// crl/crl_builder.cpp — the TBSCertList of RFC 5280 section 5.1, with Botan's DER_Encoder.
#include "crl/crl_builder.h"

#include <botan/bigint.h>
#include <botan/der_enc.h>
#include <botan/pkix_types.h>
#include <botan/pubkey.h>
#include <botan/x509_ext.h>
#include <botan/x509_obj.h>

namespace edgeca::crl {
namespace {

const Botan::OID reason_code_oid("2.5.29.21");

// IssuingDistributionPoint ::= SEQUENCE { distributionPoint [0] { fullName [0] { URI... } } }
class IssuingDistributionPoint final : public Botan::Certificate_Extension {
public:
    explicit IssuingDistributionPoint(std::vector<std::string> urls) : urls_(std::move(urls)) {}
    Botan::OID oid_of() const override { return Botan::OID("2.5.29.28"); }
    std::string oid_name() const override { return "X509v3.CRLIssuingDistributionPoint"; }
    Certificate_Extension* copy() const override { return new IssuingDistributionPoint(urls_); }
    void contents_to(Botan::Data_Store&, Botan::Data_Store&) const override {}

private:
    std::vector<uint8_t> encode_inner() const override {
        std::vector<uint8_t> out;
        Botan::DER_Encoder der(out);
        der.start_cons(Botan::SEQUENCE)
            .start_cons(Botan::ASN1_Tag(0), Botan::CONTEXT_SPECIFIC)
            .start_cons(Botan::ASN1_Tag(0), Botan::CONTEXT_SPECIFIC);
        for (const auto& url : urls_) der.add_object(Botan::ASN1_Tag(6), Botan::CONTEXT_SPECIFIC, url);
        der.end_cons().end_cons().end_cons();
        return out;
    }
    void decode_inner(const std::vector<uint8_t>&) override {}

    std::vector<std::string> urls_;
};

}  // namespace

CrlBuilder::CrlBuilder(const Botan::X509_Certificate& issuer, const Botan::Private_Key& key,
                       std::vector<std::string> distribution_points)
    : issuer_(issuer), key_(key), distribution_points_(std::move(distribution_points)) {}

void CrlBuilder::add(const store::RevokedEntry& entry) {
    Botan::DER_Encoder der(encoded_entries_);
    der.start_cons(Botan::SEQUENCE)
        .encode(Botan::BigInt(entry.serial.data(), entry.serial.size()))
        .encode(Botan::X509_Time(entry.revoked_at));
    if (entry.reason != 0) {
        std::vector<uint8_t> reason;
        Botan::DER_Encoder(reason).encode(static_cast<size_t>(entry.reason), Botan::ENUMERATED,
                                          Botan::UNIVERSAL);
        der.start_cons(Botan::SEQUENCE)
            .start_cons(Botan::SEQUENCE)
            .encode(reason_code_oid)
            .encode(reason, Botan::OCTET_STRING)
            .end_cons()
            .end_cons();
    }
    der.end_cons();
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
    if (!distribution_points_.empty()) {
        extensions.add(new IssuingDistributionPoint(distribution_points_), /*critical=*/true);
    }

    Botan::secure_vector<uint8_t> tbs;
    Botan::DER_Encoder der(tbs);
    der.start_cons(Botan::SEQUENCE)
        .encode(static_cast<size_t>(1))  // v2
        .encode(algorithm)
        .encode(issuer_.subject_dn())
        .encode(Botan::X509_Time(this_update))
        .encode(Botan::X509_Time(next_update));
    if (count_ > 0) {
        der.add_object(Botan::SEQUENCE, Botan::CONSTRUCTED, encoded_entries_.data(),
                       encoded_entries_.size());
    }
    // Botan's Extensions writes the extension list without its SEQUENCE OF (X509_CA adds it).
    der.start_explicit(0)
        .start_cons(Botan::SEQUENCE)
        .encode(extensions)
        .end_cons()
        .end_explicit()
        .end_cons();
    return Botan::X509_Object::make_signed(signer.get(), rng, algorithm, tbs);
}

}  // namespace edgeca::crl
