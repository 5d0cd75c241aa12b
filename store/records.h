// store/records.h — the rows the store keeps, as value types.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace edgeca::store {

using Time = std::chrono::sys_seconds;

enum class CertificateStatus { valid, revoked, expired };

const char* to_string(CertificateStatus status);
std::optional<CertificateStatus> certificate_status_from_string(const std::string& text);

// One certificate this authority signed, with who asked for it and what it is bound to.
struct CertificateRecord {
    int64_t id = 0;                // numeric handle, stable and never reused (EnOS certSN)
    std::vector<uint8_t> serial;   // big-endian magnitude of the X.509 serial number
    std::string profile;           // root, intermediate, edge, hub, client, server
    std::string subject;           // RFC 4514 form
    std::string common_name;
    std::optional<std::string> product_key;
    std::optional<std::string> device_key;
    std::optional<std::string> asset_id;
    std::string spki_sha256;       // hex SHA-256 of the SubjectPublicKeyInfo DER
    std::string fingerprint_sha256;  // hex SHA-256 of the certificate DER
    Time not_before{};
    Time not_after{};
    Time issued_at{};
    std::string requester;
    std::vector<uint8_t> der;
    std::optional<Time> revoked_at;
    std::optional<int> revocation_reason;  // RFC 5280 CRLReason code
    std::optional<std::string> revoked_by;
    int64_t issuer_id = 1;  // the issuing CA that signed it (IssuerRecord::id)

    CertificateStatus status_at(Time now) const {
        if (revoked_at) return CertificateStatus::revoked;
        if (now > not_after) return CertificateStatus::expired;
        return CertificateStatus::valid;
    }
};

// What an audit entry says; the store adds the sequence number and the chain hashes.
struct AuditEvent {
    std::string actor;    // who did it: "cli:<user>", "hub:<name>", "admin:<name>"
    std::string action;   // init, sign-intermediate, issue, revoke, crl, ...
    std::string serial;   // hex, empty when none
    std::string fingerprint;  // hex SHA-256 of the certificate, empty when none
    std::string outcome;  // "ok" or "refused"
    std::string detail;   // reason code or short note
};

struct AuditEntry {
    int64_t seq = 0;
    std::chrono::sys_time<std::chrono::milliseconds> at{};
    AuditEvent event;
    std::string prev_hash;
    std::string hash;
};

struct AuditVerification {
    bool intact = true;
    int64_t entries = 0;
    std::string head_hash;
    int64_t first_bad_seq = 0;  // 0 when intact
    std::string problem;        // empty when intact
};

// The newest entry of the audit chain; seq 0 and the genesis hash when the log is empty.
struct AuditHead {
    int64_t seq = 0;
    std::string hash;
};

// A signed statement that the audit chain's entry `seq` hashes to `head_hash`, and that the
// certificates revoked then were `revocations` rows hashing to `revocations_sha256`.
struct AuditCheckpoint {
    int64_t number = 0;  // 1, 2, 3...: a gap means one was removed
    int64_t seq = 0;
    std::string head_hash;
    std::chrono::sys_seconds at{};
    int64_t revocations = 0;
    std::string revocations_sha256;
    std::vector<uint8_t> signature;  // RSASSA-PKCS1-v1_5 SHA-256 by the CA key
};

// The subject a public key was first certified for.
struct KeyBinding {
    std::string spki_sha256;
    std::string profile;
    std::optional<std::string> device_key;
    std::string common_name;
    std::optional<Time> compromised_at;  // a certificate of it was revoked for keyCompromise
};

// One line of a CRL.
struct RevokedEntry {
    std::vector<uint8_t> serial;
    Time revoked_at{};
    int reason = 0;
};

// A signed CRL as kept in the store's history.
struct CrlRecord {
    int64_t number = 0;
    Time this_update{};
    Time next_update{};
    int64_t entries = 0;
    int64_t revocations = 0;    // the revocation counter it was built at
    std::vector<uint8_t> der;  // empty once pruned from the history
    int64_t issuer_id = 1;     // whose CRL: each issuer numbers its own
};

// One issuing CA of this authority. New certificates come from the newest one not retired;
// each one not retired signs its own CRLs.
struct IssuerRecord {
    int64_t id = 0;  // 1 for the CA edgeca install put in place, then 2, 3...
    std::vector<uint8_t> der;
    std::string subject;      // RFC 4514
    std::string spki_sha256;  // hex
    Time not_after{};
    Time activated_at{};
    std::optional<Time> retired_at;
};

// How many certificates an issuer signed, and how many of them have not expired yet.
struct IssuerUsage {
    int64_t issued = 0;
    int64_t unexpired = 0;
};

// A product (EnOS productKey): the most a certificate of its devices may last, and whether
// certificate authentication is enabled for it at all.
struct ProductRecord {
    std::string product_key;
    std::string name;
    int max_validity_days = 0;
    bool certificate_auth = true;
    Time created_at{};
    std::string created_by;
};

// A registered device (EnOS deviceKey, usually its serial number); certificates are issued only
// for registered devices.
struct DeviceRecord {
    std::string device_key;
    std::string product_key;
    std::string asset_id;
    Time created_at{};
    std::string created_by;
    // The principal whose device it is: a hub or app that registered or first claimed it. None
    // for a device an admin registered and no hub has claimed yet.
    std::optional<std::string> owner;
};

enum class Role { admin, hub };
const char* to_string(Role role);
std::optional<Role> role_from_string(const std::string& text);

// A client certificate allowed to call the API.
struct AccessGrant {
    std::string fingerprint_sha256;
    std::vector<uint8_t> serial;
    std::string principal;  // "hub:<name>" or "admin:<name>": the requester of what it asks for
    Role role = Role::hub;
    Time granted_at{};
    std::string granted_by;
};

struct EnrollmentToken {
    std::string token_sha256;
    Role role = Role::hub;
    Time created_at{};
    Time expires_at{};
    std::string created_by;
    std::optional<Time> used_at;
};

// An application of the EnOS-style API gateway scheme.
struct AppRecord {
    std::string app_key;
    std::string name;
    Role role = Role::hub;
    std::vector<uint8_t> sealed_secret;
    Time created_at{};
    std::string created_by;
};

struct AccessTokenRecord {
    std::string token_sha256;
    std::string app_key;
    Time issued_at{};
    Time expires_at{};
};

// A signed EnOS call that acts: claimed before it acts, answered once it has.
struct EnosCallRecord {
    std::string signature_sha256;
    std::string app_key;
    Time claimed_at{};
    Time expires_at{};
    std::optional<std::string> answer;  // the answer's JSON text; empty while the call runs
};

}  // namespace edgeca::store
