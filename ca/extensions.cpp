// ca/extensions.cpp — profile extensions; CRL Distribution Points, AIA caIssuers and the
// subjectAltName are encoded here because Botan 2.19 cannot encode the first, writes only an
// OCSP URL for the second and only IPv4 addresses in the third.
#include "ca/extensions.h"

#include <botan/asn1_obj.h>
#include <botan/der_enc.h>
#include <botan/hash.h>
#include <botan/x509_ext.h>

#include "ca/errors.h"

namespace edgeca::ca {
namespace {

using Botan::ASN1_Tag;

// A URI GeneralName: [6] IMPLICIT IA5String.
void encode_uri(Botan::DER_Encoder& der, const std::string& uri) {
    der.add_object(ASN1_Tag(6), Botan::CONTEXT_SPECIFIC, uri);
}

class CrlDistributionPoints final : public Botan::Certificate_Extension {
public:
    explicit CrlDistributionPoints(std::vector<std::string> urls) : urls_(std::move(urls)) {}
    static Botan::OID static_oid() { return Botan::OID("2.5.29.31"); }
    Botan::OID oid_of() const override { return static_oid(); }
    std::string oid_name() const override { return "X509v3.CRLDistributionPoints"; }
    Certificate_Extension* copy() const override { return new CrlDistributionPoints(urls_); }
    void contents_to(Botan::Data_Store&, Botan::Data_Store&) const override {}

private:
    // SEQUENCE OF DistributionPoint { distributionPoint [0] { fullName [0] { URI } } }, one
    // point per URL.
    std::vector<uint8_t> encode_inner() const override {
        std::vector<uint8_t> out;
        Botan::DER_Encoder der(out);
        der.start_cons(Botan::SEQUENCE);
        for (const auto& url : urls_) {
            der.start_cons(Botan::SEQUENCE)
                .start_cons(ASN1_Tag(0), Botan::CONTEXT_SPECIFIC)
                .start_cons(ASN1_Tag(0), Botan::CONTEXT_SPECIFIC);
            encode_uri(der, url);
            der.end_cons().end_cons().end_cons();
        }
        der.end_cons();
        return out;
    }
    void decode_inner(const std::vector<uint8_t>&) override {
        throw Error(ErrorKind::internal, "internal", "CRL DP decoding is left to Botan");
    }

    std::vector<std::string> urls_;
};

class AuthorityInfoAccess final : public Botan::Certificate_Extension {
public:
    explicit AuthorityInfoAccess(std::vector<std::string> ca_issuers)
        : ca_issuers_(std::move(ca_issuers)) {}
    static Botan::OID static_oid() { return Botan::OID("1.3.6.1.5.5.7.1.1"); }
    Botan::OID oid_of() const override { return static_oid(); }
    std::string oid_name() const override { return "PKIX.AuthorityInformationAccess"; }
    Certificate_Extension* copy() const override { return new AuthorityInfoAccess(ca_issuers_); }
    void contents_to(Botan::Data_Store&, Botan::Data_Store&) const override {}

private:
    // SEQUENCE OF AccessDescription { id-ad-caIssuers, URI }
    std::vector<uint8_t> encode_inner() const override {
        static const Botan::OID ca_issuers("1.3.6.1.5.5.7.48.2");
        std::vector<uint8_t> out;
        Botan::DER_Encoder der(out);
        der.start_cons(Botan::SEQUENCE);
        for (const auto& url : ca_issuers_) {
            der.start_cons(Botan::SEQUENCE).encode(ca_issuers);
            encode_uri(der, url);
            der.end_cons();
        }
        der.end_cons();
        return out;
    }
    void decode_inner(const std::vector<uint8_t>&) override {
        throw Error(ErrorKind::internal, "internal", "AIA decoding is left to Botan");
    }

    std::vector<std::string> ca_issuers_;
};

// Botan 2.19's AlternativeName writes IPv4 addresses only.
class SubjectAlternativeName final : public Botan::Certificate_Extension {
public:
    SubjectAlternativeName(std::vector<std::string> dns_names, std::vector<IpAddress> ip_addresses)
        : dns_names_(std::move(dns_names)), ip_addresses_(std::move(ip_addresses)) {}
    static Botan::OID static_oid() { return Botan::OID("2.5.29.17"); }
    Botan::OID oid_of() const override { return static_oid(); }
    std::string oid_name() const override { return "X509v3.SubjectAlternativeName"; }
    Certificate_Extension* copy() const override {
        return new SubjectAlternativeName(dns_names_, ip_addresses_);
    }
    void contents_to(Botan::Data_Store&, Botan::Data_Store&) const override {}

private:
    // GeneralNames: dNSName [2] IA5String, then iPAddress [7] OCTET STRING of 4 or 16 bytes.
    std::vector<uint8_t> encode_inner() const override {
        std::vector<uint8_t> out;
        Botan::DER_Encoder der(out);
        der.start_cons(Botan::SEQUENCE);
        for (const auto& name : dns_names_) der.add_object(ASN1_Tag(2), Botan::CONTEXT_SPECIFIC, name);
        for (const auto& ip : ip_addresses_) {
            der.add_object(ASN1_Tag(7), Botan::CONTEXT_SPECIFIC, ip.bytes.data(), ip.bytes.size());
        }
        der.end_cons();
        return out;
    }
    void decode_inner(const std::vector<uint8_t>&) override {
        throw Error(ErrorKind::internal, "internal", "SAN decoding is left to Botan");
    }

    std::vector<std::string> dns_names_;
    std::vector<IpAddress> ip_addresses_;
};

const Botan::OID server_auth("1.3.6.1.5.5.7.3.1");
const Botan::OID client_auth("1.3.6.1.5.5.7.3.2");

}  // namespace

std::vector<uint8_t> key_identifier(const PublicKeyInfo& key) {
    auto sha1 = Botan::HashFunction::create_or_throw("SHA-1");
    sha1->update(key.key_bits);
    auto digest = sha1->final();
    return {digest.begin(), digest.end()};
}

std::vector<uint8_t> key_identifier(const Botan::Public_Key& key) { return key_identifier(PublicKeyInfo::of(key)); }

Botan::Extensions profile_extensions(const ExtensionInputs& in) {
    using namespace Botan::Cert_Extension;
    Botan::Extensions extensions;
    const bool critical = true;
    switch (in.profile) {
        case Profile::root:
            extensions.add(new Basic_Constraints(true, NO_CERT_PATH_LIMIT), critical);
            extensions.add(new Key_Usage(Botan::Key_Constraints(Botan::KEY_CERT_SIGN |
                                                                Botan::CRL_SIGN)),
                           critical);
            extensions.add(new Subject_Key_ID(in.subject_key_id));
            return extensions;
        case Profile::link:
            // As the certified root's own certificate, with the signing root's key identifier:
            // no path length, so that issuing CAs under the certified root stay reachable.
            extensions.add(new Basic_Constraints(true, NO_CERT_PATH_LIMIT), critical);
            extensions.add(new Key_Usage(Botan::Key_Constraints(Botan::KEY_CERT_SIGN |
                                                                Botan::CRL_SIGN)),
                           critical);
            extensions.add(new Subject_Key_ID(in.subject_key_id));
            extensions.add(new Authority_Key_ID(in.authority_key_id));
            return extensions;
        case Profile::intermediate:
            extensions.add(new Basic_Constraints(true, 0), critical);
            extensions.add(new Key_Usage(Botan::Key_Constraints(Botan::KEY_CERT_SIGN |
                                                                Botan::CRL_SIGN)),
                           critical);
            extensions.add(new Subject_Key_ID(in.subject_key_id));
            extensions.add(new Authority_Key_ID(in.authority_key_id));
            // Where the root's CRL is: without it a verifier that fetches CRLs from distribution
            // points (Java's PKIX) cannot learn the issuing CA's status and refuses every path.
            if (!in.crl_urls.empty()) extensions.add(new CrlDistributionPoints(in.crl_urls));
            return extensions;
        case Profile::edge:
        case Profile::hub:
        case Profile::client:
        case Profile::server:
            break;
    }

    extensions.add(new Basic_Constraints(false), critical);
    extensions.add(new Key_Usage(Botan::Key_Constraints(Botan::DIGITAL_SIGNATURE |
                                                        Botan::KEY_ENCIPHERMENT)),
                   critical);
    std::vector<Botan::OID> usages;
    if (in.profile == Profile::hub || in.profile == Profile::server) usages.push_back(server_auth);
    if (in.profile != Profile::server) usages.push_back(client_auth);
    extensions.add(new Extended_Key_Usage(usages));
    extensions.add(new Subject_Key_ID(in.subject_key_id));
    extensions.add(new Authority_Key_ID(in.authority_key_id));
    if (!in.dns_names.empty() || !in.ip_addresses.empty()) {
        extensions.add(new SubjectAlternativeName(in.dns_names, in.ip_addresses));
    }
    if (!in.crl_urls.empty()) extensions.add(new CrlDistributionPoints(in.crl_urls));
    if (!in.ca_issuer_urls.empty()) extensions.add(new AuthorityInfoAccess(in.ca_issuer_urls));
    return extensions;
}

}  // namespace edgeca::ca
