// tests/fuzz/fuzz_enos_auth.cpp — the EnOS gateway's authentication: the apim-accesstoken,
// apim-timestamp and apim-signature headers with the query string and body they sign, and the
// token service's appKey / encryption / timestamp. Whatever arrives, AppCredentials refuses with
// a ca::Error whose response can be written, or accepts a call whose signature is exactly
// sha256(token + paramsData + timestamp + appSecret); nothing else may come out.
//
// Input: fields separated by '\n'.
//   call:        TOKEN \n TIMESTAMP \n SIGNATURE \n QUERY (a=1&b=2) \n BODY (rest)
//   token/get:   @token \n APPKEY \n ENCRYPTION \n TIMESTAMP
// A field that is exactly $TOKEN, $NOW, $SIG, $APPKEY or $ENC is replaced by the real access
// token, the fixed clock's time in ms, the correct signature, the app key or the correct
// encryption, so that mutations reach the checks behind the signature.
#include <botan/auto_rng.h>
#include <botan/rsa.h>
#include <botan/x509self.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <unistd.h>

#include "ca/app_credentials.h"
#include "ca/encoding.h"
#include "store/store.h"
#include "tests/fuzz/error_response.h"

using namespace edgeca;

namespace {

// One store, one issuer, one application and one access token for the whole run: RSA and
// SQLite writes are far too slow to repeat per input.
struct Gateway {
    std::filesystem::path dir;
    Botan::AutoSeeded_RNG rng;
    ca::FixedClock clock{ca::Time(std::chrono::sys_days(std::chrono::year(2026) / 11 / 25))};
    std::unique_ptr<store::Store> store;
    std::shared_ptr<Botan::Private_Key> key;
    Botan::X509_Certificate issuer;
    std::unique_ptr<ca::AppCredentials> apps;
    ca::AppCredentialPair app;
    std::string token;
    std::string now_ms;

    Gateway() {
        // A RAM file system keeps the token service's durable writes cheap where there is one.
        const char* base = std::filesystem::is_directory("/dev/shm") ? "/dev/shm" : nullptr;
        std::string pattern = (base ? std::filesystem::path(base) : std::filesystem::temp_directory_path()) /
                              "edgeca-fuzz-XXXXXX";
        if (mkdtemp(pattern.data()) == nullptr) fuzz::finding("cannot make a temporary directory");
        dir = pattern;
        store = std::make_unique<store::Store>(store::Store::create(dir / "fuzz.db"));
        key = std::make_shared<Botan::RSA_PrivateKey>(rng, 2048);
        Botan::X509_Cert_Options options("Fuzz Issuing CA/CN/Fuzz");
        options.CA_key(0);
        issuer = Botan::X509::create_self_signed_cert(options, *key, "SHA-256", rng);
        apps = std::make_unique<ca::AppCredentials>(*store, clock, rng, issuer, key, ca::GatewaySettings{});
        app = apps->create(ca::Caller::operator_on_host("cli:fuzz"), "fuzz-app", store::Role::hub);
        const int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(clock.now().time_since_epoch()).count();
        now_ms = std::to_string(now);
        token = apps->issue_access_token(app.app_key, encryption(now_ms), now).token;
    }
    ~Gateway() {
        std::error_code ignored;
        std::filesystem::remove_all(dir, ignored);
    }

    std::string encryption(const std::string& timestamp) const {
        return ca::sha256_hex(ca::as_bytes(app.app_key + timestamp + app.app_secret));
    }
    std::string signature(const std::string& token_text, const std::string& params, const std::string& timestamp) const {
        return ca::sha256_hex(ca::as_bytes(token_text + params + timestamp + app.app_secret));
    }
};

Gateway& gateway() {
    static Gateway g;
    return g;
}

std::vector<std::pair<std::string, std::string>> query_pairs(const std::string& query) {
    std::vector<std::pair<std::string, std::string>> pairs;
    size_t start = 0;
    while (start <= query.size() && !query.empty()) {
        size_t end = query.find('&', start);
        if (end == std::string::npos) end = query.size();
        std::string item = query.substr(start, end - start);
        auto eq = item.find('=');
        pairs.emplace_back(item.substr(0, eq), eq == std::string::npos ? "" : item.substr(eq + 1));
        start = end + 1;
    }
    return pairs;
}

std::string lower(std::string s) {
    std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return s;
}

void signed_call(Gateway& g, std::vector<std::string> f) {
    if (f[0] == "$TOKEN") f[0] = g.token;
    if (f[1] == "$NOW") f[1] = g.now_ms;
    const std::string params = ca::enos_params_data(query_pairs(f[3]), f[4]);
    if (f[2] == "$SIG") f[2] = g.signature(f[0], params, f[1]);
    const auto caller = g.apps->authenticate(f[0], f[1], f[2], params).caller;
    // Accepted: it must be this application, with the one signature that is right.
    if (caller.principal != "app:fuzz-app" || !caller.is_hub()) fuzz::finding("accepted as someone else", caller.principal);
    if (f[0] != g.token) fuzz::finding("accepted with a token that was never issued", f[0]);
    if (lower(f[2]) != g.signature(f[0], params, f[1])) fuzz::finding("accepted with a wrong signature", f[2]);
}

void token_get(Gateway& g, std::vector<std::string> f) {
    if (f[1] == "$APPKEY") f[1] = g.app.app_key;
    if (f[3] == "$NOW") f[3] = g.now_ms;
    // The route reads timestamp as a number or a string of at most 18 digits (routes_enos.cpp).
    int64_t timestamp = 0;
    if (!f[3].empty() && f[3].size() <= 18 &&
        std::all_of(f[3].begin(), f[3].end(), [](unsigned char c) { return std::isdigit(c) != 0; })) {
        timestamp = std::stoll(f[3]);
    } else {
        for (unsigned char c : f[3]) timestamp = static_cast<int64_t>(static_cast<uint64_t>(timestamp) * 131 + c);
    }
    if (f[2] == "$ENC") f[2] = g.encryption(std::to_string(timestamp));
    auto token = g.apps->issue_access_token(f[1], f[2], timestamp);
    if (f[1] != g.app.app_key || lower(f[2]) != g.encryption(std::to_string(timestamp))) {
        fuzz::finding("an access token for a wrong appKey or encryption", f[1]);
    }
    if (!token.token.starts_with("eat_")) fuzz::finding("a malformed access token", token.token);
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    gateway();  // the RSA key and the store are made before the first input is timed
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size > 64 * 1024) return 0;
    Gateway& g = gateway();
    auto fields = fuzz::split_fields(fuzz::as_text(data, size), 5);
    try {
        if (fields[0] == "@token") {
            token_get(g, fuzz::split_fields(fuzz::as_text(data, size), 4));
        } else {
            signed_call(g, std::move(fields));
        }
    } catch (const ca::Error& e) {
        fuzz::render_error(e);
    }
    return 0;
}
