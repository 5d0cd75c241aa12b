// ca/key_policy.cpp — RSA-2048 only, for every key this CA certifies or signs with.
#include "ca/key_policy.h"

#include <fmt/format.h>

#include "ca/errors.h"

namespace edgeca::ca {

void KeyPolicy::check(const PublicKeyInfo& key, std::string_view whose) {
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
    if (e != Botan::BigInt(public_exponent)) {
        throw Error(ErrorKind::policy, "key_exponent_not_65537",
                    fmt::format("{} has public exponent {}, but only 65537 is accepted", whose,
                                e.bits() <= 64 ? e.to_dec_string() : std::string("(very large)")));
    }
    // A modulus with a tiny factor cannot be a product of two large primes. (Botan already
    // refuses an even one when it decodes the key.) One reduction by the product of the primes
    // below 50, then word arithmetic.
    constexpr uint64_t primes[] = {2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47};
    constexpr uint64_t product = 614889782588491410ULL;  // 2 * 3 * ... * 47
    const uint64_t residue = n % static_cast<Botan::word>(product);
    for (uint64_t p : primes) {
        if (residue % p == 0) {
            throw Error(ErrorKind::policy, "key_invalid",
                        fmt::format("{} is not a valid RSA key: its modulus is divisible by {}",
                                    whose, p));
        }
    }
}

}  // namespace edgeca::ca
