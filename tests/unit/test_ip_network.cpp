// tests/unit/test_ip_network.cpp — IP addresses and the CIDR networks of hub certificates.
#include <doctest/doctest.h>

#include "ca/errors.h"
#include "ca/ip_network.h"
#include "tests/unit/test_support.h"

using namespace edgeca;

namespace {

ca::IpAddress ip(const char* text) {
    auto address = ca::IpAddress::parse(text);
    REQUIRE(address);
    return *address;
}

}  // namespace

TEST_CASE("IPv4 and IPv6 addresses parse to their 4 or 16 bytes and print back") {
    CHECK(ip("10.1.2.3").bytes == std::vector<uint8_t>{10, 1, 2, 3});
    CHECK(ip("fd00::1").bytes.size() == 16);
    CHECK(ip("fd00::1").bytes[0] == 0xfd);
    CHECK(ip("fd00::1").bytes[15] == 1);
    CHECK(ip("FD00:0:0::1").to_string() == "fd00::1");
    CHECK(ip("10.1.2.3").to_string() == "10.1.2.3");
    for (const char* text : {"", "10.1.2", "10.1.2.256", "hub.example.com", "10.0.0.1/8", " 10.0.0.1", "fd00::1::2"}) {
        CAPTURE(text);
        CHECK_FALSE(ca::IpAddress::parse(text));
    }
    CHECK_FALSE(ca::IpAddress::from_bytes({10, 0, 0}));
    CHECK(ca::IpAddress::from_bytes({10, 0, 0, 1})->to_string() == "10.0.0.1");
}

TEST_CASE("a network holds the addresses under its prefix, of its own family only") {
    auto ten = ca::IpNetwork::parse("10.0.0.0/8");
    CHECK(ten.contains(ip("10.0.0.1")));
    CHECK(ten.contains(ip("10.255.255.255")));
    CHECK_FALSE(ten.contains(ip("11.0.0.0")));
    CHECK_FALSE(ten.contains(ip("9.255.255.255")));
    CHECK_FALSE(ten.contains(ip("::ffff:10.0.0.1")));  // another family
    auto odd = ca::IpNetwork::parse("192.168.4.0/23");
    CHECK(odd.contains(ip("192.168.5.200")));
    CHECK_FALSE(odd.contains(ip("192.168.6.0")));
    auto ula = ca::IpNetwork::parse("fd00::/8");
    CHECK(ula.contains(ip("fd12:3456::1")));
    CHECK_FALSE(ula.contains(ip("fe80::1")));
    CHECK_FALSE(ula.contains(ip("10.0.0.1")));
    auto one = ca::IpNetwork::parse("192.0.2.7");
    CHECK(one.prefix_bits == 32);
    CHECK(one.contains(ip("192.0.2.7")));
    CHECK_FALSE(one.contains(ip("192.0.2.8")));
    CHECK(ca::IpNetwork::parse("0.0.0.0/0").contains(ip("203.0.113.9")));
    CHECK(ula.to_string() == "fd00::/8");
}

TEST_CASE("a network that is not one is refused, saying why") {
    for (const char* text : {"", "10.0.0.0/", "10.0.0.0/33", "fd00::/129", "10.0.0.0/8x", "10.0.0.0/-1",
                             "hub.example.com/8", "10.0.0/8"}) {
        CAPTURE(text);
        CHECK(test::error_code([&] { ca::IpNetwork::parse(text); }) == "ip_network_invalid");
    }
    CHECK_THROWS_WITH(ca::IpNetwork::parse("10.1.2.3/8"), doctest::Contains("bits set beyond the prefix"));
}
