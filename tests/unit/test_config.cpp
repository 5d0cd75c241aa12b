// tests/unit/test_config.cpp — edgeca.toml: defaults, the sample files, and strictness; the
// scheduling setting applied.
#include <doctest/doctest.h>
#include <sched.h>

#include <fmt/format.h>

#include <fstream>
#include <sstream>
#include <thread>

#include "ca/errors.h"
#include "cli/config.h"
#include "cli/scheduling.h"
#include "tests/unit/test_support.h"

using namespace edgeca;
using namespace std::chrono_literals;

namespace {

cli::ServiceConfig parse(const std::string& text) {
    std::istringstream in(text);
    return cli::parse_config(in, "test.toml");
}

std::string refusal(const std::string& text) {
    try {
        parse(text);
    } catch (const ca::Error& e) {
        CHECK(e.code() == "config_invalid");
        return e.what();
    }
    return "accepted";
}

}  // namespace

TEST_CASE("an empty file gives the documented defaults") {
    auto c = parse("");
    CHECK(c.listen == "127.0.0.1:8443");
    CHECK(c.public_listen == "127.0.0.1:8080");
    CHECK(c.hostnames == std::vector<std::string>{"localhost", "127.0.0.1"});
    CHECK(c.max_body_bytes == 65536);
    CHECK_FALSE(c.batch_scheduling.has_value());
    CHECK(c.policy.edge.default_validity_days == 730);
    CHECK(c.policy.hub_allowed_domains.empty());
    CHECK(c.crl.publish_delay == 5s);
    CHECK(c.crl.validity == 24h);
    CHECK(c.enos.token_lifetime == 7200s);
}

TEST_CASE("the file edgeca init writes, and the sample in pki-samples, are valid") {
    auto c = parse(cli::default_config_text());
    CHECK(c.policy.hub_allowed_domains == std::vector<std::string>{"localhost"});
    auto sample = cli::load_config(std::filesystem::path(EDGECA_SOURCE_DIR) / "pki-samples" / "edgeca.toml");
    CHECK(sample.public_url == "http://ca.iot.example.com:8080");
    CHECK(sample.policy.edge.max_validity_days == 1095);
    CHECK(sample.policy.hub_allowed_domains == std::vector<std::string>{"hub.iot.example.com"});
    CHECK(sample.crl.refresh_before == 8h);
    CHECK(sample.enos.org_id == "o15724268424841");
    CHECK(sample.policy.backdate == 5min);
}

TEST_CASE("unknown keys, wrong types and values out of range are refused, naming the key") {
    CHECK(refusal("lissten = \"x\"").find("'lissten' is not a setting") != std::string::npos);
    CHECK(refusal("[profiles.edge]\nmax_validity_days = \"long\"").find("must be an integer") != std::string::npos);
    CHECK(refusal("[profiles.edge]\nmax_validity_days = 0").find("between 1 and 36500") != std::string::npos);
    CHECK(refusal("[crl]\npublish_delay = \"soon\"").find("not a duration") != std::string::npos);
    CHECK(refusal("[crl]\nvalidity = \"1h\"\nrefresh_before = \"2h\"").find("shorter than crl.validity") != std::string::npos);
    CHECK(refusal("[profiles.hub]\ndefault_validity_days = 900").find("larger than max_validity_days") != std::string::npos);
    CHECK(refusal("tls_cert = \"a.pem\"").find("together") != std::string::npos);
    CHECK(refusal("max_body_bytes = 10").find("between") != std::string::npos);
    CHECK(refusal("scheduling = \"fifo\"").find("must be \"batch\" or \"normal\"") != std::string::npos);
    CHECK(parse("scheduling = \"normal\"").batch_scheduling == false);
    CHECK(parse("scheduling = \"batch\"").batch_scheduling == true);
}

TEST_CASE("hub IP networks: none by default, CIDR of either family, a wrong one refused") {
    CHECK(parse("").policy.hub_ip_networks.empty());
    auto c = parse("[profiles.hub]\nallowed_ip_networks = [\"10.0.0.0/8\", \"fd00::/8\"]");
    REQUIRE(c.policy.hub_ip_networks.size() == 2);
    CHECK(c.policy.hub_ip_networks[0].to_string() == "10.0.0.0/8");
    CHECK(c.policy.hub_ip_networks[1].to_string() == "fd00::/8");
    CHECK(refusal("[profiles.hub]\nallowed_ip_networks = [\"10.0.0.0/33\"]")
              .find("'profiles.hub.allowed_ip_networks' is invalid: '10.0.0.0/33' is not an IP network") !=
          std::string::npos);
}

TEST_CASE("weak_keys_file is read when the configuration is, and a bad one is refused") {
    test::TempDir dir;
    const auto path = dir / "weak.txt";
    {
        std::ofstream out(path);
        out << "# RSA-2048\nba17a85b862f5e092900\n";
    }
    auto c = parse(fmt::format("weak_keys_file = \"{}\"", path.string()));
    CHECK(c.policy.known_weak_keys.size() == 1);
    CHECK(c.policy.known_weak_keys.contains(Botan::BigInt::power_of_2(2047) + 12345));
    CHECK(parse("").policy.known_weak_keys.size() == 0);
    {
        std::ofstream out(path);
        out << "not a fingerprint\n";
    }
    CHECK(refusal(fmt::format("weak_keys_file = \"{}\"", path.string())).find("line 1") != std::string::npos);
    CHECK(refusal(fmt::format("weak_keys_file = \"{}\"", (dir / "missing.txt").string())) != "accepted");
}

TEST_CASE("durations") {
    CHECK(cli::parse_duration("90s", "x") == 90s);
    CHECK(cli::parse_duration("15m", "x") == 15min);
    CHECK(cli::parse_duration("2h", "x") == 2h);
    CHECK(cli::parse_duration("7d", "x") == std::chrono::hours(168));
    CHECK(cli::parse_duration("30", "x") == 30s);
    for (const char* bad : {"", "h", "1.5h", "-1s", "1w", "9999999999s"}) {
        CHECK_THROWS_AS(cli::parse_duration(bad, "x"), ca::Error);
    }
}

TEST_CASE("certificate URLs default to the public listener") {
    auto c = parse("public_listen = \"0.0.0.0:8080\"\nhostnames = [\"ca.example.com\"]");
    cli::apply_default_urls(c);
    CHECK(c.policy.crl_urls == std::vector<std::string>{"http://ca.example.com:8080/crl"});
    CHECK(c.policy.ca_issuer_urls == std::vector<std::string>{"http://ca.example.com:8080/ca.cer"});
    auto d = parse("public_url = \"http://crl.example.com/\"");
    cli::apply_default_urls(d, 9999);
    CHECK(d.policy.crl_urls == std::vector<std::string>{"http://crl.example.com/crl"});
}

namespace {

struct Scheduled {
    cli::SchedulingOutcome outcome;
    int policy = -1;  // sched_getscheduler afterwards, reset-on-fork flag included
    bool started = false;
};

// apply_scheduling on a thread of its own that starts under `start`, so that the test runner's
// policy is left as it is.
Scheduled scheduled(int start, std::optional<bool> batch) {
    Scheduled result;
    std::thread([&] {
        sched_param priority{};
        result.started = sched_setscheduler(0, start, &priority) == 0;
        if (!result.started) return;
        result.outcome = cli::apply_scheduling(batch);
        result.policy = sched_getscheduler(0);
    }).join();
    return result;
}

}  // namespace

TEST_CASE("scheduling: batch and normal are applied; unset, idle and reset-on-fork are kept") {
    auto to_batch = scheduled(SCHED_OTHER, true);
    REQUIRE(to_batch.started);
    CHECK(to_batch.outcome.in_force == "batch");
    CHECK(to_batch.policy == SCHED_BATCH);
    CHECK_FALSE(to_batch.outcome.warning);

    auto to_normal = scheduled(SCHED_BATCH, false);
    CHECK(to_normal.outcome.in_force == "normal");
    CHECK(to_normal.policy == SCHED_OTHER);
    CHECK_FALSE(to_normal.outcome.warning);

    auto unset = scheduled(SCHED_BATCH, std::nullopt);
    CHECK(unset.outcome.in_force == "batch");
    CHECK(unset.policy == SCHED_BATCH);
    CHECK_FALSE(unset.outcome.warning);

    // An idle policy the operator chose stays, said in a warning when another was asked for.
    auto idle = scheduled(SCHED_IDLE, true);
    REQUIRE(idle.started);
    CHECK(idle.outcome.in_force == "idle");
    CHECK(idle.policy == SCHED_IDLE);
    REQUIRE(idle.outcome.warning);
    CHECK(idle.outcome.warning->find("real-time or idle") != std::string::npos);
    CHECK_FALSE(scheduled(SCHED_IDLE, std::nullopt).outcome.warning);

    // chrt -R: the flag rides on the policy sched_getscheduler returns, and is kept.
    auto reset_on_fork = scheduled(SCHED_OTHER | SCHED_RESET_ON_FORK, true);
    REQUIRE(reset_on_fork.started);
    CHECK(reset_on_fork.outcome.in_force == "batch");
    CHECK(reset_on_fork.policy == (SCHED_BATCH | SCHED_RESET_ON_FORK));
    CHECK_FALSE(reset_on_fork.outcome.warning);
    CHECK(scheduled(SCHED_BATCH | SCHED_RESET_ON_FORK, std::nullopt).outcome.in_force == "batch");
}
