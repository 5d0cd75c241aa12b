// store/store.h — the only door to a store, a SQLite file or a PostgreSQL database: reads and
// atomic writes.
#pragma once

#include <condition_variable>
#include <exception>
#include <filesystem>
#include <functional>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

#include "store/database.h"
#include "store/records.h"

namespace edgeca::store {

struct CertificateFilter {
    std::optional<std::string> device_key;
    std::optional<std::string> requester;
    std::optional<std::string> profile;
    std::optional<CertificateStatus> status;  // evaluated at `now`
    Time now{};
    int64_t after_id = 0;  // paging: only records with a larger id
    int limit = 1000;
};

// The hash an audit entry must carry: SHA-256 over its length-prefixed fields and the hash of
// the entry before it.
std::string audit_entry_hash(const AuditEntry& entry);

// Reads within one snapshot. Handed out by Store::read and, inside a write, by Writer.
class Reader {
public:
    explicit Reader(const Database& db) : db_(db) {}

    std::optional<CertificateRecord> certificate_by_serial(std::span<const uint8_t> serial) const;
    std::optional<CertificateRecord> certificate_by_id(int64_t id) const;
    std::optional<CertificateRecord> certificate_by_fingerprint(const std::string& hex) const;
    std::vector<CertificateRecord> certificates(const CertificateFilter& filter) const;
    int64_t certificate_count() const;
    // issued_at of the most recently recorded certificate: the clock must not be behind it.
    std::optional<Time> latest_issued_at() const;
    // Every certificate ever issued for this SubjectPublicKeyInfo (hex SHA-256).
    std::vector<CertificateRecord> certificates_with_key(const std::string& spki_sha256) const;
    // The subject this key was first certified for, and whether it is compromised.
    std::optional<KeyBinding> key_binding(const std::string& spki_sha256) const;
    // A valid (unrevoked, unexpired at `now`) certificate of `profile` whose CN is `cn` and that
    // is bound to a device other than `device_key`.
    std::optional<CertificateRecord> valid_certificate_with_cn_of_other_device(
        const std::string& profile, const std::string& cn, const std::string& device_key,
        Time now) const;

    std::optional<std::string> meta(const std::string& key) const;
    // Who holds the lease `name`, and until when (milliseconds since the epoch).
    std::optional<std::pair<std::string, int64_t>> lease(const std::string& name) const;

    // Every revoked certificate still unexpired at `now`, in revocation order; the cost follows
    // the number of revoked entries (a covering index), not the certificates ever issued.
    // Only the certificates of issuer `issuer_id`: each issuer's CRL lists its own.
    void each_revoked_entry(Time now, const std::function<void(RevokedEntry&&)>& visit,
                            int64_t issuer_id = 1) const;
    // How many revocations were ever recorded: grows by one with each.
    int64_t revocation_counter() const;
    // The same for the certificates of issuer `issuer_id` alone: its CRL is due again only when
    // this grows, not on another issuer's revocations.
    int64_t issuer_revocation_counter(int64_t issuer_id) const;
    // Of issuer `issuer_id`'s CRLs: the newest one that still has its DER, the last number
    // (0 before the first).
    std::optional<CrlRecord> latest_crl(int64_t issuer_id = 1) const;
    int64_t last_crl_number(int64_t issuer_id = 1) const;

    // Every issuing CA ever activated, oldest first.
    std::vector<IssuerRecord> issuers() const;
    std::optional<IssuerRecord> issuer(int64_t id) const;
    IssuerUsage issuer_usage(int64_t id, Time now) const;

    std::optional<ProductRecord> product(const std::string& product_key) const;
    std::vector<ProductRecord> products() const;
    std::optional<DeviceRecord> device(const std::string& device_key) const;
    std::optional<DeviceRecord> device_by_asset_id(const std::string& asset_id) const;
    // With `visible_to`, only the devices that principal owns and those nobody owns yet.
    std::vector<DeviceRecord> devices(const std::optional<std::string>& product_key,
                                      const std::string& after_device_key, int limit,
                                      const std::optional<std::string>& visible_to = std::nullopt) const;

    std::optional<AccessGrant> access_grant(const std::string& fingerprint_sha256) const;
    std::vector<AccessGrant> access_grants() const;
    std::vector<AccessGrant> access_grants_of(const std::string& principal) const;
    bool principal_exists(const std::string& principal) const;
    std::optional<EnrollmentToken> enrollment_token(const std::string& token_sha256) const;
    std::optional<AppRecord> app(const std::string& app_key) const;
    std::vector<AppRecord> apps() const;
    std::optional<AccessTokenRecord> access_token(const std::string& token_sha256) const;
    std::optional<EnosCallRecord> enos_call(const std::string& signature_sha256) const;
    struct IdempotentRequest {
        std::string request_sha256;
        int64_t certificate_id = 0;
    };
    std::optional<IdempotentRequest> idempotent_request(const std::string& requester,
                                                        const std::string& key) const;

    // Streams the audit log in order; the callback returns false to stop.
    void each_audit_entry(const std::function<bool(const AuditEntry&)>& visit) const;
    AuditVerification verify_audit_chain() const;
    AuditHead audit_head() const;
    std::optional<AuditCheckpoint> last_audit_checkpoint() const;
    // Every checkpoint in number order; the callback returns false to stop.
    void each_audit_checkpoint(const std::function<bool(const AuditCheckpoint&)>& visit) const;
    // Every certificate ever revoked, expired or not, in serial order (the bytes compared as
    // unsigned), as a checkpoint's revocation digest covers them.
    void each_revocation(const std::function<void(RevokedEntry&&)>& visit) const;

protected:
    const Database& db_;
};

// Writes within one transaction; nothing is visible to anyone until Store::write commits.
class Writer : public Reader {
public:
    explicit Writer(const Database& db) : Reader(db) {}

    // Returns the record's id. Throws StoreError with constraint_violation() when the serial or
    // the fingerprint is already present: a serial is never used twice. The key is bound to the
    // record's subject if it was not bound yet.
    int64_t insert_certificate(const CertificateRecord& record);
    AuditEntry append_audit(const AuditEvent& event);
    // False when the checkpoint's number is taken (another process signed one meanwhile).
    bool insert_audit_checkpoint(const AuditCheckpoint& checkpoint);

    void set_meta(const std::string& key, const std::string& value);

    // Marks a valid certificate revoked; false when it was already revoked (nothing changes).
    // keyCompromise (reason 1) marks its key compromised too.
    bool revoke_certificate(int64_t id, Time at, int reason, const std::string& by);
    // Records a signed CRL. Throws StoreError with constraint_violation() when its number is
    // taken: a CRL number is never used twice. Keeps the DER of the newest `keep` CRLs only.
    void insert_crl(const CrlRecord& crl, int keep);
    // Throws StoreError with constraint_violation() when the id or the key is recorded already.
    void insert_issuer(const IssuerRecord& issuer);
    // Marks an issuer retired at `at`; false when it is unknown or retired already.
    bool retire_issuer(int64_t id, Time at);
    // Throw StoreError with constraint_violation() when the key already exists.
    void insert_product(const ProductRecord& product);
    void insert_device(const DeviceRecord& device);
    // Makes `owner` the owner of a device nobody owns; false when it has an owner already.
    bool claim_device(const std::string& device_key, const std::string& owner);
    void insert_enrollment_token(const EnrollmentToken& token);
    // Marks an unused, unexpired token as used; false when it is unknown, spent or expired.
    bool consume_enrollment_token(const std::string& token_sha256, Time now,
                                  std::span<const uint8_t> serial);
    // Inserts or replaces the grant of this fingerprint.
    void grant_access(const AccessGrant& grant);
    bool revoke_access(const std::string& fingerprint_sha256);
    // Throws StoreError with constraint_violation() when the key or the name is taken.
    void insert_app(const AppRecord& app);
    // Removes the application and its access tokens; false when there was none.
    bool delete_app(const std::string& app_key);
    // Inserts the token; a token already present (the same hash) is left as it is.
    void insert_access_token(const AccessTokenRecord& token);
    // Forgets tokens that expired before `now`.
    void delete_expired_access_tokens(Time now);
    // Claims a signed call; false when the signature is claimed already (by this node or
    // another). Forgets claims that expired before the new one's claimed_at.
    bool claim_enos_call(const EnosCallRecord& call);
    void answer_enos_call(const std::string& signature_sha256, const std::string& answer);
    // Gives up a claim whose call changed nothing, so that the same call may be sent again.
    void release_enos_call(const std::string& signature_sha256);
    void record_idempotent_request(const std::string& requester, const std::string& key,
                                   const std::string& request_sha256, int64_t certificate_id,
                                   Time now);
    // Takes or renews the lease `name` for `holder` until now + ttl; false while another holder's
    // lease has not expired at `now`. Holders' clocks must agree to well within `ttl`.
    bool take_lease(const std::string& name, const std::string& holder,
                    std::chrono::milliseconds now, std::chrono::milliseconds ttl);
};

// Where a store is: a PostgreSQL database when `url` is set, else the SQLite `file`.
struct StoreLocation {
    std::filesystem::path file;
    std::string url;

    bool on_server() const { return !url.empty(); }
    // The file, or the URL without a password.
    std::string describe() const;
};

class Store {
public:
    // Creates a new store file; fails if one exists.
    static Store create(const std::filesystem::path& path);
    // Opens an existing store file and brings its schema up to date.
    static Store open(const std::filesystem::path& path);
    // The same for either engine. A PostgreSQL store is created in an empty database (one
    // holding an edgeca store already is refused); opening one brings its schema up to date,
    // one node at a time.
    static Store create(const StoreLocation& location);
    static Store open(const StoreLocation& location);
    // Refuses (StoreError) what create would refuse, without making anything.
    static void check_can_create(const StoreLocation& location);

    Store(Store&&) = default;

    // Runs `f(const Reader&)` in a read transaction and returns what it returns. Reads run on
    // connections of their own (at most `max_readers`, opened when first needed), so that a read
    // does not wait behind a commit and its fsync; a read sees every write committed before it
    // began.
    template <typename F>
    auto read(F&& f) const {
        ReaderLease lease(*readers_);
        ReadScope scope(lease.db());
        Reader reader(lease.db());
        return f(static_cast<const Reader&>(reader));
    }

    // Runs `f(Writer&)` in a write transaction that is committed durably (SQLite's
    // synchronous=FULL, PostgreSQL's synchronous_commit) before this returns; if `f` throws,
    // nothing it did is kept and the exception reaches the caller.
    //
    // Group commit: writes that arrive while another is committing wait, then commit together
    // in one transaction (one fsync, one advisory lock), each in its own savepoint, in arrival
    // order, each seeing what the ones before it wrote. One that throws is rolled back to its
    // savepoint and leaves the others in place; a failed COMMIT fails them all. No caller
    // returns before the commit that holds its write.
    template <typename F>
    auto write(F&& f) {
        using Result = std::invoke_result_t<F, Writer&>;
        if constexpr (std::is_void_v<Result>) {
            run_write([&](Writer& w) { f(w); });
        } else {
            std::optional<Result> result;
            run_write([&](Writer& w) { result.emplace(f(w)); });
            return std::move(*result);
        }
    }

    int schema_version() const;
    // The SQLite file; empty for a store on a server.
    const std::filesystem::path& path() const { return db_.path(); }
    // "sqlite" or "postgresql".
    std::string_view engine() const { return db_.connection().engine(); }
    // The file, or the server and database (without a password).
    std::string describe() const { return db_.describe(); }
    // "ok" when the engine finds the store sound (SQLite's integrity_check).
    std::string integrity_check() const;

    struct TableRows {
        std::string table;
        int64_t rows = 0;
    };
    // How many rows each table holds, in copy order.
    std::vector<TableRows> table_rows() const;
    // Copies every row of `from` (read in one snapshot) into this store, which must be new: one
    // transaction, so that a failure leaves it as it was. Refuses a source with a table this
    // build does not know (nothing is left behind unnoticed). `progress(table, rows so far)` is
    // called every 10,000 rows and at the end of each table.
    std::vector<TableRows> copy_from(const Store& from,
                                     const std::function<void(const std::string&, int64_t)>& progress);

    // Connections kept for reads; more readers than this wait for one to be free.
    static constexpr size_t max_readers = 4;

private:
    Store(Database db, std::function<Database()> open_reader)
        : db_(std::move(db)),
          mutex_(std::make_unique<std::mutex>()),
          group_(std::make_unique<Group>()),
          readers_(std::make_unique<Readers>(std::move(open_reader))) {}

    // The read connections: idle ones, and how many exist.
    struct Readers {
        explicit Readers(std::function<Database()> open) : open(std::move(open)) {}
        std::function<Database()> open;
        std::mutex mutex;
        std::condition_variable returned;
        std::vector<std::unique_ptr<Database>> idle;
        size_t count = 0;
    };
    // One read connection, taken from the idle ones (or opened, or waited for) and given back.
    class ReaderLease {
    public:
        explicit ReaderLease(Readers& readers);
        ~ReaderLease();
        ReaderLease(const ReaderLease&) = delete;
        ReaderLease& operator=(const ReaderLease&) = delete;
        const Database& db() const { return *db_; }

    private:
        Readers& readers_;
        std::unique_ptr<Database> db_;
    };

    struct PendingWrite {
        const std::function<void(Writer&)>* job;
        std::exception_ptr error;
        bool done = false;
    };
    // The writes waiting for the next commit, and whether a thread is committing a batch.
    struct Group {
        std::mutex mutex;
        std::condition_variable committed;
        std::vector<PendingWrite*> queue;
        bool committing = false;
    };
    void run_write(const std::function<void(Writer&)>& job);
    void commit_batch(const std::vector<PendingWrite*>& batch);

    class ReadScope {
    public:
        explicit ReadScope(const Database& db) : db_(db) { db_.connection().begin_read(); }
        ~ReadScope() {
            try {
                db_.connection().end_read();
            } catch (const StoreError&) {
            }
        }

    private:
        const Database& db_;
    };

    Database db_;  // the writer's connection
    std::unique_ptr<std::mutex> mutex_;
    std::unique_ptr<Group> group_;
    std::unique_ptr<Readers> readers_;
};

}  // namespace edgeca::store
