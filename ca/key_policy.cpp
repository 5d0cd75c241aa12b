// ca/key_policy.cpp — RSA-2048 only, for every key this CA certifies or signs with, and none
// that is weak: a small factor, two primes close enough for Fermat's method, or a known list.
#include "ca/key_policy.h"

#include <botan/hash.h>
#include <botan/hex.h>
#include <botan/numthry.h>
#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cctype>

#include "ca/errors.h"

namespace edgeca::ca {
namespace {

[[noreturn]] void weak(std::string_view whose, const std::string& why) {
    throw Error(ErrorKind::policy, "key_weak",
                fmt::format("{} is a weak RSA key: {}; make a new key pair", whose, why));
}

// The first prime of `n` below KeyPolicy::small_prime_bound, or 0.
uint16_t small_factor(const Botan::BigInt& n) {
    if (n.is_even()) return 2;
    for (size_t i = 0; i < Botan::PRIME_TABLE_SIZE && Botan::PRIMES[i] < KeyPolicy::small_prime_bound; ++i) {
        if (n % static_cast<Botan::word>(Botan::PRIMES[i]) == 0) return Botan::PRIMES[i];
    }
    return 0;
}

// floor(sqrt(n)) by Newton's iteration from above; each step at least halves the error.
Botan::BigInt integer_sqrt(const Botan::BigInt& n) {
    Botan::BigInt x = Botan::BigInt::power_of_2((n.bits() + 1) / 2);
    for (;;) {
        Botan::BigInt y = (x + n / x) >> 1;
        if (y >= x) return x;
        x = y;
    }
}

// Squares modulo 64, 63, 65 and 11 leave only these residues: a number failing one of them is
// no square, which rules out about 99% of the candidates without a square root.
class SquareFilter {
public:
    static constexpr uint32_t modulus = 64 * 63 * 65 * 11;

    SquareFilter() {
        for (uint32_t m : {64u, 63u, 65u, 11u}) {
            auto& table = tables_[index(m)];
            table.assign(m, false);
            for (uint32_t x = 0; x < m; ++x) table[x * x % m] = true;
        }
    }
    bool may_be_square(uint32_t residue) const {
        return std::all_of(moduli.begin(), moduli.end(),
                           [&](uint32_t m) { return tables_[index(m)][residue % m]; });
    }

private:
    static constexpr std::array<uint32_t, 4> moduli = {64, 63, 65, 11};
    static size_t index(uint32_t m) { return std::find(moduli.begin(), moduli.end(), m) - moduli.begin(); }
    std::array<std::vector<bool>, 4> tables_;
};

// Fermat's method: n = a^2 - b^2 = (a + b)(a - b), trying a = ceil(sqrt(n)), ceil(sqrt(n)) + 1,
// ... Returns the number of steps that found b (1 for the first), or 0.
int fermat_steps(const Botan::BigInt& n, int rounds) {
    static const SquareFilter filter;
    constexpr Botan::word m = SquareFilter::modulus;
    Botan::BigInt a = integer_sqrt(n);
    if (a * a < n) a += 1;
    Botan::BigInt b2 = a * a - n;
    // b2 and a modulo m, stepped along with them: b2 + 2a + 1 is the next b2.
    Botan::word b2_mod = b2 % m;
    Botan::word a_mod = a % m;
    for (int step = 1; step <= rounds; ++step) {
        if (filter.may_be_square(static_cast<uint32_t>(b2_mod)) &&
            (b2.is_zero() || !Botan::is_perfect_square(b2).is_zero())) {
            return step;
        }
        b2 += (a << 1) + 1;
        a += 1;
        b2_mod = (b2_mod + 2 * a_mod + 1) % m;
        a_mod = (a_mod + 1) % m;
    }
    return 0;
}

std::string modulus_suffix(const Botan::BigInt& n) {
    auto sha1 = Botan::HashFunction::create_or_throw("SHA-1");
    sha1->update(fmt::format("Modulus={}\n", Botan::hex_encode(Botan::BigInt::encode(n), true)));
    const auto digest = sha1->final();
    return Botan::hex_encode(digest.data() + 10, 10, false);
}

}  // namespace

WeakKeyList WeakKeyList::parse(std::string_view text, std::string_view source) {
    WeakKeyList list;
    size_t line_number = 0;
    while (!text.empty()) {
        const size_t end = std::min(text.find('\n'), text.size());
        std::string line(text.substr(0, end));
        text.remove_prefix(std::min(end + 1, text.size()));
        ++line_number;
        while (!line.empty() && std::isspace(static_cast<unsigned char>(line.back()))) line.pop_back();
        if (line.empty() || line.front() == '#') continue;
        const bool hex = std::all_of(line.begin(), line.end(),
                                     [](unsigned char c) { return std::isxdigit(c) != 0; });
        if (!hex || (line.size() != 40 && line.size() != 20)) {
            throw Error(ErrorKind::bad_input, "weak_keys_invalid",
                        fmt::format("{} line {}: expected a SHA-1 of 40 hex digits or its last 20, "
                                    "as openssl-blacklist writes them",
                                    source, line_number));
        }
        std::transform(line.begin(), line.end(), line.begin(),
                       [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
        list.suffixes_.insert(line.substr(line.size() - 20));
    }
    return list;
}

bool WeakKeyList::contains(const Botan::BigInt& modulus) const {
    return !suffixes_.empty() && suffixes_.count(modulus_suffix(modulus)) != 0;
}

void KeyPolicy::check(const PublicKeyInfo& key, std::string_view whose, const WeakKeyList* known_weak) {
    if (!key.modulus || !key.exponent) {
        throw Error(ErrorKind::policy, "key_not_rsa",
                    fmt::format("{} is {}, but only RSA 2048-bit keys are accepted", whose,
                                key.algorithm_name));
    }
    const Botan::BigInt& n = *key.modulus;
    const Botan::BigInt& e = *key.exponent;
    if (n.bits() != modulus_bits) {
        throw Error(ErrorKind::policy, "key_size_not_2048",
                    fmt::format("{} is RSA {}-bit, but only RSA 2048-bit keys are accepted",
                                whose, n.bits()));
    }
    // Stricter than goodkey's exponent rule (odd, 2^16 < e < 2^256), which 65537 satisfies.
    if (e != Botan::BigInt(public_exponent)) {
        throw Error(ErrorKind::policy, "key_exponent_not_65537",
                    fmt::format("{} has public exponent {}, but only 65537 is accepted", whose,
                                e.bits() <= 64 ? e.to_dec_string() : std::string("(very large)")));
    }
    // A product of two large primes has no small factor. (Botan refuses an even modulus already
    // when it decodes a key.)
    if (uint16_t p = small_factor(n)) {
        weak(whose, fmt::format("its modulus is divisible by {}, so it is not a product of two "
                                "large primes",
                                p));
    }
    if (int steps = fermat_steps(n, fermat_rounds)) {
        weak(whose, fmt::format("its modulus was factored by Fermat's method in {} step{} (its "
                                "two primes are too close together)",
                                steps, steps == 1 ? "" : "s"));
    }
    if (known_weak != nullptr && known_weak->contains(n)) {
        weak(whose, "its modulus is on the list of known weak keys (weak_keys_file)");
    }
}

}  // namespace edgeca::ca
