// bench/edgeca_bench.cpp — the measurements of bench/run.sh: raw RSA-2048 signatures per
// backend and in-process issuance through the real engine and store here; CRLs in
// crl_bench.cpp, the running service in service_bench.cpp. Prints JSON lines.
#include <sys/resource.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <botan/pkcs8.h>
#include <botan/pubkey.h>
#include <botan/rsa.h>
#include <botan/system_rng.h>
#include <botan/x509self.h>
#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <thread>

#include "bench/bench.h"
#include "ca/access_control.h"
#include "ca/pkcs11_key.h"
#include "ca/device_registry.h"
#include "ca/distinguished_name.h"
#include "ca/files.h"
#include "ca/root_authority.h"

namespace edgeca::bench {
namespace {

Botan::System_RNG rng;

double cpu_seconds() {
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    return static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
           static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
}

struct Rate {
    double per_second;
    double cpu_us_per_op;  // process CPU time per operation: what the work costs, busy machine or not
};

// Runs `work(thread)` on `threads` threads for about `seconds`.
template <typename Work>
Rate rate(int threads, double seconds, Work work) {
    std::atomic<bool> stop{false};
    std::atomic<uint64_t> done{0};
    std::vector<std::thread> pool;
    auto start = Clock::now();
    const double cpu_start = cpu_seconds();
    for (int t = 0; t < threads; ++t) {
        pool.emplace_back([&, t] {
            uint64_t mine = 0;
            while (!stop.load(std::memory_order_relaxed)) {
                work(t);
                ++mine;
            }
            done += mine;
        });
    }
    std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
    stop = true;
    for (auto& th : pool) th.join();
    const double ops = static_cast<double>(done);
    return {ops / seconds_since(start), (cpu_seconds() - cpu_start) * 1e6 / std::max(ops, 1.0)};
}

}  // namespace

int64_t status_bytes(pid_t pid, const std::string& field) {
    std::ifstream in(fmt::format("/proc/{}/status", pid));
    std::string line;
    while (std::getline(in, line)) {
        if (line.rfind(field + ":", 0) == 0) return std::stoll(line.substr(field.size() + 1)) * 1024;
    }
    return -1;
}

void reset_peak_rss() {
    std::ofstream clear("/proc/self/clear_refs");
    clear << "5";
}

double percentile(const std::vector<double>& sorted, double p) {
    if (sorted.empty()) return 0.0;
    return sorted[std::min(sorted.size() - 1, static_cast<size_t>(p * static_cast<double>(sorted.size())))];
}

ca::SigningBackend backend_of(const std::string& name) {
    if (name == "botan") return ca::SigningBackend::botan;
    if (name == "openssl") return ca::SigningBackend::openssl;
    throw std::runtime_error("backend is botan or openssl");
}

Issuer::Issuer(const std::filesystem::path& dir, ca::SigningBackend backend)
    : root_store(store::Store::create(dir / "root.db")), store(store::Store::create(dir / "issuer.db")) {
    auto root_key = std::make_unique<Botan::RSA_PrivateKey>(rng, 2048);
    auto root_cert = ca::RootAuthority::create(root_store, *root_key, ca::parse_distinguished_name("CN=Bench Root"),
                                               3650, clock, rng, "bench");
    ca::RootAuthority root(root_store, clock, rng, std::move(root_key), root_cert);
    std::shared_ptr<const Botan::Private_Key> issuer_key = std::make_shared<Botan::RSA_PrivateKey>(rng, 2048);
    Botan::X509_Cert_Options options("Bench Issuing CA");
    auto csr = Botan::X509::create_cert_req(options, *issuer_key, "SHA-256", rng);
    auto issuer_cert = root.sign_intermediate(csr.BER_encode(), 3000, "bench");
    plain_key = issuer_key;
    key = ca::signing_key(issuer_key, backend);
    identity = {key, issuer_cert, root_cert, {{root_cert}, {}}};
    ca::DeviceRegistry registry(store, clock, rng);
    auto admin = ca::Caller::operator_on_host("bench");
    registry.add_product(admin, {.product_key = "P1", .max_validity_days = 730});
    registry.add_device(admin, "P1", "SN-BENCH", std::nullopt);
}

// The key in a PKCS#11 token for `--backend pkcs11`: the URI and module from the options, the
// PIN from $EDGECA_PKCS11_PIN.
struct TokenOptions {
    std::string uri;
    std::string module;
};

int bench_sign(const std::string& backend, int threads, double seconds, const TokenOptions& token) {
    std::shared_ptr<const Botan::Private_Key> signing;
    if (backend == "pkcs11") {
        const char* pin = std::getenv("EDGECA_PKCS11_PIN");
        if (token.uri.empty() || token.module.empty() || pin == nullptr) {
            throw std::runtime_error("--backend pkcs11 needs --pkcs11-uri, --pkcs11-module and $EDGECA_PKCS11_PIN");
        }
        signing = ca::load_token_key({ca::Pkcs11Uri::parse(token.uri), token.module, pin});
    } else {
        std::shared_ptr<const Botan::Private_Key> key = std::make_shared<Botan::RSA_PrivateKey>(rng, 2048);
        signing = ca::signing_key(key, backend_of(backend));
    }
    std::vector<uint8_t> message(300, 0x42);  // about a TBSCertificate's hash input... hashed anyway
    auto measured = rate(threads, seconds, [&](int) {
        Botan::PK_Signer signer(*signing, rng, "EMSA3(SHA-256)");
        signer.sign_message(message, rng);
    });
    std::cout << nlohmann::json{{"bench", "sign"}, {"backend", backend}, {"threads", threads},
                                {"per_second", measured.per_second}, {"cpu_us_per_op", measured.cpu_us_per_op}}
              << std::endl;
    return 0;
}

int bench_issue(const std::string& backend, int threads, double seconds, const std::filesystem::path& dir) {
    ca::ensure_private_directory(dir);
    Issuer issuer(dir, backend_of(backend));
    ca::IssuancePolicy policy;
    policy.crl_urls = {"http://127.0.0.1:8080/crl"};
    policy.ca_issuer_urls = {"http://127.0.0.1:8080/ca.cer"};
    ca::IssuingAuthority authority(issuer.store, issuer.clock, rng, policy, issuer.identity,
                                   backend == "openssl" ? ca::openssl_signature_verifier() : ca::SignatureVerifier{});
    // One key and CSR per thread: the device renews, the same request each time.
    std::vector<std::vector<uint8_t>> csrs;
    for (int t = 0; t < threads; ++t) {
        Botan::RSA_PrivateKey key(rng, 2048);
        Botan::X509_Cert_Options options("SN-BENCH");
        csrs.push_back(Botan::X509::create_cert_req(options, key, "SHA-256", rng).BER_encode());
    }
    // Every device must have its own key; these bench threads are all "SN-BENCH".
    auto hub = ca::Caller::with_role("hub:bench", store::Role::hub);
    auto measured = rate(threads, seconds, [&](int t) {
        ca::IssuanceRequest request;
        request.csr = csrs[static_cast<size_t>(t)];
        request.profile = ca::Profile::edge;
        request.product_key = "P1";
        request.device_key = "SN-BENCH";
        authority.issue(hub, request);
    });
    std::cout << nlohmann::json{{"bench", "issue"}, {"backend", backend}, {"threads", threads},
                                {"per_second", measured.per_second}, {"cpu_us_per_op", measured.cpu_us_per_op}}
              << std::endl;
    return 0;
}

}  // namespace edgeca::bench

int main(int argc, char** argv) {
    using namespace edgeca::bench;
    CLI::App app{"edgeca-bench: the measurements behind bench/run.sh (JSON lines on stdout)"};
    app.require_subcommand(1);
    std::string backend = "openssl";
    int threads = 1;
    double seconds = 3;
    std::string dir = "/tmp/edgeca-bench";
    std::string store_path, serials_path;

    auto add_target = [](CLI::App* command, TlsTarget& target) {
        command->add_option("--host", target.host);
        command->add_option("--port", target.port, "the HTTPS API port")->required();
        command->add_option("--ca", target.ca_file, "the root the server's chain ends in")->required();
        command->add_option("--cert", target.cert, "client certificate (PEM)")->required();
        command->add_option("--key", target.key, "client key (PEM)")->required();
    };

    auto* sign = app.add_subcommand("sign", "raw RSA-2048 signatures per second");
    TokenOptions token;
    sign->add_option("--backend", backend, "botan, openssl, or pkcs11 (a key in a token)");
    sign->add_option("--pkcs11-uri", token.uri, "with --backend pkcs11: the key's RFC 7512 URI");
    sign->add_option("--pkcs11-module", token.module, "with --backend pkcs11: the token's module");
    sign->add_option("--threads", threads);
    sign->add_option("--seconds", seconds);

    auto* issue = app.add_subcommand("issue", "in-process issuance: CSR checks, policy, build, sign, durable commit");
    issue->add_option("--backend", backend);
    issue->add_option("--threads", threads);
    issue->add_option("--seconds", seconds);
    issue->add_option("--dir", dir)->required();

    CrlOptions crl_options;
    auto* crl = app.add_subcommand("crl", "build and sign a CRL of N revoked entries with reason codes");
    crl->add_option("--backend", crl_options.backend);
    crl->add_option("--entries", crl_options.entries)->required();
    crl->add_option("--dir", crl_options.dir)->required();
    crl->add_option("--openssl-dir", crl_options.openssl_dir,
                    "also write the same entries as an `openssl ca` database (index.txt, CA, openssl.cnf)");

    FillOptions fill_options;
    auto* fill = app.add_subcommand("fill", "add N certificate rows (1 in K revoked) to an issuing CA's store");
    fill->add_option("--store", fill_options.store, "the issuing CA's issuer.db (service stopped)")->required();
    fill->add_option("--count", fill_options.count, "how many to add");
    fill->add_option("--until", fill_options.until, "add as many as make the store hold this many");
    fill->add_option("--revoked-every", fill_options.revoked_every);

    LoadOptions load_options;
    auto* load = app.add_subcommand("load", "HTTPS issuance with mutual TLS and keep-alive");
    add_target(load, load_options.target);
    load->add_option("--path", load_options.path);
    load->add_option("--body", load_options.body_file, "file holding the JSON request")->required();
    load->add_option("--expect-status", load_options.expect_status);
    load->add_option("--clients", load_options.clients);
    load->add_option("--seconds", load_options.seconds, "how long each client sends requests");
    load->add_option("--max-requests", load_options.max_requests, "per client");
    load->add_option("--serials-out", load_options.serials_out, "write the serials returned, one a line");

    BurstOptions burst_options;
    auto* burst = app.add_subcommand("burst", "issue N, revoke them all at once, poll the served CRL until it lists them");
    add_target(burst, burst_options.target);
    burst->add_option("--public-port", burst_options.public_port, "plain-HTTP port serving /crl")->required();
    burst->add_option("--body", burst_options.body_file, "the JSON issuance request")->required();
    burst->add_option("--count", burst_options.count);
    burst->add_option("--clients", burst_options.clients);
    burst->add_option("--reason", burst_options.reason);
    burst->add_option("--timeout", burst_options.timeout);

    StartupOptions startup_options;
    auto* startup = app.add_subcommand("startup", "start a service, time it until /healthz answers, read its idle memory, stop it");
    add_target(startup, startup_options.target);
    startup->add_option("--log", startup_options.log, "where the service's output goes")->required();
    startup->add_option("--pid-file", startup_options.pid_file);
    startup->add_option("--timeout", startup_options.timeout);
    startup->add_option("--idle", startup_options.idle, "seconds to stay idle before reading memory");
    startup->add_option("command", startup_options.command, "the service command line (after --)")->required();

    StormKeysOptions storm_keys_options;
    auto* storm_keys = app.add_subcommand("storm-keys", "make the keys and CSRs of an enrollment storm: SETS files of COUNT devices");
    storm_keys->add_option("--count", storm_keys_options.count, "devices a set")->required();
    storm_keys->add_option("--sets", storm_keys_options.sets);
    storm_keys->add_option("--prefix", storm_keys_options.prefix, "device keys are PREFIX-SET-NNNNNN");
    storm_keys->add_option("--product-key", storm_keys_options.product_key);
    storm_keys->add_option("--out-dir", storm_keys_options.out_dir, "where storm-1.jsonl, ... go")->required();

    StormOptions storm_options;
    auto* storm = app.add_subcommand("storm", "register each device of a set, then time their enrollments");
    add_target(storm, storm_options.target);
    storm->add_option("--bodies", storm_options.bodies, "a storm-N.jsonl of storm-keys")->required();
    storm->add_option("--clients", storm_options.clients);
    storm->add_option("--server-pid", storm_options.server_pid, "the service, whose memory is followed")->required();
    storm->add_option("--label", storm_options.label, "names the run in the results");

    auto* check = app.add_subcommand("check-stored", "count how many of the serials in a file are in a store");
    check->add_option("--store", store_path)->required();
    check->add_option("--serials", serials_path)->required();

    CLI11_PARSE(app, argc, argv);
    try {
        if (sign->parsed()) return bench_sign(backend, threads, seconds, token);
        if (issue->parsed()) return bench_issue(backend, threads, seconds, dir);
        if (crl->parsed()) return bench_crl(crl_options);
        if (fill->parsed()) return bench_fill(fill_options);
        if (load->parsed()) return bench_load(load_options);
        if (burst->parsed()) return bench_burst(burst_options);
        if (startup->parsed()) return bench_startup(startup_options);
        if (storm_keys->parsed()) return bench_storm_keys(storm_keys_options);
        if (storm->parsed()) return bench_storm(storm_options);
        return bench_check_stored(store_path, serials_path);
    } catch (const std::exception& e) {
        std::cerr << "edgeca-bench: " << e.what() << "\n";
        return 1;
    }
}
