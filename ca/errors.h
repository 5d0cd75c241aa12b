// ca/errors.h — the one error type of the engine: a kind a front end maps to a status, a
// snake_case code that names the rule, and a sentence a user can act on.
#pragma once

#include <stdexcept>
#include <string>

#include "ca/utf8.h"

namespace edgeca::ca {

enum class ErrorKind {
    bad_input,        // malformed PEM/DER/JSON, bad signature, unknown field
    unauthenticated,  // no or invalid credentials, wrong passphrase
    forbidden,        // authenticated, but not allowed to do this
    not_found,
    conflict,         // already exists, already revoked
    policy,           // well-formed but refused by the issuance policy
    too_large,
    unsupported_media_type,  // a body in a format the receiver does not take
    unavailable,      // the store cannot be written, the clock cannot be trusted
    internal,
};

class Error : public std::runtime_error {
public:
    // A message may quote input, cut to a length; it is kept valid UTF-8 so that every front
    // end (JSON, a terminal, a log) can show it.
    Error(ErrorKind kind, std::string code, const std::string& message)
        : std::runtime_error(valid_utf8(message)), kind_(kind), code_(std::move(code)) {}
    ErrorKind kind() const { return kind_; }
    const std::string& code() const { return code_; }

private:
    ErrorKind kind_;
    std::string code_;
};

}  // namespace edgeca::ca
