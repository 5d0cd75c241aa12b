// api/connection_deadline.h — how long a connection may hold a worker thread without being
// served: a whole request must arrive within request_timeout, an idle kept-alive connection lasts
// keep_alive_timeout (less when every worker is taken), and a watchdog ends those that overstay.
// Also how many connections one client may hold at once, and the closing of a connection after
// an answer that left request bytes unread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <map>
#include <mutex>
#include <stop_token>
#include <string>
#include <thread>

namespace edgeca::api {

struct DeadlineSettings {
    std::string listener;  // "api" or "public", for the log
    // From the first byte of a request (for a new connection: from the start of its TLS
    // handshake, or its accept) to its last header line, and for reading the body too.
    std::chrono::milliseconds request_timeout{std::chrono::seconds(20)};
    std::chrono::milliseconds keep_alive_timeout{std::chrono::seconds(5)};
    // While accepted connections wait for a worker, connections idle for longer than this are
    // closed to free theirs.
    std::chrono::milliseconds idle_when_busy{500};
    // Connections one client (an IPv4 address, an IPv6 /64) may hold open at once; more are
    // closed as soon as a worker takes them. Below the worker count, so that one client cannot
    // take every worker.
    size_t max_per_client = 32;
    // After an answer that left request bytes unread the connection is closed; the bytes the
    // client still sends are read and dropped for at most this long first, so that the close
    // does not reset the connection before the client has the answer.
    std::chrono::milliseconds linger{1000};
};

// cpp-httplib 0.11.4 serves a connection on one worker thread from its accept to its close, and
// its timeouts are per read: a client sending a byte a second holds the worker for ever. This
// registry knows what each connection is doing; the listener's glue (the TLS callbacks of
// tls.cpp, the plain-HTTP loop of plain_listener.cpp) and the HTTP hooks of service.cpp report it,
// always on the worker thread, so each call below is about "the connection this thread serves".
//
// A connection is cut (shutdown(2), which wakes the worker from its poll or recv) only while it
// waits for the TLS handshake or the request line and headers, or while it idles between
// requests, or inside a read of its body: never while its request is handled or answered.
class ConnectionDeadlines {
public:
    explicit ConnectionDeadlines(DeadlineSettings settings);
    ~ConnectionDeadlines();
    ConnectionDeadlines(const ConnectionDeadlines&) = delete;
    ConnectionDeadlines& operator=(const ConnectionDeadlines&) = delete;

    // The calling thread starts serving the socket `fd`; its request deadline starts now. The
    // caller keeps `fd` open until closing(), so the watchdog can never shut down a descriptor
    // number the kernel has since given to another file. False when its client already holds
    // max_per_client connections: `fd` is shut down, every read fails, and the caller should
    // close it at once.
    bool opened(int fd);
    void closing();
    // False once the connection must close after its answer (close_after_response, or cut).
    bool reusable();
    // An answer that closes the connection went out: anything parsed from it now is bytes the
    // client sent after a refused request (that TLS had already decrypted), never a request.
    bool closed_after_answer();
    // For a connection closing after its answer: reads and drops what the client still sends,
    // up to `linger` after the answer, and marks it cut. Returns at once for other connections.
    void linger();

    // Around every read from the socket. A read may not start once the request's deadline has
    // passed (false); a read during which the watchdog cut the connection failed (false). The
    // first read after a response starts the next request's deadline.
    bool read_starting();
    bool read_finished();

    // The request line and headers are in. False when the deadline passed first and the
    // connection is being cut: the request must not be handled.
    bool headers_received();
    // The response about to be written leaves bytes of the request unread (refused before its
    // body was read, or not parsed at all): after it, the connection is closed, not kept alive.
    void close_after_response();
    // The response went out: the connection idles until the next request's first byte, or
    // closes (close_after_response): no more requests are read from it.
    void responded();

    // The listener's pool: an accepted connection waits for a worker; a worker took it.
    void waiting_for_worker();
    void got_worker();

    // The service stops: idle connections are closed at once, not at keep_alive_timeout.
    void drain();

private:
    using Clock = std::chrono::steady_clock;
    enum class Phase {
        awaiting_headers,  // TLS handshake, request line, headers: cut at the deadline
        past_headers,      // body, handling, response: cut only inside a read past the deadline
        idle,              // between a response and the next request's first byte
        closing,           // answered; unread bytes are dropped until `deadline`, then closed
    };
    struct Connection {
        Phase phase = Phase::awaiting_headers;
        Clock::time_point since;     // start of the request, or of the idle time
        Clock::time_point deadline;  // of the request, or of the idle time
        bool reading = false;        // inside a read call
        bool cut = false;            // shut down, or a read was refused: the worker gives up
        bool close_after = false;    // close_after_response() was called for this request
        bool shut_down = false;      // the watchdog shut the socket down
        std::string client;          // the key counted in clients_
    };
    Connection* mine();
    void forget(std::map<int, Connection>::iterator it);
    const char* overdue(const Connection& c, Clock::time_point now, bool busy) const;
    void watch(std::stop_token stop);

    const DeadlineSettings settings_;
    std::mutex mutex_;
    std::condition_variable_any wake_;
    std::map<int, Connection> connections_;  // by socket; nodes stay put while the fd is open
    std::map<std::string, size_t> clients_;  // open connections by client key
    Clock::time_point refusal_logged_{};     // too_many_connections is logged once a second
    size_t refusals_unlogged_ = 0;
    size_t waiting_ = 0;                     // accepted connections without a worker
    bool draining_ = false;
    bool wake_now_ = false;  // drain() was called since the watchdog last looked
    std::jthread watchdog_;
};

}  // namespace edgeca::api
