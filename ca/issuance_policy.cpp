// ca/issuance_policy.cpp — the DNS-name rules of hub and server certificates.
#include "ca/issuance_policy.h"

#include <fmt/format.h>

#include <algorithm>

#include "ca/errors.h"

namespace edgeca::ca {
namespace {

std::string lower(std::string s) {
    std::transform(s.begin(), s.end(), s.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return s;
}

}  // namespace

bool name_under_domain(const std::string& name, const std::string& domain) {
    const std::string n = lower(name);
    const std::string d = lower(domain);
    if (d.empty()) return false;
    if (n == d) return true;
    return n.size() > d.size() + 1 && n.ends_with(d) && n[n.size() - d.size() - 1] == '.';
}

void check_dns_name(const std::string& name) {
    auto refuse = [&](std::string_view why) {
        throw Error(ErrorKind::policy, "dns_name_invalid",
                    fmt::format("the DNS name '{}' {}", name.substr(0, 80), why));
    };
    if (name.empty() || name.size() > 253) refuse("must be 1 to 253 characters long");
    if (name.find('*') != std::string::npos) refuse("is a wildcard; wildcards are not issued");
    size_t labels = 0;
    size_t start = 0;
    while (start <= name.size()) {
        size_t dot = name.find('.', start);
        if (dot == std::string::npos) dot = name.size();
        std::string_view label(name.data() + start, dot - start);
        if (label.empty() || label.size() > 63) refuse("has an empty or overlong label");
        if (label.front() == '-' || label.back() == '-') refuse("has a label starting or ending in '-'");
        for (char c : label) {
            if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-') {
                refuse("may contain only letters, digits, '-' and '.'");
            }
        }
        ++labels;
        start = dot + 1;
    }
    if (labels < 2 && lower(name) != "localhost") refuse("is not a fully qualified name");
}

}  // namespace edgeca::ca
