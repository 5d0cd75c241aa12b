// api/plain_listener.h — the plain-HTTP listener: httplib's server with a connection loop that
// reports each connection to ConnectionDeadlines, as the TLS callbacks do for the API listener.
#pragma once

#include <httplib.h>

#include "api/connection_deadline.h"

namespace edgeca::api {

// cpp-httplib 0.11.4 has no hook on an accepted plain socket (set_socket_options reaches the
// listening socket only), so this replaces the one function that serves a connection: the same
// keep-alive loop around httplib's own request parser (Server::process_request), with a stream
// whose reads ask `deadlines` first.
class WatchedHttpServer : public httplib::Server {
public:
    // `deadlines` must outlive the server's connections.
    explicit WatchedHttpServer(ConnectionDeadlines& deadlines) : deadlines_(deadlines) {}

private:
    // Called by httplib on a worker thread for each accepted socket, which it must close.
    bool process_and_close_socket(socket_t sock) override;

    ConnectionDeadlines& deadlines_;
};

}  // namespace edgeca::api
