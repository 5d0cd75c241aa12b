// ca/encoding.cpp — strict PEM and DER framing: what a peer sends is taken as one exact object.
#include "ca/encoding.h"

#include <botan/base64.h>
#include <botan/ber_dec.h>
#include <botan/hash.h>
#include <botan/hex.h>
#include <fmt/format.h>

#include <algorithm>

#include "ca/errors.h"

namespace edgeca::ca {
namespace {

constexpr std::string_view begin_marker = "-----BEGIN ";
constexpr std::string_view end_marker = "-----END ";
constexpr std::string_view dashes = "-----";

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

bool is_base64(char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '+' || c == '/' || c == '=';
}

std::string_view skip_space(std::string_view s) {
    while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
    return s;
}

[[noreturn]] void bad(std::string_view what, const std::string& why) {
    throw Error(ErrorKind::bad_input, "malformed_pem", fmt::format("{} {}", what, why));
}

}  // namespace

std::vector<PemBlock> decode_pem_blocks(std::string_view text, std::string_view what) {
    std::vector<PemBlock> blocks;
    std::string_view rest = skip_space(text);
    if (rest.empty()) bad(what, "is empty");
    while (!rest.empty()) {
        if (!rest.starts_with(begin_marker)) {
            bad(what, blocks.empty() ? "has text before its PEM block (only the block is accepted)"
                                     : "has data after its last PEM block");
        }
        rest.remove_prefix(begin_marker.size());
        auto label_end = rest.find(dashes);
        auto line_end = rest.find('\n');
        if (label_end == std::string_view::npos || label_end > line_end) {
            bad(what, "has a malformed BEGIN line");
        }
        PemBlock block;
        block.label = std::string(rest.substr(0, label_end));
        rest.remove_prefix(label_end + dashes.size());
        std::string end_line = fmt::format("{}{}{}", end_marker, block.label, dashes);
        auto end_at = rest.find(end_line);
        if (end_at == std::string_view::npos) {
            bad(what, fmt::format("has no line '{}'", end_line));
        }
        std::string_view body = rest.substr(0, end_at);
        if (body.find(':') != std::string_view::npos) {
            bad(what, "carries PEM headers, which are not accepted");
        }
        if (body.find(dashes) != std::string_view::npos) {
            bad(what, "has a PEM block inside another one");
        }
        std::string base64;
        base64.reserve(body.size());
        for (char c : body) {
            if (is_space(c)) continue;
            if (!is_base64(c)) bad(what, "has a character that is not base64 in its PEM body");
            base64.push_back(c);
        }
        if (base64.empty()) bad(what, "has an empty PEM block");
        try {
            auto decoded = Botan::base64_decode(base64, false);
            block.der.assign(decoded.begin(), decoded.end());
        } catch (const std::exception&) {
            bad(what, "has a PEM body that is not valid base64");
        }
        blocks.push_back(std::move(block));
        rest = skip_space(rest.substr(end_at + end_line.size()));
    }
    return blocks;
}

std::vector<uint8_t> decode_single_pem(std::string_view text,
                                       std::initializer_list<std::string_view> labels,
                                       std::string_view what) {
    auto blocks = decode_pem_blocks(text, what);
    if (blocks.size() != 1) {
        bad(what, fmt::format("holds {} PEM blocks where exactly one is expected", blocks.size()));
    }
    if (std::find(labels.begin(), labels.end(), blocks[0].label) == labels.end()) {
        bad(what, fmt::format("is a PEM '{}' block, not a '{}'", blocks[0].label, *labels.begin()));
    }
    return std::move(blocks[0].der);
}

std::string encode_pem(std::span<const uint8_t> der, std::string_view label) {
    std::string base64 = Botan::base64_encode(der.data(), der.size());
    std::string out = fmt::format("-----BEGIN {}-----\n", label);
    for (size_t i = 0; i < base64.size(); i += 64) {
        out.append(base64, i, 64);
        out.push_back('\n');
    }
    out += fmt::format("-----END {}-----\n", label);
    return out;
}

bool looks_like_pem(std::span<const uint8_t> bytes) {
    // Anything holding a BEGIN line is meant as PEM: text around a block (`openssl req -text`
    // output) is then reported as a PEM problem, not as broken DER.
    std::string_view text(reinterpret_cast<const char*>(bytes.data()), bytes.size());
    return text.find("-----BEGIN ") != std::string_view::npos;
}

void require_single_der_object(std::span<const uint8_t> der, std::string_view what) {
    if (der.empty()) {
        throw Error(ErrorKind::bad_input, "malformed_der", fmt::format("{} is empty", what));
    }
    try {
        Botan::BER_Decoder decoder(der.data(), der.size());
        Botan::BER_Object object = decoder.get_next_object();
        if (!object.is_set()) {
            throw Error(ErrorKind::bad_input, "malformed_der",
                        fmt::format("{} holds no DER object", what));
        }
        if (decoder.more_items()) {
            throw Error(ErrorKind::bad_input, "malformed_der",
                        fmt::format("{} has trailing bytes after its DER object", what));
        }
    } catch (const Error&) {
        throw;
    } catch (const std::exception& e) {
        throw Error(ErrorKind::bad_input, "malformed_der",
                    fmt::format("{} is not valid DER: {}", what, e.what()));
    }
}

std::string to_hex(std::span<const uint8_t> bytes) {
    return Botan::hex_encode(bytes.data(), bytes.size(), false);
}

std::vector<uint8_t> sha256(std::span<const uint8_t> bytes) {
    auto hash = Botan::HashFunction::create_or_throw("SHA-256");
    hash->update(bytes.data(), bytes.size());
    auto digest = hash->final();
    return {digest.begin(), digest.end()};
}

std::string sha256_hex(std::span<const uint8_t> bytes) { return to_hex(sha256(bytes)); }

}  // namespace edgeca::ca
