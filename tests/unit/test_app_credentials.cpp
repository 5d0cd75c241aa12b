// tests/unit/test_app_credentials.cpp — the EnOS gateway scheme: tokens, signatures, windows,
// replays; and renewals of an edge certificate with its earlier key.
#include <doctest/doctest.h>

#include "ca/app_credentials.h"
#include "ca/encoding.h"
#include "ca/revocation.h"
#include "tests/unit/issuer_fixture.h"

using namespace edgeca;
using namespace std::chrono_literals;

namespace {

int64_t ms(ca::Time t) { return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count(); }

struct GatewayFixture : test::IssuerFixture {
    ca::AppCredentials apps{store, clock, test::rng(), identity.certificate, identity.key,
                            {.token_lifetime = 7200s, .timestamp_window = 300s, .repeat_wait = 200ms}};
    ca::AppCredentialPair app = apps.create(admin, "hub-app", store::Role::hub);

    std::string encryption(int64_t timestamp) {
        return ca::sha256_hex(ca::as_bytes(app.app_key + std::to_string(timestamp) + app.app_secret));
    }
    std::string signature(const std::string& token, const std::string& params, int64_t timestamp) {
        return ca::sha256_hex(ca::as_bytes(token + params + std::to_string(timestamp) + app.app_secret));
    }
};

}  // namespace

// Every case here runs on each store engine (see fresh_store).
TEST_SUITE_BEGIN("store");

TEST_CASE("paramsData sorts query parameters by name and appends the body") {
    CHECK(ca::enos_params_data({{"k3", "v3"}, {"k1", "v1"}, {"k2", "v2"}}, "{\"a\":1}") == "k1v1k2v2k3v3{\"a\":1}");
    CHECK(ca::enos_params_data({}, "") == "");
    CHECK(ca::enos_params_data({{"b", "2"}, {"B", "1"}}, "") == "B1b2");  // ASCII order
}

TEST_CASE("an access token is issued for a correct encryption inside the window only") {
    GatewayFixture f;
    const int64_t now = ms(f.clock.now());
    auto token = f.apps.issue_access_token(f.app.app_key, f.encryption(now), now);
    CHECK(token.token.starts_with("eat_"));
    CHECK(token.expires_in == 7200s);
    // The same request again (a client asking twice in one second) gets the same token, with
    // what is left of its lifetime; another timestamp gets another token.
    f.clock.advance(2s);
    auto again = f.apps.issue_access_token(f.app.app_key, f.encryption(now), now);
    CHECK(again.token == token.token);
    CHECK(again.expires_in == 7198s);
    CHECK(f.apps.issue_access_token(f.app.app_key, f.encryption(now + 1), now + 1).token != token.token);
    CHECK(test::error_code([&] { f.apps.issue_access_token("nope", f.encryption(now + 1), now + 1); }) == "app_key_unknown");
    CHECK(test::error_code([&] { f.apps.issue_access_token(f.app.app_key, f.encryption(now + 2) + "0", now + 2); }) ==
          "encryption_invalid");
    const int64_t stale = now - 301000;
    CHECK(test::error_code([&] { f.apps.issue_access_token(f.app.app_key, f.encryption(stale), stale); }) ==
          "timestamp_out_of_window");
    // Upper case hex is accepted: sha256(...).toLowerCase() is what EnOS asks, but case is not a secret.
    std::string upper = f.encryption(now + 3);
    for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    CHECK_NOTHROW(f.apps.issue_access_token(f.app.app_key, upper, now + 3));
}

TEST_CASE("a signed call authenticates as the application's role until the token expires") {
    GatewayFixture f;
    int64_t now = ms(f.clock.now());
    auto token = f.apps.issue_access_token(f.app.app_key, f.encryption(now), now).token;
    const std::string params = ca::enos_params_data({{"action", "list"}, {"orgId", "o1"}}, "");
    auto call = f.apps.authenticate(token, std::to_string(now), f.signature(token, params, now), params);
    CHECK(call.caller.is_hub());
    CHECK(call.caller.principal == "app:hub-app");
    CHECK(call.app_key == f.app.app_key);
    // The same signature again authenticates as the same call: a read is answered again.
    auto repeated = f.apps.authenticate(token, std::to_string(now), f.signature(token, params, now), params);
    CHECK(repeated.signature_sha256 == call.signature_sha256);
    CHECK(f.apps.authenticate(token, std::to_string(now + 1), f.signature(token, params, now + 1), params)
              .signature_sha256 != call.signature_sha256);
    CHECK(test::error_code([&] { f.apps.authenticate(token, std::to_string(now + 1), f.signature(token, params, now), params); }) ==
          "signature_invalid");
    CHECK(test::error_code([&] { f.apps.authenticate("eat_x", std::to_string(now), "00", params); }) == "access_token_unknown");
    CHECK(test::error_code([&] { f.apps.authenticate(token, "", "", params); }) == "parameter_missing");
    CHECK(test::error_code([&] { f.apps.authenticate(token, "12x", "00", params); }) == "timestamp_out_of_window");
    f.clock.advance(7201s);
    now = ms(f.clock.now());
    CHECK(test::error_code([&] { f.apps.authenticate(token, std::to_string(now), f.signature(token, params, now), params); }) ==
          "access_token_expired");
}

TEST_CASE("only admins create applications; names are unique; secrets are sealed") {
    GatewayFixture f;
    CHECK(test::error_code([&] { f.apps.create(f.hub, "other", store::Role::hub); }) == "admin_required");
    CHECK(test::error_code([&] { f.apps.create(f.admin, "hub-app", store::Role::admin); }) == "app_exists");
    auto record = f.store.read([&](const store::Reader& r) { return r.app(f.app.app_key); });
    REQUIRE(record);
    CHECK(record->sealed_secret.size() == 256);
    std::string sealed(record->sealed_secret.begin(), record->sealed_secret.end());
    CHECK(sealed.find(f.app.app_secret) == std::string::npos);
}

TEST_CASE("a renewal without a CSR certifies the earlier key again, for a valid certificate of the device") {
    test::IssuerFixture f;
    f.register_device("SN-1");
    f.register_device("SN-2");
    f.clock.advance(1h);
    auto key = test::fresh_rsa_key();
    auto first = f.authority.issue(f.hub, f.edge_request(*key, "SN-1", "edge-1"));
    ca::IssuanceRequest renew;
    renew.profile = ca::Profile::edge;
    renew.product_key = "P1";
    renew.device_key = "SN-1";
    renew.renewal_of = first.record.serial;
    auto renewed = f.authority.issue(f.hub, renew);
    CHECK(renewed.record.spki_sha256 == first.record.spki_sha256);
    CHECK(renewed.record.subject == first.record.subject);
    CHECK(renewed.record.serial != first.record.serial);

    renew.device_key = "SN-2";
    CHECK(test::error_code([&] { f.authority.issue(f.hub, renew); }) == "certificate_of_other_device");
    renew.device_key = "SN-1";
    ca::Revoker(f.store, f.clock).revoke(f.hub, first.record.serial, 4);
    CHECK(test::error_code([&] { f.authority.issue(f.hub, renew); }) == "certificate_not_valid");
    renew.renewal_of = renewed.record.serial;
    f.clock.advance(std::chrono::hours(24 * 731));
    CHECK(test::error_code([&] { f.authority.issue(f.hub, renew); }) == "certificate_not_valid");
}

TEST_CASE("a call that acts is claimed once; a repeat gets the first answer, on any instance") {
    GatewayFixture f;
    const int64_t now = ms(f.clock.now());
    auto token = f.apps.issue_access_token(f.app.app_key, f.encryption(now), now).token;
    const std::string params = ca::enos_params_data({{"action", "revoke"}, {"orgId", "o1"}}, "{}");
    auto call = f.apps.authenticate(token, std::to_string(now), f.signature(token, params, now), params);
    CHECK_FALSE(f.apps.claim(call).has_value());  // the first: it acts
    // While it runs, a repeat waits for it, then gives up without acting.
    CHECK(test::error_code([&] { f.apps.claim(call); }) == "call_unfinished");
    f.apps.answer(call, R"({"code":0})");
    // A second instance over the same store (another node, or after a restart) sees the answer.
    ca::AppCredentials other{f.store, f.clock, test::rng(), f.identity.certificate, f.identity.key, {}};
    CHECK(other.claim(call) == std::optional<std::string>(R"({"code":0})"));
    // A call that changed nothing gives its claim up, and the same call may act again.
    auto second = f.apps.authenticate(token, std::to_string(now + 1), f.signature(token, params, now + 1), params);
    CHECK_FALSE(f.apps.claim(second).has_value());
    f.apps.release(second);
    CHECK_FALSE(f.apps.claim(second).has_value());
    // Claims are forgotten once their timestamp is out of the window.
    f.clock.advance(400s);
    f.store.write([&](store::Writer& w) {
        CHECK(w.claim_enos_call({"other", f.app.app_key, f.clock.now(), f.clock.now() + 300s}));
    });
    CHECK_FALSE(f.store.read([&](const store::Reader& r) { return r.enos_call(call.signature_sha256); }).has_value());
}

TEST_SUITE_END();
