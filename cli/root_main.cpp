// cli/root_main.cpp — edgeca-root, the offline root CA's key-ceremony tool. It links no HTTP
// library and opens no socket: everything it does stays on the machine it runs on.
#include <sys/stat.h>

#include <CLI/CLI.hpp>
#include <botan/system_rng.h>
#include <botan/x509cert.h>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cctype>

#include <iostream>

#include "ca/audit_checkpoint.h"
#include "ca/certificate_facts.h"
#include "ca/certificate_request.h"
#include "ca/encoding.h"
#include "ca/errors.h"
#include "ca/files.h"
#include "ca/key_file.h"
#include "ca/pkcs11_key.h"
#include "ca/revocation_reason.h"
#include "ca/root_authority.h"
#include "ca/serial_number.h"
#include "cli/console.h"
#include "cli/root_backup.h"
#include "cli/token_key.h"
#include "cli/records_output.h"
#include "crl/crl_publisher.h"
#include "store/store.h"

namespace edgeca::cli {
namespace {

constexpr size_t min_root_passphrase = 12;
constexpr const char* program = "edgeca-root";
constexpr const char* root_pin_env = "EDGECA_ROOT_PKCS11_PIN";
// Store metadata of a root whose key is in a PKCS#11 token: its URI and the module path.
constexpr const char* key_uri_meta = "root_key_uri";
constexpr const char* module_meta = "root_pkcs11_module";

struct RootPaths {
    std::filesystem::path dir;
    std::filesystem::path certificate() const { return dir / "root.pem"; }
    std::filesystem::path key() const { return dir / "root.key"; }
    std::filesystem::path store() const { return dir / "root.db"; }
};

struct Options {
    std::filesystem::path dir;
    std::optional<std::filesystem::path> passphrase_file;
    std::filesystem::path new_dir;                             // rollover
    std::optional<std::filesystem::path> new_passphrase_file;  // rollover
    std::string subject;
    int validity_days = 0;
    std::optional<int> intermediate_days;
    std::filesystem::path csr;
    std::filesystem::path out;
    std::string serial;
    std::string reason;
    int next_update_days = 90;
    std::vector<std::string> crl_urls;
    std::string format;
    bool verify = false;
    std::optional<std::filesystem::path> signer;
    TokenKeySettings token;  // --key (init), --pkcs11-module, --pin-file
};

PassphraseSource passphrase_source(const Options& o) {
    return {o.passphrase_file, "EDGECA_ROOT_PASSPHRASE", "Root key passphrase"};
}

// The new root's passphrase in a rollover: its own file, variable and prompt, so that the two
// keys never share a passphrase by accident.
PassphraseSource new_passphrase_source(const Options& o) {
    return {o.new_passphrase_file, "EDGECA_ROOT_NEW_PASSPHRASE", "New root key passphrase"};
}

// A root directory that `init` finished: all three files are there.
RootPaths existing_root(const std::filesystem::path& dir) {
    RootPaths paths{dir};
    if (!std::filesystem::is_directory(dir)) {
        throw ca::Error(ca::ErrorKind::not_found, "directory_missing",
                        fmt::format("the root directory {} does not exist; run 'edgeca-root "
                                    "init --dir {}' first",
                                    dir.string(), dir.string()));
    }
    auto missing = [&dir](const std::filesystem::path& file) {
        return ca::Error(ca::ErrorKind::not_found, "root_missing",
                         fmt::format("{} holds no complete root: {} is missing", dir.string(),
                                     file.filename().string()));
    };
    for (const auto& file : {paths.store(), paths.certificate()}) {
        if (!std::filesystem::exists(file)) throw missing(file);
    }
    // A root whose key is in a token has no root.key; its store says where the key is.
    if (!std::filesystem::exists(paths.key()) &&
        !store::Store::open(paths.store()).read([](const store::Reader& r) { return r.meta(key_uri_meta); })) {
        throw missing(paths.key());
    }
    return paths;
}

// Where the root's token key is: the URI and module recorded at init, the module and PIN
// file of this ceremony's command line over them.
std::optional<TokenKeySettings> recorded_token_key(store::Store& store, const Options& o) {
    auto [uri, module] = store.read([](const store::Reader& r) {
        return std::make_pair(r.meta(key_uri_meta), r.meta(module_meta));
    });
    if (!uri) return std::nullopt;
    TokenKeySettings kept{uri, module ? std::optional<std::filesystem::path>(*module) : std::nullopt, std::nullopt};
    return merge({std::nullopt, o.token.module, o.token.pin_file}, kept);
}

Botan::X509_Certificate load_root_certificate(const RootPaths& paths) {
    auto pem = ca::read_file(paths.certificate(), "the root certificate");
    auto der = ca::decode_single_pem(pem, {"CERTIFICATE"}, "the root certificate");
    return Botan::X509_Certificate(der);
}

// The root key is at hand only during a ceremony: each ceremony command that unlocked it ends
// by signing a checkpoint of the audit log, so that `audit --verify` can prove the log with
// root.pem alone.
void sign_checkpoint(store::Store& store, const ca::RootAuthority& root, const ca::Clock& clock,
                     Botan::RandomNumberGenerator& rng) {
    ca::sign_audit_checkpoint(store, root.key(), rng, clock.now());
}

// A directory that holds no root, not even an unfinished one.
void require_no_root(const RootPaths& paths) {
    for (const auto& file : {paths.certificate(), paths.key(), paths.store()}) {
        if (std::filesystem::exists(file)) {
            bool finished = std::filesystem::exists(paths.certificate());
            throw ca::Error(
                ca::ErrorKind::conflict, "root_exists",
                finished ? fmt::format("{} already holds a root ({}); edgeca-root never "
                                       "replaces one",
                                       paths.dir.string(), file.filename().string())
                         : fmt::format("{} holds an unfinished root ({} exists, root.pem does "
                                       "not); move the directory aside and run the command again",
                                       paths.dir.string(), file.filename().string()));
        }
    }
}

int run_init(const Options& o) {
    RootPaths paths{o.dir};
    require_no_root(paths);
    ca::check_validity_days(o.validity_days);
    auto subject = ca::parse_distinguished_name(o.subject);
    ca::build_subject(subject);  // refuse a bad subject or URL before asking for a passphrase
    for (const auto& url : o.crl_urls) ca::check_crl_url(url);

    if (!o.token.key && (o.token.module || o.token.pin_file)) {
        throw ca::Error(ca::ErrorKind::bad_input, "key_uri_missing",
                        "--pkcs11-module and --pin-file go with --key pkcs11:...");
    }

    Botan::System_RNG rng;
    std::unique_ptr<Botan::Private_Key> key;
    std::string key_place;
    std::optional<ca::Pkcs11Uri> token_uri;
    std::filesystem::path token_module;
    std::string passphrase;
    if (o.token.key) {
        // The token refuses (module, token, PIN, label taken) before anything is written.
        auto location = token_key_location(o.token, root_pin_env);
        std::cerr << fmt::format("Generating the root's RSA-2048 key inside the token ({})...\n",
                                 location.uri.describe());
        auto generated = ca::generate_token_key(location);
        key = std::move(generated.key);
        token_uri = generated.uri;
        token_module = std::filesystem::absolute(location.module);
        key_place = fmt::format("in the token: {} (sensitive, never extractable)", generated.uri.to_string());
    } else {
        passphrase = read_passphrase(passphrase_source(o), true, min_root_passphrase);
        std::cerr << "Generating the root's RSA-2048 key from the system RNG...\n";
        key = ca::generate_rsa_2048(rng);
        key_place = fmt::format("{} (encrypted PKCS#8, mode 0600)", paths.key().string());
    }
    ca::ensure_private_directory(o.dir);
    ca::SystemClock clock;
    auto store = store::Store::create(paths.store());
    if (token_uri) {
        store.write([&](store::Writer& w) {
            w.set_meta(key_uri_meta, token_uri->to_string());
            w.set_meta(module_meta, token_module.string());
        });
    } else {
        std::cerr << "Encrypting the key (PBES2, PBKDF2-SHA256, AES-256-CBC)...\n";
        ca::write_encrypted_key(paths.key(), *key, passphrase, rng);
    }
    auto certificate =
        ca::RootAuthority::create(store, *key, subject, o.validity_days, clock, rng, local_actor());
    ca::RootAuthority root(store, clock, rng, std::move(key), certificate);
    if (!o.crl_urls.empty()) root.set_intermediate_crl_urls(o.crl_urls, local_actor());
    sign_checkpoint(store, root, clock, rng);
    auto der = certificate.BER_encode();
    ca::write_file_atomically(paths.certificate(), ca::encode_pem(der, "CERTIFICATE"), 0644,
                              /*exclusive=*/true);

    std::cout << fmt::format(
        "Root CA created in {}\n"
        "  subject:      {}\n"
        "  serial:       {}\n"
        "  valid:        {} to {}\n"
        "  certificate:  {}\n"
        "  private key:  {}\n"
        "  store:        {}\n"
        "  root CRL URL: {}\n"
        "SHA-256 fingerprint (read it aloud; record it in the ceremony log):\n"
        "  {}\n",
        o.dir.string(), ca::to_rfc4514(certificate.subject_dn()),
        ca::to_hex(certificate.serial_number()),
        ca::to_rfc3339(ca::to_time(certificate.not_before())),
        ca::to_rfc3339(ca::to_time(certificate.not_after())), paths.certificate().string(),
        key_place, paths.store().string(),
        o.crl_urls.empty() ? "none (issuing CAs get no CRL distribution point; see --crl-url)"
                           : fmt::format("{}", fmt::join(o.crl_urls, " ")),
        colon_hex(ca::sha256_hex(der)));
    return exit_ok;
}

// Opens the root: the store first, so that a wrong passphrase is itself an audit entry.
ca::RootAuthority open_root(const RootPaths& paths, store::Store& store, const Options& o,
                            const ca::Clock& clock, Botan::RandomNumberGenerator& rng) {
    auto certificate = load_root_certificate(paths);
    auto token = recorded_token_key(store, o);
    std::unique_ptr<Botan::Private_Key> key;
    std::string key_name = paths.key().string();
    try {
        if (token) {
            auto location = token_key_location(*token, root_pin_env);
            key_name = "the token key " + location.uri.describe();
            key = ca::load_token_key(location);
        } else {
            key = ca::load_encrypted_key(paths.key(), read_passphrase(passphrase_source(o), false));
        }
    } catch (const ca::Error& e) {
        store.write([&](store::Writer& w) {
            w.append_audit({local_actor(), "unlock", "", "", "refused", e.code()});
        });
        throw;
    }
    if (key->subject_public_key() != certificate.subject_public_key_info()) {
        throw ca::Error(ca::ErrorKind::bad_input, "key_mismatch",
                        fmt::format("{} does not hold the key of {}", key_name,
                                    paths.certificate().string()));
    }
    return ca::RootAuthority(store, clock, rng, std::move(key), std::move(certificate));
}


int run_sign_intermediate(const Options& o) {
    auto paths = existing_root(o.dir);
    auto csr = ca::CertificateRequest::read(o.csr);
    for (const auto& url : o.crl_urls) ca::check_crl_url(url);
    if (std::filesystem::exists(o.out)) {
        throw ca::Error(ca::ErrorKind::conflict, "file_exists",
                        fmt::format("{} already exists; choose another --out", o.out.string()));
    }
    auto store = store::Store::open(paths.store());
    ca::SystemClock clock;
    Botan::System_RNG rng;
    auto root = open_root(paths, store, o, clock, rng);
    if (!o.crl_urls.empty() && o.crl_urls != root.intermediate_crl_urls()) {
        root.set_intermediate_crl_urls(o.crl_urls, local_actor());
    }
    auto certificate = root.sign_intermediate(csr, o.intermediate_days,
                                              local_actor());
    sign_checkpoint(store, root, clock, rng);
    const auto crl_urls = root.intermediate_crl_urls();
    // Recorded in the store already; only now does the certificate leave the tool.
    auto der = certificate.BER_encode();
    ca::write_file_atomically(o.out, ca::encode_pem(der, "CERTIFICATE"), 0644, true);
    std::cout << fmt::format(
        "Issuing CA certificate written to {}\n"
        "  subject:  {}\n"
        "  serial:   {}\n"
        "  valid:    {} to {}\n"
        "  CRL DP:   {}\n"
        "  SHA-256:  {}\n",
        o.out.string(), ca::to_rfc4514(certificate.subject_dn()),
        ca::to_hex(certificate.serial_number()),
        ca::to_rfc3339(ca::to_time(certificate.not_before())),
        ca::to_rfc3339(ca::to_time(certificate.not_after())),
        crl_urls.empty() ? std::string("none") : fmt::format("{}", fmt::join(crl_urls, " ")),
        colon_hex(ca::sha256_hex(der)));
    return exit_ok;
}

// A new root beside the old, and the two link certificates that let a device trusting either
// one verify what the other signed. Both keys are unlocked in the one ceremony.
int run_rollover(const Options& o) {
    auto old_paths = existing_root(o.dir);
    RootPaths new_paths{o.new_dir};
    if (std::filesystem::exists(o.new_dir) && std::filesystem::exists(o.dir) &&
        std::filesystem::equivalent(o.new_dir, o.dir)) {
        throw ca::Error(ca::ErrorKind::conflict, "root_exists", "--new-dir must be another directory than --dir");
    }
    require_no_root(new_paths);
    for (const auto& name : {"link-old-with-new.pem", "link-new-with-old.pem"}) {
        if (std::filesystem::exists(o.new_dir / name)) {
            throw ca::Error(ca::ErrorKind::conflict, "root_exists",
                            fmt::format("{} already exists; move the directory aside", (o.new_dir / name).string()));
        }
    }
    ca::check_validity_days(o.validity_days);
    auto subject = ca::parse_distinguished_name(o.subject);
    auto subject_dn = ca::build_subject(subject);
    for (const auto& url : o.crl_urls) ca::check_crl_url(url);
    auto old_certificate = load_root_certificate(old_paths);
    // Refused before any passphrase is asked for; certify_link checks it again.
    if (subject_dn == old_certificate.subject_dn()) {
        throw ca::Error(ca::ErrorKind::policy, "same_subject",
                        fmt::format("the new root's subject is the old root's ('{}'): give the new root another "
                                    "name, e.g. with a generation (\"CN=... Root CA G2\")",
                                    ca::to_rfc4514(old_certificate.subject_dn())));
    }

    auto old_store = store::Store::open(old_paths.store());
    ca::SystemClock clock;
    Botan::System_RNG rng;
    auto old_root = open_root(old_paths, old_store, o, clock, rng);
    std::string new_passphrase = read_passphrase(new_passphrase_source(o), true, min_root_passphrase);
    ca::ensure_private_directory(o.new_dir);

    std::cerr << "Generating the new root's RSA-2048 key from the system RNG...\n";
    auto key = ca::generate_rsa_2048(rng);
    auto new_store = store::Store::create(new_paths.store());
    ca::write_encrypted_key(new_paths.key(), *key, new_passphrase, rng);
    auto new_certificate = ca::RootAuthority::create(new_store, *key, subject, o.validity_days, clock, rng,
                                                     local_actor());
    ca::RootAuthority new_root(new_store, clock, rng, std::move(key), new_certificate);
    // The new root's CRL is served where the old one's is (each issuing CA serves its own
    // root's at /root.crl), unless the ceremony says otherwise.
    const auto crl_urls = o.crl_urls.empty() ? old_root.intermediate_crl_urls() : o.crl_urls;
    if (!crl_urls.empty()) new_root.set_intermediate_crl_urls(crl_urls, local_actor());

    auto old_with_new = old_root.certify_link(new_certificate, local_actor());
    auto new_with_old = new_root.certify_link(old_certificate, local_actor());
    sign_checkpoint(old_store, old_root, clock, rng);
    sign_checkpoint(new_store, new_root, clock, rng);

    auto pem = [](const Botan::X509_Certificate& c) { return ca::encode_pem(c.BER_encode(), "CERTIFICATE"); };
    ca::write_file_atomically(o.new_dir / "link-old-with-new.pem", pem(old_with_new), 0644, true);
    ca::write_file_atomically(o.new_dir / "link-new-with-old.pem", pem(new_with_old), 0644, true);
    // root.pem last: its presence marks the new directory as a finished root.
    ca::write_file_atomically(new_paths.certificate(), pem(new_certificate), 0644, true);

    const auto der = new_certificate.BER_encode();
    std::cout << fmt::format(
        "New root CA created in {}\n"
        "  subject:      {}\n"
        "  serial:       {}\n"
        "  valid:        {} to {}\n"
        "  certificate:  {}\n"
        "  private key:  {} (encrypted PKCS#8, mode 0600)\n"
        "  root CRL URL: {}\n"
        "Link certificates, valid {} to {} (the overlap):\n"
        "  {} (old root certifies the new key, serial {}, recorded in {})\n"
        "  {} (new root certifies the old key, serial {}, recorded in {})\n"
        "SHA-256 fingerprint of the new root (read it aloud; record it in the ceremony log):\n"
        "  {}\n"
        "Next: on the issuing CA, edgeca trust add --dir ISSUER_DIR --cert {} --cert {} --cert {}\n",
        o.new_dir.string(), ca::to_rfc4514(new_certificate.subject_dn()),
        ca::to_hex(new_certificate.serial_number()), ca::to_rfc3339(ca::to_time(new_certificate.not_before())),
        ca::to_rfc3339(ca::to_time(new_certificate.not_after())), new_paths.certificate().string(),
        new_paths.key().string(),
        crl_urls.empty() ? "none (issuing CAs get no CRL distribution point; see --crl-url)"
                         : fmt::format("{}", fmt::join(crl_urls, " ")),
        ca::to_rfc3339(ca::to_time(old_with_new.not_before())),
        ca::to_rfc3339(ca::to_time(old_with_new.not_after())), (o.new_dir / "link-old-with-new.pem").string(),
        ca::to_hex(old_with_new.serial_number()), old_paths.store().string(),
        (o.new_dir / "link-new-with-old.pem").string(), ca::to_hex(new_with_old.serial_number()),
        new_paths.store().string(), colon_hex(ca::sha256_hex(der)), new_paths.certificate().string(),
        (o.new_dir / "link-old-with-new.pem").string(), (o.new_dir / "link-new-with-old.pem").string());
    return exit_ok;
}

int run_revoke(const Options& o) {
    auto paths = existing_root(o.dir);
    auto code = ca::reason_code(o.reason);
    if (!code) {
        throw ca::Error(ca::ErrorKind::bad_input, "reason_invalid",
                        fmt::format("'{}' is not an RFC 5280 reason name (keyCompromise, "
                                    "cACompromise, affiliationChanged, superseded, "
                                    "cessationOfOperation, ...)",
                                    o.reason));
    }
    auto serial = ca::SerialNumber::from_hex(o.serial);
    auto store = store::Store::open(paths.store());
    ca::SystemClock clock;
    Botan::System_RNG rng;
    auto root = open_root(paths, store, o, clock, rng);
    auto record = root.revoke(serial.bytes(), *code, local_actor());
    sign_checkpoint(store, root, clock, rng);
    std::cout << fmt::format("revoked {} ({}) reason={}\nPublish a new root CRL: edgeca-root crl --dir {} --out root.crl\n",
                             ca::to_hex(record.serial), record.subject, o.reason, o.dir.string());
    return exit_ok;
}

// DER or PEM: --format when given, else the file's extension (.der, .crl: DER); PEM otherwise,
// as before --format existed.
bool crl_as_der(const Options& o) {
    if (!o.format.empty()) return o.format == "der";
    auto extension = o.out.extension().string();
    std::transform(extension.begin(), extension.end(), extension.begin(), [](unsigned char c) { return std::tolower(c); });
    return extension == ".der" || extension == ".crl";
}

int run_crl(const Options& o) {
    auto paths = existing_root(o.dir);
    const bool der = crl_as_der(o);
    if (o.next_update_days < 1 || o.next_update_days > 3650) {
        throw ca::Error(ca::ErrorKind::bad_input, "next_update_invalid", "--next-update-days is 1 to 3650");
    }
    auto store = store::Store::open(paths.store());
    ca::SystemClock clock;
    Botan::System_RNG rng;
    auto root = open_root(paths, store, o, clock, rng);
    const auto now = clock.now();
    auto crl = crl::sign_crl(store, root.certificate(), root.key(), now, now + std::chrono::days(o.next_update_days),
                             1000, rng, local_actor());
    sign_checkpoint(store, root, clock, rng);
    ca::write_file_atomically(o.out,
                              der ? std::string_view(reinterpret_cast<const char*>(crl.der.data()), crl.der.size())
                                  : std::string_view(crl.pem),
                              0644);
    std::cout << fmt::format("root CRL {} written to {} ({}): {} revoked, next update {}\n"
                             "Install it on the issuing CA, which serves it at /root.crl: edgeca root-crl install "
                             "--dir ISSUER_DIR --crl {}\n",
                             crl.number, o.out.string(), der ? "DER" : "PEM", crl.entries,
                             ca::to_rfc3339(crl.next_update), o.out.string());
    return exit_ok;
}

int run_list(const Options& o) {
    auto paths = existing_root(o.dir);
    auto store = store::Store::open(paths.store());
    print_certificate_table(store, std::cout);
    return exit_ok;
}

int run_show(const Options& o) {
    auto paths = existing_root(o.dir);
    auto store = store::Store::open(paths.store());
    auto serial = ca::SerialNumber::from_hex(o.serial);
    auto record = store.read([&](const store::Reader& r) {
        return r.certificate_by_serial(serial.bytes());
    });
    if (!record) {
        throw ca::Error(ca::ErrorKind::not_found, "certificate_not_found",
                        fmt::format("no certificate with serial {} in {}", serial.hex(),
                                    paths.store().string()));
    }
    print_certificate_details(*record, std::cout);
    return exit_ok;
}

int run_audit(const Options& o) {
    auto paths = existing_root(o.dir);
    auto store = store::Store::open(paths.store());
    auto signer = o.signer ? Botan::X509_Certificate(ca::decode_single_pem(
                                 ca::read_file(*o.signer, "the root certificate"), {"CERTIFICATE"},
                                 "the root certificate"))
                           : load_root_certificate(paths);
    return print_audit(store, signer, o.verify, std::cout);
}

}  // namespace
}  // namespace edgeca::cli

int main(int argc, char** argv) {
    using namespace edgeca::cli;
    ::umask(077);
    Options o;
    CLI::App app{
        "edgeca-root: the offline root CA of edgeca. Run it on an air-gapped machine: it makes "
        "the root key and certificate, certifies issuing CAs, and keeps an audit trail. It never "
        "opens a network connection."};
    app.require_subcommand(1);
    app.footer(
        "Passphrase: --passphrase-file F (first line), else $EDGECA_ROOT_PASSPHRASE, else a "
        "prompt on the terminal. Never on the command line. rollover also needs the new root's: "
        "--new-passphrase-file F, else $EDGECA_ROOT_NEW_PASSPHRASE, else a prompt.\n"
        "Key in a PKCS#11 token: init --key \"pkcs11:token=LABEL;object=NAME\" --pkcs11-module PATH "
        "generates it inside the token (sensitive, never extractable) and records the URI and module in "
        "the root's store; later ceremonies need only the PIN: --pin-file F (first line), else "
        "$EDGECA_ROOT_PKCS11_PIN, else a prompt.\n"
        "Exit codes: 0 ok, 1 internal, 2 usage, 3 bad input (malformed or badly signed CSR, "
        "unknown reason), 4 policy (key not RSA-2048, subject, a new root named as the old), 5 wrong or missing passphrase, "
        "6 missing directory or serial, 7 root exists or already revoked, 8 I/O or store "
        "unavailable, 9 audit chain broken.\n"
        "See docs/key-ceremony.md.");

    auto add_dir = [&](CLI::App* sub) {
        sub->add_option("--dir", o.dir, "the root's data directory")->required();
    };
    auto add_passphrase = [&](CLI::App* sub) {
        sub->add_option("--passphrase-file", o.passphrase_file,
                        "file whose first line is the root key's passphrase");
        sub->add_option("--pkcs11-module", o.token.module,
                        "root key in a token: its PKCS#11 module (default: the one recorded at init)");
        sub->add_option("--pin-file", o.token.pin_file,
                        "root key in a token: file whose first line is the user PIN (else "
                        "$EDGECA_ROOT_PKCS11_PIN, else a prompt)");
    };

    auto* init = app.add_subcommand("init", "create the root key and self-signed certificate");
    add_dir(init);
    init->add_option("--subject", o.subject, "root subject, e.g. \"CN=Acme IoT Root CA,O=Acme,C=CN\"")
        ->required();
    init->add_option("--validity-days", o.validity_days, "lifetime of the root certificate")
        ->required();
    init->add_option("--crl-url", o.crl_urls,
                     "where the root CRL will be served (http://HOST:PORT/root.crl on the issuing CA's public "
                     "listener): written as CRL distribution point into every issuing CA certificate; "
                     "repeatable; kept in the root directory for later signings");
    init->add_option("--key", o.token.key,
                     "generate the root key inside a PKCS#11 token instead of root.key: an RFC 7512 URI such "
                     "as \"pkcs11:token=ROOT;object=edgeca-root\" (needs --pkcs11-module or module-path)");
    add_passphrase(init);

    auto* sign = app.add_subcommand("sign-intermediate", "certify an issuing CA's CSR");
    add_dir(sign);
    sign->add_option("--csr", o.csr, "the issuing CA's CSR (PEM or DER)")->required();
    sign->add_option("--out", o.out, "where to write the certificate (PEM); never overwritten")
        ->required();
    sign->add_option("--validity-days", o.intermediate_days,
                     "lifetime, clamped to the root's (default 1825)");
    sign->add_option("--crl-url", o.crl_urls,
                     "replace the root CRL URLs kept in the root directory (from init --crl-url) by these "
                     "(repeatable); without it the kept ones are used");
    add_passphrase(sign);

    auto* rollover = app.add_subcommand(
        "rollover", "make a new root and the link certificates that chain it to this one, both ways");
    add_dir(rollover);
    rollover->add_option("--new-dir", o.new_dir, "the new root's data directory (new or empty)")->required();
    rollover->add_option("--subject", o.subject,
                         "the new root's subject; must differ from the old root's, e.g. \"CN=Acme IoT Root CA G2,O=Acme,C=CN\"")
        ->required();
    rollover->add_option("--validity-days", o.validity_days, "lifetime of the new root certificate")->required();
    rollover->add_option("--crl-url", o.crl_urls,
                         "as for init: the new root's CRL URL(s), for the issuing CAs it signs (default: the old root's)");
    add_passphrase(rollover);
    rollover->add_option("--new-passphrase-file", o.new_passphrase_file,
                         "file whose first line is the new root key's passphrase (else $EDGECA_ROOT_NEW_PASSPHRASE, "
                         "else a prompt)");

    auto* list = app.add_subcommand("list", "one line per certificate the root signed");
    add_dir(list);

    auto* show = app.add_subcommand("show", "one certificate in full");
    add_dir(show);
    show->add_option("serial", o.serial, "serial number in hex")->required();

    auto* revoke = app.add_subcommand("revoke", "revoke an issuing CA certificate the root signed");
    add_dir(revoke);
    revoke->add_option("--serial", o.serial, "its serial number (hex): an issuing CA or a link certificate")->required();
    revoke->add_option("--reason", o.reason, "RFC 5280 reason name, e.g. keyCompromise, superseded")->required();
    add_passphrase(revoke);

    auto* crl = app.add_subcommand("crl", "sign the root's CRL (the revoked issuing CAs)");
    add_dir(crl);
    crl->add_option("--out", o.out, "where to write the CRL: DER for a name ending .der or .crl, else PEM")
        ->required();
    crl->add_option("--format", o.format, "der or pem; overrides what the name of --out says")
        ->check(CLI::IsMember({"der", "pem"}));
    crl->add_option("--next-update-days", o.next_update_days, "days until nextUpdate (default 90)");
    add_passphrase(crl);

    auto* audit = app.add_subcommand("audit", "print the audit trail");
    add_dir(audit);
    audit->add_flag("--verify", o.verify,
                    "check the hash chain, the signed checkpoints and the revocations; exit 9 if any fails");
    audit->add_option("--cert", o.signer,
                      "check the checkpoints' signatures with this root certificate (default DIR/root.pem)");

    RootBackupOptions backup_options;
    auto backup_commands = add_root_backup_commands(app, backup_options);

    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        int rc = app.exit(e);
        return rc == 0 ? exit_ok : exit_usage;
    }

    return run_reporting_errors(program, [&] {
        if (init->parsed()) return run_init(o);
        if (sign->parsed()) return run_sign_intermediate(o);
        if (list->parsed()) return run_list(o);
        if (show->parsed()) return run_show(o);
        if (revoke->parsed()) return run_revoke(o);
        if (rollover->parsed()) return run_rollover(o);
        if (crl->parsed()) return run_crl(o);
        if (backup_commands.backup->parsed()) return run_root_backup(backup_options);
        if (backup_commands.restore->parsed()) return run_root_restore(backup_options);
        return run_audit(o);
    });
}
