// cli/serve_command.cpp — edgeca serve: unlock the issuing CA once, listen, keep the service's
// own TLS certificate fresh, and stop cleanly on SIGTERM.
#include <signal.h>

#include <botan/data_src.h>
#include <botan/pkcs8.h>
#include <botan/system_rng.h>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "api/event_log.h"
#include "api/service.h"
#include "ca/access_control.h"
#include "ca/audit_checkpoint.h"
#include "ca/certificate_facts.h"
#include "ca/device_registry.h"
#include "ca/distinguished_name.h"
#include "ca/encoding.h"
#include "ca/errors.h"
#include "ca/files.h"
#include "ca/issuing_authority.h"
#include "ca/service_certificate.h"
#include "cli/commands.h"
#include "crl/crl_publisher.h"
#include "crl/root_crl.h"
#include "cli/issuer_directory.h"
#include "cli/issuer_generations.h"
#include "cli/scheduling.h"
#include "cli/served_issuers.h"
#include "cli/serve_metrics.h"

namespace edgeca::cli {
namespace {

struct Options {
    std::filesystem::path dir;
    std::optional<std::filesystem::path> passphrase_file;
    std::optional<std::filesystem::path> config;
    std::optional<std::string> listen;
    std::optional<std::string> public_listen;
    std::vector<std::string> hostnames;
    std::optional<std::filesystem::path> tls_cert;
    std::optional<std::filesystem::path> tls_key;
    TokenKeySettings token;  // --pkcs11-module, --pin-file over edgeca.toml
};

// Work the service does besides answering requests, on one thread, until stopped: `tick`
// returns how long it may sleep, and wake() cuts the sleep short.
class Maintenance {
public:
    explicit Maintenance(std::function<std::chrono::milliseconds()> tick) : tick_(std::move(tick)) {
        thread_ = std::thread([this] { loop(); });
    }
    ~Maintenance() { stop(); }
    void wake() {
        {
            std::lock_guard lock(mutex_);
            woken_ = true;
        }
        signal_.notify_all();
    }
    void stop() {
        {
            std::lock_guard lock(mutex_);
            stopping_ = true;
        }
        signal_.notify_all();
        if (thread_.joinable()) thread_.join();
    }

private:
    void loop() {
        std::unique_lock lock(mutex_);
        while (!stopping_) {
            woken_ = false;
            lock.unlock();
            std::chrono::milliseconds sleep(1000);
            try {
                sleep = tick_();
            } catch (const std::exception& e) {
                api::log_event({{"event", "maintenance_error"}, {"error", e.what()}});
            }
            lock.lock();
            signal_.wait_for(lock, sleep, [this] { return stopping_ || woken_; });
        }
    }

    std::function<std::chrono::milliseconds()> tick_;
    std::mutex mutex_;
    std::condition_variable signal_;
    bool stopping_ = false;
    bool woken_ = false;
    std::thread thread_;
};

// Waits for SIGTERM or SIGINT (blocked in every thread) and calls `on_signal` once.
class SignalWatcher {
public:
    explicit SignalWatcher(std::function<void(int)> on_signal) {
        thread_ = std::thread([this, on_signal = std::move(on_signal)] {
            sigset_t set;
            sigemptyset(&set);
            sigaddset(&set, SIGTERM);
            sigaddset(&set, SIGINT);
            timespec interval{0, 200 * 1000 * 1000};
            while (!done_) {
                int signal = sigtimedwait(&set, nullptr, &interval);
                if (signal > 0) {
                    on_signal(signal);
                    return;
                }
            }
        });
    }
    ~SignalWatcher() {
        done_ = true;
        thread_.join();
    }

private:
    std::atomic<bool> done_{false};
    std::thread thread_;
};

// The root CRL is signed offline, so the service can only reload it and warn: at start, when
// its freshness changes, and once an hour while it is due or missing.
// During a root rollover: what /trust.pem serves, and a warning once a link has expired (devices
// that have not updated yet can no longer follow it; drop it with edgeca trust remove).
void log_trust_bundle(const ca::TrustBundle& trust, ca::Time now) {
    if (trust.links.empty()) return;
    auto earliest = ca::to_time(trust.links.front().not_after());
    for (const auto& link : trust.links) earliest = std::min(earliest, ca::to_time(link.not_after()));
    nlohmann::json event{{"event", "trust_bundle_loaded"}, {"roots", trust.roots.size()}, {"links", trust.links.size()},
                         {"links_not_after", ca::to_rfc3339(earliest)}};
    if (earliest <= now) {
        event["level"] = "warning";
        event["message"] = "a link certificate of the trust bundle has expired; remove it with edgeca trust remove";
    }
    api::log_event(event);
}

class RootCrlWatch {
public:
    RootCrlWatch(crl::RootCrlFile& file, const ca::Clock& clock, std::chrono::seconds warn_before, bool expected)
        : file_(file), clock_(clock), warn_before_(warn_before), expected_(expected) {}

    void check() {
        auto outcome = file_.reload();
        if (outcome.refused) {
            api::log_event({{"event", "root_crl_refused"}, {"level", "warning"}, {"file", file_.file().string()},
                            {"error", *outcome.refused}});
        }
        auto crl = file_.current();
        if (outcome.changed && crl) {
            api::log_event({{"event", "root_crl_loaded"}, {"number", crl->number}, {"entries", crl->entries},
                            {"next_update", ca::to_rfc3339(crl->next_update)}});
        }
        std::string state = crl ? crl::to_string(crl::freshness(*crl, clock_.now(), warn_before_))
                                : (expected_ ? "missing" : "none");
        const auto now = std::chrono::steady_clock::now();
        const bool warn = state != "fresh" && state != "none";
        if (state != state_ || (warn && now - last_warning_ >= std::chrono::hours(1))) {
            if (warn) {
                nlohmann::json event{{"event", "root_crl_stale"}, {"level", "warning"}, {"state", state},
                                     {"file", file_.file().string()}};
                if (crl) event["next_update"] = ca::to_rfc3339(crl->next_update);
                event["action"] = crl ? "sign a new root CRL (edgeca-root crl) and install it (edgeca root-crl install)"
                                      : "install the root CRL: edgeca root-crl install --dir DIR --crl FILE";
                api::log_event(event);
                last_warning_ = now;
            }
            state_ = state;
        }
    }

private:
    crl::RootCrlFile& file_;
    const ca::Clock& clock_;
    std::chrono::seconds warn_before_;
    bool expected_;  // the issuing CA's certificate names a CRL distribution point
    std::string state_;
    std::chrono::steady_clock::time_point last_warning_{};
};

void block_stop_signals() {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
    // A peer that closes its socket mid-response must not kill the service.
    ::signal(SIGPIPE, SIG_IGN);
}

// Credentials from --tls-cert/--tls-key: the key may be plain PEM or encrypted PKCS#8 under
// the issuing CA's passphrase.
std::shared_ptr<const api::TlsCredentials> given_credentials(const ServiceConfig& config,
                                                             const std::string& passphrase) {
    auto certificate = ca::read_file(*config.tls_cert, "the TLS certificate");
    auto key = ca::read_file(*config.tls_key, "the TLS key", 64 * 1024);
    if (key.find("ENCRYPTED PRIVATE KEY") != std::string::npos) {
        Botan::DataSource_Memory source(key);
        try {
            key = Botan::PKCS8::PEM_encode(*Botan::PKCS8::load_key(source, passphrase));
        } catch (const std::exception&) {
            throw ca::Error(ca::ErrorKind::unauthenticated, "wrong_passphrase",
                            "the passphrase does not open the TLS key");
        }
    }
    return api::TlsCredentials::from_pem(certificate, key, "");
}

int run_serve(const Options& o) {
    IssuerDirectory d{o.dir};
    d.require_installed();
    auto config = d.load_config(o.config);
    if (o.listen) config.listen = *o.listen;
    if (o.public_listen) config.public_listen = *o.public_listen;
    if (!o.hostnames.empty()) config.hostnames = o.hostnames;
    if (o.tls_cert.has_value() != o.tls_key.has_value()) {
        throw ca::Error(ca::ErrorKind::bad_input, "tls_options", "--tls-cert and --tls-key go together");
    }
    if (o.tls_cert) {
        config.tls_cert = o.tls_cert;
        config.tls_key = o.tls_key;
    }
    const auto api_endpoint = api::Endpoint::parse(config.listen);
    const auto public_endpoint = api::Endpoint::parse(config.public_listen);

    // Before any thread is started, so that every one of them has the policy.
    const auto scheduling = apply_scheduling(config.batch_scheduling);
    if (scheduling.warning) {
        api::log_event({{"event", "scheduling_unchanged"}, {"level", "warning"},
                        {"wanted", *config.batch_scheduling ? "batch" : "normal"},
                        {"in_force", scheduling.in_force}, {"error", *scheduling.warning}});
    }
    block_stop_signals();
    auto store = d.open_store(config);
    const std::string node = effective_node_name(config);
    // With a key in a token the passphrase still protects the service's own TLS key
    // (tls/server.key), which stays a file key.
    const std::string passphrase = read_passphrase(issuer_passphrase(o.passphrase_file), false);
    auto identity = d.load_identity(config, o.token, [&passphrase] { return passphrase; });

    ca::SystemClock clock;
    Botan::System_RNG rng;
    log_trust_bundle(identity.trust, clock.now());
    api::Metrics metrics(node);
    api::CredentialSlot credentials;
    api::HttpSettings http{config.max_body_bytes, config.threads, config.read_timeout,
                           config.keep_alive_timeout, config.request_timeout,
                           static_cast<size_t>(config.max_connections_per_client)};
    api::ApiService service(http, credentials, identity.chain_pem(), metrics);
    service.bind(api_endpoint, public_endpoint);
    apply_default_urls(config, service.public_port());

    ca::IssuingAuthority authority(store, clock, rng, config.policy, identity,
                                   config.signing_backend == ca::SigningBackend::openssl
                                       ? ca::openssl_signature_verifier()
                                       : ca::SignatureVerifier{});
    ca::Revoker revoker(store, clock);
    ca::DeviceRegistry registry(store, clock, rng);
    ca::AccessControl access(store, clock, rng);
    api::Engine engine{store, clock, authority, revoker, registry, access, metrics, node};

    // Every issuing CA not retired publishes its CRLs; the newest signs. Loaded before the
    // service's own TLS certificate, which the active issuer signs.
    record_first_issuer(d, store);
    crl::IssuerCrls crls(store, clock, rng, d.crl(),
                         {config.crl.publish_delay, config.crl.validity, config.crl.refresh_before,
                          config.crl.history, node, config.crl.signer_lease});
    ServedIssuers issuers(d, store, authority, crls, identity, passphrase, config.signing_backend,
                          [&service](const ca::IssuerIdentity& issuer) {
                              service.trust_client_issuer(ca::encode_pem(issuer.certificate.BER_encode(), "CERTIFICATE") +
                                                          ca::encode_pem(issuer.root.BER_encode(), "CERTIFICATE"));
                          });
    issuers.sync();
    add_crl_metrics(metrics, crls, authority, clock);

    std::unique_ptr<ca::ServiceCertificate> own_certificate;
    ca::ServiceCredentials current;
    // The chain sent is the active issuer's at the time the certificate was made.
    auto use = [&](const ca::ServiceCredentials& c) {
        const std::string issuer_pem = ca::encode_pem(authority.issuer()->certificate.BER_encode(), "CERTIFICATE");
        credentials.set(api::TlsCredentials::from_pem(c.certificate_pem, c.key_pem, issuer_pem));
    };
    if (config.tls_cert) {
        credentials.set(given_credentials(config, passphrase));
    } else {
        own_certificate = std::make_unique<ca::ServiceCertificate>(authority, clock, rng, d.tls(),
                                                                    passphrase, config.hostnames);
        current = own_certificate->current();
        use(current);
    }

    // Checkpoints of the audit log, signed with the issuing CA key: what the CLI appended while
    // the service was down is covered from the start.
    ca::AuditCheckpointer checkpointer(store, clock, rng, *identity.key, {});
    checkpointer.checkpoint_now();
    crl::RootCrlFile root_crl(d.root_crl(), identity.root);
    RootCrlWatch root_crl_watch(root_crl, clock, config.crl.root_warn_before,
                                !identity.certificate.crl_distribution_point().empty());
    root_crl_watch.check();
    add_root_crl_metrics(metrics, root_crl, clock);

    api::add_v1_routes(service.api_server(), engine);
    ca::AppCredentials apps(store, clock, rng, identity.certificate, identity.key,
                            {config.enos.token_lifetime, config.enos.timestamp_window});
    api::add_enos_routes(service.api_server(), engine, apps, {config.enos.org_id, config.public_url + "/ca.pem"});
    for (auto* server : {&service.api_server(), &service.public_server()}) {
        api::add_download_routes(*server, engine, server == &service.api_server());
        // Issuer 1's CRL stays where its certificates' distribution point says.
        api::add_crl_routes(*server,
                            {[&crls] { return crls.current(1); }, "crl_unavailable",
                             "no CRL has been signed yet, or issuing CA 1 was retired; try again shortly"},
                            clock, config.crl.cache_max_age, {"/crl", "/enos/CA/crl", "/enos/CA/crl/RSA"}, {"/crl.pem"});
        api::add_issuer_crl_routes(*server, crls, clock, config.crl.cache_max_age);
        api::add_enos_downloads(*server, engine);
        api::add_crl_routes(*server,
                            {[&root_crl] { return root_crl.current(); }, "root_crl_unavailable",
                             "no root CRL is installed here; the operator installs one with edgeca root-crl install"},
                            clock, config.crl.cache_max_age, {"/root.crl"}, {"/root-crl.pem"});
    }

    Maintenance maintenance([&] {
        issuers.sync();
        auto wait = crls.tick();
        checkpointer.tick();
        root_crl_watch.check();
        if (own_certificate && own_certificate->due_for_renewal(current)) {
            current = own_certificate->renew();
            use(current);
            api::log_event({{"event", "tls_certificate_renewed"}, {"serial", current.serial_hex},
                            {"not_after", ca::to_rfc3339(current.not_after)}});
        }
        return wait;
    });
    revoker.on_revocation([&] {
        // The revoked certificate's issuer sees its revocation counter grow at this tick.
        checkpointer.note_revocation();
        maintenance.wake();
    });

    api::log_event({{"event", "listening"},
                    {"api", fmt::format("https://{}:{}", api_endpoint.host, service.api_port())},
                    {"public", fmt::format("http://{}:{}", public_endpoint.host, service.public_port())},
                    {"issuer", ca::to_rfc4514(authority.issuer()->certificate.subject_dn())},
                    {"issuer_id", authority.issuer()->id},
                    {"signing_backend", ca::to_string(config.signing_backend)},
                    {"scheduling", scheduling.in_force},
                    {"crl_urls", config.policy.crl_urls},
                    {"tls_certificate", config.tls_cert ? config.tls_cert->string() : current.serial_hex}});

    {
        SignalWatcher watcher([&](int signal) {
            api::log_event({{"event", "stopping"}, {"signal", signal == SIGTERM ? "SIGTERM" : "SIGINT"}});
            service.stop();
        });
        service.run();
        service.stop();
    }
    maintenance.stop();
    // A clean stop leaves no entry unsigned; a store that cannot take it is reported, and the
    // next start signs what is missing.
    try {
        checkpointer.checkpoint_now();
    } catch (const std::exception& e) {
        api::log_event({{"event", "checkpoint_error"}, {"error", e.what()}});
    }
    api::log_event({{"event", "stopped"}});
    return exit_ok;
}

}  // namespace

std::vector<Command> add_serve_command(CLI::App& app) {
    auto o = std::make_shared<Options>();
    auto* serve = app.add_subcommand("serve", "run the issuing CA's HTTPS API and public downloads");
    serve->add_option("--dir", o->dir, "the issuing CA's data directory")->required();
    serve->add_option("--passphrase-file", o->passphrase_file,
                      "file whose first line is the key's passphrase (with a key in a token: the "
                      "passphrase of the service's TLS key)");
    serve->add_option("--pkcs11-module", o->token.module,
                      "key in a token: its PKCS#11 module (default: pkcs11_module in edgeca.toml)");
    serve->add_option("--pin-file", o->token.pin_file,
                      "key in a token: file whose first line is the user PIN (default: pin_file in "
                      "edgeca.toml, else $EDGECA_PKCS11_PIN)");
    serve->add_option("--config", o->config, "settings file (default DIR/edgeca.toml)");
    serve->add_option("--listen", o->listen, "HTTPS API address (default 127.0.0.1:8443; port 0: any)");
    serve->add_option("--public-listen", o->public_listen, "plain-HTTP downloads address (default 127.0.0.1:8080)");
    serve->add_option("--hostname", o->hostnames, "a name or IPv4 address for the TLS certificate (repeatable; default localhost, 127.0.0.1)");
    serve->add_option("--tls-cert", o->tls_cert, "use this TLS certificate (PEM, with its chain) instead of one edgeca issues itself");
    serve->add_option("--tls-key", o->tls_key, "the key of --tls-cert (PEM; encrypted under the issuing CA's passphrase or plain)");
    return {{serve, [o] { return run_serve(*o); }}};
}

}  // namespace edgeca::cli
