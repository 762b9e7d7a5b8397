-- Endcap campaign store, version 10: per-store availability of SKUs for inventory-aware
-- serving. Only stock-outs are kept (unknown availability means in stock): an upload line
-- with in_stock false writes a row, one with in_stock true removes it. SKUs are stored in
-- ASCII lower case, as targeting compares them.
CREATE TABLE stock_outs (
    sku        TEXT NOT NULL,
    store_id   TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (sku, store_id)
);
