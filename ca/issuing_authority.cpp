// ca/issuing_authority.cpp — the issuance pipeline of the online CA. The order matters: who is
// asking, then the CSR's proof of possession, then the key, the subject, the profile's rules,
// the clock, and only then a signature; the record is durable before anyone sees it.
#include "ca/issuing_authority.h"

#include <botan/x509cert.h>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <set>

#include "ca/certificate_facts.h"
#include "ca/certificate_request.h"
#include "ca/certificate_signer.h"
#include "ca/distinguished_name.h"
#include "ca/encoding.h"
#include "ca/errors.h"
#include "ca/extensions.h"
#include "ca/key_policy.h"
#include "ca/revocation_reason.h"
#include "ca/serial_number.h"
#include "store/database.h"

namespace edgeca::ca {
namespace {

constexpr int serial_attempts = 3;
constexpr size_t max_idempotency_key = 255;

[[noreturn]] void forbid(const std::string& why) {
    throw Error(ErrorKind::forbidden, "profile_not_allowed", why);
}

void check_idempotency_key(const std::string& key) {
    if (key.empty() || key.size() > max_idempotency_key) {
        throw Error(ErrorKind::bad_input, "idempotency_key_invalid",
                    fmt::format("the Idempotency-Key must be 1 to {} characters",
                                max_idempotency_key));
    }
    for (char c : key) {
        if (c < 0x21 || c > 0x7e) {
            throw Error(ErrorKind::bad_input, "idempotency_key_invalid",
                        "the Idempotency-Key may contain only visible ASCII characters");
        }
    }
}

// Length-prefixed, so that no two different requests hash alike.
std::string request_digest(const IssuanceRequest& r, const std::vector<uint8_t>& csr_der) {
    std::string canonical;
    auto field = [&](std::string_view value) {
        canonical += fmt::format("{}:", value.size());
        canonical += value;
    };
    field(to_string(r.profile));
    field(to_hex(csr_der));
    field(r.product_key.value_or(""));
    field(r.device_key.value_or(""));
    field(r.asset_id.value_or(""));
    field(r.validity_days ? std::to_string(*r.validity_days) : "");
    field(r.grant_role ? store::to_string(*r.grant_role) : "");
    return sha256_hex(as_bytes(canonical));
}

// A key belongs to one subject for ever: a key certified for another device, another name or
// another profile is refused, and so is a key once revoked for keyCompromise. An edge's
// common name may be held by one device's valid certificate only (EnOS refuses a duplicate
// subject).
void check_key_and_name(const store::Reader& reader, Profile profile, const std::string& spki_sha256,
                        const std::string& common_name,
                        const std::optional<std::string>& device_key, Time now) {
    if (auto binding = reader.key_binding(spki_sha256)) {
        if (binding->compromised_at) {
            throw Error(ErrorKind::policy, "key_compromised",
                        fmt::format("this public key was revoked for keyCompromise at {}; make a "
                                    "new key pair",
                                    to_rfc3339(*binding->compromised_at)));
        }
        bool same_subject = binding->profile == to_string(profile) &&
                            (profile == Profile::edge ? binding->device_key == device_key
                                                      : binding->common_name == common_name);
        if (!same_subject) {
            throw Error(ErrorKind::policy, "key_reused",
                        fmt::format("this public key is already certified for {}; every device "
                                    "needs its own key pair",
                                    binding->device_key ? fmt::format("device '{}'", *binding->device_key)
                                                        : fmt::format("'{}' ({})", binding->common_name,
                                                                      binding->profile)));
        }
    }
    if (profile == Profile::edge) {
        auto holder = reader.valid_certificate_with_cn_of_other_device(
            "edge", common_name, device_key.value_or(""), now);
        if (holder) {
            throw Error(ErrorKind::policy, "duplicate_subject",
                        fmt::format("CN '{}' belongs to the valid certificate {} of device '{}'",
                                    common_name, to_hex(holder->serial),
                                    holder->device_key.value_or("?")));
        }
    }
}

// A hub reached by IP address needs that address in its certificate: only addresses inside the
// networks the operator configured are certified.
void check_hub_ip_addresses(const std::vector<IpAddress>& addresses,
                            const std::vector<IpNetwork>& networks) {
    for (const auto& address : addresses) {
        bool allowed = std::any_of(networks.begin(), networks.end(),
                                   [&](const IpNetwork& network) { return network.contains(address); });
        if (!allowed) {
            std::vector<std::string> names;
            for (const auto& network : networks) names.push_back(network.to_string());
            throw Error(ErrorKind::policy, "ip_address_not_allowed",
                        fmt::format("the IP address {} is not in an allowed network (allowed: {})",
                                    address.to_string(),
                                    names.empty() ? std::string("none configured; see "
                                                                "profiles.hub.allowed_ip_networks")
                                                  : fmt::format("{}", fmt::join(names, ", "))));
        }
    }
}

// What a certificate of ours names in its subjectAltName (Botan reads IPv4 addresses only).
std::vector<std::string> san_entries_of(const std::vector<uint8_t>& der, const char* type) {
    return Botan::X509_Certificate(der).subject_alt_name().get_attribute(type);
}

}  // namespace

std::string token_digest(const std::string& token) { return sha256_hex(as_bytes(token)); }

std::string new_principal_name(store::Role role, Botan::RandomNumberGenerator& rng) {
    return fmt::format("{}:{}", store::to_string(role), to_hex(rng.random_vec(8)));
}

struct IssuingAuthority::Decision {
    std::optional<CertificateRequest> csr;  // absent when renewing with the earlier key
    PublicKeyInfo key;
    Botan::X509_DN subject;
    std::string common_name;
    std::string spki_sha256;
    Time not_before{};
    Time not_after{};
    std::vector<std::string> dns_names;
    std::vector<IpAddress> ip_addresses;
    std::optional<std::string> product_key;
    std::optional<std::string> device_key;
    std::optional<std::string> asset_id;
    std::string requester;
    std::optional<store::AccessGrant> grant;  // fingerprint and serial filled in after signing
    std::optional<std::string> token_sha256;
    std::string request_sha256;
    std::optional<store::CertificateRecord> original;  // the certificate being renewed
    int max_days = 0;
    int default_days = 0;
    bool new_principal = false;  // the grant creates an identity: its name must be unused
    bool claims_device = false;  // a hub takes an unowned device by getting its certificate
    // The issuing CA active when the request came: its dates bound the validity and it signs.
    std::shared_ptr<const IssuerIdentity> issuer;
};

IssuingAuthority::IssuingAuthority(store::Store& store, const Clock& clock,
                                   Botan::RandomNumberGenerator& rng, IssuancePolicy policy,
                                   IssuerIdentity issuer, SignatureVerifier verifier)
    : store_(store),
      clock_(clock),
      rng_(rng),
      policy_(std::move(policy)),
      issuer_(std::make_shared<const IssuerIdentity>(std::move(issuer))),
      verifier_(std::move(verifier)) {}

std::shared_ptr<const IssuerIdentity> IssuingAuthority::issuer() const {
    std::lock_guard lock(issuer_mutex_);
    return issuer_;
}

void IssuingAuthority::use_issuer(IssuerIdentity issuer) {
    auto next = std::make_shared<const IssuerIdentity>(std::move(issuer));
    std::lock_guard lock(issuer_mutex_);
    known_issuers_[issuer_->id] = issuer_;
    issuer_ = std::move(next);
}

void IssuingAuthority::know_issuer(std::shared_ptr<const IssuerIdentity> issuer) {
    std::lock_guard lock(issuer_mutex_);
    known_issuers_[issuer->id] = std::move(issuer);
}

std::shared_ptr<const IssuerIdentity> IssuingAuthority::issuer_of(int64_t id,
                                                                 std::shared_ptr<const IssuerIdentity> active) const {
    if (id == active->id) return active;
    std::lock_guard lock(issuer_mutex_);
    auto found = known_issuers_.find(id);
    return found != known_issuers_.end() ? found->second : active;
}

IssuedCertificate IssuingAuthority::issue(const Caller& caller, const IssuanceRequest& request) {
    const Time now = clock_.now();
    try {
        Decision decision = decide(caller, request, now);
        if (request.idempotency_key) {
            auto prior = store_.read([&](const store::Reader& r) {
                return r.idempotent_request(decision.requester, *request.idempotency_key);
            });
            if (prior) {
                if (prior->request_sha256 != decision.request_sha256) {
                    throw Error(ErrorKind::conflict, "idempotency_key_reused",
                                "this Idempotency-Key was used before for a different request");
                }
                auto record = store_.read(
                    [&](const store::Reader& r) { return r.certificate_by_id(prior->certificate_id); });
                return {*record, encode_pem(record->der, "CERTIFICATE"), true, principal_of(*record),
                        issuer_of(record->issuer_id, decision.issuer)};
            }
        }
        return sign_and_record(caller, request, decision, now);
    } catch (const Error& refusal) {
        store_.write([&](store::Writer& w) {
            w.append_audit({caller.principal, "issue", "", "", "refused",
                            fmt::format("{} profile={}", refusal.code(), to_string(request.profile))});
        });
        throw;
    }
}

namespace {

void require_api_role(const Caller& caller) {
    if (!caller.is_admin() && !caller.is_hub()) {
        throw Error(ErrorKind::unauthenticated, "authentication_required",
                    "present a client certificate on the access list");
    }
}

}  // namespace

std::optional<store::CertificateRecord> IssuingAuthority::certificate(
    const Caller& caller, std::span<const uint8_t> serial) const {
    require_api_role(caller);
    auto record = store_.read([&](const store::Reader& r) { return r.certificate_by_serial(serial); });
    if (record && !caller.is_admin() && record->requester != caller.principal) return std::nullopt;
    return record;
}

std::optional<std::string> IssuingAuthority::principal_of(const store::CertificateRecord& record) const {
    auto grant = store_.read(
        [&](const store::Reader& r) { return r.access_grant(record.fingerprint_sha256); });
    if (!grant) return std::nullopt;
    return grant->principal;
}

std::vector<store::CertificateRecord> IssuingAuthority::certificates(
    const Caller& caller, store::CertificateFilter filter) const {
    require_api_role(caller);
    if (!caller.is_admin()) filter.requester = caller.principal;
    filter.now = clock_.now();
    return store_.read([&](const store::Reader& r) { return r.certificates(filter); });
}

store::CertificateRecord IssuingAuthority::renewal_original(const Caller& caller,
                                                            const IssuanceRequest& r, Time now) const {
    if (r.profile != Profile::edge || !r.device_key) {
        throw Error(ErrorKind::bad_input, "renewal_invalid",
                    "a renewal without a CSR is for an edge certificate of a named device");
    }
    auto original = store_.read([&](const store::Reader& reader) { return reader.certificate_by_serial(*r.renewal_of); });
    // Another principal's certificate is reported as missing, so that its existence does not leak.
    if (original && !caller.is_admin() && original->requester != caller.principal) {
        throw Error(ErrorKind::not_found, "certificate_not_found",
                    "no certificate of yours with this serial");
    }
    if (!original || original->profile != "edge" || !original->device_key) {
        throw Error(ErrorKind::policy, "certificate_not_bound",
                    "the certificate to renew is not an edge certificate bound to a device");
    }
    if (*original->device_key != *r.device_key) {
        throw Error(ErrorKind::policy, "certificate_of_other_device",
                    fmt::format("the certificate to renew is bound to device '{}', not '{}'",
                                *original->device_key, *r.device_key));
    }
    if (original->status_at(now) != store::CertificateStatus::valid) {
        throw Error(ErrorKind::policy, "certificate_not_valid",
                    fmt::format("the certificate to renew is {}", store::to_string(original->status_at(now))));
    }
    return *original;
}

void IssuingAuthority::check_clock(Time now, const IssuerIdentity& issuer) const {
    const Time issuer_not_before = to_time(issuer.certificate.not_before());
    if (now < issuer_not_before) {
        throw Error(ErrorKind::unavailable, "clock_behind",
                    fmt::format("refusing to issue: the system clock ({}) is earlier than the "
                                "issuing CA's notBefore ({}); fix the clock",
                                to_rfc3339(now), to_rfc3339(issuer_not_before)));
    }
    // The latest issuance is read before the clock: any issuance committed by then took its time
    // before this reading, so a clock that did not go back reads no earlier. (Comparing with a
    // time taken before the read would refuse requests racing past a second boundary.)
    auto latest = store_.read([](const store::Reader& r) { return r.latest_issued_at(); });
    const Time checked = std::max(now, clock_.now());
    if (latest && checked < *latest) {
        throw Error(ErrorKind::unavailable, "clock_behind",
                    fmt::format("refusing to issue: the system clock ({}) is earlier than the "
                                "latest issuance recorded ({}); the clock went back",
                                to_rfc3339(checked), to_rfc3339(*latest)));
    }
    const Time issuer_not_after = to_time(issuer.certificate.not_after());
    if (now >= issuer_not_after) {
        throw Error(ErrorKind::unavailable, "issuer_expired",
                    fmt::format("the issuing CA expired at {}", to_rfc3339(issuer_not_after)));
    }
}

IssuingAuthority::Decision IssuingAuthority::decide(const Caller& caller,
                                                    const IssuanceRequest& r, Time now) {
    auto token = check_caller(caller, r, now);
    Decision d;
    d.issuer = issuer();
    if (token) d.token_sha256 = token->token_sha256;
    check_key_and_subject(caller, r, d, now);
    const ProfileLimits& limits = policy_.limits(r.profile);
    d.max_days = limits.max_validity_days;
    d.default_days = limits.default_validity_days;
    if (r.profile == Profile::edge) check_device(caller, r, d);
    if (r.profile == Profile::hub) check_hub_names(caller, r, d);
    if (r.profile == Profile::server) {
        for (const auto& name : r.server_names) {
            if (auto ip = IpAddress::parse(name)) {
                d.ip_addresses.push_back(*ip);
            } else {
                check_dns_name(name);
                d.dns_names.push_back(name);
            }
        }
    }
    check_validity(r, d, now);
    assign_principal(caller, r, token, d);
    store_.read([&](const store::Reader& reader) {
        check_key_and_name(reader, r.profile, d.spki_sha256, d.common_name, d.device_key, now);
    });
    return d;
}

// Who is asking, and may they ask for this profile? Returns the enrollment token presented.
std::optional<store::EnrollmentToken> IssuingAuthority::check_caller(const Caller& caller,
                                                                     const IssuanceRequest& r,
                                                                     Time now) const {
    std::optional<store::EnrollmentToken> token;
    if (r.enrollment_token) {
        token = store_.read([&](const store::Reader& reader) {
            return reader.enrollment_token(token_digest(*r.enrollment_token));
        });
        if (!token) {
            throw Error(ErrorKind::unauthenticated, "token_invalid",
                        "the enrollment token is not known");
        }
        if (token->used_at) {
            throw Error(ErrorKind::unauthenticated, "token_spent",
                        fmt::format("the enrollment token was already used at {}",
                                    to_rfc3339(*token->used_at)));
        }
        if (now >= token->expires_at) {
            throw Error(ErrorKind::unauthenticated, "token_expired",
                        fmt::format("the enrollment token expired at {}",
                                    to_rfc3339(token->expires_at)));
        }
    }
    const bool authenticated = caller.is_admin() || caller.is_hub() || caller.service;
    if (!authenticated && !token) {
        throw Error(ErrorKind::unauthenticated, "authentication_required",
                    "present a client certificate on the access list, or an enrollment token");
    }
    switch (r.profile) {
        case Profile::edge:
            if (token || !(caller.is_admin() || caller.is_hub())) {
                forbid("edge certificates are requested by a hub or an admin");
            }
            break;
        case Profile::hub:
            if (token ? token->role != store::Role::hub : !(caller.is_admin() || caller.is_hub())) {
                forbid("hub certificates are requested with a hub enrollment token, by a hub, or "
                       "by an admin");
            }
            break;
        case Profile::client:
            if (!token && !(caller.is_admin() || caller.is_hub())) {
                forbid("client certificates are requested with an enrollment token, by a hub or "
                       "by an admin");
            }
            break;
        case Profile::server:
            if (!caller.service) forbid("server certificates are made by edgeca serve only");
            break;
        case Profile::root:
        case Profile::intermediate:
        case Profile::link:
            throw Error(ErrorKind::bad_input, "profile_unknown",
                        "CA certificates are made by edgeca-root, offline");
    }
    if (r.grant_role && !(caller.is_admin() && r.profile == Profile::client && !token)) {
        forbid("only an admin grants API access, and only to a client certificate");
    }
    if (r.profile != Profile::edge && (r.product_key || r.device_key || r.asset_id)) {
        throw Error(ErrorKind::bad_input, "field_not_allowed",
                    "product_key, device_key and asset_id apply to the edge profile only");
    }
    if (r.idempotency_key) check_idempotency_key(*r.idempotency_key);
    return token;
}

// The key and the subject: from the CSR (its signature first, then the key, then the subject),
// or, for a renewal without a CSR, from the certificate being renewed.
void IssuingAuthority::check_key_and_subject(const Caller& caller, const IssuanceRequest& r,
                                             Decision& d, Time now) const {
    if (r.renewal_of) d.original = renewal_original(caller, r, now);
    if (!r.csr.empty() || !d.original) {
        d.csr = CertificateRequest::parse(r.csr, verifier_);
        d.key = d.csr->key_info();
        KeyPolicy::check(d.key, "the CSR's key", &policy_.known_weak_keys);
        d.subject = build_requested_subject(d.csr->subject());
        d.request_sha256 = request_digest(r, d.csr->der());
    } else {
        Botan::X509_Certificate certificate(d.original->der);
        d.key = PublicKeyInfo::decode(certificate.subject_public_key_info());
        KeyPolicy::check(d.key, "the renewed certificate's key", &policy_.known_weak_keys);
        d.subject = build_requested_subject(certificate.subject_dn());
        d.request_sha256 = request_digest(r, d.original->der);
    }
    d.common_name = common_name_of(d.subject);
    d.spki_sha256 = sha256_hex(d.key.der);
}

// An edge certificate is for a registered device of an enabled product, and only its owner
// (or an admin) may get one. A device nobody owns yet is claimed by the hub that gets its first
// certificate. Another owner's device is reported as not registered, so its existence does not
// leak.
void IssuingAuthority::check_device(const Caller& caller, const IssuanceRequest& r,
                                    Decision& d) const {
    if (!r.product_key || !r.device_key) {
        throw Error(ErrorKind::bad_input, "missing_field",
                    "an edge certificate needs product_key and device_key");
    }
    auto [device, product] = store_.read([&](const store::Reader& reader) {
        return std::pair{reader.device(*r.device_key), reader.product(*r.product_key)};
    });
    if (device && !caller.is_admin() && device->owner && *device->owner != caller.principal) {
        device.reset();
    }
    if (!device) {
        throw Error(ErrorKind::not_found, "device_not_found",
                    fmt::format("device '{}' is not registered; register it first (POST "
                                "/v1/devices)",
                                *r.device_key));
    }
    if (device->product_key != *r.product_key || !product) {
        throw Error(ErrorKind::policy, "device_product_mismatch",
                    fmt::format("device '{}' belongs to product '{}', not '{}'", *r.device_key,
                                device->product_key, *r.product_key));
    }
    if (!product->certificate_auth) {
        throw Error(ErrorKind::policy, "certificate_auth_disabled",
                    fmt::format("certificate authentication is not enabled for product '{}'",
                                product->product_key));
    }
    if (r.asset_id && *r.asset_id != device->asset_id) {
        throw Error(ErrorKind::policy, "asset_id_mismatch",
                    fmt::format("device '{}' has asset id '{}', not '{}'", *r.device_key,
                                device->asset_id, *r.asset_id));
    }
    d.max_days = std::min(d.max_days, product->max_validity_days);
    d.default_days = std::min(d.default_days, d.max_days);
    d.product_key = product->product_key;
    d.device_key = device->device_key;
    d.asset_id = device->asset_id;
    d.claims_device = !caller.is_admin() && !device->owner;
}

// A hub certificate carries DNS names under the allowed domains and IP addresses inside the
// allowed networks. A hub asking for one itself renews its own identity: every name and address
// must be one its principal already holds in a valid hub certificate; new ones come from an
// admin or an enrollment token.
void IssuingAuthority::check_hub_names(const Caller& caller, const IssuanceRequest& r,
                                       Decision& d) const {
    if (d.csr->requests_other_names()) {
        throw Error(ErrorKind::policy, "san_type_not_allowed",
                    "a hub certificate carries DNS names and IP addresses only; the CSR asks "
                    "for other name types (e-mail, URI)");
    }
    d.dns_names = d.csr->requested_dns_names();
    d.ip_addresses = d.csr->requested_ip_addresses();
    if (d.dns_names.empty() && d.ip_addresses.empty()) {
        throw Error(ErrorKind::policy, "dns_name_required",
                    "a hub certificate needs at least one DNS name (or an IP address in an "
                    "allowed network) in the CSR's subjectAltName");
    }
    check_hub_ip_addresses(d.ip_addresses, policy_.hub_ip_networks);
    for (const auto& name : d.dns_names) {
        check_dns_name(name);
        bool allowed = std::any_of(
            policy_.hub_allowed_domains.begin(), policy_.hub_allowed_domains.end(),
            [&](const std::string& domain) { return name_under_domain(name, domain); });
        if (!allowed) {
            throw Error(ErrorKind::policy, "dns_name_not_allowed",
                        fmt::format("the DNS name '{}' is not under an allowed domain "
                                    "(allowed: {})",
                                    name,
                                    policy_.hub_allowed_domains.empty()
                                        ? std::string("none configured")
                                        : fmt::format("{}", fmt::join(policy_.hub_allowed_domains, ", "))));
        }
    }
    if (r.enrollment_token || caller.is_admin() || !caller.is_hub()) return;
    const Time now = clock_.now();
    std::set<std::string> held;
    store_.read([&](const store::Reader& reader) {
        for (const auto& grant : reader.access_grants_of(caller.principal)) {
            auto certificate = reader.certificate_by_fingerprint(grant.fingerprint_sha256);
            if (!certificate || certificate->profile != "hub" ||
                certificate->status_at(now) != store::CertificateStatus::valid) {
                continue;
            }
            for (const auto* type : {"DNS", "IP"}) {
                for (const auto& name : san_entries_of(certificate->der, type)) held.insert(name);
            }
        }
    });
    std::vector<std::string> asked = d.dns_names;
    for (const auto& address : d.ip_addresses) asked.push_back(address.to_string());
    for (const auto& name : asked) {
        if (!held.contains(name)) {
            throw Error(ErrorKind::forbidden, "dns_name_not_held",
                        fmt::format("a hub renews hub certificates for its own DNS names and "
                                    "addresses only; '{}' is not in a valid hub certificate of "
                                    "yours (an admin issues certificates for other names)",
                                    name));
        }
    }
}

void IssuingAuthority::check_validity(const IssuanceRequest& r, Decision& d, Time now) const {
    int days = r.validity_days.value_or(d.default_days);
    if (days < 1) {
        throw Error(ErrorKind::bad_input, "validity_invalid",
                    fmt::format("validity_days must be at least 1, not {}", days));
    }
    if (days > d.max_days) {
        throw Error(ErrorKind::policy, "validity_too_long",
                    fmt::format("{} days is more than the {} days allowed for this {}", days,
                                d.max_days, r.profile == Profile::edge ? "product" : "profile"));
    }
    check_clock(now, *d.issuer);
    const Time issuer_not_before = to_time(d.issuer->certificate.not_before());
    const Time issuer_not_after = to_time(d.issuer->certificate.not_after());
    d.not_before = std::max(now - policy_.backdate, issuer_not_before);
    d.not_after = std::min(now + std::chrono::days(days), issuer_not_after);
}

// Who the certificate is recorded for, and what API access it carries. A principal is a name
// the CA assigns, never the CSR's: an enrollment token's holder becomes "<role>:<token id>" (the
// first 16 hex digits of the token's SHA-256, as in the token-create audit entry), an identity an
// admin creates gets a random id, and a hub's own credentials stay its own principal.
void IssuingAuthority::assign_principal(const Caller& caller, const IssuanceRequest& r,
                                        const std::optional<store::EnrollmentToken>& token,
                                        Decision& d) {
    d.requester = caller.principal;
    auto grant_to = [&](store::Role role, std::string principal, bool fresh) {
        d.grant = store::AccessGrant{.principal = std::move(principal), .role = role,
                                     .granted_by = caller.principal};
        d.new_principal = fresh;
    };
    if (token) {
        std::string principal =
            fmt::format("{}:{}", store::to_string(token->role), token->token_sha256.substr(0, 16));
        d.requester = principal;
        grant_to(token->role, principal, true);
    } else if (caller.is_hub() && !caller.is_admin() &&
               (r.profile == Profile::hub || r.profile == Profile::client)) {
        grant_to(store::Role::hub, caller.principal, false);  // a hub renewing its credentials
    } else if (r.profile == Profile::hub) {
        grant_to(store::Role::hub, new_principal_name(store::Role::hub, rng_), true);
    } else if (r.grant_role) {
        grant_to(*r.grant_role, new_principal_name(*r.grant_role, rng_), true);
    }
}

IssuedCertificate IssuingAuthority::sign_and_record(const Caller& caller,
                                                    const IssuanceRequest& r,
                                                    const Decision& d, Time now) {
    Botan::Extensions extensions = profile_extensions({
        .profile = r.profile,
        .subject_key_id = key_identifier(d.key),
        .authority_key_id = d.issuer->certificate.subject_key_id(),
        .dns_names = d.dns_names,
        .ip_addresses = d.ip_addresses,
        .crl_urls = issuer_crl_urls(policy_.crl_urls, d.issuer->id),
        .ca_issuer_urls = policy_.ca_issuer_urls,
    });

    for (int attempt = 1;; ++attempt) {
        CertificateContent content{
            .serial = SerialNumber::random(rng_),
            .subject = d.subject,
            .subject_public_key_info = d.key.der,
            .not_before = d.not_before,
            .not_after = d.not_after,
            .extensions = extensions,
        };
        auto der = sign_certificate_der(content, d.issuer->certificate.subject_dn(), *d.issuer->key, rng_);
        store::CertificateRecord record = record_of(content, std::move(der), r.profile, d.requester, now);
        record.product_key = d.product_key;
        record.device_key = d.device_key;
        record.asset_id = d.asset_id;
        record.issuer_id = d.issuer->id;

        try {
            std::optional<IssuedCertificate> replay;
            store_.write([&](store::Writer& w) {
                // The checks again, under the write lock: a concurrent request may have taken
                // the name, the key, the token or the idempotency key meanwhile.
                if (r.idempotency_key) {
                    if (auto prior = w.idempotent_request(d.requester, *r.idempotency_key)) {
                        if (prior->request_sha256 != d.request_sha256) {
                            throw Error(ErrorKind::conflict, "idempotency_key_reused",
                                        "this Idempotency-Key was used before for a different "
                                        "request");
                        }
                        auto earlier = w.certificate_by_id(prior->certificate_id);
                        replay = IssuedCertificate{*earlier, encode_pem(earlier->der, "CERTIFICATE"),
                                                   true, std::nullopt, issuer_of(earlier->issuer_id, d.issuer)};
                        return;
                    }
                }
                check_key_and_name(w, r.profile, d.spki_sha256, d.common_name, d.device_key, now);
                if (d.grant && d.new_principal && w.principal_exists(d.grant->principal)) {
                    throw Error(ErrorKind::conflict, "principal_exists",
                                fmt::format("the principal '{}' exists already", d.grant->principal));
                }
                if (d.claims_device && !w.claim_device(*d.device_key, caller.principal)) {
                    auto device = w.device(*d.device_key);
                    if (!device || device->owner != caller.principal) {
                        throw Error(ErrorKind::not_found, "device_not_found",
                                    fmt::format("device '{}' is not registered", *d.device_key));
                    }
                }
                if (d.token_sha256 && !w.consume_enrollment_token(*d.token_sha256, now, record.serial)) {
                    throw Error(ErrorKind::unauthenticated, "token_spent",
                                "the enrollment token was used by another request meanwhile");
                }
                record.id = w.insert_certificate(record);
                if (d.grant) {
                    store::AccessGrant grant = *d.grant;
                    grant.fingerprint_sha256 = record.fingerprint_sha256;
                    grant.serial = record.serial;
                    grant.granted_at = now;
                    w.grant_access(grant);
                }
                if (r.idempotency_key) {
                    w.record_idempotent_request(d.requester, *r.idempotency_key, d.request_sha256,
                                                record.id, now);
                }
                std::string detail = fmt::format("profile={} subject={}", record.profile, record.subject);
                if (record.device_key) detail += fmt::format(" device={}", *record.device_key);
                if (d.claims_device) detail += " claimed=yes";
                if (record.issuer_id != 1) detail += fmt::format(" issuer={}", record.issuer_id);
                if (d.grant) detail += fmt::format(" grant={}:{}", store::to_string(d.grant->role), d.grant->principal);
                w.append_audit({caller.principal, "issue", to_hex(record.serial),
                                record.fingerprint_sha256, "ok", detail});
            });
            if (replay) {
                replay->principal = principal_of(replay->record);
                return *replay;
            }
            std::optional<std::string> principal;
            if (d.grant) principal = d.grant->principal;
            return {record, encode_pem(record.der, "CERTIFICATE"), false, principal, d.issuer};
        } catch (const store::StoreError& e) {
            // Only a serial collision is worth a new signature; anything else is final.
            if (e.constraint_violation() && attempt < serial_attempts) continue;
            throw;
        }
    }
}

}  // namespace edgeca::ca
