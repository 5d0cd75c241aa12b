// store/schema.cpp — the migrations of each engine, oldest first. A released migration is never
// edited: a change to the schema is a new entry at the end of both lists.
#include "store/schema.h"

#include <fmt/format.h>

#include <string_view>
#include <vector>

namespace edgeca::store {

const std::vector<Migration>& sqlite_migrations() {
    static const std::vector<Migration> all = {
        {1, "certificates, audit log, CRL history", R"sql(
CREATE TABLE certificates (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    serial BLOB NOT NULL UNIQUE CHECK (length(serial) BETWEEN 1 AND 20),
    profile TEXT NOT NULL,
    subject TEXT NOT NULL,
    common_name TEXT NOT NULL,
    product_key TEXT,
    device_key TEXT,
    asset_id TEXT,
    spki_sha256 TEXT NOT NULL,
    fingerprint_sha256 TEXT NOT NULL UNIQUE,
    not_before INTEGER NOT NULL,
    not_after INTEGER NOT NULL,
    issued_at INTEGER NOT NULL,
    requester TEXT NOT NULL,
    der BLOB NOT NULL,
    revoked_at INTEGER,
    revocation_reason INTEGER,
    revoked_by TEXT,
    CHECK ((revoked_at IS NULL) = (revocation_reason IS NULL))
);
CREATE INDEX certificates_device ON certificates(device_key) WHERE device_key IS NOT NULL;
CREATE INDEX certificates_common_name ON certificates(common_name);
CREATE INDEX certificates_spki ON certificates(spki_sha256);
CREATE INDEX certificates_requester ON certificates(requester);
-- The CRL is built from this index alone: its cost follows the revoked entries, not the
-- certificates ever issued.
CREATE INDEX certificates_revoked ON certificates(revoked_at) WHERE revoked_at IS NOT NULL;

CREATE TABLE audit_log (
    seq INTEGER PRIMARY KEY,
    at_ms INTEGER NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    serial TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    outcome TEXT NOT NULL,
    detail TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);

CREATE TABLE crls (
    number INTEGER PRIMARY KEY CHECK (number > 0),
    this_update INTEGER NOT NULL,
    next_update INTEGER NOT NULL,
    entries INTEGER NOT NULL,
    der BLOB
);
)sql"},
        {2, "issuing CA: settings, products, devices, access list, enrollment tokens, idempotency", R"sql(
CREATE TABLE meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE products (
    product_key TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    max_validity_days INTEGER NOT NULL CHECK (max_validity_days > 0),
    certificate_auth INTEGER NOT NULL CHECK (certificate_auth IN (0, 1)),
    created_at INTEGER NOT NULL,
    created_by TEXT NOT NULL
);

CREATE TABLE devices (
    device_key TEXT PRIMARY KEY,
    product_key TEXT NOT NULL REFERENCES products(product_key),
    asset_id TEXT NOT NULL UNIQUE,
    created_at INTEGER NOT NULL,
    created_by TEXT NOT NULL
);
CREATE INDEX devices_product ON devices(product_key);

-- Client certificates allowed to call the API, by their SHA-256, and what they may do.
CREATE TABLE access_list (
    fingerprint_sha256 TEXT PRIMARY KEY,
    serial BLOB,
    principal TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('admin', 'hub')),
    granted_at INTEGER NOT NULL,
    granted_by TEXT NOT NULL
);

-- One-time enrollment tokens; only their SHA-256 is kept.
CREATE TABLE enrollment_tokens (
    token_sha256 TEXT PRIMARY KEY,
    role TEXT NOT NULL CHECK (role IN ('admin', 'hub')),
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    created_by TEXT NOT NULL,
    used_at INTEGER,
    used_for_serial BLOB
);

CREATE TABLE idempotency_keys (
    requester TEXT NOT NULL,
    key TEXT NOT NULL,
    request_sha256 TEXT NOT NULL,
    certificate_id INTEGER NOT NULL REFERENCES certificates(id),
    created_at INTEGER NOT NULL,
    PRIMARY KEY (requester, key)
);
)sql"},
        {3, "revocation: a covering index for CRLs, what each CRL covered", R"sql(
-- Everything a CRL entry needs, in one index over the revoked rows only.
DROP INDEX certificates_revoked;
CREATE INDEX certificates_revoked ON certificates(revoked_at, serial, revocation_reason, not_after)
    WHERE revoked_at IS NOT NULL;
-- The revocation counter (meta 'revocations') a CRL was built at, so that a publisher knows
-- whether a revocation is missing from it.
ALTER TABLE crls ADD COLUMN revocations INTEGER NOT NULL DEFAULT 0;
)sql"},
        {4, "EnOS-compatible surface: applications and their access tokens", R"sql(
-- Application credentials for the EnOS API gateway scheme. The secret is sealed (RSA-OAEP)
-- under the issuing CA's public key: only the running service can open it.
CREATE TABLE apps (
    app_key TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    role TEXT NOT NULL CHECK (role IN ('admin', 'hub')),
    sealed_secret BLOB NOT NULL,
    created_at INTEGER NOT NULL,
    created_by TEXT NOT NULL
);

-- Access tokens handed out by /apim-token-service/v2.0/token/get; only their SHA-256 is kept.
CREATE TABLE access_tokens (
    token_sha256 TEXT PRIMARY KEY,
    app_key TEXT NOT NULL REFERENCES apps(app_key) ON DELETE CASCADE,
    issued_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX access_tokens_expiry ON access_tokens(expires_at);
)sql"},
        {5, "key bindings: one row per certified public key; CN lookups by device", R"sql(
-- "Does another device hold this CN?" reads only the other devices' rows.
DROP INDEX certificates_common_name;
CREATE INDEX certificates_common_name ON certificates(common_name, device_key);
-- A key belongs to the subject it was first certified for, for ever; once a certificate of it
-- is revoked for keyCompromise, to nobody. One row per key makes both checks a lookup.
CREATE TABLE key_bindings (
    spki_sha256 TEXT PRIMARY KEY,
    profile TEXT NOT NULL,
    device_key TEXT,
    common_name TEXT NOT NULL,
    compromised_at INTEGER
);
INSERT INTO key_bindings (spki_sha256, profile, device_key, common_name)
    SELECT c.spki_sha256, c.profile, c.device_key, c.common_name FROM certificates c
    WHERE c.id = (SELECT min(id) FROM certificates WHERE spki_sha256 = c.spki_sha256);
UPDATE key_bindings SET compromised_at = (
    SELECT max(revoked_at) FROM certificates c
    WHERE c.spki_sha256 = key_bindings.spki_sha256 AND c.revocation_reason = 1);
)sql"},
        {6, "EnOS signed calls: each write call acts once, and its answer is kept for repeats", R"sql(
-- A signed EnOS call that changes something (apply, renew, revoke) is claimed here by the
-- SHA-256 of its apim-signature before it acts, and its answer is kept beside the claim. The
-- same signature again, on any node and after a restart, gets the kept answer instead of
-- acting twice. Rows are forgotten once the signature's timestamp is out of the window.
CREATE TABLE enos_calls (
    signature_sha256 TEXT PRIMARY KEY,
    app_key TEXT NOT NULL,
    claimed_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    answer TEXT
);
CREATE INDEX enos_calls_expiry ON enos_calls(expires_at);
)sql"},
        {7, "audit checkpoints: the chain head and the revocations, signed with the CA key", R"sql(
-- A signed statement of the audit chain's head at `seq` and of every revocation then recorded
-- (count and SHA-256 over serial, time, reason). Numbers run 1, 2, 3... with no gap; the
-- signature is the CA key's, so that a writer of this file cannot rewrite what one covers.
CREATE TABLE audit_checkpoints (
    number INTEGER PRIMARY KEY CHECK (number > 0),
    seq INTEGER NOT NULL,
    head_hash TEXT NOT NULL,
    at INTEGER NOT NULL,
    revocations INTEGER NOT NULL,
    revocations_sha256 TEXT NOT NULL,
    signature BLOB NOT NULL
);
)sql"},
        {8, "scope: the principal that owns each device; grants looked up by principal", R"sql(
-- The principal a device belongs to: only it (and admins) may get, renew, list or revoke the
-- device's certificates. NULL for a device an admin registered that no hub has claimed yet.
ALTER TABLE devices ADD COLUMN owner TEXT;
UPDATE devices SET owner = created_by
    WHERE created_by LIKE 'hub:%'
       OR created_by IN (SELECT principal FROM access_list WHERE role = 'hub')
       OR created_by IN (SELECT 'app:' || name FROM apps WHERE role = 'hub');
CREATE INDEX devices_owner ON devices(owner) WHERE owner IS NOT NULL;
-- Revoking a hub's identity ends every credential granted to its principal.
CREATE INDEX access_list_principal ON access_list(principal);
)sql"},
        {9, "leases: one node at a time does a job such as signing the CRL", R"sql(
-- A job that one node at a time must do (sign the next CRL) is leased here: the holder renews
-- its lease well before it expires; another node takes it over only once it has expired.
CREATE TABLE leases (
    name TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    expires_at_ms INTEGER NOT NULL
);
)sql"},
        {10, "several issuers: each certificate and each CRL belongs to one issuing CA", R"sql(
-- The issuing CAs of this authority, oldest first. Issuer 1 is the one edgeca install put in
-- place; a rotation adds the next (edgeca issuer activate). New certificates come from the
-- newest one; each one not retired keeps signing its own CRLs.
CREATE TABLE issuers (
    id INTEGER PRIMARY KEY CHECK (id > 0),
    der BLOB NOT NULL,
    subject TEXT NOT NULL,
    spki_sha256 TEXT NOT NULL UNIQUE,
    not_after INTEGER NOT NULL,
    activated_at INTEGER NOT NULL,
    retired_at INTEGER
);
-- A constant default: the column is added without rewriting the rows.
ALTER TABLE certificates ADD COLUMN issuer_id INTEGER NOT NULL DEFAULT 1;
-- Each issuer's CRL reads only its own revoked rows, from the index alone.
DROP INDEX certificates_revoked;
CREATE INDEX certificates_revoked
    ON certificates(issuer_id, revoked_at, serial, revocation_reason, not_after)
    WHERE revoked_at IS NOT NULL;
-- "How many of this issuer's certificates are unexpired" (issuer list, issuer retire).
CREATE INDEX certificates_issuer ON certificates(issuer_id, not_after);
-- Each issuer has its own CRL number sequence: the key becomes (issuer_id, number), which
-- SQLite only gets by rebuilding the table (a small one: the CRL history).
CREATE TABLE crls_by_issuer (
    number INTEGER NOT NULL CHECK (number > 0),
    this_update INTEGER NOT NULL,
    next_update INTEGER NOT NULL,
    entries INTEGER NOT NULL,
    der BLOB,
    revocations INTEGER NOT NULL DEFAULT 0,
    issuer_id INTEGER NOT NULL DEFAULT 1,
    PRIMARY KEY (issuer_id, number)
);
INSERT INTO crls_by_issuer (number, this_update, next_update, entries, der, revocations, issuer_id)
    SELECT number, this_update, next_update, entries, der, revocations, 1 FROM crls;
DROP TABLE crls;
ALTER TABLE crls_by_issuer RENAME TO crls;
-- Each issuer counts its own revocations (meta 'revocations/N'); every one so far was issuer 1's.
INSERT INTO meta (key, value) SELECT 'revocations/1', value FROM meta WHERE key = 'revocations';
)sql"},
    };
    return all;
}

// PostgreSQL reaches version 8 in one step (it arrived there), then follows the same entries.
const std::vector<Migration>& postgresql_migrations() {
    static const std::vector<Migration> all = {
        {8, "the store as of version 8: certificates, audit log, CRLs, registry, EnOS surface", R"sql(
CREATE TABLE certificates (
    id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    serial BYTEA NOT NULL UNIQUE CHECK (length(serial) BETWEEN 1 AND 20),
    profile TEXT NOT NULL,
    subject TEXT NOT NULL,
    common_name TEXT NOT NULL,
    product_key TEXT,
    device_key TEXT,
    asset_id TEXT,
    spki_sha256 TEXT NOT NULL,
    fingerprint_sha256 TEXT NOT NULL UNIQUE,
    not_before BIGINT NOT NULL,
    not_after BIGINT NOT NULL,
    issued_at BIGINT NOT NULL,
    requester TEXT NOT NULL,
    der BYTEA NOT NULL,
    revoked_at BIGINT,
    revocation_reason BIGINT,
    revoked_by TEXT,
    CHECK ((revoked_at IS NULL) = (revocation_reason IS NULL))
);
CREATE INDEX certificates_device ON certificates(device_key) WHERE device_key IS NOT NULL;
CREATE INDEX certificates_common_name ON certificates(common_name, device_key);
CREATE INDEX certificates_spki ON certificates(spki_sha256);
CREATE INDEX certificates_requester ON certificates(requester);
CREATE INDEX certificates_revoked ON certificates(revoked_at, serial, revocation_reason, not_after)
    WHERE revoked_at IS NOT NULL;

CREATE TABLE key_bindings (
    spki_sha256 TEXT PRIMARY KEY,
    profile TEXT NOT NULL,
    device_key TEXT,
    common_name TEXT NOT NULL,
    compromised_at BIGINT
);

CREATE TABLE audit_log (
    seq BIGINT PRIMARY KEY,
    at_ms BIGINT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    serial TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    outcome TEXT NOT NULL,
    detail TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);

CREATE TABLE crls (
    number BIGINT PRIMARY KEY CHECK (number > 0),
    this_update BIGINT NOT NULL,
    next_update BIGINT NOT NULL,
    entries BIGINT NOT NULL,
    der BYTEA,
    revocations BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE products (
    product_key TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    max_validity_days BIGINT NOT NULL CHECK (max_validity_days > 0),
    certificate_auth BIGINT NOT NULL CHECK (certificate_auth IN (0, 1)),
    created_at BIGINT NOT NULL,
    created_by TEXT NOT NULL
);

CREATE TABLE devices (
    device_key TEXT PRIMARY KEY,
    product_key TEXT NOT NULL REFERENCES products(product_key),
    asset_id TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    created_by TEXT NOT NULL,
    owner TEXT
);
CREATE INDEX devices_product ON devices(product_key);
CREATE INDEX devices_owner ON devices(owner) WHERE owner IS NOT NULL;

CREATE TABLE access_list (
    fingerprint_sha256 TEXT PRIMARY KEY,
    serial BYTEA,
    principal TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('admin', 'hub')),
    granted_at BIGINT NOT NULL,
    granted_by TEXT NOT NULL
);
CREATE INDEX access_list_principal ON access_list(principal);

CREATE TABLE enrollment_tokens (
    token_sha256 TEXT PRIMARY KEY,
    role TEXT NOT NULL CHECK (role IN ('admin', 'hub')),
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    created_by TEXT NOT NULL,
    used_at BIGINT,
    used_for_serial BYTEA
);

CREATE TABLE idempotency_keys (
    requester TEXT NOT NULL,
    key TEXT NOT NULL,
    request_sha256 TEXT NOT NULL,
    certificate_id BIGINT NOT NULL REFERENCES certificates(id),
    created_at BIGINT NOT NULL,
    PRIMARY KEY (requester, key)
);

CREATE TABLE apps (
    app_key TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    role TEXT NOT NULL CHECK (role IN ('admin', 'hub')),
    sealed_secret BYTEA NOT NULL,
    created_at BIGINT NOT NULL,
    created_by TEXT NOT NULL
);

CREATE TABLE access_tokens (
    token_sha256 TEXT PRIMARY KEY,
    app_key TEXT NOT NULL REFERENCES apps(app_key) ON DELETE CASCADE,
    issued_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX access_tokens_expiry ON access_tokens(expires_at);

CREATE TABLE enos_calls (
    signature_sha256 TEXT PRIMARY KEY,
    app_key TEXT NOT NULL,
    claimed_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    answer TEXT
);
CREATE INDEX enos_calls_expiry ON enos_calls(expires_at);

CREATE TABLE audit_checkpoints (
    number BIGINT PRIMARY KEY CHECK (number > 0),
    seq BIGINT NOT NULL,
    head_hash TEXT NOT NULL,
    at BIGINT NOT NULL,
    revocations BIGINT NOT NULL,
    revocations_sha256 TEXT NOT NULL,
    signature BYTEA NOT NULL
);
)sql"},
        {9, "leases: one node at a time does a job such as signing the CRL", R"sql(
CREATE TABLE leases (
    name TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    expires_at_ms BIGINT NOT NULL
);
)sql"},
        {10, "several issuers: each certificate and each CRL belongs to one issuing CA", R"sql(
CREATE TABLE issuers (
    id BIGINT PRIMARY KEY CHECK (id > 0),
    der BYTEA NOT NULL,
    subject TEXT NOT NULL,
    spki_sha256 TEXT NOT NULL UNIQUE,
    not_after BIGINT NOT NULL,
    activated_at BIGINT NOT NULL,
    retired_at BIGINT
);
ALTER TABLE certificates ADD COLUMN issuer_id BIGINT NOT NULL DEFAULT 1;
DROP INDEX certificates_revoked;
CREATE INDEX certificates_revoked
    ON certificates(issuer_id, revoked_at, serial, revocation_reason, not_after)
    WHERE revoked_at IS NOT NULL;
CREATE INDEX certificates_issuer ON certificates(issuer_id, not_after);
ALTER TABLE crls ADD COLUMN issuer_id BIGINT NOT NULL DEFAULT 1;
ALTER TABLE crls DROP CONSTRAINT crls_pkey;
ALTER TABLE crls ADD PRIMARY KEY (issuer_id, number);
INSERT INTO meta (key, value) SELECT 'revocations/1', value FROM meta WHERE key = 'revocations';
)sql"},
    };
    return all;
}

int current_schema_version() {
    return sqlite_migrations().back().version;
}

}  // namespace edgeca::store
