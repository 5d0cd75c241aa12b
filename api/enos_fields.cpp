// api/enos_fields.cpp — the field rules of EnOS request bodies, and EnOS's text forms.
#include "api/enos_fields.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cctype>

#include "api/http_support.h"
#include "ca/errors.h"

namespace edgeca::api::enos {

using nlohmann::json;

void bad_argument(const std::string& message) {
    throw ca::Error(ca::ErrorKind::bad_input, "bad_argument", message);
}

json body_from_text(const std::string& text) {
    if (text.empty()) return json::object();
    // The JSON rules of the v1 API (depth, syntax, an object), with no field refused.
    return JsonBody::parse_text(text, {}, JsonBody::UnknownFields::ignore).value();
}

std::optional<int64_t> lenient_integer(const json& body, const char* key) {
    auto it = body.find(key);
    if (it == body.end() || it->is_null()) return std::nullopt;
    if (it->is_number_integer()) return it->get<int64_t>();
    if (it->is_string()) {
        const auto& text = it->get_ref<const std::string&>();
        if (!text.empty() && text.size() <= 18 &&
            std::all_of(text.begin(), text.end(), [](unsigned char c) { return std::isdigit(c) != 0; })) {
            return std::stoll(text);
        }
    }
    bad_argument(fmt::format("{} must be an integer", key));
}

std::optional<int> valid_day(const json& body, const std::optional<std::string>& from_query) {
    std::optional<int64_t> days = lenient_integer(body, "validDay");
    if (!days && from_query) days = lenient_integer(json{{"validDay", *from_query}}, "validDay");
    if (!days) return std::nullopt;
    if (*days < 1 || *days > 36500) bad_argument("validDay must be 1 to 36500");
    return static_cast<int>(*days);
}

void check_issue_authority(const json& body) {
    auto it = body.find("issueAuthority");
    if (it == body.end() || it->is_null()) return;
    if (!it->is_string()) bad_argument("issueAuthority must be the string \"RSA\"");
    std::string value = it->get<std::string>().substr(0, 16);
    std::transform(value.begin(), value.end(), value.begin(),
                   [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
    if (value == "ECC") {
        bad_argument("issueAuthority ECC is not offered: this CA certifies RSA 2048-bit keys only "
                     "(the platform's RSA-2048 policy)");
    }
    if (value != "RSA") bad_argument(fmt::format("issueAuthority '{}' is not RSA", value));
}

namespace {

// csr: absent or null is nullopt; otherwise a string.
std::optional<std::string> csr_field(const json& body) {
    auto it = body.find("csr");
    if (it == body.end() || it->is_null()) return std::nullopt;
    if (!it->is_string()) bad_argument("csr must be a PEM string");
    return it->get<std::string>();
}

int64_t required_cert_sn(const json& body) {
    auto id = lenient_integer(body, "certSn");
    if (!id) bad_argument("certSn is required");
    return *id;
}

}  // namespace

TokenBody token_body(const json& body) {
    auto text = [&](const char* key) {
        auto it = body.find(key);
        return it != body.end() && it->is_string() ? it->get<std::string>() : std::string();
    };
    auto timestamp = lenient_integer(body, "timestamp");
    if (!timestamp) throw ca::Error(ca::ErrorKind::unauthenticated, "parameter_missing", "timestamp is required");
    return {text("appKey"), text("encryption"), *timestamp};
}

ApplyBody apply_body(const json& body, const std::optional<std::string>& valid_day_query) {
    check_issue_authority(body);
    auto csr = csr_field(body);
    if (!csr || csr->empty()) bad_argument("csr is required");
    return {std::move(*csr), valid_day(body, valid_day_query)};
}

RenewBody renew_body(const json& body, const std::optional<std::string>& valid_day_query) {
    check_issue_authority(body);
    RenewBody renew;
    renew.cert_sn = required_cert_sn(body);
    renew.csr = csr_field(body);
    renew.valid_day = valid_day(body, valid_day_query);
    return renew;
}

RevokeBody revoke_body(const json& body) {
    RevokeBody revoke;
    revoke.cert_sn = required_cert_sn(body);
    auto reason = lenient_integer(body, "reason").value_or(0);
    constexpr std::array<int64_t, 7> enos_reasons = {0, 1, 3, 4, 5, 6, 9};
    if (std::find(enos_reasons.begin(), enos_reasons.end(), reason) == enos_reasons.end()) {
        bad_argument("reason is one of 0, 1, 3, 4, 5, 6, 9 (RFC 5280)");
    }
    revoke.reason = static_cast<int>(reason);
    return revoke;
}

namespace {

// Java's keywords for the attribute types (sun.security.x509.AVAKeyword, RFC 1779 and the
// names Java adds); other types print as their dotted OID, as Java prints them.
std::string java_keyword(const std::string& oid) {
    static constexpr std::array<std::pair<std::string_view, std::string_view>, 12> keywords = {{
        {"2.5.4.3", "CN"},
        {"2.5.4.6", "C"},
        {"2.5.4.7", "L"},
        {"2.5.4.8", "ST"},
        {"2.5.4.9", "STREET"},
        {"2.5.4.10", "O"},
        {"2.5.4.11", "OU"},
        {"2.5.4.12", "T"},
        {"2.5.4.5", "SERIALNUMBER"},
        {"1.2.840.113549.1.9.1", "EMAILADDRESS"},
        {"0.9.2342.19200300.100.1.25", "DC"},
        {"0.9.2342.19200300.100.1.1", "UID"},
    }};
    for (const auto& [known, keyword] : keywords) {
        if (known == oid) return std::string(keyword);
    }
    return "OID." + oid;
}

// Java's AVA.toKeywordValueString: '"' and '\' get a backslash; a value with one of
// ,+=\n<>#;\" or with leading, trailing or doubled white space is put in double quotes.
std::string java_value(const std::string& value) {
    constexpr std::string_view specials = ",+=\n<>#;\\\"";
    // A value already in double quotes is printed as it is, its quotes unescaped.
    const bool already_quoted = value.size() > 1 && value.front() == '"' && value.back() == '"';
    bool quote = false;
    bool previous_white = false;
    std::string out;
    for (size_t i = 0; i < value.size(); ++i) {
        const char c = value[i];
        if (already_quoted && (i == 0 || i + 1 == value.size())) {
            out.push_back(c);
            continue;
        }
        const bool white = c == ' ' || c == '\n';
        if (specials.find(c) != std::string_view::npos || (i == 0 && white) || (white && previous_white)) {
            quote = true;
        }
        if (c == '"' || c == '\\') out.push_back('\\');
        previous_white = white;
        out.push_back(c);
    }
    if (!value.empty() && (value.back() == ' ' || value.back() == '\n')) quote = true;
    return quote && !already_quoted ? "\"" + out + "\"" : out;
}

}  // namespace

std::string java_dn(const Botan::X509_DN& dn) {
    std::string out;
    const auto& attributes = dn.dn_info();
    for (auto it = attributes.rbegin(); it != attributes.rend(); ++it) {
        if (!out.empty()) out += ", ";
        out += java_keyword(it->first.to_string());
        out.push_back('=');
        out += java_value(it->second.value());
    }
    return out;
}

std::string reason_text(int code) {
    // java.security.cert.CRLReason, in code order (7 is unused in RFC 5280).
    static constexpr std::array<std::string_view, 11> names = {
        "UNSPECIFIED",     "KEY COMPROMISE",   "CA COMPROMISE",
        "AFFILIATION CHANGED", "SUPERSEDED",   "CESSATION OF OPERATION",
        "CERTIFICATE HOLD", "UNUSED",          "REMOVE FROM CRL",
        "PRIVILEGE WITHDRAWN", "AA COMPROMISE"};
    if (code < 0 || code >= static_cast<int>(names.size())) return "UNSPECIFIED";
    return std::string(names[static_cast<size_t>(code)]);
}

}  // namespace edgeca::api::enos
