// cli/admin_commands.cpp — administration on the data directory: enrollment tokens, products,
// devices and the API access list. None of these signs anything, so none needs the passphrase.
#include <botan/system_rng.h>
#include <fmt/format.h>

#include <iostream>

#include "ca/access_control.h"
#include "ca/app_credentials.h"
#include "ca/certificate_facts.h"
#include "ca/device_registry.h"
#include "ca/encoding.h"
#include "ca/errors.h"
#include "ca/files.h"
#include "ca/issuer_identity.h"
#include "cli/commands.h"
#include "cli/issuer_directory.h"

namespace edgeca::cli {
namespace {

struct Options {
    std::filesystem::path dir;
    std::string role;
    std::string ttl = "1h";
    std::string product_key;
    std::string device_key;
    std::optional<std::string> asset_id;
    std::string name;
    int max_validity_days = 730;
    bool certificate_auth = true;
    std::optional<std::filesystem::path> cert;
    std::optional<std::string> fingerprint;
    std::optional<std::string> filter_product;
    std::string app_key;
};

store::Role parse_role(const std::string& text) {
    auto role = store::role_from_string(text);
    if (!role) throw ca::Error(ca::ErrorKind::bad_input, "role_invalid", "--role is hub or admin");
    return *role;
}

struct Session {
    IssuerDirectory directory;
    store::Store store;
    ca::SystemClock clock;
    Botan::System_RNG rng;
    ca::Caller caller = ca::Caller::operator_on_host(local_actor());

    explicit Session(const std::filesystem::path& dir) : directory{dir}, store(directory.open_store()) {}
};

// The SHA-256 of a certificate given as a file, or as its hex fingerprint.
std::string fingerprint_of(const Options& o) {
    if (o.cert.has_value() == o.fingerprint.has_value()) {
        throw ca::Error(ca::ErrorKind::bad_input, "certificate_required", "give either --cert or --fingerprint");
    }
    if (o.cert) {
        auto cert = ca::parse_certificate_pem(ca::read_file(*o.cert, "the certificate"), "the certificate");
        return ca::sha256_hex(cert.BER_encode());
    }
    std::string hex;
    for (char c : *o.fingerprint) {
        if (c != ':') hex.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
    }
    if (hex.size() != 64 || hex.find_first_not_of("0123456789abcdef") != std::string::npos) {
        throw ca::Error(ca::ErrorKind::bad_input, "fingerprint_invalid", "--fingerprint is a SHA-256 in hex");
    }
    return hex;
}

int run_token_create(const Options& o) {
    Session s(o.dir);
    ca::AccessControl access(s.store, s.clock, s.rng);
    auto token = access.create_token(s.caller, parse_role(o.role), parse_duration(o.ttl, "--ttl"));
    std::cout << token << "\n";
    return exit_ok;
}

int run_product_add(const Options& o) {
    Session s(o.dir);
    ca::DeviceRegistry registry(s.store, s.clock, s.rng);
    auto product = registry.add_product(s.caller, {o.product_key, o.name, o.max_validity_days, o.certificate_auth});
    std::cout << fmt::format("product {} added: max_validity_days={} certificate_auth={}\n",
                             product.product_key, product.max_validity_days, product.certificate_auth);
    return exit_ok;
}

int run_product_list(const Options& o) {
    Session s(o.dir);
    std::cout << fmt::format("{:<24} {:<10} {:<10} {}\n", "PRODUCT KEY", "MAX DAYS", "CERT AUTH", "NAME");
    for (const auto& p : s.store.read([](const store::Reader& r) { return r.products(); })) {
        std::cout << fmt::format("{:<24} {:<10} {:<10} {}\n", p.product_key, p.max_validity_days,
                                 p.certificate_auth ? "enabled" : "disabled", p.name);
    }
    return exit_ok;
}

int run_device_add(const Options& o) {
    Session s(o.dir);
    ca::DeviceRegistry registry(s.store, s.clock, s.rng);
    auto device = registry.add_device(s.caller, o.product_key, o.device_key, o.asset_id);
    std::cout << fmt::format("device {} registered: product={} asset_id={}\n", device.device_key,
                             device.product_key, device.asset_id);
    return exit_ok;
}

int run_device_list(const Options& o) {
    Session s(o.dir);
    std::cout << fmt::format("{:<32} {:<24} {:<14} {}\n", "DEVICE KEY", "PRODUCT KEY", "ASSET ID", "REGISTERED");
    std::string after;
    for (;;) {
        auto page = s.store.read([&](const store::Reader& r) { return r.devices(o.filter_product, after, 1000); });
        for (const auto& d : page) {
            std::cout << fmt::format("{:<32} {:<24} {:<14} {}\n", d.device_key, d.product_key, d.asset_id,
                                     ca::to_rfc3339(d.created_at));
        }
        if (page.size() < 1000) break;
        after = page.back().device_key;
    }
    return exit_ok;
}

int run_access_list(const Options& o) {
    Session s(o.dir);
    ca::AccessControl access(s.store, s.clock, s.rng);
    std::cout << fmt::format("{:<64} {:<6} {:<28} {}\n", "SHA-256", "ROLE", "PRINCIPAL", "GRANTED BY");
    for (const auto& g : access.grants()) {
        std::cout << fmt::format("{:<64} {:<6} {:<28} {}\n", g.fingerprint_sha256, store::to_string(g.role),
                                 g.principal, g.granted_by);
    }
    return exit_ok;
}

int run_access_grant(const Options& o) {
    Session s(o.dir);
    ca::AccessControl access(s.store, s.clock, s.rng);
    auto grant = access.grant(s.caller, fingerprint_of(o), parse_role(o.role),
                              o.name.empty() ? std::nullopt : std::optional<std::string>(o.name));
    std::cout << fmt::format("granted {} to {} ({})\n", store::to_string(grant.role), grant.principal,
                             grant.fingerprint_sha256);
    return exit_ok;
}

int run_access_revoke(const Options& o) {
    Session s(o.dir);
    ca::AccessControl access(s.store, s.clock, s.rng);
    auto fingerprint = fingerprint_of(o);
    if (!access.revoke(s.caller, fingerprint)) {
        throw ca::Error(ca::ErrorKind::not_found, "grant_not_found",
                        fmt::format("no access grant for {}", fingerprint));
    }
    std::cout << fmt::format("access revoked for {}\n", fingerprint);
    return exit_ok;
}

// Creating or listing applications needs only the issuing CA's certificate (secrets are sealed
// under its public key), not its passphrase.
ca::AppCredentials app_credentials(Session& s, const Botan::X509_Certificate& issuer) {
    return ca::AppCredentials(s.store, s.clock, s.rng, issuer, nullptr, {});
}

Botan::X509_Certificate issuer_certificate(const IssuerDirectory& d) {
    d.require_installed();
    return ca::parse_certificate_pem(ca::read_file(d.certificate(), "the issuing CA certificate"),
                                     "the issuing CA certificate");
}

int run_app_create(const Options& o) {
    Session s(o.dir);
    auto issuer = issuer_certificate(s.directory);
    auto pair = app_credentials(s, issuer).create(s.caller, o.name, parse_role(o.role));
    std::cout << fmt::format("appKey:    {}\nappSecret: {}\n", pair.app_key, pair.app_secret);
    std::cerr << "Keep the appSecret: it is shown only now (edgeca stores it sealed).\n";
    return exit_ok;
}

int run_app_list(const Options& o) {
    Session s(o.dir);
    auto issuer = issuer_certificate(s.directory);
    std::cout << fmt::format("{:<38} {:<6} {:<24} {}\n", "APP KEY", "ROLE", "NAME", "CREATED");
    for (const auto& app : app_credentials(s, issuer).apps()) {
        std::cout << fmt::format("{:<38} {:<6} {:<24} {}\n", app.app_key, store::to_string(app.role), app.name,
                                 ca::to_rfc3339(app.created_at));
    }
    return exit_ok;
}

int run_app_remove(const Options& o) {
    Session s(o.dir);
    auto issuer = issuer_certificate(s.directory);
    if (!app_credentials(s, issuer).remove(s.caller, o.app_key)) {
        throw ca::Error(ca::ErrorKind::not_found, "app_not_found", fmt::format("no application {}", o.app_key));
    }
    std::cout << fmt::format("application {} removed; its access tokens no longer work\n", o.app_key);
    return exit_ok;
}

}  // namespace

std::vector<Command> add_admin_commands(CLI::App& app) {
    auto o = std::make_shared<Options>();
    auto dir = [o](CLI::App* sub) { sub->add_option("--dir", o->dir, "the issuing CA's data directory")->required(); };
    std::vector<Command> commands;

    auto* token = app.add_subcommand("token", "one-time enrollment tokens");
    token->require_subcommand(1);
    auto* token_create = token->add_subcommand("create", "print a new one-time token alone on stdout");
    dir(token_create);
    token_create->add_option("--role", o->role, "the role the enrolled certificate gets: hub or admin")->required();
    token_create->add_option("--ttl", o->ttl, "how long it may be used: 90s, 15m, 1h (default), 7d");
    commands.push_back({token_create, [o] { return run_token_create(*o); }});

    auto* product = app.add_subcommand("product", "products (EnOS productKey)");
    product->require_subcommand(1);
    auto* product_add = product->add_subcommand("add", "add a product");
    dir(product_add);
    product_add->add_option("--product-key", o->product_key, "the product's key")->required();
    product_add->add_option("--name", o->name, "a name for people");
    product_add->add_option("--max-validity-days", o->max_validity_days, "the longest a device certificate may last (default 730)");
    product_add->add_option("--certificate-auth", o->certificate_auth, "true (default) or false: whether devices get certificates");
    commands.push_back({product_add, [o] { return run_product_add(*o); }});
    auto* product_list = product->add_subcommand("list", "list products");
    dir(product_list);
    commands.push_back({product_list, [o] { return run_product_list(*o); }});

    auto* device = app.add_subcommand("device", "registered devices (EnOS deviceKey)");
    device->require_subcommand(1);
    auto* device_add = device->add_subcommand("add", "register a device under a product");
    dir(device_add);
    device_add->add_option("--product-key", o->product_key, "its product")->required();
    device_add->add_option("--device-key", o->device_key, "its key, usually the serial number (SN)")->required();
    device_add->add_option("--asset-id", o->asset_id, "default: generated");
    commands.push_back({device_add, [o] { return run_device_add(*o); }});
    auto* device_list = device->add_subcommand("list", "list devices");
    dir(device_list);
    device_list->add_option("--product-key", o->filter_product, "only this product's");
    commands.push_back({device_list, [o] { return run_device_list(*o); }});

    auto* access = app.add_subcommand("access", "the API access list: client certificates and roles");
    access->require_subcommand(1);
    auto* access_list = access->add_subcommand("list", "list grants");
    dir(access_list);
    commands.push_back({access_list, [o] { return run_access_list(*o); }});
    auto* access_grant = access->add_subcommand("grant", "grant a certificate this CA issued a role");
    dir(access_grant);
    access_grant->add_option("--cert", o->cert, "the certificate (PEM)");
    access_grant->add_option("--fingerprint", o->fingerprint, "or its SHA-256");
    access_grant->add_option("--role", o->role, "hub or admin")->required();
    access_grant->add_option("--name", o->name, "principal name (default: a random id, never the CN)");
    commands.push_back({access_grant, [o] { return run_access_grant(*o); }});
    auto* access_revoke = access->add_subcommand("revoke", "take a certificate off the access list");
    dir(access_revoke);
    access_revoke->add_option("--cert", o->cert, "the certificate (PEM)");
    access_revoke->add_option("--fingerprint", o->fingerprint, "or its SHA-256");
    commands.push_back({access_revoke, [o] { return run_access_revoke(*o); }});
    auto* app_group = app.add_subcommand("app", "applications of the EnOS-compatible API (appKey, appSecret)");
    app_group->require_subcommand(1);
    auto* app_create = app_group->add_subcommand("create", "create an application; prints its appKey and appSecret");
    dir(app_create);
    app_create->add_option("--name", o->name, "a unique name")->required();
    app_create->add_option("--role", o->role, "hub or admin")->required();
    commands.push_back({app_create, [o] { return run_app_create(*o); }});
    auto* app_list = app_group->add_subcommand("list", "list applications");
    dir(app_list);
    commands.push_back({app_list, [o] { return run_app_list(*o); }});
    auto* app_remove = app_group->add_subcommand("remove", "remove an application and its access tokens");
    dir(app_remove);
    app_remove->add_option("--app-key", o->app_key, "its appKey")->required();
    commands.push_back({app_remove, [o] { return run_app_remove(*o); }});
    return commands;
}

}  // namespace edgeca::cli
