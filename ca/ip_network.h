// ca/ip_network.h — IP addresses and networks (CIDR) for the IP names of hub certificates.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace edgeca::ca {

// An IPv4 (4 bytes) or IPv6 (16 bytes) address, as an iPAddress GeneralName holds it.
struct IpAddress {
    std::vector<uint8_t> bytes;

    // "10.1.2.3" or "fd00::1" (inet_pton's forms); nullopt for anything else.
    static std::optional<IpAddress> parse(std::string_view text);
    // The bytes of an iPAddress name; nullopt unless there are 4 or 16.
    static std::optional<IpAddress> from_bytes(std::vector<uint8_t> bytes);
    // "10.1.2.3", "fd00::1" (inet_ntop's forms).
    std::string to_string() const;
    bool operator==(const IpAddress&) const = default;
};

// "10.0.0.0/8", "fd00::/8"; a bare address is the network of that address alone.
struct IpNetwork {
    IpAddress base;
    unsigned prefix_bits = 0;

    // Throws Error(bad_input, "ip_network_invalid") for anything but an address with an
    // optional /prefix no longer than the address, without host bits set.
    static IpNetwork parse(std::string_view text);
    bool contains(const IpAddress& address) const;
    std::string to_string() const;
};

}  // namespace edgeca::ca
