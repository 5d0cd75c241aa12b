// ca/openssl_signing_key.cpp — a Botan Private_Key whose signature operation is OpenSSL's.
#include "ca/openssl_signing_key.h"

#include <openssl/err.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/x509.h>

#include <botan/pk_ops.h>
#include <botan/pkcs8.h>
#include <botan/rsa.h>
#include <fmt/format.h>

#include "ca/errors.h"
#include "ca/openssl_signature.h"

namespace edgeca::ca {
namespace {

struct PkeyFree {
    void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
struct MdCtxFree {
    void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};
using Pkey = std::unique_ptr<EVP_PKEY, PkeyFree>;

[[noreturn]] void openssl_failure(std::string_view doing) {
    char text[256] = "unknown";
    if (unsigned long code = ERR_get_error()) ERR_error_string_n(code, text, sizeof text);
    ERR_clear_error();
    throw Error(ErrorKind::internal, "signing_failed", fmt::format("OpenSSL could not {}: {}", doing, text));
}

// SHA-256 over the updates, then RSASSA-PKCS1-v1_5 with the key. Like Botan's own operations it
// starts afresh after each signature, so one PK_Signer can sign many messages.
class OpenSslSignature final : public Botan::PK_Ops::Signature {
public:
    explicit OpenSslSignature(EVP_PKEY* key)
        : key_(key), context_(EVP_MD_CTX_new()), size_(static_cast<size_t>(EVP_PKEY_get_size(key))) {
        if (!context_) openssl_failure("start a signature");
    }
    void update(const uint8_t message[], size_t length) override {
        if (!started_) start();
        if (EVP_DigestSignUpdate(context_.get(), message, length) != 1) openssl_failure("hash the message");
    }
    Botan::secure_vector<uint8_t> sign(Botan::RandomNumberGenerator&) override {
        if (!started_) start();
        Botan::secure_vector<uint8_t> signature(size_);
        size_t length = signature.size();
        if (EVP_DigestSignFinal(context_.get(), signature.data(), &length) != 1) openssl_failure("sign");
        started_ = false;
        signature.resize(length);
        return signature;
    }
    size_t signature_length() const override { return size_; }

private:
    // (Re)initialises the context for the next message: EVP_DigestSignFinal leaves the digest
    // of what was signed in it, and the next message would be hashed on top of it.
    void start() {
        if (EVP_DigestSignInit(context_.get(), nullptr, EVP_sha256(), nullptr, key_) != 1) {
            openssl_failure("start a signature");
        }
        started_ = true;
    }

    EVP_PKEY* key_;  // owned by the OpenSslRsaKey that made this operation
    std::unique_ptr<EVP_MD_CTX, MdCtxFree> context_;
    size_t size_;
    bool started_ = false;
};

class OpenSslRsaKey final : public Botan::Private_Key {
public:
    explicit OpenSslRsaKey(std::shared_ptr<const Botan::Private_Key> key) : key_(std::move(key)) {
        auto der = Botan::PKCS8::BER_encode(*key_);
        const unsigned char* cursor = der.data();
        pkey_.reset(d2i_AutoPrivateKey(nullptr, &cursor, static_cast<long>(der.size())));
        if (!pkey_) openssl_failure("load the key");
    }

    std::string algo_name() const override { return key_->algo_name(); }
    size_t key_length() const override { return key_->key_length(); }
    size_t estimated_strength() const override { return key_->estimated_strength(); }
    Botan::AlgorithmIdentifier algorithm_identifier() const override { return key_->algorithm_identifier(); }
    std::vector<uint8_t> public_key_bits() const override { return key_->public_key_bits(); }
    Botan::secure_vector<uint8_t> private_key_bits() const override { return key_->private_key_bits(); }
    bool check_key(Botan::RandomNumberGenerator& rng, bool strong) const override { return key_->check_key(rng, strong); }

    std::unique_ptr<Botan::PK_Ops::Signature> create_signature_op(Botan::RandomNumberGenerator& rng,
                                                                  const std::string& params,
                                                                  const std::string& provider) const override {
        if (params == "EMSA3(SHA-256)" || params == "EMSA_PKCS1(SHA-256)") {
            return openssl_sha256_signature(pkey_.get());
        }
        return key_->create_signature_op(rng, params, provider);
    }
    std::unique_ptr<Botan::PK_Ops::Decryption> create_decryption_op(Botan::RandomNumberGenerator& rng,
                                                                    const std::string& params,
                                                                    const std::string& provider) const override {
        return key_->create_decryption_op(rng, params, provider);
    }
    std::unique_ptr<Botan::PK_Ops::Verification> create_verification_op(const std::string& params,
                                                                        const std::string& provider) const override {
        return key_->create_verification_op(params, provider);
    }
    std::unique_ptr<Botan::PK_Ops::Encryption> create_encryption_op(Botan::RandomNumberGenerator& rng,
                                                                    const std::string& params,
                                                                    const std::string& provider) const override {
        return key_->create_encryption_op(rng, params, provider);
    }

private:
    std::shared_ptr<const Botan::Private_Key> key_;
    Pkey pkey_;
};

}  // namespace

std::unique_ptr<Botan::PK_Ops::Signature> openssl_sha256_signature(EVP_PKEY* key) {
    return std::make_unique<OpenSslSignature>(key);
}

namespace {

struct BignumFree {
    void operator()(BIGNUM* b) const { BN_free(b); }
};
struct ParamBuildFree {
    void operator()(OSSL_PARAM_BLD* b) const { OSSL_PARAM_BLD_free(b); }
};
struct ParamsFree {
    void operator()(OSSL_PARAM* p) const { OSSL_PARAM_free(p); }
};
struct PkeyContextFree {
    void operator()(EVP_PKEY_CTX* c) const { EVP_PKEY_CTX_free(c); }
};

std::unique_ptr<BIGNUM, BignumFree> to_bignum(const Botan::BigInt& value) {
    const auto bytes = Botan::BigInt::encode(value);
    return std::unique_ptr<BIGNUM, BignumFree>(BN_bin2bn(bytes.data(), static_cast<int>(bytes.size()), nullptr));
}

// An RSA public key made from the modulus and exponent the CSR parser already read. OpenSSL 3
// decoding the SubjectPublicKeyInfo again (d2i_PUBKEY, through its decoder framework) took about
// 130 µs per CSR here, half an RSA signature; importing the two numbers takes about 7 µs.
// Null when OpenSSL refuses the numbers (the caller then leaves the CSR to Botan).
Pkey rsa_public_key(const Botan::BigInt& modulus, const Botan::BigInt& exponent) {
    auto n = to_bignum(modulus);
    auto e = to_bignum(exponent);
    std::unique_ptr<OSSL_PARAM_BLD, ParamBuildFree> build(OSSL_PARAM_BLD_new());
    if (!n || !e || !build || OSSL_PARAM_BLD_push_BN(build.get(), OSSL_PKEY_PARAM_RSA_N, n.get()) != 1 ||
        OSSL_PARAM_BLD_push_BN(build.get(), OSSL_PKEY_PARAM_RSA_E, e.get()) != 1) {
        return nullptr;
    }
    std::unique_ptr<OSSL_PARAM, ParamsFree> params(OSSL_PARAM_BLD_to_param(build.get()));
    std::unique_ptr<EVP_PKEY_CTX, PkeyContextFree> context(EVP_PKEY_CTX_new_from_name(nullptr, "RSA", nullptr));
    EVP_PKEY* pkey = nullptr;
    if (!params || !context || EVP_PKEY_fromdata_init(context.get()) != 1 ||
        EVP_PKEY_fromdata(context.get(), &pkey, EVP_PKEY_PUBLIC_KEY, params.get()) != 1) {
        return nullptr;
    }
    return Pkey(pkey);
}

}  // namespace

SignatureVerifier openssl_signature_verifier() {
    return [](const PublicKeyInfo& key, const Botan::AlgorithmIdentifier& algorithm,
              std::span<const uint8_t> body, std::span<const uint8_t> signature) -> std::optional<bool> {
        if (!key.modulus || !key.exponent || key.modulus->is_even()) return std::nullopt;
        const std::string oid = algorithm.get_oid().to_string();
        const EVP_MD* digest = oid == "1.2.840.113549.1.1.11"   ? EVP_sha256()
                               : oid == "1.2.840.113549.1.1.12" ? EVP_sha384()
                               : oid == "1.2.840.113549.1.1.13" ? EVP_sha512()
                               : oid == "1.2.840.113549.1.1.5"  ? EVP_sha1()
                                                                : nullptr;
        if (digest == nullptr) return std::nullopt;
        Pkey pkey = rsa_public_key(*key.modulus, *key.exponent);
        std::unique_ptr<EVP_MD_CTX, MdCtxFree> context(EVP_MD_CTX_new());
        if (!pkey || !context) {
            ERR_clear_error();
            return std::nullopt;
        }
        bool good = EVP_DigestVerifyInit(context.get(), nullptr, digest, nullptr, pkey.get()) == 1 &&
                    EVP_DigestVerify(context.get(), signature.data(), signature.size(), body.data(), body.size()) == 1;
        ERR_clear_error();
        return good;
    };
}

std::string_view to_string(SigningBackend backend) {
    return backend == SigningBackend::openssl ? "openssl" : "botan";
}

std::shared_ptr<const Botan::Private_Key> signing_key(std::shared_ptr<const Botan::Private_Key> key,
                                                     SigningBackend backend) {
    if (backend == SigningBackend::botan) return key;
    if (key->algo_name() != "RSA") {
        throw Error(ErrorKind::internal, "signing_backend", "the OpenSSL backend signs with RSA keys only");
    }
    return std::make_shared<OpenSslRsaKey>(std::move(key));
}

}  // namespace edgeca::ca
