// bench/storm_bench.cpp — an enrollment storm: many distinct registered devices, each enrolling
// once with its own RSA-2048 key and CN over mutual TLS, as a fleet coming online does. The keys
// and CSRs are made before the clock starts (storm-keys); storm registers the devices, then
// times their enrollments and follows the service's memory.
#include <botan/auto_rng.h>
#include <botan/numthry.h>
#include <botan/rsa.h>
#include <botan/x509self.h>
#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <fstream>
#include <iostream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "bench/bench.h"
#include "bench/https_client.h"
#include "ca/files.h"

namespace edgeca::bench {
namespace {

constexpr uint32_t public_exponent = 65537;

// The fewest primes whose pairs give `keys` distinct moduli, with a margin for the pairs whose
// product falls short of 2048 bits and is skipped.
size_t primes_for(int64_t keys) {
    const auto wanted = static_cast<double>(keys) * 1.05 + 16;
    size_t k = 2;
    while (static_cast<double>(k) * static_cast<double>(k - 1) / 2 < wanted) ++k;
    return k;
}

// Runs `work(thread)` on every core and waits.
template <typename Work>
void on_cores(Work work) {
    const int threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    on_threads(threads, [&](int t) { work(t, threads); });
}

// Prints "storm-keys: N of M" to stderr every few seconds while `done` grows.
class Progress {
public:
    Progress(std::string what, int64_t total) : what_(std::move(what)), total_(total) {}
    void add(int64_t n) {
        const auto now = done_ += n;
        std::lock_guard lock(mutex_);
        if (seconds_since(last_) >= 5 || now == total_) {
            last_ = Clock::now();
            std::cerr << fmt::format("storm-keys: {} {} of {}\n", what_, now, total_);
        }
    }

private:
    std::string what_;
    int64_t total_;
    std::atomic<int64_t> done_{0};
    std::mutex mutex_;
    Clock::time_point last_ = Clock::now();
};

struct Device {
    std::string product_key;
    std::string device_key;
    std::string body;  // the JSON issuance request
};

std::vector<Device> read_bodies(const std::filesystem::path& file) {
    std::ifstream in(file);
    if (!in) throw std::runtime_error("cannot read " + file.string());
    std::vector<Device> devices;
    std::string line;
    while (std::getline(in, line)) {
        if (line.empty()) continue;
        auto request = nlohmann::json::parse(line);
        devices.push_back({request.at("product_key").get<std::string>(),
                           request.at("device_key").get<std::string>(), line});
    }
    if (devices.empty()) throw std::runtime_error(file.string() + " holds no request");
    return devices;
}

// Registers every device (POST /v1/devices as an admin); throws on the first refusal.
void register_devices(const TlsTarget& target, const std::vector<Device>& devices, int clients) {
    std::atomic<size_t> next{0};
    on_threads(clients, [&](int) {
        auto client = client_for(target);
        for (size_t i = next++; i < devices.size(); i = next++) {
            const auto body = nlohmann::json{{"product_key", devices[i].product_key},
                                             {"device_key", devices[i].device_key}}.dump();
            auto result = client->Post("/v1/devices", body, "application/json");
            if (!result || result->status != 201) {
                throw std::runtime_error(fmt::format("registering {} failed: {}", devices[i].device_key,
                                                     result ? result->body : httplib::to_string(result.error())));
            }
        }
    });
}

// The largest VmRSS of `pid` seen while it runs, read every 50 ms.
class RssSampler {
public:
    explicit RssSampler(pid_t pid) : pid_(pid), thread_([this] { run(); }) {}
    ~RssSampler() { stop(); }
    int64_t stop() {
        if (thread_.joinable()) {
            stop_ = true;
            thread_.join();
        }
        return max_;
    }

private:
    void run() {
        while (!stop_) {
            max_ = std::max(max_.load(), status_bytes(pid_, "VmRSS"));
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
    }
    pid_t pid_;
    std::atomic<bool> stop_{false};
    std::atomic<int64_t> max_{-1};
    std::thread thread_;
};

}  // namespace

int bench_storm_keys(const StormKeysOptions& o) {
    if (o.count < 1 || o.sets < 1) throw std::runtime_error("--count and --sets must be at least 1");
    const int64_t total = o.count * o.sets;
    const auto start = Clock::now();
    // Independent keys cost a prime search each (about 0.3 s of CPU for RSA-2048): 100,000 of
    // them would take hours. Pairs of a pool of k primes give k(k-1)/2 distinct 2048-bit moduli
    // for k searches. Every modulus is a different key, as the CA's checks see it; keys sharing
    // a prime are of course weak, which is why these are bench-only.
    const size_t k = primes_for(total);
    std::vector<Botan::BigInt> primes(k);
    Progress prime_progress("primes", static_cast<int64_t>(k));
    on_cores([&](int t, int threads) {
        Botan::AutoSeeded_RNG rng;
        for (size_t i = static_cast<size_t>(t); i < k; i += static_cast<size_t>(threads)) {
            primes[i] = Botan::generate_rsa_prime(rng, rng, 1024, public_exponent);
            prime_progress.add(1);
        }
    });
    std::vector<std::pair<size_t, size_t>> pairs;
    pairs.reserve(static_cast<size_t>(total));
    for (size_t i = 0; i < k && static_cast<int64_t>(pairs.size()) < total * 21 / 20 + 16; ++i) {
        for (size_t j = i + 1; j < k; ++j) pairs.emplace_back(i, j);
    }

    std::vector<std::string> lines(static_cast<size_t>(total));
    std::atomic<size_t> next_pair{0};
    std::atomic<int64_t> next_device{0};
    Progress key_progress("keys and CSRs", total);
    on_cores([&](int, int) {
        Botan::AutoSeeded_RNG rng;
        while (true) {
            const size_t p = next_pair++;
            if (p >= pairs.size()) return;
            const auto& [i, j] = pairs[p];
            if ((primes[i] * primes[j]).bits() != 2048) continue;
            const int64_t d = next_device++;
            if (d >= total) return;
            const auto device_key = fmt::format("{}-{}-{:06}", o.prefix, d / o.count + 1, d % o.count + 1);
            Botan::RSA_PrivateKey key(primes[i], primes[j], public_exponent);
            Botan::X509_Cert_Options options(device_key);
            const auto csr = Botan::X509::create_cert_req(options, key, "SHA-256", rng).PEM_encode();
            lines[static_cast<size_t>(d)] = nlohmann::json{{"csr", csr}, {"profile", "edge"},
                                                           {"product_key", o.product_key},
                                                           {"device_key", device_key}}.dump();
            key_progress.add(1);
        }
    });
    if (next_device.load() < total) throw std::runtime_error("too few 2048-bit moduli among the pairs");

    std::filesystem::create_directories(o.out_dir);
    for (int s = 0; s < o.sets; ++s) {
        std::ofstream out(o.out_dir / fmt::format("storm-{}.jsonl", s + 1));
        for (int64_t d = 0; d < o.count; ++d) out << lines[static_cast<size_t>(s * o.count + d)] << '\n';
        if (!out) throw std::runtime_error("cannot write into " + o.out_dir.string());
    }
    std::cout << nlohmann::json{{"bench", "storm-keys"}, {"keys", total}, {"sets", o.sets}, {"primes", k},
                                {"seconds", seconds_since(start)}}
              << std::endl;
    return 0;
}

int bench_storm(const StormOptions& o) {
    const auto devices = read_bodies(o.bodies);
    const auto registering = Clock::now();
    register_devices(o.target, devices, o.clients);
    const double register_seconds = seconds_since(registering);

    std::vector<std::vector<double>> latencies(static_cast<size_t>(o.clients));
    std::vector<std::vector<std::string>> serials(static_cast<size_t>(o.clients));
    std::atomic<int> failures{0};
    std::mutex mutex;
    std::string first_failure;
    std::atomic<size_t> next{0};

    const int64_t rss_start = status_bytes(o.server_pid, "VmRSS");
    RssSampler rss(o.server_pid);
    const auto start = Clock::now();
    on_threads(o.clients, [&](int c) {
        auto client = client_for(o.target);
        auto& mine = latencies[static_cast<size_t>(c)];
        for (size_t i = next++; i < devices.size(); i = next++) {
            const auto t0 = Clock::now();
            auto result = client->Post("/v1/certificates", devices[i].body, "application/json");
            mine.push_back(seconds_since(t0));
            if (result && result->status == 201) {
                serials[static_cast<size_t>(c)].push_back(
                    nlohmann::json::parse(result->body).at("serial").get<std::string>());
                continue;
            }
            ++failures;
            std::lock_guard lock(mutex);
            if (first_failure.empty()) {
                first_failure = result ? fmt::format("{} {}", result->status, result->body.substr(0, 300))
                                       : httplib::to_string(result.error());
            }
        }
    });
    const double elapsed = seconds_since(start);
    const int64_t rss_max = rss.stop();

    std::vector<double> all;
    std::set<std::string> distinct;
    for (size_t c = 0; c < latencies.size(); ++c) {
        all.insert(all.end(), latencies[c].begin(), latencies[c].end());
        distinct.insert(serials[c].begin(), serials[c].end());
    }
    std::sort(all.begin(), all.end());
    const auto enrolled = static_cast<int64_t>(all.size()) - failures.load();
    nlohmann::json line{{"bench", "storm"},
                        {"label", o.label},
                        {"devices", devices.size()},
                        {"clients", o.clients},
                        {"register_seconds", register_seconds},
                        {"enrolled", enrolled},
                        {"distinct_serials", distinct.size()},
                        {"failures", failures.load()},
                        {"seconds", elapsed},
                        {"per_second", static_cast<double>(enrolled) / elapsed},
                        {"p50_ms", percentile(all, 0.50) * 1000},
                        {"p99_ms", percentile(all, 0.99) * 1000},
                        {"rss_start_bytes", rss_start},
                        {"rss_max_bytes", rss_max},
                        {"rss_end_bytes", status_bytes(o.server_pid, "VmRSS")}};
    if (!first_failure.empty()) line["first_failure"] = first_failure;
    std::cout << line << std::endl;
    const bool complete = failures == 0 && distinct.size() == devices.size();
    return complete ? 0 : 1;
}

}  // namespace edgeca::bench
