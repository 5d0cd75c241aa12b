// api/plain_listener.cpp — serving one plain-HTTP connection under ConnectionDeadlines.
#include "api/plain_listener.h"

#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>

namespace edgeca::api {
namespace {

using Milliseconds = std::chrono::milliseconds;

Milliseconds duration_of(time_t seconds, time_t microseconds) {
    return std::chrono::duration_cast<Milliseconds>(std::chrono::seconds(seconds) +
                                                    std::chrono::microseconds(microseconds));
}

// Waits for `events` on `fd` for at most `timeout`; a shutdown or a reset counts as ready, so
// that the following recv or send reports it.
bool wait_for(int fd, short events, Milliseconds timeout) {
    const auto until = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        auto left =
            std::chrono::duration_cast<Milliseconds>(until - std::chrono::steady_clock::now());
        pollfd entry{fd, events, 0};
        int ready = ::poll(&entry, 1, static_cast<int>(std::max<int64_t>(left.count(), 0)));
        if (ready >= 0) return ready > 0;
        if (errno != EINTR) return false;
    }
}

void address_of(int fd, bool peer, std::string& ip, int& port) {
    sockaddr_storage address{};
    socklen_t length = sizeof address;
    auto* generic = reinterpret_cast<sockaddr*>(&address);
    if ((peer ? getpeername(fd, generic, &length) : getsockname(fd, generic, &length)) != 0) return;
    char host[NI_MAXHOST];
    char service[NI_MAXSERV];
    if (getnameinfo(generic, length, host, sizeof host, service, sizeof service,
                    NI_NUMERICHOST | NI_NUMERICSERV) == 0) {
        ip = host;
        port = std::atoi(service);
    }
}

// httplib's SocketStream (declared only inside the library) with one change: every read from
// the socket asks the connection's deadlines first and after.
class DeadlineSocketStream final : public httplib::Stream {
public:
    DeadlineSocketStream(int fd, ConnectionDeadlines& deadlines, Milliseconds read_timeout,
                         Milliseconds write_timeout)
        : fd_(fd),
          deadlines_(deadlines),
          read_timeout_(read_timeout),
          write_timeout_(write_timeout) {}

    // Until the first byte of the next request, or `timeout`.
    bool wait_for_request(Milliseconds timeout) const {
        return offset_ < filled_ || wait_for(fd_, POLLIN, timeout);
    }

    bool is_readable() const override { return wait_for_request(read_timeout_); }
    bool is_writable() const override { return wait_for(fd_, POLLOUT, write_timeout_); }

    ssize_t read(char* ptr, size_t size) override {
        if (offset_ == filled_) {
            if (!deadlines_.read_starting()) return -1;
            ssize_t received = -1;
            if (wait_for(fd_, POLLIN, read_timeout_)) {
                do {
                    received = ::recv(fd_, buffer_.data(), buffer_.size(), 0);
                } while (received < 0 && errno == EINTR);
            }
            if (!deadlines_.read_finished()) return -1;
            if (received <= 0) return received;
            offset_ = 0;
            filled_ = static_cast<size_t>(received);
        }
        // httplib reads request lines a byte at a time: serve those from the buffer.
        size_t n = std::min(size, filled_ - offset_);
        std::memcpy(ptr, buffer_.data() + offset_, n);
        offset_ += n;
        return static_cast<ssize_t>(n);
    }

    ssize_t write(const char* ptr, size_t size) override {
        if (!is_writable()) return -1;
        ssize_t sent;
        do {
            sent = ::send(fd_, ptr, size, MSG_NOSIGNAL);
        } while (sent < 0 && errno == EINTR);
        return sent;
    }

    void get_remote_ip_and_port(std::string& ip, int& port) const override {
        address_of(fd_, true, ip, port);
    }
    void get_local_ip_and_port(std::string& ip, int& port) const override {
        address_of(fd_, false, ip, port);
    }
    socket_t socket() const override { return fd_; }

private:
    int fd_;
    ConnectionDeadlines& deadlines_;
    Milliseconds read_timeout_;
    Milliseconds write_timeout_;
    std::array<char, 4096> buffer_{};
    size_t offset_ = 0;
    size_t filled_ = 0;
};

}  // namespace

bool WatchedHttpServer::process_and_close_socket(socket_t sock) {
    bool served = false;
    const bool admitted = deadlines_.opened(sock);
    {
        // The registry lets go of `sock` before it is closed, even if a request throws.
        struct Forget {
            ConnectionDeadlines& deadlines;
            ~Forget() { deadlines.closing(); }
        } forget{deadlines_};
        DeadlineSocketStream stream(sock, deadlines_,
                                    duration_of(read_timeout_sec_, read_timeout_usec_),
                                    duration_of(write_timeout_sec_, write_timeout_usec_));
        // httplib's own loop (process_server_socket_core): wait up to the keep-alive timeout for
        // each request, at most keep_alive_max_count_ requests, none once the server stops.
        // Unlike it, the loop ends after an answer that closes the connection: bytes the stream
        // holds already are never parsed as another request.
        for (size_t left = admitted ? keep_alive_max_count_ : 0;
             left > 0 && svr_sock_ != INVALID_SOCKET; --left) {
            if (!stream.wait_for_request(duration_of(keep_alive_timeout_sec_, 0))) break;
            bool connection_closed = false;
            served = process_request(stream, left == 1, connection_closed, nullptr);
            if (!served || connection_closed || !deadlines_.reusable()) break;
        }
        deadlines_.linger();
    }
    ::shutdown(sock, SHUT_RDWR);
    ::close(sock);
    return served;
}

}  // namespace edgeca::api
