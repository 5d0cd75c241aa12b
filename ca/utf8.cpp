// ca/utf8.cpp — checking and repairing UTF-8.
#include "ca/utf8.h"

#include <array>

namespace edgeca::ca {
namespace {

struct Range {
    char32_t first;
    char32_t last;
};

// General category Cf (format), Unicode 15.0, all of it: each of these is invisible, joins or
// separates its neighbours invisibly, or reorders the text around it (the bidirectional
// embeddings, overrides and isolates behind "Trojan Source", CVE-2021-42574).
constexpr std::array<Range, 21> format_characters = {{
    {0x00AD, 0x00AD},    // SOFT HYPHEN
    {0x0600, 0x0605},    // ARABIC NUMBER SIGN .. ARABIC NUMBER MARK ABOVE
    {0x061C, 0x061C},    // ARABIC LETTER MARK
    {0x06DD, 0x06DD},    // ARABIC END OF AYAH
    {0x070F, 0x070F},    // SYRIAC ABBREVIATION MARK
    {0x0890, 0x0891},    // ARABIC POUND MARK ABOVE, ARABIC PIASTRE MARK ABOVE
    {0x08E2, 0x08E2},    // ARABIC DISPUTED END OF AYAH
    {0x180E, 0x180E},    // MONGOLIAN VOWEL SEPARATOR
    {0x200B, 0x200F},    // ZERO WIDTH SPACE .. RIGHT-TO-LEFT MARK
    {0x202A, 0x202E},    // LEFT-TO-RIGHT EMBEDDING .. RIGHT-TO-LEFT OVERRIDE
    {0x2060, 0x2064},    // WORD JOINER .. INVISIBLE PLUS
    {0x2066, 0x206F},    // LEFT-TO-RIGHT ISOLATE .. NOMINAL DIGIT SHAPES
    {0xFEFF, 0xFEFF},    // ZERO WIDTH NO-BREAK SPACE (byte order mark)
    {0xFFF9, 0xFFFB},    // INTERLINEAR ANNOTATION ANCHOR .. TERMINATOR
    {0x110BD, 0x110BD},  // KAITHI NUMBER SIGN
    {0x110CD, 0x110CD},  // KAITHI NUMBER SIGN ABOVE
    {0x13430, 0x1343F},  // EGYPTIAN HIEROGLYPH VERTICAL JOINER .. END WALLED ENCLOSURE
    {0x1BCA0, 0x1BCA3},  // SHORTHAND FORMAT LETTER OVERLAP .. UP STEP
    {0x1D173, 0x1D17A},  // MUSICAL SYMBOL BEGIN BEAM .. END PHRASE
    {0xE0001, 0xE0001},  // LANGUAGE TAG
    {0xE0020, 0xE007F},  // TAG SPACE .. CANCEL TAG
}};

struct Named {
    char32_t code_point;
    const char* name;
};

constexpr std::array<Named, 20> names = {{
    {0x00AD, "SOFT HYPHEN"},
    {0x061C, "ARABIC LETTER MARK"},
    {0x180E, "MONGOLIAN VOWEL SEPARATOR"},
    {0x200B, "ZERO WIDTH SPACE"},
    {0x200C, "ZERO WIDTH NON-JOINER"},
    {0x200D, "ZERO WIDTH JOINER"},
    {0x200E, "LEFT-TO-RIGHT MARK"},
    {0x200F, "RIGHT-TO-LEFT MARK"},
    {0x202A, "LEFT-TO-RIGHT EMBEDDING"},
    {0x202B, "RIGHT-TO-LEFT EMBEDDING"},
    {0x202C, "POP DIRECTIONAL FORMATTING"},
    {0x202D, "LEFT-TO-RIGHT OVERRIDE"},
    {0x202E, "RIGHT-TO-LEFT OVERRIDE"},
    {0x2060, "WORD JOINER"},
    {0x2066, "LEFT-TO-RIGHT ISOLATE"},
    {0x2067, "RIGHT-TO-LEFT ISOLATE"},
    {0x2068, "FIRST STRONG ISOLATE"},
    {0x2069, "POP DIRECTIONAL ISOLATE"},
    {0xFEFF, "ZERO WIDTH NO-BREAK SPACE"},
    {0xE0001, "LANGUAGE TAG"},
}};

}  // namespace

size_t utf8_sequence_length(std::string_view text, size_t at) {
    const auto byte = [&](size_t i) { return static_cast<unsigned char>(text[i]); };
    const unsigned char lead = byte(at);
    if (lead < 0x80) return 1;
    size_t length = 0;
    unsigned char low = 0x80;  // the range of the second byte, narrowed to refuse overlong
    unsigned char high = 0xbf; // forms, surrogates and code points above U+10FFFF
    if (lead >= 0xc2 && lead <= 0xdf) {
        length = 2;
    } else if (lead >= 0xe0 && lead <= 0xef) {
        length = 3;
        if (lead == 0xe0) low = 0xa0;
        if (lead == 0xed) high = 0x9f;
    } else if (lead >= 0xf0 && lead <= 0xf4) {
        length = 4;
        if (lead == 0xf0) low = 0x90;
        if (lead == 0xf4) high = 0x8f;
    } else {
        return 0;
    }
    if (at + length > text.size()) return 0;
    if (byte(at + 1) < low || byte(at + 1) > high) return 0;
    for (size_t k = 2; k < length; ++k) {
        if ((byte(at + k) & 0xc0) != 0x80) return 0;
    }
    return length;
}

char32_t utf8_code_point(std::string_view text, size_t at, size_t length) {
    const auto byte = [&](size_t i) { return static_cast<char32_t>(static_cast<unsigned char>(text[at + i])); };
    switch (length) {
        case 1:
            return byte(0);
        case 2:
            return (byte(0) & 0x1f) << 6 | (byte(1) & 0x3f);
        case 3:
            return (byte(0) & 0x0f) << 12 | (byte(1) & 0x3f) << 6 | (byte(2) & 0x3f);
        default:
            return (byte(0) & 0x07) << 18 | (byte(1) & 0x3f) << 12 | (byte(2) & 0x3f) << 6 |
                   (byte(3) & 0x3f);
    }
}

const char* hidden_character_kind(char32_t c) {
    if (c < 0x20 || (c >= 0x7f && c <= 0x9f)) return "a control character";
    if (c == 0x2028 || c == 0x2029) return "a line or paragraph separator";
    if ((c >= 0xFDD0 && c <= 0xFDEF) || (c & 0xFFFE) == 0xFFFE) return "a Unicode noncharacter";
    for (const auto& range : format_characters) {
        if (c >= range.first && c <= range.last) {
            return "an invisible or direction-changing format character";
        }
    }
    return nullptr;
}

const char* hidden_character_name(char32_t c) {
    for (const auto& named : names) {
        if (named.code_point == c) return named.name;
    }
    return nullptr;
}

std::string valid_utf8(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    for (size_t i = 0; i < text.size();) {
        if (size_t n = utf8_sequence_length(text, i)) {
            out.append(text.substr(i, n));
            i += n;
        } else {
            out.append("\xef\xbf\xbd");  // U+FFFD REPLACEMENT CHARACTER
            ++i;
        }
    }
    return out;
}

}  // namespace edgeca::ca
