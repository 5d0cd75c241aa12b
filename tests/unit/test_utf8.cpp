// tests/unit/test_utf8.cpp — RFC 3629 UTF-8: what the subject rules take, what messages carry.
#include <doctest/doctest.h>

#include "ca/distinguished_name.h"
#include "ca/errors.h"
#include "ca/utf8.h"

using namespace edgeca::ca;

TEST_CASE("well-formed sequences of one to four bytes are taken whole") {
    CHECK(utf8_sequence_length("a", 0) == 1);
    CHECK(utf8_sequence_length("\xc3\xa9", 0) == 2);          // é
    CHECK(utf8_sequence_length("\xe2\x82\xac", 0) == 3);      // €
    CHECK(utf8_sequence_length("\xf0\x9f\x94\x92", 0) == 4);  // 🔒
    CHECK(utf8_sequence_length("\xf4\x8f\xbf\xbf", 0) == 4);  // U+10FFFF
    CHECK(utf8_sequence_length("x\xc3\xa9", 1) == 2);
}

TEST_CASE("stray, truncated, overlong, surrogate and out-of-range sequences are refused") {
    CHECK(utf8_sequence_length("\x80", 0) == 0);              // a continuation byte alone
    CHECK(utf8_sequence_length("\xe2\x82", 0) == 0);          // truncated
    CHECK(utf8_sequence_length("\xc0\xaf", 0) == 0);          // "/" overlong in two bytes
    CHECK(utf8_sequence_length("\xe0\x80\xaf", 0) == 0);      // "/" overlong in three bytes
    CHECK(utf8_sequence_length("\xf0\x80\x80\xaf", 0) == 0);  // "/" overlong in four bytes
    CHECK(utf8_sequence_length("\xed\xa0\x80", 0) == 0);      // U+D800, a surrogate
    CHECK(utf8_sequence_length("\xf4\x90\x80\x80", 0) == 0);  // above U+10FFFF
    CHECK(utf8_sequence_length("\xff", 0) == 0);
    CHECK(utf8_sequence_length("\xc3\x28", 0) == 0);          // lead byte, then no continuation
}

TEST_CASE("valid_utf8 keeps text and replaces each bad byte with U+FFFD") {
    CHECK(valid_utf8("edge-1 \xc3\xa9") == "edge-1 \xc3\xa9");
    CHECK(valid_utf8("a\xff" "b") == "a\xef\xbf\xbd" "b");
    // A value cut inside a character, as a message that quotes 16 bytes of it would cut it.
    std::string cut = std::string(15, 'a') + "\xc3";
    CHECK(valid_utf8(cut) == std::string(15, 'a') + "\xef\xbf\xbd");
    CHECK(valid_utf8("") == "");
}

TEST_CASE("an error's message is always valid UTF-8, whatever it quotes") {
    Error e(ErrorKind::bad_input, "malformed_serial", "not hex: '\xe8x0a1b'");
    CHECK(std::string(e.what()) == "not hex: '\xef\xbf\xbdx0a1b'");
    CHECK(e.code() == "malformed_serial");
}

TEST_CASE("a subject holding an overlong or surrogate sequence is refused") {
    for (const char* value : {"edge\xc0\xaf" "1", "edge\xed\xa0\x80"}) {
        CAPTURE(value);
        CHECK_THROWS_WITH(build_subject({{"CN", value}}), doctest::Contains("not valid UTF-8"));
    }
}
