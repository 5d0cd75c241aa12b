// ca/caller.h — who is asking: every issuance and revocation is done for an authenticated caller
// whose name goes into the record and the audit trail.
#pragma once

#include <optional>
#include <string>

#include "store/records.h"

namespace edgeca::ca {

struct Caller {
    std::string principal;            // "hub:<name>", "admin:<name>", "cli:<user>", ...
    std::optional<store::Role> role;  // from the access list; none for a token holder
    bool on_host = false;             // an operator of the data directory (the CLI): admin
    bool service = false;             // edgeca serve itself (its own TLS certificate)

    bool is_admin() const { return on_host || role == store::Role::admin; }
    bool is_hub() const { return role == store::Role::hub; }

    static Caller operator_on_host(std::string actor) {
        return {std::move(actor), std::nullopt, true, false};
    }
    static Caller self_service() { return {"edgeca:serve", std::nullopt, false, true}; }
    // Not on the access list; may only enrol with a token.
    static Caller anonymous(std::string description) {
        return {std::move(description), std::nullopt, false, false};
    }
    static Caller with_role(std::string principal, store::Role role) {
        return {std::move(principal), role, false, false};
    }
};

}  // namespace edgeca::ca
