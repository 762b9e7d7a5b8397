-- Endcap campaign store, version 2: audience segment definitions, the product catalog and
-- the receipt ledger. Portable SQL, as version 1.

-- A segment's members live in Redis (crates/segments); its definition and owner live here.
-- advertiser_id NULL: shared by the retailer with every advertiser.
CREATE TABLE segments (
    id            TEXT PRIMARY KEY,
    advertiser_id TEXT REFERENCES advertisers (id),
    name          TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
);

-- Brand and category of each SKU, filled into receipt lines that lack them.
CREATE TABLE catalog (
    sku        TEXT PRIMARY KEY,
    brand      TEXT NOT NULL,
    category   TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- One row per receipt ever ingested: its latest version and a hash of its content, so a
-- re-sent receipt counts once and only a higher version replaces it. Written only after
-- the receipt's lines are durably in the event log (written or spooled).
CREATE TABLE receipt_ledger (
    receipt_id   TEXT PRIMARY KEY,
    version      BIGINT NOT NULL,
    content_hash TEXT NOT NULL,
    ingested_at  BIGINT NOT NULL
);
