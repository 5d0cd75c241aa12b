// tests/fuzz/fuzz_json_bodies.cpp — the JSON request bodies of every route. Each input is taken
// as the body of each of the eight routes that read one, with that route's allowed fields, and
// the fields are then read with the getters that route calls. A body is accepted or refused with
// a ca::Error whose response can be written; nlohmann's own exceptions (type_error,
// out_of_range, ...) must never escape, whatever the types and nesting of the fields.
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdint>
#include <fmt/format.h>
#include <set>
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

using api::enos::bad_argument;
using api::enos::check_issue_authority;
using api::enos::lenient_integer;

// The routes' own rules (api/enos_fields.h), with the body as routes_enos.cpp reads it.
json enos_body(const std::string& text, std::initializer_list<std::string_view> allowed) {
    return api::enos::body_from_text(text, allowed);
}

void valid_day(const json& body) { (void)api::enos::valid_day(body, std::nullopt); }

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

void enos_apply(const std::string& text) {
    json body = enos_body(text, {"csr", "validDay", "issueAuthority"});
    check_issue_authority(body);
    auto csr = body.find("csr");
    if (csr == body.end() || !csr->is_string() || csr->get_ref<const std::string&>().empty()) {
        bad_argument("csr is required");
    }
    valid_day(body);
}

void enos_renew(const std::string& text) {
    json body = enos_body(text, {"certSn", "csr", "validDay", "issueAuthority"});
    check_issue_authority(body);
    if (!lenient_integer(body, "certSn")) bad_argument("certSn is required");
    if (auto csr = body.find("csr"); csr != body.end() && !csr->is_null()) {
        if (!csr->is_string()) bad_argument("csr must be a PEM string");
        (void)csr->get_ref<const std::string&>();
    }
    valid_day(body);
}

void enos_revoke(const std::string& text) {
    json body = enos_body(text, {"certSn", "reason"});
    if (!lenient_integer(body, "certSn")) bad_argument("certSn is required");
    auto reason = lenient_integer(body, "reason").value_or(0);
    static const std::set<int64_t> enos_reasons = {0, 1, 3, 4, 5, 6, 9};
    if (!enos_reasons.contains(reason)) bad_argument("reason is one of 0, 1, 3, 4, 5, 6, 9 (RFC 5280)");
}

void enos_token(const std::string& text) {
    json body = JsonBody::parse_text(text, {"appKey", "encryption", "timestamp"}).value();
    auto field = [&](const char* key) {
        auto it = body.find(key);
        return it != body.end() && it->is_string() ? it->get<std::string>() : std::string();
    };
    (void)field("appKey");
    (void)field("encryption");
    if (!lenient_integer(body, "timestamp")) {
        throw ca::Error(ca::ErrorKind::unauthenticated, "parameter_missing", "timestamp is required");
    }
}

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
