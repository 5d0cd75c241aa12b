// cli/issuer_directory.cpp — opening the issuing CA's data directory.
#include "cli/issuer_directory.h"

#include <fmt/format.h>

#include "ca/errors.h"
#include "ca/files.h"
#include "ca/key_file.h"
#include "ca/key_policy.h"
#include "ca/pkcs11_key.h"

namespace edgeca::cli {

void IssuerDirectory::require_initialised() const {
    if (!std::filesystem::is_directory(dir)) {
        throw ca::Error(ca::ErrorKind::not_found, "directory_missing",
                        fmt::format("the data directory {} does not exist; run 'edgeca init --dir "
                                    "{} --subject ...' first",
                                    dir.string(), dir.string()));
    }
    // A key in a token leaves no issuer.key; init writes the CSR last for either. A store on a
    // server leaves no issuer.db.
    const bool store_here = !store_location(load_config(std::nullopt)).on_server();
    if ((store_here && !std::filesystem::exists(store())) ||
        (!std::filesystem::exists(key()) && !std::filesystem::exists(csr()))) {
        throw ca::Error(ca::ErrorKind::not_found, "not_initialised",
                        fmt::format("{} holds no issuing CA; run 'edgeca init --dir {}' first",
                                    dir.string(), dir.string()));
    }
}

void IssuerDirectory::require_installed() const {
    require_initialised();
    if (!std::filesystem::exists(certificate()) || !std::filesystem::exists(root())) {
        throw ca::Error(ca::ErrorKind::not_found, "not_installed",
                        fmt::format("the issuing CA in {} has no certificate yet: have the root "
                                    "sign {} and run 'edgeca install --dir {} --cert ... --root ...'",
                                    dir.string(), csr().string(), dir.string()));
    }
}

store::StoreLocation IssuerDirectory::store_location(const ServiceConfig& config) const {
    return {.file = store(), .url = effective_store_url(config)};
}

store::Store IssuerDirectory::open_store() const { return open_store(load_config(std::nullopt)); }

store::Store IssuerDirectory::open_store(const ServiceConfig& config) const {
    require_initialised();
    return store::Store::open(store_location(config));
}

ServiceConfig IssuerDirectory::load_config(
    const std::optional<std::filesystem::path>& explicit_path) const {
    if (explicit_path) return cli::load_config(*explicit_path);
    if (std::filesystem::exists(config())) return cli::load_config(config());
    return ServiceConfig{};
}

namespace {

ca::IssuerIdentity identity_for(const IssuerDirectory& d, std::shared_ptr<const Botan::Private_Key> private_key,
                                const std::string& key_name) {
    auto issuer_certificate = ca::parse_certificate_pem(
        ca::read_file(d.certificate(), "the issuing CA certificate"), "the issuing CA certificate");
    auto root_certificate = ca::parse_certificate_pem(ca::read_file(d.root(), "the root certificate"),
                                                      "the root certificate");
    if (private_key->subject_public_key() != issuer_certificate.subject_public_key_info()) {
        throw ca::Error(ca::ErrorKind::bad_input, "key_mismatch",
                        fmt::format("{} does not hold the key of {}", key_name, d.certificate().string()));
    }
    ca::KeyPolicy::check(*private_key, "the issuing CA's key");
    return {std::move(private_key), issuer_certificate, root_certificate, d.load_trust()};
}

}  // namespace

ca::TrustBundle IssuerDirectory::load_trust() const {
    auto root_certificate = ca::parse_certificate_pem(ca::read_file(root(), "the root certificate"),
                                                      "the root certificate");
    if (!std::filesystem::exists(trust())) return {{root_certificate}, {}};
    auto certificates = ca::parse_certificates_pem(ca::read_file(trust(), "the trust bundle"), "the trust bundle");
    return ca::check_trust_bundle(root_certificate, certificates, std::nullopt);
}

ca::IssuerIdentity IssuerDirectory::load_identity(const std::string& passphrase,
                                                  ca::SigningBackend backend) const {
    require_installed();
    std::shared_ptr<const Botan::Private_Key> private_key = ca::load_encrypted_key(key(), passphrase);
    auto identity = identity_for(*this, private_key, key().string());
    identity.key = ca::signing_key(private_key, backend);
    return identity;
}

ca::IssuerIdentity IssuerDirectory::load_identity(const ServiceConfig& config, const TokenKeySettings& given,
                                                  const std::function<std::string()>& passphrase) const {
    auto settings = merge(given, config.token_key);
    if (!settings.in_token()) return load_identity(passphrase(), config.signing_backend);
    require_installed();
    auto location = token_key_location(settings, issuer_pin_env);
    std::shared_ptr<const Botan::Private_Key> private_key = ca::load_token_key(location);
    return identity_for(*this, std::move(private_key), "the token key " + location.uri.describe());
}

}  // namespace edgeca::cli
