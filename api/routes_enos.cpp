// api/routes_enos.cpp — the EnOS-compatible surface: the API gateway's token service and the
// Connection Service certificate API, so that a hub written for EnOS works against edgeca with
// only its base URL and app credentials changed. The decisions stay the engine's.
#include <botan/hex.h>
#include <botan/system_rng.h>
#include <fmt/format.h>

#include <botan/x509cert.h>

#include "api/enos_fields.h"
#include "api/event_log.h"
#include "api/http_support.h"
#include "api/service.h"
#include "ca/certificate_facts.h"
#include "ca/encoding.h"
#include "store/database.h"

namespace edgeca::api {
namespace {

using nlohmann::json;
using enos::bad_argument;

// EnOS's codes (DESIGN.md "EnOS-compatible surface" and EnOS's public API documentation).
constexpr int enos_ok = 0;
constexpr int enos_bad_argument = 99400;
constexpr int enos_device_not_found = 11404;
constexpr int enos_bound_to_other_device = 11833;
constexpr int enos_internal = 99500;

int gateway_code(const std::string& code) {
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

json envelope_of(int code, const std::string& message, json data = nullptr) {
    json body = {{"code", code}, {"msg", message}, {"requestId", request_id()}};
    if (!data.is_null()) body["data"] = std::move(data);
    return body;
}

int64_t epoch_ms(ca::Time t) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
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

store::CertificateRecord bound_certificate(Context& c, int64_t cert_sn, const store::DeviceRecord& device) {
    auto record = c.engine.store.read([&](const store::Reader& r) { return r.certificate_by_id(cert_sn); });
    if (!record || record->profile != "edge" || !record->device_key) {
        bad_argument("the certificate is not bound to this device");
    }
    if (*record->device_key != device.device_key) {
        throw ca::Error(ca::ErrorKind::policy, "certificate_of_other_device",
                        "the certificate is bound to another device");
    }
    return *record;
}

// certSN is a string of decimal digits in every answer: the SDKs' field is a string.
std::string cert_sn(const store::CertificateRecord& r) { return std::to_string(r.id); }

json issued_data(Context& c, const ca::IssuedCertificate& issued) {
    return {{"cert", issued.certificate_pem},
            {"caCert", issued.issuer->chain_pem()},
            {"certSN", cert_sn(issued.record)},
            {"certChainURL", c.settings.chain_url},
            {"issueAuthority", "RSA"}};
}

// One DeviceCertDetailInfo, every field of EnOS's documented type (docs/enos-compat.md).
json list_item(const store::CertificateRecord& r, ca::Time now, const std::string& org_id) {
    const int status = r.status_at(now) == store::CertificateStatus::valid     ? 0
                       : r.status_at(now) == store::CertificateStatus::revoked ? 1
                                                                               : 2;
    const Botan::X509_Certificate certificate(r.der);
    const bool revoked = r.revoked_at.has_value();
    return {{"certSN", cert_sn(r)},
            {"cert", ca::encode_pem(r.der, "CERTIFICATE")},
            {"certStatus", status},
            {"issuer", enos::java_dn(certificate.issuer_dn())},
            {"subject", enos::java_dn(certificate.subject_dn())},
            {"signDate", epoch_ms(r.issued_at)},
            {"effetiveDate", epoch_ms(r.not_before)},  // sic: EnOS's spelling
            {"expireDate", epoch_ms(r.not_after)},
            {"audit",
             {{"createBy", r.requester},
              {"createTime", epoch_ms(r.issued_at)},
              {"updateBy", revoked ? r.revoked_by.value_or("") : r.requester},
              {"updateTime", epoch_ms(revoked ? *r.revoked_at : r.issued_at)},
              {"ns", org_id},
              {"deleted", false}}},
            {"revoker", revoked ? r.revoked_by.value_or("") : ""},
            {"revokerReason", revoked ? enos::reason_text(r.revocation_reason.value_or(0)) : ""},
            {"isEnosCert", true},
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
        for (const auto& r : c.engine.authority.certificates(caller, filter)) items.push_back(list_item(r, now, *org));
        return items;
    }
    if (req.method != "POST") bad_argument(fmt::format("action={} is a POST", action));
    if (!req.body.empty()) require_json(req);
    const json body = enos::body_from_text(req.body);

    ca::IssuanceRequest request;
    request.profile = ca::Profile::edge;
    request.product_key = device.product_key;
    request.device_key = device.device_key;
    if (action == "apply") {
        auto apply = enos::apply_body(body, query(req, "validDay"));
        request.csr.assign(apply.csr.begin(), apply.csr.end());
        request.validity_days = apply.valid_day.value_or(730);
        return issued_data(c, c.engine.authority.issue(caller, request));
    }
    if (action == "renew") {
        auto renew = enos::renew_body(body, query(req, "validDay"));
        auto original = bound_certificate(c, renew.cert_sn, device);
        if (renew.csr) request.csr.assign(renew.csr->begin(), renew.csr->end());
        request.renewal_of = original.serial;
        request.validity_days = renew.valid_day.value_or(730);
        return issued_data(c, c.engine.authority.issue(caller, request));
    }
    if (action == "revoke") {
        auto revoke = enos::revoke_body(body);
        auto original = bound_certificate(c, revoke.cert_sn, device);
        c.engine.revoker.revoke(caller, original.serial, revoke.reason);
        return nullptr;
    }
    bad_argument("action is apply, renew, revoke or list");
}

// The envelope of a call's answer; what a repeat of a call that acted gets back verbatim.
json call_answer(Context& c, const httplib::Request& req, const ca::Caller& caller, const std::string& action) {
    try {
        json data = certificate_action(c, req, caller, action);
        return envelope_of(enos_ok, "OK", std::move(data));
    } catch (const ca::Error& e) {
        c.engine.metrics.refused(e.code());
        return envelope_of(business_code(e), e.what());
    } catch (const store::StoreError& e) {
        log_event({{"event", "store_error"}, {"path", req.path}, {"error", e.what()}});
        return envelope_of(enos_internal, "the certificate store cannot be written now; nothing was changed");
    } catch (const std::exception& e) {
        log_event({{"event", "internal_error"}, {"path", req.path}, {"error", e.what()}});
        return envelope_of(enos_internal, "an internal error occurred; it was logged");
    }
}

void connect_service(Context& c, const httplib::Request& req, httplib::Response& res) {
    std::vector<std::pair<std::string, std::string>> params(req.params.begin(), req.params.end());
    std::optional<ca::SignedCall> signed_call;
    try {
        signed_call = c.apps.authenticate(req.get_header_value("apim-accesstoken"), req.get_header_value("apim-timestamp"),
                                   req.get_header_value("apim-signature"), ca::enos_params_data(params, req.body));
    } catch (const ca::Error& e) {
        c.engine.metrics.refused(e.code());
        write_json(res, e.kind() == ca::ErrorKind::unavailable ? 503 : 401,
                   envelope_of(gateway_code(e.code()), e.what()));
        return;
    } catch (const store::StoreError& e) {
        log_event({{"event", "store_error"}, {"path", req.path}, {"error", e.what()}});
        write_json(res, 503, envelope_of(enos_internal, "the certificate store cannot be read now"));
        return;
    }
    const ca::SignedCall& call = *signed_call;
    note_caller(call.caller.principal);
    const std::string action = query(req, "action").value_or("");
    // A read is answered again for the same signature; a call that acts does so once, and a
    // repeat of its signature gets the first answer (docs/enos-compat.md, "Repeated calls").
    const bool acts = req.method == "POST";
    if (acts) {
        try {
            if (auto kept = c.apps.claim(call)) {
                res.status = 200;
                res.set_content(*kept, "application/json");
                return;
            }
        } catch (const ca::Error& e) {
            write_json(res, 200, envelope_of(enos_internal, e.what()));
            return;
        } catch (const store::StoreError& e) {
            log_event({{"event", "store_error"}, {"path", req.path}, {"error", e.what()}});
            write_json(res, 200, envelope_of(enos_internal, "the certificate store cannot be written now; nothing was changed"));
            return;
        }
    }
    json answer = call_answer(c, req, call.caller, action);
    const std::string text = answer.dump();
    if (acts) {
        try {
            // An internal failure changed nothing: the same call may then be sent again.
            if (answer["code"] == enos_internal) {
                c.apps.release(call);
            } else {
                c.apps.answer(call, text);
            }
        } catch (const std::exception& e) {
            log_event({{"event", "store_error"}, {"path", req.path},
                       {"error", fmt::format("the answer of a call that acted was not kept: {}", e.what())}});
        }
    }
    res.status = 200;
    res.set_content(text, "application/json");
}

void token_get(Context& c, const httplib::Request& req, httplib::Response& res) {
    auto answer = [&](int status, int code, const std::string& message, json data = nullptr) {
        json body = {{"status", code}, {"msg", message}, {"business", "apim-token-service"}};
        if (!data.is_null()) body["data"] = std::move(data);
        write_json(res, status, body);
    };
    try {
        require_json(req);
        const auto body = enos::token_body(enos::body_from_text(req.body));
        auto token = c.apps.issue_access_token(body.app_key, body.encryption, body.timestamp);
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
    // The Go SDK asks for the root certificate without the algorithm: RSA is what there is.
    for (const char* path : {"/enos/CA/cacert", "/enos/CA/cacert/RSA"}) {
        server.Get(path, [&engine](const httplib::Request& req, httplib::Response& res) {
            handle_public(req, res, [&] { res.set_content(engine.authority.issuer()->chain_pem(), "application/x-pem-file"); });
        });
    }
    for (const char* path : {"/enos/CA/cacert/ECC", "/enos/CA/crl/ECC"}) {
        server.Get(path, [](const httplib::Request& req, httplib::Response& res) {
            handle_public(req, res, [] {
                throw ca::Error(ca::ErrorKind::not_found, "issue_authority_not_offered",
                                "ECC is not offered: this CA certifies RSA 2048-bit keys only (the "
                                "platform's RSA-2048 policy); use /RSA or the path without an algorithm");
            });
        });
    }
}

}  // namespace edgeca::api
