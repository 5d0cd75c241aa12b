// ca/serial_number.h — X.509 serial numbers: random, positive, 16 octets, 126 random bits.
#pragma once

#include <botan/bigint.h>
#include <botan/rng.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace edgeca::ca {

class SerialNumber {
public:
    static constexpr size_t octets = 16;

    // 16 octets from the RNG with the top bit cleared (the DER INTEGER stays positive) and the
    // next bit set (it is exactly 16 octets, never shorter): 126 random bits, far above RFC
    // 5280's and the CA/B Forum's 64. Uniqueness is then enforced by the store, not by luck.
    static SerialNumber random(Botan::RandomNumberGenerator& rng);

    // Parses hex as printed by edgeca or OpenSSL ("0A:1B", "0a1b", "0x0a1b"); throws
    // Error(bad_input, "malformed_serial").
    static SerialNumber from_hex(std::string_view hex);
    static SerialNumber from_bytes(std::vector<uint8_t> magnitude);
    static SerialNumber from_bigint(const Botan::BigInt& value);

    const std::vector<uint8_t>& bytes() const { return magnitude_; }
    Botan::BigInt to_bigint() const;
    std::string hex() const;  // lowercase, even length, no separators

    bool operator==(const SerialNumber&) const = default;

private:
    explicit SerialNumber(std::vector<uint8_t> magnitude) : magnitude_(std::move(magnitude)) {}
    std::vector<uint8_t> magnitude_;  // big-endian, no leading zero octets
};

}  // namespace edgeca::ca
