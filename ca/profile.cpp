// ca/profile.cpp — profile names as they appear in the API, the CLI and the store.
#include "ca/profile.h"

#include <array>
#include <utility>

namespace edgeca::ca {
namespace {

constexpr std::array<std::pair<Profile, std::string_view>, 7> names = {{
    {Profile::root, "root"},
    {Profile::intermediate, "intermediate"},
    {Profile::link, "link"},
    {Profile::edge, "edge"},
    {Profile::hub, "hub"},
    {Profile::client, "client"},
    {Profile::server, "server"},
}};

}  // namespace

std::string_view to_string(Profile profile) {
    for (const auto& [p, name] : names) {
        if (p == profile) return name;
    }
    return "unknown";
}

std::optional<Profile> profile_from_string(std::string_view text) {
    for (const auto& [p, name] : names) {
        if (name == text) return p;
    }
    return std::nullopt;
}

}  // namespace edgeca::ca
