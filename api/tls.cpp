// api/tls.cpp — OpenSSL context setup for the API listener.
#include "api/tls.h"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/sha.h>

#include <fmt/format.h>

#include "api/connection_deadline.h"
#include "ca/encoding.h"
#include "ca/errors.h"

namespace edgeca::api {
namespace {

// Mozilla's "intermediate" TLS 1.2 suites; TLS 1.3 suites are OpenSSL's defaults.
constexpr const char* tls12_ciphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";

struct BioDeleter {
    void operator()(BIO* b) const { BIO_free(b); }
};
using Bio = std::unique_ptr<BIO, BioDeleter>;

Bio memory_bio(const std::string& text) {
    return Bio(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())));
}

std::vector<X509*> read_certificates(const std::string& pem) {
    std::vector<X509*> certificates;
    auto bio = memory_bio(pem);
    while (X509* cert = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) {
        certificates.push_back(cert);
    }
    ERR_clear_error();  // the loop ends on an expected "no start line"
    return certificates;
}

int select_certificate(SSL* ssl, void* arg) {
    auto credentials = static_cast<CredentialSlot*>(arg)->get();
    if (!credentials) return 0;
    if (SSL_use_certificate(ssl, credentials->certificate()) != 1) return 0;
    if (SSL_use_PrivateKey(ssl, credentials->key()) != 1) return 0;
    SSL_clear_chain_certs(ssl);
    for (X509* cert : credentials->chain()) {
        if (SSL_add1_chain_cert(ssl, cert) != 1) return 0;
    }
    return 1;
}

// The registry of a context, for the info callback, which has no argument of its own.
int context_index() {
    static const int index = SSL_CTX_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
    return index;
}

// SSL_free runs this for every connection; the value is set on watched connections only.
void connection_freed(void*, void* deadlines, CRYPTO_EX_DATA*, int, long, void*) {
    if (deadlines != nullptr) static_cast<ConnectionDeadlines*>(deadlines)->closing();
}

int connection_index() {
    static const int index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, connection_freed);
    return index;
}

// Called by OpenSSL before and after each read from the connection's socket, on the worker
// thread, during the handshake as for every record after it.
long watch_reads(BIO* bio, int operation, const char*, size_t, int, long, int result, size_t*) {
    auto* deadlines = reinterpret_cast<ConnectionDeadlines*>(BIO_get_callback_arg(bio));
    bool allowed = true;
    if (operation == BIO_CB_READ) {
        allowed = deadlines->read_starting();
    } else if (operation == (BIO_CB_READ | BIO_CB_RETURN)) {
        allowed = deadlines->read_finished();
    }
    if (allowed) return result;
    // A retry flag left by an earlier EAGAIN (the handshake reads a non-blocking socket) would
    // make the refusal read as "no data yet", and httplib would wait and try again.
    BIO_clear_retry_flags(bio);
    return -1;
}

// SSL_CB_HANDSHAKE_START comes when httplib first calls SSL_accept, before anything is read,
// so a client that never sends its ClientHello is watched too.
void handshake_started(const SSL* ssl, int where, int) {
    if ((where & SSL_CB_HANDSHAKE_START) == 0) return;
    if (SSL_get_ex_data(ssl, connection_index()) != nullptr) return;  // already watched
    auto* deadlines = static_cast<ConnectionDeadlines*>(
        SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), context_index()));
    BIO* bio = SSL_get_rbio(ssl);
    const int fd = SSL_get_fd(ssl);
    if (deadlines == nullptr || bio == nullptr || fd < 0) return;
    // Info callbacks get a const SSL; the connection is ours to annotate all the same.
    if (SSL_set_ex_data(const_cast<SSL*>(ssl), connection_index(), deadlines) != 1) return;
    BIO_set_callback_arg(bio, reinterpret_cast<char*>(deadlines));
    BIO_set_callback_ex(bio, watch_reads);
    // A connection over its client's limit is shut down and every read of it refused, so the
    // handshake fails and httplib closes it.
    (void)deadlines->opened(fd);
}

}  // namespace

bool watch_connections(SSL_CTX& ctx, ConnectionDeadlines& deadlines) {
    if (SSL_CTX_set_ex_data(&ctx, context_index(), &deadlines) != 1) return false;
    SSL_CTX_set_info_callback(&ctx, handshake_started);
    return true;
}

std::string openssl_error() {
    unsigned long code = ERR_get_error();
    if (code == 0) return "unknown TLS error";
    char buffer[256];
    ERR_error_string_n(code, buffer, sizeof buffer);
    ERR_clear_error();
    return buffer;
}

std::shared_ptr<const TlsCredentials> TlsCredentials::from_pem(const std::string& certificate_pem,
                                                               const std::string& key_pem,
                                                               const std::string& chain_pem) {
    std::shared_ptr<TlsCredentials> credentials(new TlsCredentials());
    auto certificates = read_certificates(certificate_pem);
    if (certificates.empty()) {
        throw ca::Error(ca::ErrorKind::bad_input, "tls_certificate_invalid",
                        "the TLS certificate file holds no PEM certificate");
    }
    credentials->certificate_ = certificates.front();
    for (size_t i = 1; i < certificates.size(); ++i) credentials->chain_.push_back(certificates[i]);
    for (X509* cert : read_certificates(chain_pem)) credentials->chain_.push_back(cert);
    auto bio = memory_bio(key_pem);
    credentials->key_ = PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr);
    if (credentials->key_ == nullptr) {
        throw ca::Error(ca::ErrorKind::bad_input, "tls_key_invalid",
                        fmt::format("the TLS key cannot be read: {}", openssl_error()));
    }
    if (X509_check_private_key(credentials->certificate_, credentials->key_) != 1) {
        throw ca::Error(ca::ErrorKind::bad_input, "tls_key_mismatch",
                        "the TLS key does not belong to the TLS certificate");
    }
    return credentials;
}

TlsCredentials::~TlsCredentials() {
    X509_free(certificate_);
    EVP_PKEY_free(key_);
    for (X509* cert : chain_) X509_free(cert);
}

void CredentialSlot::set(std::shared_ptr<const TlsCredentials> credentials) {
    std::lock_guard lock(mutex_);
    credentials_ = std::move(credentials);
}

std::shared_ptr<const TlsCredentials> CredentialSlot::get() const {
    std::lock_guard lock(mutex_);
    return credentials_;
}

bool add_trusted_certificates(SSL_CTX& ctx, const std::string& pem) {
    X509_STORE* store = SSL_CTX_get_cert_store(&ctx);
    auto trusted = read_certificates(pem);
    for (X509* cert : trusted) {
        X509_STORE_add_cert(store, cert);
        SSL_CTX_add_client_CA(&ctx, cert);
        X509_free(cert);
    }
    return !trusted.empty();
}

bool configure_server_context(SSL_CTX& ctx, CredentialSlot& slot, const std::string& trusted_pem) {
    if (SSL_CTX_set_min_proto_version(&ctx, TLS1_2_VERSION) != 1) return false;
    SSL_CTX_set_options(&ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE |
                                  SSL_OP_NO_COMPRESSION);
    if (SSL_CTX_set_cipher_list(&ctx, tls12_ciphers) != 1) return false;
    SSL_CTX_set_cert_cb(&ctx, select_certificate, &slot);

    if (!add_trusted_certificates(ctx, trusted_pem)) return false;
    SSL_CTX_set_verify(&ctx, SSL_VERIFY_PEER, nullptr);
    SSL_CTX_set_verify_depth(&ctx, 3);
    // Without a session id context, resuming a session that carried a client certificate fails.
    static const unsigned char context[] = "edgeca-api";
    SSL_CTX_set_session_id_context(&ctx, context, sizeof context - 1);
    return true;
}

std::optional<std::string> verified_client_fingerprint(const SSL* ssl) {
    if (ssl == nullptr) return std::nullopt;
    X509* peer = SSL_get0_peer_certificate(ssl);
    if (peer == nullptr || SSL_get_verify_result(ssl) != X509_V_OK) return std::nullopt;
    unsigned char* der = nullptr;
    int length = i2d_X509(peer, &der);
    if (length <= 0) return std::nullopt;
    std::string fingerprint =
        ca::sha256_hex(std::span<const uint8_t>(der, static_cast<size_t>(length)));
    OPENSSL_free(der);
    return fingerprint;
}

}  // namespace edgeca::api
