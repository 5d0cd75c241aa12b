// cli/edgeca_main.cpp — edgeca, the online issuing CA: its service and its admin subcommands,
// all working on one data directory.
#include <sys/stat.h>

#include <CLI/CLI.hpp>

#include "cli/commands.h"
#include "cli/console.h"
#include "store/database.h"

int main(int argc, char** argv) {
    using namespace edgeca::cli;
    ::umask(077);
    edgeca::store::enable_postgresql();
    CLI::App app{
        "edgeca: the online issuing CA. It certifies RSA-2048 keys for an IoT hub and its edge "
        "devices, records every certificate, and serves an HTTPS API with mutual TLS."};
    app.require_subcommand(1);
    app.footer(
        "Passphrase (init, serve, issue): --passphrase-file F (first line), else "
        "$EDGECA_PASSPHRASE, else a prompt on the terminal. Never on the command line.\n"
        "Key in a PKCS#11 token: init --key \"pkcs11:token=LABEL;object=NAME\" --pkcs11-module PATH "
        "[--pin-file F] generates it inside the token (sensitive, never extractable) and records key, "
        "pkcs11_module and pin_file in edgeca.toml. The user PIN: --pin-file F, else pin_file, else "
        "$EDGECA_PKCS11_PIN, else a prompt. serve still needs the passphrase, for its own TLS key.\n"
        "Exit codes: 0 ok, 1 internal, 2 usage, 3 bad input, 4 policy refusal, 5 wrong "
        "passphrase or credentials, 6 not found, 7 conflict (exists, already revoked), 8 store "
        "or file unavailable, 9 audit chain broken.\n"
        "See docs/cli.md, docs/api.md and docs/configuration.md.");

    std::vector<Command> commands;
    for (auto group : {add_issuer_commands(app), add_admin_commands(app), add_serve_command(app),
                       add_quickstart_command(app), add_store_commands(app), add_issuer_rotation_commands(app)}) {
        commands.insert(commands.end(), group.begin(), group.end());
    }
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        int rc = app.exit(e);
        return rc == 0 ? exit_ok : exit_usage;
    }
    return run_reporting_errors("edgeca", [&] {
        for (const auto& command : commands) {
            if (command.app->parsed()) return command.run();
        }
        return static_cast<int>(exit_usage);
    });
}
