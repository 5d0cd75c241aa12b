// tests/unit/test_key_policy.cpp — RSA 2048-bit with exponent 65537, and nothing else.
#include <doctest/doctest.h>

#include <botan/hash.h>
#include <botan/hex.h>
#include <botan/numthry.h>
#include <botan/rsa.h>
#include <fmt/format.h>

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
    CHECK(refusal(small_factor) == "key_weak");
}

namespace {

// A 2048-bit modulus: the product of `factors` and of primes filling the remaining bits.
Botan::BigInt modulus_with(const std::vector<Botan::BigInt>& factors) {
    for (int attempt = 0; attempt < 200; ++attempt) {
        Botan::BigInt n = 1;
        for (const auto& f : factors) n *= f;
        const size_t rest = 2048 - n.bits() + 1;
        n *= Botan::random_prime(test::rng(), rest / 2);
        n *= Botan::random_prime(test::rng(), rest - rest / 2);
        if (n.bits() == 2048) return n;
    }
    FAIL("no 2048-bit modulus in 200 attempts");
    return 0;
}

// Two 1024-bit primes, the second the first prime after p + distance.
std::pair<Botan::BigInt, Botan::BigInt> primes_apart(const Botan::BigInt& distance) {
    for (int attempt = 0; attempt < 50; ++attempt) {
        Botan::BigInt p = Botan::random_prime(test::rng(), 1024);
        Botan::BigInt q = p + distance;
        if (q.is_even()) q += 1;
        for (int step = 0; step < 100000 && !Botan::is_prime(q, test::rng(), 64); ++step) q += 2;
        if ((p * q).bits() == 2048) return {p, q};
    }
    FAIL("no pair of primes");
    return {};
}

std::string why_refused(const Botan::BigInt& n, const ca::WeakKeyList* list = nullptr) {
    try {
        ca::KeyPolicy::check(ca::PublicKeyInfo::of(Botan::RSA_PublicKey(n, 65537)), "the CSR's key", list);
    } catch (const ca::Error& e) {
        return e.code() + ": " + e.what();
    }
    return "accepted";
}

}  // namespace

TEST_CASE("a modulus with a prime factor below 752 is weak, naming the factor") {
    for (Botan::word factor : {3, 5, 53, 101, 743, 751}) {
        CAPTURE(factor);
        const auto n = modulus_with({Botan::BigInt(factor)});
        CHECK(why_refused(n) == fmt::format("key_weak: the CSR's key is a weak RSA key: its modulus is "
                                            "divisible by {}, so it is not a product of two large "
                                            "primes; make a new key pair",
                                            factor));
    }
    // 757 is the first prime past goodkey's bound: such a modulus is found by nothing here.
    CHECK(why_refused(modulus_with({Botan::BigInt(757)})) == "accepted");
    // With several small factors, the smallest is named, in one group of primes or two.
    CHECK(why_refused(modulus_with({Botan::BigInt(743), Botan::BigInt(7)})).find("divisible by 7,") != std::string::npos);
    CHECK(why_refused(modulus_with({Botan::BigInt(13), Botan::BigInt(3)})).find("divisible by 3,") != std::string::npos);
}

namespace {

// Fermat's method written as plainly as it can be, to hold the policy's faster form to: the
// steps from a = ceil(sqrt(n)) to the first a with a^2 - n a square, or 0 after `rounds`.
int plain_fermat_steps(const Botan::BigInt& n, int rounds) {
    Botan::BigInt a = Botan::BigInt::power_of_2((n.bits() + 1) / 2);
    for (;;) {
        Botan::BigInt y = (a + n / a) >> 1;
        if (y >= a) break;
        a = y;
    }
    if (a * a < n) a += 1;
    for (int step = 1; step <= rounds; ++step, a += 1) {
        const Botan::BigInt b2 = a * a - n;
        if (b2.is_zero() || !Botan::is_perfect_square(b2).is_zero()) return step;
    }
    return 0;
}

}  // namespace

TEST_CASE("integer_sqrt is floor(sqrt(n)): at squares, beside them, and at every size to 4,096 bits") {
    auto is_floor_sqrt = [](const Botan::BigInt& s, const Botan::BigInt& n) {
        return s * s <= n && (s + 1) * (s + 1) > n;
    };
    for (uint64_t n = 0; n < 2000; ++n) {
        CAPTURE(n);
        CHECK(is_floor_sqrt(ca::integer_sqrt(Botan::BigInt(n)), Botan::BigInt(n)));
    }
    for (size_t bits = 1; bits <= 4096; bits += bits < 300 ? 1 : 61) {
        CAPTURE(bits);
        Botan::BigInt n(test::rng(), bits);  // top bit set: exactly `bits` bits
        CHECK(is_floor_sqrt(ca::integer_sqrt(n), n));
        // A square and its neighbours, where a root one too large or too small shows first.
        Botan::BigInt m(test::rng(), (bits + 1) / 2);
        const Botan::BigInt square = m * m;
        CHECK(ca::integer_sqrt(square) == m);
        CHECK(ca::integer_sqrt(square + 1) == m);
        CHECK(ca::integer_sqrt(square - 1) == m - 1);
        CHECK(ca::integer_sqrt(square + (m << 1)) == m);  // (m + 1)^2 - 1
    }
    // The largest of each size: all ones.
    for (size_t bits : {127, 128, 129, 2047, 2048, 2049}) {
        CAPTURE(bits);
        const Botan::BigInt n = Botan::BigInt::power_of_2(bits) - 1;
        CHECK(is_floor_sqrt(ca::integer_sqrt(n), n));
    }
}

TEST_CASE("the Fermat check finds what the plain method finds, in the same number of steps") {
    std::vector<Botan::BigInt> moduli;
    for (size_t bits : {1, 64, 300, 500, 510, 514, 515, 516, 517, 520}) {
        auto [p, q] = primes_apart(Botan::BigInt::power_of_2(bits));
        moduli.push_back(p * q);
    }
    const Botan::BigInt p = Botan::random_prime(test::rng(), 1024);
    moduli.push_back(p * p);  // a square: b = 0 at the first step
    for (const auto& n : moduli) {
        REQUIRE(n.bits() == 2048);
        const int steps = plain_fermat_steps(n, ca::KeyPolicy::fermat_rounds);
        CAPTURE(steps);
        const std::string verdict = why_refused(n);
        if (steps == 0) {
            CHECK(verdict == "accepted");
        } else {
            CHECK(verdict.find(fmt::format("factored by Fermat's method in {} step", steps)) != std::string::npos);
        }
    }
}

TEST_CASE("primes close enough for Fermat's method are weak, however many steps it takes") {
    // Neighbouring primes: a = ceil(sqrt(n)) is (p + q) / 2, found at once.
    auto [p, q] = primes_apart(2);
    CHECK(why_refused(p * q).starts_with("key_weak: the CSR's key is a weak RSA key: its modulus "
                                         "was factored by Fermat's method in 1 step "));
    // 2^516 apart: a starts (q - p)^2 / (8 sqrt(n)) below (p + q) / 2, 32 to 43 steps (Botan's
    // 1024-bit primes lie between 1.5 * 2^1023 and 2^1024).
    auto [p2, q2] = primes_apart(Botan::BigInt::power_of_2(516));
    const std::string found = why_refused(p2 * q2);
    CHECK(found.find("factored by Fermat's method in ") != std::string::npos);
    CHECK(found.find(" 1 step ") == std::string::npos);
    // 2^530 apart: about 2^33 steps, far past the 100 goodkey tries. (Random primes of a real
    // key are some 2^1020 apart.)
    auto [p3, q3] = primes_apart(Botan::BigInt::power_of_2(530));
    CHECK(why_refused(p3 * q3) == "accepted");
    // The check stops after its 100 steps: 2^517 apart takes 128 to 171.
    auto [p4, q4] = primes_apart(Botan::BigInt::power_of_2(517));
    CHECK(why_refused(p4 * q4) == "accepted");
}

TEST_CASE("a known weak modulus is refused when a list of them is configured") {
    // SHA-1("Modulus=8000...3039\n") of n = 2^2047 + 12345, computed with Python's hashlib.
    const Botan::BigInt listed = Botan::BigInt::power_of_2(2047) + 12345;
    for (const char* entry : {"a500375996c5ee8baa0aba17a85b862f5e092900", "A500375996C5EE8BAA0ABA17A85B862F5E092900",
                              "ba17a85b862f5e092900" /* Debian's form: the last 20 digits */}) {
        CAPTURE(entry);
        auto list = ca::WeakKeyList::parse(fmt::format("# openssl-blacklist\n\n{}\r\n", entry), "weak.txt");
        CHECK(list.size() == 1);
        CHECK(list.contains(listed));
        CHECK_FALSE(list.contains(listed + 2));
    }
    // Through the policy: a good key, listed, is refused; not listed, accepted.
    const auto& good = dynamic_cast<const Botan::RSA_PublicKey&>(test::rsa_key(2048));
    auto sha1 = Botan::HashFunction::create_or_throw("SHA-1");
    sha1->update(fmt::format("Modulus={}\n", Botan::hex_encode(Botan::BigInt::encode(good.get_n()))));
    const auto list = ca::WeakKeyList::parse(Botan::hex_encode(sha1->final()), "weak.txt");
    CHECK(why_refused(good.get_n(), &list) ==
          "key_weak: the CSR's key is a weak RSA key: its modulus is on the list of known weak keys "
          "(weak_keys_file); make a new key pair");
    const auto other = ca::WeakKeyList::parse("0123456789abcdef0123", "weak.txt");
    CHECK(why_refused(good.get_n(), &other) == "accepted");
    CHECK(why_refused(good.get_n()) == "accepted");
}

TEST_CASE("a weak-key file with anything but fingerprints is refused, naming the line") {
    for (const char* text : {"xyz\n", "a500375996c5ee8baa0aba17a85b862f5e09290\n", "# ok\n\nnot hex at all\n",
                             "a500375996c5ee8baa0aba17a85b862f5e092900 extra\n"}) {
        CAPTURE(text);
        CHECK(test::error_code([&] { ca::WeakKeyList::parse(text, "weak.txt"); }) == "weak_keys_invalid");
    }
    CHECK_THROWS_WITH(ca::WeakKeyList::parse("# header\n\nxyz\n", "weak.txt"), doctest::Contains("weak.txt line 3"));
}

TEST_CASE("EC and Ed25519 keys are refused as not RSA") {
    CHECK(refusal(test::ec_key()) == "key_not_rsa");
    CHECK(refusal(test::ed25519_key()) == "key_not_rsa");
    CHECK_THROWS_WITH(ca::KeyPolicy::check(test::ec_key(), "the CSR's key"),
                      doctest::Contains("only RSA 2048-bit keys are accepted"));
}
