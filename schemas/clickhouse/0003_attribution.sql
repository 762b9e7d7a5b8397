-- Endcap event log, version 3: current receipts and attribution results that reruns replace.
-- Runs on ClickHouse 18.16 and current releases (see 0001).
--
-- receipt_headers: one row per (receipt, version) with its line count; a version with no
-- lines voids the receipt. Written after the version's lines, so a header never names lines
-- that are not there yet. Backfilled here from the lines already stored.
--
-- receipts_current: only the highest version of each receipt, voided receipts removed.
-- `receipts` keeps every version's lines, so a plain sum over it counts a corrected receipt
-- twice; everything that sums sales reads this view.
--
-- attribution_credits: one row per (receipt line, model, exposure credited), written by
-- `attribution-job run --clickhouse`, with the run's time in ms as the version. A run also
-- writes a zero-weight marker (exposure_id all zeros) for each line an earlier run credited
-- and this one does not. attribution_current keeps, per (receipt line, receipt version,
-- model), only the rows of the latest run and only for the receipt's current version: an
-- overlapping daily run or a rerun replaces a line's results instead of adding to them.
--
-- attribution_runs: one row per run (and shard), for freshness ("complete through").
--
-- campaign_lift: each campaign's incrementality over its flight from its holdout, written
-- by `attribution-job lift` (the latest computation of a campaign wins; NaN where a figure
-- does not exist or is suppressed).
--
-- charges gains the ad channel (onsite/offsite) of what was charged, so delivery reports
-- split spend by channel without joining the decision log; older rows read ''.
-- Statements are separated by a line holding only ';'.

CREATE TABLE IF NOT EXISTS receipt_headers (
    receipt_id    String,
    version       Int64,
    line_count    UInt32,
    customer_key  String,
    store_id      String,
    channel       LowCardinality(String),
    ts            DateTime('UTC'),
    ts_ms         UInt64
) ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMM(ts)
ORDER BY (receipt_id, version)
;
INSERT INTO receipt_headers
SELECT receipt_id, version, toUInt32(count()), any(customer_key), any(store_id), any(channel), any(ts), any(ts_ms)
FROM receipts FINAL
GROUP BY receipt_id, version
;
CREATE VIEW IF NOT EXISTS receipts_current AS
SELECT receipt_id, version, line_no, customer_key, store_id, channel, ts, ts_ms, sku, brand,
       category, quantity, amount_micros
FROM receipts FINAL
ANY INNER JOIN (
    SELECT receipt_id, v AS version
    FROM (
        SELECT receipt_id, max(version) AS v, argMax(line_count, version) AS lc
        FROM receipt_headers FINAL
        GROUP BY receipt_id
    )
    WHERE lc > 0
) USING (receipt_id, version)
;
CREATE TABLE IF NOT EXISTS attribution_credits (
    run_id                  String,
    run_at_ms               UInt64,
    model                   LowCardinality(String),
    settings_version        String,
    receipt_id              String,
    receipt_version         Int64,
    line_no                 UInt32,
    customer_key            String,
    store_id                String,
    sales_channel           LowCardinality(String),
    purchase_ts             DateTime('UTC'),
    purchase_ts_ms          UInt64,
    purchase_date           Date,
    sku                     String,
    brand                   String,
    category                String,
    line_quantity           Int32,
    line_amount_micros      Int64,
    exposure_id             UUID,
    exposure_kind           LowCardinality(String),
    exposure_ts_ms          UInt64,
    ad_channel              LowCardinality(String),
    advertiser_id           UUID,
    campaign_id             UUID,
    line_item_id            UUID,
    weight                  Float64,
    attributed_micros       Int64,
    attributed_units_micros Int64,
    direct                  UInt8,
    new_to_brand            UInt8,
    ntb_lookback_days       UInt16,
    lag_secs                Int64,
    scope                   LowCardinality(String),
    window_days             UInt16
) ENGINE = ReplacingMergeTree(run_at_ms)
PARTITION BY toYYYYMM(purchase_ts)
ORDER BY (receipt_id, receipt_version, line_no, model, exposure_id)
;
CREATE VIEW IF NOT EXISTS attribution_current AS
SELECT *
FROM attribution_credits
WHERE (receipt_id, receipt_version, line_no, model, run_at_ms) IN (
        SELECT receipt_id, receipt_version, line_no, model, max(run_at_ms)
        FROM attribution_credits
        GROUP BY receipt_id, receipt_version, line_no, model
    )
  AND (receipt_id, receipt_version) IN (
        SELECT receipt_id, v
        FROM (
            SELECT receipt_id, max(version) AS v, argMax(line_count, version) AS lc
            FROM receipt_headers FINAL
            GROUP BY receipt_id
        )
        WHERE lc > 0
    )
  AND weight > 0
;
CREATE TABLE IF NOT EXISTS attribution_runs (
    run_id            String,
    run_at_ms         UInt64,
    model             LowCardinality(String),
    settings_version  String,
    from_ts           DateTime('UTC'),
    to_ts             DateTime('UTC'),
    shard_index       UInt32,
    shard_count       UInt32,
    lines             UInt64,
    credited_lines    UInt64,
    exposures         UInt64
) ENGINE = MergeTree()
ORDER BY (run_at_ms, run_id)
;
ALTER TABLE charges ADD COLUMN channel LowCardinality(String) DEFAULT ''
;
CREATE TABLE IF NOT EXISTS campaign_lift (
    campaign_id                 UUID,
    advertiser_id               UUID,
    computed_at_ms              UInt64,
    flight_from                 DateTime('UTC'),
    flight_to                   DateTime('UTC'),
    scope                       LowCardinality(String),
    holdout_percent             UInt8,
    exposed_customers           UInt64,
    held_out_customers          UInt64,
    contaminated                UInt64,
    exposed_conversion_rate     Float64,
    held_out_conversion_rate    Float64,
    exposed_sales_per_customer  Float64,
    held_out_sales_per_customer Float64,
    sales_lift                  Float64,
    sales_lift_low              Float64,
    sales_lift_high             Float64,
    relative_lift               Float64,
    incremental_sales           Float64,
    incremental_low             Float64,
    incremental_high            Float64,
    iroas                       Float64,
    iroas_low                   Float64,
    iroas_high                  Float64,
    spend_micros                Int64,
    suppressed                  UInt8,
    sample_ratio_mismatch       UInt8
) ENGINE = ReplacingMergeTree(computed_at_ms)
ORDER BY campaign_id
;
