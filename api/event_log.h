// api/event_log.h — one JSON object per line on stderr: requests and service events. Never a
// key, a passphrase, a token or a request body.
#pragma once

#include <nlohmann/json.hpp>

namespace edgeca::api {

// Adds "ts" (RFC 3339 with milliseconds) and writes the line whole, even from many threads.
void log_event(nlohmann::json event);

}  // namespace edgeca::api
