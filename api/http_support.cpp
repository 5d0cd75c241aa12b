// api/http_support.cpp — error mapping and strict JSON bodies.
#include "api/http_support.h"

#include <fmt/format.h>

namespace edgeca::api {
namespace {

constexpr int max_json_depth = 8;

[[noreturn]] void bad(std::string code, const std::string& message) {
    throw ca::Error(ca::ErrorKind::bad_input, std::move(code), message);
}

}  // namespace

int http_status(ca::ErrorKind kind) {
    switch (kind) {
        case ca::ErrorKind::bad_input: return 400;
        case ca::ErrorKind::unauthenticated: return 401;
        case ca::ErrorKind::forbidden: return 403;
        case ca::ErrorKind::not_found: return 404;
        case ca::ErrorKind::conflict: return 409;
        case ca::ErrorKind::too_large: return 413;
        case ca::ErrorKind::unsupported_media_type: return 415;
        case ca::ErrorKind::policy: return 422;
        case ca::ErrorKind::unavailable: return 503;
        case ca::ErrorKind::internal: return 500;
    }
    return 500;
}

void write_json(httplib::Response& res, int status, const nlohmann::json& body) {
    res.status = status;
    // Messages may quote what the caller sent, cut to a length, so they can hold bytes that are
    // not UTF-8; those become U+FFFD rather than an exception that turns a refusal into a 500.
    res.set_content(body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n",
                    "application/json");
}

void write_error(httplib::Response& res, int status, std::string_view code, std::string_view message) {
    write_json(res, status, {{"error", {{"code", code}, {"message", message}}}});
}

void write_error(httplib::Response& res, const ca::Error& error) {
    write_error(res, http_status(error.kind()), error.code(), error.what());
}

void require_json(const httplib::Request& req) {
    std::string type = req.get_header_value("Content-Type");
    auto semicolon = type.find(';');
    std::string media = type.substr(0, semicolon);
    while (!media.empty() && media.back() == ' ') media.pop_back();
    std::transform(media.begin(), media.end(), media.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    if (media != "application/json") {
        throw ca::Error(ca::ErrorKind::unsupported_media_type, "unsupported_media_type",
                        fmt::format("the body must be application/json, not '{}'",
                                    type.empty() ? "(none)" : type.substr(0, 64)));
    }
}

JsonBody JsonBody::parse(const httplib::Request& req, std::initializer_list<std::string_view> allowed) {
    require_json(req);
    return parse_text(req.body, allowed);
}

JsonBody JsonBody::parse_text(const std::string& text, std::initializer_list<std::string_view> allowed,
                              UnknownFields unknown) {
    nlohmann::json value;
    try {
        value = nlohmann::json::parse(text, [](int depth, nlohmann::json::parse_event_t, nlohmann::json&) {
            if (depth > max_json_depth) throw std::runtime_error("nested too deeply");
            return true;
        });
    } catch (const std::exception& e) {
        bad("malformed_json", fmt::format("the body is not valid JSON: {}", e.what()));
    }
    if (!value.is_object()) bad("malformed_json", "the body must be a JSON object");
    for (const auto& [key, _] : value.items()) {
        if (unknown == UnknownFields::refuse && std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
            bad("unknown_field", fmt::format("unknown field '{}'", key.substr(0, 64)));
        }
    }
    return JsonBody(std::move(value));
}

const nlohmann::json* JsonBody::field(std::string_view key) const {
    auto it = value_.find(key);
    if (it == value_.end() || it->is_null()) return nullptr;
    return &*it;
}

bool JsonBody::has(std::string_view key) const { return field(key) != nullptr; }

std::optional<std::string> JsonBody::string(std::string_view key) const {
    const auto* f = field(key);
    if (f == nullptr) return std::nullopt;
    if (!f->is_string()) bad("field_type", fmt::format("field '{}' must be a string", key));
    return f->get<std::string>();
}

std::string JsonBody::required_string(std::string_view key) const {
    auto value = string(key);
    if (!value || value->empty()) bad("missing_field", fmt::format("field '{}' is required", key));
    return *value;
}

std::optional<int64_t> JsonBody::integer(std::string_view key, int64_t min, int64_t max) const {
    const auto* f = field(key);
    if (f == nullptr) return std::nullopt;
    if (!f->is_number_integer()) bad("field_type", fmt::format("field '{}' must be an integer", key));
    int64_t value = f->is_number_unsigned() && f->get<uint64_t>() > static_cast<uint64_t>(INT64_MAX)
                        ? INT64_MAX
                        : f->get<int64_t>();
    if (value < min || value > max) {
        bad("field_range", fmt::format("field '{}' must be between {} and {}", key, min, max));
    }
    return value;
}

std::optional<bool> JsonBody::boolean(std::string_view key) const {
    const auto* f = field(key);
    if (f == nullptr) return std::nullopt;
    if (!f->is_boolean()) bad("field_type", fmt::format("field '{}' must be true or false", key));
    return f->get<bool>();
}

std::optional<std::string> query(const httplib::Request& req, const std::string& name) {
    size_t count = req.get_param_value_count(name.c_str());
    if (count == 0) return std::nullopt;
    if (count > 1) bad("duplicate_parameter", fmt::format("query parameter '{}' is given twice", name));
    return req.get_param_value(name.c_str());
}

}  // namespace edgeca::api
