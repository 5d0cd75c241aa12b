// ca/audit_checkpoint.cpp — making and scheduling signed checkpoints of the audit chain.
#include "ca/audit_checkpoint.h"

#include <botan/hash.h>
#include <botan/hex.h>
#include <botan/pubkey.h>
#include <fmt/format.h>

#include <array>

#include "ca/encoding.h"

namespace edgeca::ca {
namespace {

constexpr int number_attempts = 5;

void length_prefixed(Botan::HashFunction& hash, std::string_view value) {
    std::array<uint8_t, 8> length{};
    uint64_t n = value.size();
    for (int i = 7; i >= 0; --i, n >>= 8) length[i] = static_cast<uint8_t>(n & 0xff);
    hash.update(length.data(), length.size());
    hash.update(reinterpret_cast<const uint8_t*>(value.data()), value.size());
}

}  // namespace

std::string checkpoint_statement(const store::AuditCheckpoint& c) {
    return fmt::format(
        "edgeca audit checkpoint v1\nnumber={}\nseq={}\nhead={}\nat={}\nrevocations={}\n"
        "revocations_sha256={}\n",
        c.number, c.seq, c.head_hash, c.at.time_since_epoch().count(), c.revocations,
        c.revocations_sha256);
}

RevocationDigest revocation_digest(const store::Reader& reader, const std::set<std::string>& skip) {
    auto sha256 = Botan::HashFunction::create_or_throw("SHA-256");
    RevocationDigest digest;
    reader.each_revocation([&](store::RevokedEntry&& e) {
        auto serial = to_hex(e.serial);
        if (skip.contains(serial)) return;
        length_prefixed(*sha256, serial);
        length_prefixed(*sha256, std::to_string(e.revoked_at.time_since_epoch().count()));
        length_prefixed(*sha256, std::to_string(e.reason));
        ++digest.count;
    });
    digest.sha256 = Botan::hex_encode(sha256->final(), false);
    return digest;
}

std::optional<store::AuditCheckpoint> sign_audit_checkpoint(store::Store& store,
                                                            const Botan::Private_Key& key,
                                                            Botan::RandomNumberGenerator& rng,
                                                            Time now) {
    for (int attempt = 1;; ++attempt) {
        store::AuditCheckpoint checkpoint;
        bool nothing_new = false;
        // Head and revocations from one snapshot: they describe the same instant.
        store.read([&](const store::Reader& r) {
            auto last = r.last_audit_checkpoint();
            auto head = r.audit_head();
            auto revoked = revocation_digest(r);
            checkpoint = {last ? last->number + 1 : 1, head.seq, head.hash, now, revoked.count,
                          revoked.sha256, {}};
            nothing_new = head.seq == 0 || (last && last->seq == head.seq && last->head_hash == head.hash &&
                                            last->revocations_sha256 == revoked.sha256);
        });
        if (nothing_new) return std::nullopt;
        // Signed outside the write transaction: the lock is held for an insert, not an RSA
        // signature.
        Botan::PK_Signer signer(key, rng, "EMSA3(SHA-256)");
        auto statement = checkpoint_statement(checkpoint);
        checkpoint.signature = signer.sign_message(reinterpret_cast<const uint8_t*>(statement.data()),
                                                   statement.size(), rng);
        bool stored = store.write([&](store::Writer& w) { return w.insert_audit_checkpoint(checkpoint); });
        if (stored) return checkpoint;
        if (attempt >= number_attempts) {
            throw std::runtime_error(fmt::format("audit checkpoint: number {} was taken {} times in a row",
                                                 checkpoint.number, number_attempts));
        }
    }
}

AuditCheckpointer::AuditCheckpointer(store::Store& store, const Clock& clock,
                                     Botan::RandomNumberGenerator& rng, const Botan::Private_Key& key,
                                     CheckpointSchedule schedule)
    : store_(store), clock_(clock), rng_(rng), key_(key), schedule_(schedule) {}

void AuditCheckpointer::tick() {
    struct State {
        int64_t head = 0;
        int64_t covered = 0;
        int64_t revocation_counter = 0;
    };
    auto state = store_.read([](const store::Reader& r) {
        auto last = r.last_audit_checkpoint();
        return State{r.audit_head().seq, last ? last->seq : 0, r.revocation_counter()};
    });
    if (revocation_counter_ < 0) revocation_counter_ = state.revocation_counter;
    if (state.head <= state.covered) return;
    const bool revoked = revocation_noted_.exchange(false) || state.revocation_counter != revocation_counter_;
    const bool due = revoked || state.head - state.covered >= schedule_.entries ||
                     std::chrono::steady_clock::now() - last_signed_ >= schedule_.interval;
    if (!due) return;
    revocation_counter_ = state.revocation_counter;
    checkpoint_now();
}

std::optional<store::AuditCheckpoint> AuditCheckpointer::checkpoint_now() {
    last_signed_ = std::chrono::steady_clock::now();
    return sign_audit_checkpoint(store_, key_, rng_, clock_.now());
}

}  // namespace edgeca::ca
