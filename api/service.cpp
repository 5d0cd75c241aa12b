// api/service.cpp — listeners, the per-request wrapper, limits and the request log.
#include "api/service.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <optional>

#include "api/event_log.h"
#include "api/http_support.h"
#include "store/database.h"

namespace edgeca::api {
namespace {

struct RequestNotes {
    std::chrono::steady_clock::time_point start;
    std::string caller = "-";
    // The framing checks passed: httplib reads the whole body (if any) before the route, so the
    // connection may carry another request after the answer.
    bool framing_accepted = false;
    bool unanswerable = false;  // parsed from a connection closing after an answer
};
thread_local RequestNotes notes;

// httplib's pool of workers, telling `deadlines` how many accepted connections wait for one:
// idle kept-alive connections give their worker up only when another connection needs it.
class WorkerPool final : public httplib::TaskQueue {
public:
    WorkerPool(size_t threads, ConnectionDeadlines& deadlines)
        : pool_(threads), deadlines_(deadlines) {}

    // httplib queues one job per accepted connection, which serves it until it is closed.
    void enqueue(std::function<void()> job) override {
        deadlines_.waiting_for_worker();
        pool_.enqueue([this, job = std::move(job)] {
            deadlines_.got_worker();
            job();
        });
    }
    void shutdown() override { pool_.shutdown(); }

private:
    httplib::ThreadPool pool_;
    ConnectionDeadlines& deadlines_;
};

bool has_bearer_token(const httplib::Request& req) {
    return req.get_header_value("Authorization").rfind("Bearer ", 0) == 0;
}

// The methods whose body httplib reads before routing (detail::expect_content); it reads no body
// of any other method, whatever its headers announce.
bool body_is_read(const std::string& method) {
    return method == "POST" || method == "PUT" || method == "PATCH" || method == "DELETE" ||
           method == "PRI";
}

// Refuses a request whose body httplib would read other than as exactly Content-Length bytes of
// at most `limit`, or not read at all while its headers announce one: such a body is either
// unbounded (chunked, until end of stream, inflated by Content-Encoding) or left on the
// connection, where it would be parsed as the next request. The caller answers with the
// refusal, and the connection is closed after it (the error handler of ApiService::configure).
struct FramingRefusal {
    int status;
    const char* code;
    std::string message;
};

std::optional<FramingRefusal> check_framing(const httplib::Request& req, size_t limit) {
    const bool chunked = req.has_header("Transfer-Encoding");
    const size_t lengths = req.get_header_value_count("Content-Length");
    if (chunked && lengths > 0) {
        return FramingRefusal{400, "ambiguous_framing",
                              "the request has both Transfer-Encoding and Content-Length"};
    }
    const std::string encoding = req.get_header_value("Content-Encoding");
    if (req.has_header("Content-Encoding") && encoding != "identity") {
        return FramingRefusal{415, "content_encoding_not_supported",
                              "request bodies must not be compressed (Content-Encoding)"};
    }
    if (chunked) {
        return FramingRefusal{411, "length_required",
                              "request bodies need a Content-Length; Transfer-Encoding is not "
                              "accepted"};
    }
    if (lengths == 0) {
        if (body_is_read(req.method) && req.method != "DELETE") {
            // httplib would read until the client closes its side.
            return FramingRefusal{411, "length_required", "the request has no Content-Length"};
        }
        return std::nullopt;
    }
    const std::string text = req.get_header_value("Content-Length");
    const bool digits = !text.empty() && text.size() <= 19 &&
                        std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
    if (lengths > 1 || !digits) {
        return FramingRefusal{400, "bad_content_length",
                              "the request needs exactly one Content-Length of decimal digits"};
    }
    const auto length = std::stoull(text);
    if (length > limit) {
        return FramingRefusal{413, "body_too_large",
                              fmt::format("the body is {} bytes; at most {} are accepted", length, limit)};
    }
    if (length > 0 && !body_is_read(req.method)) {
        return FramingRefusal{400, "body_not_allowed",
                              fmt::format("a {} request takes no body", req.method.substr(0, 16))};
    }
    return std::nullopt;
}

}  // namespace

void note_caller(const std::string& principal) { notes.caller = principal; }

Endpoint Endpoint::parse(const std::string& text) {
    auto colon = text.rfind(':');
    if (colon == std::string::npos || colon + 1 == text.size()) {
        throw ca::Error(ca::ErrorKind::bad_input, "listen_invalid",
                        fmt::format("'{}' is not HOST:PORT", text));
    }
    Endpoint endpoint;
    endpoint.host = text.substr(0, colon);
    if (endpoint.host.size() >= 2 && endpoint.host.front() == '[' && endpoint.host.back() == ']') {
        endpoint.host = endpoint.host.substr(1, endpoint.host.size() - 2);
    }
    std::string port = text.substr(colon + 1);
    bool digits = port.size() <= 5 && std::all_of(port.begin(), port.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)); });
    if (!digits || endpoint.host.empty() || std::stoi(port) > 65535) {
        throw ca::Error(ca::ErrorKind::bad_input, "listen_invalid",
                        fmt::format("'{}' is not HOST:PORT with a port of 0 to 65535", text));
    }
    endpoint.port = std::stoi(port);
    return endpoint;
}

std::string Endpoint::to_string() const {
    return host.find(':') != std::string::npos ? fmt::format("[{}]:{}", host, port)
                                               : fmt::format("{}:{}", host, port);
}

void handle(Engine& engine, const httplib::Request& req, httplib::Response& res,
            const std::function<void(const ca::Caller&)>& body) {
    handle_public(req, res, [&] {
        ca::Caller caller = ca::Caller::anonymous("anonymous");
        if (auto fingerprint = verified_client_fingerprint(req.ssl)) {
            if (auto known = engine.access.caller_for_certificate(*fingerprint)) {
                caller = *known;
            } else if (!has_bearer_token(req)) {
                throw ca::Error(ca::ErrorKind::unauthenticated, "certificate_not_authorized",
                                "the client certificate is not on the access list, or it was "
                                "revoked or has expired");
            } else {
                caller = ca::Caller::anonymous(fmt::format("certificate:{}", fingerprint->substr(0, 16)));
            }
        }
        note_caller(caller.principal);
        body(caller);
    });
}

void handle_public(const httplib::Request& req, httplib::Response& res,
                   const std::function<void()>& body) {
    try {
        body();
    } catch (const ca::Error& e) {
        write_error(res, e);
    } catch (const store::StoreError& e) {
        log_event({{"event", "store_error"}, {"path", req.path}, {"error", e.what()}});
        if (e.unavailable()) {
            write_error(res, 503, "store_unavailable",
                        "the certificate store cannot be written now; nothing was issued or "
                        "changed; try again later");
        } else {
            write_error(res, 500, "internal", "an internal error occurred; it was logged");
        }
    } catch (const std::exception& e) {
        log_event({{"event", "internal_error"}, {"path", req.path}, {"error", e.what()}});
        write_error(res, 500, "internal", "an internal error occurred; it was logged");
    }
}

ApiService::ApiService(HttpSettings settings, CredentialSlot& credentials,
                       const std::string& trusted_pem, Metrics& metrics)
    : settings_(settings),
      metrics_(metrics),
      api_deadlines_(deadline_settings("api")),
      public_deadlines_(deadline_settings("public")),
      public_(public_deadlines_) {
    api_ = std::make_unique<httplib::SSLServer>([this, &credentials, &trusted_pem](SSL_CTX& ctx) {
        return configure_server_context(ctx, credentials, trusted_pem) &&
               watch_connections(ctx, api_deadlines_);
    });
    if (!api_->is_valid()) {
        throw ca::Error(ca::ErrorKind::internal, "tls_setup_failed",
                        fmt::format("the TLS context cannot be set up: {}", openssl_error()));
    }
    configure(*api_, "api", api_deadlines_, settings_.max_body_bytes);
    configure(public_, "public", public_deadlines_, 0);  // downloads only: no request bodies
}

ApiService::~ApiService() { stop(); }

void ApiService::trust_client_issuer(const std::string& certificate_pem) {
    // The store of the one SSL_CTX every connection uses; OpenSSL locks it for concurrent use.
    add_trusted_certificates(*api_->ssl_context(), certificate_pem);
}

DeadlineSettings ApiService::deadline_settings(const std::string& listener) const {
    DeadlineSettings deadlines;
    deadlines.listener = listener;
    deadlines.request_timeout = settings_.request_timeout;
    deadlines.keep_alive_timeout = settings_.keep_alive_timeout;
    deadlines.max_per_client = settings_.max_connections_per_client;
    return deadlines;
}

void ApiService::configure(httplib::Server& server, const std::string& listener,
                           ConnectionDeadlines& deadlines, size_t max_body_bytes) {
    const auto threads = static_cast<size_t>(settings_.threads);
    server.new_task_queue = [threads, &deadlines]() -> httplib::TaskQueue* {
        return std::make_unique<WorkerPool>(threads, deadlines).release();  // httplib owns it
    };
    server.set_payload_max_length(max_body_bytes);
    server.set_read_timeout(settings_.read_timeout);
    server.set_write_timeout(settings_.read_timeout);
    server.set_keep_alive_timeout(settings_.keep_alive_timeout.count());
    server.set_keep_alive_max_count(1000);
    server.set_tcp_nodelay(true);
    server.set_pre_routing_handler([max_body_bytes, &deadlines](const httplib::Request& req,
                                                                httplib::Response& res) {
        notes = RequestNotes{std::chrono::steady_clock::now(), "-"};
        if (deadlines.closed_after_answer()) {
            // Bytes after a refused request: neither handled nor logged, and no answer can be
            // sent any more (the connection's sending side is shut down).
            notes.unanswerable = true;
            res.status = 400;
            return httplib::Server::HandlerResponse::Handled;
        }
        if (!deadlines.headers_received()) {
            // Cut at its deadline while the last header line came in: too late to be handled,
            // and the answer cannot be sent any more.
            write_error(res, 408, "request_timeout", "the request did not arrive in time");
            return httplib::Server::HandlerResponse::Handled;
        }
        if (auto refusal = check_framing(req, max_body_bytes)) {
            write_error(res, refusal->status, refusal->code, refusal->message);
            return httplib::Server::HandlerResponse::Handled;
        }
        notes.framing_accepted = true;
        return httplib::Server::HandlerResponse::Unhandled;
    });
    // httplib calls this before it writes any answer of status 400 or more: refusals above, its
    // own (a request line or header it cannot parse, 414, 416, a body it failed to read), and
    // the routes' errors.
    server.set_error_handler([&deadlines](const httplib::Request& req, httplib::Response& res) {
        // A body httplib began to read and gave up on (the client paused for read_timeout)
        // leaves its rest on the connection too.
        const bool body_cut_short =
            req.body.size() < std::strtoull(req.get_header_value("Content-Length").c_str(), nullptr, 10);
        if (!notes.framing_accepted || body_cut_short) {
            // Bytes of this request may still be unread: the next "request" on this connection
            // would be whatever the client hid in them. Close after the answer.
            deadlines.close_after_response();
            res.set_header("Connection", "close");
        }
        if (!res.body.empty()) return;
        switch (res.status) {
            case 404:
                write_error(res, 404, "not_found", fmt::format("no route {} {}", req.method, req.path.substr(0, 128)));
                break;
            case 413:
                write_error(res, 413, "body_too_large", "the body is larger than allowed");
                break;
            default:
                write_error(res, res.status, "http_error", fmt::format("the request failed with HTTP status {}", res.status));
        }
    });
    Metrics& metrics = metrics_;
    server.set_logger([listener, &metrics, &deadlines](const httplib::Request& req,
                                                       const httplib::Response& res) {
        deadlines.responded();  // httplib logs once the response is written
        if (notes.unanswerable) {
            notes = RequestNotes{};
            return;
        }
        auto elapsed = std::chrono::steady_clock::now() - notes.start;
        metrics.response(res.status);
        log_event({{"event", "request"},
                   {"listener", listener},
                   {"method", req.method},
                   {"path", req.path.substr(0, 256)},
                   {"status", res.status},
                   {"ms", std::chrono::duration<double, std::milli>(elapsed).count()},
                   {"caller", notes.caller},
                   {"remote", req.remote_addr},
                   {"bytes_in", req.body.size()},
                   {"bytes_out", res.body.size()}});
        notes = RequestNotes{};  // a request httplib refuses before pre-routing finds none
    });
}

void ApiService::bind(const Endpoint& api, const Endpoint& downloads) {
    auto bind_one = [](httplib::Server& server, const Endpoint& endpoint) {
        int port = endpoint.port == 0 ? server.bind_to_any_port(endpoint.host)
                                      : (server.bind_to_port(endpoint.host, endpoint.port) ? endpoint.port : -1);
        if (port <= 0) {
            throw ca::Error(ca::ErrorKind::unavailable, "listen_failed",
                            fmt::format("cannot listen on {}: the address is taken or not local",
                                        endpoint.to_string()));
        }
        return port;
    };
    api_port_ = bind_one(*api_, api);
    public_port_ = bind_one(public_, downloads);
}

void ApiService::run() {
    running_ = true;
    if (stop_requested_) {
        running_ = false;
        return;
    }
    std::thread public_thread([this] { public_.listen_after_bind(); });
    api_->listen_after_bind();
    public_thread.join();
    running_ = false;
}

void ApiService::stop() {
    // httplib lets each worker finish its connection, and an idle one waits for a request that
    // would not be served any more: close idle connections now.
    stop_requested_ = true;
    api_deadlines_.drain();
    public_deadlines_.drain();
    // run() has begun: wait (at most 5 s) until both listen loops run, or stop() is lost.
    for (int i = 0; i < 500 && running_ && !(api_->is_running() && public_.is_running()); ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    if (api_) api_->stop();
    public_.stop();
}

}  // namespace edgeca::api
