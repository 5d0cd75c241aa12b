// ca/revocation_reason.cpp — the CRLReason table.
#include "ca/revocation_reason.h"

#include <array>
#include <utility>

namespace edgeca::ca {
namespace {

constexpr std::array<std::pair<int, std::string_view>, 10> reasons = {{
    {0, "unspecified"},
    {1, "keyCompromise"},
    {2, "cACompromise"},
    {3, "affiliationChanged"},
    {4, "superseded"},
    {5, "cessationOfOperation"},
    {6, "certificateHold"},
    {8, "removeFromCRL"},
    {9, "privilegeWithdrawn"},
    {10, "aACompromise"},
}};

}  // namespace

std::optional<int> reason_code(std::string_view name) {
    for (const auto& [code, text] : reasons) {
        if (text == name && code != 8) return code;
    }
    return std::nullopt;
}

std::string_view reason_name(int code) {
    for (const auto& [c, text] : reasons) {
        if (c == code) return text;
    }
    return "unknown";
}

}  // namespace edgeca::ca
