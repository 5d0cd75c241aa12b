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
#include <limits>
#include <vector>

#include "ca/errors.h"

namespace edgeca::ca {
namespace {

[[noreturn]] void weak(std::string_view whose, const std::string& why) {
    throw Error(ErrorKind::policy, "key_weak",
                fmt::format("{} is a weak RSA key: {}; make a new key pair", whose, why));
}

// The odd primes below KeyPolicy::small_prime_bound (Botan::PRIMES starts at 3), in groups
// whose product fits in one Botan word: `n` is divided once by each product (a pass over its
// words) instead of once by each prime, and the remainder by the group's primes.
struct PrimeGroup {
    Botan::word product = 1;
    std::vector<Botan::word> primes;
};

std::vector<PrimeGroup> small_prime_groups() {
    std::vector<PrimeGroup> groups(1);
    for (size_t i = 0;
         i < Botan::PRIME_TABLE_SIZE && Botan::PRIMES[i] < KeyPolicy::small_prime_bound; ++i) {
        const Botan::word p = Botan::PRIMES[i];
        if (groups.back().product > std::numeric_limits<Botan::word>::max() / p)
            groups.emplace_back();
        groups.back().product *= p;
        groups.back().primes.push_back(p);
    }
    return groups;
}

// The first prime of `n` below KeyPolicy::small_prime_bound, or 0.
Botan::word small_factor(const Botan::BigInt& n) {
    static const std::vector<PrimeGroup> groups = small_prime_groups();
    if (n.is_even()) return 2;
    for (const auto& group : groups) {
        const Botan::word remainder = n % group.product;
        for (Botan::word p : group.primes) {
            if (remainder % p == 0) return p;
        }
    }
    return 0;
}

// floor(sqrt(n)) by Newton's steps from x, a start at or above the root, until the root stops
// falling: for a Botan::BigInt or a machine integer alike.
template <typename Integer>
Integer sqrt_from_above(const Integer& n, Integer x) {
    for (;;) {
        Integer y = (x + n / x) >> 1;
        if (y >= x) return x;
        x = y;
    }
}

#ifdef __SIZEOF_INT128__
// floor(sqrt(v)) in the machine's own 128-bit arithmetic, from a power of two above the root.
uint64_t small_integer_sqrt(unsigned __int128 v) {
    if (v == 0) return 0;
    const auto high = static_cast<uint64_t>(v >> 64);
    const int bits = high != 0 ? 128 - __builtin_clzll(high)
                               : 64 - __builtin_clzll(static_cast<uint64_t>(v));
    return static_cast<uint64_t>(
        sqrt_from_above(v, static_cast<unsigned __int128>(1) << ((bits + 1) / 2)));
}
#endif

}  // namespace

// Newton's step x -> (x + n / x) / 2 from a start at or above sqrt(n) lands at or above
// floor(sqrt(n)), and its excess over sqrt(n) shrinks from e to at most e^2 / (2 sqrt(n)). The
// start is one more than the root of n's upper half (n >> 2k, k = bits / 4), shifted back by k:
// at most 2^k above sqrt(n), so one step lands below sqrt(n) + 1, on floor(sqrt(n)) or one
// past it, and one squaring tells which. One division a level (2048, 1024, 512... bits) instead
// of the two or three of stepping until the root stops falling: Botan's division is most of this
// function's cost, and it runs for every key this CA is asked to certify. The start is top * 2^k,
// so floor(n / start) is floor((n >> k) / top): the same quotient from a divisor half as long.
// Numbers of 128 bits or fewer are left to the machine's arithmetic where it has it.
Botan::BigInt integer_sqrt(const Botan::BigInt& n) {
#ifdef __SIZEOF_INT128__
    if (n.bits() <= 128) {
        unsigned __int128 v = 0;
        for (size_t i = n.bytes(); i-- > 0;) v = (v << 8) | n.byte_at(i);
        return Botan::BigInt(small_integer_sqrt(v));
    }
#endif
    const size_t k = n.bits() / 4;
    if (k < 32) {  // small, without 128-bit arithmetic: from a power of two above the root
                   // until it stops falling
        if (n.is_zero()) return n;
        return sqrt_from_above(n, Botan::BigInt::power_of_2((n.bits() + 1) / 2));
    }
    const Botan::BigInt top = integer_sqrt(n >> (2 * k)) + 1;  // the start is top * 2^k
    Botan::BigInt y = ((top << k) + (n >> k) / top) >> 1;
    if (y * y > n) y -= 1;
    return y;
}

namespace {

// Squares modulo 64, 63, 65, 11, 17, 19, 23, 29, 31 and 37 leave only these residues: a number
// failing one of them is no square, which rules out all but about 1 in 6,000 candidates
// without a square root. The moduli are taken in two products under 2^32, so that a residue is
// one word operation on a BigInt on any platform.
class SquareFilter {
public:
    static constexpr std::array<uint64_t, 2> products = {64 * 63 * 65 * 11,
                                                         17 * 19 * 23 * 29 * 31 * 37};
    using Residues = std::array<uint64_t, 2>;

    SquareFilter() {
        const std::array<std::vector<uint32_t>, 2> factors = {
            {{64, 63, 65, 11}, {17, 19, 23, 29, 31, 37}}};
        for (size_t g = 0; g < factors.size(); ++g) {
            for (uint32_t m : factors[g]) {
                Table table{g, m, std::vector<bool>(m, false)};
                for (uint64_t x = 0; x < m; ++x) table.squares[x * x % m] = true;
                tables_.push_back(std::move(table));
            }
        }
    }
    static Residues residues(const Botan::BigInt& x) {
        return {x % static_cast<Botan::word>(products[0]),
                x % static_cast<Botan::word>(products[1])};
    }
    bool may_be_square(const Residues& r) const {
        return std::all_of(tables_.begin(), tables_.end(),
                           [&](const Table& t) { return t.squares[r[t.product] % t.modulus]; });
    }

private:
    struct Table {
        size_t product;  // the index of the product `modulus` divides
        uint32_t modulus;
        std::vector<bool> squares;
    };
    std::vector<Table> tables_;
};

// Fermat's method: n = a^2 - b^2 = (a + b)(a - b), trying a = ceil(sqrt(n)), ceil(sqrt(n)) + 1,
// ... Returns the number of steps that found b (1 for the first), or 0. Only the residues of
// b^2 = a^2 - n are stepped (b^2 grows by 2a + 1 as a grows by 1); b^2 itself, a0^2 - n + k (2 a0
// + k) at step k + 1, is computed where the filter lets a square through.
int fermat_steps(const Botan::BigInt& n, int rounds) {
    static const SquareFilter filter;
    Botan::BigInt a0 = integer_sqrt(n);
    Botan::BigInt square = a0 * a0;
    if (square < n) {
        square += (a0 << 1) + 1;
        a0 += 1;
    }
    const Botan::BigInt b2_first = square - n;
    SquareFilter::Residues b2_mod = SquareFilter::residues(b2_first);
    SquareFilter::Residues a_mod = SquareFilter::residues(a0);
    for (int step = 1; step <= rounds; ++step) {
        if (filter.may_be_square(b2_mod)) {
            const auto k = static_cast<Botan::word>(step - 1);
            const Botan::BigInt b2 = b2_first + ((a0 << 1) + k) * k;
            if (b2.is_zero() || !Botan::is_perfect_square(b2).is_zero()) return step;
        }
        for (size_t i = 0; i < b2_mod.size(); ++i) {
            const uint64_t m = SquareFilter::products[i];
            b2_mod[i] = (b2_mod[i] + 2 * a_mod[i] + 1) % m;
            a_mod[i] = (a_mod[i] + 1) % m;
        }
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
        while (!line.empty() && std::isspace(static_cast<unsigned char>(line.back())))
            line.pop_back();
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

void KeyPolicy::check(const PublicKeyInfo& key, std::string_view whose,
                      const WeakKeyList* known_weak) {
    if (!key.modulus || !key.exponent) {
        throw Error(ErrorKind::policy, "key_not_rsa",
                    fmt::format("{} is {}, but only RSA 2048-bit keys are accepted", whose,
                                key.algorithm_name));
    }
    const Botan::BigInt& n = *key.modulus;
    const Botan::BigInt& e = *key.exponent;
    if (n.bits() != modulus_bits) {
        throw Error(ErrorKind::policy, "key_size_not_2048",
                    fmt::format("{} is RSA {}-bit, but only RSA 2048-bit keys are accepted", whose,
                                n.bits()));
    }
    // Stricter than goodkey's exponent rule (odd, 2^16 < e < 2^256), which 65537 satisfies.
    if (e != Botan::BigInt(public_exponent)) {
        throw Error(ErrorKind::policy, "key_exponent_not_65537",
                    fmt::format("{} has public exponent {}, but only 65537 is accepted", whose,
                                e.bits() <= 64 ? e.to_dec_string() : std::string("(very large)")));
    }
    // A product of two large primes has no small factor. (Botan refuses an even modulus already
    // when it decodes a key.)
    if (Botan::word p = small_factor(n)) {
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
