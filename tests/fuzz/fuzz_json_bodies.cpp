// tests/fuzz/fuzz_json_bodies.cpp — the JSON request bodies of every route. Each input is taken
// as the body of each of the eight routes that read one, with that route's allowed fields, and
// the fields are then read with the getters that route calls. A body is accepted or refused with
// a ca::Error whose response can be written; nlohmann's own exceptions (type_error,
// out_of_range, ...) must never escape, whatever the types and nesting of the fields.
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdint>
#include <fmt/format.h>
#include <string>

#include "api/enos_fields.h"
#include "api/http_support.h"
#include "ca/profile.h"
#include "ca/revocation_reason.h"
#include "store/records.h"
#include "tests/fuzz/error_response.h"

using namespace edgeca;
using api::JsonBody;
using nlohmann::json;

namespace {

// The routes' own rules (api/enos_fields.h), with the body as routes_enos.cpp reads it.
json enos_body(const std::string& text) { return api::enos::body_from_text(text); }

// ---- The routes, each reading its body as the route does.

void v1_issue(const std::string& text) {
    auto body = JsonBody::parse_text(
        text, {"csr", "profile", "product_key", "device_key", "asset_id", "validity_days", "grant_role"});
    std::string profile = body.required_string("profile");
    auto parsed = ca::profile_from_string(profile);
    if (!parsed || ca::is_ca_profile(*parsed) || *parsed == ca::Profile::server) {
        // routes_v1.cpp issue_certificate
        throw ca::Error(ca::ErrorKind::bad_input, "profile_unknown",
                        fmt::format("profile '{}' is not one of edge, hub, client", profile.substr(0, 32)));
    }
    (void)body.required_string("csr");
    (void)body.string("product_key");
    (void)body.string("device_key");
    (void)body.string("asset_id");
    (void)body.integer("validity_days", -100000, 100000);
    if (auto role = body.string("grant_role")) {
        if (!store::role_from_string(*role)) {
            throw ca::Error(ca::ErrorKind::bad_input, "grant_role_invalid", "grant_role is admin or hub");
        }
    }
}

void v1_device(const std::string& text) {
    auto body = JsonBody::parse_text(text, {"product_key", "device_key", "asset_id"});
    (void)body.required_string("product_key");
    (void)body.required_string("device_key");
    (void)body.string("asset_id");
}

void v1_product(const std::string& text) {
    auto body = JsonBody::parse_text(text, {"product_key", "name", "max_validity_days", "certificate_auth"});
    (void)body.required_string("product_key");
    (void)body.string("name").value_or("");
    (void)body.integer("max_validity_days", 1, 36500);
    (void)body.boolean("certificate_auth");
}

void v1_revoke(const std::string& text) {
    if (text.empty()) return;  // the body of a revocation is optional
    auto body = JsonBody::parse_text(text, {"reason"});
    std::string name = body.string("reason").value_or("unspecified");
    if (!ca::reason_code(name)) {
        // routes_v1.cpp reason_from
        throw ca::Error(ca::ErrorKind::bad_input, "reason_invalid",
                        fmt::format("'{}' is not an RFC 5280 reason name", name.substr(0, 40)));
    }
}

void enos_apply(const std::string& text) { (void)api::enos::apply_body(enos_body(text), std::nullopt); }

void enos_renew(const std::string& text) { (void)api::enos::renew_body(enos_body(text), std::nullopt); }

void enos_revoke(const std::string& text) { (void)api::enos::revoke_body(enos_body(text)); }

void enos_token(const std::string& text) { (void)api::enos::token_body(enos_body(text)); }

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size > 64 * 1024) return 0;  // the service refuses larger bodies before reading them
    const std::string text(fuzz::as_text(data, size));
    for (auto route : {v1_issue, v1_device, v1_product, v1_revoke, enos_apply, enos_renew, enos_revoke, enos_token}) {
        try {
            route(text);
        } catch (const ca::Error& e) {
            fuzz::render_error(e);
        }
    }
    return 0;
}
