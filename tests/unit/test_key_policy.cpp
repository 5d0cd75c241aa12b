// tests/unit/test_key_policy.cpp — RSA 2048-bit with exponent 65537, and nothing else.
#include <doctest/doctest.h>

#include <botan/rsa.h>

#include "ca/errors.h"
#include "ca/key_policy.h"
#include "tests/unit/test_support.h"

using namespace edgeca;

namespace {

std::string refusal(const Botan::Public_Key& key) {
    try {
        ca::KeyPolicy::check(key, "the CSR's key");
    } catch (const ca::Error& e) {
        CHECK(e.kind() == ca::ErrorKind::policy);
        return e.code();
    }
    return "accepted";
}

}  // namespace

TEST_CASE("RSA-2048 with exponent 65537 is accepted") {
    CHECK(refusal(test::rsa_key(2048)) == "accepted");
}

TEST_CASE("other RSA sizes are refused, naming the size") {
    CHECK(refusal(test::rsa_key(1024)) == "key_size_not_2048");
    CHECK(refusal(test::rsa_key(2047)) == "key_size_not_2048");
    CHECK(refusal(test::rsa_key(2049)) == "key_size_not_2048");
    CHECK(refusal(test::rsa_key(4096)) == "key_size_not_2048");
    CHECK_THROWS_WITH(ca::KeyPolicy::check(test::rsa_key(1024), "the CSR's key"),
                      doctest::Contains("RSA 1024-bit"));
}

TEST_CASE("exponent 3 is refused") { CHECK(refusal(test::rsa_key(2048, 3)) == "key_exponent_not_65537"); }

TEST_CASE("an even modulus cannot even be loaded, and one with a small factor is refused") {
    const auto& good = dynamic_cast<const Botan::RSA_PublicKey&>(test::rsa_key(2048));
    // Botan refuses an even modulus when the key is decoded, before the policy sees it.
    CHECK_THROWS(Botan::RSA_PublicKey(good.get_n() - 1, 65537));
    Botan::BigInt multiple_of_3 = good.get_n() - (good.get_n() % 3) - 3;
    if (multiple_of_3.is_even()) multiple_of_3 -= 3;
    REQUIRE(multiple_of_3.bits() == 2048);
    Botan::RSA_PublicKey small_factor(multiple_of_3, 65537);
    CHECK(refusal(small_factor) == "key_invalid");
}

TEST_CASE("EC and Ed25519 keys are refused as not RSA") {
    CHECK(refusal(test::ec_key()) == "key_not_rsa");
    CHECK(refusal(test::ed25519_key()) == "key_not_rsa");
    CHECK_THROWS_WITH(ca::KeyPolicy::check(test::ec_key(), "the CSR's key"),
                      doctest::Contains("only RSA 2048-bit keys are accepted"));
}
