-- Endcap event log, version 5: custom events of placed ads (add to cart, view-through, or any
-- name of the ad server's ENDCAP_CUSTOM_EVENTS), from their signed URLs. Logged, never
-- charged. Runs on ClickHouse 18.16 and current releases (see 0001).
--
-- One row per decision and event name: event_id is derived from both (UUIDv5 of the name in
-- the decision id's namespace), so a replayed URL collapses on the ReplacingMergeTree key.
-- Partitioned by the decision time like the ad tables (a late event lands in its decision's
-- partition); kept 400 days like impressions and clicks (the retention job).
-- Statements are separated by a line holding only ';'.

CREATE TABLE IF NOT EXISTS custom_events (
    event_id       UUID,
    decision_id    UUID,
    name           LowCardinality(String),
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
    sku            String
) ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMMDD(decision_ts)
ORDER BY (user_key, event_id)
;
