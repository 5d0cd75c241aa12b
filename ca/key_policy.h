// ca/key_policy.h — the one key policy of the platform: RSA, a 2048-bit modulus, exponent 65537,
// and a modulus that is not weak (the checks of Let's Encrypt's goodkey).
#pragma once

#include <botan/bigint.h>
#include <botan/pk_keys.h>

#include <string>
#include <string_view>
#include <unordered_set>

#include "ca/public_key_info.h"

namespace edgeca::ca {

// RSA moduli known to be weak although no check here can tell, such as those of Debian's
// OpenSSL of 2006-2008 (CVE-2008-0166). An entry is the SHA-1 of "Modulus=<upper-case hex of
// n>\n", the line `openssl rsa -noout -modulus` prints, as Debian's openssl-blacklist and
// Boulder's weak-key files list them: 40 hex digits, or only the last 20 (Debian's form). Moduli
// are compared on those last 80 bits, as both do.
class WeakKeyList {
public:
    // One fingerprint a line; blank lines and lines starting with '#' are skipped. Throws
    // Error(bad_input, "weak_keys_invalid") naming `source` and the line of anything else.
    static WeakKeyList parse(std::string_view text, std::string_view source);
    bool contains(const Botan::BigInt& modulus) const;
    size_t size() const { return suffixes_.size(); }

private:
    std::unordered_set<std::string> suffixes_;  // the last 20 hex digits, lower case
};

// floor(sqrt(n)), for n >= 0: the start of the Fermat check.
Botan::BigInt integer_sqrt(const Botan::BigInt& n);

class KeyPolicy {
public:
    static constexpr size_t modulus_bits = 2048;
    static constexpr uint32_t public_exponent = 65537;
    // A modulus with a prime factor below this has a factor anyone finds (goodkey: primes up
    // to 751).
    static constexpr uint16_t small_prime_bound = 752;
    // Steps of Fermat's method from ceil(sqrt(n)); two primes closer than about 2^(n/4 + 3.5)
    // fall in the first step already (goodkey: 100 rounds).
    static constexpr int fermat_rounds = 100;

    // Throws Error(policy, "key_not_rsa" | "key_size_not_2048" | "key_exponent_not_65537" |
    // "key_weak") naming what was found. `whose` names the key: "the CSR's key". `known_weak`,
    // when given, is also consulted.
    static void check(const PublicKeyInfo& key, std::string_view whose,
                      const WeakKeyList* known_weak = nullptr);
    static void check(const Botan::Public_Key& key, std::string_view whose) {
        check(PublicKeyInfo::of(key), whose);
    }
};

}  // namespace edgeca::ca
