-- Endcap campaign store, version 3: indexes that make the ad server's change check
-- (row count and latest updated_at per table, every few seconds) an index lookup instead
-- of a scan over every stored document.
CREATE INDEX campaigns_by_updated ON campaigns (updated_at);
CREATE INDEX line_items_by_updated ON line_items (updated_at);
CREATE INDEX creatives_by_updated ON creatives (updated_at);
