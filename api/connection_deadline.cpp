// api/connection_deadline.cpp — the registry of open connections and its watchdog thread.
#include "api/connection_deadline.h"

#include <fmt/format.h>
#include <netdb.h>
#include <sys/socket.h>

#include <string_view>
#include <vector>

#include "api/event_log.h"

namespace edgeca::api {
namespace {

// How often the watchdog looks: a connection is closed at most this long after its deadline.
constexpr auto tick = std::chrono::milliseconds(200);

// The connection the calling worker thread serves, and whose registry it is in.
struct Served {
    const ConnectionDeadlines* owner = nullptr;
    int fd = -1;
};
thread_local Served served;

std::string peer_of(int fd) {
    sockaddr_storage address{};
    socklen_t length = sizeof address;
    if (getpeername(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) return "-";
    char host[NI_MAXHOST];
    char port[NI_MAXSERV];
    if (getnameinfo(reinterpret_cast<sockaddr*>(&address), length, host, sizeof host, port,
                    sizeof port, NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
        return "-";
    }
    if (address.ss_family == AF_INET6) return fmt::format("[{}]:{}", host, port);
    return fmt::format("{}:{}", host, port);
}

// The log line of a connection cut at its deadline, or let go while workers were short.
nlohmann::json closed_event(const std::string& listener, int fd, const char* reason,
                            std::chrono::steady_clock::duration held) {
    return {{"event", "connection_closed"},
            {"listener", listener},
            {"reason", reason},
            {"remote", peer_of(fd)},
            {"seconds", std::chrono::duration<double>(held).count()}};
}

}  // namespace

ConnectionDeadlines::ConnectionDeadlines(DeadlineSettings settings)
    : settings_(std::move(settings)), watchdog_([this](std::stop_token stop) { watch(stop); }) {}

// std::jthread's destructor asks the watchdog to stop, which wakes its wait, and joins it.
ConnectionDeadlines::~ConnectionDeadlines() = default;

ConnectionDeadlines::Connection* ConnectionDeadlines::mine() {
    if (served.owner != this) return nullptr;
    auto it = connections_.find(served.fd);
    return it == connections_.end() ? nullptr : &it->second;
}

void ConnectionDeadlines::opened(int fd) {
    std::lock_guard lock(mutex_);
    // A connection of this thread that was never let go must not keep a stale descriptor here.
    if (served.owner == this && served.fd != fd) connections_.erase(served.fd);
    auto now = Clock::now();
    connections_[fd] = Connection{Phase::awaiting_headers, now, now + settings_.request_timeout};
    served = Served{this, fd};
}

void ConnectionDeadlines::closing() {
    std::lock_guard lock(mutex_);
    if (served.owner != this) return;
    connections_.erase(served.fd);
    served = Served{};
}

bool ConnectionDeadlines::read_starting() {
    nlohmann::json event;
    {
        std::lock_guard lock(mutex_);
        Connection* c = mine();
        if (c == nullptr) return true;
        if (c->cut) return false;
        auto now = Clock::now();
        if (c->phase == Phase::idle) {
            *c = Connection{Phase::awaiting_headers, now, now + settings_.request_timeout};
        }
        if (now < c->deadline) {
            c->reading = true;
            return true;
        }
        // More bytes came in after the deadline; the worker gives the connection up.
        c->cut = true;
        event = closed_event(settings_.listener, served.fd, "request_timeout", now - c->since);
    }
    log_event(std::move(event));
    return false;
}

bool ConnectionDeadlines::read_finished() {
    std::lock_guard lock(mutex_);
    Connection* c = mine();
    if (c == nullptr) return true;
    c->reading = false;
    return !c->cut;
}

bool ConnectionDeadlines::headers_received() {
    std::lock_guard lock(mutex_);
    Connection* c = mine();
    if (c == nullptr) return true;
    if (c->cut) return false;
    // The deadline stays: it bounds the body too. Only reads are cut from now on, and no read
    // happens while the request is handled or its response written.
    c->phase = Phase::past_headers;
    return true;
}

void ConnectionDeadlines::responded() {
    std::lock_guard lock(mutex_);
    Connection* c = mine();
    if (c == nullptr || c->cut) return;
    auto now = Clock::now();
    *c = Connection{Phase::idle, now, now + settings_.keep_alive_timeout};
}

void ConnectionDeadlines::waiting_for_worker() {
    std::lock_guard lock(mutex_);
    ++waiting_;
}

void ConnectionDeadlines::got_worker() {
    std::lock_guard lock(mutex_);
    if (waiting_ > 0) --waiting_;
}

void ConnectionDeadlines::drain() {
    {
        std::lock_guard lock(mutex_);
        draining_ = true;
        wake_now_ = true;
    }
    wake_.notify_all();
}

const char* ConnectionDeadlines::overdue(const Connection& c, Clock::time_point now,
                                         bool busy) const {
    switch (c.phase) {
        case Phase::awaiting_headers:
            return now >= c.deadline ? "request_timeout" : nullptr;
        case Phase::past_headers:
            // Between reads the worker may be handling the request: that is never cut. A worker
            // inside a read is only waiting for the client; a late body is refused at its next
            // read anyway (read_starting), this only spares it the wait.
            return c.reading && now >= c.deadline ? "request_timeout" : nullptr;
        case Phase::idle:
            if (draining_) return "stopping";
            if (now >= c.deadline) return "keep_alive_timeout";
            return busy && now - c.since >= settings_.idle_when_busy ? "workers_busy" : nullptr;
    }
    return nullptr;
}

void ConnectionDeadlines::watch(std::stop_token stop) {
    std::unique_lock lock(mutex_);
    while (!stop.stop_requested()) {
        wake_.wait_for(lock, stop, tick, [this] { return wake_now_; });
        if (stop.stop_requested()) break;
        wake_now_ = false;
        const auto now = Clock::now();
        // Every worker holds a connection and more wait in httplib's queue for one.
        const bool busy = waiting_ > 0;
        std::vector<nlohmann::json> cuts;
        for (auto& [fd, c] : connections_) {
            if (c.cut) continue;
            const char* reason = overdue(c, now, busy);
            if (reason == nullptr) continue;
            // Under the lock: the worker cannot unregister and close `fd` meanwhile, nor move
            // the connection into a phase that must not be cut.
            // Idle connections closed in the ordinary way are not worth a line each.
            if (std::string_view(reason) != "keep_alive_timeout" &&
                std::string_view(reason) != "stopping") {
                cuts.push_back(closed_event(settings_.listener, fd, reason, now - c.since));
            }
            ::shutdown(fd, SHUT_RDWR);
            c.cut = true;
        }
        if (cuts.empty()) continue;
        lock.unlock();
        for (auto& event : cuts) log_event(std::move(event));
        lock.lock();
    }
}

}  // namespace edgeca::api
