// api/routes_crl.cpp — the CRL as DER and PEM, with the HTTP caching a CRL deserves: an ETag
// per CRL and a max-age that never reaches past its nextUpdate.
#include <fmt/chrono.h>
#include <fmt/format.h>

#include "api/http_support.h"
#include "api/service.h"
#include "ca/encoding.h"

namespace edgeca::api {
namespace {

std::string http_date(ca::Time t) { return fmt::format("{:%a, %d %b %Y %H:%M:%S} GMT", t); }

void serve_crl(const CrlSource& source, const ca::Clock& clock, std::chrono::seconds max_age,
               const httplib::Request& req, httplib::Response& res, bool pem) {
    auto crl = source.current();
    if (!crl) {
        write_error(res, 503, source.missing_code, source.missing_message);
        return;
    }
    std::string etag = fmt::format("\"crl-{}-{}\"", crl->number, ca::sha256_hex(crl->der).substr(0, 16));
    auto remaining = std::chrono::duration_cast<std::chrono::seconds>(crl->next_update - clock.now());
    auto age = std::clamp(remaining, std::chrono::seconds(0), max_age);
    res.set_header("ETag", etag);
    res.set_header("Last-Modified", http_date(crl->this_update));
    res.set_header("Expires", http_date(crl->next_update));
    res.set_header("Cache-Control", fmt::format("public, max-age={}", age.count()));
    if (req.get_header_value("If-None-Match") == etag) {
        res.status = 304;
        return;
    }
    if (pem) {
        res.set_content(crl->pem, "application/x-pem-file");
    } else {
        res.set_content(std::string(crl->der.begin(), crl->der.end()), "application/pkix-crl");
    }
}

}  // namespace

void add_crl_routes(httplib::Server& server, const crl::CrlPublisher& publisher,
                    const ca::Clock& clock, std::chrono::seconds max_age,
                    const std::vector<std::string>& der_paths,
                    const std::vector<std::string>& pem_paths) {
    add_crl_routes(server,
                   {[&publisher] { return publisher.current(); }, "crl_unavailable",
                    "no CRL has been signed yet; try again shortly"},
                   clock, max_age, der_paths, pem_paths);
}

void add_crl_routes(httplib::Server& server, CrlSource source, const ca::Clock& clock,
                    std::chrono::seconds max_age, const std::vector<std::string>& der_paths,
                    const std::vector<std::string>& pem_paths) {
    auto shared = std::make_shared<const CrlSource>(std::move(source));
    for (bool pem : {false, true}) {
        for (const auto& path : pem ? pem_paths : der_paths) {
            server.Get(path, [shared, &clock, max_age, pem](const httplib::Request& req, httplib::Response& res) {
                handle_public(req, res, [&] { serve_crl(*shared, clock, max_age, req, res, pem); });
            });
        }
    }
}

void add_issuer_crl_routes(httplib::Server& server, const crl::IssuerCrls& crls, const ca::Clock& clock,
                           std::chrono::seconds max_age) {
    for (bool pem : {false, true}) {
        server.Get(pem ? R"(/crl/([0-9]{1,9})\.pem)" : R"(/crl/([0-9]{1,9}))",
                   [&crls, &clock, max_age, pem](const httplib::Request& req, httplib::Response& res) {
                       handle_public(req, res, [&] {
                           const int64_t id = std::stoll(req.matches[1].str());
                           if (!crls.has(id)) {
                               write_error(res, 404, "issuer_not_found",
                                           fmt::format("no issuing CA {} publishes a CRL here", id));
                               return;
                           }
                           CrlSource source{[&crls, id] { return crls.current(id); }, "crl_unavailable",
                                            "no CRL has been signed yet; try again shortly"};
                           serve_crl(source, clock, max_age, req, res, pem);
                       });
                   });
    }
    // Both change with every CRL or rotation: cached briefly, no longer than any CRL is fresh.
    server.Get("/crls.pem", [&crls, &clock, max_age](const httplib::Request& req, httplib::Response& res) {
        handle_public(req, res, [&] {
            auto age = max_age;
            for (auto id : crls.ids()) {
                if (auto crl = crls.current(id)) {
                    auto remaining = std::chrono::duration_cast<std::chrono::seconds>(crl->next_update - clock.now());
                    age = std::clamp(remaining, std::chrono::seconds(0), age);
                }
            }
            res.set_header("Cache-Control", fmt::format("public, max-age={}", age.count()));
            res.set_content(crls.all_pem(), "application/x-pem-file");
        });
    });
    server.Get("/issuers.pem", [&crls, max_age](const httplib::Request& req, httplib::Response& res) {
        handle_public(req, res, [&] {
            res.set_header("Cache-Control", fmt::format("public, max-age={}", max_age.count()));
            res.set_content(crls.issuers_pem(), "application/x-pem-file");
        });
    });
}

}  // namespace edgeca::api
