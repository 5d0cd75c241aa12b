// cli/console.cpp — passphrase input, the local actor, and errors turned into exit codes.
#include "cli/console.h"

#include <termios.h>
#include <unistd.h>

#include <fmt/format.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>

#include "ca/errors.h"
#include "ca/files.h"
#include "store/database.h"

namespace edgeca::cli {
namespace {

std::string first_line(std::string text) {
    auto newline = text.find_first_of("\r\n");
    if (newline != std::string::npos) text.resize(newline);
    return text;
}

// Reads one line from the terminal with echo off; restores the terminal whatever happens.
std::optional<std::string> prompt_terminal(const std::string& prompt) {
    FILE* tty = std::fopen("/dev/tty", "r+");
    if (tty == nullptr) return std::nullopt;
    int fd = fileno(tty);
    termios saved{};
    bool have_termios = tcgetattr(fd, &saved) == 0;
    if (have_termios) {
        termios silent = saved;
        silent.c_lflag &= ~static_cast<tcflag_t>(ECHO);
        tcsetattr(fd, TCSAFLUSH, &silent);
    }
    std::fprintf(tty, "%s: ", prompt.c_str());
    std::fflush(tty);
    std::string line;
    int c;
    while ((c = std::fgetc(tty)) != EOF && c != '\n') line.push_back(static_cast<char>(c));
    if (have_termios) tcsetattr(fd, TCSAFLUSH, &saved);
    std::fprintf(tty, "\n");
    std::fclose(tty);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    return line;
}

}  // namespace

ExitCode exit_code_for(ca::ErrorKind kind) {
    switch (kind) {
        case ca::ErrorKind::bad_input:
        case ca::ErrorKind::too_large:
        case ca::ErrorKind::unsupported_media_type:
            return exit_bad_input;
        case ca::ErrorKind::policy:
            return exit_policy;
        case ca::ErrorKind::unauthenticated:
        case ca::ErrorKind::forbidden:
            return exit_auth;
        case ca::ErrorKind::not_found:
            return exit_not_found;
        case ca::ErrorKind::conflict:
            return exit_conflict;
        case ca::ErrorKind::unavailable:
            return exit_unavailable;
        case ca::ErrorKind::internal:
            return exit_internal;
    }
    return exit_internal;
}

std::string read_passphrase(const PassphraseSource& source, bool confirm, size_t min_length) {
    std::string passphrase;
    if (source.file) {
        passphrase = first_line(ca::read_file(*source.file, "the passphrase file", 4096));
    } else if (const char* env = std::getenv(source.env_var.c_str()); env != nullptr && *env) {
        passphrase = env;
    } else {
        auto entered = prompt_terminal(source.prompt);
        if (!entered) {
            throw ca::Error(ca::ErrorKind::unauthenticated, "passphrase_missing",
                            fmt::format("no passphrase: give --passphrase-file, set {}, or run "
                                        "on a terminal",
                                        source.env_var));
        }
        if (confirm) {
            auto again = prompt_terminal(source.prompt + " (again)");
            if (!again || *again != *entered) {
                throw ca::Error(ca::ErrorKind::bad_input, "passphrase_mismatch",
                                "the two passphrases differ; nothing was created");
            }
        }
        passphrase = *entered;
    }
    if (passphrase.empty()) {
        throw ca::Error(ca::ErrorKind::unauthenticated, "passphrase_missing",
                        "the passphrase is empty");
    }
    if (confirm && passphrase.size() < min_length) {
        throw ca::Error(ca::ErrorKind::policy, "passphrase_too_short",
                        fmt::format("the passphrase has {} characters; a new key needs at least "
                                    "{}",
                                    passphrase.size(), min_length));
    }
    return passphrase;
}

std::string local_actor() {
    // From the environment, not getpwuid(): the name service may ask nscd or a directory
    // server over a socket, and edgeca-root opens none.
    for (const char* variable : {"EDGECA_ACTOR", "USER", "LOGNAME"}) {
        if (const char* name = std::getenv(variable); name != nullptr && *name != '\0') {
            return fmt::format("cli:{}", std::string_view(name).substr(0, 64));
        }
    }
    return fmt::format("cli:uid{}", geteuid());
}

int run_reporting_errors(const char* program, const std::function<int()>& body) {
    try {
        return body();
    } catch (const ca::Error& e) {
        std::cerr << program << ": error: " << e.what() << " [" << e.code() << "]\n";
        return exit_code_for(e.kind());
    } catch (const store::StoreError& e) {
        std::cerr << program << ": error: the store failed: " << e.what() << "\n";
        return e.unavailable() ? exit_unavailable : exit_internal;
    } catch (const std::exception& e) {
        std::cerr << program << ": internal error: " << e.what() << "\n";
        return exit_internal;
    }
}

std::string colon_hex(const std::string& lower_hex) {
    std::string out;
    for (size_t i = 0; i < lower_hex.size(); i += 2) {
        if (!out.empty()) out.push_back(':');
        out.push_back(static_cast<char>(std::toupper(static_cast<unsigned char>(lower_hex[i]))));
        if (i + 1 < lower_hex.size()) {
            out.push_back(
                static_cast<char>(std::toupper(static_cast<unsigned char>(lower_hex[i + 1]))));
        }
    }
    return out;
}

}  // namespace edgeca::cli
