#!/usr/bin/env bash
# Memory of the ad server with 100,000 line items and 1,000,000 cached users.
#
#   load-tests/rss.sh
#
# Seeds 100k line items, puts 1M users in a Redis segment (database 15, flushed after),
# starts the release ad-server with a long segment-cache TTL, sends one decision per user
# (1M requests, 32 goose users) so each user's segments are cached, and reads VmRSS
# before and after.
set -euo pipefail
cd "$(dirname "$0")/.."
CACHE_DIR="${ENDCAP_CACHE_DIR:-$HOME/.cache/endcap}"
OUT="${OUT:-/tmp/endcap-rss}"
USERS_TOTAL=1000000
REDIS_DB=15
# Seeding 100k line items takes minutes; an existing seed is reused unless FRESH=1.
[ "${FRESH:-0}" = 1 ] && rm -rf "$OUT"
mkdir -p "$OUT"
CARGO_TARGET_DIR="$CACHE_DIR/target" cargo build --release --locked -p ad-server
(cd load-tests && CARGO_TARGET_DIR="$CACHE_DIR/target-load" cargo build --release)
SERVER="$CACHE_DIR/target/release/ad-server"
BIN="$CACHE_DIR/target-load/release"

[ -f "$OUT/rss.db" ] || time "$BIN/seed" "sqlite://$OUT/rss.db" 100000 50
rm -rf "$OUT/events"
redis-cli -n "$REDIS_DB" flushdb >/dev/null
awk -v n="$USERS_TOTAL" 'BEGIN { for (i = 0; i < n; i++) printf "SADD seg:u:%064x rss-segment\r\n", i }' |
  redis-cli -n "$REDIS_DB" --pipe >/dev/null

ENDCAP_SIGNING_KEYS="k1:load-test-signing-secret" ENDCAP_WORKERS=1 ENDCAP_OPEN_ENDPOINTS=true RUST_LOG=warn \
ENDCAP_SEGMENT_CACHE_TTL_SECS=3600 ENDCAP_INDEX_REFRESH_SECS=3600 \
  "$SERVER" --listen 127.0.0.1:18092 --database "sqlite://$OUT/rss.db" --event-dir "$OUT/events" \
  --redis "redis://127.0.0.1:6379/$REDIS_DB" &
AD_PID=$!
trap 'kill $AD_PID 2>/dev/null || true; redis-cli -n '"$REDIS_DB"' flushdb >/dev/null' EXIT
for _ in $(seq 1 600); do curl -sf http://127.0.0.1:18092/readyz >/dev/null && break; sleep 0.1; done
RSS_START=$(awk '/VmRSS/ {print $2}' "/proc/$AD_PID/status")

ENDCAP_LOAD_USERS=$USERS_TOTAL "$BIN/attack" --host http://127.0.0.1:18092 --scenarios Decisions \
  --users 32 --increase-rate 32 --iterations $((USERS_TOTAL / 32)) >"$OUT/attack.txt" 2>&1
RSS_END=$(awk '/VmRSS/ {print $2}' "/proc/$AD_PID/status")
HWM=$(awk '/VmHWM/ {print $2}' "/proc/$AD_PID/status")
awk '/PER REQUEST METRICS/{f=1} f && /^ POST /' "$OUT/attack.txt" | head -3
echo "line items: 100000; distinct users decided: $USERS_TOTAL"
echo "ad-server RSS after start (index built): $RSS_START kB"
echo "ad-server RSS after 1M users cached:     $RSS_END kB (peak $HWM kB)"
