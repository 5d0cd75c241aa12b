// bench/edgeca_bench.cpp — the measurements of bench/run.sh: raw RSA-2048 signatures per
// backend, in-process issuance through the real engine and store, CRL build and sign at a
// given size, and an HTTPS load generator with mutual TLS and keep-alive. Prints JSON lines.
#include <sys/resource.h>

#include <CLI/CLI.hpp>
#include <botan/pkcs8.h>
#include <botan/pubkey.h>
#include <botan/rsa.h>
#include <botan/system_rng.h>
#include <botan/x509self.h>
#include <fmt/format.h>
#include <httplib.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <iostream>
#include <nlohmann/json.hpp>
#include <thread>

#include "ca/access_control.h"
#include "ca/device_registry.h"
#include "ca/distinguished_name.h"
#include "ca/encoding.h"
#include "ca/files.h"
#include "ca/issuing_authority.h"
#include "ca/openssl_signing_key.h"
#include "ca/root_authority.h"
#include "ca/serial_number.h"
#include "crl/crl_publisher.h"
#include "store/database.h"

using namespace edgeca;
using Clock = std::chrono::steady_clock;

namespace {

Botan::System_RNG rng;

double seconds_since(Clock::time_point start) {
    return std::chrono::duration<double>(Clock::now() - start).count();
}

double cpu_seconds() {
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    return static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
           static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
}

long peak_rss_kib() {
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    return usage.ru_maxrss;
}

ca::SigningBackend backend_of(const std::string& name) {
    if (name == "botan") return ca::SigningBackend::botan;
    if (name == "openssl") return ca::SigningBackend::openssl;
    throw std::runtime_error("backend is botan or openssl");
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

int bench_sign(const std::string& backend, int threads, double seconds) {
    std::shared_ptr<const Botan::Private_Key> key = std::make_shared<Botan::RSA_PrivateKey>(rng, 2048);
    auto signing = ca::signing_key(key, backend_of(backend));
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

// A root, an issuing CA, a product and a device in `dir`, for in-process issuance.
struct Issuer {
    store::Store root_store;
    store::Store store;
    ca::SystemClock clock;
    std::shared_ptr<const Botan::Private_Key> key;
    ca::IssuerIdentity identity;

    Issuer(const std::filesystem::path& dir, ca::SigningBackend backend)
        : root_store(store::Store::create(dir / "root.db")), store(store::Store::create(dir / "issuer.db")) {
        auto root_key = std::make_unique<Botan::RSA_PrivateKey>(rng, 2048);
        auto root_cert = ca::RootAuthority::create(root_store, *root_key, ca::parse_distinguished_name("CN=Bench Root"),
                                                   3650, clock, rng, "bench");
        ca::RootAuthority root(root_store, clock, rng, std::move(root_key), root_cert);
        std::shared_ptr<const Botan::Private_Key> issuer_key = std::make_shared<Botan::RSA_PrivateKey>(rng, 2048);
        Botan::X509_Cert_Options options("Bench Issuing CA");
        auto csr = Botan::X509::create_cert_req(options, *issuer_key, "SHA-256", rng);
        auto issuer_cert = root.sign_intermediate(csr.BER_encode(), 3000, "bench");
        key = ca::signing_key(issuer_key, backend);
        identity = {key, issuer_cert, root_cert};
        ca::DeviceRegistry registry(store, clock, rng);
        auto admin = ca::Caller::operator_on_host("bench");
        registry.add_product(admin, {.product_key = "P1", .max_validity_days = 730});
        registry.add_device(admin, "P1", "SN-BENCH", std::nullopt);
    }
};

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

int bench_crl(const std::string& backend, int64_t entries, const std::filesystem::path& dir) {
    ca::ensure_private_directory(dir);
    Issuer issuer(dir, backend_of(backend));
    // Revoked rows written straight into the store: what a CRL is built from.
    {
        auto db = store::Database::open(dir / "issuer.db", false);
        store::Transaction transaction(db);
        auto insert = db.prepare(
            "INSERT INTO certificates (serial, profile, subject, common_name, spki_sha256, fingerprint_sha256, "
            "not_before, not_after, issued_at, requester, der, revoked_at, revocation_reason) "
            "VALUES (?1, 'edge', 'CN=x', 'x', 'k', ?2, 0, 4102444800, 0, 'bench', x'30', ?3, ?4)");
        for (int64_t i = 0; i < entries; ++i) {
            auto serial = ca::SerialNumber::random(rng).bytes();
            insert.bind(1, serial).bind(2, ca::to_hex(serial)).bind(3, 1700000000 + i).bind(4, int64_t(1 + i % 5));
            insert.run();
            insert.reset();
        }
        transaction.commit();
    }
    long before = peak_rss_kib();
    auto start = Clock::now();
    auto now = issuer.clock.now();
    auto crl = crl::sign_crl(issuer.store, issuer.identity.certificate, *issuer.key, now, now + std::chrono::hours(24),
                             10, rng, "bench");
    double elapsed = seconds_since(start);
    long after = peak_rss_kib();
    std::cout << nlohmann::json{{"bench", "crl"},       {"backend", backend},
                                {"entries", crl.entries}, {"seconds", elapsed},
                                {"der_bytes", crl.der.size()}, {"peak_rss_growth_bytes", (after - before) * 1024},
                                {"rss_before_bytes", before * 1024}}
              << std::endl;
    return 0;
}

int bench_load(const std::string& host, int port, const std::string& ca_file, const std::string& cert,
               const std::string& key, const std::string& body_file, int clients, int requests) {
    std::string body = ca::read_file(body_file, "the request body");
    std::vector<std::vector<double>> latencies(static_cast<size_t>(clients));
    std::atomic<int> failures{0};
    std::vector<std::thread> pool;
    auto start = Clock::now();
    for (int c = 0; c < clients; ++c) {
        pool.emplace_back([&, c] {
            httplib::SSLClient client(host, port, cert, key);
            client.set_ca_cert_path(ca_file.c_str());
            client.enable_server_certificate_verification(true);
            client.set_keep_alive(true);
            client.set_read_timeout(60, 0);
            for (int i = 0; i < requests; ++i) {
                auto t0 = Clock::now();
                auto result = client.Post("/v1/certificates", body, "application/json");
                latencies[static_cast<size_t>(c)].push_back(seconds_since(t0));
                if (!result || result->status != 201) ++failures;
            }
        });
    }
    for (auto& th : pool) th.join();
    double elapsed = seconds_since(start);
    std::vector<double> all;
    for (auto& l : latencies) all.insert(all.end(), l.begin(), l.end());
    std::sort(all.begin(), all.end());
    auto pct = [&](double p) { return all.empty() ? 0.0 : all[std::min(all.size() - 1, static_cast<size_t>(p * all.size()))]; };
    std::cout << nlohmann::json{{"bench", "load"}, {"clients", clients}, {"requests", all.size()},
                                {"failures", failures.load()}, {"per_second", all.size() / elapsed},
                                {"p50_ms", pct(0.50) * 1000}, {"p99_ms", pct(0.99) * 1000}}
              << std::endl;
    return failures == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"edgeca-bench: the measurements behind bench/run.sh (JSON lines on stdout)"};
    app.require_subcommand(1);
    std::string backend = "openssl";
    int threads = 1;
    double seconds = 3;
    int64_t entries = 1000;
    std::string dir = "/tmp/edgeca-bench";
    std::string host = "127.0.0.1", ca_file, cert, key, body;
    int port = 8443, clients = 1, requests = 100;

    auto* sign = app.add_subcommand("sign", "raw RSA-2048 signatures per second");
    sign->add_option("--backend", backend);
    sign->add_option("--threads", threads);
    sign->add_option("--seconds", seconds);
    auto* issue = app.add_subcommand("issue", "in-process issuance: CSR checks, policy, build, sign, durable commit");
    issue->add_option("--backend", backend);
    issue->add_option("--threads", threads);
    issue->add_option("--seconds", seconds);
    issue->add_option("--dir", dir)->required();
    auto* crl = app.add_subcommand("crl", "build and sign a CRL of N revoked entries");
    crl->add_option("--backend", backend);
    crl->add_option("--entries", entries)->required();
    crl->add_option("--dir", dir)->required();
    auto* load = app.add_subcommand("load", "HTTPS issuance with mutual TLS and keep-alive");
    load->add_option("--host", host);
    load->add_option("--port", port)->required();
    load->add_option("--ca", ca_file)->required();
    load->add_option("--cert", cert)->required();
    load->add_option("--key", key)->required();
    load->add_option("--body", body, "file holding the JSON request")->required();
    load->add_option("--clients", clients);
    load->add_option("--requests", requests, "per client");
    CLI11_PARSE(app, argc, argv);
    try {
        if (sign->parsed()) return bench_sign(backend, threads, seconds);
        if (issue->parsed()) return bench_issue(backend, threads, seconds, dir);
        if (crl->parsed()) return bench_crl(backend, entries, dir);
        return bench_load(host, port, ca_file, cert, key, body, clients, requests);
    } catch (const std::exception& e) {
        std::cerr << "edgeca-bench: " << e.what() << "\n";
        return 1;
    }
}
