#!/usr/bin/env bash
# Issue 12's benchmark: decisions and OpenRTB bids against an actix-web hello world with the
# same number of workers, in one run, measured with wrk (1 thread; the load generator is
# not the bottleneck: the hello world shows what it can drive).
#
#   load-tests/throughput.sh [SECONDS]          # default 10 s per row
#
# Environment:
#   LINE_ITEMS   active line items seeded (default 1000)
#   CANDIDATES   of them candidates for the `search-top` x3 decision (default 50)
#   OTHERS       more line items on `search-top` with keywords the search does not match
#                (default 0): what the keyword index spares
#   WORKERS      workers of the ad server and of the hello world (default 1)
#   MODEL_DIR    a CTR artifact to serve with (load-tests/ctr_model.sh makes one); the prior
#                when unset
#   SERVER       the ad-server binary (default: the release build, built here)
#   CONNS        connection counts to run (default "4 32")
#   SINK         files (default) or clickhouse (ENDCAP_TEST_CLICKHOUSE_URL, a fresh database)
#
# Every campaign holds out 10% of users (ghosts logged at decision time), every decision
# writes the decision log (files), each request carries one of 2,000 random user keys.
# Prints one Markdown row per run: req/s, p50, p99, max, and the ratio to the hello world
# of the same connection count; then the ad server's RSS and sink counters.
set -euo pipefail
cd "$(dirname "$0")/.."
SECS="${1:-10}"
LINE_ITEMS="${LINE_ITEMS:-1000}"
CANDIDATES="${CANDIDATES:-50}"
WORKERS="${WORKERS:-1}"
CONNS="${CONNS:-4 32}"
CACHE_DIR="${ENDCAP_CACHE_DIR:-$HOME/.cache/endcap}"
OUT="${OUT:-/tmp/endcap-throughput}"
rm -rf "$OUT" && mkdir -p "$OUT"
command -v wrk >/dev/null || { echo "wrk is needed: apt-get install wrk" >&2; exit 2; }

if [ -z "${SERVER:-}" ]; then
  CARGO_TARGET_DIR="$CACHE_DIR/target" cargo build --release --locked -p ad-server >&2
  SERVER="$CACHE_DIR/target/release/ad-server"
fi
(cd load-tests && CARGO_TARGET_DIR="$CACHE_DIR/target-load" cargo build --release --bin seed --bin hello >&2)
BIN="$CACHE_DIR/target-load/release"
"$BIN/seed" "sqlite://$OUT/bench.db" "$LINE_ITEMS" "$CANDIDATES" 10 "${OTHERS:-0}" >&2

pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; }
trap cleanup EXIT

"$BIN/hello" 127.0.0.1:18090 "$WORKERS" & pids+=($!)
MODEL=()
[ -n "${MODEL_DIR:-}" ] && MODEL=(--model-dir "$MODEL_DIR")
EVENTS=(--event-dir "$OUT/events")
if [ "${SINK:-files}" = clickhouse ]; then
  EVENTS=(--clickhouse "${ENDCAP_TEST_CLICKHOUSE_URL:-http://127.0.0.1:8123}?database=endcap_wrk_$$")
fi
ENDCAP_SIGNING_KEYS="k1:load-test-signing-secret" ENDCAP_WORKERS="$WORKERS" ENDCAP_OPEN_ENDPOINTS=true \
  RUST_LOG=warn "$SERVER" --listen 127.0.0.1:18091 --database "sqlite://$OUT/bench.db" \
  --spool-dir "$OUT/spool" "${EVENTS[@]}" "${MODEL[@]}" & pids+=($!)
AD_PID=$!
for _ in $(seq 1 200); do curl -sf http://127.0.0.1:18091/readyz >/dev/null && break; sleep 0.1; done
curl -sf http://127.0.0.1:18091/readyz >/dev/null || { echo "the ad server did not start" >&2; exit 1; }

. load-tests/wrk-lib.sh
write_scripts "$OUT"

echo "line items $LINE_ITEMS, candidates $CANDIDATES, others on the placement ${OTHERS:-0}, workers $WORKERS, model ${MODEL_DIR:-prior}, events ${SINK:-files}"
echo
echo "| endpoint | connections | req/s | p50 ms | p99 ms | max ms | x hello |"
echo "|---|---|---|---|---|---|---|"
# Warm-up: fills the identity, segment, cap and score caches the way a running server has them.
wrk -t1 -c4 -d3s -s "$OUT/decisions.lua" http://127.0.0.1:18091 >/dev/null 2>&1
wrk -t1 -c4 -d2s -s "$OUT/openrtb.lua" http://127.0.0.1:18091 >/dev/null 2>&1
for c in $CONNS; do
  hello=$(run hello http://127.0.0.1:18090/ "$c")
  echo "$hello |"
  h=$(echo "$hello" | awk -F'|' '{gsub(/ /, "", $4); print $4}')
  for e in decisions openrtb; do
    row=$(run "$e" http://127.0.0.1:18091 "$c" "$OUT/$e.lua")
    r=$(echo "$row" | awk -F'|' '{gsub(/ /, "", $4); print $4}')
    echo "$row $(awk -v r="$r" -v h="$h" 'BEGIN { if (h > 0) printf "%.3f", r / h }') |"
  done
done
echo
echo "ad-server RSS: $(awk '/VmRSS/ {print $2}' "/proc/$AD_PID/status") kB; sink counters:"
curl -s http://127.0.0.1:18091/metrics | grep -E '^endcap_events_(written|spooled|dropped|overflowed)' || true
