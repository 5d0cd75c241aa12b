// bench/storm_bench.cpp — an enrollment storm: many distinct registered devices, each enrolling
// once with its own RSA-2048 key and CN over mutual TLS, as a fleet coming online does. The keys
// and CSRs are made before the clock starts (storm-keys); storm registers the devices, then
// times their enrollments and follows the service's memory.
#include <botan/auto_rng.h>
#include <botan/numthry.h>
#include <fmt/format.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

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

template <typename T, void (*release)(T*)>
struct Releaser {
    void operator()(T* p) const { release(p); }
};
using Bn = std::unique_ptr<BIGNUM, Releaser<BIGNUM, BN_free>>;
using BnCtx = std::unique_ptr<BN_CTX, Releaser<BN_CTX, BN_CTX_free>>;
using Params = std::unique_ptr<OSSL_PARAM, Releaser<OSSL_PARAM, OSSL_PARAM_free>>;
using ParamBuilder = std::unique_ptr<OSSL_PARAM_BLD, Releaser<OSSL_PARAM_BLD, OSSL_PARAM_BLD_free>>;
using PkeyCtx = std::unique_ptr<EVP_PKEY_CTX, Releaser<EVP_PKEY_CTX, EVP_PKEY_CTX_free>>;
using Pkey = std::unique_ptr<EVP_PKEY, Releaser<EVP_PKEY, EVP_PKEY_free>>;
using Request = std::unique_ptr<X509_REQ, Releaser<X509_REQ, X509_REQ_free>>;
using Bio = std::unique_ptr<BIO, Releaser<BIO, BIO_free_all>>;

template <typename P>
P checked(P pointer, const char* what) {
    if (!pointer) throw std::runtime_error(fmt::format("storm-keys: {} failed", what));
    return pointer;
}
void check(int ok, const char* what) {
    if (ok <= 0) throw std::runtime_error(fmt::format("storm-keys: {} failed", what));
}

Bn bn(const Botan::BigInt& x) {
    const auto bytes = Botan::BigInt::encode(x);
    return Bn(checked(BN_bin2bn(bytes.data(), static_cast<int>(bytes.size()), nullptr), "BN_bin2bn"));
}
Bn bn_new() { return Bn(checked(BN_new(), "BN_new")); }

// The RSA private key of primes p and q (e = 65537), as OpenSSL takes it: Botan's constructor
// computes the same in constant time, twenty times slower, which 200,000 keys feel.
Pkey rsa_key(const Botan::BigInt& p_in, const Botan::BigInt& q_in) {
    BnCtx ctx(checked(BN_CTX_new(), "BN_CTX_new"));
    auto p = bn(p_in), q = bn(q_in), n = bn_new(), e = bn_new(), p1 = bn(p_in - 1), q1 = bn(q_in - 1);
    auto gcd = bn_new(), product = bn_new(), lcm = bn_new(), dmp1 = bn_new(), dmq1 = bn_new();
    check(BN_mul(n.get(), p.get(), q.get(), ctx.get()), "BN_mul");
    check(BN_set_word(e.get(), public_exponent), "BN_set_word");
    check(BN_gcd(gcd.get(), p1.get(), q1.get(), ctx.get()), "BN_gcd");
    check(BN_mul(product.get(), p1.get(), q1.get(), ctx.get()), "BN_mul");
    check(BN_div(lcm.get(), nullptr, product.get(), gcd.get(), ctx.get()), "BN_div");
    Bn d(checked(BN_mod_inverse(nullptr, e.get(), lcm.get(), ctx.get()), "BN_mod_inverse"));
    check(BN_mod(dmp1.get(), d.get(), p1.get(), ctx.get()), "BN_mod");
    check(BN_mod(dmq1.get(), d.get(), q1.get(), ctx.get()), "BN_mod");
    Bn iqmp(checked(BN_mod_inverse(nullptr, q.get(), p.get(), ctx.get()), "BN_mod_inverse"));

    ParamBuilder builder(checked(OSSL_PARAM_BLD_new(), "OSSL_PARAM_BLD_new"));
    const std::pair<const char*, const BIGNUM*> fields[] = {
        {OSSL_PKEY_PARAM_RSA_N, n.get()},           {OSSL_PKEY_PARAM_RSA_E, e.get()},
        {OSSL_PKEY_PARAM_RSA_D, d.get()},           {OSSL_PKEY_PARAM_RSA_FACTOR1, p.get()},
        {OSSL_PKEY_PARAM_RSA_FACTOR2, q.get()},     {OSSL_PKEY_PARAM_RSA_EXPONENT1, dmp1.get()},
        {OSSL_PKEY_PARAM_RSA_EXPONENT2, dmq1.get()}, {OSSL_PKEY_PARAM_RSA_COEFFICIENT1, iqmp.get()}};
    for (const auto& [name, value] : fields) check(OSSL_PARAM_BLD_push_BN(builder.get(), name, value), name);
    Params params(checked(OSSL_PARAM_BLD_to_param(builder.get()), "OSSL_PARAM_BLD_to_param"));
    PkeyCtx pctx(checked(EVP_PKEY_CTX_new_from_name(nullptr, "RSA", nullptr), "EVP_PKEY_CTX_new_from_name"));
    check(EVP_PKEY_fromdata_init(pctx.get()), "EVP_PKEY_fromdata_init");
    EVP_PKEY* key = nullptr;
    check(EVP_PKEY_fromdata(pctx.get(), &key, EVP_PKEY_KEYPAIR, params.get()), "EVP_PKEY_fromdata");
    return Pkey(key);
}

// A PEM CSR for CN=`cn`, signed by `key` (SHA-256).
std::string csr_pem(EVP_PKEY* key, const std::string& cn) {
    Request request(checked(X509_REQ_new(), "X509_REQ_new"));
    check(X509_REQ_set_version(request.get(), 0), "X509_REQ_set_version");
    check(X509_NAME_add_entry_by_txt(X509_REQ_get_subject_name(request.get()), "CN", MBSTRING_ASC,
                                     reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0),
          "X509_NAME_add_entry_by_txt");
    check(X509_REQ_set_pubkey(request.get(), key), "X509_REQ_set_pubkey");
    check(X509_REQ_sign(request.get(), key, EVP_sha256()), "X509_REQ_sign");
    Bio out(checked(BIO_new(BIO_s_mem()), "BIO_new"));
    check(PEM_write_bio_X509_REQ(out.get(), request.get()), "PEM_write_bio_X509_REQ");
    char* data = nullptr;
    const long size = BIO_get_mem_data(out.get(), &data);
    return std::string(data, static_cast<size_t>(size));
}

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
        while (true) {
            const size_t p = next_pair++;
            if (p >= pairs.size()) return;
            const auto& [i, j] = pairs[p];
            if ((primes[i] * primes[j]).bits() != 2048) continue;
            const int64_t d = next_device++;
            if (d >= total) return;
            const auto device_key = fmt::format("{}-{}-{:06}", o.prefix, d / o.count + 1, d % o.count + 1);
            const auto csr = csr_pem(rsa_key(primes[i], primes[j]).get(), device_key);
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
