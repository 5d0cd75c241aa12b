// api/event_log.cpp — serialised JSON lines on stderr.
#include "api/event_log.h"

#include <fmt/chrono.h>
#include <fmt/format.h>

#include <chrono>
#include <cstdio>
#include <mutex>

namespace edgeca::api {

void log_event(nlohmann::json event) {
    static std::mutex mutex;
    auto now = std::chrono::time_point_cast<std::chrono::milliseconds>(std::chrono::system_clock::now());
    event["ts"] = fmt::format("{:%Y-%m-%dT%H:%M:%S}Z", now);
    std::string line = event.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
    std::lock_guard lock(mutex);
    std::fwrite(line.data(), 1, line.size(), stderr);
    std::fflush(stderr);
}

}  // namespace edgeca::api
