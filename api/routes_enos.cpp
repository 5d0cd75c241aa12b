// api/routes_enos.cpp — the EnOS-compatible surface: the API gateway's token service and the
// Connection Service certificate API, so that a hub written for EnOS works against edgeca with
// only its base URL and app credentials changed. The decisions stay the engine's.
#include <botan/hex.h>
#include <botan/system_rng.h>
#include <fmt/format.h>

#include <set>

#include "api/enos_fields.h"
#include "api/event_log.h"
#include "api/http_support.h"
#include "api/service.h"
#include "ca/certificate_facts.h"
#include "ca/distinguished_name.h"
#include "ca/encoding.h"
#include "ca/revocation_reason.h"
#include "store/database.h"

namespace edgeca::api {
namespace {

using nlohmann::json;
using enos::bad_argument;
using enos::check_issue_authority;
using enos::lenient_integer;

// EnOS's codes (DESIGN.md "EnOS-compatible surface" and EnOS's public API documentation).
constexpr int enos_ok = 0;
constexpr int enos_bad_argument = 99400;
constexpr int enos_device_not_found = 11404;
constexpr int enos_bound_to_other_device = 11833;
constexpr int enos_internal = 99500;

int gateway_code(const std::string& code) {
    if (code == "replayed") return 1001;
    if (code == "app_key_unknown") return 1002;
    if (code == "encryption_invalid" || code == "signature_invalid") return 1003;
    if (code == "timestamp_out_of_window") return 1004;
    if (code == "parameter_missing") return 1202;
    if (code == "access_token_unknown" || code == "access_token_expired") return 1203;
    return 1004;
}

int business_code(const ca::Error& e) {
    if (e.code() == "device_not_found") return enos_device_not_found;
    if (e.code() == "certificate_of_other_device") return enos_bound_to_other_device;
    if (e.kind() == ca::ErrorKind::internal || e.kind() == ca::ErrorKind::unavailable) return enos_internal;
    return enos_bad_argument;
}

std::string request_id() {
    Botan::System_RNG rng;
    return Botan::hex_encode(rng.random_vec(16), false);
}

void envelope(httplib::Response& res, int status, int code, const std::string& message, json data = nullptr) {
    json body = {{"code", code}, {"msg", message}, {"requestId", request_id()}};
    if (!data.is_null()) body["data"] = std::move(data);
    write_json(res, status, body);
}

int64_t epoch_ms(ca::Time t) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

json parse_body(const httplib::Request& req, std::initializer_list<std::string_view> allowed) {
    if (!req.body.empty()) require_json(req);
    return enos::body_from_text(req.body, allowed);
}

struct Context {
    Engine& engine;
    ca::AppCredentials& apps;
    EnosSettings settings;
};

// The device a request names: assetId, or productKey + deviceKey.
store::DeviceRecord device_of(Context& c, const httplib::Request& req) {
    auto asset = query(req, "assetId");
    auto product = query(req, "productKey");
    auto device_key = query(req, "deviceKey");
    std::optional<store::DeviceRecord> device;
    if (asset) {
        device = c.engine.store.read([&](const store::Reader& r) { return r.device_by_asset_id(*asset); });
    } else if (product && device_key) {
        device = c.engine.registry.device(*device_key);
        if (device && device->product_key != *product) device.reset();
    } else {
        bad_argument("name the device with assetId, or with productKey and deviceKey");
    }
    if (!device) {
        throw ca::Error(ca::ErrorKind::not_found, "device_not_found", "the device is not registered");
    }
    return *device;
}

std::optional<int> valid_day(const httplib::Request& req, const json& body) {
    return enos::valid_day(body, query(req, "validDay"));
}

store::CertificateRecord bound_certificate(Context& c, const json& body, const store::DeviceRecord& device) {
    auto id = lenient_integer(body, "certSn");
    if (!id) bad_argument("certSn is required");
    auto record = c.engine.store.read([&](const store::Reader& r) { return r.certificate_by_id(*id); });
    if (!record || record->profile != "edge" || !record->device_key) {
        bad_argument("the certificate is not bound to this device");
    }
    if (*record->device_key != device.device_key) {
        throw ca::Error(ca::ErrorKind::policy, "certificate_of_other_device",
                        "the certificate is bound to another device");
    }
    return *record;
}

json issued_data(Context& c, const ca::IssuedCertificate& issued) {
    return {{"cert", issued.certificate_pem},
            {"caCert", c.engine.authority.issuer().chain_pem()},
            {"certSN", issued.record.id},
            {"certChainURL", c.settings.chain_url},
            {"issueAuthority", "RSA"}};
}

json list_item(const store::CertificateRecord& r, ca::Time now, const std::string& issuer) {
    int status = r.status_at(now) == store::CertificateStatus::valid ? 0
                 : r.status_at(now) == store::CertificateStatus::revoked ? 1 : 2;
    return {{"certSN", r.id},
            {"cert", ca::encode_pem(r.der, "CERTIFICATE")},
            {"certStatus", status},
            {"issuer", issuer},
            {"subject", r.subject},
            {"signDate", epoch_ms(r.issued_at)},
            {"effetiveDate", epoch_ms(r.not_before)},  // sic: EnOS's spelling
            {"expireDate", epoch_ms(r.not_after)},
            {"revoker", r.revoked_by ? json(*r.revoked_by) : json(nullptr)},
            {"revokerReason", r.revocation_reason ? json(*r.revocation_reason) : json(nullptr)},
            {"issueAuthority", "RSA"}};
}

json certificate_action(Context& c, const httplib::Request& req, const ca::Caller& caller,
                        const std::string& action) {
    auto org = query(req, "orgId");
    if (!org || org->empty()) bad_argument("orgId is required");
    if (!c.settings.org_id.empty() && *org != c.settings.org_id) bad_argument("orgId is not this CA's organization");
    const auto device = device_of(c, req);
    const auto now = c.engine.clock.now();

    if (action == "list") {
        if (req.method != "GET") bad_argument("action=list is a GET");
        store::CertificateFilter filter{.device_key = device.device_key, .profile = std::string("edge"), .limit = 1000};
        json items = json::array();
        const std::string issuer = ca::to_rfc4514(c.engine.authority.issuer().certificate.subject_dn());
        for (const auto& r : c.engine.authority.certificates(caller, filter)) items.push_back(list_item(r, now, issuer));
        return items;
    }
    if (req.method != "POST") bad_argument(fmt::format("action={} is a POST", action));

    if (action == "apply") {
        json body = parse_body(req, {"csr", "validDay", "issueAuthority"});
        check_issue_authority(body);
        auto csr = body.find("csr");
        if (csr == body.end() || !csr->is_string() || csr->get_ref<const std::string&>().empty()) {
            bad_argument("csr is required");
        }
        ca::IssuanceRequest request;
        const auto& text = csr->get_ref<const std::string&>();
        request.csr.assign(text.begin(), text.end());
        request.profile = ca::Profile::edge;
        request.product_key = device.product_key;
        request.device_key = device.device_key;
        request.validity_days = valid_day(req, body).value_or(730);
        return issued_data(c, c.engine.authority.issue(caller, request));
    }
    if (action == "renew") {
        json body = parse_body(req, {"certSn", "csr", "validDay", "issueAuthority"});
        check_issue_authority(body);
        auto original = bound_certificate(c, body, device);
        ca::IssuanceRequest request;
        if (auto csr = body.find("csr"); csr != body.end() && !csr->is_null()) {
            if (!csr->is_string()) bad_argument("csr must be a PEM string");
            const auto& text = csr->get_ref<const std::string&>();
            request.csr.assign(text.begin(), text.end());
        }
        request.renewal_of = original.serial;
        request.profile = ca::Profile::edge;
        request.product_key = device.product_key;
        request.device_key = device.device_key;
        request.validity_days = valid_day(req, body).value_or(730);
        return issued_data(c, c.engine.authority.issue(caller, request));
    }
    if (action == "revoke") {
        json body = parse_body(req, {"certSn", "reason"});
        auto original = bound_certificate(c, body, device);
        auto reason = lenient_integer(body, "reason").value_or(0);
        static const std::set<int64_t> enos_reasons = {0, 1, 3, 4, 5, 6, 9};
        if (!enos_reasons.contains(reason)) bad_argument("reason is one of 0, 1, 3, 4, 5, 6, 9 (RFC 5280)");
        c.engine.revoker.revoke(caller, original.serial, static_cast<int>(reason));
        return nullptr;
    }
    bad_argument("action is apply, renew, revoke or list");
}

void connect_service(Context& c, const httplib::Request& req, httplib::Response& res) {
    std::vector<std::pair<std::string, std::string>> params(req.params.begin(), req.params.end());
    ca::Caller caller = ca::Caller::anonymous("anonymous");
    try {
        caller = c.apps.authenticate(req.get_header_value("apim-accesstoken"), req.get_header_value("apim-timestamp"),
                                     req.get_header_value("apim-signature"), ca::enos_params_data(params, req.body));
    } catch (const ca::Error& e) {
        c.engine.metrics.refused(e.code());
        envelope(res, e.kind() == ca::ErrorKind::unavailable ? 503 : 401, gateway_code(e.code()), e.what());
        return;
    }
    note_caller(caller.principal);
    try {
        std::string action = query(req, "action").value_or("");
        json data = certificate_action(c, req, caller, action);
        envelope(res, 200, enos_ok, "OK", data.is_null() ? json(nullptr) : data);
    } catch (const ca::Error& e) {
        c.engine.metrics.refused(e.code());
        envelope(res, 200, business_code(e), e.what());
    } catch (const store::StoreError& e) {
        log_event({{"event", "store_error"}, {"path", req.path}, {"error", e.what()}});
        envelope(res, 200, enos_internal, "the certificate store cannot be written now; nothing was changed");
    } catch (const std::exception& e) {
        log_event({{"event", "internal_error"}, {"path", req.path}, {"error", e.what()}});
        envelope(res, 200, enos_internal, "an internal error occurred; it was logged");
    }
}

void token_get(Context& c, const httplib::Request& req, httplib::Response& res) {
    auto answer = [&](int status, int code, const std::string& message, json data = nullptr) {
        json body = {{"status", code}, {"msg", message}, {"business", "apim-token-service"}};
        if (!data.is_null()) body["data"] = std::move(data);
        write_json(res, status, body);
    };
    try {
        json body = JsonBody::parse(req, {"appKey", "encryption", "timestamp"}).value();
        auto text = [&](const char* key) {
            auto it = body.find(key);
            return it != body.end() && it->is_string() ? it->get<std::string>() : std::string();
        };
        auto timestamp = lenient_integer(body, "timestamp");
        if (!timestamp) throw ca::Error(ca::ErrorKind::unauthenticated, "parameter_missing", "timestamp is required");
        auto token = c.apps.issue_access_token(text("appKey"), text("encryption"), *timestamp);
        answer(200, 0, "Success", {{"accessToken", token.token}, {"expire", token.expires_in.count()}});
    } catch (const ca::Error& e) {
        c.engine.metrics.refused(e.code());
        int status = e.kind() == ca::ErrorKind::unauthenticated ? 401 : e.kind() == ca::ErrorKind::unavailable ? 503 : 400;
        answer(status, e.kind() == ca::ErrorKind::unauthenticated || e.kind() == ca::ErrorKind::unavailable
                           ? gateway_code(e.code()) : 1004, e.what());
    } catch (const store::StoreError& e) {
        log_event({{"event", "store_error"}, {"path", req.path}, {"error", e.what()}});
        answer(503, 1005, "internal service exception");
    }
}

}  // namespace

void add_enos_routes(httplib::Server& server, Engine& engine, ca::AppCredentials& apps,
                     const EnosSettings& settings) {
    auto context = std::make_shared<Context>(Context{engine, apps, settings});
    server.Post("/apim-token-service/v2.0/token/get", [context](const httplib::Request& req, httplib::Response& res) {
        token_get(*context, req, res);
    });
    auto certificates = [context](const httplib::Request& req, httplib::Response& res) {
        connect_service(*context, req, res);
    };
    server.Get("/connect-service/v2.0/certificates", certificates);
    server.Post("/connect-service/v2.0/certificates", certificates);
}

void add_enos_downloads(httplib::Server& server, Engine& engine) {
    server.Get("/enos/CA/cacert/RSA", [&engine](const httplib::Request& req, httplib::Response& res) {
        handle_public(req, res, [&] { res.set_content(engine.authority.issuer().chain_pem(), "application/x-pem-file"); });
    });
}

}  // namespace edgeca::api
