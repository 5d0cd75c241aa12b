// cli/config.h — edgeca.toml: the service's settings, each with a safe default
// (docs/configuration.md lists them all).
#pragma once

#include <chrono>
#include <filesystem>
#include <istream>
#include <optional>
#include <string>
#include <vector>

#include "ca/issuance_policy.h"
#include "ca/openssl_signing_key.h"
#include "cli/token_key.h"

namespace edgeca::cli {

struct CrlSettings {
    // A revocation reaches a freshly signed CRL within this delay; revocations in a burst
    // share one CRL.
    std::chrono::seconds publish_delay{5};
    // nextUpdate - thisUpdate of each CRL.
    std::chrono::seconds validity{std::chrono::hours(24)};
    // A CRL is signed again, changed or not, when its nextUpdate is this close.
    std::chrono::seconds refresh_before{std::chrono::hours(8)};
    // Signed CRLs kept whole in the store's history (the metadata of all is kept).
    int history = 100;
    // The longest an HTTP cache may keep a served CRL (never past its nextUpdate).
    std::chrono::seconds cache_max_age{60};
    // The installed root CRL: a warning (log and metric) starts this long before its nextUpdate.
    std::chrono::seconds root_warn_before{std::chrono::days(14)};
    // With several nodes on one store, one node at a time signs CRLs, holding a lease this long
    // that it renews at a third of it; when it dies, another node takes over at most this long
    // (plus one renewal interval) later.
    std::chrono::seconds signer_lease{30};
};

struct StoreSettings {
    // A PostgreSQL URL (postgresql://user@host:port/db, several hosts allowed, no password: it
    // comes from PGPASSWORD or a passfile) for a store that several nodes share. Empty: the SQLite
    // file issuer.db in the data directory. The environment variable EDGECA_STORE_URL overrides it.
    std::string url;
};

struct NodeSettings {
    // This node's name in /healthz, /metrics, logs and leases. Empty: the host name. The
    // environment variable EDGECA_NODE_NAME overrides it.
    std::string name;
};

struct EnosConfig {
    std::string org_id;  // when set, EnOS requests must name this orgId
    std::chrono::seconds token_lifetime{7200};
    std::chrono::seconds timestamp_window{300};
};

struct ServiceConfig {
    // Who makes the issuing CA's RSA signatures (and checks CSR signatures): "openssl" (about
    // four times faster here) or "botan" (the reference). Certificates are byte for byte alike.
    ca::SigningBackend signing_backend = ca::SigningBackend::openssl;
    // The issuing CA's key in a PKCS#11 token (key, pkcs11_module, pin_file); unset: issuer.key.
    TokenKeySettings token_key;
    std::string listen = "127.0.0.1:8443";         // HTTPS API, mutual TLS
    std::string public_listen = "127.0.0.1:8080";  // plain HTTP: CA certificates and CRLs only
    std::vector<std::string> hostnames = {"localhost", "127.0.0.1"};
    std::string public_url;  // how others reach the public listener; default from public_listen
    std::optional<std::filesystem::path> tls_cert;
    std::optional<std::filesystem::path> tls_key;
    size_t max_body_bytes = 64 * 1024;
    // Worker threads per listener; a connection holds one from its accept to its close.
    int threads = 128;
    // The Linux scheduling policy of the service's threads: SCHED_BATCH (a thread woken by I/O
    // does not preempt a running one, so a loaded service switches less), SCHED_OTHER, or unset:
    // the policy it was started with.
    std::optional<bool> batch_scheduling;
    std::chrono::seconds read_timeout{10};
    std::chrono::seconds keep_alive_timeout{5};
    // A whole request (TLS handshake of a new connection, request line, headers, body), however
    // slowly it trickles in.
    std::chrono::seconds request_timeout{20};
    // Per listener: connections one client address (an IPv6 /64) may hold open at once; below
    // `threads`, so that one client cannot take every worker.
    int max_connections_per_client = 32;
    ca::IssuancePolicy policy;
    CrlSettings crl;
    EnosConfig enos;
    StoreSettings store;
    NodeSettings node;
};

// The store URL in force: EDGECA_STORE_URL if set, else the configuration's; empty for SQLite.
std::string effective_store_url(const ServiceConfig& config);
// This node's name: EDGECA_NODE_NAME if set, else the configuration's, else the host name.
std::string effective_node_name(const ServiceConfig& config);

// Reads a TOML file (CLI11's reader) over the defaults. Unknown keys, wrong types and values
// out of range are refused with Error(bad_input, "config_invalid") naming the file and key.
ServiceConfig load_config(const std::filesystem::path& path);
ServiceConfig parse_config(std::istream& in, const std::string& source_name);

// Fills the URLs written into certificates when the configuration leaves them out: the CRL at
// <public_url>/crl and the issuing CA at <public_url>/ca.cer, where public_url defaults to
// http://<public_listen host, or the first host name for a wildcard address>:<public_port>
// (the port of public_listen when none is given).
void apply_default_urls(ServiceConfig& config, std::optional<int> public_port = std::nullopt);

// "90s", "15m", "2h", "7d" or a number of seconds.
std::chrono::seconds parse_duration(const std::string& text, std::string_view what);

// The commented configuration `edgeca init` writes beside a new issuing CA.
std::string default_config_text();

}  // namespace edgeca::cli
