#!/usr/bin/env bash
# The main job on embedded defaults: builds the services and runs them against local files
# (SQLite for the campaign store, NDJSON files for the event log, in-process segments), with
# a seeded demo advertiser. Ctrl-C stops everything.
#
#   ./scripts/demo.sh                 # campaign API on :8080, ad server on :8081
#   ENDCAP_DEMO_PORT=9000 ./scripts/demo.sh   # campaign API on :9000, ad server on :9001
set -euo pipefail
cd "$(dirname "$0")/.."

DATA_DIR="${ENDCAP_DEMO_DIR:-$PWD/.endcap-demo}"
PORT="${ENDCAP_DEMO_PORT:-8080}"
AD_PORT=$((PORT + 1))
mkdir -p "$DATA_DIR"
export ENDCAP_ADMIN_KEY="${ENDCAP_ADMIN_KEY:-demo-admin-key-change-me}"
export ENDCAP_DEMO_ADVERTISER_KEY="${ENDCAP_DEMO_ADVERTISER_KEY:-demo-advertiser-key-0001}"
export ENDCAP_SIGNING_KEYS="${ENDCAP_SIGNING_KEYS:-demo1:demo-signing-secret-change-me}"
export ENDCAP_CUSTOMER_KEY_SALT="${ENDCAP_CUSTOMER_KEY_SALT:-demo-salt-change-me-0001}"
export RUST_LOG="${RUST_LOG:-info}"

cargo build --release --locked -p campaign-api -p ad-server -p endcap-ingest-cli
BIN_DIR="${CARGO_TARGET_DIR:-target}/release"

"$BIN_DIR/campaign-api" \
  --listen "127.0.0.1:$PORT" \
  --database "sqlite://$DATA_DIR/endcap.db" \
  --event-dir "$DATA_DIR/events" \
  --seed-demo --demo &
API_PID=$!
trap 'kill $API_PID ${AD_PID:-} 2>/dev/null || true' EXIT INT TERM
# The ad server opens the same store once the API has created it.
for _ in $(seq 1 100); do
  curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null 2>&1 && break
  sleep 0.1
done
# The demo's ad endpoints answer callers without a key; production sets ENDCAP_SITE_KEYS
# and ENDCAP_EXCHANGES instead.
ENDCAP_OPEN_ENDPOINTS=true "$BIN_DIR/ad-server" \
  --listen "127.0.0.1:$AD_PORT" \
  --database "sqlite://$DATA_DIR/endcap.db" \
  --event-dir "$DATA_DIR/events" --demo &
AD_PID=$!

cat >&2 <<MSG

Endcap demo
  campaign API   http://127.0.0.1:$PORT   (OpenAPI: /openapi.json)
  ad server      http://127.0.0.1:$AD_PORT   (decisions: /v1/decisions, OpenRTB: /openrtb2/bid)
  admin key      $ENDCAP_ADMIN_KEY
  advertiser key $ENDCAP_DEMO_ADVERTISER_KEY   (advertiser "Demo Brand", USD)
  events         $DATA_DIR/events/*.ndjson
  bulk upload    $BIN_DIR/endcap-ingest --api http://127.0.0.1:$PORT --key \$ENDCAP_ADMIN_KEY receipts FILE.csv

MSG
wait
