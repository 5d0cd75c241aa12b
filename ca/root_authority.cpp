// ca/root_authority.cpp — the root key ceremony and the signing of issuing-CA certificates.
#include "ca/root_authority.h"

#include <fmt/format.h>

#include <algorithm>

#include "ca/certificate_facts.h"
#include "ca/certificate_request.h"
#include "ca/certificate_signer.h"
#include "ca/errors.h"
#include "ca/extensions.h"
#include "ca/encoding.h"
#include "ca/key_policy.h"
#include "ca/revocation_reason.h"
#include "ca/serial_number.h"
#include "store/database.h"

namespace edgeca::ca {
namespace {

// Tries a few serials: a collision with a recorded one is practically impossible at 126 bits,
// but when it happens the database refuses it and a new serial is drawn.
constexpr int serial_attempts = 3;

// The store's settings key for the URLs of the root CRL, one a line.
constexpr const char* crl_urls_setting = "intermediate_crl_urls";

}  // namespace

void check_crl_url(const std::string& url) {
    constexpr std::string_view scheme = "http://";
    const bool printable = std::all_of(url.begin(), url.end(), [](char c) { return c > 0x20 && c < 0x7f; });
    if (!url.starts_with(scheme) || url.size() == scheme.size() || url.size() > 1024 || !printable) {
        throw Error(ErrorKind::bad_input, "crl_url_invalid",
                    fmt::format("'{}' is not a CRL URL: give http://HOST[:PORT]/PATH, printable, without "
                                "spaces, at most 1024 characters",
                                url.size() > 80 ? url.substr(0, 80) + "..." : url));
    }
}

void check_validity_days(int days) {
    if (days < 1 || days > RootAuthority::max_validity_days) {
        throw Error(ErrorKind::bad_input, "validity_invalid",
                    fmt::format("a validity of {} days is out of range: give 1 to {} days", days,
                                RootAuthority::max_validity_days));
    }
}

Botan::X509_Certificate RootAuthority::create(store::Store& store, const Botan::Private_Key& key,
                                              const std::vector<DnAttribute>& subject,
                                              int validity_days, const Clock& clock,
                                              Botan::RandomNumberGenerator& rng,
                                              const std::string& actor) {
    check_validity_days(validity_days);
    KeyPolicy::check(key, "the root key");
    const Time now = clock.now();
    CertificateContent content{
        .serial = SerialNumber::random(rng),
        .subject = build_subject(subject),
        .subject_public_key_info = key.subject_public_key(),
        .not_before = now,
        .not_after = now + std::chrono::days(validity_days),
        .extensions = profile_extensions({.profile = Profile::root,
                                          .subject_key_id = key_identifier(key)}),
    };
    auto certificate = sign_certificate(content, content.subject, key, rng);
    auto record = record_of(certificate, Profile::root, actor, now);
    store.write([&](store::Writer& w) {
        w.insert_certificate(record);
        w.append_audit({actor, "init", to_hex(record.serial), record.fingerprint_sha256, "ok",
                        record.subject});
    });
    return certificate;
}

RootAuthority::RootAuthority(store::Store& store, const Clock& clock,
                             Botan::RandomNumberGenerator& rng,
                             std::unique_ptr<Botan::Private_Key> key,
                             Botan::X509_Certificate certificate)
    : store_(store),
      clock_(clock),
      rng_(rng),
      key_(std::move(key)),
      certificate_(std::move(certificate)) {}

Botan::X509_Certificate RootAuthority::sign_intermediate(std::span<const uint8_t> csr_bytes,
                                                         std::optional<int> validity_days,
                                                         const std::string& actor) {
    try {
        auto csr = CertificateRequest::parse(csr_bytes);
        KeyPolicy::check(csr.key_info(), "the CSR's key");
        auto subject = build_requested_subject(csr.subject());
        int days = validity_days.value_or(default_intermediate_days);
        check_validity_days(days);

        const Time now = clock_.now();
        const Time root_not_before = to_time(certificate_.not_before());
        const Time root_not_after = to_time(certificate_.not_after());
        if (now < root_not_before) {
            throw Error(ErrorKind::unavailable, "clock_behind",
                        fmt::format("the system clock ({}) is earlier than the root's notBefore "
                                    "({}); fix the clock before signing",
                                    to_rfc3339(now), to_rfc3339(root_not_before)));
        }
        if (now >= root_not_after) {
            throw Error(ErrorKind::policy, "issuer_expired",
                        fmt::format("the root expired at {}", to_rfc3339(root_not_after)));
        }
        const Time not_after = std::min(now + std::chrono::days(days), root_not_after);
        const auto crl_urls = intermediate_crl_urls();

        CertificateContent content{
            .serial = SerialNumber::random(rng_),  // drawn again for each attempt
            .subject = subject,
            .subject_public_key_info = csr.public_key_info(),
            .not_before = now,
            .not_after = not_after,
            .extensions = profile_extensions(
                {.profile = Profile::intermediate,
                 .subject_key_id = key_identifier(csr.key_info()),
                 .authority_key_id = certificate_.subject_key_id(),
                 .crl_urls = crl_urls}),
        };
        return sign_and_record(std::move(content), Profile::intermediate, "sign-intermediate", actor,
                               [](const store::CertificateRecord& record) { return record.subject; });
    } catch (const Error& refusal) {
        store_.write([&](store::Writer& w) {
            w.append_audit({actor, "sign-intermediate", "", "", "refused", refusal.code()});
        });
        throw;
    }
}

Botan::X509_Certificate RootAuthority::sign_and_record(
    CertificateContent content, Profile profile, const std::string& action, const std::string& actor,
    const std::function<std::string(const store::CertificateRecord&)>& detail) {
    for (int attempt = 1;; ++attempt) {
        content.serial = SerialNumber::random(rng_);
        auto certificate = sign_certificate(content, certificate_.subject_dn(), *key_, rng_);
        auto record = record_of(certificate, profile, actor, content.not_before);
        try {
            store_.write([&](store::Writer& w) {
                w.insert_certificate(record);
                w.append_audit({actor, action, to_hex(record.serial), record.fingerprint_sha256, "ok", detail(record)});
            });
        } catch (const store::StoreError& e) {
            if (e.constraint_violation() && attempt < serial_attempts) continue;
            throw;
        }
        return certificate;
    }
}

Botan::X509_Certificate RootAuthority::certify_link(const Botan::X509_Certificate& other,
                                                    const std::string& actor) {
    try {
        if (!other.is_self_signed() || !other.is_CA_cert() ||
            !other.check_signature(*other.load_subject_public_key())) {
            throw Error(ErrorKind::bad_input, "root_invalid",
                        "the root to link is not a self-signed CA certificate whose signature verifies");
        }
        if (other.subject_public_key_info() == certificate_.subject_public_key_info()) {
            throw Error(ErrorKind::policy, "same_key", "the new root has the old root's key");
        }
        // Two roots of one name make path builders pick by key identifier alone, and some
        // (OpenSSL's lookup by name, CRL issuer matching) do not: a new root gets a new name.
        if (other.subject_dn() == certificate_.subject_dn()) {
            throw Error(ErrorKind::policy, "same_subject",
                        fmt::format("the new root's subject '{}' is the old root's: give the new root "
                                    "another name (e.g. a generation: \"CN=Acme Root CA G2,...\")",
                                    to_rfc4514(other.subject_dn())));
        }
        const Time now = clock_.now();
        const Time not_after = std::min(to_time(certificate_.not_after()), to_time(other.not_after()));
        if (now < to_time(certificate_.not_before())) {
            throw Error(ErrorKind::unavailable, "clock_behind",
                        fmt::format("the system clock ({}) is earlier than the root's notBefore ({}); "
                                    "fix the clock before signing",
                                    to_rfc3339(now), to_rfc3339(to_time(certificate_.not_before()))));
        }
        if (now >= not_after) {
            throw Error(ErrorKind::policy, "issuer_expired",
                        fmt::format("the roots have no overlap left: one expired at {}", to_rfc3339(not_after)));
        }
        auto other_key = other.load_subject_public_key();
        CertificateContent content{
            .serial = SerialNumber::random(rng_),  // drawn again for each attempt
            .subject = other.subject_dn(),
            .subject_public_key_info = other.subject_public_key_info(),
            .not_before = now,
            .not_after = not_after,
            .extensions = profile_extensions({.profile = Profile::link,
                                              .subject_key_id = key_identifier(*other_key),
                                              .authority_key_id = certificate_.subject_key_id()}),
        };
        return sign_and_record(std::move(content), Profile::link, "link", actor,
                               [](const store::CertificateRecord& record) {
                                   return fmt::format("subject={} spki_sha256={}", record.subject,
                                                      record.spki_sha256);
                               });
    } catch (const Error& refusal) {
        store_.write([&](store::Writer& w) {
            w.append_audit({actor, "link", "", "", "refused", refusal.code()});
        });
        throw;
    }
}

std::vector<std::string> RootAuthority::intermediate_crl_urls() const {
    auto setting = store_.read([](const store::Reader& r) { return r.meta(crl_urls_setting); });
    std::vector<std::string> urls;
    if (!setting) return urls;
    for (size_t start = 0; start < setting->size();) {
        size_t end = setting->find('\n', start);
        if (end == std::string::npos) end = setting->size();
        if (end > start) urls.push_back(setting->substr(start, end - start));
        start = end + 1;
    }
    return urls;
}

void RootAuthority::set_intermediate_crl_urls(const std::vector<std::string>& urls, const std::string& actor) {
    for (const auto& url : urls) check_crl_url(url);
    std::string setting;
    for (const auto& url : urls) setting += url + "\n";
    store_.write([&](store::Writer& w) {
        w.set_meta(crl_urls_setting, setting);
        w.append_audit({actor, "set-crl-url", "", "", "ok", setting.empty() ? "none" : setting.substr(0, setting.size() - 1)});
    });
}

store::CertificateRecord RootAuthority::revoke(std::span<const uint8_t> serial, int reason,
                                              const std::string& actor) {
    const Time now = clock_.now();
    try {
        if (reason_name(reason) == "unknown" || reason == 8) {
            throw Error(ErrorKind::bad_input, "reason_invalid",
                        fmt::format("{} is not a revocation reason", reason));
        }
        return store_.write([&](store::Writer& w) {
            auto record = w.certificate_by_serial(serial);
            if (!record) {
                throw Error(ErrorKind::not_found, "certificate_not_found",
                            fmt::format("the root signed no certificate with serial {}", to_hex(serial)));
            }
            if (record->profile != to_string(Profile::intermediate) &&
                record->profile != to_string(Profile::link)) {
                throw Error(ErrorKind::policy, "not_an_intermediate",
                            "the root revokes the issuing CAs and link certificates it signed, not itself");
            }
            if (!w.revoke_certificate(record->id, now, reason, actor)) {
                throw Error(ErrorKind::conflict, "already_revoked",
                            fmt::format("certificate {} was revoked at {}", to_hex(serial),
                                        to_rfc3339(*record->revoked_at)));
            }
            w.append_audit({actor, "revoke", to_hex(record->serial), record->fingerprint_sha256, "ok",
                            fmt::format("reason={} subject={}", reason_name(reason), record->subject)});
            record->revoked_at = now;
            record->revocation_reason = reason;
            record->revoked_by = actor;
            return *record;
        });
    } catch (const Error& refusal) {
        store_.write([&](store::Writer& w) {
            w.append_audit({actor, "revoke", to_hex(serial), "", "refused", refusal.code()});
        });
        throw;
    }
}

}  // namespace edgeca::ca
