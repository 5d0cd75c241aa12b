// bench/service_bench.cpp — measurements of a running `edgeca serve` (or a peer speaking
// HTTPS): issuance load with mutual TLS and keep-alive, a revocation burst followed to the
// served CRL, and start-up time with idle memory.
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <botan/x509_crl.h>
#include <fmt/format.h>
#include <httplib.h>

#include <algorithm>
#include <atomic>
#include <exception>
#include <fstream>
#include <iostream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "bench/bench.h"
#include "bench/https_client.h"
#include "ca/encoding.h"
#include "ca/files.h"
#include "ca/serial_number.h"
#include "store/database.h"

extern char** environ;

namespace edgeca::bench {
namespace {

std::string lower(std::string text) {
    for (auto& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return text;
}

// The serial of a 201 response to POST /v1/certificates (lowercase hex).
std::string serial_of(const httplib::Result& result) {
    return lower(nlohmann::json::parse(result->body).at("serial").get<std::string>());
}

// Issues `count` certificates over `clients` connections; returns their serials.
std::vector<std::string> issue_many(const TlsTarget& target, const std::string& body, int count, int clients) {
    std::mutex mutex;
    std::vector<std::string> serials;
    on_threads(clients, [&](int c) {
        auto client = client_for(target);
        for (int i = c; i < count; i += clients) {
            auto result = client->Post("/v1/certificates", body, "application/json");
            if (!result || result->status != 201) {
                throw std::runtime_error(fmt::format("issuance failed: {}", result ? result->body : httplib::to_string(result.error())));
            }
            auto serial = serial_of(result);
            std::lock_guard lock(mutex);
            serials.push_back(std::move(serial));
        }
    });
    return serials;
}

}  // namespace

int bench_load(const LoadOptions& o) {
    const std::string body = ca::read_file(o.body_file, "the request body");
    std::vector<std::vector<double>> latencies(static_cast<size_t>(o.clients));
    std::atomic<int> failures{0};
    std::mutex mutex;
    std::string first_failure;
    std::vector<std::string> serials;
    const bool keep_serials = !o.serials_out.empty();
    auto start = Clock::now();
    on_threads(o.clients, [&](int c) {
        auto client = client_for(o.target);
        auto& mine = latencies[static_cast<size_t>(c)];
        for (int i = 0; i < o.max_requests && seconds_since(start) < o.seconds; ++i) {
            auto t0 = Clock::now();
            auto result = client->Post(o.path, body, "application/json");
            mine.push_back(seconds_since(t0));
            if (!result || result->status != o.expect_status) {
                ++failures;
                std::lock_guard lock(mutex);
                if (first_failure.empty()) {
                    first_failure = result ? fmt::format("{} {}", result->status, result->body.substr(0, 300))
                                           : httplib::to_string(result.error());
                }
            } else if (keep_serials) {
                auto serial = serial_of(result);
                std::lock_guard lock(mutex);
                serials.push_back(std::move(serial));
            }
        }
    });
    const double elapsed = seconds_since(start);
    std::vector<double> all;
    for (auto& l : latencies) all.insert(all.end(), l.begin(), l.end());
    std::sort(all.begin(), all.end());
    if (keep_serials) {
        std::ofstream out(o.serials_out);
        for (const auto& s : serials) out << s << '\n';
    }
    const auto succeeded = static_cast<double>(all.size()) - failures.load();
    nlohmann::json line{{"bench", "load"},        {"path", o.path},
                        {"clients", o.clients},   {"requests", all.size()},
                        {"failures", failures.load()}, {"seconds", elapsed},
                        {"per_second", succeeded / elapsed}, {"p50_ms", percentile(all, 0.50) * 1000},
                        {"p99_ms", percentile(all, 0.99) * 1000}};
    if (!first_failure.empty()) line["first_failure"] = first_failure;
    std::cout << line << std::endl;
    return failures == 0 ? 0 : 1;
}

int bench_burst(const BurstOptions& o) {
    const std::string body = ca::read_file(o.body_file, "the request body");
    auto serials = issue_many(o.target, body, o.count, o.clients);
    const std::string revoke_body = nlohmann::json{{"reason", o.reason}}.dump();

    std::atomic<int> failures{0};
    const auto start = Clock::now();
    on_threads(o.clients, [&](int c) {
        auto client = client_for(o.target);
        for (size_t i = static_cast<size_t>(c); i < serials.size(); i += static_cast<size_t>(o.clients)) {
            auto result = client->Post(fmt::format("/v1/certificates/{}/revoke", serials[i]), revoke_body,
                                       "application/json");
            if (!result || result->status != 200) ++failures;
        }
    });
    const double acknowledged = seconds_since(start);

    // The served CRL, fetched as a relying party would, until it lists every serial revoked.
    httplib::Client downloads("127.0.0.1", o.public_port);
    downloads.set_connection_timeout(5, 0);
    const std::set<std::string> wanted(serials.begin(), serials.end());
    std::string last_body;
    double listed = -1;
    size_t entries = 0, fetches = 0, crls_seen = 0;
    while (seconds_since(start) < o.timeout) {
        auto result = downloads.Get("/crl");
        ++fetches;
        if (result && result->status == 200 && result->body != last_body) {
            last_body = result->body;
            ++crls_seen;
            Botan::X509_CRL crl(std::vector<uint8_t>(last_body.begin(), last_body.end()));
            size_t found = 0;
            for (const auto& entry : crl.get_revoked()) found += wanted.count(ca::to_hex(entry.serial_number()));
            entries = crl.get_revoked().size();
            if (found == wanted.size()) {
                listed = seconds_since(start);
                break;
            }
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    nlohmann::json line{{"bench", "burst"},
                        {"revocations", serials.size()},
                        {"failures", failures.load()},
                        {"revoke_seconds", acknowledged},
                        {"crl_entries", entries},
                        {"crl_fetches", fetches},
                        {"crls_seen", crls_seen}};
    if (listed >= 0) {
        line["first_to_crl_seconds"] = listed;
        line["last_to_crl_seconds"] = listed - acknowledged;
    } else {
        line["error"] = fmt::format("the CRL did not list every revocation within {} s", o.timeout);
    }
    std::cout << line << std::endl;
    return listed >= 0 && failures == 0 ? 0 : 1;
}

int bench_startup(const StartupOptions& o) {
    int log = ::open(o.log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (log < 0) throw std::runtime_error("cannot open " + o.log.string());
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&actions, log, STDOUT_FILENO);
    posix_spawn_file_actions_adddup2(&actions, log, STDERR_FILENO);
    std::vector<std::string> argv_text = o.command;
    std::vector<char*> argv;
    for (auto& a : argv_text) argv.push_back(a.data());
    argv.push_back(nullptr);

    const auto start = Clock::now();
    pid_t pid = 0;
    const int rc = posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    ::close(log);
    if (rc != 0) throw std::runtime_error(fmt::format("cannot start {}", o.command.front()));
    if (!o.pid_file.empty()) std::ofstream(o.pid_file) << pid << '\n';

    auto exited = [pid] {
        int status = 0;
        return ::waitpid(pid, &status, WNOHANG) == pid;
    };
    double ready = -1;
    bool gone = false;
    while (seconds_since(start) < o.timeout) {
        auto client = client_for(o.target);
        client->set_connection_timeout(1, 0);
        auto result = client->Get("/healthz");
        if (result && result->status == 200) {
            ready = seconds_since(start);
            break;
        }
        if ((gone = exited())) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    nlohmann::json line{{"bench", "startup"}, {"pid", pid}};
    if (ready >= 0) {
        line["ready_seconds"] = ready;
        line["start_peak_rss_bytes"] = status_bytes(pid, "VmHWM");
        std::this_thread::sleep_for(std::chrono::duration<double>(o.idle));
        line["idle_seconds"] = o.idle;
        line["idle_rss_bytes"] = status_bytes(pid, "VmRSS");
        line["peak_rss_bytes"] = status_bytes(pid, "VmHWM");
    } else {
        line["error"] = gone ? "the service exited before it answered" : "no answer within the timeout";
    }
    if (!gone) {
        ::kill(pid, SIGTERM);
        const auto stopping = Clock::now();
        while (!(gone = exited()) && seconds_since(stopping) < 10) {
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
        if (!gone) {
            ::kill(pid, SIGKILL);
            ::waitpid(pid, nullptr, 0);
            line["stop"] = "killed after 10 s";
        } else {
            line["stop_seconds"] = seconds_since(stopping);
        }
    }
    std::cout << line << std::endl;
    return ready >= 0 ? 0 : 1;
}

int bench_check_stored(const std::filesystem::path& store, const std::filesystem::path& serials) {
    auto db = store::Database::open_sqlite(store, false);
    auto lookup = db.prepare("SELECT count(*) FROM certificates WHERE serial = ?1");
    std::ifstream in(serials);
    std::string line;
    int64_t listed = 0, stored = 0;
    while (std::getline(in, line)) {
        if (line.empty()) continue;
        ++listed;
        lookup.bind(1, ca::SerialNumber::from_hex(line).bytes());
        lookup.step();
        stored += lookup.integer(0);
        lookup.reset();
    }
    std::cout << nlohmann::json{{"bench", "check-stored"}, {"serials", listed}, {"stored", stored}} << std::endl;
    return listed == stored ? 0 : 1;
}

}  // namespace edgeca::bench
