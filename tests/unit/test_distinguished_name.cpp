// tests/unit/test_distinguished_name.cpp — the subject rules, DN text in and out.
#include <doctest/doctest.h>

#include <botan/ber_dec.h>
#include <botan/der_enc.h>
#include <fmt/format.h>

#include <tuple>

#include "ca/distinguished_name.h"
#include "ca/errors.h"

using namespace edgeca::ca;

namespace {

std::string refusal(const std::vector<DnAttribute>& attributes) {
    try {
        build_subject(attributes);
    } catch (const Error& e) {
        return e.code();
    }
    return "accepted";
}

}  // namespace

TEST_CASE("both DN forms parse to the same attributes") {
    auto a = parse_distinguished_name("CN=Edge 7, O=Acme\\, Inc., C=CN");
    auto b = parse_distinguished_name("/C=CN/O=Acme, Inc./CN=Edge 7");
    CHECK(build_subject(a) == build_subject(b));
    CHECK(to_rfc4514(build_subject(a)) == "CN=Edge 7,O=Acme\\, Inc.,C=CN");
    CHECK(common_name_of(build_subject(a)) == "Edge 7");
}

TEST_CASE("the subject keeps the order of the attributes it is given") {
    auto dn = build_subject({{"CN", "x"}, {"OU", "u"}, {"C", "DE"}, {"L", "l"}, {"ST", "s"},
                             {"O", "o"}});
    CHECK(to_rfc4514(dn) == "O=o,ST=s,L=l,C=DE,OU=u,CN=x");
    CHECK(attributes_of(dn).front().key == "CN");
    CHECK(attributes_of(build_subject({{"C", "DE"}, {"O", "o"}, {"CN", "x"}})).front().key == "C");
}

TEST_CASE("subject text keeps today's encoding order for its usual forms") {
    // RFC 4514 is most specific first: the encoding is C, O, CN, as before.
    const std::vector<DnAttribute> c_o_cn = {{"C", "CN"}, {"O", "Acme"}, {"CN", "Edge 7"}};
    CHECK(parse_distinguished_name("CN=Edge 7,O=Acme,C=CN") == c_o_cn);
    CHECK(parse_distinguished_name("/C=CN/O=Acme/CN=Edge 7") == c_o_cn);
    auto full = build_subject(parse_distinguished_name("CN=x,OU=u,O=o,L=l,ST=s,C=DE"));
    std::vector<std::string> keys;
    for (const auto& a : attributes_of(full)) keys.push_back(a.key);
    CHECK(keys == std::vector<std::string>{"C", "ST", "L", "O", "OU", "CN"});
    // Text in another order means another name, and is written as it says.
    CHECK(to_rfc4514(build_subject(parse_distinguished_name("C=CN,O=Acme,CN=Edge 7"))) ==
          "C=CN,O=Acme,CN=Edge 7");
}

namespace {

// A Name as a CSR carries it: one attribute per RDN, each with its own string type.
Botan::X509_DN requested(std::vector<std::tuple<const char*, std::string, Botan::ASN1_Tag>> rdns) {
    Botan::X509_DN dn;
    for (const auto& [oid, value, tag] : rdns) dn.add_attribute(Botan::OID(oid), Botan::ASN1_String(value, tag));
    return dn;
}

std::vector<uint8_t> der(const Botan::X509_DN& dn) {
    std::vector<uint8_t> out;
    Botan::DER_Encoder(out).encode(dn);
    return out;
}

}  // namespace

TEST_CASE("a requested subject is kept byte for byte: its order and its string types") {
    const char* cn = "2.5.4.3";
    const char* o = "2.5.4.10";
    const char* c = "2.5.4.6";
    const char* ou = "2.5.4.11";
    using Botan::PRINTABLE_STRING;
    using Botan::UTF8_STRING;
    for (const auto& request :
         {requested({{cn, "edge-1", UTF8_STRING}, {o, "Acme", UTF8_STRING}, {c, "CN", PRINTABLE_STRING}}),
          requested({{c, "CN", PRINTABLE_STRING}, {o, "Acme", UTF8_STRING}, {cn, "edge-1", UTF8_STRING}}),
          requested({{o, "Acme", PRINTABLE_STRING}, {cn, "edge-1", UTF8_STRING}, {c, "DE", PRINTABLE_STRING},
                     {ou, "Gr\xc3\xbcn", UTF8_STRING}}),
          requested({{cn, "edge 1", PRINTABLE_STRING}})}) {
        CAPTURE(to_rfc4514(request));
        auto subject = build_requested_subject(request);
        CHECK(der(subject) == der(request));
        CHECK(attributes_of(subject) == attributes_of(request));
    }
    // C is always a PrintableString (X520countryName), whatever the request used.
    auto country = build_requested_subject(requested({{cn, "edge-1", UTF8_STRING}, {c, "CN", UTF8_STRING}}));
    CHECK(country.dn_info()[0].second.tagging() == UTF8_STRING);
    CHECK(country.dn_info()[1].second.tagging() == PRINTABLE_STRING);
    // Other string types become PrintableString or UTF8String, the only ones RFC 5280 lets a CA
    // write: a BMPString CN "edge-1", decoded as a CSR's subject is.
    std::vector<uint8_t> bmp_name;
    const uint8_t bmp[] = {0, 'e', 0, 'd', 0, 'g', 0, 'e', 0, '-', 0, '1'};
    Botan::DER_Encoder(bmp_name)
        .start_cons(Botan::SEQUENCE)
        .start_cons(Botan::SET)
        .start_cons(Botan::SEQUENCE)
        .encode(Botan::OID(cn))
        .add_object(Botan::BMP_STRING, Botan::UNIVERSAL, bmp, sizeof bmp)
        .end_cons()
        .end_cons()
        .end_cons();
    Botan::X509_DN decoded;
    Botan::BER_Decoder(bmp_name).decode(decoded);
    REQUIRE(decoded.dn_info()[0].second.tagging() == Botan::BMP_STRING);
    auto rewritten = build_requested_subject(decoded);
    CHECK(common_name_of(rewritten) == "edge-1");
    CHECK(rewritten.dn_info()[0].second.tagging() == PRINTABLE_STRING);
}

TEST_CASE("subject refusals each name their rule") {
    CHECK(refusal({{"O", "Acme"}}) == "subject_cn_missing");
    CHECK(refusal({{"CN", "a"}, {"CN", "b"}}) == "subject_attribute_repeated");
    CHECK(refusal({{"CN", "a"}, {"C", "CHN"}}) == "subject_country_invalid");
    CHECK(refusal({{"CN", "a"}, {"C", "c"}}) == "subject_country_invalid");
    CHECK(refusal({{"CN", std::string(65, 'x')}}) == "subject_attribute_too_long");
    CHECK(refusal({{"CN", std::string(64, 'x')}}) == "accepted");
    CHECK(refusal({{"CN", std::string(1 << 20, 'x')}}) == "subject_attribute_too_long");
    CHECK(refusal({{"CN", std::string("a\0b", 3)}}) == "subject_attribute_invalid");
    CHECK(refusal({{"CN", "tab\there"}}) == "subject_attribute_invalid");
    CHECK(refusal({{"CN", ""}}) == "subject_attribute_empty");
    // Surrounding spaces would make "edge-1 " a second device that reads as "edge-1".
    CHECK(refusal({{"CN", "edge-1 "}}) == "subject_attribute_invalid");
    CHECK(refusal({{"CN", " edge-1"}}) == "subject_attribute_invalid");
    CHECK(refusal({{"CN", "a"}, {"O", "Acme "}}) == "subject_attribute_invalid");
    CHECK(refusal({{"CN", "edge 1"}}) == "accepted");
    CHECK(refusal({{"CN", "\xff\xfe"}}) == "subject_attribute_invalid");
    // 64 characters of two bytes each are within the limit: it counts characters, not bytes.
    std::string umlauts;
    for (int i = 0; i < 64; ++i) umlauts += "\xc3\xa4";
    CHECK(refusal({{"CN", umlauts}}) == "accepted");
}

TEST_CASE("invisible and direction-changing characters are refused in every attribute") {
    // U+202E RIGHT-TO-LEFT OVERRIDE makes "edge-1\u202Etxt.exe" read as "edge-1exe.txt".
    const std::vector<std::pair<std::string, std::string>> hidden = {
        {"\u00AD", "U+00AD (SOFT HYPHEN)"},
        {"\u061C", "U+061C (ARABIC LETTER MARK)"},
        {"\u180E", "U+180E (MONGOLIAN VOWEL SEPARATOR)"},
        {"\u200B", "U+200B (ZERO WIDTH SPACE)"},
        {"\u200C", "U+200C"}, {"\u200D", "U+200D"}, {"\u200E", "U+200E"},
        {"\u200F", "U+200F (RIGHT-TO-LEFT MARK)"},
        {"\u202A", "U+202A"}, {"\u202B", "U+202B"}, {"\u202C", "U+202C"}, {"\u202D", "U+202D"},
        {"\u202E", "U+202E (RIGHT-TO-LEFT OVERRIDE)"},
        {"\u2060", "U+2060 (WORD JOINER)"}, {"\u2061", "U+2061"}, {"\u2062", "U+2062"},
        {"\u2063", "U+2063"}, {"\u2064", "U+2064"},
        {"\u2066", "U+2066 (LEFT-TO-RIGHT ISOLATE)"}, {"\u2067", "U+2067"}, {"\u2068", "U+2068"},
        {"\u2069", "U+2069 (POP DIRECTIONAL ISOLATE)"}, {"\u206A", "U+206A"}, {"\u206F", "U+206F"},
        {"\uFEFF", "U+FEFF (ZERO WIDTH NO-BREAK SPACE)"},
        {"\u0600", "U+0600"}, {"\uFFF9", "U+FFF9"}, {"\U000110BD", "U+110BD"},
        {"\U0001343F", "U+1343F"}, {"\U0001D173", "U+1D173"}, {"\U000E0001", "U+E0001 (LANGUAGE TAG)"},
        {"\U000E0041", "U+E0041"}, {"\U000E007F", "U+E007F"},
    };
    for (const auto& entry : hidden) {
        // Named copies: clang 14 does not let CAPTURE's lambda see a structured binding.
        const std::string& character = entry.first;
        const std::string& says = entry.second;
        CAPTURE(says);
        for (const char* key : {"CN", "O", "OU", "L", "ST"}) {
            std::vector<DnAttribute> attributes = {{"CN", "edge-1"}};
            std::string value = "edge" + character + "1";
            if (std::string(key) == "CN") {
                attributes[0].value = value;
            } else {
                attributes.push_back({key, value});
            }
            CHECK(refusal(attributes) == "subject_character_not_allowed");
            const std::string message = fmt::format("subject attribute {} contains {}", key, says);
            CHECK_THROWS_WITH(build_subject(attributes), doctest::Contains(message.c_str()));
        }
    }
    CHECK(refusal({{"CN", "a"}, {"C", "C\u200B"}}) == "subject_character_not_allowed");
    CHECK_THROWS_WITH(build_subject(std::vector<DnAttribute>{{"CN", "edge\u202E1"}}),
                      doctest::Contains("an invisible or direction-changing format character"));
}

TEST_CASE("noncharacters, C1 controls and line separators are refused too") {
    for (const char* noncharacter : {"\uFDD0", "\uFDEF", "\xef\xbf\xbe" /* U+FFFE */, "\xef\xbf\xbf",
                                     "\xf0\x9f\xbf\xbe" /* U+1FFFE */, "\xf4\x8f\xbf\xbf" /* U+10FFFF */}) {
        CAPTURE(noncharacter);
        CHECK(refusal({{"CN", std::string("edge") + noncharacter}}) == "subject_character_not_allowed");
        CHECK_THROWS_WITH(build_subject({{"CN", std::string("edge") + noncharacter}}),
                          doctest::Contains("a Unicode noncharacter"));
    }
    CHECK(refusal({{"CN", "edge\u2028"}}) == "subject_character_not_allowed");
    CHECK(refusal({{"CN", "edge\u2029"}}) == "subject_character_not_allowed");
    for (const char* c1 : {"\xc2\x80", "\xc2\x85", "\xc2\x9b", "\xc2\x9f"}) {
        CAPTURE(c1);
        CHECK(refusal({{"CN", std::string("edge") + c1}}) == "subject_character_not_allowed");
        CHECK_THROWS_WITH(build_subject({{"CN", std::string("edge") + c1}}), doctest::Contains("a control character"));
    }
    // Visible text of other scripts, and the neighbours of the refused ranges, stay allowed.
    for (const char* visible : {"\u00AC\u00AE", "\u05D0\u05D1", "\u0627\u0644", "\u4E2D\u6587",
                                "\u2010", "\u2070", "\u200A", "\u2065" /* unassigned, not Cf */,
                                "\uFDCF", "\uFDF0", "\uFFFD", "\U0001F512"}) {
        CAPTURE(visible);
        CHECK(refusal({{"CN", std::string("edge") + visible}}) == "accepted");
    }
}

TEST_CASE("attributes other than C, ST, L, O, OU, CN are refused") {
    CHECK_THROWS_WITH(parse_distinguished_name("CN=a,emailAddress=x@y"),
                      doctest::Contains("not allowed"));
    Botan::X509_DN dn;
    dn.add_attribute("X520.CommonName", "a");
    dn.add_attribute("X520.SerialNumber", "123");
    CHECK_THROWS_AS(attributes_of(dn), Error);
}

TEST_CASE("malformed subject text is refused") {
    CHECK_THROWS_WITH(parse_distinguished_name(""), doctest::Contains("empty"));
    CHECK_THROWS_WITH(parse_distinguished_name("CN"), doctest::Contains("KEY=VALUE"));
    CHECK_THROWS_WITH(parse_distinguished_name("CN=a+O=b"), doctest::Contains("multi-valued"));
    CHECK_THROWS_WITH(parse_distinguished_name("CN=a\\"), doctest::Contains("backslash"));
}
