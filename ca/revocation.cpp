// ca/revocation.cpp — revocation rules, each change in one transaction with its audit entry.
#include <fmt/format.h>

#include "ca/certificate_facts.h"
#include "ca/encoding.h"
#include "ca/errors.h"
#include "ca/revocation.h"
#include "ca/revocation_reason.h"

namespace edgeca::ca {
namespace {

void check_reason(int reason) {
    if (reason_name(reason) == "unknown" || reason == 8) {
        throw Error(ErrorKind::bad_input, "reason_invalid",
                    fmt::format("{} is not a revocation reason (RFC 5280: 0-6, 9, 10)", reason));
    }
}

bool may_revoke(const Caller& caller, const store::CertificateRecord& record) {
    return caller.is_admin() || (caller.is_hub() && record.requester == caller.principal);
}

void require_revoker(const Caller& caller) {
    if (!caller.is_admin() && !caller.is_hub()) {
        throw Error(ErrorKind::unauthenticated, "authentication_required",
                    "present a client certificate on the access list");
    }
}

// Revokes inside the caller's transaction and writes the audit entry; false if it was revoked.
bool revoke_one(store::Writer& w, const store::CertificateRecord& record, Time now, int reason,
                const Caller& caller) {
    if (!w.revoke_certificate(record.id, now, reason, caller.principal)) return false;
    w.append_audit({caller.principal, "revoke", to_hex(record.serial), record.fingerprint_sha256,
                    "ok", fmt::format("reason={} profile={}{}", reason_name(reason), record.profile,
                                      record.device_key ? " device=" + *record.device_key : "")});
    return true;
}

// Revoking a hub's identity ends the hub: every other valid certificate granted to its
// principal (its renewed hub certificates and the client certificates it minted) is revoked
// with it, so that nothing the hub could do outlives it. Two revocations leave the principal
// alive: `superseded` (the hub replaced the certificate) and the hub itself retiring one of its
// client certificates.
bool ends_principal(const Caller& caller, const store::CertificateRecord& record,
                    const store::AccessGrant& grant, int reason) {
    if (grant.role != store::Role::hub || reason == reason_superseded) return false;
    return record.profile == "hub" || caller.principal != grant.principal;
}

store::CertificateRecord revoked_copy(store::CertificateRecord record, Time now, int reason,
                                      const Caller& caller) {
    record.revoked_at = now;
    record.revocation_reason = reason;
    record.revoked_by = caller.principal;
    return record;
}

}  // namespace

std::vector<store::CertificateRecord> Revoker::revoke(const Caller& caller,
                                                               std::span<const uint8_t> serial,
                                                               int reason) {
    const Time now = clock_.now();
    std::vector<store::CertificateRecord> revoked;
    try {
        require_revoker(caller);
        check_reason(reason);
        store_.write([&](store::Writer& w) {
            auto record = w.certificate_by_serial(serial);
            auto grant = record ? w.access_grant(record->fingerprint_sha256) : std::nullopt;
            // A hub may also revoke a certificate granted to its principal that an admin asked for.
            bool own_credential = caller.is_hub() && grant && grant->principal == caller.principal;
            if (!record || !(may_revoke(caller, *record) || own_credential)) {
                throw Error(ErrorKind::not_found, "certificate_not_found",
                            fmt::format("no certificate with serial {}", to_hex(serial)));
            }
            if (record->revoked_at) {
                throw Error(ErrorKind::conflict, "already_revoked",
                            fmt::format("certificate {} was revoked at {} ({})", to_hex(serial),
                                        to_rfc3339(*record->revoked_at),
                                        reason_name(record->revocation_reason.value_or(0))));
            }
            revoke_one(w, *record, now, reason, caller);
            revoked.push_back(revoked_copy(*record, now, reason, caller));
            if (grant && ends_principal(caller, *record, *grant, reason)) {
                for (const auto& other : w.access_grants_of(grant->principal)) {
                    auto credential = w.certificate_by_fingerprint(other.fingerprint_sha256);
                    if (!credential || credential->id == record->id ||
                        credential->status_at(now) != store::CertificateStatus::valid) {
                        continue;
                    }
                    if (revoke_one(w, *credential, now, reason, caller)) {
                        revoked.push_back(revoked_copy(*credential, now, reason, caller));
                    }
                }
            }
            if (reason == reason_key_compromise) {
                for (const auto& same_key : w.certificates_with_key(record->spki_sha256)) {
                    if (same_key.id == record->id || same_key.status_at(now) != store::CertificateStatus::valid) {
                        continue;
                    }
                    if (revoke_one(w, same_key, now, reason, caller)) {
                        revoked.push_back(revoked_copy(same_key, now, reason, caller));
                    }
                }
            }
        });
    } catch (const Error& refusal) {
        store_.write([&](store::Writer& w) {
            w.append_audit({caller.principal, "revoke", to_hex(serial), "", "refused", refusal.code()});
        });
        throw;
    }
    if (listener_) listener_();
    return revoked;
}

std::vector<store::CertificateRecord> Revoker::revoke_device(const Caller& caller,
                                                                      const std::string& device_key,
                                                                      int reason) {
    const Time now = clock_.now();
    std::vector<store::CertificateRecord> revoked;
    try {
        require_revoker(caller);
        check_reason(reason);
        store_.write([&](store::Writer& w) {
            auto device = w.device(device_key);
            // Another owner's device is reported as missing, so that its existence does not leak.
            if (!device || (!caller.is_admin() && device->owner && *device->owner != caller.principal)) {
                throw Error(ErrorKind::not_found, "device_not_found",
                            fmt::format("device '{}' is not registered", device_key.substr(0, 64)));
            }
            store::CertificateFilter filter{.device_key = device_key,
                                            .status = store::CertificateStatus::valid,
                                            .now = now,
                                            .limit = 100000};
            for (const auto& record : w.certificates(filter)) {
                if (may_revoke(caller, record) && revoke_one(w, record, now, reason, caller)) {
                    revoked.push_back(revoked_copy(record, now, reason, caller));
                }
            }
        });
    } catch (const Error& refusal) {
        store_.write([&](store::Writer& w) {
            w.append_audit({caller.principal, "revoke-device", "", "", "refused",
                            fmt::format("{} device={}", refusal.code(), device_key.substr(0, 64))});
        });
        throw;
    }
    if (!revoked.empty() && listener_) listener_();
    return revoked;
}

}  // namespace edgeca::ca
