// tests/unit/test_distinguished_name.cpp — the subject rules, DN text in and out.
#include <doctest/doctest.h>

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

TEST_CASE("the subject is rebuilt in canonical order C, ST, L, O, OU, CN") {
    auto dn = build_subject({{"CN", "x"}, {"OU", "u"}, {"C", "DE"}, {"L", "l"}, {"ST", "s"},
                             {"O", "o"}});
    CHECK(to_rfc4514(dn) == "CN=x,OU=u,O=o,L=l,ST=s,C=DE");
    CHECK(attributes_of(dn).front().key == "C");
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
