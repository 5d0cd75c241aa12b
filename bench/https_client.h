// bench/https_client.h — what the measurements against a running service share: a keep-alive
// mutual-TLS client and a way to run work on several client threads.
#pragma once

#include <httplib.h>

#include <exception>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "bench/bench.h"

namespace edgeca::bench {

inline std::unique_ptr<httplib::SSLClient> client_for(const TlsTarget& t) {
    auto client = std::make_unique<httplib::SSLClient>(t.host, t.port, t.cert, t.key);
    client->set_ca_cert_path(t.ca_file.c_str());
    client->enable_server_certificate_verification(true);
    client->set_keep_alive(true);
    // Headers and body leave in separate writes: without this, Nagle's algorithm holds the
    // body until the server's delayed ACK (40 ms) and the client measures its own stall.
    client->set_tcp_nodelay(true);
    client->set_connection_timeout(5, 0);
    client->set_read_timeout(60, 0);
    return client;
}

// Runs `work(client_index)` on `clients` threads and waits for them. The first exception a
// thread throws is rethrown here, after every thread has ended.
template <typename Work>
void on_threads(int clients, Work work) {
    std::mutex mutex;
    std::exception_ptr failure;
    std::vector<std::thread> pool;
    for (int c = 0; c < clients; ++c) {
        pool.emplace_back([&, c] {
            try {
                work(c);
            } catch (...) {
                std::lock_guard lock(mutex);
                if (!failure) failure = std::current_exception();
            }
        });
    }
    for (auto& th : pool) th.join();
    if (failure) std::rethrow_exception(failure);
}

}  // namespace edgeca::bench
