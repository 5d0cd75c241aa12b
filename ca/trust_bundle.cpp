// ca/trust_bundle.cpp — checking a trust bundle the way a device will follow it: from the
// anchor, through link certificates, to every other root.
#include "ca/trust_bundle.h"

#include <botan/pk_keys.h>
#include <botan/pkix_types.h>
#include <fmt/format.h>

#include <algorithm>

#include "ca/certificate_facts.h"
#include "ca/distinguished_name.h"
#include "ca/encoding.h"
#include "ca/errors.h"

namespace edgeca::ca {
namespace {

[[noreturn]] void refuse(const Botan::X509_Certificate& c, const std::string& why,
                         std::string code = "trust_bundle_invalid") {
    throw Error(ErrorKind::policy, std::move(code),
                fmt::format("'{}' (SHA-256 {}): {}", to_rfc4514(c.subject_dn()),
                            sha256_hex(c.BER_encode()).substr(0, 16), why));
}

bool same_root(const Botan::X509_Certificate& link, const Botan::X509_Certificate& root) {
    return link.subject_dn() == root.subject_dn() &&
           link.subject_public_key_info() == root.subject_public_key_info();
}

bool signed_by(const Botan::X509_Certificate& c, const Botan::X509_Certificate& root) {
    return c.issuer_dn() == root.subject_dn() && c.check_signature(*root.load_subject_public_key());
}

}  // namespace

std::vector<Botan::X509_Certificate> TrustBundle::links_to(
    const Botan::X509_Certificate& root) const {
    std::vector<Botan::X509_Certificate> out;
    for (const auto& link : links) {
        if (same_root(link, root)) out.push_back(link);
    }
    return out;
}

std::string TrustBundle::pem() const {
    std::string out;
    for (const auto* group : {&roots, &links}) {
        for (const auto& c : *group) out += encode_pem(c.BER_encode(), "CERTIFICATE");
    }
    return out;
}

std::vector<Botan::X509_Certificate> parse_certificates_pem(std::string_view text,
                                                            std::string_view what) {
    std::vector<Botan::X509_Certificate> out;
    for (const auto& block : decode_pem_blocks(text, what)) {
        if (block.label != "CERTIFICATE") {
            throw Error(ErrorKind::bad_input, "certificate_malformed",
                        fmt::format("{} holds a {} block; only CERTIFICATE blocks belong there",
                                    what, block.label));
        }
        try {
            out.emplace_back(block.der);
        } catch (const std::exception& e) {
            throw Error(ErrorKind::bad_input, "certificate_malformed",
                        fmt::format("{} holds an invalid X.509 certificate: {}", what, e.what()));
        }
    }
    if (out.empty()) {
        throw Error(ErrorKind::bad_input, "certificate_malformed",
                    fmt::format("{} holds no certificate", what));
    }
    return out;
}

TrustBundle check_trust_bundle(const Botan::X509_Certificate& anchor,
                               const std::vector<Botan::X509_Certificate>& certificates,
                               std::optional<Time> now) {
    std::vector<Botan::X509_Certificate> all{anchor};
    for (const auto& c : certificates) {
        if (std::none_of(all.begin(), all.end(), [&](const auto& seen) { return seen == c; }))
            all.push_back(c);
    }
    std::vector<Botan::X509_Certificate> roots;
    std::vector<Botan::X509_Certificate> links;
    for (const auto& c : all) {
        if (!c.is_CA_cert() || !c.allowed_usage(Botan::KEY_CERT_SIGN)) {
            refuse(c,
                   "not a CA certificate with keyCertSign; a trust bundle holds roots and link "
                   "certificates only");
        }
        if (c.is_self_signed()) {
            if (!c.check_signature(*c.load_subject_public_key()))
                refuse(c, "its self-signature does not verify");
            roots.push_back(c);
        } else {
            links.push_back(c);
        }
    }
    for (const auto& link : links) {
        if (std::none_of(roots.begin(), roots.end(),
                         [&](const auto& r) { return same_root(link, r); })) {
            refuse(link,
                   "a link certificate that certifies no root in the bundle (add the root it "
                   "certifies too)");
        }
        if (std::none_of(roots.begin(), roots.end(),
                         [&](const auto& r) { return signed_by(link, r); })) {
            refuse(link, "a link certificate not signed by any root in the bundle");
        }
        if (now && (*now < to_time(link.not_before()) || *now > to_time(link.not_after()))) {
            refuse(link,
                   fmt::format("a link certificate valid from {} to {}, not now ({})",
                               to_rfc3339(to_time(link.not_before())),
                               to_rfc3339(to_time(link.not_after())), to_rfc3339(*now)),
                   "link_not_current");
        }
    }
    // The roots a device trusting the anchor can reach, in the order it reaches them.
    TrustBundle bundle;
    bundle.roots.push_back(anchor);
    for (bool grew = true; grew;) {
        grew = false;
        for (const auto& root : roots) {
            if (std::find(bundle.roots.begin(), bundle.roots.end(), root) != bundle.roots.end())
                continue;
            for (const auto& link : links) {
                if (!same_root(link, root)) continue;
                if (std::any_of(bundle.roots.begin(), bundle.roots.end(),
                                [&](const auto& r) { return signed_by(link, r); })) {
                    bundle.roots.push_back(root);
                    grew = true;
                    break;
                }
            }
        }
    }
    for (const auto& root : roots) {
        if (std::find(bundle.roots.begin(), bundle.roots.end(), root) == bundle.roots.end()) {
            refuse(root, "a root that no link certificate chains to the issuing CA's root");
        }
    }
    bundle.links = std::move(links);
    return bundle;
}

}  // namespace edgeca::ca
