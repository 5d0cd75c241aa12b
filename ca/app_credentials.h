// ca/app_credentials.h — the EnOS API gateway's way of authenticating callers: an application
// (appKey, appSecret) trades a signed timestamp for an access token, and every call carries a
// signature over the token, its parameters, body and timestamp, with the secret.
#pragma once

#include <botan/pk_keys.h>
#include <botan/rng.h>
#include <botan/x509cert.h>

#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "ca/caller.h"
#include "ca/clock.h"
#include "store/store.h"

namespace edgeca::ca {

struct GatewaySettings {
    std::chrono::seconds token_lifetime{7200};    // EnOS: 7200 s
    std::chrono::seconds timestamp_window{300};   // a request's timestamp may be this far off
    // How long a repeated call waits for the answer of the same call still running elsewhere.
    std::chrono::milliseconds repeat_wait{10000};
};

struct AppCredentialPair {
    std::string app_key;
    std::string app_secret;  // shown once
};

struct AccessToken {
    std::string token;
    std::chrono::seconds expires_in;
};

// A call whose signature checked out: who made it, and the identity of the call itself.
struct SignedCall {
    Caller caller;
    std::string app_key;
    std::string signature_sha256;  // the same request signed at the same timestamp: the same call
    Time expires_at{};             // when its timestamp leaves the window: no repeat after that
};

class AppCredentials {
public:
    // `key` (the issuing CA's private key) opens sealed secrets; it may be null where
    // applications are only created or listed (the CLI).
    AppCredentials(store::Store& store, const Clock& clock, Botan::RandomNumberGenerator& rng,
                   const Botan::X509_Certificate& issuer, std::shared_ptr<const Botan::Private_Key> key,
                   GatewaySettings settings);

    // Admins only. The secret is sealed under the issuing CA's public key before it is stored.
    AppCredentialPair create(const Caller& caller, const std::string& name, store::Role role);
    bool remove(const Caller& caller, const std::string& app_key);
    std::vector<store::AppRecord> apps() const;

    // POST /apim-token-service/v2.0/token/get: checks encryption = sha256(appKey + timestamp +
    // appSecret) and the timestamp window. The token is derived from the request with the
    // issuing CA's key, so the same request (a client that asks twice within a second) gets the
    // same token, on any node. Errors carry the codes "parameter_missing", "app_key_unknown",
    // "encryption_invalid", "timestamp_out_of_window".
    AccessToken issue_access_token(const std::string& app_key, const std::string& encryption,
                                   int64_t timestamp_ms);

    // Every other call: signature = sha256(accessToken + paramsData + timestamp + appSecret).
    // Errors: "parameter_missing", "access_token_unknown", "access_token_expired",
    // "timestamp_out_of_window", "signature_invalid". A repeated signature is not refused here:
    // a read is answered again, and a call that acts goes through claim().
    SignedCall authenticate(const std::string& access_token, const std::string& timestamp,
                            const std::string& signature, const std::string& params_data);

    // Before a call acts: nullopt when this call is the first with its signature (it then acts
    // and hands its answer to answer(), or to release() when it changed nothing); otherwise the
    // first call's answer, kept in the store, so the CA never acts twice for one signature. A
    // first call still running (here or on another node) is waited for up to repeat_wait;
    // after that Error(unavailable, "call_unfinished").
    std::optional<std::string> claim(const SignedCall& call);
    void answer(const SignedCall& call, const std::string& answer);
    void release(const SignedCall& call);

private:
    std::string secret_of(const store::AppRecord& app);
    void check_timestamp(int64_t timestamp_ms) const;

    store::Store& store_;
    const Clock& clock_;
    Botan::RandomNumberGenerator& rng_;
    const Botan::X509_Certificate& issuer_;
    std::shared_ptr<const Botan::Private_Key> key_;
    GatewaySettings settings_;
    std::mutex secrets_mutex_;
    std::unordered_map<std::string, std::string> secrets_;  // opened secrets, by app key
};

// The paramsData of an EnOS request: query parameters sorted by name in ASCII order, each name
// followed by its value, then the body exactly as sent.
std::string enos_params_data(const std::vector<std::pair<std::string, std::string>>& query,
                             const std::string& body);

}  // namespace edgeca::ca
