// ca/issuance_policy.h — the configurable limits of issuance; the rest of the policy is code.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "ca/ip_network.h"
#include "ca/key_policy.h"
#include "ca/profile.h"

namespace edgeca::ca {

struct ProfileLimits {
    int max_validity_days = 365;
    int default_validity_days = 365;
};

struct IssuancePolicy {
    ProfileLimits edge{3650, 730};    // 730: EnOS's default validDay
    ProfileLimits hub{825, 365};
    ProfileLimits client{365, 365};
    ProfileLimits server{90, 90};     // edgeca's own HTTPS certificate, renewed automatically
    // notBefore is set this far in the past, for devices whose clocks run a little late.
    std::chrono::seconds backdate{300};
    // A hub certificate's DNS names must equal one of these or end in "." + one of these.
    std::vector<std::string> hub_allowed_domains;
    // A hub certificate's IP addresses must fall in one of these; none by default, so a hub CSR
    // asking for an IP address is refused unless the operator names the hubs' networks.
    std::vector<IpNetwork> hub_ip_networks;
    // RSA moduli refused as known weak (weak_keys_file); empty by default.
    WeakKeyList known_weak_keys;
    // Written into every leaf certificate (CRL Distribution Points, AIA caIssuers).
    std::vector<std::string> crl_urls;
    std::vector<std::string> ca_issuer_urls;

    const ProfileLimits& limits(Profile profile) const {
        switch (profile) {
            case Profile::hub:
                return hub;
            case Profile::client:
                return client;
            case Profile::server:
                return server;
            default:
                return edge;
        }
    }
};

// True when `name` equals `domain` or is a subdomain of it (case-insensitive).
bool name_under_domain(const std::string& name, const std::string& domain);

// Checks a DNS name for a certificate: LDH labels of 1..63 characters, at most 253 in all, no
// wildcard, at least two labels unless it is "localhost". Throws Error(policy,
// "dns_name_invalid").
void check_dns_name(const std::string& name);

}  // namespace edgeca::ca
