-- Endcap event log, version 1. Runs on ClickHouse 18.16 (Debian 12) and current releases:
-- no TTL/CODEC, no DateTime64/Map/Bool, LowCardinality needs
-- allow_experimental_low_cardinality_type=1 on 18.x (set in our users.xml).
--
-- Exactly-once on a single node: every table is a ReplacingMergeTree whose sorting key is
-- the event's own id after the user key (receipts: receipt id, version and line number), so
-- copies of one event collapse even when they arrived at different times or replicas. Ad
-- event ids are UUIDv7, so (user_key, event_id) also orders a user's events by time. A batch written
-- twice (a spooled batch replayed after a partial insert) leaves identical keys that merges
-- collapse; readers that need exact counts use FINAL or count distinct ids. Times are
-- DateTime('UTC') plus ts_ms (milliseconds since the epoch) where order matters.
-- Statements are separated by a line holding only ';'.

CREATE TABLE IF NOT EXISTS impressions (
    event_id      UUID,
    ts            DateTime('UTC'),
    ts_ms         UInt64,
    user_key      String,
    advertiser_id UUID,
    campaign_id   UUID,
    line_item_id  UUID,
    creative_id   UUID,
    placement     LowCardinality(String),
    price_micros  Int64,
    promoted_skus Array(String),
    features      String
) ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMMDD(ts)
ORDER BY (user_key, event_id)
;
CREATE TABLE IF NOT EXISTS clicks (
    event_id      UUID,
    ts            DateTime('UTC'),
    ts_ms         UInt64,
    user_key      String,
    advertiser_id UUID,
    campaign_id   UUID,
    line_item_id  UUID,
    creative_id   UUID,
    placement     LowCardinality(String),
    price_micros  Int64,
    promoted_skus Array(String),
    features      String
) ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMMDD(ts)
ORDER BY (user_key, event_id)
;
CREATE TABLE IF NOT EXISTS exposure_holdouts (
    event_id      UUID,
    ts            DateTime('UTC'),
    ts_ms         UInt64,
    user_key      String,
    advertiser_id UUID,
    campaign_id   UUID,
    line_item_id  UUID,
    creative_id   UUID,
    placement     LowCardinality(String),
    price_micros  Int64,
    promoted_skus Array(String),
    features      String
) ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMMDD(ts)
ORDER BY (user_key, event_id)
;
CREATE TABLE IF NOT EXISTS conversions (
    event_id      UUID,
    ts            DateTime('UTC'),
    ts_ms         UInt64,
    user_key      String,
    order_id      String,
    skus          Array(String),
    amount_micros Int64,
    currency      LowCardinality(String)
) ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMMDD(ts)
ORDER BY (user_key, event_id)
;
CREATE TABLE IF NOT EXISTS receipts (
    receipt_id    String,
    version       Int64,
    line_no       UInt32,
    customer_key  String,
    store_id      String,
    channel       LowCardinality(String),
    ts            DateTime('UTC'),
    ts_ms         UInt64,
    sku           String,
    brand         String,
    category      String,
    quantity      Int32,
    amount_micros Int64
) ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMMDD(ts)
ORDER BY (customer_key, receipt_id, version, line_no)
;
CREATE TABLE IF NOT EXISTS identity_map (
    user_key      String,
    customer_key  String,
    ts            DateTime('UTC')
) ENGINE = ReplacingMergeTree(ts)
ORDER BY (user_key, customer_key)
;
CREATE TABLE IF NOT EXISTS attribution_results (
    run_id           String,
    receipt_id       String,
    receipt_version  Int64,
    line_no          UInt32,
    customer_key     String,
    exposure_id      UUID,
    exposure_kind    LowCardinality(String),
    advertiser_id    UUID,
    campaign_id      UUID,
    line_item_id     UUID,
    credit_ppm       UInt32,
    attributed_micros Int64,
    ts               DateTime('UTC')
) ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMMDD(ts)
ORDER BY (run_id, receipt_id, receipt_version, line_no, exposure_id)
;
