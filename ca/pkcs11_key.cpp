// ca/pkcs11_key.cpp — finding, generating and signing with a CA key inside a PKCS#11 token.
#include "ca/pkcs11_key.h"

#include <botan/rsa.h>
#include <botan/x509_key.h>
#include <fmt/format.h>
#include <libp11.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <p11-kit/p11-kit.h>
#include <p11-kit/pkcs11.h>

#include <algorithm>
#include <array>
#include <cstring>

#include "ca/encoding.h"
#include "ca/errors.h"
#include "ca/openssl_signature.h"

namespace edgeca::ca {
namespace {

constexpr unsigned long modulus_bits = 2048;

// The PKCS#11 return value libp11 left in OpenSSL's error queue (0 when there is none), and
// the queue emptied: each error is reported once, by us.
unsigned long take_ckr() {
    unsigned long ckr = 0;
    const int library = ERR_get_CKR_code();
    while (unsigned long code = ERR_get_error()) {
        if (ERR_GET_LIB(code) == library) ckr = ERR_GET_REASON(code);
    }
    return ckr;
}

std::string ckr_name(unsigned long ckr) {
    switch (ckr) {
        case CKR_PIN_INCORRECT:
            return "CKR_PIN_INCORRECT";
        case CKR_PIN_LOCKED:
            return "CKR_PIN_LOCKED";
        case CKR_PIN_LEN_RANGE:
            return "CKR_PIN_LEN_RANGE";
        case CKR_DEVICE_REMOVED:
            return "CKR_DEVICE_REMOVED";
        case CKR_TOKEN_NOT_PRESENT:
            return "CKR_TOKEN_NOT_PRESENT";
        case CKR_DEVICE_ERROR:
            return "CKR_DEVICE_ERROR";
        case CKR_SESSION_HANDLE_INVALID:
            return "CKR_SESSION_HANDLE_INVALID";
        case CKR_OBJECT_HANDLE_INVALID:
            return "CKR_OBJECT_HANDLE_INVALID";
        case CKR_KEY_HANDLE_INVALID:
            return "CKR_KEY_HANDLE_INVALID";
        case CKR_USER_NOT_LOGGED_IN:
            return "CKR_USER_NOT_LOGGED_IN";
        case CKR_TEMPLATE_INCONSISTENT:
            return "CKR_TEMPLATE_INCONSISTENT";
        case CKR_MECHANISM_INVALID:
            return "CKR_MECHANISM_INVALID";
        case CKR_TOKEN_WRITE_PROTECTED:
            return "CKR_TOKEN_WRITE_PROTECTED";
        default:
            return fmt::format("CKR 0x{:X}", ckr);
    }
}

// One loaded module, its slots and the login: everything a token key needs while it is used.
// Shared by the key and each signature operation, so the module stays loaded while either
// lives.
class TokenConnection {
public:
    TokenConnection(const TokenConnection&) = delete;
    TokenConnection& operator=(const TokenConnection&) = delete;

    static std::shared_ptr<TokenConnection> open(const TokenKeyLocation& location) {
        if (!std::filesystem::exists(location.module)) {
            throw Error(
                ErrorKind::not_found, "pkcs11_module_missing",
                fmt::format("the PKCS#11 module {} does not exist", location.module.string()));
        }
        std::shared_ptr<TokenConnection> connection(new TokenConnection());
        connection->module_ = location.module;
        if (!connection->context_) {
            throw Error(ErrorKind::internal, "pkcs11_module_unusable",
                        "libp11 could not make a context");
        }
        if (PKCS11_CTX_load(connection->context_, location.module.c_str()) != 0) {
            auto ckr = take_ckr();
            throw Error(
                ErrorKind::unavailable, "pkcs11_module_unusable",
                fmt::format("the PKCS#11 module {} does not load or initialise{}",
                            location.module.string(), ckr ? " (" + ckr_name(ckr) + ")" : ""));
        }
        connection->loaded_ = true;
        if (PKCS11_enumerate_slots(connection->context_, &connection->slots_,
                                   &connection->slot_count_) != 0) {
            auto ckr = take_ckr();
            throw Error(ErrorKind::unavailable, "pkcs11_module_unusable",
                        fmt::format("the PKCS#11 module {} could not list its slots ({})",
                                    location.module.string(), ckr_name(ckr)));
        }
        connection->slot_ = connection->find_slot(location.uri);
        connection->login(location);
        return connection;
    }

    ~TokenConnection() {
        if (slots_) PKCS11_release_all_slots(context_, slots_, slot_count_);
        if (loaded_) PKCS11_CTX_unload(context_);
        if (context_) PKCS11_CTX_free(context_);
        ERR_clear_error();
    }

    PKCS11_SLOT* slot() const { return slot_; }
    const std::filesystem::path& module() const { return module_; }

    // The private keys that match the URI's object label and id.
    std::vector<PKCS11_KEY*> matching_keys(const Pkcs11Uri& uri, bool private_keys) const {
        PKCS11_KEY* keys = nullptr;
        unsigned int count = 0;
        int rc = private_keys ? PKCS11_enumerate_keys(slot_->token, &keys, &count)
                              : PKCS11_enumerate_public_keys(slot_->token, &keys, &count);
        if (rc != 0) {
            auto ckr = take_ckr();
            throw Error(ErrorKind::unavailable, "pkcs11_token_unavailable",
                        fmt::format("the token's keys could not be listed ({})", ckr_name(ckr)));
        }
        std::vector<PKCS11_KEY*> found;
        for (unsigned int i = 0; i < count; ++i) {
            PKCS11_KEY* key = &keys[i];
            bool label_ok = !uri.object || (key->label && *uri.object == key->label);
            bool id_ok = !uri.id || (key->id_len == uri.id->size() &&
                                     std::equal(uri.id->begin(), uri.id->end(), key->id));
            if (label_ok && id_ok) found.push_back(key);
        }
        return found;
    }

private:
    TokenConnection() : context_(PKCS11_CTX_new()) {}

    static bool matches(const char* have, const std::optional<std::string>& want) {
        return !want || (have && *want == have);
    }

    PKCS11_SLOT* find_slot(const Pkcs11Uri& uri) const {
        PKCS11_SLOT* found = nullptr;
        for (unsigned int i = 0; i < slot_count_; ++i) {
            PKCS11_TOKEN* token = slots_[i].token;
            if (!token || !token->initialized) continue;
            if (matches(token->label, uri.token) &&
                matches(token->manufacturer, uri.manufacturer) &&
                matches(token->model, uri.model) && matches(token->serialnr, uri.serial)) {
                if (found) {
                    throw Error(
                        ErrorKind::conflict, "pkcs11_token_ambiguous",
                        fmt::format(
                            "more than one token of {} matches {}; add serial=... to the URI",
                            module_.string(), uri.describe()));
                }
                found = &slots_[i];
            }
        }
        if (!found) {
            throw Error(
                ErrorKind::not_found, "pkcs11_token_missing",
                fmt::format("no initialised token of the PKCS#11 module {} matches {}; is the "
                            "token plugged in, and is the label right?",
                            module_.string(), uri.describe()));
        }
        return found;
    }

    void login(const TokenKeyLocation& location) {
        // A read/write session: generation writes to the token, and libp11 keeps the mode for
        // the sessions of its pool.
        if (PKCS11_open_session(slot_, 1) != 0) {
            auto ckr = take_ckr();
            throw Error(ErrorKind::unavailable, "pkcs11_token_unavailable",
                        fmt::format("no session could be opened with token \"{}\" ({})",
                                    slot_->token->label, ckr_name(ckr)));
        }
        if (PKCS11_login(slot_, 0, location.pin.c_str()) != 0) {
            auto ckr = take_ckr();
            if (ckr == CKR_PIN_INCORRECT || ckr == CKR_PIN_LOCKED || ckr == CKR_PIN_LEN_RANGE ||
                ckr == CKR_PIN_INVALID || ckr == CKR_PIN_EXPIRED) {
                throw Error(
                    ErrorKind::unauthenticated, "pkcs11_pin_wrong",
                    fmt::format(
                        "token \"{}\" refused the PIN ({}){}", slot_->token->label, ckr_name(ckr),
                        ckr == CKR_PIN_LOCKED ? "; the security officer must unlock it" : ""));
            }
            throw Error(ErrorKind::unavailable, "pkcs11_token_unavailable",
                        fmt::format("logging in to token \"{}\" failed ({})", slot_->token->label,
                                    ckr_name(ckr)));
        }
    }

    PKCS11_CTX* context_ = nullptr;
    bool loaded_ = false;
    PKCS11_SLOT* slots_ = nullptr;
    unsigned int slot_count_ = 0;
    PKCS11_SLOT* slot_ = nullptr;
    std::filesystem::path module_;
};

struct PkeyFree {
    void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};

// A signature whose failures say that the token failed, not the program.
class TokenSignature final : public Botan::PK_Ops::Signature {
public:
    TokenSignature(std::shared_ptr<TokenConnection> connection, EVP_PKEY* key)
        : connection_(std::move(connection)), operation_(openssl_sha256_signature(key)) {}
    void update(const uint8_t message[], size_t length) override {
        operation_->update(message, length);
    }
    Botan::secure_vector<uint8_t> sign(Botan::RandomNumberGenerator& rng) override {
        try {
            return operation_->sign(rng);
        } catch (const Error& e) {
            throw Error(ErrorKind::unavailable, "pkcs11_signing_failed",
                        fmt::format("the token did not sign: {}", e.what()));
        }
    }
    size_t signature_length() const override { return operation_->signature_length(); }

private:
    std::shared_ptr<TokenConnection> connection_;
    std::unique_ptr<Botan::PK_Ops::Signature> operation_;
};

// An RSA key whose public half Botan holds and whose private half stays in the token: every
// "EMSA3(SHA-256)" signature is the token's, and the private key's bits cannot be asked for.
class TokenRsaKey final : public Botan::Private_Key {
public:
    TokenRsaKey(std::shared_ptr<TokenConnection> connection,
                std::unique_ptr<EVP_PKEY, PkeyFree> pkey,
                std::unique_ptr<Botan::RSA_PublicKey> public_key, std::string description)
        : connection_(std::move(connection)),
          pkey_(std::move(pkey)),
          public_(std::move(public_key)),
          description_(std::move(description)) {}

    std::string algo_name() const override { return public_->algo_name(); }
    size_t key_length() const override { return public_->key_length(); }
    size_t estimated_strength() const override { return public_->estimated_strength(); }
    Botan::AlgorithmIdentifier algorithm_identifier() const override {
        return public_->algorithm_identifier();
    }
    std::vector<uint8_t> public_key_bits() const override { return public_->public_key_bits(); }
    Botan::secure_vector<uint8_t> private_key_bits() const override {
        throw Error(ErrorKind::forbidden, "pkcs11_key_not_extractable",
                    fmt::format("{} stays in its token; it cannot be encoded", description_));
    }
    bool check_key(Botan::RandomNumberGenerator& rng, bool strong) const override {
        return public_->check_key(rng, strong);
    }

    std::unique_ptr<Botan::PK_Ops::Signature> create_signature_op(
        Botan::RandomNumberGenerator&, const std::string& params,
        const std::string&) const override {
        if (params != "EMSA3(SHA-256)" && params != "EMSA_PKCS1(SHA-256)") {
            throw Error(ErrorKind::internal, "pkcs11_scheme_unsupported",
                        fmt::format("{} signs RSASSA-PKCS1-v1_5 with SHA-256 only, not {}",
                                    description_, params));
        }
        return std::make_unique<TokenSignature>(connection_, pkey_.get());
    }
    std::unique_ptr<Botan::PK_Ops::Verification> create_verification_op(
        const std::string& params, const std::string& provider) const override {
        return public_->create_verification_op(params, provider);
    }
    std::unique_ptr<Botan::PK_Ops::Encryption> create_encryption_op(
        Botan::RandomNumberGenerator& rng, const std::string& params,
        const std::string& provider) const override {
        return public_->create_encryption_op(rng, params, provider);
    }

private:
    std::shared_ptr<TokenConnection> connection_;
    std::unique_ptr<EVP_PKEY, PkeyFree> pkey_;
    std::unique_ptr<Botan::RSA_PublicKey> public_;
    std::string description_;
};

std::unique_ptr<Botan::Private_Key> key_from(std::shared_ptr<TokenConnection> connection,
                                             const Pkcs11Uri& uri) {
    auto keys = connection->matching_keys(uri, true);
    if (keys.empty()) {
        throw Error(ErrorKind::not_found, "pkcs11_object_missing",
                    fmt::format("the token holds no private key that matches {}", uri.describe()));
    }
    if (keys.size() > 1) {
        throw Error(ErrorKind::conflict, "pkcs11_object_ambiguous",
                    fmt::format("{} private keys match {}; add id=... to the URI", keys.size(),
                                uri.describe()));
    }
    if (PKCS11_get_key_type(keys[0]) != EVP_PKEY_RSA) {
        throw Error(
            ErrorKind::policy, "key_not_rsa",
            fmt::format("{} is not an RSA key; edgeca's CA keys are RSA-2048", uri.describe()));
    }
    std::unique_ptr<EVP_PKEY, PkeyFree> pkey(PKCS11_get_private_key(keys[0]));
    if (!pkey) {
        auto ckr = take_ckr();
        throw Error(ErrorKind::unavailable, "pkcs11_token_unavailable",
                    fmt::format("{} could not be opened ({})", uri.describe(), ckr_name(ckr)));
    }
    // The public half, as the token states it in the private key's CKA_MODULUS and
    // CKA_PUBLIC_EXPONENT.
    int length = i2d_PUBKEY(pkey.get(), nullptr);
    std::vector<uint8_t> spki(length > 0 ? static_cast<size_t>(length) : 0);
    unsigned char* cursor = spki.data();
    if (length <= 0 || i2d_PUBKEY(pkey.get(), &cursor) != length) {
        ERR_clear_error();
        throw Error(ErrorKind::unavailable, "pkcs11_token_unavailable",
                    fmt::format("the public key of {} could not be read", uri.describe()));
    }
    std::unique_ptr<Botan::Public_Key> decoded(Botan::X509::load_key(spki));
    auto* rsa = dynamic_cast<Botan::RSA_PublicKey*>(decoded.get());
    if (!rsa)
        throw Error(ErrorKind::policy, "key_not_rsa",
                    fmt::format("{} is not an RSA key", uri.describe()));
    auto public_key = std::make_unique<Botan::RSA_PublicKey>(rsa->get_n(), rsa->get_e());
    return std::make_unique<TokenRsaKey>(std::move(connection), std::move(pkey),
                                         std::move(public_key), "the key " + uri.describe());
}

// The key pair generation itself. libp11 0.4 generates with CKA_DECRYPT and CKA_UNWRAP and
// leaves CKA_EXTRACTABLE to the token's default; a CA key must only sign and must never leave
// the token, so the one call that makes it goes to the module's own C_GenerateKeyPair, through
// p11-kit, with the template stated in full. The module is the one libp11 has initialised and
// logged in: sessions opened here share that login.
class KeyPairGeneration {
public:
    KeyPairGeneration(const TokenConnection& connection) : module_(connection.module()) {
        functions_ = p11_kit_module_load(module_.c_str(), P11_KIT_MODULE_UNMANAGED);
        if (!functions_) {
            throw Error(
                ErrorKind::unavailable, "pkcs11_module_unusable",
                fmt::format("the PKCS#11 module {} could not be opened for key generation: {}",
                            module_.string(), p11_kit_message() ? p11_kit_message() : "unknown"));
        }
        CK_RV rv = functions_->C_OpenSession(PKCS11_get_slotid_from_slot(connection.slot()),
                                             CKF_SERIAL_SESSION | CKF_RW_SESSION, nullptr, nullptr,
                                             &session_);
        if (rv != CKR_OK) {
            p11_kit_module_release(functions_);
            throw Error(ErrorKind::unavailable, "pkcs11_token_unavailable",
                        fmt::format("no read/write session with the token ({})", ckr_name(rv)));
        }
    }
    ~KeyPairGeneration() {
        functions_->C_CloseSession(session_);
        p11_kit_module_release(functions_);  // never C_Finalize: libp11 still uses the module
    }

    void generate(const std::string& label, const std::vector<uint8_t>& id) {
        CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
        CK_ULONG bits = modulus_bits;
        CK_BYTE exponent[] = {0x01, 0x00, 0x01};
        std::string label_copy = label;
        std::vector<uint8_t> id_copy = id;
        auto attr = [](CK_ATTRIBUTE_TYPE type, void* value, size_t size) {
            return CK_ATTRIBUTE{type, value, static_cast<CK_ULONG>(size)};
        };
        std::array public_template{
            attr(CKA_TOKEN, &yes, sizeof yes),
            attr(CKA_PRIVATE, &no, sizeof no),
            attr(CKA_VERIFY, &yes, sizeof yes),
            attr(CKA_ENCRYPT, &no, sizeof no),
            attr(CKA_WRAP, &no, sizeof no),
            attr(CKA_MODULUS_BITS, &bits, sizeof bits),
            attr(CKA_PUBLIC_EXPONENT, exponent, sizeof exponent),
            attr(CKA_LABEL, label_copy.data(), label_copy.size()),
            attr(CKA_ID, id_copy.data(), id_copy.size()),
        };
        std::array private_template{
            attr(CKA_TOKEN, &yes, sizeof yes),
            attr(CKA_PRIVATE, &yes, sizeof yes),
            attr(CKA_SENSITIVE, &yes, sizeof yes),
            attr(CKA_EXTRACTABLE, &no, sizeof no),
            attr(CKA_SIGN, &yes, sizeof yes),
            attr(CKA_DECRYPT, &no, sizeof no),
            attr(CKA_UNWRAP, &no, sizeof no),
            attr(CKA_DERIVE, &no, sizeof no),
            attr(CKA_LABEL, label_copy.data(), label_copy.size()),
            attr(CKA_ID, id_copy.data(), id_copy.size()),
        };
        CK_MECHANISM mechanism{CKM_RSA_PKCS_KEY_PAIR_GEN, nullptr, 0};
        CK_RV rv = functions_->C_GenerateKeyPair(session_, &mechanism, public_template.data(),
                                                 public_template.size(), private_template.data(),
                                                 private_template.size(), &public_, &private_);
        if (rv != CKR_OK) {
            throw Error(
                ErrorKind::unavailable, "pkcs11_generation_failed",
                fmt::format("the token did not generate an RSA-2048 key pair ({})", ckr_name(rv)));
        }
        check_protection();
    }

private:
    // What the token says it made, not what was asked: a token that ignored the template
    // loses the pair rather than keeps an exportable CA key.
    void check_protection() {
        CK_BBOOL sensitive = CK_FALSE, extractable = CK_TRUE, always_sensitive = CK_FALSE,
                 never_extractable = CK_FALSE, local = CK_FALSE;
        std::array attributes{
            CK_ATTRIBUTE{CKA_SENSITIVE, &sensitive, sizeof sensitive},
            CK_ATTRIBUTE{CKA_EXTRACTABLE, &extractable, sizeof extractable},
            CK_ATTRIBUTE{CKA_ALWAYS_SENSITIVE, &always_sensitive, sizeof always_sensitive},
            CK_ATTRIBUTE{CKA_NEVER_EXTRACTABLE, &never_extractable, sizeof never_extractable},
            CK_ATTRIBUTE{CKA_LOCAL, &local, sizeof local},
        };
        CK_RV rv = functions_->C_GetAttributeValue(session_, private_, attributes.data(),
                                                   attributes.size());
        if (rv != CKR_OK || !sensitive || extractable || !always_sensitive || !never_extractable ||
            !local) {
            functions_->C_DestroyObject(session_, private_);
            functions_->C_DestroyObject(session_, public_);
            throw Error(
                ErrorKind::policy, "pkcs11_key_exportable",
                fmt::format(
                    "the token made a key that is not sensitive, local and never extractable "
                    "({}); both halves were destroyed",
                    rv == CKR_OK ? "attributes checked" : ckr_name(rv)));
        }
    }

    std::filesystem::path module_;
    CK_FUNCTION_LIST* functions_ = nullptr;
    CK_SESSION_HANDLE session_ = CK_INVALID_HANDLE;
    CK_OBJECT_HANDLE public_ = CK_INVALID_HANDLE;
    CK_OBJECT_HANDLE private_ = CK_INVALID_HANDLE;
};

}  // namespace

std::unique_ptr<Botan::Private_Key> load_token_key(const TokenKeyLocation& location) {
    auto connection = TokenConnection::open(location);
    return key_from(std::move(connection), location.uri);
}

GeneratedTokenKey generate_token_key(const TokenKeyLocation& location) {
    if (!location.uri.object) {
        throw Error(ErrorKind::bad_input, "pkcs11_uri_invalid",
                    "a key made in the token needs a label: give object=LABEL in the PKCS#11 URI");
    }
    auto connection = TokenConnection::open(location);
    Pkcs11Uri uri = location.uri;
    if (!uri.id) {
        std::vector<uint8_t> id(16);
        if (RAND_bytes(id.data(), static_cast<int>(id.size())) != 1) {
            ERR_clear_error();
            throw Error(ErrorKind::internal, "random_failed", "no random bytes for the key's id");
        }
        uri.id = std::move(id);
    }
    // Neither the label nor the id may be taken: a second key under the same name would make
    // the URI ambiguous, or worse, name the older key.
    Pkcs11Uri by_label = uri, by_id = uri;
    by_label.id.reset();
    by_id.object.reset();
    for (const auto& probe : {by_label, by_id}) {
        if (!connection->matching_keys(probe, true).empty() ||
            !connection->matching_keys(probe, false).empty()) {
            throw Error(
                ErrorKind::conflict, "pkcs11_object_exists",
                fmt::format("the token already holds a key with the label or id of {}; a CA key is "
                            "never replaced: choose another object label",
                            uri.describe()));
        }
    }
    {
        KeyPairGeneration generation(*connection);
        generation.generate(*uri.object, *uri.id);
    }
    return {key_from(std::move(connection), uri), uri};
}

}  // namespace edgeca::ca
