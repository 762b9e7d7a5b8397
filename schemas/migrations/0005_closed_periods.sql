-- Endcap campaign store, version 5: month-end close. One row per closed accounting month
-- (YYYY-MM in the retailer's time zone) with the delivery figures frozen at close, as JSON
-- cells (day, advertiser, campaign, line item, ad channel, counts and nano-unit sums).
-- Reports show a closed month from this snapshot; what the ledger gains for it later is
-- posted to the next open month as itemised adjustments. Rows are never updated.
CREATE TABLE closed_periods (
    period     TEXT PRIMARY KEY,
    closed_at  BIGINT NOT NULL,
    closed_by  TEXT NOT NULL,
    cells      TEXT NOT NULL
);
