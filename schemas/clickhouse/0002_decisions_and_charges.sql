-- Endcap event log, version 2: the decision log, the charge ledger, and ad tables keyed by
-- their decision. Runs on ClickHouse 18.16 and current releases (see 0001).
--
-- Ad tables (impressions, clicks, exposure_holdouts) are now partitioned by the decision
-- time, not the arrival time, so a token replayed on a later day lands in the same partition
-- as the first copy and the ReplacingMergeTree key (user_key, event_id) collapses it. The
-- version-1 tables are kept, renamed *_v1, with their rows; nothing reads them.
--
-- decisions: one row per filled slot and per holdout ghost, written at decision time; keyed
-- by decision id (exactly once under replay). Daily partitions; the ad server drops those
-- older than its retention (default 90 days).
--
-- charges: the append-only charge ledger. One row per (decision, source, reason): a charge
-- clamped at the budget writes a billable row and an over_budget row; a replayed token
-- writes a duplicate row. Amounts are integer nano-units. Replays of a batch collapse on the
-- key; readers use FINAL (or argMax) for exact sums. Partitioned by accounting month.
-- Statements are separated by a line holding only ';'.

RENAME TABLE impressions TO impressions_v1
;
RENAME TABLE clicks TO clicks_v1
;
RENAME TABLE exposure_holdouts TO exposure_holdouts_v1
;
CREATE TABLE IF NOT EXISTS impressions (
    event_id       UUID,
    decision_id    UUID,
    ts             DateTime('UTC'),
    ts_ms          UInt64,
    decision_ts    DateTime('UTC'),
    user_key       String,
    advertiser_id  UUID,
    campaign_id    UUID,
    line_item_id   UUID,
    creative_id    UUID,
    channel        LowCardinality(String),
    placement      LowCardinality(String),
    position       UInt16,
    sku            String,
    pricing        LowCardinality(String),
    price_micros   Int64,
    bid_cpm_micros Int64,
    charge_nanos   Int64,
    promoted_skus  Array(String)
) ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMMDD(decision_ts)
ORDER BY (user_key, event_id)
;
CREATE TABLE IF NOT EXISTS clicks (
    event_id       UUID,
    decision_id    UUID,
    ts             DateTime('UTC'),
    ts_ms          UInt64,
    decision_ts    DateTime('UTC'),
    user_key       String,
    advertiser_id  UUID,
    campaign_id    UUID,
    line_item_id   UUID,
    creative_id    UUID,
    channel        LowCardinality(String),
    placement      LowCardinality(String),
    position       UInt16,
    sku            String,
    pricing        LowCardinality(String),
    price_micros   Int64,
    bid_cpm_micros Int64,
    charge_nanos   Int64,
    promoted_skus  Array(String)
) ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMMDD(decision_ts)
ORDER BY (user_key, event_id)
;
CREATE TABLE IF NOT EXISTS exposure_holdouts (
    event_id       UUID,
    decision_id    UUID,
    ts             DateTime('UTC'),
    ts_ms          UInt64,
    decision_ts    DateTime('UTC'),
    user_key       String,
    advertiser_id  UUID,
    campaign_id    UUID,
    line_item_id   UUID,
    creative_id    UUID,
    channel        LowCardinality(String),
    placement      LowCardinality(String),
    position       UInt16,
    sku            String,
    pricing        LowCardinality(String),
    price_micros   Int64,
    bid_cpm_micros Int64,
    charge_nanos   Int64,
    promoted_skus  Array(String)
) ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMMDD(decision_ts)
ORDER BY (user_key, event_id)
;
CREATE TABLE IF NOT EXISTS decisions (
    decision_id    UUID,
    request_id     UUID,
    ts             DateTime('UTC'),
    ts_ms          UInt64,
    arm            LowCardinality(String),
    channel        LowCardinality(String),
    slot_id        String,
    placement      LowCardinality(String),
    position       UInt16,
    slot_count     UInt16,
    user_key       String,
    advertiser_id  UUID,
    campaign_id    UUID,
    line_item_id   UUID,
    creative_id    UUID,
    pricing        LowCardinality(String),
    bid_micros     Int64,
    pctr           Float64,
    ecpm_micros    Int64,
    price_micros   Int64,
    bid_cpm_micros Int64,
    sku            String,
    promoted_skus  Array(String),
    keywords       Array(String),
    categories     Array(String),
    store_id       String,
    page_type      String,
    device         LowCardinality(String),
    local_hour     UInt8,
    local_weekday  UInt8,
    segments       Array(String),
    features       String,
    model_version  LowCardinality(String)
) ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMMDD(ts)
ORDER BY (decision_id)
;
CREATE TABLE IF NOT EXISTS charges (
    decision_id      UUID,
    source           LowCardinality(String),
    reason           LowCardinality(String),
    billable         UInt8,
    ts               DateTime('UTC'),
    ts_ms            UInt64,
    accounting_date  Date,
    advertiser_id    UUID,
    campaign_id      UUID,
    line_item_id     UUID,
    charge_nanos     Int64,
    media_cost_nanos Int64,
    currency         LowCardinality(String)
) ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMM(accounting_date)
ORDER BY (campaign_id, decision_id, source, reason)
;
