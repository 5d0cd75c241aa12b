// tests/unit/issuer_fixture.h — a root, an issuing CA certified by it and an engine over a real
// store (SQLite in a temporary directory, or a PostgreSQL database: see fresh_store), standing at a fixed instant.
#pragma once

#include <botan/pkcs8.h>

#include "ca/access_control.h"
#include "ca/device_registry.h"
#include "ca/issuing_authority.h"
#include "ca/root_authority.h"
#include "tests/unit/test_support.h"

namespace edgeca::test {

struct IssuerFixture {
    TempDir dir;
    ca::FixedClock clock{ca::Time(std::chrono::sys_days(std::chrono::year(2026) / 11 / 25))};
    store::Store root_store = store::Store::create(dir / "root.db");
    store::StoreLocation store_location = fresh_store_location(dir, "issuer.db");
    store::Store store = store::Store::create(store_location);
    std::shared_ptr<Botan::Private_Key> issuer_key = fresh_rsa_key();
    ca::IssuerIdentity identity = make_identity();
    ca::IssuancePolicy policy = default_policy();
    ca::IssuingAuthority authority{store, clock, rng(), policy, identity};
    ca::DeviceRegistry registry{store, clock, rng()};
    ca::AccessControl access{store, clock, rng()};
    ca::Caller admin = ca::Caller::operator_on_host("cli:test");
    ca::Caller hub = ca::Caller::with_role("hub:hub-1", store::Role::hub);

    static ca::IssuancePolicy default_policy() {
        ca::IssuancePolicy p;
        p.hub_allowed_domains = {"hub.example.com", "localhost"};
        p.hub_ip_networks = {ca::IpNetwork::parse("10.0.0.0/8"), ca::IpNetwork::parse("fd00::/8")};
        p.crl_urls = {"http://ca.example.com/crl"};
        p.ca_issuer_urls = {"http://ca.example.com/ca.pem"};
        return p;
    }

    ca::IssuerIdentity make_identity() {
        auto root_key = fresh_rsa_key();
        auto root_cert = ca::RootAuthority::create(
            root_store, *root_key, ca::parse_distinguished_name("CN=Unit Root,C=CN"), 7300,
            clock, rng(), "cli:test");
        ca::RootAuthority root(root_store, clock, rng(), std::move(root_key), root_cert);
        auto issuer_cert = root.sign_intermediate(
            make_csr(*issuer_key, "Unit Issuing CA"), 3650, "cli:test");
        return {issuer_key, issuer_cert, root_cert, {{root_cert}, {}}};
    }

    // A registered device "SN-<n>" of product "P1".
    void register_device(const std::string& device_key) {
        if (!registry.product("P1")) registry.add_product(admin, {.product_key = "P1", .max_validity_days = 730});
        registry.add_device(admin, "P1", device_key, std::nullopt);
    }

    ca::IssuanceRequest edge_request(const Botan::Private_Key& key, const std::string& device_key,
                                     const std::string& cn) {
        ca::IssuanceRequest r;
        r.csr = make_csr(key, cn);
        r.profile = ca::Profile::edge;
        r.product_key = "P1";
        r.device_key = device_key;
        return r;
    }

    int64_t certificate_count() {
        return store.read([](const store::Reader& r) { return r.certificate_count(); });
    }
    store::AuditEntry last_audit() {
        store::AuditEntry last;
        store.read([&](const store::Reader& r) {
            r.each_audit_entry([&](const store::AuditEntry& e) {
                last = e;
                return true;
            });
        });
        return last;
    }
};

}  // namespace edgeca::test
