// ca/ip_network.cpp — IP addresses through inet_pton / inet_ntop, networks by prefix.
#include "ca/ip_network.h"

#include <arpa/inet.h>
#include <fmt/format.h>

#include "ca/errors.h"

namespace edgeca::ca {

std::optional<IpAddress> IpAddress::parse(std::string_view text) {
    const std::string s(text);
    IpAddress address;
    address.bytes.resize(4);
    if (inet_pton(AF_INET, s.c_str(), address.bytes.data()) == 1) return address;
    address.bytes.resize(16);
    if (inet_pton(AF_INET6, s.c_str(), address.bytes.data()) == 1) return address;
    return std::nullopt;
}

std::optional<IpAddress> IpAddress::from_bytes(std::vector<uint8_t> bytes) {
    if (bytes.size() != 4 && bytes.size() != 16) return std::nullopt;
    return IpAddress{std::move(bytes)};
}

std::string IpAddress::to_string() const {
    char text[INET6_ADDRSTRLEN] = {};
    inet_ntop(bytes.size() == 4 ? AF_INET : AF_INET6, bytes.data(), text, sizeof text);
    return text;
}

IpNetwork IpNetwork::parse(std::string_view text) {
    auto invalid = [&](std::string_view why) {
        throw Error(ErrorKind::bad_input, "ip_network_invalid",
                    fmt::format("'{}' is not an IP network such as \"10.0.0.0/8\" or "
                                "\"fd00::/8\": {}",
                                text.substr(0, 64), why));
    };
    const size_t slash = text.find('/');
    auto address = IpAddress::parse(text.substr(0, slash));
    if (!address) invalid("the address is not an IPv4 or IPv6 address");
    const unsigned max_bits = static_cast<unsigned>(address->bytes.size() * 8);
    unsigned bits = max_bits;
    if (slash != std::string_view::npos) {
        std::string_view digits = text.substr(slash + 1);
        if (digits.empty() || digits.size() > 3 ||
            digits.find_first_not_of("0123456789") != std::string_view::npos) {
            invalid("the prefix length is not a number");
        }
        bits = static_cast<unsigned>(std::stoul(std::string(digits)));
        if (bits > max_bits) invalid(fmt::format("the prefix length is more than {}", max_bits));
    }
    // "10.1.2.3/8" is more likely a typo than a way to write 10.0.0.0/8.
    for (unsigned i = bits; i < max_bits; ++i) {
        if (address->bytes[i / 8] & (0x80 >> (i % 8))) {
            invalid("the address has bits set beyond the prefix length");
        }
    }
    return IpNetwork{*address, bits};
}

bool IpNetwork::contains(const IpAddress& address) const {
    if (address.bytes.size() != base.bytes.size()) return false;
    for (unsigned i = 0; i < prefix_bits; ++i) {
        const uint8_t mask = 0x80 >> (i % 8);
        if ((address.bytes[i / 8] & mask) != (base.bytes[i / 8] & mask)) return false;
    }
    return true;
}

std::string IpNetwork::to_string() const { return fmt::format("{}/{}", base.to_string(), prefix_bits); }

}  // namespace edgeca::ca
