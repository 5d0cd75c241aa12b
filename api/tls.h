// api/tls.h — the HTTPS listener's TLS: TLS 1.2 at least, client certificates verified against
// the CA's own chain, and a server certificate that can be replaced while connections run.
#pragma once

#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace edgeca::api {

class ConnectionDeadlines;

// A certificate, its private key and the chain to send after it, as OpenSSL objects.
class TlsCredentials {
public:
    // `key_pem` is an unencrypted PKCS#8 PEM held in memory only; `chain_pem` holds the
    // intermediate certificates to send (the root is left out).
    static std::shared_ptr<const TlsCredentials> from_pem(const std::string& certificate_pem,
                                                          const std::string& key_pem,
                                                          const std::string& chain_pem);
    ~TlsCredentials();
    TlsCredentials(const TlsCredentials&) = delete;
    TlsCredentials& operator=(const TlsCredentials&) = delete;

    X509* certificate() const { return certificate_; }
    EVP_PKEY* key() const { return key_; }
    const std::vector<X509*>& chain() const { return chain_; }

private:
    TlsCredentials() = default;
    X509* certificate_ = nullptr;
    EVP_PKEY* key_ = nullptr;
    std::vector<X509*> chain_;
};

// Holds the credentials handshakes use now; a renewal swaps them without a restart.
class CredentialSlot {
public:
    void set(std::shared_ptr<const TlsCredentials> credentials);
    std::shared_ptr<const TlsCredentials> get() const;

private:
    mutable std::mutex mutex_;
    std::shared_ptr<const TlsCredentials> credentials_;
};

// Adds the certificates of `pem` to those a client certificate may chain to; false when it
// holds none.
bool add_trusted_certificates(SSL_CTX& ctx, const std::string& pem);
// Configures a server context: TLS 1.2 minimum, forward-secret AEAD ciphers for TLS 1.2, no
// renegotiation or compression, the server certificate taken from `slot` at each handshake,
// and client certificates requested (not required: enrollment uses a token) and verified
// against `trusted_pem` (the issuing CA and the root). Returns false on failure.
bool configure_server_context(SSL_CTX& ctx, CredentialSlot& slot, const std::string& trusted_pem);

// Reports every connection of `ctx` to `deadlines` (connection_deadline.h): from the start of
// its TLS handshake, around each read from its socket, until SSL_free, which httplib calls
// before it closes the socket. Reads refused by `deadlines` fail. `deadlines` must outlive the
// connections of `ctx`. Returns false on failure.
bool watch_connections(SSL_CTX& ctx, ConnectionDeadlines& deadlines);

// SHA-256 (hex) of the client certificate, when the client sent one and it verified.
std::optional<std::string> verified_client_fingerprint(const SSL* ssl);

// The last OpenSSL error as text, for logs.
std::string openssl_error();

}  // namespace edgeca::api
