// ca/revocation_reason.h — RFC 5280 CRLReason codes and their names.
#pragma once

#include <optional>
#include <string_view>

namespace edgeca::ca {

// "keyCompromise" -> 1 ...; the names of RFC 5280 section 5.3.1. nullopt for anything else,
// including removeFromCRL (8), which only delta CRLs use.
std::optional<int> reason_code(std::string_view name);
// 1 -> "keyCompromise"; "unknown" for codes RFC 5280 does not define.
std::string_view reason_name(int code);

inline constexpr int reason_unspecified = 0;
inline constexpr int reason_key_compromise = 1;
inline constexpr int reason_superseded = 4;

}  // namespace edgeca::ca
