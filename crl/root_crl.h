// crl/root_crl.h — the root's CRL, signed offline by edgeca-root and carried to the online
// service, which accepts it only when the root signed it and serves it beside its own.
#pragma once

#include <botan/x509cert.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>

#include "ca/clock.h"
#include "crl/crl_publisher.h"

namespace edgeca::crl {

// Reads a CRL (PEM or DER) and checks that it is the root's: issued by the root's subject and
// signed by the root's key. Error(bad_input, "crl_invalid" | "crl_not_by_root") otherwise.
// `revocations` of the result is 0: it is not a CRL of this store.
PublishedCrl read_root_crl(std::span<const uint8_t> bytes, const Botan::X509_Certificate& root);

// read_root_crl, and the CRL is current: thisUpdate not after `now` (Error(policy,
// "crl_not_yet_valid")) and nextUpdate after it (Error(policy, "crl_expired")). Then the DER
// is written to `file` (mode 0644, atomically).
// A CRL whose number is lower than the installed one's is Error(conflict, "crl_older"): a
// replayed old CRL would un-revoke an issuing CA. Returns what was installed.
PublishedCrl install_root_crl(const std::filesystem::path& file, std::span<const uint8_t> bytes,
                              const Botan::X509_Certificate& root, ca::Time now);

// The installed root CRL as the service serves it: read at start and again whenever the file
// changes (edgeca root-crl install while the service runs), each time checked against the
// root (read_root_crl). A file that fails the check is not served; the copy before it stays.
// One past its nextUpdate is still served (it still lists the revoked issuing CAs): the
// freshness warning is how it gets noticed.
class RootCrlFile {
public:
    RootCrlFile(std::filesystem::path file, const Botan::X509_Certificate& root);

    struct Reload {
        bool changed = false;       // a new CRL is served
        std::optional<std::string> refused;  // the file changed but failed the check: why
    };
    // Looks at the file (its size and modification time) and loads it when it changed.
    Reload reload();
    std::shared_ptr<const PublishedCrl> current() const;
    const std::filesystem::path& file() const { return file_; }

private:
    std::filesystem::path file_;
    const Botan::X509_Certificate& root_;
    std::optional<std::pair<std::filesystem::file_time_type, std::uintmax_t>> seen_;
    mutable std::mutex mutex_;
    std::shared_ptr<const PublishedCrl> current_;
};

enum class Freshness { fresh, due_soon, expired };
// expired from nextUpdate on; due_soon within `warn_before` of it.
Freshness freshness(const PublishedCrl& crl, ca::Time now, std::chrono::seconds warn_before);
const char* to_string(Freshness f);

}  // namespace edgeca::crl
