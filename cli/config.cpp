// cli/config.cpp — reading edgeca.toml strictly: a typo is an error, not a silent default.
#include "cli/config.h"

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <functional>
#include <map>

#include "ca/errors.h"
#include "ca/files.h"
#include "store/database.h"

namespace edgeca::cli {
namespace {

[[noreturn]] void invalid(const std::string& source, const std::string& key, const std::string& why) {
    throw ca::Error(ca::ErrorKind::bad_input, "config_invalid",
                    fmt::format("{}: '{}' {}", source, key, why));
}

struct Reader {
    const std::string& source;
    const CLI::ConfigItem& item;
    std::string key() const { return item.fullname(); }

    std::string string() const {
        if (item.inputs.size() != 1) invalid(source, key(), "must be one string");
        return item.inputs[0];
    }
    std::vector<std::string> list() const { return item.inputs; }
    int64_t integer(int64_t min, int64_t max) const {
        std::string text = string();
        size_t used = 0;
        int64_t value = 0;
        try {
            value = std::stoll(text, &used);
        } catch (const std::exception&) {
            used = 0;
        }
        if (used != text.size() || text.empty()) invalid(source, key(), "must be an integer");
        if (value < min || value > max) {
            invalid(source, key(), fmt::format("must be between {} and {}", min, max));
        }
        return value;
    }
    bool boolean() const {
        std::string text = string();
        if (text == "true") return true;
        if (text == "false") return false;
        invalid(source, key(), "must be true or false");
    }
    std::chrono::seconds duration(std::chrono::seconds min, std::chrono::seconds max) const {
        std::chrono::seconds value{};
        try {
            value = parse_duration(string(), key());
        } catch (const ca::Error& e) {
            invalid(source, key(), fmt::format("is not a duration such as \"90s\", \"15m\", \"2h\" or \"7d\""));
        }
        if (value < min || value > max) {
            invalid(source, key(), fmt::format("must be between {}s and {}s", min.count(), max.count()));
        }
        return value;
    }
};

using Setter = std::function<void(ServiceConfig&, const Reader&)>;

const std::map<std::string, Setter>& setters() {
    using std::chrono::days;
    using std::chrono::hours;
    using std::chrono::seconds;
    static const std::map<std::string, Setter> table = [] {
        std::map<std::string, Setter> t;
        t["signing_backend"] = [](ServiceConfig& c, const Reader& r) {
            std::string name = r.string();
            if (name == "openssl") {
                c.signing_backend = ca::SigningBackend::openssl;
            } else if (name == "botan") {
                c.signing_backend = ca::SigningBackend::botan;
            } else {
                invalid(r.source, r.key(), "must be \"openssl\" or \"botan\"");
            }
        };
        t["listen"] = [](ServiceConfig& c, const Reader& r) { c.listen = r.string(); };
        t["public_listen"] = [](ServiceConfig& c, const Reader& r) { c.public_listen = r.string(); };
        t["hostnames"] = [](ServiceConfig& c, const Reader& r) { c.hostnames = r.list(); };
        t["public_url"] = [](ServiceConfig& c, const Reader& r) { c.public_url = r.string(); };
        t["tls_cert"] = [](ServiceConfig& c, const Reader& r) { c.tls_cert = r.string(); };
        t["tls_key"] = [](ServiceConfig& c, const Reader& r) { c.tls_key = r.string(); };
        t["key"] = [](ServiceConfig& c, const Reader& r) {
            std::string uri = r.string();
            try {
                ca::Pkcs11Uri::parse(uri);
            } catch (const ca::Error& e) {
                invalid(r.source, r.key(), e.what());
            }
            c.token_key.key = uri;
        };
        t["pkcs11_module"] = [](ServiceConfig& c, const Reader& r) { c.token_key.module = r.string(); };
        t["pin_file"] = [](ServiceConfig& c, const Reader& r) { c.token_key.pin_file = r.string(); };
        t["max_body_bytes"] = [](ServiceConfig& c, const Reader& r) {
            c.max_body_bytes = static_cast<size_t>(r.integer(1024, 16 << 20));
        };
        t["threads"] = [](ServiceConfig& c, const Reader& r) { c.threads = static_cast<int>(r.integer(2, 1024)); };
        t["scheduling"] = [](ServiceConfig& c, const Reader& r) {
            std::string name = r.string();
            if (name != "batch" && name != "normal") invalid(r.source, r.key(), "must be \"batch\" or \"normal\"");
            c.batch_scheduling = name == "batch";
        };
        t["read_timeout"] = [](ServiceConfig& c, const Reader& r) { c.read_timeout = r.duration(seconds(1), seconds(300)); };
        t["keep_alive_timeout"] = [](ServiceConfig& c, const Reader& r) {
            c.keep_alive_timeout = r.duration(seconds(1), seconds(3600));
        };
        t["request_timeout"] = [](ServiceConfig& c, const Reader& r) {
            c.request_timeout = r.duration(seconds(1), seconds(300));
        };
        t["max_connections_per_client"] = [](ServiceConfig& c, const Reader& r) {
            c.max_connections_per_client = static_cast<int>(r.integer(1, 1024));
        };
        t["backdate"] = [](ServiceConfig& c, const Reader& r) { c.policy.backdate = r.duration(seconds(0), hours(48)); };
        t["crl_urls"] = [](ServiceConfig& c, const Reader& r) { c.policy.crl_urls = r.list(); };
        t["ca_issuer_urls"] = [](ServiceConfig& c, const Reader& r) { c.policy.ca_issuer_urls = r.list(); };
        for (const char* profile : {"edge", "hub", "client"}) {
            auto limits = [profile](ServiceConfig& c) -> ca::ProfileLimits& {
                std::string p = profile;
                return p == "edge" ? c.policy.edge : p == "hub" ? c.policy.hub : c.policy.client;
            };
            t[fmt::format("profiles.{}.max_validity_days", profile)] = [limits](ServiceConfig& c, const Reader& r) {
                limits(c).max_validity_days = static_cast<int>(r.integer(1, 36500));
            };
            t[fmt::format("profiles.{}.default_validity_days", profile)] = [limits](ServiceConfig& c, const Reader& r) {
                limits(c).default_validity_days = static_cast<int>(r.integer(1, 36500));
            };
        }
        t["profiles.hub.allowed_domains"] = [](ServiceConfig& c, const Reader& r) {
            c.policy.hub_allowed_domains = r.list();
        };
        t["profiles.hub.allowed_ip_networks"] = [](ServiceConfig& c, const Reader& r) {
            c.policy.hub_ip_networks.clear();
            for (const auto& text : r.list()) {
                try {
                    c.policy.hub_ip_networks.push_back(ca::IpNetwork::parse(text));
                } catch (const ca::Error& e) {
                    invalid(r.source, r.key(), fmt::format("is invalid: {}", e.what()));
                }
            }
        };
        t["weak_keys_file"] = [](ServiceConfig& c, const Reader& r) {
            const std::string path = r.string();
            std::string text;
            try {
                text = ca::read_file(path, "the weak keys file", 256 << 20);
                c.policy.known_weak_keys = ca::WeakKeyList::parse(text, path);
            } catch (const ca::Error& e) {
                invalid(r.source, r.key(), fmt::format("is invalid: {}", e.what()));
            }
        };
        t["crl.publish_delay"] = [](ServiceConfig& c, const Reader& r) {
            c.crl.publish_delay = r.duration(seconds(0), hours(1));
        };
        t["crl.validity"] = [](ServiceConfig& c, const Reader& r) { c.crl.validity = r.duration(seconds(60), days(366)); };
        t["crl.refresh_before"] = [](ServiceConfig& c, const Reader& r) {
            c.crl.refresh_before = r.duration(seconds(10), days(365));
        };
        t["crl.cache_max_age"] = [](ServiceConfig& c, const Reader& r) {
            c.crl.cache_max_age = r.duration(seconds(0), days(7));
        };
        t["crl.root_warn_before"] = [](ServiceConfig& c, const Reader& r) {
            c.crl.root_warn_before = r.duration(seconds(0), days(3650));
        };
        t["enos.org_id"] = [](ServiceConfig& c, const Reader& r) { c.enos.org_id = r.string(); };
        t["enos.token_lifetime"] = [](ServiceConfig& c, const Reader& r) {
            c.enos.token_lifetime = r.duration(seconds(1), days(1));
        };
        t["enos.timestamp_window"] = [](ServiceConfig& c, const Reader& r) {
            c.enos.timestamp_window = r.duration(seconds(5), hours(1));
        };
        t["crl.signer_lease"] = [](ServiceConfig& c, const Reader& r) {
            c.crl.signer_lease = r.duration(seconds(3), hours(1));
        };
        t["store.url"] = [](ServiceConfig& c, const Reader& r) {
            c.store.url = r.string();
            if (!c.store.url.empty() && !store::is_postgresql_url(c.store.url)) {
                invalid(r.source, r.key(), "must be a PostgreSQL URL (postgresql://...) or empty for SQLite");
            }
            if (store::redact_url(c.store.url) != c.store.url) {
                invalid(r.source, r.key(), "holds a password: put it in PGPASSWORD or a passfile instead");
            }
        };
        t["node.name"] = [](ServiceConfig& c, const Reader& r) { c.node.name = r.string(); };
        t["crl.history"] = [](ServiceConfig& c, const Reader& r) { c.crl.history = static_cast<int>(r.integer(1, 100000)); };
        return t;
    }();
    return table;
}

void check_consistency(const ServiceConfig& c, const std::string& source) {
    for (const auto* limits : {&c.policy.edge, &c.policy.hub, &c.policy.client}) {
        if (limits->default_validity_days > limits->max_validity_days) {
            invalid(source, "profiles.*.default_validity_days", "is larger than max_validity_days");
        }
    }
    if (c.crl.refresh_before >= c.crl.validity) {
        invalid(source, "crl.refresh_before", "must be shorter than crl.validity");
    }
    if (c.tls_cert.has_value() != c.tls_key.has_value()) {
        invalid(source, "tls_cert", "and tls_key are given together or not at all");
    }
    if (!c.token_key.key && (c.token_key.module || c.token_key.pin_file)) {
        invalid(source, c.token_key.module ? "pkcs11_module" : "pin_file",
                "belongs to a key in a token, and 'key' (a pkcs11: URI) is not set");
    }
}

}  // namespace

std::chrono::seconds parse_duration(const std::string& text, std::string_view what) {
    if (text.empty()) {
        throw ca::Error(ca::ErrorKind::bad_input, "duration_invalid", fmt::format("{} is empty", what));
    }
    char unit = text.back();
    std::string digits = std::isdigit(static_cast<unsigned char>(unit)) ? text : text.substr(0, text.size() - 1);
    int64_t multiplier = 1;
    switch (std::isdigit(static_cast<unsigned char>(unit)) ? 's' : unit) {
        case 's': multiplier = 1; break;
        case 'm': multiplier = 60; break;
        case 'h': multiplier = 3600; break;
        case 'd': multiplier = 86400; break;
        default: digits.clear();
    }
    bool ok = !digits.empty() && digits.size() <= 9 &&
              std::all_of(digits.begin(), digits.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)); });
    if (!ok) {
        throw ca::Error(ca::ErrorKind::bad_input, "duration_invalid",
                        fmt::format("{} '{}' is not a duration such as 90s, 15m, 2h or 7d", what,
                                    text.substr(0, 32)));
    }
    return std::chrono::seconds(std::stoll(digits) * multiplier);
}

ServiceConfig parse_config(std::istream& in, const std::string& source) {
    ServiceConfig config;
    std::vector<CLI::ConfigItem> items;
    try {
        items = CLI::ConfigTOML().from_config(in);
    } catch (const std::exception& e) {
        invalid(source, "(file)", fmt::format("cannot be read as TOML: {}", e.what()));
    }
    for (const auto& item : items) {
        if (item.name == "++" || item.name == "--") continue;  // section markers
        auto setter = setters().find(item.fullname());
        if (setter == setters().end()) {
            std::vector<std::string> known;
            for (const auto& [key, _] : setters()) known.push_back(key);
            invalid(source, item.fullname(),
                    fmt::format("is not a setting; known settings: {}", fmt::join(known, ", ")));
        }
        setter->second(config, Reader{source, item});
    }
    check_consistency(config, source);
    return config;
}

std::string effective_store_url(const ServiceConfig& config) {
    const char* url = std::getenv("EDGECA_STORE_URL");
    return url != nullptr && *url != '\0' ? std::string(url) : config.store.url;
}

std::string effective_node_name(const ServiceConfig& config) {
    const char* name = std::getenv("EDGECA_NODE_NAME");
    if (name != nullptr && *name != '\0') return name;
    if (!config.node.name.empty()) return config.node.name;
    char host[256] = {};
    if (::gethostname(host, sizeof host - 1) == 0 && host[0] != '\0') return host;
    return "edgeca";
}

void apply_default_urls(ServiceConfig& config, std::optional<int> public_port) {
    if (config.public_url.empty()) {
        auto colon = config.public_listen.rfind(':');
        std::string host = config.public_listen.substr(0, colon);
        std::string port = public_port ? std::to_string(*public_port)
                                       : config.public_listen.substr(colon == std::string::npos ? config.public_listen.size() : colon + 1);
        if (host == "0.0.0.0" || host == "::" || host == "[::]" || host.empty()) {
            host = config.hostnames.empty() ? std::string("localhost") : config.hostnames.front();
        }
        config.public_url = fmt::format("http://{}:{}", host, port);
    }
    while (!config.public_url.empty() && config.public_url.back() == '/') config.public_url.pop_back();
    if (config.policy.crl_urls.empty()) config.policy.crl_urls = {config.public_url + "/crl"};
    if (config.policy.ca_issuer_urls.empty()) config.policy.ca_issuer_urls = {config.public_url + "/ca.cer"};
}

ServiceConfig load_config(const std::filesystem::path& path) {
    std::string text = ca::read_file(path, "the configuration file", 1 << 20);
    std::istringstream in(text);
    return parse_config(in, path.string());
}

std::string default_config_text() {
    return R"(# edgeca.toml: the issuing CA's settings. Every key is optional; the values shown are
# the defaults. See docs/configuration.md.

# Who makes the issuing CA's RSA signatures: "openssl" (faster) or "botan" (the reference).
# signing_backend = "openssl"

# The issuing CA's key in a PKCS#11 token instead of issuer.key (RFC 7512 URI), the token's
# module, and a file whose first line is the user PIN (else $EDGECA_PKCS11_PIN).
# key = "pkcs11:token=CA;object=edgeca-issuing-ca;id=%01"
# pkcs11_module = "/usr/lib/softhsm/libsofthsm2.so"
# pin_file = "/etc/edgeca/token.pin"

# Where the HTTPS API (mutual TLS) and the plain-HTTP downloads (CA certificates, CRLs) listen.
# listen = "127.0.0.1:8443"
# public_listen = "127.0.0.1:8080"
# Names and addresses in edgeca's own HTTPS certificate.
# hostnames = ["localhost", "127.0.0.1"]
# How devices reach the public listener; written into certificates (CRL and CA URLs).
# public_url = "http://127.0.0.1:8080"

# max_body_bytes = 65536
# Worker threads per listener: a connection holds one from its accept to its close.
# threads = 128
# How Linux schedules the service's threads: "batch" (SCHED_BATCH: a thread woken by the network
# or the disk waits for the running one's time slice instead of preempting it: a loaded service
# on a machine of its own switches less, and served as much or up to 3 % more) or "normal"
# (SCHED_OTHER).
# Unset: the policy the service was started with.
# scheduling = "batch"
# A client that sends or reads nothing for this long is disconnected.
# read_timeout = "10s"
# A whole request (TLS handshake, headers, body) must arrive within this, however slowly.
# request_timeout = "20s"
# An idle kept-alive connection is closed after this (sooner when every worker is taken).
# keep_alive_timeout = "5s"
# Connections one client address (IPv6: one /64) may hold open on each listener; more are closed
# at once. Keep it below threads, so that one client cannot take every worker.
# max_connections_per_client = 32
# notBefore is set this far in the past, for devices whose clocks run late.
# backdate = "5m"
# RSA moduli refused as known weak: one SHA-1 of "Modulus=<HEX>\n" a line (40 hex digits, or
# the last 20 as Debian's openssl-blacklist files have them). No list by default.
# weak_keys_file = "/etc/edgeca/weak-keys.txt"

[profiles.edge]
# max_validity_days = 3650
# default_validity_days = 730

[profiles.hub]
# max_validity_days = 825
# default_validity_days = 365
# A hub certificate's DNS names must fall under one of these.
allowed_domains = ["localhost"]
# A hub certificate's IP addresses must fall in one of these networks (CIDR, IPv4 or IPv6);
# none by default, so a hub CSR asking for an IP address is refused.
# allowed_ip_networks = ["10.0.0.0/8", "fd00::/8"]

[profiles.client]
# max_validity_days = 365
# default_validity_days = 365

[crl]
# publish_delay = "5s"
# validity = "24h"
# refresh_before = "8h"
# history = 100
# cache_max_age = "1m"
# The root CRL (edgeca root-crl install, served at /root.crl) is signed offline: warn this long
# before its nextUpdate, so that there is time for a ceremony.
# root_warn_before = "14d"
# With several nodes on one store, one at a time signs CRLs under a lease this long; another
# takes over at most this long (plus a third of it) after the signer dies.
# signer_lease = "30s"

[store]
# Empty: the SQLite file issuer.db in this directory, for one node. A PostgreSQL URL for a store
# that several nodes share (docs/scaling.md); the password comes from PGPASSWORD or a passfile,
# never this file. EDGECA_STORE_URL overrides it.
# url = "postgresql://edgeca@db1.example.com:5432,db2.example.com:5432/edgeca?target_session_attrs=read-write"

[node]
# This node's name in /healthz, /metrics and logs; the host name by default. EDGECA_NODE_NAME
# overrides it.
# name = "ca-1"

[enos]
# The EnOS-compatible API (docs/enos-compat.md).
# org_id = ""               # when set, requests must name this orgId
# token_lifetime = "2h"     # access tokens from /apim-token-service/v2.0/token/get
# timestamp_window = "5m"   # how far apim-timestamp may be from the server's clock
)";
}

}  // namespace edgeca::cli
