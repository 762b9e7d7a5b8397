"""DuckDB's answer to `attribution-job run` (last touch, SKU scope, 14-day click and 7-day
view windows, identity map, each advertiser alone) on the same CSV files, for the
attribution benchmark. Prints per-campaign totals as CSV and the wall time on stderr.

    python3 load-tests/attribution_bench.py DATA_DIR > duckdb_by_campaign.csv
"""
import sys
import time

import duckdb

d = sys.argv[1]
start = time.perf_counter()
con = duckdb.connect()
rows = con.execute(
    f"""
    WITH e AS (
        SELECT x.*, coalesce(i.customer_key, x.user_key) AS customer
        FROM read_csv_auto('{d}/exposures.csv', all_varchar = true) x
        LEFT JOIN read_csv_auto('{d}/identity.csv', all_varchar = true) i USING (user_key)
    ),
    r AS (
        SELECT row_number() OVER () AS line_id, *
        FROM read_csv_auto('{d}/receipts.csv', all_varchar = true)
    ),
    elig AS (
        SELECT r.line_id, r.receipt_id, CAST(r.quantity AS BIGINT) AS quantity,
               CAST(r.amount_micros AS BIGINT) AS amount_micros,
               e.advertiser_id, e.campaign_id, e.event_id, e.kind, CAST(e.ts AS TIMESTAMP) AS ets
        FROM r JOIN e ON e.customer = r.customer_key
        WHERE list_contains(string_split(e.skus, '|'), r.sku)
          AND CAST(r.ts AS TIMESTAMP) >= CAST(e.ts AS TIMESTAMP)
          AND CAST(r.ts AS TIMESTAMP) - CAST(e.ts AS TIMESTAMP)
              <= CASE WHEN e.kind = 'click' THEN INTERVAL 14 DAY ELSE INTERVAL 7 DAY END
    ),
    ranked AS (
        SELECT *, row_number() OVER (
            PARTITION BY line_id, advertiser_id
            ORDER BY (kind = 'click') DESC, ets DESC, event_id DESC) AS rn
        FROM elig
    )
    SELECT campaign_id, count(DISTINCT receipt_id), sum(quantity), sum(amount_micros)
    FROM ranked WHERE rn = 1 GROUP BY campaign_id ORDER BY campaign_id
    """
).fetchall()
took = time.perf_counter() - start
print("campaign_id,attributed_orders,attributed_units,attributed_sales")
for c, orders, units, sales in rows:
    print(f"{c},{orders},{units / 1:.6f},{sales / 1e6:.6f}")
print(f"duckdb: {took:.2f} s", file=sys.stderr)
