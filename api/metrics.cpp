// api/metrics.cpp — Prometheus exposition format, version 0.0.4.
#include "api/metrics.h"

#include <fmt/format.h>

namespace edgeca::api {

Metrics::Metrics(std::string node)
    : node_(std::move(node)), bounds_{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5}, buckets_(bounds_.size(), 0) {}

void Metrics::issued(const std::string& profile, std::chrono::duration<double> latency) {
    std::lock_guard lock(mutex_);
    ++issued_[profile];
    double seconds = latency.count();
    for (size_t i = 0; i < bounds_.size(); ++i) {
        if (seconds <= bounds_[i]) ++buckets_[i];
    }
    latency_sum_ += seconds;
    ++latency_count_;
}

void Metrics::refused(const std::string& reason) {
    std::lock_guard lock(mutex_);
    ++refused_[reason];
}

void Metrics::response(int status) {
    std::lock_guard lock(mutex_);
    ++responses_[status];
}

void Metrics::add_gauge(std::string name, std::string help, std::function<double()> read) {
    std::lock_guard lock(mutex_);
    gauges_.push_back({std::move(name), std::move(help), std::move(read)});
}

namespace {

// Adds node="<node>" to every sample line of an exposition: `name value` or `name{...} value`.
std::string with_node_label(const std::string& exposition, const std::string& node) {
    const std::string label = fmt::format("node=\"{}\"", node);
    std::string out;
    out.reserve(exposition.size() + exposition.size() / 4);
    size_t start = 0;
    while (start < exposition.size()) {
        size_t end = exposition.find('\n', start);
        if (end == std::string::npos) end = exposition.size();
        std::string_view line(exposition.data() + start, end - start);
        if (!line.empty() && line[0] != '#') {
            size_t brace = line.find('{');
            size_t space = line.find(' ');
            if (brace != std::string_view::npos && brace < space) {
                out.append(line.substr(0, brace + 1)).append(label).append(",").append(line.substr(brace + 1));
            } else {
                out.append(line.substr(0, space)).append("{").append(label).append("}").append(line.substr(space));
            }
        } else {
            out.append(line);
        }
        out.push_back('\n');
        start = end + 1;
    }
    return out;
}

}  // namespace

std::string Metrics::render() const {
    std::lock_guard lock(mutex_);
    std::string out;
    out += "# HELP edgeca_certificates_issued_total Certificates issued, by profile.\n";
    out += "# TYPE edgeca_certificates_issued_total counter\n";
    for (const char* profile : {"edge", "hub", "client", "server"}) {
        auto it = issued_.find(profile);
        out += fmt::format("edgeca_certificates_issued_total{{profile=\"{}\"}} {}\n", profile,
                           it == issued_.end() ? 0 : it->second);
    }
    out += "# HELP edgeca_issuance_refusals_total Issuance requests refused, by reason code.\n";
    out += "# TYPE edgeca_issuance_refusals_total counter\n";
    for (const auto& [reason, count] : refused_) {
        out += fmt::format("edgeca_issuance_refusals_total{{reason=\"{}\"}} {}\n", reason, count);
    }
    out += "# HELP edgeca_issuance_duration_seconds Time from request to recorded certificate.\n";
    out += "# TYPE edgeca_issuance_duration_seconds histogram\n";
    for (size_t i = 0; i < bounds_.size(); ++i) {
        out += fmt::format("edgeca_issuance_duration_seconds_bucket{{le=\"{}\"}} {}\n", bounds_[i],
                           buckets_[i]);
    }
    out += fmt::format("edgeca_issuance_duration_seconds_bucket{{le=\"+Inf\"}} {}\n", latency_count_);
    out += fmt::format("edgeca_issuance_duration_seconds_sum {}\n", latency_sum_);
    out += fmt::format("edgeca_issuance_duration_seconds_count {}\n", latency_count_);
    out += "# HELP edgeca_http_responses_total HTTP responses, by status code.\n";
    out += "# TYPE edgeca_http_responses_total counter\n";
    for (const auto& [status, count] : responses_) {
        out += fmt::format("edgeca_http_responses_total{{code=\"{}\"}} {}\n", status, count);
    }
    for (const auto& gauge : gauges_) {
        out += fmt::format("# HELP {} {}\n# TYPE {} gauge\n{} {}\n", gauge.name, gauge.help,
                           gauge.name, gauge.name, gauge.read());
    }
    return with_node_label(out, node_);
}

}  // namespace edgeca::api
