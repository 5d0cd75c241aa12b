// ca/key_file.cpp — writing and opening encrypted PKCS#8 key files.
#include "ca/key_file.h"

#include <sys/stat.h>

#include <botan/data_src.h>
#include <botan/pkcs8.h>
#include <botan/rsa.h>
#include <fmt/format.h>

#include "ca/encoding.h"
#include "ca/errors.h"
#include "ca/files.h"

namespace edgeca::ca {

std::unique_ptr<Botan::Private_Key> generate_rsa_2048(Botan::RandomNumberGenerator& rng) {
    return std::make_unique<Botan::RSA_PrivateKey>(rng, 2048, 65537);
}

void write_encrypted_key(const std::filesystem::path& path, const Botan::Private_Key& key,
                         const std::string& passphrase, Botan::RandomNumberGenerator& rng) {
    if (passphrase.empty()) {
        throw Error(ErrorKind::bad_input, "passphrase_empty",
                    "the passphrase is empty; a key is never written unencrypted");
    }
    std::string pem = Botan::PKCS8::PEM_encode_encrypted_pbkdf_iter(
        key, rng, passphrase, key_file_pbkdf2_iterations, "AES-256/CBC", "SHA-256");
    write_file_atomically(path, pem, 0600, /*exclusive=*/true);
}

std::unique_ptr<Botan::Private_Key> load_encrypted_key(const std::filesystem::path& path,
                                                       const std::string& passphrase) {
    std::string pem = read_file(path, "the key file", 64 * 1024);
    struct stat st {};
    if (::stat(path.c_str(), &st) == 0 && (st.st_mode & 077) != 0) {
        throw Error(ErrorKind::policy, "key_file_permissions",
                    fmt::format("the key file {} may be read by other users (mode {:04o}); run "
                                "'chmod 600 {}'",
                                path.string(), st.st_mode & 07777, path.string()));
    }
    auto der = decode_single_pem(pem, {"ENCRYPTED PRIVATE KEY", "PRIVATE KEY"}, "the key file");
    if (pem.find("-----BEGIN ENCRYPTED PRIVATE KEY-----") == std::string::npos) {
        throw Error(ErrorKind::bad_input, "key_not_encrypted",
                    fmt::format("the key file {} is not encrypted; edgeca keeps CA keys only as "
                                "encrypted PKCS#8",
                                path.string()));
    }
    try {
        Botan::DataSource_Memory source(der.data(), der.size());
        return Botan::PKCS8::load_key(source, passphrase);
    } catch (const std::exception&) {
        // A wrong passphrase and a damaged file look alike to PBES2 (the padding check fails);
        // the first is by far the more likely.
        throw Error(ErrorKind::unauthenticated, "wrong_passphrase",
                    fmt::format("the passphrase does not open the key file {} (or the file is "
                                "damaged)",
                                path.string()));
    }
}

}  // namespace edgeca::ca
