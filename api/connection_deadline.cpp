// api/connection_deadline.cpp — the registry of open connections and its watchdog thread.
#include "api/connection_deadline.h"

#include <fmt/format.h>
#include <arpa/inet.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <iterator>
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

// Who a connection belongs to, for max_per_client: its IPv4 address, or the /64 of its IPv6
// address (one host usually holds a whole /64).
std::string client_of(int fd) {
    sockaddr_storage address{};
    socklen_t length = sizeof address;
    if (getpeername(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) return "-";
    char text[INET6_ADDRSTRLEN] = "-";
    if (address.ss_family == AF_INET) {
        inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(&address)->sin_addr, text, sizeof text);
        return text;
    }
    if (address.ss_family != AF_INET6) return "-";
    in6_addr ip = reinterpret_cast<sockaddr_in6*>(&address)->sin6_addr;
    if (IN6_IS_ADDR_V4MAPPED(&ip)) {
        inet_ntop(AF_INET, &ip.s6_addr[12], text, sizeof text);
        return text;
    }
    std::fill(std::begin(ip.s6_addr) + 8, std::end(ip.s6_addr), 0);
    inet_ntop(AF_INET6, &ip, text, sizeof text);
    return fmt::format("{}/64", text);
}

// Reads and drops what the client still sends, until it closes its side, `until`, or 64 MiB.
void drop_input(int fd, std::chrono::steady_clock::time_point until) {
    std::array<char, 16384> buffer;
    for (size_t dropped = 0; dropped < (size_t{64} << 20);) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            until - std::chrono::steady_clock::now());
        if (left.count() <= 0) return;
        pollfd entry{fd, POLLIN, 0};
        int ready = ::poll(&entry, 1, static_cast<int>(left.count()));
        if (ready < 0 && errno == EINTR) continue;
        if (ready <= 0) return;
        ssize_t received = ::recv(fd, buffer.data(), buffer.size(), MSG_DONTWAIT);
        if (received < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)) continue;
        if (received <= 0) return;
        dropped += static_cast<size_t>(received);
    }
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

void ConnectionDeadlines::forget(std::map<int, Connection>::iterator it) {
    auto client = clients_.find(it->second.client);
    if (client != clients_.end() && --client->second == 0) clients_.erase(client);
    connections_.erase(it);
}

bool ConnectionDeadlines::opened(int fd) {
    const std::string client = client_of(fd);
    nlohmann::json event;
    bool admitted;
    {
        std::lock_guard lock(mutex_);
        // A connection of this thread that was never let go must not keep a stale descriptor here.
        if (served.owner == this && served.fd != fd) {
            if (auto it = connections_.find(served.fd); it != connections_.end()) forget(it);
        }
        if (auto it = connections_.find(fd); it != connections_.end()) forget(it);
        auto now = Clock::now();
        Connection c{Phase::awaiting_headers, now, now + settings_.request_timeout};
        c.client = client;
        admitted = clients_[client]++ < settings_.max_per_client;
        if (!admitted) {
            ::shutdown(fd, SHUT_RDWR);
            c.cut = true;
            // One line a second at most: a flood of refused connections must not flood the log.
            ++refusals_unlogged_;
            if (now - refusal_logged_ >= std::chrono::seconds(1)) {
                event = {{"event", "connection_refused"},
                         {"listener", settings_.listener},
                         {"reason", "too_many_connections"},
                         {"client", client},
                         {"max_per_client", settings_.max_per_client},
                         {"refused", refusals_unlogged_}};
                refusals_unlogged_ = 0;
                refusal_logged_ = now;
            }
        }
        connections_.emplace(fd, std::move(c));
        served = Served{this, fd};
    }
    if (!event.is_null()) log_event(std::move(event));
    return admitted;
}

void ConnectionDeadlines::closing() {
    std::lock_guard lock(mutex_);
    if (served.owner != this) return;
    if (auto it = connections_.find(served.fd); it != connections_.end()) forget(it);
    served = Served{};
}

bool ConnectionDeadlines::reusable() {
    std::lock_guard lock(mutex_);
    Connection* c = mine();
    return c == nullptr || (!c->cut && c->phase != Phase::closing);
}

bool ConnectionDeadlines::closed_after_answer() {
    std::lock_guard lock(mutex_);
    Connection* c = mine();
    return c != nullptr && c->phase == Phase::closing;
}

void ConnectionDeadlines::linger() {
    Clock::time_point until;
    {
        std::lock_guard lock(mutex_);
        Connection* c = mine();
        if (c == nullptr || c->phase != Phase::closing) return;
        c->cut = true;  // no request is read from it any more
        until = c->deadline;
    }
    // Not under the lock: the watchdog may shut the socket down meanwhile, which ends the wait.
    drop_input(served.fd, until);
}

bool ConnectionDeadlines::read_starting() {
    // Bytes after an answer that closes the connection are dropped, never read as a request.
    if (!reusable()) linger();
    nlohmann::json event;
    {
        std::lock_guard lock(mutex_);
        Connection* c = mine();
        if (c == nullptr) return true;
        if (c->phase == Phase::closing) return false;  // the caller lingers, below
        if (c->cut) return false;
        auto now = Clock::now();
        if (c->phase == Phase::idle) {
            c->phase = Phase::awaiting_headers;
            c->since = now;
            c->deadline = now + settings_.request_timeout;
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
    if (c->cut || c->phase == Phase::closing) return false;
    // The deadline stays: it bounds the body too. Only reads are cut from now on, and no read
    // happens while the request is handled or its response written.
    c->phase = Phase::past_headers;
    return true;
}

void ConnectionDeadlines::close_after_response() {
    std::lock_guard lock(mutex_);
    if (Connection* c = mine()) c->close_after = true;
}

void ConnectionDeadlines::responded() {
    std::lock_guard lock(mutex_);
    Connection* c = mine();
    if (c == nullptr || c->cut || c->phase == Phase::closing) return;
    auto now = Clock::now();
    c->since = now;
    c->reading = false;
    if (c->close_after) {
        // The answer is out: end of stream after it, so that no later answer can follow it
        // whatever is still parsed; what the client sends next is dropped until `linger`.
        ::shutdown(served.fd, SHUT_WR);
        c->phase = Phase::closing;
        c->deadline = now + settings_.linger;
        return;
    }
    c->phase = Phase::idle;
    c->deadline = now + settings_.keep_alive_timeout;
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
        case Phase::closing:
            return now >= c.deadline ? "lingered" : nullptr;
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
            // A lingering connection is shut down once its time is up, even while its worker
            // drops its input (cut).
            if (c.shut_down || (c.cut && c.phase != Phase::closing)) continue;
            const char* reason = overdue(c, now, busy);
            if (reason == nullptr) continue;
            // Under the lock: the worker cannot unregister and close `fd` meanwhile, nor move
            // the connection into a phase that must not be cut.
            // Idle connections closed in the ordinary way are not worth a line each.
            if (std::string_view(reason) != "keep_alive_timeout" &&
                std::string_view(reason) != "stopping" && std::string_view(reason) != "lingered") {
                cuts.push_back(closed_event(settings_.listener, fd, reason, now - c.since));
            }
            ::shutdown(fd, SHUT_RDWR);
            c.cut = true;
            c.shut_down = true;
        }
        if (cuts.empty()) continue;
        lock.unlock();
        for (auto& event : cuts) log_event(std::move(event));
        lock.lock();
    }
}

}  // namespace edgeca::api
