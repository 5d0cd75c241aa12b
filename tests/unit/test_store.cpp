// tests/unit/test_store.cpp — the store: schema, durability settings, uniqueness, audit chain.
#include <doctest/doctest.h>

#include <sqlite3.h>

#include <atomic>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>

#include "store/schema.h"
#include "store/store.h"
#include "tests/unit/test_support.h"

using namespace edgeca;
using namespace std::chrono_literals;

namespace {

store::CertificateRecord sample_record(uint8_t serial_byte, const std::string& fingerprint) {
    store::CertificateRecord r;
    r.serial = {0x40, serial_byte, 0x01};
    r.profile = "edge";
    r.subject = "CN=device-1";
    r.common_name = "device-1";
    r.device_key = "SN-1";
    r.spki_sha256 = std::string(64, 'a');
    r.fingerprint_sha256 = fingerprint;
    r.not_before = store::Time(1000s);
    r.not_after = store::Time(2000s);
    r.issued_at = store::Time(1000s);
    r.requester = "hub:test";
    r.der = {0x30, 0x00};
    return r;
}

// Runs raw SQL on the store file, as an attacker with file access would.
void tamper(const std::filesystem::path& path, const char* sql) {
    sqlite3* db = nullptr;
    REQUIRE(sqlite3_open(path.c_str(), &db) == SQLITE_OK);
    char* error = nullptr;
    int rc = sqlite3_exec(db, sql, nullptr, nullptr, &error);
    sqlite3_free(error);
    sqlite3_close(db);
    REQUIRE(rc == SQLITE_OK);
}

std::string pragma(const std::filesystem::path& path, const char* name) {
    sqlite3* db = nullptr;
    REQUIRE(sqlite3_open(path.c_str(), &db) == SQLITE_OK);
    sqlite3_stmt* stmt = nullptr;
    sqlite3_prepare_v2(db, (std::string("PRAGMA ") + name).c_str(), -1, &stmt, nullptr);
    std::string value;
    if (sqlite3_step(stmt) == SQLITE_ROW) {
        value = reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0));
    }
    sqlite3_finalize(stmt);
    sqlite3_close(db);
    return value;
}

std::string fmt_fingerprint(int node, int i) {
    std::string hex = std::to_string(node * 1000 + i);
    return std::string(64 - hex.size(), 'f') + hex;
}

// Write i of writer t: its own serial (prefix, t, i) and fingerprint.
store::CertificateRecord writer_record(uint8_t prefix, int t, int i) {
    auto record = sample_record(static_cast<uint8_t>(i), fmt_fingerprint(t, i));
    record.serial = {prefix, static_cast<uint8_t>(t), static_cast<uint8_t>(i)};
    return record;
}

// Runs body(t, i) for the writes i < writes of the threads t < threads, all at once, and waits.
void in_threads(int threads, int writes, const std::function<void(int, int)>& body) {
    std::vector<std::thread> workers;
    for (int t = 0; t < threads; ++t) {
        workers.emplace_back([&, t] {
            for (int i = 0; i < writes; ++i) body(t, i);
        });
    }
    for (auto& w : workers) w.join();
}

}  // namespace

TEST_CASE("a new store is at the current schema version, in WAL mode, marked as edgeca's") {
    test::TempDir dir;
    auto path = dir / "t.db";
    {
        auto s = store::Store::create(path);
        CHECK(s.schema_version() == store::current_schema_version());
        CHECK(s.integrity_check() == "ok");
    }
    CHECK(pragma(path, "journal_mode") == "wal");
    CHECK(pragma(path, "application_id") == std::to_string(store::application_id));
    CHECK_THROWS_AS(store::Store::create(path), store::StoreError);
    CHECK_NOTHROW(store::Store::open(path));
}

TEST_CASE("opening a store that does not exist, or a foreign SQLite file, is refused") {
    test::TempDir dir;
    CHECK_THROWS_AS(store::Store::open(dir / "missing.db"), store::StoreError);
    auto foreign = dir / "foreign.db";
    tamper(foreign, "CREATE TABLE x(y)");
    CHECK_THROWS_WITH_AS(store::Store::open(foreign), doctest::Contains("not an edgeca store"),
                         store::StoreError);
}

TEST_CASE("a store written by a newer schema is refused rather than misread") {
    test::TempDir dir;
    auto path = dir / "t.db";
    { auto s = store::Store::create(path); }
    tamper(path, "PRAGMA user_version=999");
    CHECK_THROWS_WITH_AS(store::Store::open(path), doctest::Contains("newer than this build"),
                         store::StoreError);
}

TEST_SUITE_BEGIN("store");

TEST_CASE("a serial number is recorded at most once: the database refuses a second row") {
    test::TempDir dir;
    auto s = test::fresh_store(dir, "t.db");
    s.write([](store::Writer& w) { w.insert_certificate(sample_record(1, std::string(64, '1'))); });
    try {
        s.write([](store::Writer& w) {
            w.insert_certificate(sample_record(1, std::string(64, '2')));
        });
        FAIL("a duplicate serial was accepted");
    } catch (const store::StoreError& e) {
        CHECK(e.constraint_violation());
    }
    CHECK(s.read([](const store::Reader& r) { return r.certificate_count(); }) == 1);
}

TEST_CASE("one statement run again and again from the statement cache still reports and recovers") {
    test::TempDir dir;
    auto db = store::Database::open_sqlite(dir / "t.db", true);
    db.exec("CREATE TABLE t (k INTEGER PRIMARY KEY); CREATE TABLE u (k INTEGER)");
    for (int i = 0; i < 3; ++i) {  // the same BEGIN, INSERT and COMMIT texts each time
        db.exec("BEGIN IMMEDIATE");
        db.exec("INSERT INTO t (k) VALUES (1)");
        try {
            db.exec("INSERT INTO t (k) VALUES (1)");
            FAIL("a duplicate key was accepted");
        } catch (const store::StoreError& e) {
            CHECK(e.constraint_violation());
            CHECK(std::string(e.what()).find("executing 'INSERT INTO t (k) VALUES (1)'") == 0);
        }
        db.exec("INSERT INTO u (k) VALUES (2)");
        db.exec(i == 2 ? "COMMIT" : "ROLLBACK");
    }
    // The one transaction committed kept its rows, the failed statement in it aside.
    auto count = db.prepare("SELECT (SELECT count(*) FROM t), (SELECT count(*) FROM u)");
    REQUIRE(count.step());
    CHECK(count.integer(0) == 1);
    CHECK(count.integer(1) == 1);
    try {
        db.exec("SELECT k FROM no_such_table");
        FAIL("a statement on a missing table ran");
    } catch (const store::StoreError& e) {
        CHECK(std::string(e.what()) ==
              "executing 'SELECT k FROM no_such_table': no such table: no_such_table");
    }
    CHECK_THROWS_AS(db.exec("COMMIT"), store::StoreError);  // no transaction is open
    db.exec("PRAGMA user_version=7");
    db.exec("PRAGMA user_version");  // it answers with a row: run to its end, then reused
    db.exec("PRAGMA user_version");
    auto version = db.prepare("PRAGMA user_version");
    REQUIRE(version.step());
    CHECK(version.integer(0) == 7);
}

TEST_CASE("the log is copied back into the store file every few hundred pages, not every thousand") {
    test::TempDir dir;
    const auto path = dir / "t.db";
    auto s = store::Store::create(path);
    const std::filesystem::path wal = path.string() + "-wal";
    const auto frames = [&] {  // pages the log holds (its size: a restarted log keeps its size)
        const auto bytes = std::filesystem::exists(wal) ? std::filesystem::file_size(wal) : 0;
        return bytes > 32 ? (bytes - 32) / (4096 + 24) : 0;  // a 32-byte header, then frames
    };
    const auto file_before = std::filesystem::file_size(path);
    const std::string filler(3000, 'x');  // a page of its own each
    bool checkpointed = false;
    for (int i = 0; i < 2000 && !checkpointed && frames() < 600; ++i) {
        s.write([&](store::Writer& w) { w.set_meta("filler/" + std::to_string(i), filler); });
        checkpointed = std::filesystem::file_size(path) > file_before;
    }
    // Only a checkpoint writes to the file in WAL mode. SQLite's default would wait for 1,000.
    CHECK(checkpointed);
    CHECK(frames() < 600);
    CHECK(s.integrity_check() == "ok");
}

TEST_CASE("a write that throws leaves nothing behind") {
    test::TempDir dir;
    auto s = test::fresh_store(dir, "t.db");
    CHECK_THROWS(s.write([](store::Writer& w) {
        w.insert_certificate(sample_record(7, std::string(64, '7')));
        w.append_audit({"cli:test", "issue", "40", "", "ok", ""});
        throw std::runtime_error("signing failed");
    }));
    CHECK(s.read([](const store::Reader& r) { return r.certificate_count(); }) == 0);
    CHECK(s.read([](const store::Reader& r) { return r.verify_audit_chain().entries; }) == 0);
}

TEST_CASE("certificates are found by serial, id and fingerprint, and filtered by status") {
    test::TempDir dir;
    auto s = test::fresh_store(dir, "t.db");
    int64_t id = s.write([](store::Writer& w) {
        return w.insert_certificate(sample_record(9, std::string(64, '9')));
    });
    auto by_serial = s.read([](const store::Reader& r) {
        return r.certificate_by_serial(std::vector<uint8_t>{0x40, 9, 1});
    });
    REQUIRE(by_serial);
    CHECK(by_serial->id == id);
    CHECK(by_serial->device_key == "SN-1");
    CHECK(by_serial->status_at(store::Time(1500s)) == store::CertificateStatus::valid);
    CHECK(by_serial->status_at(store::Time(2001s)) == store::CertificateStatus::expired);

    store::CertificateFilter valid{.status = store::CertificateStatus::valid,
                                   .now = store::Time(1500s)};
    store::CertificateFilter expired{.status = store::CertificateStatus::expired,
                                     .now = store::Time(1500s)};
    CHECK(s.read([&](const store::Reader& r) { return r.certificates(valid); }).size() == 1);
    CHECK(s.read([&](const store::Reader& r) { return r.certificates(expired); }).empty());
    CHECK(s.read([](const store::Reader& r) {
        return r.certificate_by_fingerprint(std::string(64, '9'));
    }));
}

TEST_CASE("two connections on one store behave as one: serials unique, one audit chain, CRL numbers once") {
    // Each connection stands for a node; each thread writes through its own.
    test::TempDir dir;
    auto location = test::fresh_store_location(dir, "t.db");
    { auto created = store::Store::create(location); }
    constexpr int nodes = 3;
    constexpr int writes = 40;
    std::vector<store::Store> stores;
    for (int n = 0; n < nodes; ++n) stores.push_back(store::Store::open(location));
    std::atomic<int> duplicates{0};
    std::atomic<int> crl_refusals{0};
    std::vector<std::thread> threads;
    for (int n = 0; n < nodes; ++n) {
        threads.emplace_back([&, n] {
            for (int i = 0; i < writes; ++i) {
                auto record = sample_record(static_cast<uint8_t>(i), fmt_fingerprint(n, i));
                record.serial = {0x40, static_cast<uint8_t>(n), static_cast<uint8_t>(i)};
                stores[n].write([&](store::Writer& w) {
                    w.insert_certificate(record);
                    w.append_audit({"node-" + std::to_string(n), "issue", "40", "", "ok", ""});
                });
                // Every node tries to use the same serial once: only one succeeds.
                try {
                    stores[n].write([&](store::Writer& w) {
                        auto shared = sample_record(static_cast<uint8_t>(i), fmt_fingerprint(n + 100, i));
                        shared.serial = {0x7f, static_cast<uint8_t>(i)};
                        w.insert_certificate(shared);
                    });
                } catch (const store::StoreError& e) {
                    if (e.constraint_violation()) ++duplicates;
                }
                // Every node tries to publish CRL number i + 1: only one succeeds.
                try {
                    stores[n].write([&](store::Writer& w) {
                        w.insert_crl({.number = i + 1, .this_update = store::Time(1000s),
                                      .next_update = store::Time(2000s), .entries = 0,
                                      .revocations = 0, .der = {0x30, 0x00}},
                                     5);
                    });
                } catch (const store::StoreError& e) {
                    if (e.constraint_violation()) ++crl_refusals;
                }
            }
        });
    }
    for (auto& t : threads) t.join();
    CHECK(duplicates == (nodes - 1) * writes);
    CHECK(crl_refusals == (nodes - 1) * writes);
    auto& any = stores[0];
    CHECK(any.read([](const store::Reader& r) { return r.certificate_count(); }) == nodes * writes + writes);
    auto chain = any.read([](const store::Reader& r) { return r.verify_audit_chain(); });
    CHECK(chain.intact);
    CHECK(chain.entries == nodes * writes);
    CHECK(any.read([](const store::Reader& r) { return r.last_crl_number(); }) == writes);
}

TEST_CASE("writes committed together keep their own outcome: one that throws leaves the others") {
    test::TempDir dir;
    auto s = test::fresh_store(dir, "t.db");
    constexpr int threads = 8;
    constexpr int writes = 30;
    std::atomic<int> committed{0};
    std::atomic<int> refused{0};
    std::atomic<int> wrong{0};
    in_threads(threads, writes, [&](int t, int i) {
        auto record = writer_record(0x41, t, i);
        const bool fails = i % 5 == 4;
        try {
            int64_t id = s.write([&](store::Writer& w) {
                int64_t inserted = w.insert_certificate(record);
                w.append_audit({"writer-" + std::to_string(t), "issue", "41", "", "ok", ""});
                if (fails) throw std::runtime_error("refused " + std::to_string(t) + "/" + std::to_string(i));
                return inserted;
            });
            if (fails || id <= 0) ++wrong;
            ++committed;
        } catch (const std::runtime_error& e) {
            if (!fails || std::string(e.what()) != "refused " + std::to_string(t) + "/" + std::to_string(i)) ++wrong;
            ++refused;
        }
    });
    CHECK(wrong == 0);
    CHECK(refused == threads * writes / 5);
    CHECK(committed == threads * writes - refused);
    CHECK(s.read([](const store::Reader& r) { return r.certificate_count(); }) == committed);
    auto chain = s.read([](const store::Reader& r) { return r.verify_audit_chain(); });
    CHECK(chain.intact);
    CHECK(chain.entries == committed);
}

TEST_CASE("a read does not wait behind a commit in progress, and sees what was committed before it began") {
    test::TempDir dir;
    auto s = test::fresh_store(dir, "t.db");
    s.write([](store::Writer& w) { w.insert_certificate(sample_record(1, fmt_fingerprint(0, 1))); });

    // A write holds the writer's connection, its transaction open, until the main thread has read.
    std::mutex mutex;
    std::condition_variable changed;
    bool writing = false;
    bool read_done = false;
    bool write_timed_out = false;
    std::thread writer([&] {
        s.write([&](store::Writer& w) {
            auto second = sample_record(2, fmt_fingerprint(0, 2));
            second.device_key = "SN-2";
            w.insert_certificate(second);
            std::unique_lock lock(mutex);
            writing = true;
            changed.notify_all();
            write_timed_out = !changed.wait_for(lock, 20s, [&] { return read_done; });
        });
    });
    {
        std::unique_lock lock(mutex);
        REQUIRE(changed.wait_for(lock, 20s, [&] { return writing; }));
    }
    // Under one shared connection this read would wait for the write to give up (20 s) and
    // then see its row.
    const int64_t seen = s.read([](const store::Reader& r) { return r.certificate_count(); });
    {
        std::lock_guard lock(mutex);
        read_done = true;
        changed.notify_all();
    }
    writer.join();
    CHECK_FALSE(write_timed_out);
    CHECK(seen == 1);
    CHECK(s.read([](const store::Reader& r) { return r.certificate_count(); }) == 2);
}

TEST_CASE("a CN's holder among other devices' valid certificates: below, above, and without a device") {
    test::TempDir dir;
    auto s = test::fresh_store(dir, "t.db");
    const store::Time now(1500s);
    uint8_t next = 0;
    // A certificate for CN `cn` of `device` (none: std::nullopt), valid at `now` unless changed.
    auto add = [&](const std::string& cn, std::optional<std::string> device, auto&& change) {
        const uint8_t n = ++next;
        auto record = sample_record(n, fmt_fingerprint(7, n));
        record.common_name = cn;
        record.device_key = std::move(device);
        change(record);
        return s.write([&](store::Writer& w) { return w.insert_certificate(record); });
    };
    auto as_is = [](store::CertificateRecord&) {};
    auto holder = [&](const std::string& cn) {
        return s.read([&](const store::Reader& r) {
            return r.valid_certificate_with_cn_of_other_device("edge", cn, "SN-5", now);
        });
    };
    // Every CN below has rows of the asking device's own.
    for (const char* cn : {"below", "above", "no-device", "not-held"}) add(cn, "SN-5", as_is);
    add("below", "SN-3", as_is);
    add("above", "SN-7", as_is);
    add("no-device", std::nullopt, as_is);
    const int64_t revoked = add("not-held", "SN-3", as_is);
    add("not-held", "SN-7", [](store::CertificateRecord& r) { r.not_after = store::Time(1499s); });
    add("not-held", "SN-8", [](store::CertificateRecord& r) { r.profile = "hub"; });
    add("not-held", std::nullopt, [](store::CertificateRecord& r) { r.not_after = store::Time(1000s); });
    s.write([&](store::Writer& w) { CHECK(w.revoke_certificate(revoked, now, 1, "admin:test")); });

    auto below = holder("below");
    REQUIRE(below);
    CHECK(below->device_key == "SN-3");
    auto above = holder("above");
    REQUIRE(above);
    CHECK(above->device_key == "SN-7");
    auto without = holder("no-device");
    REQUIRE(without);
    CHECK_FALSE(without->device_key);
    CHECK_FALSE(holder("not-held"));  // revoked, expired, another profile, or the device's own
    CHECK_FALSE(holder("unknown"));
}

TEST_CASE("a read sees one snapshot: a commit made between its statements is not in it") {
    test::TempDir dir;
    auto s = test::fresh_store(dir, "t.db");
    s.write([](store::Writer& w) { w.insert_certificate(sample_record(1, fmt_fingerprint(0, 1))); });
    int64_t before = -1;
    int64_t after = -1;
    s.read([&](const store::Reader& r) {
        before = r.certificate_count();
        // Another thread commits between the read's two statements (reads and the writer have
        // connections of their own).
        std::thread([&] {
            s.write([](store::Writer& w) { w.insert_certificate(sample_record(2, fmt_fingerprint(0, 2))); });
        }).join();
        after = r.certificate_count();
        return 0;
    });
    CHECK(before == 1);
    CHECK(after == 1);
    CHECK(s.read([](const store::Reader& r) { return r.certificate_count(); }) == 2);
}

TEST_CASE("reads that run no statement, or throw after one, leave their connection ready for the next") {
    test::TempDir dir;
    auto s = test::fresh_store(dir, "t.db");
    s.write([](store::Writer& w) { w.insert_certificate(sample_record(1, fmt_fingerprint(0, 1))); });
    // One thread: each read takes back the connection the one before it gave up.
    for (int i = 0; i < 3 * static_cast<int>(store::Store::max_readers); ++i) {
        CAPTURE(i);
        switch (i % 3) {
            case 0:
                CHECK(s.read([](const store::Reader&) { return 7; }) == 7);
                break;
            case 1:
                CHECK_THROWS_WITH_AS(s.read([](const store::Reader& r) -> int {
                    r.certificate_count();
                    throw std::runtime_error("after one statement");
                }),
                                     "after one statement", std::runtime_error);
                break;
            default:
                CHECK(s.read([](const store::Reader& r) { return r.certificate_count(); }) == 1);
        }
    }
    // Each read ended: a new commit is seen by the next, on the same connection.
    s.write([](store::Writer& w) { w.insert_certificate(sample_record(2, fmt_fingerprint(0, 2))); });
    for (int i = 0; i < 3; ++i) CHECK(s.read([](const store::Reader& r) { return r.certificate_count(); }) == 2);
}

TEST_CASE("writes committed together fail alone: a refused statement, and a write refused before any") {
    test::TempDir dir;
    auto s = test::fresh_store(dir, "t.db");
    auto taken = sample_record(0, fmt_fingerprint(99, 0));
    taken.serial = {0x42, 0x42};
    s.write([&](store::Writer& w) { w.insert_certificate(taken); });
    constexpr int threads = 8;
    constexpr int writes = 30;
    std::atomic<int> committed{1};
    std::atomic<int> constraint{0};
    std::atomic<int> refused{0};
    std::atomic<int> wrong{0};
    in_threads(threads, writes, [&](int t, int i) {
        auto record = writer_record(0x43, t, i);
        if (i % 3 == 1) record.serial = taken.serial;  // its first statement is refused
        const bool before_any = i % 3 == 2;              // refused before any statement
        try {
            s.write([&](store::Writer& w) {
                if (before_any) throw std::runtime_error("before any statement");
                w.insert_certificate(record);
                w.append_audit({"writer-" + std::to_string(t), "issue", "43", "", "ok", ""});
            });
            if (i % 3 != 0) ++wrong;
            ++committed;
        } catch (const store::StoreError& e) {
            if (i % 3 != 1 || !e.constraint_violation()) ++wrong;
            ++constraint;
        } catch (const std::runtime_error&) {
            if (!before_any) ++wrong;
            ++refused;
        }
    });
    CHECK(wrong == 0);
    CHECK(constraint == threads * writes / 3);
    CHECK(refused == threads * writes / 3);
    CHECK(s.read([](const store::Reader& r) { return r.certificate_count(); }) == committed);
    auto chain = s.read([](const store::Reader& r) { return r.verify_audit_chain(); });
    CHECK(chain.intact);
    CHECK(chain.entries == committed - 1);
}

TEST_CASE("many more readers than read connections all finish, each seeing the count only grow") {
    test::TempDir dir;
    auto s = test::fresh_store(dir, "t.db");
    constexpr int readers = 4 * static_cast<int>(store::Store::max_readers);
    constexpr int writes = 40;
    std::atomic<bool> writing{true};
    std::atomic<int> went_back{0};
    std::atomic<int> reads{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < readers; ++t) {
        threads.emplace_back([&] {
            int64_t last = 0;
            for (int i = 0; i < 200 && (writing || i < 5); ++i) {
                int64_t now = s.read([](const store::Reader& r) { return r.certificate_count(); });
                if (now < last) ++went_back;
                last = now;
                ++reads;
            }
        });
    }
    for (int i = 0; i < writes; ++i) {
        auto record = sample_record(static_cast<uint8_t>(i), fmt_fingerprint(9, i));
        record.device_key = "SN-" + std::to_string(i);
        s.write([&](store::Writer& w) { w.insert_certificate(record); });
    }
    writing = false;
    for (auto& t : threads) t.join();
    CHECK(went_back == 0);
    CHECK(reads >= readers * 5);
    CHECK(s.read([](const store::Reader& r) { return r.certificate_count(); }) == writes);
}

TEST_SUITE_END();

TEST_CASE("the audit chain verifies, and an edited, deleted or reordered entry is detected") {
    test::TempDir dir;
    auto path = dir / "t.db";
    {
        auto s = store::Store::create(path);
        for (int i = 0; i < 5; ++i) {
            s.write([&](store::Writer& w) {
                w.append_audit({"cli:test", "issue", std::to_string(i), "", "ok", "detail"});
            });
        }
        auto result = s.read([](const store::Reader& r) { return r.verify_audit_chain(); });
        CHECK(result.intact);
        CHECK(result.entries == 5);
        CHECK(result.head_hash.size() == 64);
    }

    SUBCASE("an edited entry") {
        tamper(path, "UPDATE audit_log SET outcome='refused' WHERE seq=3");
        auto s = store::Store::open(path);
        auto result = s.read([](const store::Reader& r) { return r.verify_audit_chain(); });
        CHECK_FALSE(result.intact);
        CHECK(result.first_bad_seq == 3);
        CHECK(result.problem.find("altered") != std::string::npos);
    }
    SUBCASE("a deleted entry") {
        tamper(path, "DELETE FROM audit_log WHERE seq=2");
        auto s = store::Store::open(path);
        auto result = s.read([](const store::Reader& r) { return r.verify_audit_chain(); });
        CHECK_FALSE(result.intact);
        CHECK(result.first_bad_seq == 3);
        CHECK(result.problem.find("missing") != std::string::npos);
    }
    SUBCASE("an entry deleted and the rest renumbered") {
        tamper(path, "DELETE FROM audit_log WHERE seq=2; UPDATE audit_log SET seq=seq-1 WHERE seq>2");
        auto s = store::Store::open(path);
        auto result = s.read([](const store::Reader& r) { return r.verify_audit_chain(); });
        CHECK_FALSE(result.intact);
        CHECK(result.first_bad_seq == 2);
    }
    SUBCASE("an edited entry with its own hash recomputed still breaks the next link") {
        tamper(path, "UPDATE audit_log SET hash='" "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef" "' WHERE seq=4");
        auto s = store::Store::open(path);
        auto result = s.read([](const store::Reader& r) { return r.verify_audit_chain(); });
        CHECK_FALSE(result.intact);
        CHECK(result.first_bad_seq == 4);
    }
}

TEST_CASE("migrating a version 4 store binds each key to its first certificate and keeps compromises") {
    test::TempDir dir;
    auto path = dir / "old.db";
    {
        auto db = store::Database::open_sqlite(path, true);
        store::migrate(db, 4);
        db.exec("INSERT INTO certificates (serial, profile, subject, common_name, device_key, spki_sha256, "
                "fingerprint_sha256, not_before, not_after, issued_at, requester, der) VALUES "
                "(x'41', 'edge', 'CN=a', 'a', 'SN-1', 'k1', 'f1', 0, 10, 0, 'hub', x'30'), "
                "(x'42', 'edge', 'CN=b', 'b', 'SN-2', 'k1', 'f2', 0, 10, 0, 'hub', x'30'), "
                "(x'43', 'hub', 'CN=h', 'h', NULL, 'k2', 'f3', 0, 10, 0, 'admin', x'30')");
        db.exec("UPDATE certificates SET revoked_at = 5, revocation_reason = 1 WHERE serial = x'43'");
    }
    auto s = store::Store::open(path);
    CHECK(s.schema_version() == store::current_schema_version());
    auto k1 = s.read([](const store::Reader& r) { return r.key_binding("k1"); });
    REQUIRE(k1);
    CHECK(k1->device_key == "SN-1");
    CHECK_FALSE(k1->compromised_at);
    auto k2 = s.read([](const store::Reader& r) { return r.key_binding("k2"); });
    REQUIRE(k2);
    CHECK(k2->compromised_at == store::Time(5s));
    CHECK_FALSE(s.read([](const store::Reader& r) { return r.key_binding("k3"); }));
}

TEST_CASE("migrating a version 5 store gives the devices hubs registered their owner") {
    test::TempDir dir;
    auto path = dir / "old.db";
    {
        auto db = store::Database::open_sqlite(path, true);
        store::migrate(db, 5);
        db.exec("INSERT INTO products (product_key, name, max_validity_days, certificate_auth, created_at, "
                "created_by) VALUES ('P1', '', 730, 1, 0, 'cli:root')");
        db.exec("INSERT INTO access_list (fingerprint_sha256, serial, principal, role, granted_at, granted_by) "
                "VALUES ('f1', x'41', 'tool:ops', 'hub', 0, 'cli:root'), "
                "('f2', x'42', 'admin:ops', 'admin', 0, 'cli:root')");
        db.exec("INSERT INTO apps (app_key, name, role, sealed_secret, created_at, created_by) VALUES "
                "('k1', 'hub-app', 'hub', x'00', 0, 'cli:root')");
        db.exec("INSERT INTO devices (device_key, product_key, asset_id, created_at, created_by) VALUES "
                "('SN-1', 'P1', 'a1', 0, 'hub:hub-1'), ('SN-2', 'P1', 'a2', 0, 'tool:ops'), "
                "('SN-3', 'P1', 'a3', 0, 'app:hub-app'), ('SN-4', 'P1', 'a4', 0, 'cli:root'), "
                "('SN-5', 'P1', 'a5', 0, 'admin:ops')");
    }
    auto s = store::Store::open(path);
    auto owner = [&](const std::string& key) {
        return s.read([&](const store::Reader& r) { return r.device(key); })->owner;
    };
    CHECK(owner("SN-1") == "hub:hub-1");
    CHECK(owner("SN-2") == "tool:ops");
    CHECK(owner("SN-3") == "app:hub-app");
    CHECK_FALSE(owner("SN-4"));
    CHECK_FALSE(owner("SN-5"));
}
