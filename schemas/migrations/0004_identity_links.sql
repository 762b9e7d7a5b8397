-- Endcap campaign store, version 4: the identity map the ad server reads at decision time.
-- One row per online user key (SHA-256 hex) with the shopper's customer key (SHA-256 hex),
-- so a shopper's devices land in the same holdout arm. The full history of links stays in
-- the event log (identity_map); this table holds the latest link per user key.
CREATE TABLE identity_links (
    user_key     TEXT PRIMARY KEY,
    customer_key TEXT NOT NULL,
    updated_at   BIGINT NOT NULL
);
