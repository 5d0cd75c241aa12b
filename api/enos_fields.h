// api/enos_fields.h — the field rules of EnOS Connection Service request bodies, shared by the
// routes (routes_enos.cpp) and the fuzz target that reads bodies as they do.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>

namespace edgeca::api::enos {

// EnOS's 99400 "bad argument": a ca::Error of kind bad_input, code "bad_argument".
[[noreturn]] void bad_argument(const std::string& message);

// An EnOS body: an empty body is an empty object; otherwise a JSON object whose keys are all
// among `allowed`.
nlohmann::json body_from_text(const std::string& text, std::initializer_list<std::string_view> allowed);

// An integer given as a JSON number or as a string of at most 18 digits (clients differ).
std::optional<int64_t> lenient_integer(const nlohmann::json& body, const char* key);

// validDay from the body or, in the edge-API variant, from the query string: 1 to 36500.
std::optional<int> valid_day(const nlohmann::json& body, const std::optional<std::string>& from_query);

// issueAuthority: absent, or "RSA"; "ECC" is refused by the RSA-2048 policy.
void check_issue_authority(const nlohmann::json& body);

}  // namespace edgeca::api::enos
