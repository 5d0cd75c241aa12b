// api/enos_fields.cpp — the field rules of EnOS request bodies.
#include "api/enos_fields.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>

#include "api/http_support.h"
#include "ca/errors.h"

namespace edgeca::api::enos {

using nlohmann::json;

void bad_argument(const std::string& message) {
    throw ca::Error(ca::ErrorKind::bad_input, "bad_argument", message);
}

json body_from_text(const std::string& text, std::initializer_list<std::string_view> allowed) {
    if (text.empty()) return json::object();
    return JsonBody::parse_text(text, allowed).value();
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
    if (!it->is_string()) bad_argument("issueAuthority is \"RSA\"");
    const auto& value = it->get_ref<const std::string&>();
    if (value == "ECC") {
        bad_argument("issueAuthority ECC is not offered: this CA certifies RSA 2048-bit keys only "
                     "(the platform's RSA-2048 policy)");
    }
    if (value != "RSA") bad_argument(fmt::format("issueAuthority '{}' is not RSA", value.substr(0, 16)));
}

}  // namespace edgeca::api::enos
