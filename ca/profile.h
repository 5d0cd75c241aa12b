// ca/profile.h — the kinds of certificate this CA makes. A profile alone decides the extensions.
#pragma once

#include <optional>
#include <string_view>

namespace edgeca::ca {

enum class Profile {
    root,          // self-signed, offline
    intermediate,  // the issuing CA, signed by the root; pathLen 0
    link,          // one root certifying another's key during a rollover
    edge,          // an edge device: clientAuth
    hub,           // the IoT hub: serverAuth + clientAuth, DNS names under allowed domains
    client,        // an API caller (admin tool, hub software): clientAuth
    server,        // edgeca's own HTTPS listener: serverAuth
};

std::string_view to_string(Profile profile);
std::optional<Profile> profile_from_string(std::string_view text);

inline bool is_ca_profile(Profile p) { return p == Profile::root || p == Profile::intermediate || p == Profile::link; }

}  // namespace edgeca::ca
