// bench/bench.h — what the measurements of edgeca-bench share: timing, memory readings, and
// the subcommands that bench/edgeca_bench.cpp dispatches to.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "ca/issuing_authority.h"
#include "ca/openssl_signing_key.h"
#include "store/store.h"

namespace edgeca::bench {

using Clock = std::chrono::steady_clock;

inline double seconds_since(Clock::time_point start) {
    return std::chrono::duration<double>(Clock::now() - start).count();
}

// A field of /proc/PID/status in bytes (VmRSS, VmHWM, ...); -1 when it cannot be read.
int64_t status_bytes(pid_t pid, const std::string& field);

// Resets the process's peak resident set size (VmHWM) to its current size, so that a later
// VmHWM is the peak of what ran in between (Linux 4.0+: "5" > /proc/self/clear_refs).
void reset_peak_rss();

// Values of `p` (0..1) from sorted samples.
double percentile(const std::vector<double>& sorted, double p);

ca::SigningBackend backend_of(const std::string& name);

// A root, an issuing CA (key held by `backend`), a product "P1" and a device "SN-BENCH" in
// fresh stores under `dir`: what in-process issuance and CRL signing need.
struct Issuer {
    store::Store root_store;
    store::Store store;
    ca::SystemClock clock;
    std::shared_ptr<const Botan::Private_Key> plain_key;  // the RSA key itself (exported for openssl ca)
    std::shared_ptr<const Botan::Private_Key> key;        // the same key behind `backend`
    ca::IssuerIdentity identity;

    Issuer(const std::filesystem::path& dir, ca::SigningBackend backend);
};

// The TLS client side of a run against a service: where it listens and who we are.
struct TlsTarget {
    std::string host = "127.0.0.1";
    int port = 0;
    std::string ca_file;
    std::string cert;
    std::string key;
};

struct CrlOptions {
    std::string backend = "openssl";
    int64_t entries = 1000;
    std::filesystem::path dir;
    std::filesystem::path openssl_dir;  // when set: the same entries as an `openssl ca` database
};

struct FillOptions {
    std::filesystem::path store;
    int64_t count = 1000;
    int64_t until = 0;            // when set: add as many as make the store hold this many
    int64_t revoked_every = 100;  // every Nth certificate is revoked (0: none)
};

struct LoadOptions {
    TlsTarget target;
    std::string path = "/v1/certificates";
    std::string body_file;
    int expect_status = 201;
    int clients = 1;
    double seconds = 10;
    int max_requests = 100000;  // per client, a bound besides the time
    std::filesystem::path serials_out;
};

struct BurstOptions {
    TlsTarget target;
    int public_port = 0;
    std::string body_file;
    int count = 1000;
    int clients = 8;
    std::string reason = "superseded";
    double timeout = 120;
};

struct StartupOptions {
    TlsTarget target;  // polled on /healthz until it answers
    std::filesystem::path log;
    std::filesystem::path pid_file;  // the service's pid, for the caller's clean-up
    double timeout = 120;
    double idle = 5;
    std::vector<std::string> command;
};

struct StormKeysOptions {
    int64_t count = 1000;  // devices a set
    int sets = 1;          // sets of distinct devices, one file each: storm-1.jsonl, ...
    std::string prefix = "SN-STORM";
    std::string product_key = "P1";
    std::filesystem::path out_dir;
};

struct StormOptions {
    TlsTarget target;
    std::filesystem::path bodies;  // a storm-N.jsonl of storm-keys
    int clients = 8;
    pid_t server_pid = 0;  // whose memory is followed
    std::string label;
};

int bench_sign(const std::string& backend, int threads, double seconds);
int bench_issue(const std::string& backend, int threads, double seconds, const std::filesystem::path& dir);
int bench_crl(const CrlOptions& options);
int bench_fill(FillOptions options);
int bench_load(const LoadOptions& options);
int bench_burst(const BurstOptions& options);
int bench_startup(const StartupOptions& options);
int bench_storm_keys(const StormKeysOptions& options);
int bench_storm(const StormOptions& options);
int bench_check_stored(const std::filesystem::path& store, const std::filesystem::path& serials);

}  // namespace edgeca::bench
