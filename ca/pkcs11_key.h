// ca/pkcs11_key.h — a CA key that lives in a PKCS#11 token and never leaves it. libp11 (OpenSC)
// talks to the token; OpenSSL makes the signature through it; Botan sees an ordinary
// Private_Key whose private half it cannot read.
#pragma once

#include <botan/pk_keys.h>

#include <filesystem>
#include <memory>
#include <string>

#include "ca/pkcs11_uri.h"

namespace edgeca::ca {

struct TokenKeyLocation {
    Pkcs11Uri uri;
    std::filesystem::path module;  // the token's PKCS#11 module, e.g. libsofthsm2.so
    std::string pin;               // the token's user PIN
};

// Opens the token, logs in and finds the key. Each failure is an Error that names what is
// wrong, and none changes the token:
//   not_found "pkcs11_module_missing"  the module file is not there
//   unavailable "pkcs11_module_unusable" the module does not load or initialise
//   not_found "pkcs11_token_missing"   no slot holds a token that matches the URI
//   unauthenticated "pkcs11_pin_wrong" the PIN is refused (or locked)
//   not_found "pkcs11_object_missing"  the token holds no private key that matches
//   conflict "pkcs11_object_ambiguous" more than one does
//   policy "key_not_rsa"               the key is not RSA
// Signing sessions come from libp11's per-slot pool, so the online service's threads sign in
// parallel; a token that is gone makes each signature fail with
// Error(unavailable, "pkcs11_signing_failed") instead of waiting.
std::unique_ptr<Botan::Private_Key> load_token_key(const TokenKeyLocation& location);

struct GeneratedTokenKey {
    std::unique_ptr<Botan::Private_Key> key;
    Pkcs11Uri uri;  // the location's URI with the key's id, which pins this very key
};

// Generates an RSA-2048 key pair inside the token (CKM_RSA_PKCS_KEY_PAIR_GEN) labelled with
// the URI's object and id, then loads it as load_token_key() does. The private key is a token
// object, private, sensitive and never extractable: its value can be neither read nor wrapped
// out of the token. Refuses with Error(conflict, "pkcs11_object_exists") when the token already
// holds a key with that label or id, and with Error(bad_input, "pkcs11_uri_invalid") when the
// URI names no object label. Without an id in the URI the key gets 16 random bytes as its id.
// Only sign is allowed (no decrypt, unwrap or derive), and the attributes the token reports
// after generation are checked: a pair that is not sensitive and never extractable is
// destroyed and refused with Error(policy, "pkcs11_key_exportable").
GeneratedTokenKey generate_token_key(const TokenKeyLocation& location);

}  // namespace edgeca::ca
