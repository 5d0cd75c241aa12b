// tests/unit/test_support.cpp — keys and CSRs made at test time.
#include "tests/unit/test_support.h"

#include <botan/ecdsa.h>
#include <botan/ed25519.h>
#include <botan/hex.h>
#include <botan/rsa.h>

#include <map>

#include <libpq-fe.h>

#include <atomic>
#include <cstdlib>
#include <mutex>
#include <stdexcept>
#include <unistd.h>

#include "ca/errors.h"

namespace edgeca::test {

Botan::RandomNumberGenerator& rng() {
    static Botan::System_RNG system_rng;
    return system_rng;
}

TempDir::TempDir() {
    auto base = std::filesystem::temp_directory_path();
    path_ = base / ("edgeca-unit-" + Botan::hex_encode(rng().random_vec(8), false));
    std::filesystem::create_directories(path_);
}

store::StoreLocation fresh_store_location(const TempDir& dir, const std::string& name) {
    const char* server = std::getenv("EDGECA_TEST_STORE_URL");
    if (server == nullptr || *server == '\0') return {.file = dir / name};
    store::enable_postgresql();
    static std::atomic<int> counter{0};
    std::string database = "edgeca_unit_" + std::to_string(::getpid()) + "_" + std::to_string(++counter);
    PGconn* conn = PQconnectdb(server);
    PGresult* result = PQexec(conn, ("CREATE DATABASE " + database).c_str());
    bool created = PQresultStatus(result) == PGRES_COMMAND_OK;
    std::string error = PQerrorMessage(conn);
    PQclear(result);
    PQfinish(conn);
    if (!created) throw std::runtime_error("cannot create a test database on " + std::string(server) + ": " + error);
    std::string url(server);
    auto query = url.find('?');
    auto slash = url.rfind('/', query == std::string::npos ? std::string::npos : query);
    url.replace(slash + 1, (query == std::string::npos ? url.size() : query) - slash - 1, database);
    return {.url = url};
}

store::Store fresh_store(const TempDir& dir, const std::string& name) {
    return store::Store::create(fresh_store_location(dir, name));
}

store::Database raw_database(const store::StoreLocation& location) {
    store::enable_postgresql();
    return location.on_server() ? store::Database::open_postgresql(location.url)
                                : store::Database::open_sqlite(location.file, false);
}

TempDir::~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
}

const Botan::Private_Key& rsa_key(size_t bits, size_t exponent) {
    static std::mutex mutex;
    static std::map<std::pair<size_t, size_t>, std::unique_ptr<Botan::Private_Key>> cache;
    std::lock_guard lock(mutex);
    auto& slot = cache[{bits, exponent}];
    if (!slot) slot = std::make_unique<Botan::RSA_PrivateKey>(rng(), bits, exponent);
    return *slot;
}

std::unique_ptr<Botan::Private_Key> fresh_rsa_key() {
    return std::make_unique<Botan::RSA_PrivateKey>(rng(), 2048);
}

const Botan::Private_Key& ec_key() {
    static Botan::ECDSA_PrivateKey key(rng(), Botan::EC_Group("secp256r1"));
    return key;
}

const Botan::Private_Key& ed25519_key() {
    static Botan::Ed25519_PrivateKey key(rng());
    return key;
}

std::vector<uint8_t> make_csr(const Botan::Private_Key& key, Botan::X509_Cert_Options options) {
    const std::string hash = key.algo_name() == "Ed25519" ? "Pure" : "SHA-256";
    auto request = Botan::X509::create_cert_req(options, key, hash, rng());
    return request.BER_encode();
}

std::vector<uint8_t> make_csr(const Botan::Private_Key& key, const std::string& cn,
                              Botan::X509_Cert_Options options) {
    options.common_name = cn;
    return make_csr(key, options);
}

std::string error_code(const std::function<void()>& f) {
    try {
        f();
    } catch (const ca::Error& e) {
        return e.code();
    }
    return "none";
}

std::vector<uint8_t> with_broken_signature(std::vector<uint8_t> der) {
    der[der.size() - 1] ^= 0x01;  // the last byte is inside the signature BIT STRING
    return der;
}

}  // namespace edgeca::test
