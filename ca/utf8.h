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

// The code point of the well-formed sequence of `length` bytes (from utf8_sequence_length) at
// `at`.
char32_t utf8_code_point(std::string_view text, size_t at, size_t length);

// What makes `code_point` unfit for a name that people read and software compares, or nullptr
// when nothing does: it is invisible or changes the direction of the text around it (a Unicode
// format character, general category Cf, as listed by Unicode 15.0), a C0 or C1 control, a
// line or paragraph separator, or a noncharacter (U+FDD0..U+FDEF and the last two code points
// of every plane). The answer is a phrase for a message: "a Unicode noncharacter".
const char* hidden_character_kind(char32_t code_point);

// The name of the best-known of those characters ("RIGHT-TO-LEFT OVERRIDE"), or nullptr.
const char* hidden_character_name(char32_t code_point);

// `text` with every byte that does not begin a well-formed sequence replaced by U+FFFD.
std::string valid_utf8(std::string_view text);

}  // namespace edgeca::ca
