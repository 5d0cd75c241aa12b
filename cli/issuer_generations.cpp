// cli/issuer_generations.cpp — the issuing CAs of one directory across rotations.
#include "cli/issuer_generations.h"

#include <fmt/format.h>

#include "ca/certificate_facts.h"
#include "ca/distinguished_name.h"
#include "ca/encoding.h"
#include "ca/errors.h"
#include "ca/files.h"
#include "ca/key_file.h"
#include "ca/key_policy.h"

namespace edgeca::cli {

store::IssuerRecord issuer_record(int64_t id, const Botan::X509_Certificate& certificate, ca::Time now) {
    return {.id = id,
            .der = certificate.BER_encode(),
            .subject = ca::to_rfc4514(certificate.subject_dn()),
            .spki_sha256 = ca::sha256_hex(certificate.subject_public_key_info()),
            .not_after = ca::to_time(certificate.not_after()),
            .activated_at = now,
            .retired_at = std::nullopt};
}

void record_first_issuer(const IssuerDirectory& d, store::Store& store) {
    if (!std::filesystem::exists(d.certificate())) return;
    if (store.read([](const store::Reader& r) { return r.issuer(1).has_value(); })) return;
    auto certificate = ca::parse_certificate_pem(ca::read_file(d.certificate(), "the issuing CA certificate"),
                                                 "the issuing CA certificate");
    const auto record = issuer_record(1, certificate, ca::to_time(certificate.not_before()));
    try {
        store.write([&](store::Writer& w) {
            if (!w.issuer(1)) w.insert_issuer(record);
        });
    } catch (const store::StoreError& e) {
        // Another node or command recorded it meanwhile.
        if (!e.constraint_violation()) throw;
    }
}

std::vector<store::IssuerRecord> current_issuers(store::Store& store) {
    auto all = store.read([](const store::Reader& r) { return r.issuers(); });
    std::erase_if(all, [](const store::IssuerRecord& i) { return i.retired_at.has_value(); });
    return all;
}

std::vector<Botan::X509_Certificate> roots_named_by(const ca::TrustBundle& trust,
                                                   const Botan::X509_Certificate& certificate) {
    std::vector<Botan::X509_Certificate> roots;
    for (const auto& root : trust.roots) {
        if (root.subject_dn() == certificate.issuer_dn()) roots.push_back(root);
    }
    return roots;
}

ca::IssuerIdentity load_generation(const IssuerDirectory& d, const store::IssuerRecord& record,
                                   const ca::TrustBundle& trust, const std::string& passphrase,
                                   ca::SigningBackend backend) {
    const auto key_path = d.generation(record.id) / "issuer.key";
    std::shared_ptr<const Botan::Private_Key> key = ca::load_encrypted_key(key_path, passphrase);
    Botan::X509_Certificate certificate(record.der);
    if (key->subject_public_key() != certificate.subject_public_key_info()) {
        throw ca::Error(ca::ErrorKind::bad_input, "key_mismatch",
                        fmt::format("{} does not hold the key of issuing CA {}", key_path.string(), record.id));
    }
    ca::KeyPolicy::check(*key, "the issuing CA's key");
    std::optional<Botan::X509_Certificate> root;
    for (const auto& candidate : roots_named_by(trust, certificate)) {
        if (certificate.check_signature(*candidate.load_subject_public_key())) root = candidate;
    }
    if (!root) {
        throw ca::Error(ca::ErrorKind::not_found, "issuer_root_missing",
                        fmt::format("no root this directory trusts signed issuing CA {} ({}); "
                                    "install the root with edgeca trust add",
                                    record.id, record.subject));
    }
    ca::IssuerIdentity identity{ca::signing_key(key, backend), certificate, *root, trust};
    identity.id = record.id;
    return identity;
}

}  // namespace edgeca::cli
