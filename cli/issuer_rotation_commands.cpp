// cli/issuer_rotation_commands.cpp — edgeca issuer new|activate|list|retire: rotating the
// issuing CA while the service runs (docs/operations.md, "Rotating the issuing CA").
#include <botan/hex.h>
#include <botan/pkcs10.h>
#include <botan/system_rng.h>
#include <fmt/format.h>

#include <iostream>
#include <regex>

#include "ca/certificate_facts.h"
#include "ca/distinguished_name.h"
#include "ca/encoding.h"
#include "ca/errors.h"
#include "ca/files.h"
#include "ca/key_file.h"
#include "cli/commands.h"
#include "cli/exit_codes.h"
#include "cli/issuer_generations.h"

namespace edgeca::cli {
namespace {

struct Options {
    std::filesystem::path dir;
    std::optional<std::filesystem::path> passphrase_file;
    std::optional<std::string> subject;
    std::filesystem::path cert;
    int64_t id = 0;
};

std::string spki_meta_key(int64_t id) { return fmt::format("issuer_spki/{}", id); }

// The directory, its store, and issuer 1 recorded for a store from before several issuers.
store::Store open_issuers(const IssuerDirectory& d) {
    d.require_installed();
    auto store = d.open_store();
    record_first_issuer(d, store);
    return store;
}

int64_t next_id(store::Store& store) {
    auto all = store.read([](const store::Reader& r) { return r.issuers(); });
    return all.empty() ? 2 : all.back().id + 1;
}

// The active issuer's subject with " G<N>" as the CN's end: a name of its own, since TLS stacks
// pick the CRL of a certificate by its issuer's name (Mbed TLS takes the first that matches).
Botan::X509_DN default_subject(const store::IssuerRecord& active, int64_t id) {
    auto attributes = ca::attributes_of(Botan::X509_Certificate(active.der).subject_dn());
    for (auto& a : attributes) {
        if (a.key == "CN") a.value = std::regex_replace(a.value, std::regex(" G[0-9]+$"), "") + fmt::format(" G{}", id);
    }
    return ca::build_subject(attributes);
}

void audit(store::Store& store, const std::string& action, const std::string& serial, const std::string& fingerprint,
           const std::string& outcome, const std::string& detail) {
    store.write([&](store::Writer& w) { w.append_audit({local_actor(), action, serial, fingerprint, outcome, detail}); });
}

int run_new(const Options& o) {
    IssuerDirectory d{o.dir};
    auto store = open_issuers(d);
    if (d.load_config(std::nullopt).token_key.in_token()) {
        throw ca::Error(ca::ErrorKind::policy, "issuer_rotation_token_unsupported",
                        "this issuing CA's key is in a PKCS#11 token; edgeca issuer new makes file keys only. "
                        "Rotate by setting up a new data directory (docs/operations.md)");
    }
    const int64_t id = next_id(store);
    const auto generation = d.generation(id);
    if (std::filesystem::exists(generation / "issuer.key")) {
        throw ca::Error(ca::ErrorKind::conflict, "issuer_pending",
                        fmt::format("issuing CA {} is pending already ({}): have the root sign {} and run "
                                    "edgeca issuer activate, or remove that directory to start over",
                                    id, generation.string(), (generation / "issuer.csr").string()));
    }
    auto active = current_issuers(store).back();
    auto subject = o.subject ? ca::build_subject(ca::parse_distinguished_name(*o.subject)) : default_subject(active, id);
    // The same passphrase as issuer 1's key: the service unlocks every issuer with the one it
    // was started with.
    const std::string passphrase = read_passphrase(issuer_passphrase(o.passphrase_file), false);
    try {
        ca::load_encrypted_key(d.key(), passphrase);
    } catch (const ca::Error&) {
        throw ca::Error(ca::ErrorKind::unauthenticated, "wrong_passphrase",
                        fmt::format("the passphrase does not open {}; a new issuing CA's key is encrypted "
                                    "with the same passphrase",
                                    d.key().string()));
    }
    Botan::System_RNG rng;
    ca::ensure_private_directory(d.dir / "issuers");
    ca::ensure_private_directory(generation);
    std::cerr << "Generating the new issuing CA's RSA-2048 key from the system RNG...\n";
    auto key = ca::generate_rsa_2048(rng);
    ca::write_encrypted_key(generation / "issuer.key", *key, passphrase, rng);
    auto csr = Botan::PKCS10_Request::create(*key, subject, Botan::Extensions(), "SHA-256", rng);
    const auto spki = key->subject_public_key();
    store.write([&](store::Writer& w) {
        w.set_meta(spki_meta_key(id), Botan::hex_encode(spki, false));
        w.append_audit({local_actor(), "issuer-new", "", "", "ok",
                        fmt::format("issuer={} subject={}", id, ca::to_rfc4514(subject))});
    });
    ca::write_file_atomically(generation / "issuer.csr", ca::encode_pem(csr.BER_encode(), "CERTIFICATE REQUEST"), 0644);
    std::cout << fmt::format(
        "Issuing CA {} key and CSR created in {}\n"
        "  subject:      {}\n"
        "  CSR:          {}\n"
        "  key SHA-256:  {}\n"
        "Next: carry the CSR to the offline root and run\n"
        "  edgeca-root sign-intermediate --dir ROOT_DIR --csr {} --out issuer-{}.pem\n"
        "then bring the certificate back and run (the service may keep running)\n"
        "  edgeca issuer activate --dir {} --cert issuer-{}.pem\n",
        id, generation.string(), ca::to_rfc4514(subject), (generation / "issuer.csr").string(),
        colon_hex(ca::sha256_hex(spki)), (generation / "issuer.csr").string(), id, o.dir.string(), id);
    return exit_ok;
}

int run_activate(const Options& o) {
    IssuerDirectory d{o.dir};
    auto store = open_issuers(d);
    auto certificate = ca::parse_certificate_pem(ca::read_file(o.cert, "the certificate"), "the certificate");
    const int64_t id = next_id(store);
    auto spki_hex = store.read([id](const store::Reader& r) { return r.meta(spki_meta_key(id)); });
    if (!spki_hex || !std::filesystem::exists(d.generation(id) / "issuer.key")) {
        throw ca::Error(ca::ErrorKind::not_found, "no_pending_issuer",
                        fmt::format("no new issuing CA is waiting for its certificate; run edgeca issuer new "
                                    "--dir {} first",
                                    o.dir.string()));
    }
    ca::SystemClock clock;
    try {
        auto roots = roots_named_by(d.load_trust(), certificate);
        if (roots.empty()) {
            throw ca::Error(ca::ErrorKind::policy, "issuer_not_trusted",
                            fmt::format("the certificate was issued by {}, which is not a root this directory "
                                        "trusts (root.pem or a root added with edgeca trust add)",
                                        ca::to_rfc4514(certificate.issuer_dn())));
        }
        // Under any root of that name that signed it; the first refusal names what is wrong.
        std::optional<ca::Error> refusal;
        bool accepted = false;
        for (const auto& root : roots) {
            try {
                ca::check_issuing_ca_certificate(certificate, root, Botan::hex_decode(*spki_hex), clock.now());
                accepted = true;
                break;
            } catch (const ca::Error& e) {
                if (!refusal) refusal = e;
            }
        }
        if (!accepted) throw *refusal;
    } catch (const ca::Error& e) {
        audit(store, "issuer-activate", ca::to_hex(certificate.serial_number()), "", "refused",
              fmt::format("issuer={} {}", id, e.code()));
        throw;
    }
    // The certificate's file first: the record is what makes it active, and a service that
    // sees the record finds everything it needs.
    ca::write_file_atomically(d.generation(id) / "issuer.pem", ca::encode_pem(certificate.BER_encode(), "CERTIFICATE"),
                              0644);
    const auto record = issuer_record(id, certificate, clock.now());
    store.write([&](store::Writer& w) {
        w.insert_issuer(record);
        w.append_audit({local_actor(), "issuer-activate", ca::to_hex(certificate.serial_number()),
                        ca::sha256_hex(record.der), "ok", fmt::format("issuer={} subject={}", id, record.subject)});
    });
    std::cout << fmt::format(
        "Issuing CA {} activated: new certificates come from it from now on (a running service picks "
        "it up within seconds)\n"
        "  subject:  {}\n"
        "  issuer:   {}\n"
        "  valid:    {} to {}\n"
        "  CRL:      /crl/{} (the CRL distribution point of the certificates it issues)\n"
        "The issuers before it keep signing their CRLs until retired: edgeca issuer list --dir {}\n",
        id, record.subject, ca::to_rfc4514(certificate.issuer_dn()),
        ca::to_rfc3339(ca::to_time(certificate.not_before())), ca::to_rfc3339(record.not_after), id,
        o.dir.string());
    return exit_ok;
}

int run_list(const Options& o) {
    IssuerDirectory d{o.dir};
    auto store = open_issuers(d);
    ca::SystemClock clock;
    const auto now = clock.now();
    auto all = store.read([](const store::Reader& r) { return r.issuers(); });
    auto current = current_issuers(store);
    std::cout << fmt::format("{:<3} {:<10} {:<20} {:>8} {:>10}  {:<40} {}\n", "ID", "STATE", "NOT AFTER", "ISSUED",
                             "UNEXPIRED", "SERIAL", "SUBJECT");
    for (const auto& issuer : all) {
        auto usage = store.read([&](const store::Reader& r) { return r.issuer_usage(issuer.id, now); });
        const char* state = issuer.retired_at ? "retired" : issuer.id == current.back().id ? "active" : "publishing";
        std::cout << fmt::format("{:<3} {:<10} {:<20} {:>8} {:>10}  {:<40} {}\n", issuer.id, state,
                                 ca::to_rfc3339(issuer.not_after), usage.issued, usage.unexpired,
                                 ca::to_hex(Botan::X509_Certificate(issuer.der).serial_number()), issuer.subject);
    }
    const int64_t pending = all.back().id + 1;
    if (std::filesystem::exists(d.generation(pending) / "issuer.csr")) {
        std::cout << fmt::format("{:<3} {:<10} waiting for its certificate: {}\n", pending, "pending",
                                 (d.generation(pending) / "issuer.csr").string());
    }
    return exit_ok;
}

int run_retire(const Options& o) {
    IssuerDirectory d{o.dir};
    auto store = open_issuers(d);
    ca::SystemClock clock;
    const auto now = clock.now();
    auto record = store.read([&](const store::Reader& r) { return r.issuer(o.id); });
    try {
        if (!record) {
            throw ca::Error(ca::ErrorKind::not_found, "issuer_not_found", fmt::format("there is no issuing CA {}", o.id));
        }
        if (record->retired_at) {
            throw ca::Error(ca::ErrorKind::conflict, "issuer_retired",
                            fmt::format("issuing CA {} was retired at {}", o.id, ca::to_rfc3339(*record->retired_at)));
        }
        if (current_issuers(store).back().id == o.id) {
            throw ca::Error(ca::ErrorKind::policy, "issuer_active",
                            fmt::format("issuing CA {} is the active one: activate its successor first", o.id));
        }
        auto usage = store.read([&](const store::Reader& r) { return r.issuer_usage(o.id, now); });
        if (usage.unexpired > 0) {
            throw ca::Error(ca::ErrorKind::policy, "issuer_has_unexpired_certificates",
                            fmt::format("{} certificates of issuing CA {} have not expired yet: its CRL must "
                                        "keep covering them (edgeca list shows them)",
                                        usage.unexpired, o.id));
        }
    } catch (const ca::Error& e) {
        audit(store, "issuer-retire", "", "", "refused", fmt::format("issuer={} {}", o.id, e.code()));
        throw;
    }
    store.write([&](store::Writer& w) {
        if (!w.retire_issuer(o.id, now)) {
            throw ca::Error(ca::ErrorKind::conflict, "issuer_retired", fmt::format("issuing CA {} was retired meanwhile", o.id));
        }
        w.append_audit({local_actor(), "issuer-retire", ca::to_hex(Botan::X509_Certificate(record->der).serial_number()),
                        ca::sha256_hex(record->der), "ok", fmt::format("issuer={}", o.id)});
    });
    // Issuer 1's key also seals the EnOS application secrets and signs the audit checkpoints:
    // it stays. A later generation's key has no use left.
    std::string key_note = "its key stays in issuer.key: it also seals application secrets and signs audit checkpoints";
    if (o.id != 1) {
        std::filesystem::remove(d.generation(o.id) / "issuer.key");
        key_note = fmt::format("its key {} was removed", (d.generation(o.id) / "issuer.key").string());
    }
    std::cout << fmt::format("Issuing CA {} retired: its CRL is no longer signed or served; {}\n", o.id, key_note);
    return exit_ok;
}

}  // namespace

std::vector<Command> add_issuer_rotation_commands(CLI::App& app) {
    auto o = std::make_shared<Options>();
    auto* issuer = app.add_subcommand("issuer", "rotate the issuing CA: new, activate, list, retire");
    issuer->require_subcommand(1);
    auto dir = [o](CLI::App* sub) { sub->add_option("--dir", o->dir, "the issuing CA's data directory")->required(); };
    auto* make = issuer->add_subcommand(
        "new", "make the next issuing CA's key (issuers/N/issuer.key, same passphrase) and its CSR for the root");
    dir(make);
    make->add_option("--subject", o->subject, "its subject (default: the active issuer's, CN ending in \" G<N>\")");
    make->add_option("--passphrase-file", o->passphrase_file, "file whose first line is the issuing CA key's passphrase");
    auto* activate = issuer->add_subcommand(
        "activate", "install the certificate the root issued for the new issuing CA; new certificates come from "
                    "it from now on, a running service included");
    dir(activate);
    activate->add_option("--cert", o->cert, "the new issuing CA's certificate (PEM)")->required();
    auto* list = issuer->add_subcommand("list", "every issuing CA: state, validity, certificates issued and unexpired");
    dir(list);
    auto* retire = issuer->add_subcommand(
        "retire", "stop an issuing CA's CRLs once its last certificate has expired; removes its key (issuer 2 on)");
    dir(retire);
    retire->add_option("--id", o->id, "the issuing CA's id (edgeca issuer list)")->required();
    return {{make, [o] { return run_new(*o); }},
            {activate, [o] { return run_activate(*o); }},
            {list, [o] { return run_list(*o); }},
            {retire, [o] { return run_retire(*o); }}};
}

}  // namespace edgeca::cli
