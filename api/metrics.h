// api/metrics.h — counters and a latency histogram, served as Prometheus text at /metrics.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace edgeca::api {

class Metrics {
public:
    // Every series carries the label node="<node>", so that the nodes of one CA can be told apart.
    explicit Metrics(std::string node = "edgeca");

    void issued(const std::string& profile, std::chrono::duration<double> latency);
    void refused(const std::string& reason);
    void response(int status);
    // Gauges computed when scraped (CRL age, certificate expiry...).
    void add_gauge(std::string name, std::string help, std::function<double()> read);

    std::string render() const;

private:
    std::string node_;
    mutable std::mutex mutex_;
    std::map<std::string, uint64_t> issued_;
    std::map<std::string, uint64_t> refused_;
    std::map<int, uint64_t> responses_;
    std::vector<double> bounds_;
    std::vector<uint64_t> buckets_;
    double latency_sum_ = 0;
    uint64_t latency_count_ = 0;
    struct Gauge {
        std::string name;
        std::string help;
        std::function<double()> read;
    };
    std::vector<Gauge> gauges_;
};

}  // namespace edgeca::api
