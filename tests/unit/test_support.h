// tests/unit/test_support.h — test-time keys, CSRs and temporary directories for unit tests.
// Every key here is generated when the tests run; none is committed.
#pragma once

#include <botan/pk_keys.h>
#include <botan/system_rng.h>
#include <botan/x509self.h>

#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "store/store.h"

namespace edgeca::test {

Botan::RandomNumberGenerator& rng();

// A directory under the system temp dir, removed with its content when this goes away.
class TempDir {
public:
    TempDir();
    ~TempDir();
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    const std::filesystem::path& path() const { return path_; }
    std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

private:
    std::filesystem::path path_;
};

// Where a new, empty store for one test goes: a SQLite file `name` in `dir`, or, when the
// environment names a PostgreSQL server (EDGECA_TEST_STORE_URL, a URL of one of its databases),
// a new database of its own on that server. The store tests (doctest suite "store") run on both.
store::StoreLocation fresh_store_location(const TempDir& dir, const std::string& name);
store::Store fresh_store(const TempDir& dir, const std::string& name);
// A plain connection to a store, for a test to look at what the store API does not show.
store::Database raw_database(const store::StoreLocation& location);

// RSA keys are cached per (bits, exponent) for the run: generating them dominates test time.
const Botan::Private_Key& rsa_key(size_t bits = 2048, size_t exponent = 65537);
// A fresh RSA-2048 key that no other test uses.
std::unique_ptr<Botan::Private_Key> fresh_rsa_key();
const Botan::Private_Key& ec_key();       // ECDSA P-256
const Botan::Private_Key& ed25519_key();

// A DER CSR for `cn` signed by `key`; `options` may request extensions (which the CA must
// ignore).
std::vector<uint8_t> make_csr(const Botan::Private_Key& key, const std::string& cn,
                              Botan::X509_Cert_Options options = {});
std::vector<uint8_t> make_csr(const Botan::Private_Key& key, Botan::X509_Cert_Options options);

// The code of the ca::Error that `f` throws, "none" when it throws nothing.
std::string error_code(const std::function<void()>& f);

// The same CSR with one bit of its signature flipped.
std::vector<uint8_t> with_broken_signature(std::vector<uint8_t> der);

}  // namespace edgeca::test
