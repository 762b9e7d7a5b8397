-- Endcap campaign store, version 1. Runs unchanged on SQLite (embedded default) and
-- PostgreSQL (production): only TEXT and BIGINT columns, no dialect-specific DDL.
--
-- Each object table keeps the columns the store filters and orders by (ids, owner, parent,
-- status, version, times as UTC microseconds since the epoch) plus `doc`, the object's
-- JSON as the API returns it. The domain types in crates/core decide the document's shape;
-- the columns are derived from it on every write in the same statement, so they cannot
-- drift apart. Ids are UUID v7 text: ordering by id is creation order (pagination key).
-- Money inside documents is integer micros.

CREATE TABLE advertisers (
    id            TEXT PRIMARY KEY,
    advertiser_id TEXT NOT NULL,
    parent_id     TEXT,
    status        TEXT,
    version       BIGINT NOT NULL,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL,
    doc           TEXT NOT NULL
);

CREATE TABLE campaigns (
    id            TEXT PRIMARY KEY,
    advertiser_id TEXT NOT NULL REFERENCES advertisers (id),
    parent_id     TEXT NOT NULL REFERENCES advertisers (id),
    status        TEXT NOT NULL,
    version       BIGINT NOT NULL,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL,
    doc           TEXT NOT NULL
);
CREATE INDEX campaigns_by_advertiser ON campaigns (advertiser_id, id);
CREATE INDEX campaigns_by_status ON campaigns (status, id);

CREATE TABLE line_items (
    id            TEXT PRIMARY KEY,
    advertiser_id TEXT NOT NULL REFERENCES advertisers (id),
    parent_id     TEXT NOT NULL REFERENCES campaigns (id),
    status        TEXT NOT NULL,
    version       BIGINT NOT NULL,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL,
    doc           TEXT NOT NULL
);
CREATE INDEX line_items_by_campaign ON line_items (parent_id, id);
CREATE INDEX line_items_by_status ON line_items (status, id);

CREATE TABLE creatives (
    id            TEXT PRIMARY KEY,
    advertiser_id TEXT NOT NULL REFERENCES advertisers (id),
    parent_id     TEXT NOT NULL REFERENCES line_items (id),
    status        TEXT,
    version       BIGINT NOT NULL,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL,
    doc           TEXT NOT NULL
);
CREATE INDEX creatives_by_line_item ON creatives (parent_id, id);

-- API keys are stored as SHA-256 hex of the key; the key itself is shown once and never kept.
CREATE TABLE api_keys (
    id            TEXT PRIMARY KEY,
    key_hash      TEXT NOT NULL UNIQUE,
    role          TEXT NOT NULL,
    advertiser_id TEXT REFERENCES advertisers (id),
    label         TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    revoked_at    BIGINT
);

-- Who changed what and when: one row per successful write, in the write's transaction.
CREATE TABLE audit_log (
    id            TEXT PRIMARY KEY,
    at            BIGINT NOT NULL,
    actor         TEXT NOT NULL,
    action        TEXT NOT NULL,
    object_type   TEXT NOT NULL,
    object_id     TEXT NOT NULL,
    advertiser_id TEXT,
    version       BIGINT NOT NULL,
    doc           TEXT NOT NULL
);
CREATE INDEX audit_log_by_object ON audit_log (object_id, id);
CREATE INDEX audit_log_by_advertiser ON audit_log (advertiser_id, id);

-- The first result of each POST made with an Idempotency-Key, per API key, so that a retry
-- returns it instead of creating a duplicate. Written in the same transaction as the object.
CREATE TABLE idempotency_keys (
    scope         TEXT NOT NULL,
    idem_key      TEXT NOT NULL,
    request_hash  TEXT NOT NULL,
    object_type   TEXT NOT NULL,
    object_id     TEXT NOT NULL,
    doc           TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    PRIMARY KEY (scope, idem_key)
);
