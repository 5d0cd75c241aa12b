// cli/commands.h — how edgeca's subcommands are registered: each group adds its subcommands
// to the app and returns what to run when one of them was chosen.
#pragma once

#include <CLI/CLI.hpp>

#include <functional>
#include <vector>

namespace edgeca::cli {

struct Command {
    CLI::App* app;
    std::function<int()> run;
};

// init, install, issue, list, show, audit
std::vector<Command> add_issuer_commands(CLI::App& app);
// token, device, product, access
std::vector<Command> add_admin_commands(CLI::App& app);
// serve
std::vector<Command> add_serve_command(CLI::App& app);
// quickstart
std::vector<Command> add_quickstart_command(CLI::App& app);
// issuer new|activate|list|retire
std::vector<Command> add_issuer_rotation_commands(CLI::App& app);
// store migrate
std::vector<Command> add_store_commands(CLI::App& app);

}  // namespace edgeca::cli
