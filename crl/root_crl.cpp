// crl/root_crl.cpp — checking, installing and reloading the root's CRL on the issuing side.
#include "crl/root_crl.h"

#include <botan/pkix_types.h>
#include <botan/x509_crl.h>
#include <fmt/format.h>

#include "ca/certificate_facts.h"
#include "ca/distinguished_name.h"
#include "ca/encoding.h"
#include "ca/errors.h"
#include "ca/files.h"

namespace edgeca::crl {

PublishedCrl read_root_crl(std::span<const uint8_t> bytes, const Botan::X509_Certificate& root) {
    std::optional<Botan::X509_CRL> parsed;
    try {
        parsed.emplace(std::vector<uint8_t>(bytes.begin(), bytes.end()));
    } catch (const std::exception& e) {
        throw ca::Error(ca::ErrorKind::bad_input, "crl_invalid", fmt::format("not a CRL (PEM or DER): {}", e.what()));
    }
    const Botan::X509_CRL& crl = *parsed;
    if (!(crl.issuer_dn() == root.subject_dn())) {
        throw ca::Error(ca::ErrorKind::bad_input, "crl_not_by_root",
                        fmt::format("the CRL's issuer is {}, not the root {}", ca::to_rfc4514(crl.issuer_dn()),
                                    ca::to_rfc4514(root.subject_dn())));
    }
    if (!crl.check_signature(*root.load_subject_public_key())) {
        throw ca::Error(ca::ErrorKind::bad_input, "crl_not_by_root",
                        "the CRL's signature does not verify under the root's key");
    }
    PublishedCrl out;
    out.number = crl.crl_number();
    out.this_update = ca::to_time(crl.this_update());
    out.next_update = ca::to_time(crl.next_update());
    out.entries = static_cast<int64_t>(crl.get_revoked().size());
    out.der = crl.BER_encode();
    out.pem = crl_pem(out.der);
    return out;
}

PublishedCrl install_root_crl(const std::filesystem::path& file, std::span<const uint8_t> bytes,
                              const Botan::X509_Certificate& root, ca::Time now) {
    auto crl = read_root_crl(bytes, root);
    if (now < crl.this_update) {
        throw ca::Error(ca::ErrorKind::policy, "crl_not_yet_valid",
                        fmt::format("the CRL's thisUpdate {} is later than now ({}): check the clocks",
                                    ca::to_rfc3339(crl.this_update), ca::to_rfc3339(now)));
    }
    if (now >= crl.next_update) {
        throw ca::Error(ca::ErrorKind::policy, "crl_expired",
                        fmt::format("the CRL's nextUpdate {} has passed: sign a new one with edgeca-root crl",
                                    ca::to_rfc3339(crl.next_update)));
    }
    if (std::filesystem::exists(file)) {
        auto installed = ca::read_file(file, "the installed root CRL", 64 << 20);
        try {
            Botan::X509_CRL previous(std::vector<uint8_t>(installed.begin(), installed.end()));
            if (static_cast<int64_t>(previous.crl_number()) > crl.number) {
                throw ca::Error(ca::ErrorKind::conflict, "crl_older",
                                fmt::format("the installed root CRL is number {}, this one {}: an older CRL "
                                            "is never installed over a newer one",
                                            previous.crl_number(), crl.number));
            }
        } catch (const Botan::Exception&) {
            // An unreadable installed file is replaced.
        }
    }
    ca::write_file_atomically(file, std::string_view(reinterpret_cast<const char*>(crl.der.data()), crl.der.size()),
                              0644);
    return crl;
}

RootCrlFile::RootCrlFile(std::filesystem::path file, const Botan::X509_Certificate& root)
    : file_(std::move(file)), root_(root) {}

RootCrlFile::Reload RootCrlFile::reload() {
    std::error_code ec;
    auto modified = std::filesystem::last_write_time(file_, ec);
    if (ec) return {};  // none installed (yet)
    auto size = std::filesystem::file_size(file_, ec);
    if (ec) return {};
    if (seen_ && seen_->first == modified && seen_->second == size) return {};
    seen_ = std::pair{modified, size};
    try {
        auto bytes = ca::read_file(file_, "the root CRL", 64 << 20);
        auto crl = std::make_shared<PublishedCrl>(
            read_root_crl(std::span(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()), root_));
        std::lock_guard lock(mutex_);
        current_ = std::move(crl);
        return {.changed = true};
    } catch (const ca::Error& e) {
        return {.refused = e.what()};
    }
}

std::shared_ptr<const PublishedCrl> RootCrlFile::current() const {
    std::lock_guard lock(mutex_);
    return current_;
}

Freshness freshness(const PublishedCrl& crl, ca::Time now, std::chrono::seconds warn_before) {
    if (now >= crl.next_update) return Freshness::expired;
    if (now >= crl.next_update - warn_before) return Freshness::due_soon;
    return Freshness::fresh;
}

const char* to_string(Freshness f) {
    switch (f) {
        case Freshness::fresh: return "fresh";
        case Freshness::due_soon: return "due_soon";
        case Freshness::expired: return "expired";
    }
    return "unknown";
}

}  // namespace edgeca::crl
