// api/http_support.h — JSON in and out, strictly: unknown fields, wrong types and wrong content
// types are errors with a code, never guessed at.
#pragma once

#include <httplib.h>

#include <nlohmann/json.hpp>

#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>

#include "ca/errors.h"

namespace edgeca::api {

int http_status(ca::ErrorKind kind);

// {"error": {"code": ..., "message": ...}}
void write_error(httplib::Response& res, int status, std::string_view code, std::string_view message);
void write_error(httplib::Response& res, const ca::Error& error);
void write_json(httplib::Response& res, int status, const nlohmann::json& body);

// Refuses a request whose Content-Type is not application/json (415).
void require_json(const httplib::Request& req);

// A JSON object body whose keys must all be among `allowed`.
class JsonBody {
public:
    // The v1 API refuses a field it does not know; the EnOS surface ignores it, as EnOS does.
    enum class UnknownFields { refuse, ignore };
    static JsonBody parse(const httplib::Request& req, std::initializer_list<std::string_view> allowed);
    static JsonBody parse_text(const std::string& text, std::initializer_list<std::string_view> allowed,
                               UnknownFields unknown = UnknownFields::refuse);

    std::optional<std::string> string(std::string_view key) const;
    std::string required_string(std::string_view key) const;
    std::optional<int64_t> integer(std::string_view key, int64_t min, int64_t max) const;
    std::optional<bool> boolean(std::string_view key) const;
    bool has(std::string_view key) const;
    const nlohmann::json& value() const { return value_; }

private:
    explicit JsonBody(nlohmann::json value) : value_(std::move(value)) {}
    const nlohmann::json* field(std::string_view key) const;
    nlohmann::json value_;
};

// A query parameter, or nullopt; a parameter given twice is an error.
std::optional<std::string> query(const httplib::Request& req, const std::string& name);

}  // namespace edgeca::api
