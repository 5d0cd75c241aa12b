// tests/fuzz/fuzz_config.cpp — edgeca.toml and durations. Whatever the file holds, parse_config
// gives settings within their documented ranges or refuses with a ca::Error naming the file;
// CLI11's TOML reader must not crash or throw past it. parse_duration gives a non-negative
// duration or a ca::Error.
#include <cstdint>
#include <sstream>
#include <string>

#include "cli/config.h"
#include "tests/fuzz/fuzz_support.h"

using namespace edgeca;

namespace {

void check_ranges(const cli::ServiceConfig& c) {
    using namespace std::chrono;
    auto in = [](auto value, auto low, auto high) { return value >= low && value <= high; };
    if (!in(c.max_body_bytes, size_t{1024}, size_t{16} << 20)) fuzz::finding("max_body_bytes out of range");
    if (!in(c.threads, 2, 1024)) fuzz::finding("threads out of range");
    if (!in(c.read_timeout, seconds(1), seconds(300))) fuzz::finding("read_timeout out of range");
    if (!in(c.request_timeout, seconds(1), seconds(300))) fuzz::finding("request_timeout out of range");
    if (!in(c.keep_alive_timeout, seconds(1), seconds(3600))) fuzz::finding("keep_alive_timeout out of range");
    if (!in(c.crl.validity, seconds(60), seconds(days(366)))) fuzz::finding("crl.validity out of range");
    if (c.crl.refresh_before >= c.crl.validity) fuzz::finding("crl.refresh_before not below crl.validity");
    if (!in(c.crl.history, 1, 100000)) fuzz::finding("crl.history out of range");
    for (const auto* limits : {&c.policy.edge, &c.policy.hub, &c.policy.client}) {
        if (!in(limits->max_validity_days, 1, 36500)) fuzz::finding("max_validity_days out of range");
        if (limits->default_validity_days > limits->max_validity_days) fuzz::finding("default above max validity");
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string text(fuzz::as_text(data, size));
    try {
        std::istringstream in(text);
        auto config = cli::parse_config(in, "fuzz.toml");
        check_ranges(config);
        cli::apply_default_urls(config);
        if (config.public_url.empty() || config.policy.crl_urls.empty()) fuzz::finding("no default URLs");
    } catch (const ca::Error& e) {
        fuzz::check_error(e);
        if (e.code() != "config_invalid") fuzz::finding("a configuration refusal without config_invalid", e.code());
    }
    if (size <= 64) {
        try {
            if (cli::parse_duration(text, "fuzz").count() < 0) fuzz::finding("a negative duration", text);
        } catch (const ca::Error& e) {
            fuzz::check_error(e);
        }
    }
    return 0;
}
