#!/usr/bin/env bash
# wrk benchmark of the ad server against an actix-web hello world, in one run on this machine.
#
#   load-tests/wrk.sh [SECONDS] [files|clickhouse]     # default 15 s per row, file event log
#
# Seeds 1,000 active line items (50 candidates for a `search-top` x3 request with keyword
# `milk`, 30 for a 300x250 OpenRTB banner; every campaign holds out 10% of users, so ghosts
# are logged at decision time), starts the release ad server and the hello world with one
# worker each, and drives each with wrk (1 thread) at 4 and 32 connections. Every decision
# writes the decision log. Each request carries one of 2,000 random user keys. Prints one
# Markdown row per run: req/s, p50, p99, max.
set -euo pipefail
cd "$(dirname "$0")/.."
SECS="${1:-15}"
SINK="${2:-files}"
CACHE_DIR="${ENDCAP_CACHE_DIR:-$HOME/.cache/endcap}"
OUT="${OUT:-/tmp/endcap-wrk}"
rm -rf "$OUT" && mkdir -p "$OUT"
command -v wrk >/dev/null || { echo "wrk is needed: apt-get install wrk" >&2; exit 2; }

CARGO_TARGET_DIR="$CACHE_DIR/target" cargo build --release --locked -p ad-server >&2
(cd load-tests && CARGO_TARGET_DIR="$CACHE_DIR/target-load" cargo build --release --bin seed --bin hello >&2)
SERVER="$CACHE_DIR/target/release/ad-server"
BIN="$CACHE_DIR/target-load/release"
"$BIN/seed" "sqlite://$OUT/bench.db" 1000 50 10 >&2

pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; }
trap cleanup EXIT

"$BIN/hello" 127.0.0.1:18090 & pids+=($!)
EVENTS=(--event-dir "$OUT/events")
if [ "$SINK" = clickhouse ]; then
  EVENTS=(--clickhouse "${ENDCAP_TEST_CLICKHOUSE_URL:-http://127.0.0.1:8123}?database=endcap_wrk_$$")
fi
ENDCAP_SIGNING_KEYS="k1:load-test-signing-secret" ENDCAP_WORKERS=1 ENDCAP_OPEN_ENDPOINTS=true \
  RUST_LOG=warn "$SERVER" --listen 127.0.0.1:18091 --database "sqlite://$OUT/bench.db" \
  --spool-dir "$OUT/spool" "${EVENTS[@]}" & pids+=($!)
AD_PID=$!
for _ in $(seq 1 100); do curl -sf http://127.0.0.1:18091/readyz >/dev/null && break; sleep 0.1; done

. load-tests/wrk-lib.sh
write_scripts "$OUT"

echo "| endpoint | connections | req/s | p50 ms | p99 ms | max ms |"
echo "|---|---|---|---|---|---|"
# Warm-up: fills the segment and cap caches the way a running server has them.
wrk -t1 -c4 -d3s -s "$OUT/decisions.lua" http://127.0.0.1:18091 >/dev/null 2>&1
for c in 4 32; do
  run hello http://127.0.0.1:18090/ "$c"
  run decisions http://127.0.0.1:18091 "$c" "$OUT/decisions.lua"
  run openrtb http://127.0.0.1:18091 "$c" "$OUT/openrtb.lua"
done
echo
echo "ad-server RSS: $(awk '/VmRSS/ {print $2}' "/proc/$AD_PID/status") kB; sink counters:"
curl -s http://127.0.0.1:18091/metrics | grep -E '^endcap_events_(written|spooled|dropped|queued|overflowed)' || true
