// bench/crl_bench.cpp — CRL build and sign at a given size (with the same entries written as
// an `openssl ca` database, for the peer), and filling a store with certificate rows for the
// start-up measurement.
#include <malloc.h>

#include <botan/pkcs8.h>
#include <botan/system_rng.h>
#include <fmt/format.h>

#include <ctime>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>

#include "bench/bench.h"
#include "ca/encoding.h"
#include "ca/files.h"
#include "ca/serial_number.h"
#include "crl/crl_builder.h"
#include "crl/crl_publisher.h"
#include "store/database.h"

namespace edgeca::bench {
namespace {

Botan::System_RNG rng;

// Reasons that `openssl ca` writes from its index without a compromise time of their own
// (keyCompromise would add an invalidityDate there): affiliationChanged, superseded,
// cessationOfOperation.
constexpr int reasons[] = {3, 4, 5};
constexpr const char* reason_names[] = {"affiliationChanged", "superseded", "cessationOfOperation"};
constexpr int64_t first_revocation = 1700000000;    // 2023-11-14, one second apart
constexpr int64_t entries_not_after = 2524607999;  // 2049-12-31T23:59:59Z: UTCTime in index.txt

std::string utc_time(int64_t seconds) {
    std::time_t t = seconds;
    std::tm tm{};
    gmtime_r(&t, &tm);
    char text[16];
    std::strftime(text, sizeof text, "%y%m%d%H%M%SZ", &tm);
    return text;
}

std::string upper(std::string text) {
    for (auto& c : text) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    return text;
}

// An `openssl ca` directory signing with the same issuer and key: `openssl ca -gencrl -config
// DIR/openssl.cnf -out F` then builds a CRL of the same entries.
void write_openssl_ca(const std::filesystem::path& dir, const Issuer& issuer) {
    ca::ensure_private_directory(dir);
    ca::write_file_atomically(dir / "ca.pem", ca::encode_pem(issuer.identity.certificate.BER_encode(), "CERTIFICATE"), 0644);
    ca::write_file_atomically(dir / "ca.key", Botan::PKCS8::PEM_encode(*issuer.plain_key), 0600);
    ca::write_file_atomically(dir / "crlnumber", "01\n", 0644);
    ca::write_file_atomically(dir / "index.txt.attr", "unique_subject = no\n", 0644);
    const std::string d = std::filesystem::absolute(dir).string();
    ca::write_file_atomically(dir / "openssl.cnf", fmt::format(R"([ ca ]
default_ca = bench

[ bench ]
database = {d}/index.txt
certificate = {d}/ca.pem
private_key = {d}/ca.key
crlnumber = {d}/crlnumber
new_certs_dir = {d}
serial = {d}/serial
default_md = sha256
default_crl_days = 1
crl_extensions = crl_ext
unique_subject = no
policy = policy_any

[ crl_ext ]
authorityKeyIdentifier = keyid:always

[ policy_any ]
commonName = supplied
)",
                                                               fmt::arg("d", d)),
                              0644);
}

struct Breakdown {
    double read = 0, encode = 0, sign = 0, store = 0;
};

// The same work as sign_crl, in its steps: reading the rows, encoding the entries, signing,
// committing the CRL and its audit line (PEM encoding is what is left of sign_crl's time).
Breakdown time_steps(Issuer& issuer, ca::Time now) {
    Breakdown b;
    auto start = Clock::now();
    std::vector<store::RevokedEntry> rows;
    issuer.store.read([&](const store::Reader& r) {
        r.each_revoked_entry(now, [&](store::RevokedEntry&& e) { rows.push_back(std::move(e)); });
    });
    b.read = seconds_since(start);
    start = Clock::now();
    crl::CrlBuilder builder(issuer.identity.certificate, *issuer.key);
    for (const auto& row : rows) builder.add(row);
    b.encode = seconds_since(start);
    start = Clock::now();
    auto der = builder.sign(1000000, now, now + std::chrono::hours(24), rng);
    b.sign = seconds_since(start);
    start = Clock::now();
    store::CrlRecord record{1000000, now, now + std::chrono::hours(24), 0, 0, std::move(der)};
    issuer.store.write([&](store::Writer& w) {
        w.insert_crl(record, 10);
        w.append_audit({"bench", "crl", "", ca::sha256_hex(record.der), "ok", "breakdown"});
    });
    b.store = seconds_since(start);
    return b;
}

}  // namespace

int bench_crl(const CrlOptions& o) {
    ca::ensure_private_directory(o.dir);
    Issuer issuer(o.dir, backend_of(o.backend));
    std::ofstream index;
    if (!o.openssl_dir.empty()) {
        write_openssl_ca(o.openssl_dir, issuer);
        index.open(o.openssl_dir / "index.txt");
    }
    // Revoked rows written straight into the store: what a CRL is built from.
    {
        auto db = store::Database::open_sqlite(o.dir / "issuer.db", false);
        store::Transaction transaction(db);
        auto insert = db.prepare(
            "INSERT INTO certificates (serial, profile, subject, common_name, spki_sha256, fingerprint_sha256, "
            "not_before, not_after, issued_at, requester, der, revoked_at, revocation_reason) "
            "VALUES (?1, 'edge', 'CN=x', 'x', 'k', ?2, 0, ?3, 0, 'bench', x'30', ?4, ?5)");
        for (int64_t i = 0; i < o.entries; ++i) {
            auto serial = ca::SerialNumber::random(rng);
            const auto reason = static_cast<size_t>(i % 3);
            insert.bind(1, serial.bytes())
                .bind(2, serial.hex())
                .bind(3, entries_not_after)
                .bind(4, first_revocation + i)
                .bind(5, int64_t(reasons[reason]));
            insert.run();
            insert.reset();
            if (index.is_open()) {
                index << "R\t" << utc_time(entries_not_after) << '\t' << utc_time(first_revocation + i) << ','
                      << reason_names[reason] << '\t' << upper(serial.hex()) << "\tunknown\t/CN=x\n";
            }
        }
        transaction.commit();
        // As a store in service would be: its pages in the database file, not in the WAL.
        db.exec("PRAGMA wal_checkpoint(TRUNCATE)");
    }
    if (index.is_open()) index.close();

    auto now = issuer.clock.now();
    // 1. Build and sign as sign_crl does, rows streamed from the store into the builder: the
    //    time and peak memory the targets are about.
    malloc_trim(0);
    reset_peak_rss();
    int64_t rss_before = status_bytes(getpid(), "VmRSS");
    auto start = Clock::now();
    size_t der_bytes = 0;
    {
        crl::CrlBuilder builder(issuer.identity.certificate, *issuer.key);
        issuer.store.read([&](const store::Reader& r) {
            r.each_revoked_entry(now, [&](store::RevokedEntry&& e) { builder.add(e); });
        });
        der_bytes = builder.sign(1, now, now + std::chrono::hours(24), rng).size();
    }
    const double build_sign = seconds_since(start);
    const int64_t build_sign_peak = status_bytes(getpid(), "VmHWM") - rss_before;

    // 2. What the service does to publish: sign_crl, which also commits the CRL and an audit
    //    line to the store and makes the PEM.
    malloc_trim(0);
    reset_peak_rss();
    rss_before = status_bytes(getpid(), "VmRSS");
    start = Clock::now();
    auto crl = crl::sign_crl(issuer.store, issuer.identity.certificate, *issuer.key, now, now + std::chrono::hours(24),
                             10, rng, "bench");
    const double publish = seconds_since(start);
    const int64_t publish_peak = status_bytes(getpid(), "VmHWM") - rss_before;
    crl = {};

    // 3. Where the time goes.
    const Breakdown steps = time_steps(issuer, now);
    std::cout << nlohmann::json{{"bench", "crl"},
                                {"backend", o.backend},
                                {"entries", o.entries},
                                {"der_bytes", der_bytes},
                                {"build_sign_seconds", build_sign},
                                {"build_sign_peak_growth_bytes", build_sign_peak},
                                {"publish_seconds", publish},
                                {"publish_peak_growth_bytes", publish_peak},
                                {"rss_before_bytes", rss_before},
                                {"read_seconds", steps.read},
                                {"encode_seconds", steps.encode},
                                {"sign_seconds", steps.sign},
                                {"store_seconds", steps.store}}
              << std::endl;
    return 0;
}

int bench_fill(FillOptions o) {
    if (!std::filesystem::exists(o.store)) throw std::runtime_error("no store at " + o.store.string());
    auto db = store::Database::open_sqlite(o.store, false);
    if (o.until > 0) {
        auto held = db.prepare("SELECT count(*) FROM certificates");
        held.step();
        o.count = std::max<int64_t>(0, o.until - held.integer(0));
    }
    std::vector<uint8_t> der;
    {
        auto newest = db.prepare("SELECT der FROM certificates WHERE profile = 'edge' ORDER BY id DESC LIMIT 1");
        if (!newest.step()) throw std::runtime_error("the store holds no edge certificate to copy the size of");
        der = newest.blob(0);
    }
    const int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count();
    const std::string run = ca::to_hex(rng.random_vec(4));  // fills may be repeated
    db.exec(fmt::format("INSERT OR IGNORE INTO products (product_key, name, max_validity_days, certificate_auth, "
                        "created_at, created_by) VALUES ('bench-fill', 'bench fill', 730, 1, {}, 'bench')",
                        now));
    auto device = db.prepare(
        "INSERT INTO devices (device_key, product_key, asset_id, created_at, created_by) "
        "VALUES (?1, 'bench-fill', ?1, ?2, 'bench')");
    auto binding = db.prepare(
        "INSERT INTO key_bindings (spki_sha256, profile, device_key, common_name) VALUES (?1, 'edge', ?2, ?2)");
    auto certificate = db.prepare(
        "INSERT INTO certificates (serial, profile, subject, common_name, product_key, device_key, asset_id, "
        "spki_sha256, fingerprint_sha256, not_before, not_after, issued_at, requester, der, revoked_at, "
        "revocation_reason, revoked_by) VALUES (?1, 'edge', ?2, ?3, 'bench-fill', ?3, ?3, ?4, ?5, ?6, ?7, ?8, "
        "'hub:bench-fill', ?9, ?10, ?11, ?12)");
    auto start = Clock::now();
    int64_t revoked = 0;
    constexpr int64_t batch = 50000;
    for (int64_t first = 0; first < o.count; first += batch) {
        store::Transaction transaction(db);
        for (int64_t i = first; i < std::min(o.count, first + batch); ++i) {
            const std::string name = fmt::format("FILL-{}-{:07}", run, i);
            const auto serial = ca::SerialNumber::random(rng);
            const std::string spki = ca::to_hex(rng.random_vec(32));
            const std::string fingerprint = ca::to_hex(rng.random_vec(32));
            const int64_t issued = now - 60 - (o.count - i);  // oldest first, none in the future
            device.bind(1, name).bind(2, issued).run();
            device.reset();
            binding.bind(1, spki).bind(2, name).run();
            binding.reset();
            certificate.bind(1, serial.bytes())
                .bind(2, "CN=" + name)
                .bind(3, name)
                .bind(4, spki)
                .bind(5, fingerprint)
                .bind(6, issued - 300)
                .bind(7, issued + 730 * 86400)
                .bind(8, issued)
                .bind(9, der);
            if (o.revoked_every > 0 && i % o.revoked_every == o.revoked_every - 1) {
                certificate.bind(10, issued + 1).bind(11, int64_t(reasons[revoked % 3])).bind(12, "hub:bench-fill");
                ++revoked;
            } else {
                certificate.bind_null(10).bind_null(11).bind_null(12);
            }
            certificate.run();
            certificate.reset();
        }
        transaction.commit();
    }
    // What Writer::revoke_certificate does for each: a CRL must now be signed anew (the rows are
    // issuer 1's, which counts its own revocations too).
    for (const char* key : {"revocations", "revocations/1"}) {
        db.exec(fmt::format("INSERT INTO meta (key, value) VALUES ('{1}', '{0}') ON CONFLICT(key) DO UPDATE "
                            "SET value = CAST(value AS INTEGER) + {0}",
                            revoked, key));
    }
    db.exec("PRAGMA wal_checkpoint(TRUNCATE)");
    const double elapsed = seconds_since(start);
    auto total = db.prepare("SELECT count(*) AS total FROM certificates");
    total.step();
    std::cout << nlohmann::json{{"bench", "fill"},
                                {"added", o.count},
                                {"revoked", revoked},
                                {"certificates", total.integer(0)},
                                {"seconds", elapsed},
                                {"der_bytes_each", der.size()},
                                {"store_bytes", std::filesystem::file_size(o.store)}}
              << std::endl;
    return 0;
}

}  // namespace edgeca::bench
