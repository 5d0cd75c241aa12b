// cli/store_commands.cpp — edgeca store migrate: from the embedded SQLite file to a PostgreSQL
// database that several nodes share, checked before the directory is switched over.
#include <botan/hash.h>
#include <fmt/format.h>

#include <algorithm>
#include <fstream>
#include <iostream>
#include <sstream>

#include "ca/encoding.h"
#include "ca/errors.h"
#include "ca/files.h"
#include "cli/commands.h"
#include "cli/console.h"
#include "cli/exit_codes.h"
#include "cli/issuer_directory.h"

namespace edgeca::cli {
namespace {

struct Options {
    std::filesystem::path dir;
    std::string to;
};

// SHA-256 over what identifies every certificate and its state, in id order.
std::string certificates_digest(const store::Store& store) {
    auto hash = Botan::HashFunction::create_or_throw("SHA-256");
    store::CertificateFilter filter;
    filter.limit = 5000;
    for (;;) {
        auto page = store.read([&](const store::Reader& r) { return r.certificates(filter); });
        for (const auto& c : page) {
            hash->update(fmt::format("{}|{}|{}|{}|{}|{}|{}\n", c.id, ca::to_hex(c.serial), c.fingerprint_sha256,
                                     c.revoked_at ? c.revoked_at->time_since_epoch().count() : -1,
                                     c.revocation_reason.value_or(-1), c.device_key.value_or(""),
                                     ca::sha256_hex(c.der)));
        }
        if (page.size() < static_cast<size_t>(filter.limit)) break;
        filter.after_id = page.back().id;
    }
    return ca::to_hex(hash->final_stdvec());
}

// Issuer 1, and every issuer recorded after it: each has its own CRL.
std::vector<int64_t> issuer_ids(const store::Store& store) {
    std::vector<int64_t> ids{1};
    for (const auto& issuer : store.read([](const store::Reader& r) { return r.issuers(); })) {
        if (issuer.id != 1) ids.push_back(issuer.id);
    }
    return ids;
}

// SHA-256 over the entries the CRLs signed now would list (each issuer's, in serial order:
// revocations of one second come in either engine's own order), and their count.
std::pair<std::string, int64_t> crl_entries_digest(const store::Store& store, store::Time now) {
    std::vector<std::string> lines;
    const auto ids = issuer_ids(store);
    store.read([&](const store::Reader& r) {
        for (auto id : ids) {
            r.each_revoked_entry(now, [&](store::RevokedEntry&& e) {
                lines.push_back(fmt::format("{}|{}|{}|{}\n", id, ca::to_hex(e.serial),
                                            e.revoked_at.time_since_epoch().count(), e.reason));
            }, id);
        }
    });
    std::sort(lines.begin(), lines.end());
    auto hash = Botan::HashFunction::create_or_throw("SHA-256");
    for (const auto& line : lines) hash->update(line);
    return {ca::to_hex(hash->final_stdvec()), static_cast<int64_t>(lines.size())};
}

void refuse(const std::string& code, const std::string& what) {
    throw ca::Error(ca::ErrorKind::internal, code, what);
}

// Every check compares the copy with the source; the first difference stops the migration
// before the directory is switched.
void verify_copy(const store::Store& source, const store::Store& target) {
    auto source_rows = source.table_rows();
    auto target_rows = target.table_rows();
    for (size_t i = 0; i < source_rows.size(); ++i) {
        if (source_rows[i].rows != target_rows[i].rows) {
            refuse("migration_mismatch", fmt::format("table {}: {} rows in the source, {} in the copy",
                                                     source_rows[i].table, source_rows[i].rows,
                                                     target_rows[i].rows));
        }
    }
    std::cerr << "verified: every table holds as many rows as the source\n";
    auto source_chain = source.read([](const store::Reader& r) { return r.verify_audit_chain(); });
    auto target_chain = target.read([](const store::Reader& r) { return r.verify_audit_chain(); });
    if (!target_chain.intact || target_chain.head_hash != source_chain.head_hash ||
        target_chain.entries != source_chain.entries) {
        refuse("migration_mismatch", fmt::format("the copied audit chain does not verify to the source's head: {}",
                                                 target_chain.intact ? "another head" : target_chain.problem));
    }
    std::cerr << fmt::format("verified: the audit chain, {} entries, head {}\n", target_chain.entries,
                             target_chain.head_hash.substr(0, 16));
    if (certificates_digest(source) != certificates_digest(target)) {
        refuse("migration_mismatch", "the copied certificates differ from the source's");
    }
    std::cerr << "verified: every certificate, its serial, key, DER and revocation\n";
    const auto now = std::chrono::time_point_cast<std::chrono::seconds>(std::chrono::system_clock::now());
    auto [source_crl, entries] = crl_entries_digest(source, now);
    if (crl_entries_digest(target, now).first != source_crl) {
        refuse("migration_mismatch", "a CRL built from the copy would not list the same serials");
    }
    std::optional<store::CrlRecord> source_latest;
    for (auto id : issuer_ids(source)) {
        source_latest = source.read([id](const store::Reader& r) { return r.latest_crl(id); });
        auto target_latest = target.read([id](const store::Reader& r) { return r.latest_crl(id); });
        if (source_latest.has_value() != target_latest.has_value() ||
            (source_latest && source_latest->der != target_latest->der)) {
            refuse("migration_mismatch", fmt::format("the newest signed CRL of issuing CA {} differs from the source's", id));
        }
    }
    source_latest = source.read([](const store::Reader& r) { return r.latest_crl(1); });
    std::cerr << fmt::format("verified: a CRL built from the copy lists the same {} serials; the newest signed CRL "
                             "({}) is the same\n",
                             entries, source_latest ? std::to_string(source_latest->number) : "none");
}

// Points the directory's edgeca.toml at the new store: `url = "..."` right under its [store]
// header (a section added at the end when there is none), and any other `url` setting of that
// section (an empty one) dropped. Comments and every other line stay as they were.
void switch_configuration(const IssuerDirectory& d, const std::string& url) {
    std::string text = std::filesystem::exists(d.config()) ? ca::read_file(d.config(), "the settings") : "";
    std::istringstream in(text);
    std::string out, line;
    bool placed = false, in_store = false;
    while (std::getline(in, line)) {
        const auto start = line.find_first_not_of(" \t");
        const std::string_view trimmed = start == std::string::npos ? std::string_view() : std::string_view(line).substr(start);
        if (trimmed.starts_with("[")) in_store = trimmed.starts_with("[store]");
        if (in_store && trimmed.starts_with("url") && trimmed.find('=') != std::string_view::npos) continue;
        out += line + "\n";
        if (in_store && !placed) {
            out += fmt::format("url = \"{}\"\n", url);
            placed = true;
        }
    }
    if (!placed) out += fmt::format("\n[store]\nurl = \"{}\"\n", url);
    ca::write_file_atomically(d.config(), out, 0600);
}

int run_migrate(const Options& o) {
    IssuerDirectory d{o.dir};
    d.require_initialised();
    const auto config = d.load_config(std::nullopt);
    if (!effective_store_url(config).empty()) {
        throw ca::Error(ca::ErrorKind::conflict, "already_on_server",
                        fmt::format("{} already uses the store {}; migrate copies the SQLite file {} into a "
                                    "new PostgreSQL database",
                                    o.dir.string(), store::redact_url(effective_store_url(config)),
                                    d.store().string()));
    }
    auto source = store::Store::open(d.store());
    std::cerr << fmt::format("Copying {} into {} (stop edgeca serve on this directory first: what it writes "
                             "meanwhile would stay behind)\n",
                             d.store().string(), store::redact_url(o.to));
    auto target = store::Store::create(store::StoreLocation{.url = o.to});
    auto copied = target.copy_from(source, [](const std::string& table, int64_t rows) {
        std::cerr << fmt::format("  {:<18} {:>10} rows\n", table, rows);
    });
    verify_copy(source, target);
    target.write([&](store::Writer& w) {
        w.append_audit({local_actor(), "store-migrate", "", "", "ok",
                        fmt::format("from={} to={}", d.store().string(), store::redact_url(o.to))});
    });
    switch_configuration(d, o.to);
    int64_t total = 0;
    for (const auto& table : copied) total += table.rows;
    std::cout << fmt::format(
        "Store migrated: {} rows in {} tables copied into {} and verified.\n"
        "{} now names it ([store] url); every node given a copy of {} uses it.\n"
        "{} is left as it was, as a backup: nothing writes to it any more.\n",
        total, copied.size(), store::redact_url(o.to), d.config().string(), o.dir.string(), d.store().string());
    return exit_ok;
}

}  // namespace

std::vector<Command> add_store_commands(CLI::App& app) {
    auto o = std::make_shared<Options>();
    auto* store = app.add_subcommand("store", "the issuing CA's store (SQLite file or PostgreSQL database)");
    store->require_subcommand(1);
    auto* migrate = store->add_subcommand(
        "migrate",
        "copy the SQLite store into an empty PostgreSQL database, verify the copy (rows, audit chain, certificates, "
        "CRL entries), then point the directory's settings at it. Stop the service first. The password comes from "
        "PGPASSWORD or a passfile, never the URL");
    migrate->add_option("--dir", o->dir, "the issuing CA's data directory")->required();
    migrate->add_option("--to", o->to, "postgresql://user@host[:port][,host2...]/database[?...]")->required();
    return {{migrate, [o] { return run_migrate(*o); }}};
}

}  // namespace edgeca::cli
