// ca/utf8.cpp — checking and repairing UTF-8.
#include "ca/utf8.h"

namespace edgeca::ca {

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
