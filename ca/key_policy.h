// ca/key_policy.h — the one key policy of the platform: RSA, a 2048-bit modulus, exponent 65537.
#pragma once

#include <botan/pk_keys.h>

#include "ca/public_key_info.h"

namespace edgeca::ca {

class KeyPolicy {
public:
    static constexpr size_t modulus_bits = 2048;
    static constexpr uint32_t public_exponent = 65537;

    // Throws Error(policy, "key_not_rsa" | "key_size_not_2048" | "key_exponent_not_65537" |
    // "key_invalid") naming what was found. `whose` names the key: "the CSR's key".
    static void check(const PublicKeyInfo& key, std::string_view whose);
    static void check(const Botan::Public_Key& key, std::string_view whose) {
        check(PublicKeyInfo::of(key), whose);
    }
};

}  // namespace edgeca::ca
