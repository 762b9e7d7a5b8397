"""Loads the attribution benchmark's CSV files (from the simulator's `attribution_csv`
example) into a ClickHouse database as the event log holds them, so `attribution-job run
--clickhouse` can be timed on the same data as the file path and DuckDB.

    target/release/attribution-job lift --clickhouse URL --database sqlite://X.db  # schema
    python3 load-tests/attribution_clickhouse_load.py DATA_DIR 'http://127.0.0.1:8123/?database=bench'
"""
import csv
import sys
import urllib.error
import urllib.parse
import urllib.request
from datetime import datetime, timezone

d, url = sys.argv[1], sys.argv[2]
sep = "&" if "?" in url else "?"


def post(sql, body):
    req = urllib.request.Request(
        f"{url}{sep}query=" + urllib.parse.quote(sql), data=body.encode(), method="POST"
    )
    try:
        urllib.request.urlopen(req).read()
    except urllib.error.HTTPError as e:
        sys.exit(f"{sql[:60]}...: {e.read().decode()[:300]}")


def ms(ts):
    return int(datetime.fromisoformat(ts.replace("Z", "+00:00")).astimezone(timezone.utc).timestamp() * 1000)


def tsv(v):
    return str(v).replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")


catalog = {r["sku"]: (r["brand"], r["category"]) for r in csv.DictReader(open(f"{d}/catalog.csv"))}

rows = {"impression": [], "click": []}
for r in csv.DictReader(open(f"{d}/exposures.csv")):
    t = ms(r["ts"])
    skus = "[" + ",".join("'" + s.replace("'", "\\'") + "'" for s in r["skus"].split("|") if s) + "]"
    rows[r["kind"]].append(
        "\t".join(map(tsv, [r["event_id"], r["event_id"], t // 1000, t, t // 1000, r["user_key"],
                            r["advertiser_id"], r["campaign_id"], r["line_item_id"], "onsite"]))
        + "\t" + skus
    )
cols = "event_id, decision_id, ts, ts_ms, decision_ts, user_key, advertiser_id, campaign_id, line_item_id, channel, promoted_skus"
for kind, table in (("impression", "impressions"), ("click", "clicks")):
    post(f"INSERT INTO {table} ({cols}) FORMAT TabSeparated", "\n".join(rows[kind]) + "\n")

lines, headers, counts = [], {}, {}
for r in csv.DictReader(open(f"{d}/receipts.csv")):
    key = (r["receipt_id"], r.get("version") or "1")
    n = counts.get(key, 0)
    counts[key] = n + 1
    t = ms(r["ts"])
    brand, category = catalog.get(r["sku"], ("", ""))
    channel = r.get("channel") or "in_store"
    lines.append("\t".join(map(tsv, [key[0], key[1], n, r["customer_key"], r["store_id"], channel,
                                     t // 1000, t, r["sku"], brand, category, r["quantity"],
                                     r["amount_micros"]])))
    headers[key] = (r["customer_key"], r["store_id"], channel, t)
post("INSERT INTO receipts (receipt_id, version, line_no, customer_key, store_id, channel, ts, ts_ms, "
     "sku, brand, category, quantity, amount_micros) FORMAT TabSeparated", "\n".join(lines) + "\n")
heads = ["\t".join(map(tsv, [k[0], k[1], counts[k], h[0], h[1], h[2], h[3] // 1000, h[3]]))
         for k, h in headers.items()]
post("INSERT INTO receipt_headers (receipt_id, version, line_count, customer_key, store_id, channel, ts, ts_ms) "
     "FORMAT TabSeparated", "\n".join(heads) + "\n")
ids = [f"{tsv(r['user_key'])}\t{tsv(r['customer_key'])}\t2026-01-01 00:00:00" for r in csv.DictReader(open(f"{d}/identity.csv"))]
post("INSERT INTO identity_map (user_key, customer_key, ts) FORMAT TabSeparated", "\n".join(ids) + "\n")
print(f"{len(rows['impression'])} impressions, {len(rows['click'])} clicks, {len(lines)} receipt lines, "
      f"{len(headers)} receipts, {len(ids)} identity links", file=sys.stderr)
