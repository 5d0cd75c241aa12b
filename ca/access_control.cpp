// ca/access_control.cpp — enrollment tokens and the access list, each change audited.
#include "ca/access_control.h"

#include <botan/base64.h>
#include <fmt/format.h>

#include "ca/certificate_facts.h"
#include "ca/encoding.h"
#include "ca/errors.h"
#include "ca/issuing_authority.h"

namespace edgeca::ca {
namespace {

void require_admin(const Caller& caller, std::string_view what) {
    if (!caller.is_admin()) {
        throw Error(ErrorKind::forbidden, "admin_required", fmt::format("only an admin may {}", what));
    }
}

std::string base64url(std::span<const uint8_t> bytes) {
    std::string text = Botan::base64_encode(bytes.data(), bytes.size());
    for (char& c : text) {
        if (c == '+') c = '-';
        if (c == '/') c = '_';
    }
    while (!text.empty() && text.back() == '=') text.pop_back();
    return text;
}

}  // namespace

std::string AccessControl::create_token(const Caller& caller, store::Role role,
                                        std::chrono::seconds ttl) {
    require_admin(caller, "create enrollment tokens");
    if (ttl < std::chrono::seconds(60) || ttl > std::chrono::days(30)) {
        throw Error(ErrorKind::bad_input, "ttl_invalid",
                    "a token lives between one minute and 30 days");
    }
    std::string token = "ect_" + base64url(rng_.random_vec(32));
    const Time now = clock_.now();
    store::EnrollmentToken record{token_digest(token), role, now, now + ttl, caller.principal,
                                  std::nullopt};
    store_.write([&](store::Writer& w) {
        w.insert_enrollment_token(record);
        w.append_audit({caller.principal, "token-create", "", "", "ok",
                        fmt::format("role={} expires={} token_sha256={}", store::to_string(role),
                                    to_rfc3339(record.expires_at),
                                    record.token_sha256.substr(0, 16))});
    });
    return token;
}

std::optional<Caller> AccessControl::caller_for_certificate(
    const std::string& fingerprint_sha256) const {
    const Time now = clock_.now();
    return store_.read([&](const store::Reader& r) -> std::optional<Caller> {
        auto grant = r.access_grant(fingerprint_sha256);
        if (!grant) return std::nullopt;
        auto certificate = r.certificate_by_fingerprint(fingerprint_sha256);
        if (certificate && certificate->status_at(now) != store::CertificateStatus::valid) {
            return std::nullopt;
        }
        return Caller::with_role(grant->principal, grant->role);
    });
}

store::AccessGrant AccessControl::grant(const Caller& caller,
                                        const std::string& fingerprint_sha256, store::Role role,
                                        const std::optional<std::string>& name) {
    require_admin(caller, "grant API access");
    const Time now = clock_.now();
    return store_.write([&](store::Writer& w) {
        auto certificate = w.certificate_by_fingerprint(fingerprint_sha256);
        if (!certificate) {
            throw Error(ErrorKind::not_found, "certificate_not_found",
                        "access is granted only to certificates this CA issued");
        }
        if (certificate->status_at(now) != store::CertificateStatus::valid) {
            throw Error(ErrorKind::policy, "certificate_not_valid",
                        "the certificate is revoked or expired");
        }
        if (certificate->profile == "edge") {
            throw Error(ErrorKind::policy, "profile_not_allowed",
                        "an edge device's certificate is never granted API access");
        }
        store::AccessGrant grant{
            .fingerprint_sha256 = fingerprint_sha256,
            .serial = certificate->serial,
            // The admin names the principal, or the CA makes a fresh one: never the CSR's CN.
            .principal = name ? fmt::format("{}:{}", store::to_string(role), *name)
                              : new_principal_name(role, rng_),
            .role = role,
            .granted_at = now,
            .granted_by = caller.principal,
        };
        w.grant_access(grant);
        w.append_audit({caller.principal, "access-grant", to_hex(certificate->serial),
                        fingerprint_sha256, "ok", grant.principal});
        return grant;
    });
}

bool AccessControl::revoke(const Caller& caller, const std::string& fingerprint_sha256) {
    require_admin(caller, "revoke API access");
    return store_.write([&](store::Writer& w) {
        bool removed = w.revoke_access(fingerprint_sha256);
        w.append_audit({caller.principal, "access-revoke", "", fingerprint_sha256,
                        removed ? "ok" : "refused", removed ? "" : "no_such_grant"});
        return removed;
    });
}

std::vector<store::AccessGrant> AccessControl::grants() const {
    return store_.read([](const store::Reader& r) { return r.access_grants(); });
}

}  // namespace edgeca::ca
