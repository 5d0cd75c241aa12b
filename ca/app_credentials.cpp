// ca/app_credentials.cpp — applications, access tokens and request signatures.
#include "ca/app_credentials.h"

#include <botan/base64.h>
#include <botan/hex.h>
#include <botan/mem_ops.h>
#include <botan/pubkey.h>
#include <fmt/format.h>

#include <algorithm>
#include <thread>

#include "ca/device_registry.h"
#include "ca/encoding.h"
#include "ca/errors.h"
#include "store/database.h"

namespace edgeca::ca {
namespace {

constexpr const char* sealing = "OAEP(SHA-256)";

[[noreturn]] void refuse(const char* code, const std::string& message) {
    throw Error(ErrorKind::unauthenticated, code, message);
}

bool same_hex(const std::string& a, const std::string& b) {
    std::string lower = b;
    std::transform(lower.begin(), lower.end(), lower.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return a.size() == lower.size() &&
           Botan::constant_time_compare(reinterpret_cast<const uint8_t*>(a.data()),
                                        reinterpret_cast<const uint8_t*>(lower.data()), a.size());
}

std::string uuid4(Botan::RandomNumberGenerator& rng) {
    auto b = rng.random_vec(16);
    b[6] = static_cast<uint8_t>((b[6] & 0x0f) | 0x40);
    b[8] = static_cast<uint8_t>((b[8] & 0x3f) | 0x80);
    std::string hex = Botan::hex_encode(b.data(), b.size(), false);
    return fmt::format("{}-{}-{}-{}-{}", hex.substr(0, 8), hex.substr(8, 4), hex.substr(12, 4),
                       hex.substr(16, 4), hex.substr(20));
}

// URL-safe base64 without padding.
std::string url_base64(std::span<const uint8_t> bytes) {
    std::string text = Botan::base64_encode(bytes.data(), bytes.size());
    std::replace(text.begin(), text.end(), '+', '-');
    std::replace(text.begin(), text.end(), '/', '_');
    text.erase(std::remove(text.begin(), text.end(), '='), text.end());
    return text;
}

std::string random_text(Botan::RandomNumberGenerator& rng, size_t bytes) {
    return url_base64(rng.random_vec(bytes));
}

}  // namespace

std::string enos_params_data(const std::vector<std::pair<std::string, std::string>>& query,
                             const std::string& body) {
    auto sorted = query;
    std::stable_sort(sorted.begin(), sorted.end(),
                     [](const auto& a, const auto& b) { return a.first < b.first; });
    std::string data;
    for (const auto& [name, value] : sorted) data += name + value;
    return data + body;
}

AppCredentials::AppCredentials(store::Store& store, const Clock& clock,
                               Botan::RandomNumberGenerator& rng, const Botan::X509_Certificate& issuer,
                               std::shared_ptr<const Botan::Private_Key> key, GatewaySettings settings)
    : store_(store),
      clock_(clock),
      rng_(rng),
      issuer_(issuer),
      key_(std::move(key)),
      settings_(settings) {}

AppCredentialPair AppCredentials::create(const Caller& caller, const std::string& name,
                                         store::Role role) {
    if (!caller.is_admin()) {
        throw Error(ErrorKind::forbidden, "admin_required", "only an admin may create applications");
    }
    check_identifier(name, "name");
    AppCredentialPair pair{uuid4(rng_), random_text(rng_, 32)};
    auto public_key = issuer_.load_subject_public_key();
    Botan::PK_Encryptor_EME encryptor(*public_key, rng_, sealing);
    auto sealed = encryptor.encrypt(as_bytes(pair.app_secret).data(), pair.app_secret.size(), rng_);
    store::AppRecord record{pair.app_key, name, role, sealed, clock_.now(), caller.principal};
    try {
        store_.write([&](store::Writer& w) {
            w.insert_app(record);
            w.append_audit({caller.principal, "app-create", "", "", "ok",
                            fmt::format("name={} role={} app_key={}", name, store::to_string(role), pair.app_key)});
        });
    } catch (const store::StoreError& e) {
        if (!e.constraint_violation()) throw;
        throw Error(ErrorKind::conflict, "app_exists", fmt::format("an application named '{}' exists", name));
    }
    return pair;
}

bool AppCredentials::remove(const Caller& caller, const std::string& app_key) {
    if (!caller.is_admin()) {
        throw Error(ErrorKind::forbidden, "admin_required", "only an admin may remove applications");
    }
    bool removed = store_.write([&](store::Writer& w) {
        bool gone = w.delete_app(app_key);
        w.append_audit({caller.principal, "app-remove", "", "", gone ? "ok" : "refused",
                        fmt::format("app_key={}", app_key.substr(0, 64))});
        return gone;
    });
    std::lock_guard lock(secrets_mutex_);
    secrets_.erase(app_key);
    return removed;
}

std::vector<store::AppRecord> AppCredentials::apps() const {
    return store_.read([](const store::Reader& r) { return r.apps(); });
}

std::string AppCredentials::secret_of(const store::AppRecord& app) {
    {
        std::lock_guard lock(secrets_mutex_);
        if (auto it = secrets_.find(app.app_key); it != secrets_.end()) return it->second;
    }
    if (!key_) throw Error(ErrorKind::internal, "internal", "application secrets are sealed");
    Botan::PK_Decryptor_EME decryptor(*key_, rng_, sealing);
    auto opened = decryptor.decrypt(app.sealed_secret);
    std::string secret(opened.begin(), opened.end());
    std::lock_guard lock(secrets_mutex_);
    secrets_[app.app_key] = secret;
    return secret;
}

void AppCredentials::check_timestamp(int64_t timestamp_ms) const {
    const int64_t now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                               clock_.now().time_since_epoch()).count();
    const int64_t window_ms = std::chrono::duration_cast<std::chrono::milliseconds>(settings_.timestamp_window).count();
    // The clock has second resolution: allow the second that is running.
    if (timestamp_ms < now_ms - window_ms || timestamp_ms > now_ms + window_ms + 1000) {
        refuse("timestamp_out_of_window",
               fmt::format("the timestamp {} is more than {} s away from the server's time", timestamp_ms,
                           settings_.timestamp_window.count()));
    }
}

AccessToken AppCredentials::issue_access_token(const std::string& app_key,
                                               const std::string& encryption, int64_t timestamp_ms) {
    if (app_key.empty() || encryption.empty()) refuse("parameter_missing", "appKey and encryption are required");
    check_timestamp(timestamp_ms);
    auto app = store_.read([&](const store::Reader& r) { return r.app(app_key); });
    if (!app) refuse("app_key_unknown", "the appKey does not exist");
    const std::string expected = sha256_hex(as_bytes(app_key + std::to_string(timestamp_ms) + secret_of(*app)));
    if (!same_hex(expected, encryption)) refuse("encryption_invalid", "the encryption is not valid");
    // A PKCS#1 v1.5 signature is deterministic and unpredictable without the key: the same
    // request yields the same token, whichever node answers, and nobody else can compute it.
    if (!key_) throw Error(ErrorKind::internal, "internal", "access tokens need the issuing CA's key");
    Botan::PK_Signer signer(*key_, rng_, "EMSA3(SHA-256)");
    const std::string message = "edgeca access token\n" + app_key + "\n" + expected;
    const auto derived = signer.sign_message(as_bytes(message).data(), message.size(), rng_);
    const std::string token = "eat_" + url_base64(sha256(derived));
    const std::string token_sha256 = sha256_hex(as_bytes(token));
    const Time now = clock_.now();
    auto expires_at = store_.write([&](store::Writer& w) {
        w.delete_expired_access_tokens(now);
        if (auto known = w.access_token(token_sha256)) return known->expires_at;
        w.insert_access_token({token_sha256, app_key, now, now + settings_.token_lifetime});
        return now + settings_.token_lifetime;
    });
    if (expires_at <= now) refuse("access_token_expired", "this token request was answered before and its token has expired");
    return {token, std::chrono::duration_cast<std::chrono::seconds>(expires_at - now)};
}

SignedCall AppCredentials::authenticate(const std::string& access_token, const std::string& timestamp,
                                        const std::string& signature, const std::string& params_data) {
    if (access_token.empty() || timestamp.empty() || signature.empty()) {
        refuse("parameter_missing", "apim-accesstoken, apim-timestamp and apim-signature are required");
    }
    if (timestamp.size() > 15 || !std::all_of(timestamp.begin(), timestamp.end(), [](unsigned char c) { return std::isdigit(c) != 0; })) {
        refuse("timestamp_out_of_window", "apim-timestamp is milliseconds since 1970");
    }
    const int64_t timestamp_ms = std::stoll(timestamp);
    check_timestamp(timestamp_ms);
    auto [record, app] = store_.read([&](const store::Reader& r) {
        auto token = r.access_token(sha256_hex(as_bytes(access_token)));
        return std::pair{token, token ? r.app(token->app_key) : std::nullopt};
    });
    if (!record || !app) refuse("access_token_unknown", "the access token is not known");
    if (clock_.now() >= record->expires_at) refuse("access_token_expired", "the access token has expired");
    const std::string expected = sha256_hex(as_bytes(access_token + params_data + timestamp + secret_of(*app)));
    if (!same_hex(expected, signature)) refuse("signature_invalid", "the signature is not valid");
    const Time timestamp_time{std::chrono::duration_cast<std::chrono::seconds>(std::chrono::milliseconds(timestamp_ms))};
    return {Caller::with_role("app:" + app->name, app->role), app->app_key, sha256_hex(as_bytes(expected)),
            timestamp_time + settings_.timestamp_window + std::chrono::seconds(2)};
}

std::optional<std::string> AppCredentials::claim(const SignedCall& call) {
    const auto give_up = std::chrono::steady_clock::now() + settings_.repeat_wait;
    for (;;) {
        auto kept = store_.write([&](store::Writer& w) -> std::optional<store::EnosCallRecord> {
            if (w.claim_enos_call({call.signature_sha256, call.app_key, clock_.now(), call.expires_at})) {
                return std::nullopt;
            }
            return w.enos_call(call.signature_sha256);
        });
        if (!kept) return std::nullopt;  // claimed: this call acts
        if (kept->answer) return kept->answer;
        if (std::chrono::steady_clock::now() >= give_up) {
            throw Error(ErrorKind::unavailable, "call_unfinished",
                        "the same signed request was accepted before and has not been answered yet; "
                        "list the device's certificates to see its effect, or send the request again "
                        "with a new timestamp");
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
}

void AppCredentials::answer(const SignedCall& call, const std::string& answer) {
    store_.write([&](store::Writer& w) { w.answer_enos_call(call.signature_sha256, answer); });
}

void AppCredentials::release(const SignedCall& call) {
    store_.write([&](store::Writer& w) { w.release_enos_call(call.signature_sha256); });
}

}  // namespace edgeca::ca
