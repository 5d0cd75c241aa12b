// tests/fuzz/fuzz_support.h — what every fuzz target shares: turning the input into text and
// fields, rendering an expected error the way the HTTP API would, and failing loudly.
#pragma once

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "ca/errors.h"

namespace edgeca::fuzz {

inline std::string_view as_text(const uint8_t* data, size_t size) {
    return {reinterpret_cast<const char*>(data), size};
}

// The input cut at '\n' into at most `count` fields; the last field keeps the rest (newlines
// included). Missing fields are empty.
inline std::vector<std::string> split_fields(std::string_view text, size_t count) {
    std::vector<std::string> fields;
    while (fields.size() + 1 < count) {
        auto newline = text.find('\n');
        if (newline == std::string_view::npos) break;
        fields.emplace_back(text.substr(0, newline));
        text.remove_prefix(newline + 1);
    }
    fields.emplace_back(text);
    fields.resize(count);
    return fields;
}

// True when `text` is well-formed UTF-8 as RFC 3629 defines it (no overlong forms, no
// surrogates): what a JSON string, once nlohmann has parsed it, always is.
inline bool is_utf8(std::string_view text) {
    auto at = [&](size_t i) { return static_cast<unsigned char>(text[i]); };
    for (size_t i = 0; i < text.size();) {
        const unsigned char c = at(i);
        size_t n = 0;
        unsigned char low = 0x80, high = 0xbf;  // range of the second byte
        if (c < 0x80) n = 1;
        else if (c >= 0xc2 && c <= 0xdf) n = 2;
        else if (c >= 0xe0 && c <= 0xef) n = 3, low = c == 0xe0 ? 0xa0 : 0x80, high = c == 0xed ? 0x9f : 0xbf;
        else if (c >= 0xf0 && c <= 0xf4) n = 4, low = c == 0xf0 ? 0x90 : 0x80, high = c == 0xf4 ? 0x8f : 0xbf;
        if (n == 0 || i + n > text.size()) return false;
        for (size_t k = 1; k < n; ++k) {
            const unsigned char b = at(i + k);
            if (k == 1 ? (b < low || b > high) : (b & 0xc0) != 0x80) return false;
        }
        i += n;
    }
    return true;
}

// An invariant of the code under test does not hold: report it as a crash, with a sentence.
[[noreturn]] inline void finding(const char* what, std::string_view detail = {}) {
    std::fprintf(stderr, "FUZZ FINDING: %s: %.*s\n", what, static_cast<int>(detail.size()), detail.data());
    std::abort();
}

// An expected refusal must still carry a code and a message; anything thrown that is not a
// ca::Error escapes the target and libFuzzer reports it (an uncaught exception aborts).
inline void check_error(const ca::Error& e) {
    if (e.code().empty()) finding("ca::Error without a code", e.what());
    if (std::string_view(e.what()).empty()) finding("ca::Error without a message", e.code());
}

}  // namespace edgeca::fuzz
