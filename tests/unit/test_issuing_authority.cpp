// tests/unit/test_issuing_authority.cpp — the issuance rules of the online CA, over a real store.
#include <doctest/doctest.h>

#include <botan/ber_dec.h>
#include <botan/x509_ext.h>
#include <fmt/format.h>
#include <botan/x509path.h>

#include <set>
#include <thread>

#include "ca/certificate_facts.h"
#include "ca/encoding.h"
#include "ca/errors.h"
#include "ca/extensions.h"
#include "ca/revocation.h"
#include "ca/revocation_reason.h"
#include "store/database.h"
#include "tests/unit/issuer_fixture.h"

using namespace edgeca;
using namespace std::chrono_literals;

namespace {

Botan::X509_Certificate parse(const ca::IssuedCertificate& issued) {
    return Botan::X509_Certificate(issued.record.der);
}

std::vector<std::string> eku(const Botan::X509_Certificate& cert) {
    std::vector<std::string> oids;
    for (const auto& oid : cert.extended_key_usage()) oids.push_back(oid.to_string());
    return oids;
}

std::set<std::string> extension_oids(const Botan::X509_Certificate& cert) {
    std::set<std::string> oids;
    for (const auto& oid : cert.v3_extensions().get_extension_oids()) oids.insert(oid.to_string());
    return oids;
}

std::string refusal(test::IssuerFixture& f, const ca::Caller& caller, const ca::IssuanceRequest& r) {
    return test::error_code([&] { f.authority.issue(caller, r); });
}

void validate_path(test::IssuerFixture& f, const Botan::X509_Certificate& leaf, Botan::Usage_Type usage) {
    Botan::Certificate_Store_In_Memory trusted(f.identity.root);
    Botan::Path_Validation_Restrictions restrictions(false, 110);
    auto result = Botan::x509_path_validate(
        std::vector<Botan::X509_Certificate>{leaf, f.identity.certificate}, restrictions, trusted,
        "", usage, f.clock.now() + 1h);
    CHECK_MESSAGE(result.successful_validation(), result.result_string());
}

}  // namespace

// Every case here runs on each store engine (see fresh_store).
TEST_SUITE_BEGIN("store");

TEST_CASE("a hub gets an edge certificate for a registered device, with exactly the edge profile") {
    test::IssuerFixture f;
    f.register_device("SN-1");
    f.clock.advance(1h);  // later than the issuing CA's notBefore by more than the backdate
    auto issued = f.authority.issue(f.hub, f.edge_request(test::rsa_key(), "SN-1", "edge-SN-1"));
    auto cert = parse(issued);

    CHECK_FALSE(cert.is_CA_cert());
    CHECK(cert.v3_extensions().critical_extension_set(Botan::OID("2.5.29.19")));
    CHECK(cert.constraints() == (Botan::DIGITAL_SIGNATURE | Botan::KEY_ENCIPHERMENT));
    CHECK(eku(cert) == std::vector<std::string>{"1.3.6.1.5.5.7.3.2"});
    CHECK(extension_oids(cert) == std::set<std::string>{"2.5.29.19", "2.5.29.15", "2.5.29.37",
                                                        "2.5.29.14", "2.5.29.35", "2.5.29.31",
                                                        "1.3.6.1.5.5.7.1.1"});
    CHECK(cert.crl_distribution_point().find("http://ca.example.com/crl") != std::string::npos);
    CHECK(cert.ca_issuers() == std::vector<std::string>{"http://ca.example.com/ca.pem"});
    CHECK(cert.authority_key_id() == f.identity.certificate.subject_key_id());
    CHECK(ca::to_rfc4514(cert.subject_dn()) == "CN=edge-SN-1");
    CHECK(ca::to_time(cert.not_before()) == f.clock.now() - 300s);
    CHECK(ca::to_time(cert.not_after()) == f.clock.now() + std::chrono::days(730));
    validate_path(f, cert, Botan::Usage_Type::TLS_CLIENT_AUTH);

    auto record = f.store.read([&](const store::Reader& r) { return r.certificate_by_serial(issued.record.serial); });
    REQUIRE(record);
    CHECK(record->der == issued.record.der);
    CHECK(record->device_key == "SN-1");
    CHECK(record->product_key == "P1");
    CHECK(record->asset_id->size() == 12);
    CHECK(record->requester == "hub:hub-1");
    CHECK(record->profile == "edge");
    CHECK(record->spki_sha256 == ca::sha256_hex(cert.subject_public_key_info()));
    auto audit = f.last_audit();
    CHECK(audit.event.action == "issue");
    CHECK(audit.event.outcome == "ok");
    CHECK(audit.event.actor == "hub:hub-1");
    CHECK(audit.event.serial == ca::to_hex(issued.record.serial));
}

TEST_CASE("a CSR asking to be a CA gets a leaf: CA:FALSE, no copied extension") {
    test::IssuerFixture f;
    f.register_device("SN-1");
    Botan::X509_Cert_Options options("sneaky");
    options.CA_key(3);
    options.add_ex_constraint("PKIX.CodeSigning");
    options.dns = "evil.example";
    auto request = f.edge_request(test::rsa_key(), "SN-1", "");
    request.csr = test::make_csr(test::rsa_key(), options);
    auto cert = parse(f.authority.issue(f.hub, request));
    CHECK_FALSE(cert.is_CA_cert());
    CHECK(eku(cert) == std::vector<std::string>{"1.3.6.1.5.5.7.3.2"});
    CHECK(cert.subject_alt_name().get_attribute("DNS").empty());
}

TEST_CASE("edge refusals name their rule and record no certificate") {
    test::IssuerFixture f;
    f.register_device("SN-1");
    f.registry.add_product(f.admin, {.product_key = "NOAUTH", .max_validity_days = 100, .certificate_auth = false});
    f.registry.add_device(f.admin, "NOAUTH", "SN-2", std::nullopt);
    const auto& key = test::rsa_key();

    auto r = f.edge_request(key, "SN-404", "x");
    CHECK(refusal(f, f.hub, r) == "device_not_found");
    r = f.edge_request(key, "SN-1", "x");
    r.product_key = "NOAUTH";
    CHECK(refusal(f, f.hub, r) == "device_product_mismatch");
    r = f.edge_request(key, "SN-2", "x");
    r.product_key = "NOAUTH";
    CHECK(refusal(f, f.hub, r) == "certificate_auth_disabled");
    r = f.edge_request(key, "SN-1", "x");
    r.validity_days = 731;
    CHECK(refusal(f, f.hub, r) == "validity_too_long");
    r.validity_days = 0;
    CHECK(refusal(f, f.hub, r) == "validity_invalid");
    r = f.edge_request(key, "SN-1", "x");
    r.device_key.reset();
    CHECK(refusal(f, f.hub, r) == "missing_field");
    r = f.edge_request(key, "SN-1", "x");
    r.asset_id = "not-its-asset";
    CHECK(refusal(f, f.hub, r) == "asset_id_mismatch");
    r = f.edge_request(test::rsa_key(1024), "SN-1", "x");
    CHECK(refusal(f, f.hub, r) == "key_size_not_2048");
    r = f.edge_request(test::ec_key(), "SN-1", "x");
    CHECK(refusal(f, f.hub, r) == "key_not_rsa");
    r = f.edge_request(key, "SN-1", "x");
    r.csr = test::with_broken_signature(r.csr);
    CHECK(refusal(f, f.hub, r) == "csr_signature_invalid");
    r = f.edge_request(key, "SN-1", std::string(65, 'x'));
    CHECK(refusal(f, f.hub, r) == "subject_attribute_too_long");

    CHECK(f.certificate_count() == 0);
    auto audit = f.last_audit();
    CHECK(audit.event.outcome == "refused");
    CHECK(audit.event.detail.starts_with("subject_attribute_too_long"));
}

TEST_CASE("who may ask for what") {
    test::IssuerFixture f;
    f.register_device("SN-1");
    auto edge = f.edge_request(test::rsa_key(), "SN-1", "edge-1");
    CHECK(refusal(f, ca::Caller::anonymous("anonymous"), edge) == "authentication_required");

    ca::IssuanceRequest server;
    server.csr = test::make_csr(test::rsa_key(), "server");
    server.profile = ca::Profile::server;
    CHECK(refusal(f, f.admin, server) == "profile_not_allowed");

    ca::IssuanceRequest hub_with_device;
    hub_with_device.csr = test::make_csr(test::rsa_key(), "hub");
    hub_with_device.profile = ca::Profile::hub;
    hub_with_device.device_key = "SN-1";
    CHECK(refusal(f, f.admin, hub_with_device) == "field_not_allowed");

    ca::IssuanceRequest root;
    root.profile = ca::Profile::intermediate;
    CHECK(refusal(f, f.admin, root) == "profile_unknown");

    ca::IssuanceRequest grant;
    grant.csr = test::make_csr(test::rsa_key(), "tool");
    grant.profile = ca::Profile::client;
    grant.grant_role = store::Role::admin;
    CHECK(refusal(f, f.hub, grant) == "profile_not_allowed");
    CHECK(f.certificate_count() == 0);
}

TEST_CASE("an edge CN held by another device's valid certificate is refused; the same device renews") {
    test::IssuerFixture f;
    f.register_device("SN-1");
    f.register_device("SN-2");
    auto key1 = test::fresh_rsa_key();
    f.authority.issue(f.hub, f.edge_request(*key1, "SN-1", "shared-name"));
    auto key2 = test::fresh_rsa_key();
    CHECK(refusal(f, f.hub, f.edge_request(*key2, "SN-2", "shared-name")) == "duplicate_subject");
    CHECK_NOTHROW(f.authority.issue(f.hub, f.edge_request(*key1, "SN-1", "shared-name")));
    CHECK(f.certificate_count() == 2);
}

TEST_CASE("a key certified for one device is refused for another, and a compromised key for all") {
    test::IssuerFixture f;
    f.register_device("SN-1");
    f.register_device("SN-2");
    auto key = test::fresh_rsa_key();
    auto first = f.authority.issue(f.hub, f.edge_request(*key, "SN-1", "edge-1"));
    CHECK(refusal(f, f.hub, f.edge_request(*key, "SN-2", "edge-2")) == "key_reused");

    ca::IssuanceRequest hub;
    Botan::X509_Cert_Options hub_options("hub");
    hub_options.dns = "hub.example.com";
    hub.csr = test::make_csr(*key, hub_options);
    hub.profile = ca::Profile::hub;
    CHECK(refusal(f, f.admin, hub) == "key_reused");

    // Revoked for keyCompromise: the key is blocked even for the device that held it.
    ca::Revoker(f.store, f.clock).revoke(f.hub, first.record.serial, ca::reason_key_compromise);
    CHECK(refusal(f, f.hub, f.edge_request(*key, "SN-1", "edge-1")) == "key_compromised");
}

TEST_CASE("hub certificates carry DNS names under the allowed domains only") {
    test::IssuerFixture f;
    auto hub_request = [&](const std::string& dns) {
        Botan::X509_Cert_Options options("hub-1");
        options.dns = dns;
        ca::IssuanceRequest r;
        r.csr = test::make_csr(*test::fresh_rsa_key(), options);
        r.profile = ca::Profile::hub;
        return r;
    };
    auto issued = f.authority.issue(f.admin, hub_request("mqtt.hub.example.com"));
    auto cert = parse(issued);
    CHECK(cert.subject_alt_name().get_attribute("DNS") == std::vector<std::string>{"mqtt.hub.example.com"});
    CHECK(eku(cert) == std::vector<std::string>{"1.3.6.1.5.5.7.3.1", "1.3.6.1.5.5.7.3.2"});
    validate_path(f, cert, Botan::Usage_Type::TLS_SERVER_AUTH);
    // A hub certificate is granted the hub role for the API.
    auto grant = f.store.read([&](const store::Reader& r) { return r.access_grant(issued.record.fingerprint_sha256); });
    REQUIRE(grant);
    CHECK(grant->role == store::Role::hub);
    // The principal is the CA's, never the CSR's CN.
    CHECK(grant->principal.starts_with("hub:"));
    CHECK(grant->principal.size() == 4 + 16);
    CHECK(grant->principal != "hub:hub-1");

    CHECK(refusal(f, f.admin, hub_request("hub.evil.example")) == "dns_name_not_allowed");
    CHECK(refusal(f, f.admin, hub_request("evilhub.example.com")) == "dns_name_not_allowed");
    CHECK(refusal(f, f.admin, hub_request("*.hub.example.com")) == "dns_name_invalid");

    ca::IssuanceRequest none;
    none.csr = test::make_csr(*test::fresh_rsa_key(), "hub-2");
    none.profile = ca::Profile::hub;
    CHECK(refusal(f, f.admin, none) == "dns_name_required");

    Botan::X509_Cert_Options with_email("hub-3");
    with_email.dns = "hub.example.com";
    with_email.email = "ops@hub.example.com";
    ca::IssuanceRequest email;
    email.csr = test::make_csr(*test::fresh_rsa_key(), with_email);
    email.profile = ca::Profile::hub;
    CHECK(refusal(f, f.admin, email) == "san_type_not_allowed");
}

namespace {

// A hub CSR whose subjectAltName holds these names (Botan's own request options write IPv4
// addresses only, so the SAN is made with the profile encoder and put in first).
ca::IssuanceRequest hub_request_with(const std::string& cn, std::vector<std::string> dns,
                                     const std::vector<std::string>& ips) {
    ca::ExtensionInputs san{.profile = ca::Profile::hub, .dns_names = std::move(dns)};
    for (const auto& text : ips) san.ip_addresses.push_back(*ca::IpAddress::parse(text));
    Botan::X509_Cert_Options options(cn);
    options.extensions = ca::profile_extensions(san);
    ca::IssuanceRequest r;
    r.csr = test::make_csr(*test::fresh_rsa_key(), options);
    r.profile = ca::Profile::hub;
    return r;
}

std::vector<std::vector<uint8_t>> ip_names(const Botan::X509_Certificate& cert) {
    // Botan 2.19 keeps only IPv4 addresses of a SAN: read the GeneralNames themselves.
    std::vector<std::vector<uint8_t>> out;
    const auto raw = cert.v3_extensions().extensions_raw();
    auto san = raw.find(Botan::OID("2.5.29.17"));
    if (san == raw.end()) return out;
    Botan::BER_Decoder outer(san->second.first);
    Botan::BER_Decoder names = outer.start_cons(Botan::SEQUENCE);
    while (names.more_items()) {
        auto name = names.get_next_object();
        if (name.is_a(Botan::ASN1_Tag(7), Botan::CONTEXT_SPECIFIC)) out.emplace_back(name.bits(), name.bits() + name.length());
    }
    return out;
}

}  // namespace

TEST_CASE("hub certificates carry IP addresses inside the configured networks only") {
    test::IssuerFixture f;  // networks 10.0.0.0/8 and fd00::/8
    auto issued = f.authority.issue(f.admin, hub_request_with("hub-ip", {"mqtt.hub.example.com"},
                                                              {"10.1.2.3", "fd00::17"}));
    auto cert = parse(issued);
    CHECK(cert.subject_alt_name().get_attribute("DNS") == std::vector<std::string>{"mqtt.hub.example.com"});
    CHECK(ip_names(cert) == std::vector<std::vector<uint8_t>>{ca::IpAddress::parse("10.1.2.3")->bytes,
                                                               ca::IpAddress::parse("fd00::17")->bytes});
    validate_path(f, cert, Botan::Usage_Type::TLS_SERVER_AUTH);
    // An IP address alone is enough for a hub reached by address only.
    CHECK(ip_names(parse(f.authority.issue(f.admin, hub_request_with("hub-ip-only", {}, {"10.9.9.9"})))).size() == 1);

    const auto before = f.certificate_count();
    for (const char* outside : {"192.168.1.1", "11.0.0.1", "2001:db8::1", "fe80::1"}) {
        CAPTURE(outside);
        auto r = hub_request_with("hub-outside", {"mqtt.hub.example.com"}, {"10.0.0.1", outside});
        CHECK(refusal(f, f.admin, r) == "ip_address_not_allowed");
        const std::string message = fmt::format(
            "the IP address {} is not in an allowed network (allowed: 10.0.0.0/8, fd00::/8)", outside);
        CHECK_THROWS_WITH(f.authority.issue(f.admin, r), doctest::Contains(message.c_str()));
    }
    CHECK(f.certificate_count() == before);
}

TEST_CASE("a hub renews hub certificates for the IP addresses it holds only") {
    test::IssuerFixture f;  // networks 10.0.0.0/8 and fd00::/8
    ca::IssuanceRequest enrol = hub_request_with("hub-ip", {"mqtt.hub.example.com"}, {"10.1.2.3"});
    enrol.enrollment_token = f.access.create_token(f.admin, store::Role::hub, 3600s);
    auto issued = f.authority.issue(ca::Caller::anonymous("anonymous"), enrol);
    auto hub = *f.access.caller_for_certificate(issued.record.fingerprint_sha256);
    // Its own name and address again: renewed.
    CHECK_NOTHROW(f.authority.issue(hub, hub_request_with("hub-ip", {"mqtt.hub.example.com"}, {"10.1.2.3"})));
    // Another address inside the networks, perhaps another hub's: only an admin or a token.
    const auto before = f.certificate_count();
    CHECK(refusal(f, hub, hub_request_with("hub-ip", {"mqtt.hub.example.com"}, {"10.1.2.4"})) == "dns_name_not_held");
    CHECK(f.certificate_count() == before);
    CHECK_NOTHROW(f.authority.issue(f.admin, hub_request_with("hub-ip", {"mqtt.hub.example.com"}, {"10.1.2.4"})));
}

TEST_CASE("with no networks configured, a hub CSR with an IP address is refused; an edge never gets one") {
    test::IssuerFixture f;
    ca::IssuancePolicy policy = test::IssuerFixture::default_policy();
    policy.hub_ip_networks.clear();
    ca::IssuingAuthority authority{f.store, f.clock, test::rng(), policy, f.identity};
    auto r = hub_request_with("hub-ip", {"mqtt.hub.example.com"}, {"10.1.2.3"});
    CHECK_THROWS_WITH(authority.issue(f.admin, r),
                      doctest::Contains("the IP address 10.1.2.3 is not in an allowed network (allowed: none "
                                        "configured"));
    CHECK(test::error_code([&] { authority.issue(f.admin, r); }) == "ip_address_not_allowed");

    // An edge CSR asking for an IP address (inside the fixture's networks) gets no SAN at all.
    f.register_device("SN-IP");
    Botan::X509_Cert_Options options("edge-ip");
    options.ip = "10.0.0.1";
    ca::IssuanceRequest edge = f.edge_request(*test::fresh_rsa_key(), "SN-IP", "edge-ip");
    edge.csr = test::make_csr(*test::fresh_rsa_key(), options);
    auto cert = parse(f.authority.issue(f.hub, edge));
    CHECK(extension_oids(cert).count("2.5.29.17") == 0);
}

TEST_CASE("an enrollment token is spent once, expires, and carries its role") {
    test::IssuerFixture f;
    auto token = f.access.create_token(f.admin, store::Role::hub, 3600s);
    CHECK(token.starts_with("ect_"));
    CHECK(token.size() == 4 + 43);

    Botan::X509_Cert_Options options("hub-7");
    options.dns = "hub.example.com";
    ca::IssuanceRequest r;
    r.csr = test::make_csr(*test::fresh_rsa_key(), options);
    r.profile = ca::Profile::hub;
    r.enrollment_token = token;
    auto anonymous = ca::Caller::anonymous("anonymous");
    auto issued = f.authority.issue(anonymous, r);
    // The token's holder becomes a principal named after the token, never after the CSR's CN.
    const std::string principal = "hub:" + ca::token_digest(token).substr(0, 16);
    CHECK(issued.record.requester == principal);
    CHECK(issued.principal == principal);
    auto caller = f.access.caller_for_certificate(issued.record.fingerprint_sha256);
    REQUIRE(caller);
    CHECK(caller->is_hub());
    CHECK(caller->principal == principal);

    r.csr = test::make_csr(*test::fresh_rsa_key(), options);
    CHECK(refusal(f, anonymous, r) == "token_spent");
    r.enrollment_token = "ect_unknown";
    CHECK(refusal(f, anonymous, r) == "token_invalid");

    auto admin_token = f.access.create_token(f.admin, store::Role::admin, 3600s);
    r.enrollment_token = admin_token;
    CHECK(refusal(f, anonymous, r) == "profile_not_allowed");
    r.profile = ca::Profile::client;
    r.csr = test::make_csr(*test::fresh_rsa_key(), "ops-laptop");
    auto admin_cert = f.authority.issue(anonymous, r);
    auto admin_caller = f.access.caller_for_certificate(admin_cert.record.fingerprint_sha256);
    REQUIRE(admin_caller);
    CHECK(admin_caller->is_admin());

    auto short_token = f.access.create_token(f.admin, store::Role::hub, 60s);
    f.clock.advance(61s);
    r.enrollment_token = short_token;
    r.csr = test::make_csr(*test::fresh_rsa_key(), "late");
    CHECK(refusal(f, anonymous, r) == "token_expired");
    CHECK(test::error_code([&] { f.access.create_token(f.hub, store::Role::hub, 3600s); }) == "admin_required");
}

TEST_CASE("an Idempotency-Key repeated by the same caller returns the same certificate") {
    test::IssuerFixture f;
    f.register_device("SN-1");
    auto r = f.edge_request(test::rsa_key(), "SN-1", "edge-1");
    r.idempotency_key = "req-1";
    auto first = f.authority.issue(f.hub, r);
    auto again = f.authority.issue(f.hub, r);
    CHECK(again.replayed);
    CHECK(again.record.serial == first.record.serial);
    CHECK(f.certificate_count() == 1);

    r.validity_days = 10;
    CHECK(refusal(f, f.hub, r) == "idempotency_key_reused");
    r.validity_days.reset();
    auto other_hub = ca::Caller::with_role("hub:hub-2", store::Role::hub);
    f.register_device("SN-2");  // SN-1 is hub-1's now
    auto theirs = f.edge_request(*test::fresh_rsa_key(), "SN-2", "edge-2");
    theirs.idempotency_key = "req-1";
    auto separate = f.authority.issue(other_hub, theirs);
    CHECK_FALSE(separate.replayed);
    CHECK(f.certificate_count() == 2);
    r.idempotency_key = std::string(256, 'k');
    CHECK(refusal(f, f.hub, r) == "idempotency_key_invalid");
}

TEST_CASE("the clock guard refuses to issue when the clock went back") {
    test::IssuerFixture f;
    f.register_device("SN-1");
    f.clock.advance(1h);
    f.authority.issue(f.hub, f.edge_request(test::rsa_key(), "SN-1", "edge-1"));
    f.clock.advance(-10s);
    CHECK_THROWS_WITH(f.authority.issue(f.hub, f.edge_request(test::rsa_key(), "SN-1", "edge-1")),
                      doctest::Contains("earlier than the latest issuance"));
    f.clock.advance(-std::chrono::hours(24 * 400));
    CHECK(refusal(f, f.hub, f.edge_request(test::rsa_key(), "SN-1", "edge-1")) == "clock_behind");
    CHECK(f.certificate_count() == 1);
}

TEST_CASE("a request that took its time before another one committed a later issuance is not refused") {
    // Request A reads the clock (T), request B commits an issuance at T+1, A checks the clock
    // guard: the clock did not go back, A must pass.
    struct Sequence final : ca::Clock {
        mutable std::vector<ca::Time> times;
        ca::Time now() const override {
            ca::Time t = times.front();
            if (times.size() > 1) times.erase(times.begin());
            return t;
        }
    };
    test::IssuerFixture f;
    f.register_device("SN-1");
    const auto t = f.clock.now() + 1h;
    f.clock.set(t + 1s);
    f.authority.issue(f.hub, f.edge_request(test::rsa_key(), "SN-1", "edge-1"));  // B, at T+1
    Sequence clock;
    clock.times = {t, t + 1s};
    ca::IssuingAuthority racing(f.store, clock, test::rng(), f.policy, f.identity);
    CHECK_NOTHROW(racing.issue(f.hub, f.edge_request(test::rsa_key(), "SN-1", "edge-1")));  // A
}

TEST_CASE("validity is clamped to the issuing CA's notAfter") {
    test::IssuerFixture f;
    f.register_device("SN-1");
    f.clock.advance(std::chrono::hours(24 * (3650 - 10)));
    auto cert = parse(f.authority.issue(f.hub, f.edge_request(test::rsa_key(), "SN-1", "edge-1")));
    CHECK(cert.not_after() == f.identity.certificate.not_after());
}

TEST_CASE("concurrent issuance: every serial distinct, every certificate recorded") {
    test::IssuerFixture f;
    f.register_device("SN-1");
    constexpr int threads = 8;
    constexpr int per_thread = 10;
    std::vector<std::vector<std::vector<uint8_t>>> serials(threads);
    std::vector<std::thread> workers;
    const auto& key = test::rsa_key();
    for (int t = 0; t < threads; ++t) {
        workers.emplace_back([&, t] {
            for (int i = 0; i < per_thread; ++i) {
                serials[t].push_back(f.authority.issue(f.hub, f.edge_request(key, "SN-1", "edge-1")).record.serial);
            }
        });
    }
    for (auto& w : workers) w.join();
    std::set<std::vector<uint8_t>> all;
    for (const auto& list : serials) all.insert(list.begin(), list.end());
    CHECK(all.size() == threads * per_thread);
    CHECK(f.certificate_count() == threads * per_thread);
    CHECK(f.store.read([](const store::Reader& r) { return r.verify_audit_chain(); }).intact);
}

TEST_CASE("a device belongs to the hub that registered or first claimed it") {
    test::IssuerFixture f;
    auto other_hub = ca::Caller::with_role("hub:hub-2", store::Role::hub);
    f.registry.add_product(f.admin, {.product_key = "P1", .max_validity_days = 730});
    f.registry.add_device(f.hub, "P1", "SN-OWN", std::nullopt);
    f.registry.add_device(f.admin, "P1", "SN-FREE", std::nullopt);
    CHECK(f.registry.device("SN-OWN")->owner == "hub:hub-1");
    CHECK_FALSE(f.registry.device("SN-FREE")->owner);
    f.clock.advance(1h);

    // Another hub's device is not found, for issuance and for reading.
    CHECK(refusal(f, other_hub, f.edge_request(*test::fresh_rsa_key(), "SN-OWN", "own")) == "device_not_found");
    CHECK_FALSE(f.registry.device(other_hub, "SN-OWN"));
    CHECK(f.registry.device(f.hub, "SN-OWN"));
    CHECK(f.registry.devices(other_hub, std::nullopt, "", 100).size() == 1);  // SN-FREE only
    CHECK(f.registry.devices(f.admin, std::nullopt, "", 100).size() == 2);

    // An unowned device is claimed by the first hub that gets a certificate for it.
    f.authority.issue(f.hub, f.edge_request(*test::fresh_rsa_key(), "SN-FREE", "free"));
    CHECK(f.registry.device("SN-FREE")->owner == "hub:hub-1");
    CHECK(refusal(f, other_hub, f.edge_request(*test::fresh_rsa_key(), "SN-FREE", "free-2")) == "device_not_found");
    // Admins are not scoped, and claim nothing.
    CHECK_NOTHROW(f.authority.issue(f.admin, f.edge_request(*test::fresh_rsa_key(), "SN-OWN", "by-admin")));
    CHECK(f.registry.device("SN-OWN")->owner == "hub:hub-1");
}

TEST_CASE("a hub renews only its own certificates and hub certificates for its own DNS names") {
    test::IssuerFixture f;
    auto enrol = [&](const std::string& cn, const std::string& dns) {
        Botan::X509_Cert_Options options(cn);
        options.dns = dns;
        ca::IssuanceRequest r;
        r.csr = test::make_csr(*test::fresh_rsa_key(), options);
        r.profile = ca::Profile::hub;
        r.enrollment_token = f.access.create_token(f.admin, store::Role::hub, 3600s);
        auto issued = f.authority.issue(ca::Caller::anonymous("anonymous"), r);
        return *f.access.caller_for_certificate(issued.record.fingerprint_sha256);
    };
    auto a = enrol("hub-a", "a.hub.example.com");
    auto b = enrol("hub-a", "b.hub.example.com");  // the same CN: a principal of its own
    CHECK(a.principal != b.principal);

    Botan::X509_Cert_Options stolen("hub-a");
    stolen.dns = "a.hub.example.com";
    ca::IssuanceRequest r;
    r.csr = test::make_csr(*test::fresh_rsa_key(), stolen);
    r.profile = ca::Profile::hub;
    CHECK(refusal(f, b, r) == "dns_name_not_held");
    auto renewed = f.authority.issue(a, r);
    CHECK(renewed.principal == a.principal);

    f.register_device("SN-1");
    f.clock.advance(1h);
    auto edge = f.authority.issue(a, f.edge_request(*test::fresh_rsa_key(), "SN-1", "edge-1"));
    ca::IssuanceRequest renew = f.edge_request(*test::fresh_rsa_key(), "SN-1", "edge-1");
    renew.csr.clear();
    renew.renewal_of = edge.record.serial;
    CHECK(refusal(f, b, renew) == "certificate_not_found");
    renew.renewal_of.reset();
    renew.csr = test::make_csr(*test::fresh_rsa_key(), "edge-1");
    CHECK(refusal(f, b, renew) == "device_not_found");
    renew.csr.clear();
    renew.renewal_of = edge.record.serial;
    CHECK_NOTHROW(f.authority.issue(a, renew));
}

TEST_SUITE_END();
