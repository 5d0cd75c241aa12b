// ca/serial_number.cpp — generating and reading serial numbers.
#include "ca/serial_number.h"

#include <botan/hex.h>
#include <fmt/format.h>

#include "ca/encoding.h"
#include "ca/errors.h"

namespace edgeca::ca {

SerialNumber SerialNumber::random(Botan::RandomNumberGenerator& rng) {
    std::vector<uint8_t> bytes(octets);
    rng.randomize(bytes.data(), bytes.size());
    bytes[0] = static_cast<uint8_t>((bytes[0] & 0x7f) | 0x40);
    return SerialNumber(std::move(bytes));
}

SerialNumber SerialNumber::from_bytes(std::vector<uint8_t> magnitude) {
    size_t zeros = 0;
    while (zeros < magnitude.size() && magnitude[zeros] == 0) ++zeros;
    magnitude.erase(magnitude.begin(), magnitude.begin() + static_cast<long>(zeros));
    if (magnitude.empty() || magnitude.size() > 20) {
        throw Error(ErrorKind::bad_input, "malformed_serial",
                    "a serial number is a positive integer of at most 20 octets");
    }
    return SerialNumber(std::move(magnitude));
}

SerialNumber SerialNumber::from_bigint(const Botan::BigInt& value) {
    if (value.is_negative() || value.is_zero()) {
        throw Error(ErrorKind::bad_input, "malformed_serial", "a serial number must be positive");
    }
    return from_bytes(Botan::BigInt::encode(value));
}

SerialNumber SerialNumber::from_hex(std::string_view text) {
    std::string digits;
    if (text.starts_with("0x") || text.starts_with("0X")) text.remove_prefix(2);
    for (char c : text) {
        if (c == ':') continue;
        if (!std::isxdigit(static_cast<unsigned char>(c))) {
            throw Error(ErrorKind::bad_input, "malformed_serial",
                        fmt::format("'{}' is not a hexadecimal serial number",
                                    text.substr(0, 64)));
        }
        digits.push_back(c);
    }
    if (digits.empty() || digits.size() > 40 + 2) {
        throw Error(ErrorKind::bad_input, "malformed_serial",
                    "a serial number is 1 to 40 hexadecimal digits");
    }
    if (digits.size() % 2 != 0) digits.insert(digits.begin(), '0');
    auto bytes = Botan::hex_decode(digits);
    return from_bytes(std::vector<uint8_t>(bytes.begin(), bytes.end()));
}

Botan::BigInt SerialNumber::to_bigint() const {
    return Botan::BigInt(magnitude_.data(), magnitude_.size());
}

std::string SerialNumber::hex() const { return to_hex(magnitude_); }

}  // namespace edgeca::ca
