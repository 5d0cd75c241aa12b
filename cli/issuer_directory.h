// cli/issuer_directory.h — the issuing CA's data directory: what lives where, and opening it.
#pragma once

#include <botan/rng.h>

#include <filesystem>
#include <functional>
#include <optional>
#include <string>

#include "ca/issuer_identity.h"
#include "ca/openssl_signing_key.h"
#include "cli/config.h"
#include "cli/console.h"
#include "store/store.h"

namespace edgeca::cli {

struct IssuerDirectory {
    std::filesystem::path dir;

    std::filesystem::path key() const { return dir / "issuer.key"; }
    std::filesystem::path csr() const { return dir / "issuer.csr"; }
    std::filesystem::path certificate() const { return dir / "issuer.pem"; }
    std::filesystem::path root() const { return dir / "root.pem"; }
    std::filesystem::path chain() const { return dir / "chain.pem"; }
    // The trust bundle of a root rollover (edgeca trust add), served at /trust.pem.
    std::filesystem::path trust() const { return dir / "trust.pem"; }
    std::filesystem::path store() const { return dir / "issuer.db"; }  // the SQLite store
    std::filesystem::path config() const { return dir / "edgeca.toml"; }
    std::filesystem::path tls() const { return dir / "tls"; }
    std::filesystem::path crl() const { return dir / "crl"; }
    // The root's CRL as edgeca root-crl install left it (DER), served at /root.crl.
    std::filesystem::path root_crl() const { return dir / "root-crl.der"; }
    // Issuing CA generation N >= 2 (edgeca issuer new): issuer.key, issuer.csr, issuer.pem in
    // issuers/N; generation 1 stays at the top of the directory.
    std::filesystem::path generation(int64_t id) const { return dir / "issuers" / std::to_string(id); }

    // Throws Error(not_found) naming the step that was missed (init, install).
    void require_initialised() const;
    void require_installed() const;

    // Where the store is: EDGECA_STORE_URL, else [store] url of `config`, else issuer.db here.
    store::StoreLocation store_location(const ServiceConfig& config) const;
    // The store, as the directory's own configuration (or `config`) places it.
    store::Store open_store() const;
    store::Store open_store(const ServiceConfig& config) const;
    // The configuration: `explicit_path` if given, else edgeca.toml in the directory if there,
    // else the defaults.
    ServiceConfig load_config(const std::optional<std::filesystem::path>& explicit_path) const;
    // root.pem and, when there is one, the trust bundle, checked (without the links' validity).
    ca::TrustBundle load_trust() const;
    // Loads the certificates and, with the passphrase, the key; checks that they belong together.
    // The key signs with `backend`.
    ca::IssuerIdentity load_identity(const std::string& passphrase,
                                     ca::SigningBackend backend = ca::SigningBackend::botan) const;
    // The same, with the key where the settings put it: in the token that `given` (the command
    // line) or else `config` names, or else in issuer.key, opened with `passphrase()` (asked
    // for only then). A token key signs in its token whatever the signing backend.
    ca::IssuerIdentity load_identity(const ServiceConfig& config, const TokenKeySettings& given,
                                     const std::function<std::string()>& passphrase) const;
};

// The environment variable a token's user PIN may come from.
inline constexpr const char* issuer_pin_env = "EDGECA_PKCS11_PIN";

inline PassphraseSource issuer_passphrase(const std::optional<std::filesystem::path>& file) {
    return {file, "EDGECA_PASSPHRASE", "Issuing CA key passphrase"};
}

}  // namespace edgeca::cli
