// tests/unit/test_encoding.cpp — strict PEM and DER framing of what peers send.
#include <doctest/doctest.h>

#include "ca/encoding.h"
#include "ca/errors.h"
#include "tests/unit/test_support.h"

using namespace edgeca;
using namespace edgeca::ca;

namespace {

const std::vector<uint8_t> der = {0x30, 0x03, 0x02, 0x01, 0x05};  // SEQUENCE { INTEGER 5 }


}  // namespace

TEST_CASE("a single PEM block round-trips") {
    auto pem = encode_pem(der, "CERTIFICATE REQUEST");
    CHECK(decode_single_pem(pem, {"CERTIFICATE REQUEST"}, "the CSR") == der);
    CHECK(decode_single_pem("\n\n  " + pem + "\n\n", {"CERTIFICATE REQUEST"}, "the CSR") == der);
    CHECK(looks_like_pem(as_bytes("  \n-----BEGIN X-----")));
    CHECK_FALSE(looks_like_pem(der));
}

TEST_CASE("PEM with headers, several blocks, garbage or a wrong label is refused") {
    auto pem = encode_pem(der, "CERTIFICATE REQUEST");
    auto with_header = std::string("-----BEGIN CERTIFICATE REQUEST-----\nProc-Type: 4,ENCRYPTED\n") +
                       pem.substr(pem.find('\n') + 1);
    CHECK(test::error_code([&] { decode_single_pem(with_header, {"CERTIFICATE REQUEST"}, "x"); }) ==
          "malformed_pem");
    CHECK_THROWS_WITH(decode_single_pem(pem + pem, {"CERTIFICATE REQUEST"}, "the CSR"),
                      doctest::Contains("2 PEM blocks"));
    CHECK_THROWS_WITH(decode_single_pem(pem + "garbage", {"CERTIFICATE REQUEST"}, "the CSR"),
                      doctest::Contains("data after its last PEM block"));
    CHECK_THROWS_WITH(decode_single_pem(encode_pem(der, "CERTIFICATE"), {"CERTIFICATE REQUEST"},
                                        "the CSR"),
                      doctest::Contains("not a 'CERTIFICATE REQUEST'"));
    CHECK(test::error_code([] {
              decode_single_pem("-----BEGIN X-----\nMAA*\n-----END X-----\n", {"X"}, "x");
          }) == "malformed_pem");
    CHECK(test::error_code([] { decode_single_pem("-----BEGIN X-----\nMAA=\n", {"X"}, "x"); }) ==
          "malformed_pem");
    CHECK(test::error_code([] { decode_single_pem("", {"X"}, "x"); }) == "malformed_pem");
}

TEST_CASE("DER must be exactly one object") {
    CHECK_NOTHROW(require_single_der_object(der, "the CSR"));
    auto trailing = der;
    trailing.push_back(0x00);
    CHECK_THROWS_WITH(require_single_der_object(trailing, "the CSR"),
                      doctest::Contains("trailing bytes"));
    std::vector<uint8_t> truncated(der.begin(), der.end() - 1);
    CHECK(test::error_code([&] { require_single_der_object(truncated, "x"); }) == "malformed_der");
    CHECK(test::error_code([] { require_single_der_object({}, "x"); }) == "malformed_der");
}

TEST_CASE("hex and SHA-256") {
    CHECK(to_hex(der) == "3003020105");
    CHECK(sha256_hex(as_bytes("abc")) ==
          "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}
