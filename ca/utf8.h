// ca/utf8.h — UTF-8 as RFC 3629 defines it: for the subject rules, and for messages that quote
// what a caller sent (a cut name, a byte that is not text) and must still be text themselves.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace edgeca::ca {

// The length in bytes of the well-formed UTF-8 sequence starting at `at`, or 0 when there is
// none: a stray continuation byte, a truncated sequence, an overlong form, a surrogate, or a
// code point above U+10FFFF.
size_t utf8_sequence_length(std::string_view text, size_t at);

// `text` with every byte that does not begin a well-formed sequence replaced by U+FFFD.
std::string valid_utf8(std::string_view text);

}  // namespace edgeca::ca
