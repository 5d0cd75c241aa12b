// cli/root_backup.cpp — `edgeca-root backup` splits the root key into sealed custodian shares;
// `edgeca-root restore` rebuilds root.key from any M of them (docs/key-ceremony.md).
#include "cli/root_backup.h"

#include <botan/system_rng.h>
#include <botan/x509cert.h>
#include <fmt/format.h>

#include <iostream>
#include <set>

#include "ca/encoding.h"
#include "ca/errors.h"
#include "ca/files.h"
#include "ca/key_file.h"
#include "ca/key_shares.h"
#include "cli/console.h"
#include "store/store.h"

namespace edgeca::cli {
namespace {

constexpr size_t min_passphrase = 12;  // as for the root key's own passphrase
constexpr size_t max_share_file = 64 * 1024;

struct RootFiles {
    std::filesystem::path certificate;
    std::filesystem::path key;
    std::filesystem::path store;
    explicit RootFiles(const std::filesystem::path& dir)
        : certificate(dir / "root.pem"), key(dir / "root.key"), store(dir / "root.db") {}
};

void require_files(const std::filesystem::path& dir,
                   std::initializer_list<std::filesystem::path> files) {
    if (!std::filesystem::is_directory(dir)) {
        throw ca::Error(ca::ErrorKind::not_found, "directory_missing",
                        fmt::format("the root directory {} does not exist", dir.string()));
    }
    for (const auto& file : files) {
        if (!std::filesystem::exists(file)) {
            throw ca::Error(ca::ErrorKind::not_found, "root_missing",
                            fmt::format("{} holds no complete root: {} is missing", dir.string(),
                                        file.filename().string()));
        }
    }
}

Botan::X509_Certificate load_certificate(const RootFiles& files) {
    auto pem = ca::read_file(files.certificate, "the root certificate");
    return Botan::X509_Certificate(
        ca::decode_single_pem(pem, {"CERTIFICATE"}, "the root certificate"));
}

// A custodian's passphrase: from its file, else a prompt on the terminal. There is no
// environment variable: one variable cannot hold N custodians' secrets.
std::string custodian_passphrase(const std::optional<std::filesystem::path>& file,
                                 const std::string& prompt, bool confirm) {
    try {
        return read_passphrase({file, "", prompt}, confirm, min_passphrase);
    } catch (const ca::Error& e) {
        if (e.code() != "passphrase_missing" || file) throw;
        throw ca::Error(ca::ErrorKind::unauthenticated, "passphrase_missing",
                        fmt::format("no passphrase for {}: give --share-passphrase-file or run "
                                    "on a terminal",
                                    prompt));
    }
}

std::optional<std::filesystem::path> passphrase_file_at(const RootBackupOptions& o, size_t i) {
    if (o.share_passphrase_files.empty()) return std::nullopt;
    return o.share_passphrase_files.at(i);
}

void check_passphrase_file_count(const RootBackupOptions& o, size_t expected,
                                 std::string_view per) {
    if (!o.share_passphrase_files.empty() && o.share_passphrase_files.size() != expected) {
        throw ca::Error(ca::ErrorKind::bad_input, "share_passphrase_count",
                        fmt::format("{} --share-passphrase-file given for {} {}; give one per "
                                    "{} (in order), or none to be asked on the terminal",
                                    o.share_passphrase_files.size(), expected, per, per));
    }
}

std::string key_fingerprint(const std::vector<uint8_t>& spki) {
    return colon_hex(ca::sha256_hex(spki));
}

void append_audit(store::Store& store, const std::string& action, const std::string& outcome,
                  const std::string& certificate_sha256, const std::string& detail) {
    store.write([&](store::Writer& w) {
        w.append_audit({local_actor(), action, "", certificate_sha256, outcome, detail});
    });
}

// Removes what a failed command wrote, so that a refusal leaves nothing behind.
void remove_quietly(const std::vector<std::filesystem::path>& written) {
    for (const auto& path : written) {
        std::error_code ignored;
        std::filesystem::remove(path, ignored);
    }
}

}  // namespace

RootBackupCommands add_root_backup_commands(CLI::App& app, RootBackupOptions& o) {
    RootBackupCommands commands;
    auto* backup = app.add_subcommand(
        "backup", "split the root key into N shares for N custodians, any M of which restore it");
    backup->add_option("--dir", o.dir, "the root's data directory")->required();
    backup->add_option("--shares", o.shares, "N, the number of custodians (2 to 254)")->required();
    backup->add_option("--threshold", o.threshold, "M, the shares a restore needs (2 to N)")
        ->required();
    backup->add_option("--out-dir", o.out_dir,
                       "where to write share-I-of-N.pem (mode 0600; never overwritten)")
        ->required();
    backup->add_option("--share-passphrase-file", o.share_passphrase_files,
                       "custodian I's passphrase file (first line); give it N times, in share "
                       "order; else each is asked on the terminal");
    backup->add_option("--passphrase-file", o.passphrase_file,
                       "file whose first line is the root key's passphrase");
    commands.backup = backup;

    auto* restore = app.add_subcommand(
        "restore", "rebuild root.key from M custodian shares, checked against root.pem");
    restore->add_option("--dir", o.dir, "the root's data directory (root.pem, root.db; no root.key)")
        ->required();
    restore->add_option("--share", o.share_files, "a custodian's share file; give at least M")
        ->required();
    restore->add_option("--share-passphrase-file", o.share_passphrase_files,
                        "the passphrase file of each --share, in the same order; else each is "
                        "asked on the terminal");
    restore->add_option("--passphrase-file", o.passphrase_file,
                        "file whose first line is the new root.key's passphrase");
    commands.restore = restore;
    return commands;
}

int run_root_backup(const RootBackupOptions& o) {
    ca::check_share_split(static_cast<size_t>(std::max(o.threshold, 0)),
                          static_cast<size_t>(std::max(o.shares, 0)));
    const auto count = static_cast<size_t>(o.shares);
    check_passphrase_file_count(o, count, "custodian");
    RootFiles files(o.dir);
    require_files(o.dir, {files.store, files.certificate});
    if (!std::filesystem::exists(files.key) && std::filesystem::exists(files.store) &&
        store::Store::open(files.store).read([](const store::Reader& r) { return r.meta("root_key_uri"); })) {
        throw ca::Error(ca::ErrorKind::conflict, "root_key_in_token",
                        "the root key is inside a PKCS#11 token and never leaves it, so it cannot be split into "
                        "shares; back it up with the token's own backup procedure (docs/key-ceremony.md)");
    }
    require_files(o.dir, {files.key});
    std::vector<std::filesystem::path> targets;
    for (size_t i = 1; i <= count; ++i) {
        targets.push_back(o.out_dir / fmt::format("share-{}-of-{}.pem", i, count));
        if (std::filesystem::exists(targets.back())) {
            throw ca::Error(ca::ErrorKind::conflict, "file_exists",
                            fmt::format("{} already exists; a share is never overwritten "
                                        "(choose another --out-dir)",
                                        targets.back().string()));
        }
    }

    auto store = store::Store::open(files.store);
    auto certificate = load_certificate(files);
    const auto certificate_sha256 = ca::sha256_hex(certificate.BER_encode());
    std::string root_passphrase =
        read_passphrase({o.passphrase_file, "EDGECA_ROOT_PASSPHRASE", "Root key passphrase"},
                        false);
    std::unique_ptr<Botan::Private_Key> key;
    try {
        key = ca::load_encrypted_key(files.key, root_passphrase);
    } catch (const ca::Error& e) {
        append_audit(store, "unlock", "refused", "", e.code());
        throw;
    }
    const auto spki = certificate.subject_public_key_info();
    if (key->subject_public_key() != spki) {
        throw ca::Error(ca::ErrorKind::bad_input, "key_mismatch",
                        fmt::format("{} does not hold the key of {}", files.key.string(),
                                    files.certificate.string()));
    }

    std::vector<std::string> passphrases;
    for (size_t i = 0; i < count; ++i) {
        auto passphrase = custodian_passphrase(
            passphrase_file_at(o, i), fmt::format("Passphrase of custodian {} of {}", i + 1, count),
            true);
        for (size_t j = 0; j < passphrases.size(); ++j) {
            if (passphrases[j] == passphrase) {
                throw ca::Error(ca::ErrorKind::policy, "share_passphrase_reused",
                                fmt::format("custodians {} and {} were given the same "
                                            "passphrase; each custodian needs their own",
                                            j + 1, i + 1));
            }
        }
        passphrases.push_back(std::move(passphrase));
    }

    Botan::System_RNG rng;
    std::cerr << fmt::format("Splitting the root key into {} shares ({} needed), sealing each "
                             "with scrypt and AES-256/GCM...\n",
                             count, o.threshold);
    auto shares = ca::split_key(*key, static_cast<size_t>(o.threshold), passphrases, rng);
    ca::ensure_private_directory(o.out_dir);
    std::vector<std::filesystem::path> written;
    const auto fingerprint = key_fingerprint(spki);
    try {
        for (size_t i = 0; i < count; ++i) {
            ca::write_file_atomically(targets[i], shares[i], 0600, /*exclusive=*/true);
            written.push_back(targets[i]);
        }
        // No backup leaves the machine unrecorded: without its audit entry, the shares go.
        append_audit(store, "key-backup", "ok", certificate_sha256,
                     fmt::format("{}-of-{} key-sha256={}", o.threshold, count,
                                 ca::sha256_hex(spki)));
    } catch (...) {
        remove_quietly(written);
        throw;
    }

    std::cout << fmt::format("Root key split into {} shares; any {} of them restore it ({} of "
                             "{}).\n",
                             count, o.threshold, o.threshold, count);
    for (size_t i = 0; i < count; ++i) {
        std::cout << fmt::format("  {}  custodian {} of {}\n", targets[i].string(), i + 1, count);
    }
    std::cout << fmt::format(
        "Key SHA-256 (of its SubjectPublicKeyInfo; record it in the ceremony log):\n  {}\n"
        "Hand each custodian their own share file only; see docs/key-ceremony.md.\n",
        fingerprint);
    return exit_ok;
}

int run_root_restore(const RootBackupOptions& o) {
    RootFiles files(o.dir);
    require_files(o.dir, {files.store, files.certificate});
    if (std::filesystem::exists(files.key)) {
        throw ca::Error(ca::ErrorKind::conflict, "root_key_exists",
                        fmt::format("{} already exists; restore never replaces a key (move it "
                                    "aside if it is damaged)",
                                    files.key.string()));
    }
    check_passphrase_file_count(o, o.share_files.size(), "--share");
    auto certificate = load_certificate(files);
    const auto spki = certificate.subject_public_key_info();

    // Every header is checked before any custodian is asked for a passphrase.
    std::vector<ca::ShareInput> shares;
    std::vector<std::pair<std::string, ca::KeyShareHeader>> headers;
    for (const auto& path : o.share_files) {
        auto pem = ca::read_file(path, "the share file", max_share_file);
        headers.emplace_back(path.string(), ca::read_share_header(pem, path.string()));
        shares.push_back({path.string(), std::move(pem), ""});
    }
    ca::check_share_set(headers, ca::key_id_of(spki));
    for (size_t i = 0; i < shares.size(); ++i) {
        const auto& header = headers[i].second;
        shares[i].passphrase = custodian_passphrase(
            passphrase_file_at(o, i),
            fmt::format("Passphrase of custodian {} of {} ({})", header.index, header.count,
                        shares[i].name),
            false);
    }
    std::cerr << "Opening the shares and joining them...\n";
    auto key = ca::join_shares(shares, spki);

    std::string passphrase =
        read_passphrase({o.passphrase_file, "EDGECA_ROOT_PASSPHRASE", "New root key passphrase"},
                        true, min_passphrase);
    auto store = store::Store::open(files.store);
    Botan::System_RNG rng;
    ca::write_encrypted_key(files.key, *key, passphrase, rng);
    const auto& header = headers.front().second;
    try {
        append_audit(store, "key-restore", "ok", ca::sha256_hex(certificate.BER_encode()),
                     fmt::format("{}-of-{} key-sha256={}", header.threshold, header.count,
                                 ca::sha256_hex(spki)));
    } catch (...) {
        remove_quietly({files.key});
        throw;
    }
    std::cout << fmt::format(
        "Root key rebuilt from {} shares ({} of {} needed) and written to {} (encrypted PKCS#8, "
        "mode 0600).\nKey SHA-256 (matches root.pem):\n  {}\n",
        shares.size(), header.threshold, header.count, files.key.string(), key_fingerprint(spki));
    return exit_ok;
}

}  // namespace edgeca::cli
