// api/routes_v1.cpp — the v1 JSON API: devices, products, certificates. Each handler translates
// JSON to an engine call and back; the decisions are the engine's.
#include <fmt/format.h>

#include "api/http_support.h"
#include "api/service.h"
#include "ca/certificate_facts.h"
#include "ca/distinguished_name.h"
#include "ca/encoding.h"
#include "ca/revocation_reason.h"
#include "ca/serial_number.h"

namespace edgeca::api {
namespace {

using nlohmann::json;

json optional_json(const std::optional<std::string>& value) {
    return value ? json(*value) : json(nullptr);
}

json certificate_json(const store::CertificateRecord& r, ca::Time now) {
    return {
        {"serial", ca::to_hex(r.serial)},
        {"id", r.id},
        {"status", store::to_string(r.status_at(now))},
        {"profile", r.profile},
        {"subject", r.subject},
        {"common_name", r.common_name},
        {"product_key", optional_json(r.product_key)},
        {"device_key", optional_json(r.device_key)},
        {"asset_id", optional_json(r.asset_id)},
        {"not_before", ca::to_rfc3339(r.not_before)},
        {"not_after", ca::to_rfc3339(r.not_after)},
        {"issued_at", ca::to_rfc3339(r.issued_at)},
        {"requester", r.requester},
        {"spki_sha256", r.spki_sha256},
        {"fingerprint_sha256", r.fingerprint_sha256},
        {"revoked_at", r.revoked_at ? json(ca::to_rfc3339(*r.revoked_at)) : json(nullptr)},
        {"revocation_reason", r.revocation_reason ? json(ca::reason_name(*r.revocation_reason)) : json(nullptr)},
        {"certificate", ca::encode_pem(r.der, "CERTIFICATE")},
    };
}

json device_json(const store::DeviceRecord& d) {
    return {{"device_key", d.device_key},
            {"product_key", d.product_key},
            {"asset_id", d.asset_id},
            {"created_at", ca::to_rfc3339(d.created_at)},
            {"created_by", d.created_by},
            {"owner", optional_json(d.owner)}};
}

json product_json(const store::ProductRecord& p) {
    return {{"product_key", p.product_key},
            {"name", p.name},
            {"max_validity_days", p.max_validity_days},
            {"certificate_auth", p.certificate_auth},
            {"created_at", ca::to_rfc3339(p.created_at)}};
}

std::optional<std::string> bearer_token(const httplib::Request& req) {
    if (!req.has_header("Authorization")) return std::nullopt;
    std::string value = req.get_header_value("Authorization");
    if (value.rfind("Bearer ", 0) != 0 || value.size() <= 7) {
        throw ca::Error(ca::ErrorKind::unauthenticated, "authorization_invalid",
                        "the Authorization header must be 'Bearer <enrollment token>'");
    }
    return value.substr(7);
}

void require_role(const ca::Caller& caller) {
    if (!caller.is_admin() && !caller.is_hub()) {
        throw ca::Error(ca::ErrorKind::unauthenticated, "authentication_required",
                        "present a client certificate on the access list");
    }
}

void issue_certificate(Engine& engine, const httplib::Request& req, httplib::Response& res,
                       const ca::Caller& caller) {
    auto start = std::chrono::steady_clock::now();
    auto body = JsonBody::parse(req, {"csr", "profile", "product_key", "device_key", "asset_id",
                                      "validity_days", "grant_role"});
    ca::IssuanceRequest request;
    std::string profile = body.required_string("profile");
    auto parsed_profile = ca::profile_from_string(profile);
    if (!parsed_profile || ca::is_ca_profile(*parsed_profile) || *parsed_profile == ca::Profile::server) {
        throw ca::Error(ca::ErrorKind::bad_input, "profile_unknown",
                        fmt::format("profile '{}' is not one of edge, hub, client", profile.substr(0, 32)));
    }
    request.profile = *parsed_profile;
    std::string csr = body.required_string("csr");
    request.csr.assign(csr.begin(), csr.end());
    request.product_key = body.string("product_key");
    request.device_key = body.string("device_key");
    request.asset_id = body.string("asset_id");
    if (auto days = body.integer("validity_days", -100000, 100000)) request.validity_days = static_cast<int>(*days);
    if (auto role = body.string("grant_role")) {
        request.grant_role = store::role_from_string(*role);
        if (!request.grant_role) {
            throw ca::Error(ca::ErrorKind::bad_input, "grant_role_invalid", "grant_role is admin or hub");
        }
    }
    if (req.has_header("Idempotency-Key")) request.idempotency_key = req.get_header_value("Idempotency-Key");
    request.enrollment_token = bearer_token(req);

    ca::IssuedCertificate issued;
    try {
        issued = engine.authority.issue(caller, request);
    } catch (const ca::Error& e) {
        engine.metrics.refused(e.code());
        throw;
    }
    if (!issued.replayed) {
        engine.metrics.issued(issued.record.profile, std::chrono::steady_clock::now() - start);
    }
    const auto& r = issued.record;
    json out = {
        {"serial", ca::to_hex(r.serial)},
        {"id", r.id},
        {"profile", r.profile},
        {"subject", r.subject},
        {"certificate", issued.certificate_pem},
        {"chain", issued.issuer->chain_pem()},
        {"not_before", ca::to_rfc3339(r.not_before)},
        {"not_after", ca::to_rfc3339(r.not_after)},
        {"fingerprint_sha256", r.fingerprint_sha256},
        {"device_key", optional_json(r.device_key)},
        {"product_key", optional_json(r.product_key)},
        {"asset_id", optional_json(r.asset_id)},
        {"principal", optional_json(issued.principal)},
    };
    if (issued.replayed) res.set_header("Idempotent-Replayed", "true");
    write_json(res, 201, out);
}

int reason_from(const std::optional<JsonBody>& body) {
    std::string name = body ? body->string("reason").value_or("unspecified") : "unspecified";
    auto code = ca::reason_code(name);
    if (!code) {
        throw ca::Error(ca::ErrorKind::bad_input, "reason_invalid",
                        fmt::format("'{}' is not an RFC 5280 reason name (unspecified, keyCompromise, "
                                    "affiliationChanged, superseded, cessationOfOperation, "
                                    "certificateHold, privilegeWithdrawn, ...)",
                                    name.substr(0, 40)));
    }
    return *code;
}

// The body of a revocation is optional; when there is one it must be JSON with only "reason".
std::optional<JsonBody> optional_reason_body(const httplib::Request& req) {
    if (req.body.empty()) return std::nullopt;
    return JsonBody::parse(req, {"reason"});
}

void list_certificates(Engine& engine, const httplib::Request& req, httplib::Response& res,
                       const ca::Caller& caller) {
    store::CertificateFilter filter;
    filter.device_key = query(req, "device_key");
    filter.profile = query(req, "profile");
    if (auto status = query(req, "status")) {
        filter.status = store::certificate_status_from_string(*status);
        if (!filter.status) {
            throw ca::Error(ca::ErrorKind::bad_input, "status_invalid", "status is valid, revoked or expired");
        }
    }
    if (auto after = query(req, "after")) {
        try {
            filter.after_id = std::stoll(*after);
        } catch (const std::exception&) {
            throw ca::Error(ca::ErrorKind::bad_input, "after_invalid", "after is a certificate id");
        }
    }
    filter.limit = 100;
    if (auto limit = query(req, "limit")) {
        int value = std::atoi(limit->c_str());
        if (value < 1 || value > 1000) {
            throw ca::Error(ca::ErrorKind::bad_input, "limit_invalid", "limit is 1 to 1000");
        }
        filter.limit = value;
    }
    auto records = engine.authority.certificates(caller, filter);
    json items = json::array();
    for (const auto& r : records) items.push_back(certificate_json(r, engine.clock.now()));
    json out = {{"certificates", items}};
    if (static_cast<int>(records.size()) == filter.limit) out["next_after"] = records.back().id;
    write_json(res, 200, out);
}

}  // namespace

void add_v1_routes(httplib::Server& server, Engine& engine) {
    server.Post("/v1/certificates", [&engine](const httplib::Request& req, httplib::Response& res) {
        handle(engine, req, res, [&](const ca::Caller& caller) { issue_certificate(engine, req, res, caller); });
    });
    server.Get("/v1/certificates", [&engine](const httplib::Request& req, httplib::Response& res) {
        handle(engine, req, res, [&](const ca::Caller& caller) { list_certificates(engine, req, res, caller); });
    });
    server.Get(R"(/v1/certificates/([^/]+))", [&engine](const httplib::Request& req, httplib::Response& res) {
        handle(engine, req, res, [&](const ca::Caller& caller) {
            auto serial = ca::SerialNumber::from_hex(req.matches[1].str());
            auto record = engine.authority.certificate(caller, serial.bytes());
            if (!record) {
                throw ca::Error(ca::ErrorKind::not_found, "certificate_not_found",
                                fmt::format("no certificate with serial {}", serial.hex()));
            }
            write_json(res, 200, certificate_json(*record, engine.clock.now()));
        });
    });

    server.Post(R"(/v1/certificates/([^/]+)/revoke)", [&engine](const httplib::Request& req, httplib::Response& res) {
        handle(engine, req, res, [&](const ca::Caller& caller) {
            auto serial = ca::SerialNumber::from_hex(req.matches[1].str());
            int reason = reason_from(optional_reason_body(req));
            auto revoked = engine.revoker.revoke(caller, serial.bytes(), reason);
            json out = certificate_json(revoked.front(), engine.clock.now());
            json others = json::array();
            for (size_t i = 1; i < revoked.size(); ++i) others.push_back(ca::to_hex(revoked[i].serial));
            out["also_revoked"] = others;
            write_json(res, 200, out);
        });
    });
    server.Post(R"(/v1/devices/([^/]+)/revoke)", [&engine](const httplib::Request& req, httplib::Response& res) {
        handle(engine, req, res, [&](const ca::Caller& caller) {
            int reason = reason_from(optional_reason_body(req));
            auto revoked = engine.revoker.revoke_device(caller, req.matches[1].str(), reason);
            json items = json::array();
            for (const auto& r : revoked) items.push_back(certificate_json(r, engine.clock.now()));
            write_json(res, 200, {{"device_key", req.matches[1].str()}, {"revoked", items}});
        });
    });

    server.Post("/v1/devices", [&engine](const httplib::Request& req, httplib::Response& res) {
        handle(engine, req, res, [&](const ca::Caller& caller) {
            require_role(caller);
            auto body = JsonBody::parse(req, {"product_key", "device_key", "asset_id"});
            auto device = engine.registry.add_device(caller, body.required_string("product_key"),
                                                     body.required_string("device_key"),
                                                     body.string("asset_id"));
            write_json(res, 201, device_json(device));
        });
    });
    server.Get(R"(/v1/devices/([^/]+))", [&engine](const httplib::Request& req, httplib::Response& res) {
        handle(engine, req, res, [&](const ca::Caller& caller) {
            require_role(caller);
            auto device = engine.registry.device(caller, req.matches[1].str());
            if (!device) {
                throw ca::Error(ca::ErrorKind::not_found, "device_not_found",
                                fmt::format("device '{}' is not registered", req.matches[1].str().substr(0, 64)));
            }
            write_json(res, 200, device_json(*device));
        });
    });
    server.Get("/v1/devices", [&engine](const httplib::Request& req, httplib::Response& res) {
        handle(engine, req, res, [&](const ca::Caller& caller) {
            require_role(caller);
            auto product = query(req, "product_key");
            auto after = query(req, "after").value_or("");
            auto devices = engine.registry.devices(caller, product, after, 100);
            json items = json::array();
            for (const auto& d : devices) items.push_back(device_json(d));
            json out = {{"devices", items}};
            if (devices.size() == 100) out["next_after"] = devices.back().device_key;
            write_json(res, 200, out);
        });
    });

    server.Post("/v1/products", [&engine](const httplib::Request& req, httplib::Response& res) {
        handle(engine, req, res, [&](const ca::Caller& caller) {
            require_role(caller);
            auto body = JsonBody::parse(req, {"product_key", "name", "max_validity_days", "certificate_auth"});
            ca::NewProduct product{.product_key = body.required_string("product_key"),
                                   .name = body.string("name").value_or("")};
            if (auto days = body.integer("max_validity_days", 1, 36500)) product.max_validity_days = static_cast<int>(*days);
            if (auto enabled = body.boolean("certificate_auth")) product.certificate_auth = *enabled;
            write_json(res, 201, product_json(engine.registry.add_product(caller, product)));
        });
    });
    server.Get(R"(/v1/products/([^/]+))", [&engine](const httplib::Request& req, httplib::Response& res) {
        handle(engine, req, res, [&](const ca::Caller& caller) {
            require_role(caller);
            auto product = engine.registry.product(req.matches[1].str());
            if (!product) {
                throw ca::Error(ca::ErrorKind::not_found, "product_not_found",
                                fmt::format("product '{}' does not exist", req.matches[1].str().substr(0, 64)));
            }
            write_json(res, 200, product_json(*product));
        });
    });
    server.Get("/v1/products", [&engine](const httplib::Request& req, httplib::Response& res) {
        handle(engine, req, res, [&](const ca::Caller& caller) {
            require_role(caller);
            json items = json::array();
            for (const auto& p : engine.store.read([](const store::Reader& r) { return r.products(); })) {
                items.push_back(product_json(p));
            }
            write_json(res, 200, {{"products", items}});
        });
    });
}

void add_download_routes(httplib::Server& server, Engine& engine, bool with_status) {
    server.Get("/ca.pem", [&engine](const httplib::Request& req, httplib::Response& res) {
        handle_public(req, res, [&] {
            res.set_content(engine.authority.issuer()->chain_pem(), "application/x-pem-file");
        });
    });
    server.Get("/ca.cer", [&engine](const httplib::Request& req, httplib::Response& res) {
        handle_public(req, res, [&] {
            auto der = engine.authority.issuer()->certificate.BER_encode();
            res.set_content(std::string(der.begin(), der.end()), "application/pkix-cert");
        });
    });
    server.Get("/root.pem", [&engine](const httplib::Request& req, httplib::Response& res) {
        handle_public(req, res, [&] {
            res.set_content(ca::encode_pem(engine.authority.issuer()->root.BER_encode(), "CERTIFICATE"),
                            "application/x-pem-file");
        });
    });
    // The roots in use and the link certificates between them, for devices that update their
    // trust store on a timer: fixed until the service restarts, so an ETag over the content and
    // an hour of caching keep a fleet's polling cheap.
    server.Get("/trust.pem", [&engine](const httplib::Request& req, httplib::Response& res) {
        handle_public(req, res, [&] {
            const std::string pem = engine.authority.issuer()->trust.pem();
            const std::string etag = fmt::format(
                "\"trust-{}\"",
                ca::sha256_hex(std::span(reinterpret_cast<const uint8_t*>(pem.data()), pem.size())).substr(0, 32));
            res.set_header("ETag", etag);
            res.set_header("Cache-Control", "public, max-age=3600");
            if (req.get_header_value("If-None-Match") == etag) {
                res.status = 304;
                return;
            }
            res.set_content(pem, "application/x-pem-file");
        });
    });
    if (!with_status) return;
    server.Get("/healthz", [&engine](const httplib::Request& req, httplib::Response& res) {
        handle_public(req, res, [&] {
            auto last = engine.store.read([](const store::Reader& r) { return r.latest_issued_at(); });
            const auto active = engine.authority.issuer();
            const auto& issuer = active->certificate;
            write_json(res, 200,
                       {{"status", "ok"},
                        {"node", engine.node},
                        {"store", std::string(engine.store.engine())},
                        {"issuer", ca::to_rfc4514(issuer.subject_dn())},
                        {"issuer_not_after", ca::to_rfc3339(ca::to_time(issuer.not_after()))},
                        {"issuer_id", active->id},
                        {"last_issued_at", last ? json(ca::to_rfc3339(*last)) : json(nullptr)}});
        });
    });
    server.Get("/metrics", [&engine](const httplib::Request& req, httplib::Response& res) {
        handle_public(req, res, [&] {
            res.set_content(engine.metrics.render(), "text/plain; version=0.0.4");
        });
    });
}

}  // namespace edgeca::api
