#!/usr/bin/env bash
# The main job on embedded defaults: builds the services and runs them against local files
# (SQLite for the campaign store), with a seeded demo advertiser. Ctrl-C stops it.
#
#   ./scripts/demo.sh                 # campaign API on http://127.0.0.1:8080
#   ENDCAP_DEMO_PORT=9000 ./scripts/demo.sh
set -euo pipefail
cd "$(dirname "$0")/.."

DATA_DIR="${ENDCAP_DEMO_DIR:-$PWD/.endcap-demo}"
PORT="${ENDCAP_DEMO_PORT:-8080}"
mkdir -p "$DATA_DIR"
export ENDCAP_ADMIN_KEY="${ENDCAP_ADMIN_KEY:-demo-admin-key-change-me}"
export ENDCAP_DEMO_ADVERTISER_KEY="${ENDCAP_DEMO_ADVERTISER_KEY:-demo-advertiser-key-0001}"
export RUST_LOG="${RUST_LOG:-info}"

cargo build --release --locked -p campaign-api
BIN_DIR="${CARGO_TARGET_DIR:-target}/release"

cat >&2 <<MSG
Endcap demo
  campaign API   http://127.0.0.1:$PORT   (OpenAPI: /openapi.json)
  admin key      $ENDCAP_ADMIN_KEY
  advertiser key $ENDCAP_DEMO_ADVERTISER_KEY   (advertiser "Demo Brand", USD)
  data           $DATA_DIR
MSG

exec "$BIN_DIR/campaign-api" \
  --listen "127.0.0.1:$PORT" \
  --database "sqlite://$DATA_DIR/endcap.db" \
  --event-dir "$DATA_DIR/events" \
  --seed-demo
