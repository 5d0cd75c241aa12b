// ca/key_policy.cpp — RSA-2048 only, for every key this CA certifies or signs with.
#include "ca/key_policy.h"

#include <botan/rsa.h>
#include <fmt/format.h>

#include "ca/errors.h"

namespace edgeca::ca {

void KeyPolicy::check(const Botan::Public_Key& key, std::string_view whose) {
    const auto* rsa = dynamic_cast<const Botan::RSA_PublicKey*>(&key);
    if (rsa == nullptr) {
        throw Error(ErrorKind::policy, "key_not_rsa",
                    fmt::format("{} is {}, but only RSA 2048-bit keys are accepted", whose,
                                key.algo_name()));
    }
    const Botan::BigInt& n = rsa->get_n();
    const Botan::BigInt& e = rsa->get_e();
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
    // refuses an even one when it decodes the key.)
    static const uint32_t small_primes[] = {2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47};
    for (uint32_t p : small_primes) {
        if (n % static_cast<Botan::word>(p) == 0) {
            throw Error(ErrorKind::policy, "key_invalid",
                        fmt::format("{} is not a valid RSA key: its modulus is divisible by {}",
                                    whose, p));
        }
    }
}

}  // namespace edgeca::ca
