// ca/key_file.h — CA private keys on disk: encrypted PKCS#8 (PBES2), mode 0600, never plain.
#pragma once

#include <botan/pk_keys.h>
#include <botan/rng.h>

#include <filesystem>
#include <memory>
#include <string>

namespace edgeca::ca {

// PBES2 with PBKDF2-HMAC-SHA256 at this many iterations (OWASP's 2023 figure) and AES-256-CBC:
// strong, and readable by OpenSSL (`openssl pkey`) for recovery.
inline constexpr size_t key_file_pbkdf2_iterations = 600000;

// A fresh RSA-2048 key from `rng` (the system RNG in every caller).
std::unique_ptr<Botan::Private_Key> generate_rsa_2048(Botan::RandomNumberGenerator& rng);

// Writes the key encrypted under `passphrase`; never replaces an existing file.
void write_encrypted_key(const std::filesystem::path& path, const Botan::Private_Key& key,
                         const std::string& passphrase, Botan::RandomNumberGenerator& rng);

// Loads an encrypted key. Throws Error(unauthenticated, "wrong_passphrase") when the passphrase
// does not open it, Error(bad_input, "key_not_encrypted") for a plain key, Error(policy,
// "key_file_permissions") when others may read it; the passphrase is never part of a message.
std::unique_ptr<Botan::Private_Key> load_encrypted_key(const std::filesystem::path& path,
                                                       const std::string& passphrase);

}  // namespace edgeca::ca
