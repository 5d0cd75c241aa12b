// tests/unit/test_serial_number.cpp — random, positive, 16 octets, 126 random bits.
#include <doctest/doctest.h>

#include <set>

#include "ca/errors.h"
#include "ca/serial_number.h"
#include "tests/unit/test_support.h"

using namespace edgeca;

TEST_CASE("random serials are positive, 16 octets and distinct") {
    std::set<std::vector<uint8_t>> seen;
    std::array<int, 16 * 8> ones{};
    const int n = 20000;
    for (int i = 0; i < n; ++i) {
        auto serial = ca::SerialNumber::random(test::rng());
        const auto& bytes = serial.bytes();
        REQUIRE(bytes.size() == 16);
        REQUIRE((bytes[0] & 0x80) == 0);  // positive as a DER INTEGER, no sign octet needed
        REQUIRE((bytes[0] & 0x40) != 0);  // never shorter than 16 octets
        REQUIRE(serial.to_bigint().bytes() == 16);
        for (size_t b = 0; b < 128; ++b) ones[b] += (bytes[b / 8] >> (7 - b % 8)) & 1;
        seen.insert(bytes);
    }
    CHECK(seen.size() == n);
    // Every bit but the two fixed ones varies: about half of the serials have it set.
    int random_bits = 0;
    for (size_t b = 2; b < 128; ++b) {
        if (ones[b] > n * 45 / 100 && ones[b] < n * 55 / 100) ++random_bits;
    }
    CHECK(random_bits == 126);
}

TEST_CASE("serials parse from the forms people paste") {
    auto s = ca::SerialNumber::from_hex("0A:1B:2c");
    CHECK(s.hex() == "0a1b2c");
    CHECK(ca::SerialNumber::from_hex("0x0a1b2c") == s);
    CHECK(ca::SerialNumber::from_hex("a1b2c") == s);
    CHECK(ca::SerialNumber::from_hex("000a1b2c") == s);
    CHECK_THROWS_AS(ca::SerialNumber::from_hex("xyz"), ca::Error);
    CHECK_THROWS_AS(ca::SerialNumber::from_hex(""), ca::Error);
    CHECK_THROWS_AS(ca::SerialNumber::from_hex("00"), ca::Error);
    CHECK_THROWS_AS(ca::SerialNumber::from_hex(std::string(42, 'f')), ca::Error);
}
