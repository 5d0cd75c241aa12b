// ca/app_credentials.h — the EnOS API gateway's way of authenticating callers: an application
// (appKey, appSecret) trades a signed timestamp for an access token, and every call carries a
// signature over the token, its parameters, body and timestamp, with the secret.
#pragma once

#include <botan/pk_keys.h>
#include <botan/rng.h>
#include <botan/x509cert.h>

#include <chrono>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "ca/caller.h"
#include "ca/clock.h"
#include "store/store.h"

namespace edgeca::ca {

struct GatewaySettings {
    std::chrono::seconds token_lifetime{7200};    // EnOS: 7200 s
    std::chrono::seconds timestamp_window{300};   // a request's timestamp may be this far off
    size_t replay_capacity = 200000;              // signatures remembered within the window
};

struct AppCredentialPair {
    std::string app_key;
    std::string app_secret;  // shown once
};

struct AccessToken {
    std::string token;
    std::chrono::seconds expires_in;
};

// Remembers what was seen within a time window, so that the same request is not accepted
// twice. Fails closed: when full, nothing new is accepted until entries age out.
class ReplayGuard {
public:
    explicit ReplayGuard(size_t capacity) : capacity_(capacity) {}
    // True the first time `digest` is offered within its lifetime; false for a replay. Throws
    // Error(unavailable, "replay_cache_full") when the capacity is reached.
    bool first_use(const std::string& digest, std::chrono::steady_clock::time_point forget_at);

private:
    std::mutex mutex_;
    size_t capacity_;
    std::unordered_set<std::string> seen_;
    std::deque<std::pair<std::chrono::steady_clock::time_point, std::string>> expiry_;
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
    // appSecret), the timestamp window and replays. Errors carry the codes "parameter_missing",
    // "app_key_unknown", "encryption_invalid", "timestamp_out_of_window", "replayed".
    AccessToken issue_access_token(const std::string& app_key, const std::string& encryption,
                                   int64_t timestamp_ms);

    // Every other call: signature = sha256(accessToken + paramsData + timestamp + appSecret).
    // Errors: "parameter_missing", "access_token_unknown", "access_token_expired",
    // "timestamp_out_of_window", "signature_invalid", "replayed".
    Caller authenticate(const std::string& access_token, const std::string& timestamp,
                        const std::string& signature, const std::string& params_data);

private:
    std::string secret_of(const store::AppRecord& app);
    void check_timestamp(int64_t timestamp_ms) const;

    store::Store& store_;
    const Clock& clock_;
    Botan::RandomNumberGenerator& rng_;
    const Botan::X509_Certificate& issuer_;
    std::shared_ptr<const Botan::Private_Key> key_;
    GatewaySettings settings_;
    ReplayGuard replay_;
    std::mutex secrets_mutex_;
    std::unordered_map<std::string, std::string> secrets_;  // opened secrets, by app key
};

// The paramsData of an EnOS request: query parameters sorted by name in ASCII order, each name
// followed by its value, then the body exactly as sent.
std::string enos_params_data(const std::vector<std::pair<std::string, std::string>>& query,
                             const std::string& body);

}  // namespace edgeca::ca
