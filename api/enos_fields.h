// api/enos_fields.h — the field rules of EnOS request bodies and the EnOS forms of what edgeca
// answers, shared by the routes (routes_enos.cpp) and the fuzz target that reads bodies as they
// do.
#pragma once

#include <botan/pkix_types.h>
#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace edgeca::api::enos {

// EnOS's 99400 "bad argument": a ca::Error of kind bad_input, code "bad_argument".
[[noreturn]] void bad_argument(const std::string& message);

// An EnOS body: an empty body is an empty object; otherwise a JSON object. Fields the call does
// not know are ignored, as EnOS's gateway ignores them; known fields are checked by the readers
// below, and a wrong type is a 99400 that names the field.
nlohmann::json body_from_text(const std::string& text);

// An integer given as a JSON number or as a string of at most 18 digits (clients differ).
std::optional<int64_t> lenient_integer(const nlohmann::json& body, const char* key);

// validDay from the body or, in the edge-API variant, from the query string: 1 to 36500.
std::optional<int> valid_day(const nlohmann::json& body, const std::optional<std::string>& from_query);

// issueAuthority: absent, or "RSA" in any case (EnOS ignores its case); "ECC" is refused by the
// RSA-2048 policy.
void check_issue_authority(const nlohmann::json& body);

// The bodies of the three calls that act, each read completely (every known field checked).
struct ApplyBody {
    std::string csr;
    std::optional<int> valid_day;
};
struct RenewBody {
    int64_t cert_sn = 0;
    std::optional<std::string> csr;  // absent: the original's key and subject again
    std::optional<int> valid_day;
};
struct RevokeBody {
    int64_t cert_sn = 0;
    int reason = 0;  // one of EnOS's 0, 1, 3, 4, 5, 6, 9
};
// The token service's body; a missing timestamp is the gateway's "parameter_missing".
struct TokenBody {
    std::string app_key;     // empty when absent or not a string
    std::string encryption;  // likewise
    int64_t timestamp = 0;
};
TokenBody token_body(const nlohmann::json& body);
ApplyBody apply_body(const nlohmann::json& body, const std::optional<std::string>& valid_day_query);
RenewBody renew_body(const nlohmann::json& body, const std::optional<std::string>& valid_day_query);
RevokeBody revoke_body(const nlohmann::json& body);

// A distinguished name as Java's X500Principal.toString() prints it, which is how EnOS's list
// shows issuer and subject: most specific attribute first, ", " between attributes, Java's
// keywords (CN, OU, O, L, ST, C, EMAILADDRESS, ...), and values that hold a special character,
// leading or trailing white space or doubled spaces in double quotes.
std::string java_dn(const Botan::X509_DN& dn);

// A revocation reason as EnOS names it ("KEY COMPROMISE"): Java's CRLReason name with spaces.
std::string reason_text(int code);

}  // namespace edgeca::api::enos
