// crl/crl_publisher.cpp — signing, recording, writing and scheduling CRLs.
#include "crl/crl_publisher.h"

#include <botan/base64.h>
#include <fmt/format.h>

#include <algorithm>

#include "ca/encoding.h"
#include "ca/files.h"
#include "crl/crl_builder.h"
#include "store/database.h"

namespace edgeca::crl {
namespace {

constexpr int number_attempts = 5;

}  // namespace

std::string signer_lease_name(int64_t issuer_id) {
    return issuer_id == 1 ? std::string("crl-signer") : fmt::format("crl-signer/{}", issuer_id);
}

// The PEM of a CRL that may be tens of megabytes, written once into a string of its final
// size (ca::encode_pem holds the base64 and a growing copy of it besides).
std::string crl_pem(const std::vector<uint8_t>& der) {
    constexpr size_t octets_per_line = 48;  // 64 base64 characters
    const std::string_view begin = "-----BEGIN X509 CRL-----\n", end = "-----END X509 CRL-----\n";
    std::string pem;
    pem.reserve(begin.size() + (der.size() + octets_per_line - 1) / octets_per_line * 65 + end.size());
    pem += begin;
    char line[72];
    for (size_t at = 0; at < der.size(); at += octets_per_line) {
        size_t consumed = 0;
        const size_t length = std::min(octets_per_line, der.size() - at);
        pem.append(line, Botan::base64_encode(line, der.data() + at, length, consumed, true));
        pem.push_back('\n');
    }
    pem += end;
    return pem;
}

PublishedCrl sign_crl(store::Store& store, const Botan::X509_Certificate& issuer,
                      const Botan::Private_Key& key, ca::Time this_update, ca::Time next_update,
                      int history, Botan::RandomNumberGenerator& rng, const std::string& actor,
                      int64_t issuer_id) {
    for (int attempt = 1;; ++attempt) {
        PublishedCrl crl;
        {
            // The encoded entries are let go once signed: a CRL of a million entries is tens
            // of megabytes, and the peak is what the service must have room for.
            CrlBuilder builder(issuer, key);
            store.read([&](const store::Reader& r) {
                crl.revocations = r.issuer_revocation_counter(issuer_id);
                crl.number = r.last_crl_number(issuer_id) + 1;
                r.each_revoked_entry(this_update, [&](store::RevokedEntry&& e) { builder.add(e); }, issuer_id);
            });
            crl.entries = static_cast<int64_t>(builder.entries());
            crl.der = builder.sign(crl.number, this_update, next_update, rng);
        }
        crl.this_update = this_update;
        crl.next_update = next_update;
        // The DER moves into the record and back: a copy would be one more of its size.
        store::CrlRecord record{crl.number, crl.this_update, crl.next_update, crl.entries,
                                crl.revocations, std::move(crl.der), issuer_id};
        try {
            store.write([&](store::Writer& w) {
                w.insert_crl(record, history);
                w.append_audit({actor, "crl", "", ca::sha256_hex(record.der), "ok",
                                issuer_id == 1 ? fmt::format("number={} entries={}", crl.number, crl.entries)
                                               : fmt::format("issuer={} number={} entries={}", issuer_id,
                                                             crl.number, crl.entries)});
            });
        } catch (const store::StoreError& e) {
            if (e.constraint_violation() && attempt < number_attempts) continue;
            throw;
        }
        crl.der = std::move(record.der);
        crl.pem = crl_pem(crl.der);
        return crl;
    }
}

void write_crl_files(const std::filesystem::path& directory, const PublishedCrl& crl) {
    ca::ensure_private_directory(directory);
    ca::write_file_atomically(directory / "crl.der",
                              std::string_view(reinterpret_cast<const char*>(crl.der.data()), crl.der.size()),
                              0644);
    ca::write_file_atomically(directory / "crl.pem", crl.pem, 0644);
}

CrlPublisher::CrlPublisher(store::Store& store, const ca::Clock& clock,
                           Botan::RandomNumberGenerator& rng, const Botan::X509_Certificate& issuer,
                           const Botan::Private_Key& key, std::filesystem::path directory,
                           CrlSchedule schedule)
    : store_(store),
      clock_(clock),
      rng_(rng),
      issuer_(issuer),
      key_(key),
      directory_(std::move(directory)),
      schedule_(schedule) {}

bool CrlPublisher::needs_refresh(const PublishedCrl& crl, ca::Time now) const {
    return now >= crl.next_update - schedule_.refresh_before || now < crl.this_update;
}

namespace {

std::shared_ptr<PublishedCrl> from_record(store::CrlRecord&& record) {
    auto crl = std::make_shared<PublishedCrl>();
    crl->number = record.number;
    crl->this_update = record.this_update;
    crl->next_update = record.next_update;
    crl->entries = record.entries;
    crl->revocations = record.revocations;
    crl->der = std::move(record.der);
    crl->pem = crl_pem(crl->der);
    return crl;
}

}  // namespace

bool CrlPublisher::adopt_newer_from_store() {
    // Called on every tick: the newest CRL's DER (tens of megabytes for a million entries) is
    // read only when its number is newer than the one served.
    const int64_t id = schedule_.issuer_id;
    const int64_t newest = store_.read([id](const store::Reader& r) { return r.last_crl_number(id); });
    {
        std::lock_guard lock(mutex_);
        if (current_ && newest <= current_->number) return false;
    }
    auto [record, counter] = store_.read([id](const store::Reader& r) {
        return std::pair{r.latest_crl(id), r.issuer_revocation_counter(id)};
    });
    {
        std::lock_guard lock(mutex_);
        if (current_ && (!record || record->number <= current_->number)) return false;
    }
    if (!record || record->der.empty()) return false;
    if (signer()) {
        // The signer adopts only a CRL it would not sign again at once.
        PublishedCrl dates;
        dates.this_update = record->this_update;
        dates.next_update = record->next_update;
        if (record->revocations != counter || needs_refresh(dates, clock_.now())) return false;
    }
    auto crl = from_record(std::move(*record));
    // The files may be older than the store (a crash between commit and write, or a CRL
    // signed by another process).
    write_crl_files(directory_, *crl);
    std::lock_guard lock(mutex_);
    current_ = std::move(crl);
    return true;
}

bool CrlPublisher::renew_lease() {
    using namespace std::chrono;
    const auto now = duration_cast<milliseconds>(clock_.now().time_since_epoch());
    bool held = store_.write([&](store::Writer& w) {
        return w.take_lease(signer_lease_name(schedule_.issuer_id), schedule_.node, now, duration_cast<milliseconds>(schedule_.lease));
    });
    std::lock_guard lock(mutex_);
    signer_ = held;
    if (!held) due_.reset();  // the signer publishes what this node noted
    return held;
}

bool CrlPublisher::signer() const {
    std::lock_guard lock(mutex_);
    return signer_;
}

void CrlPublisher::start() {
    bool held = renew_lease();
    if (!adopt_newer_from_store() && held) publish();
}

void CrlPublisher::note_revocation() {
    std::lock_guard lock(mutex_);
    if (!due_) due_ = std::chrono::steady_clock::now() + schedule_.publish_delay;
}

std::chrono::milliseconds CrlPublisher::tick() {
    using namespace std::chrono;
    const bool held = renew_lease();
    // A CRL signed by another process (edgeca crl, another node) is served from now on.
    adopt_newer_from_store();
    if (!held) return milliseconds(1000);
    bool due = false;
    {
        std::lock_guard lock(mutex_);
        if (!due_ && current_) {
            // A revocation by another process (edgeca revoke) shows in the counter.
            const int64_t id = schedule_.issuer_id;
            int64_t counter = store_.read([id](const store::Reader& r) { return r.issuer_revocation_counter(id); });
            if (counter != current_->revocations) due_ = steady_clock::now() + schedule_.publish_delay;
        }
        due = (due_ && steady_clock::now() >= *due_) || !current_ || needs_refresh(*current_, clock_.now());
    }
    if (due) publish();
    std::lock_guard lock(mutex_);
    milliseconds wait(1000);
    if (due_) wait = std::max(milliseconds(0), std::min(wait, duration_cast<milliseconds>(*due_ - steady_clock::now())));
    return wait;
}

void CrlPublisher::publish() {
    const ca::Time now = clock_.now();
    // Revocations noted from here on are not surely in this CRL: they get the next one.
    {
        std::lock_guard lock(mutex_);
        due_.reset();
    }
    auto crl = std::make_shared<PublishedCrl>(sign_crl(store_, issuer_, key_, now, now + schedule_.validity,
                                                       schedule_.history, rng_, "edgeca:crl",
                                                       schedule_.issuer_id));
    write_crl_files(directory_, *crl);
    std::lock_guard lock(mutex_);
    current_ = std::move(crl);
}

std::shared_ptr<const PublishedCrl> CrlPublisher::current() const {
    std::lock_guard lock(mutex_);
    return current_;
}

}  // namespace edgeca::crl
