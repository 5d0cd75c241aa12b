// api/service.h — the two listeners of edgeca serve: HTTPS with mutual TLS for the API, plain
// HTTP for public downloads (CA certificates and CRLs) only.
#pragma once

#include <httplib.h>

#include <chrono>
#include <functional>
#include <atomic>
#include <memory>
#include <string>
#include <thread>

#include "api/connection_deadline.h"
#include "api/metrics.h"
#include "api/plain_listener.h"
#include "api/tls.h"
#include "ca/access_control.h"
#include "ca/app_credentials.h"
#include "ca/caller.h"
#include "ca/device_registry.h"
#include "ca/issuing_authority.h"
#include "ca/revocation.h"
#include "crl/crl_publisher.h"
#include "crl/issuer_crls.h"
#include "store/store.h"

namespace edgeca::api {

// "127.0.0.1:8443", "[::1]:8443", "0.0.0.0:0" (port 0: any free port).
struct Endpoint {
    std::string host;
    int port = 0;
    static Endpoint parse(const std::string& text);
    std::string to_string() const;
};

struct HttpSettings {
    size_t max_body_bytes = 64 * 1024;
    int threads = 128;                      // per listener
    std::chrono::seconds read_timeout{10};  // per read and per write
    std::chrono::seconds keep_alive_timeout{5};
    // A whole request: TLS handshake (new connections), request line, headers and body.
    std::chrono::seconds request_timeout{20};
    // Per listener: connections one client address (IPv6: one /64) may hold open at once.
    size_t max_connections_per_client = 32;
};

// What the routes call into.
struct Engine {
    store::Store& store;
    const ca::Clock& clock;
    ca::IssuingAuthority& authority;
    ca::Revoker& revoker;
    ca::DeviceRegistry& registry;
    ca::AccessControl& access;
    Metrics& metrics;
    std::string node = "edgeca";  // this node's name, for /healthz
};

// Runs `body` for a request: fills the caller from the client certificate (a certificate that
// verified but is not on the access list, or whose record is revoked, is refused unless the
// request carries a bearer token), maps ca::Error to its status, logs internal failures without
// exposing them, and notes the caller for the request log.
void handle(Engine& engine, const httplib::Request& req, httplib::Response& res,
            const std::function<void(const ca::Caller&)>& body);
// The same for routes that need no caller.
void handle_public(const httplib::Request& req, httplib::Response& res,
                   const std::function<void()>& body);

class ApiService {
public:
    ApiService(HttpSettings settings, CredentialSlot& credentials, const std::string& trusted_pem,
               Metrics& metrics);
    ~ApiService();

    // Binds both listeners. Throws ca::Error(unavailable, "listen_failed") naming the address.
    void bind(const Endpoint& api, const Endpoint& downloads);
    int api_port() const { return api_port_; }
    int public_port() const { return public_port_; }

    // Both servers, for the routes of each layer.
    httplib::Server& api_server() { return *api_; }
    httplib::Server& public_server() { return public_; }

    // Serves until stop(); requests in flight finish before this returns, idle connections are
    // closed at once.
    void run();
    void stop();

    // Accepts client certificates issued by the issuing CA `certificate_pem` from now on (an
    // issuer activated while the service runs; its root is in the trust bundle already).
    void trust_client_issuer(const std::string& certificate_pem);

private:
    DeadlineSettings deadline_settings(const std::string& listener) const;
    // `max_body_bytes` 0: the listener takes no request bodies.
    void configure(httplib::Server& server, const std::string& listener,
                   ConnectionDeadlines& deadlines, size_t max_body_bytes);

    HttpSettings settings_;
    Metrics& metrics_;
    // A stop that comes while run() is starting its listen loops must not be lost: httplib's
    // stop() does nothing before a loop runs.
    std::atomic<bool> running_{false};
    std::atomic<bool> stop_requested_{false};
    // Before the servers: their connections report to these until the last one is closed.
    ConnectionDeadlines api_deadlines_;
    ConnectionDeadlines public_deadlines_;
    std::unique_ptr<httplib::SSLServer> api_;
    WatchedHttpServer public_;
    int api_port_ = 0;
    int public_port_ = 0;
};

void add_v1_routes(httplib::Server& server, Engine& engine);
// The current CRL: DER at each of `der_paths`, PEM at each of `pem_paths`; Cache-Control
// max-age is `max_age` at most and never reaches past the CRL's nextUpdate.
void add_crl_routes(httplib::Server& server, const crl::CrlPublisher& publisher,
                    const ca::Clock& clock, std::chrono::seconds max_age,
                    const std::vector<std::string>& der_paths,
                    const std::vector<std::string>& pem_paths);
// The same for any CRL: `current` gives the one to serve, or null for a 503 with `missing_code`.
struct CrlSource {
    std::function<std::shared_ptr<const crl::PublishedCrl>()> current;
    std::string missing_code;
    std::string missing_message;
};
void add_crl_routes(httplib::Server& server, CrlSource source, const ca::Clock& clock,
                    std::chrono::seconds max_age, const std::vector<std::string>& der_paths,
                    const std::vector<std::string>& pem_paths);
// Several issuers: issuer N's CRL at /crl/N (DER) and /crl/N.pem (issuer 1's stays at /crl and
// /crl.pem, the distribution point its certificates carry), every published CRL at /crls.pem (a
// crlfile for mosquitto or a hub), every issuing CA not retired at /issuers.pem.
void add_issuer_crl_routes(httplib::Server& server, const crl::IssuerCrls& crls, const ca::Clock& clock,
                           std::chrono::seconds max_age);

struct EnosSettings {
    std::string org_id;     // when set, requests must name this orgId
    std::string chain_url;  // certChainURL in apply/renew answers
};
// POST /apim-token-service/v2.0/token/get and /connect-service/v2.0/certificates (API listener).
void add_enos_routes(httplib::Server& server, Engine& engine, ca::AppCredentials& apps,
                     const EnosSettings& settings);
// GET /enos/CA/cacert[/RSA] (any listener; the CRL is /enos/CA/crl[/RSA] through add_crl_routes);
// the /ECC forms answer that ECC is not offered.
void add_enos_downloads(httplib::Server& server, Engine& engine);

// Names the caller in the request log line of the request being handled.
void note_caller(const std::string& principal);
// /ca.pem, /ca.cer, /root.pem on any listener; /healthz and /metrics where `with_status`.
void add_download_routes(httplib::Server& server, Engine& engine, bool with_status);

}  // namespace edgeca::api
