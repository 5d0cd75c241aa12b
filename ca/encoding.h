// ca/encoding.h — strict PEM and DER framing, hex, and digests of the bytes we handle.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace edgeca::ca {

struct PemBlock {
    std::string label;
    std::vector<uint8_t> der;
};

// Every PEM block of `text`, in order. Refuses PEM headers (RFC 1421 "Proc-Type: ..."), text
// between or after blocks, bad base64 and an END line that does not match its BEGIN.
// `what` names the input in error messages ("the CSR", "the certificate file").
std::vector<PemBlock> decode_pem_blocks(std::string_view text, std::string_view what);

// Exactly one block whose label is one of `labels`.
std::vector<uint8_t> decode_single_pem(std::string_view text,
                                       std::initializer_list<std::string_view> labels,
                                       std::string_view what);

std::string encode_pem(std::span<const uint8_t> der, std::string_view label);

// True when the bytes hold a PEM BEGIN line anywhere (they are then decoded, strictly, as PEM).
bool looks_like_pem(std::span<const uint8_t> bytes);

// Refuses anything but exactly one complete DER object: no trailing bytes, no truncation.
void require_single_der_object(std::span<const uint8_t> der, std::string_view what);

std::string to_hex(std::span<const uint8_t> bytes);  // lowercase
std::string sha256_hex(std::span<const uint8_t> bytes);
std::vector<uint8_t> sha256(std::span<const uint8_t> bytes);

inline std::span<const uint8_t> as_bytes(std::string_view s) {
    return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

}  // namespace edgeca::ca
