-- Keyword bids, placement multipliers and the search-term report: each decision-log row
-- carries the shopper's search text (normalized: lower case, single spaces), the line
-- item's keyword that matched it and how, and the placement's bid multiplier (basis points,
-- 10,000 = x1; bid_micros is the bid after it). Rows written before keep the defaults.
ALTER TABLE decisions ADD COLUMN query String DEFAULT ''
;
ALTER TABLE decisions ADD COLUMN matched_keyword String DEFAULT ''
;
ALTER TABLE decisions ADD COLUMN match_type LowCardinality(String) DEFAULT ''
;
ALTER TABLE decisions ADD COLUMN bid_multiplier_bps UInt32 DEFAULT 10000
;
