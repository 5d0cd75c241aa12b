// cli/issuer_commands.cpp — setting up the issuing CA (init, install) and using its engine
// without HTTP (issue, list, show, audit).
#include <botan/hex.h>
#include <botan/pkcs10.h>
#include <botan/pkix_types.h>
#include <botan/system_rng.h>
#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <iostream>
#include <sstream>

#include "ca/audit_checkpoint.h"
#include "ca/certificate_facts.h"
#include "ca/certificate_request.h"
#include "ca/distinguished_name.h"
#include "ca/encoding.h"
#include "ca/errors.h"
#include "ca/files.h"
#include "ca/issuing_authority.h"
#include "ca/key_file.h"
#include "ca/pkcs11_key.h"
#include "ca/revocation.h"
#include "ca/revocation_reason.h"
#include "ca/serial_number.h"
#include "ca/trust_bundle.h"
#include "cli/commands.h"
#include "cli/issuer_directory.h"
#include "cli/issuer_generations.h"
#include "cli/records_output.h"
#include "crl/crl_publisher.h"
#include "crl/root_crl.h"

namespace edgeca::cli {
namespace {

constexpr size_t min_passphrase = 12;

struct Options {
    std::filesystem::path dir;
    std::optional<std::filesystem::path> passphrase_file;
    std::optional<std::filesystem::path> config;
    std::string subject;
    std::filesystem::path cert;
    std::filesystem::path root;
    std::filesystem::path csr;
    std::filesystem::path crl;
    std::optional<std::filesystem::path> out;
    std::string profile;
    std::optional<std::string> product_key;
    std::optional<std::string> device_key;
    std::optional<std::string> asset_id;
    std::optional<int> validity_days;
    std::optional<std::string> grant_role;
    std::optional<std::string> status;
    std::string serial;
    std::string reason = "unspecified";
    bool verify = false;
    std::optional<std::filesystem::path> signer;
    TokenKeySettings token;  // --key, --pkcs11-module, --pin-file
    std::vector<std::filesystem::path> trust_certs;  // trust add
    std::string fingerprint;                         // trust remove
};

int parse_reason(const std::string& name) {
    auto code = ca::reason_code(name);
    if (!code) {
        throw ca::Error(ca::ErrorKind::bad_input, "reason_invalid",
                        fmt::format("'{}' is not an RFC 5280 reason name (unspecified, keyCompromise, "
                                    "affiliationChanged, superseded, cessationOfOperation, "
                                    "certificateHold, privilegeWithdrawn)",
                                    name));
    }
    return *code;
}

// The settings lines that record a key made in a token, placed before any table of edgeca.toml.
std::string token_settings_text(const ca::Pkcs11Uri& uri, const TokenKeySettings& settings) {
    auto quoted = [](const std::filesystem::path& path, std::string_view what) {
        std::string text = std::filesystem::absolute(path).string();
        for (char c : text) {
            if (c == '"' || c == '\\' || static_cast<unsigned char>(c) < 0x20) {
                throw ca::Error(ca::ErrorKind::bad_input, "path_unsupported",
                                fmt::format("the {} path {} holds a quote, a backslash or a control character; "
                                            "edgeca.toml cannot record it",
                                            what, text));
            }
        }
        return fmt::format("\"{}\"", text);
    };
    std::string text = fmt::format(
        "# The issuing CA's key is in a PKCS#11 token (edgeca init --key): the URI names it, with\n"
        "# the id the token gave it. The user PIN comes from pin_file, else $EDGECA_PKCS11_PIN.\n"
        "key = \"{}\"\n",
        uri.to_string());
    if (settings.module) text += fmt::format("pkcs11_module = {}\n", quoted(*settings.module, "module"));
    if (settings.pin_file) text += fmt::format("pin_file = {}\n", quoted(*settings.pin_file, "PIN file"));
    return text + "\n";
}

int run_init(const Options& o) {
    IssuerDirectory d{o.dir};
    for (const auto& file : {d.key(), d.store(), d.csr()}) {  // a PostgreSQL store must be empty
        if (std::filesystem::exists(file)) {
            throw ca::Error(ca::ErrorKind::conflict, "issuer_exists",
                            fmt::format("{} already holds an issuing CA ({}); it is never replaced",
                                        o.dir.string(), file.filename().string()));
        }
    }
    auto subject = ca::build_subject(ca::parse_distinguished_name(o.subject));
    // Settings an operator wrote into edgeca.toml before init count as if given here.
    const bool config_exists = std::filesystem::exists(d.config());
    const auto kept = config_exists ? load_config(d.config()).token_key : TokenKeySettings{};
    if (o.token.key && kept.key && *o.token.key != *kept.key) {
        throw ca::Error(ca::ErrorKind::conflict, "config_names_other_key",
                        fmt::format("{} names another key ({}); edit it or leave --key out", d.config().string(),
                                    *kept.key));
    }
    const auto settings = merge(o.token, kept);
    if (!settings.in_token() && (o.token.module || o.token.pin_file)) {
        throw ca::Error(ca::ErrorKind::bad_input, "key_uri_missing",
                        "--pkcs11-module and --pin-file go with --key pkcs11:...");
    }

    Botan::System_RNG rng;
    // A store that cannot be made (a file there already, a database that is not empty) is
    // refused before a key exists.
    const auto location = d.store_location(d.load_config(std::nullopt));
    store::Store::check_can_create(location);
    std::shared_ptr<const Botan::Private_Key> key;
    std::string key_place;
    std::optional<std::string> config_prefix;
    if (settings.in_token()) {
        // Everything that can refuse (URI, module, token, PIN, label taken) does so before
        // anything is written.
        auto token_location = token_key_location(settings, issuer_pin_env);
        std::cerr << fmt::format("Generating the issuing CA's RSA-2048 key inside the token ({})...\n",
                                 token_location.uri.describe());
        auto generated = ca::generate_token_key(token_location);
        key = std::move(generated.key);
        key_place = fmt::format("in the token: {} (sensitive, never extractable)", generated.uri.to_string());
        if (!kept.key) config_prefix = token_settings_text(generated.uri, settings);
        ca::ensure_private_directory(o.dir);
    } else {
        std::string passphrase = read_passphrase(issuer_passphrase(o.passphrase_file), true, min_passphrase);
        ca::ensure_private_directory(o.dir);
        std::cerr << "Generating the issuing CA's RSA-2048 key from the system RNG...\n";
        auto file_key = ca::generate_rsa_2048(rng);
        ca::write_encrypted_key(d.key(), *file_key, passphrase, rng);
        key = std::move(file_key);
        key_place = fmt::format("{} (encrypted PKCS#8, mode 0600)", d.key().string());
    }
    auto store = store::Store::create(location);
    auto csr = Botan::PKCS10_Request::create(*key, subject, Botan::Extensions(), "SHA-256", rng);
    auto spki = key->subject_public_key();
    store.write([&](store::Writer& w) {
        w.set_meta("issuer_spki", Botan::hex_encode(spki, false));
        w.append_audit({local_actor(), "init", "", "", "ok",
                        settings.in_token() ? fmt::format("{} key=token", ca::to_rfc4514(subject))
                                            : ca::to_rfc4514(subject)});
    });
    std::string store_setting;
    if (location.on_server()) {
        // Every later command, and every node given a copy of this directory, finds the store.
        store_setting = fmt::format("[store]\nurl = \"{}\"\n", location.url);
    }
    if (!config_exists) {
        std::string text = config_prefix.value_or("") + default_config_text();
        if (!store_setting.empty()) text.replace(text.find("[store]\n"), 8, store_setting);
        ca::write_file_atomically(d.config(), text, 0600, true);
    } else if (config_prefix) {
        ca::write_file_atomically(d.config(), *config_prefix + ca::read_file(d.config(), "the configuration file"),
                                  0600);
    }
    ca::write_file_atomically(d.csr(), ca::encode_pem(csr.BER_encode(), "CERTIFICATE REQUEST"), 0644, true);
    std::cout << fmt::format(
        "Issuing CA key and CSR created in {}\n"
        "  subject:      {}\n"
        "  CSR:          {}\n"
        "  private key:  {}\n"
        "  store:        {} ({})\n"
        "  settings:     {}\n"
        "  key SHA-256:  {}\n"
        "Next: carry the CSR to the offline root and run\n"
        "  edgeca-root sign-intermediate --dir ROOT_DIR --csr {} --out issuer.pem\n"
        "then bring issuer.pem and the root's root.pem back and run\n"
        "  edgeca install --dir {} --cert issuer.pem --root root.pem\n",
        o.dir.string(), ca::to_rfc4514(subject), d.csr().string(), key_place,
        location.describe(), store.engine(), d.config().string(), colon_hex(ca::sha256_hex(spki)), d.csr().string(),
        o.dir.string());
    return exit_ok;
}

int run_install(const Options& o) {
    IssuerDirectory d{o.dir};
    d.require_initialised();
    if (std::filesystem::exists(d.certificate())) {
        throw ca::Error(ca::ErrorKind::conflict, "already_installed",
                        fmt::format("{} already has its certificate ({}); to rotate the issuing "
                                    "CA, set up a new data directory (docs/operations.md)",
                                    o.dir.string(), d.certificate().string()));
    }
    auto certificate = ca::parse_certificate_pem(ca::read_file(o.cert, "the certificate"), "the certificate");
    auto root = ca::parse_certificate_pem(ca::read_file(o.root, "the root certificate"), "the root certificate");
    auto store = d.open_store();
    auto spki_hex = store.read([](const store::Reader& r) { return r.meta("issuer_spki"); });
    if (!spki_hex) {
        throw ca::Error(ca::ErrorKind::internal, "store_incomplete",
                        "the store does not record the issuing CA's key; was init interrupted?");
    }
    auto spki = Botan::hex_decode(*spki_hex);
    ca::SystemClock clock;
    try {
        ca::check_issuing_ca_certificate(certificate, root, spki, clock.now());
    } catch (const ca::Error& e) {
        store.write([&](store::Writer& w) {
            w.append_audit({local_actor(), "install", "", "", "refused", e.code()});
        });
        throw;
    }
    auto cert_pem = ca::encode_pem(certificate.BER_encode(), "CERTIFICATE");
    auto root_pem = ca::encode_pem(root.BER_encode(), "CERTIFICATE");
    ca::write_file_atomically(d.root(), root_pem, 0644);
    ca::write_file_atomically(d.chain(), cert_pem + root_pem, 0644);
    store.write([&](store::Writer& w) {
        w.append_audit({local_actor(), "install", ca::to_hex(certificate.serial_number()),
                        ca::sha256_hex(certificate.BER_encode()), "ok",
                        fmt::format("root_sha256={}", ca::sha256_hex(root.BER_encode()))});
    });
    // Written last: its presence is what "installed" means.
    ca::write_file_atomically(d.certificate(), cert_pem, 0644, true);
    record_first_issuer(d, store);
    std::cout << fmt::format(
        "Issuing CA installed in {}\n"
        "  subject:  {}\n"
        "  issuer:   {}\n"
        "  valid:    {} to {}\n"
        "  root SHA-256: {}\n"
        "Start the service with: edgeca serve --dir {}\n",
        o.dir.string(), ca::to_rfc4514(certificate.subject_dn()), ca::to_rfc4514(root.subject_dn()),
        ca::to_rfc3339(ca::to_time(certificate.not_before())),
        ca::to_rfc3339(ca::to_time(certificate.not_after())),
        colon_hex(ca::sha256_hex(root.BER_encode())), o.dir.string());
    return exit_ok;
}

int run_issue(const Options& o) {
    IssuerDirectory d{o.dir};
    d.require_installed();
    auto profile = ca::profile_from_string(o.profile);
    if (!profile || ca::is_ca_profile(*profile) || *profile == ca::Profile::server) {
        throw ca::Error(ca::ErrorKind::bad_input, "profile_unknown",
                        fmt::format("profile '{}' is not one of edge, hub, client", o.profile));
    }
    ca::IssuanceRequest request;
    request.csr = ca::CertificateRequest::read(o.csr);
    request.profile = *profile;
    request.product_key = o.product_key;
    request.device_key = o.device_key;
    request.asset_id = o.asset_id;
    request.validity_days = o.validity_days;
    if (o.grant_role) {
        request.grant_role = store::role_from_string(*o.grant_role);
        if (!request.grant_role) {
            throw ca::Error(ca::ErrorKind::bad_input, "grant_role_invalid", "--grant-role is admin or hub");
        }
    }
    if (o.out && std::filesystem::exists(*o.out)) {
        throw ca::Error(ca::ErrorKind::conflict, "file_exists",
                        fmt::format("{} already exists; choose another --out", o.out->string()));
    }
    auto config = d.load_config(o.config);
    apply_default_urls(config);
    auto store = d.open_store();
    auto identity = d.load_identity(config, o.token, [&o] {
        return read_passphrase(issuer_passphrase(o.passphrase_file), false);
    });
    ca::SystemClock clock;
    Botan::System_RNG rng;
    ca::IssuingAuthority authority(store, clock, rng, config.policy, identity);
    auto issued = authority.issue(ca::Caller::operator_on_host(local_actor()), request);
    ca::sign_audit_checkpoint(store, *identity.key, rng, clock.now());
    if (o.out) {
        ca::write_file_atomically(*o.out, issued.certificate_pem, 0644, true);
        std::cerr << fmt::format("certificate {} ({}) written to {}\n", ca::to_hex(issued.record.serial),
                                 issued.record.subject, o.out->string());
    } else {
        std::cout << issued.certificate_pem;
    }
    return exit_ok;
}

int run_list(const Options& o) {
    IssuerDirectory d{o.dir};
    auto store = d.open_store();
    store::CertificateFilter filter;
    filter.device_key = o.device_key;
    if (o.status) {
        filter.status = store::certificate_status_from_string(*o.status);
        if (!filter.status) {
            throw ca::Error(ca::ErrorKind::bad_input, "status_invalid", "--status is valid, revoked or expired");
        }
    }
    if (!o.profile.empty()) filter.profile = o.profile;
    print_certificate_table(store, std::cout, filter);
    return exit_ok;
}

int run_show(const Options& o) {
    IssuerDirectory d{o.dir};
    auto store = d.open_store();
    auto serial = ca::SerialNumber::from_hex(o.serial);
    auto record = store.read([&](const store::Reader& r) { return r.certificate_by_serial(serial.bytes()); });
    if (!record) {
        throw ca::Error(ca::ErrorKind::not_found, "certificate_not_found",
                        fmt::format("no certificate with serial {} in {}", serial.hex(), store.describe()));
    }
    print_certificate_details(*record, std::cout);
    return exit_ok;
}

// Revocation needs no key: the operator of the data directory is an admin, and the audit
// entry names them. The running service notices and publishes a CRL within its delay.
int run_revoke(const Options& o) {
    IssuerDirectory d{o.dir};
    d.require_installed();
    if (o.serial.empty() == !o.device_key.has_value()) {
        throw ca::Error(ca::ErrorKind::bad_input, "target_required", "give either --serial or --device-key");
    }
    auto store = d.open_store();
    ca::SystemClock clock;
    ca::Revoker revoker(store, clock);
    auto caller = ca::Caller::operator_on_host(local_actor());
    auto revoked = o.device_key ? revoker.revoke_device(caller, *o.device_key, parse_reason(o.reason))
                                : revoker.revoke(caller, ca::SerialNumber::from_hex(o.serial).bytes(),
                                                 parse_reason(o.reason));
    for (const auto& r : revoked) {
        std::cout << fmt::format("revoked {} ({}) reason={}\n", ca::to_hex(r.serial), r.subject, o.reason);
    }
    if (revoked.empty()) std::cout << "no valid certificate to revoke\n";
    return exit_ok;
}

// A CRL for every issuing CA not retired, each with its own key, number and files.
int run_crl(const Options& o) {
    IssuerDirectory d{o.dir};
    d.require_installed();
    auto config = d.load_config(o.config);
    apply_default_urls(config);
    auto store = d.open_store();
    record_first_issuer(d, store);
    std::optional<std::string> passphrase;
    auto ask = [&] {
        if (!passphrase) passphrase = read_passphrase(issuer_passphrase(o.passphrase_file), false);
        return *passphrase;
    };
    auto identity = d.load_identity(config, o.token, ask);
    ca::SystemClock clock;
    Botan::System_RNG rng;
    for (const auto& record : current_issuers(store)) {
        auto issuer = record.id == 1 ? identity
                                     : load_generation(d, record, d.load_trust(), ask(), config.signing_backend);
        const auto now = clock.now();
        auto crl = crl::sign_crl(store, issuer.certificate, *issuer.key, now, now + config.crl.validity,
                                 config.crl.history, rng, local_actor(), record.id);
        const auto directory = record.id == 1 ? d.crl() : d.crl() / std::to_string(record.id);
        crl::write_crl_files(directory, crl);
        // --out names issuer 1's CRL, as before several issuers.
        if (o.out && record.id == 1) ca::write_file_atomically(*o.out, crl.pem, 0644);
        std::cout << fmt::format("CRL {} of issuing CA {} signed: {} entries, next update {}; written to {}\n",
                                 crl.number, record.id, crl.entries, ca::to_rfc3339(crl.next_update),
                                 (directory / "crl.pem").string());
    }
    ca::sign_audit_checkpoint(store, *identity.key, rng, clock.now());
    return exit_ok;
}

// The root's CRL, carried from the offline ceremony: checked against the root this issuing CA
// was installed under, then served at /root.crl (a running service picks it up by itself).
int run_root_crl_install(const Options& o) {
    IssuerDirectory d{o.dir};
    d.require_installed();
    auto root = ca::parse_certificate_pem(ca::read_file(d.root(), "the root certificate"), "the root certificate");
    auto bytes = ca::read_file(o.crl, "the root CRL", 64 << 20);
    auto store = d.open_store();
    ca::SystemClock clock;
    try {
        auto crl = crl::install_root_crl(d.root_crl(), std::span(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()),
                                         root, clock.now());
        store.write([&](store::Writer& w) {
            w.append_audit({local_actor(), "root-crl-install", "", ca::sha256_hex(crl.der), "ok",
                            fmt::format("number={} entries={} next_update={}", crl.number, crl.entries,
                                        ca::to_rfc3339(crl.next_update))});
        });
        std::cout << fmt::format("root CRL {} installed in {}: {} revoked, next update {}; served at /root.crl\n",
                                 crl.number, d.root_crl().string(), crl.entries, ca::to_rfc3339(crl.next_update));
    } catch (const ca::Error& refusal) {
        store.write([&](store::Writer& w) {
            w.append_audit({local_actor(), "root-crl-install", "", "", "refused", refusal.code()});
        });
        throw;
    }
    return exit_ok;
}

std::string text_sha256(const std::string& text) {
    return ca::sha256_hex(std::span(reinterpret_cast<const uint8_t*>(text.data()), text.size()));
}

void print_trust_bundle(const IssuerDirectory& d, const ca::TrustBundle& bundle) {
    std::cout << fmt::format("trust bundle {}: {} root(s), {} link certificate(s); served at /trust.pem once "
                             "edgeca serve is restarted\n",
                             d.trust().string(), bundle.roots.size(), bundle.links.size());
    auto line = [](const char* kind, const Botan::X509_Certificate& c) {
        std::cout << fmt::format("  {:5} {}  issuer '{}'  until {}  SHA-256 {}\n", kind, ca::to_rfc4514(c.subject_dn()),
                                 ca::to_rfc4514(c.issuer_dn()), ca::to_rfc3339(ca::to_time(c.not_after())),
                                 ca::sha256_hex(c.BER_encode()));
    };
    for (const auto& c : bundle.roots) line("root", c);
    for (const auto& c : bundle.links) line("link", c);
}

// A rollover's new root and link certificates, carried from the ceremony: accepted only when
// the links chain every root to the root this issuing CA was installed under.
int run_trust_add(const Options& o) {
    IssuerDirectory d{o.dir};
    d.require_installed();
    auto store = d.open_store();
    ca::SystemClock clock;
    std::string added;
    try {
        auto current = d.load_trust();
        std::vector<Botan::X509_Certificate> certificates = current.roots;
        certificates.insert(certificates.end(), current.links.begin(), current.links.end());
        const auto now = clock.now();
        for (const auto& path : o.trust_certs) {
            for (auto& c : ca::parse_certificates_pem(ca::read_file(path, "the certificate file"), path.string())) {
                // What is added must be current; links already installed may have expired (the
                // service warns; edgeca trust remove drops them) without blocking an addition.
                if (now < ca::to_time(c.not_before()) || now > ca::to_time(c.not_after())) {
                    throw ca::Error(ca::ErrorKind::policy, "link_not_current",
                                    fmt::format("'{}' in {} is valid from {} to {}, not now",
                                                ca::to_rfc4514(c.subject_dn()), path.string(),
                                                ca::to_rfc3339(ca::to_time(c.not_before())),
                                                ca::to_rfc3339(ca::to_time(c.not_after()))));
                }
                added += (added.empty() ? "" : " ") + ca::sha256_hex(c.BER_encode()).substr(0, 16);
                certificates.push_back(std::move(c));
            }
        }
        auto bundle = ca::check_trust_bundle(current.roots.front(), certificates, std::nullopt);
        ca::write_file_atomically(d.trust(), bundle.pem(), 0644);
        store.write([&](store::Writer& w) {
            w.append_audit({local_actor(), "trust-add", "", text_sha256(bundle.pem()), "ok",
                            fmt::format("roots={} links={} added={}", bundle.roots.size(), bundle.links.size(), added)});
        });
        print_trust_bundle(d, bundle);
    } catch (const ca::Error& refusal) {
        store.write([&](store::Writer& w) {
            w.append_audit({local_actor(), "trust-add", "", "", "refused", refusal.code()});
        });
        throw;
    }
    return exit_ok;
}

// The end of an overlap: a root (and every link that certifies it or that it signed), or one
// link, leaves the bundle. The issuing CA's own root never does.
int run_trust_remove(const Options& o) {
    IssuerDirectory d{o.dir};
    d.require_installed();
    std::string wanted;
    for (char c : o.fingerprint) {
        if (c != ':') wanted += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
    auto store = d.open_store();
    try {
        auto current = d.load_trust();
        auto matches = [&](const Botan::X509_Certificate& c) { return ca::sha256_hex(c.BER_encode()) == wanted; };
        if (matches(current.roots.front())) {
            throw ca::Error(ca::ErrorKind::policy, "root_in_use",
                            "that is the root this issuing CA was installed under (root.pem); it stays in the bundle");
        }
        std::vector<Botan::X509_Certificate> kept;
        std::optional<Botan::X509_Certificate> removed;
        for (const auto* group : {&current.roots, &current.links}) {
            for (const auto& c : *group) {
                if (matches(c)) removed = c;
                else kept.push_back(c);
            }
        }
        if (!removed) {
            throw ca::Error(ca::ErrorKind::not_found, "certificate_not_found",
                            fmt::format("no certificate with SHA-256 {} in {}", wanted, d.trust().string()));
        }
        if (removed->is_self_signed()) {
            std::erase_if(kept, [&](const Botan::X509_Certificate& c) {
                return !c.is_self_signed() && (c.subject_dn() == removed->subject_dn() || c.issuer_dn() == removed->subject_dn());
            });
        }
        auto bundle = ca::check_trust_bundle(current.roots.front(), kept, std::nullopt);
        ca::write_file_atomically(d.trust(), bundle.pem(), 0644);
        store.write([&](store::Writer& w) {
            w.append_audit({local_actor(), "trust-remove", "", text_sha256(bundle.pem()), "ok",
                            fmt::format("removed={} subject={}", wanted, ca::to_rfc4514(removed->subject_dn()))});
        });
        print_trust_bundle(d, bundle);
    } catch (const ca::Error& refusal) {
        store.write([&](store::Writer& w) {
            w.append_audit({local_actor(), "trust-remove", "", "", "refused", refusal.code()});
        });
        throw;
    }
    return exit_ok;
}

int run_audit(const Options& o) {
    IssuerDirectory d{o.dir};
    auto store = d.open_store();
    // Before install there is no certificate, and nothing has signed a checkpoint.
    std::optional<Botan::X509_Certificate> signer;
    if (o.signer || std::filesystem::exists(d.certificate())) {
        const auto path = o.signer.value_or(d.certificate());
        signer = ca::parse_certificate_pem(ca::read_file(path, "the issuing CA certificate"),
                                           "the issuing CA certificate");
    }
    return print_audit(store, signer, o.verify, std::cout);
}

}  // namespace

std::vector<Command> add_issuer_commands(CLI::App& app) {
    auto o = std::make_shared<Options>();
    auto dir = [o](CLI::App* sub) { sub->add_option("--dir", o->dir, "the issuing CA's data directory")->required(); };
    auto passphrase = [o](CLI::App* sub) {
        sub->add_option("--passphrase-file", o->passphrase_file, "file whose first line is the issuing CA key's passphrase");
        sub->add_option("--pkcs11-module", o->token.module,
                        "key in a token: its PKCS#11 module (default: pkcs11_module in edgeca.toml)");
        sub->add_option("--pin-file", o->token.pin_file,
                        "key in a token: file whose first line is the user PIN (default: pin_file in "
                        "edgeca.toml, else $EDGECA_PKCS11_PIN)");
    };

    auto* init = app.add_subcommand("init", "create the issuing CA's key and the CSR for the root to sign");
    dir(init);
    init->add_option("--subject", o->subject, "e.g. \"CN=Acme IoT Issuing CA 1,O=Acme,C=CN\"")->required();
    init->add_option("--key", o->token.key,
                     "generate the key inside a PKCS#11 token instead of issuer.key: an RFC 7512 URI such as "
                     "\"pkcs11:token=CA;object=edgeca-issuing-ca\"; recorded in edgeca.toml");
    passphrase(init);

    auto* install = app.add_subcommand("install", "install the certificate the root issued, and the root");
    dir(install);
    install->add_option("--cert", o->cert, "the issuing CA certificate (PEM) from edgeca-root")->required();
    install->add_option("--root", o->root, "the root certificate (PEM)")->required();

    auto* issue = app.add_subcommand("issue", "issue a certificate without the HTTP service");
    dir(issue);
    issue->add_option("--csr", o->csr, "the CSR (PEM or DER)")->required();
    issue->add_option("--profile", o->profile, "edge, hub or client")->required();
    issue->add_option("--product-key", o->product_key, "edge: the device's product");
    issue->add_option("--device-key", o->device_key, "edge: the registered device");
    issue->add_option("--asset-id", o->asset_id, "edge: must match the registered device");
    issue->add_option("--validity-days", o->validity_days, "default: the profile's");
    issue->add_option("--grant-role", o->grant_role, "client: put the certificate on the access list as admin or hub");
    issue->add_option("--out", o->out, "write the certificate here (never overwritten) instead of stdout");
    issue->add_option("--config", o->config, "settings file (default DIR/edgeca.toml)");
    passphrase(issue);

    auto* list = app.add_subcommand("list", "one line per certificate issued");
    dir(list);
    list->add_option("--device-key", o->device_key, "only this device's");
    list->add_option("--status", o->status, "valid, revoked or expired");
    list->add_option("--profile", o->profile, "edge, hub, client or server");

    auto* show = app.add_subcommand("show", "one certificate in full");
    dir(show);
    show->add_option("serial", o->serial, "serial number in hex")->required();

    auto* audit = app.add_subcommand("audit", "print the audit trail");
    dir(audit);
    audit->add_flag("--verify", o->verify,
                    "check the hash chain, the signed checkpoints and the revocations; exit 9 if any fails");
    audit->add_option("--cert", o->signer,
                      "check the checkpoints' signatures with this issuing CA certificate (default DIR/issuer.pem)");

    auto* revoke = app.add_subcommand("revoke", "revoke a certificate, or every valid certificate of a device");
    dir(revoke);
    revoke->add_option("--serial", o->serial, "the certificate's serial number (hex)");
    revoke->add_option("--device-key", o->device_key, "or: every valid certificate of this device (an edge reset)");
    revoke->add_option("--reason", o->reason, "RFC 5280 reason name (default unspecified)");

    auto* crl = app.add_subcommand("crl", "sign a CRL now (the service does this by itself)");
    dir(crl);
    crl->add_option("--out", o->out, "also write the CRL (PEM) here");
    crl->add_option("--config", o->config, "settings file (default DIR/edgeca.toml)");
    passphrase(crl);

    auto* root_crl = app.add_subcommand("root-crl", "the root's CRL, served at /root.crl");
    root_crl->require_subcommand(1);
    auto* root_crl_install = root_crl->add_subcommand(
        "install", "check a root CRL from edgeca-root crl against the root and serve it (replaces the installed one; "
                   "never by an older one)");
    dir(root_crl_install);
    root_crl_install->add_option("--crl", o->crl, "the root CRL (DER or PEM)")->required();

    auto* trust = app.add_subcommand("trust", "the trust bundle of a root rollover, served at /trust.pem");
    trust->require_subcommand(1);
    auto* trust_add = trust->add_subcommand(
        "add", "add a new root and its link certificates from edgeca-root rollover (each link must chain to a "
               "root already trusted here)");
    dir(trust_add);
    trust_add->add_option("--cert", o->trust_certs, "a PEM file of one or more certificates; repeatable")->required();
    auto* trust_remove = trust->add_subcommand(
        "remove", "drop a root (with the links that certify it or that it signed) or one link certificate");
    dir(trust_remove);
    trust_remove->add_option("--fingerprint", o->fingerprint, "its SHA-256 fingerprint (hex, colons allowed)")
        ->required();

    return {{revoke, [o] { return run_revoke(*o); }},
            {trust_add, [o] { return run_trust_add(*o); }},
            {trust_remove, [o] { return run_trust_remove(*o); }},   {crl, [o] { return run_crl(*o); }},
            {root_crl_install, [o] { return run_root_crl_install(*o); }},
            {init, [o] { return run_init(*o); }},       {install, [o] { return run_install(*o); }},
            {issue, [o] { return run_issue(*o); }},     {list, [o] { return run_list(*o); }},
            {show, [o] { return run_show(*o); }},       {audit, [o] { return run_audit(*o); }}};
}

}  // namespace edgeca::cli
