#!/usr/bin/env bash
# Decisions while Redis dies and comes back, against an actix-web hello world in the same run.
#
#   load-tests/redis_outage.sh [SECONDS] [CONNECTIONS]     # default 10 s per phase, 4 conns
#
# Starts a private redis-server (its own port, nothing saved), the release ad server with
# --redis on it (segments, caps, spend and dedup all use it) and the hello world, then drives
# /v1/decisions with wrk in three phases: Redis up, Redis killed (the circuit breaker should
# make requests fail fast instead of waiting out a timeout each), Redis started again. Prints
# one Markdown row per phase: req/s, p50, p99, max, and the breaker's counters.
set -euo pipefail
cd "$(dirname "$0")/.."
SECS="${1:-10}"
CONNS="${2:-4}"
CACHE_DIR="${ENDCAP_CACHE_DIR:-$HOME/.cache/endcap}"
OUT="${OUT:-/tmp/endcap-redis-outage}"
rm -rf "$OUT" && mkdir -p "$OUT"
command -v wrk >/dev/null || { echo "wrk is needed: apt-get install wrk" >&2; exit 2; }
command -v redis-server >/dev/null || { echo "redis-server is needed" >&2; exit 2; }
. load-tests/wrk-lib.sh

CARGO_TARGET_DIR="$CACHE_DIR/target" cargo build --release --locked -p ad-server >&2
(cd load-tests && CARGO_TARGET_DIR="$CACHE_DIR/target-load" cargo build --release --bin seed --bin hello >&2)
SERVER="$CACHE_DIR/target/release/ad-server"
BIN="$CACHE_DIR/target-load/release"
"$BIN/seed" "sqlite://$OUT/bench.db" 1000 50 10 >&2
write_scripts "$OUT"

PORT=16399
pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; redis-cli -p "$PORT" shutdown nosave >/dev/null 2>&1 || true; }
trap cleanup EXIT
start_redis() { redis-server --port "$PORT" --save '' --appendonly no >/dev/null & }
start_redis
for _ in $(seq 1 50); do redis-cli -p "$PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done

"$BIN/hello" 127.0.0.1:18090 & pids+=($!)
ENDCAP_SIGNING_KEYS="k1:load-test-signing-secret" ENDCAP_WORKERS=1 ENDCAP_OPEN_ENDPOINTS=true \
  RUST_LOG=warn "$SERVER" --listen 127.0.0.1:18091 --database "sqlite://$OUT/bench.db" \
  --redis "redis://127.0.0.1:$PORT/0" --spool-dir "$OUT/spool" --event-dir "$OUT/events" \
  2>"$OUT/ad-server.log" & pids+=($!)
for _ in $(seq 1 100); do curl -sf http://127.0.0.1:18091/readyz >/dev/null && break; sleep 0.1; done

breaker() { curl -s http://127.0.0.1:18091/metrics | awk '/^endcap_redis_circuit/ {printf "%s=%s ", $1, $2}'; }
echo "| phase | connections | req/s | p50 ms | p99 ms | max ms |"
echo "|---|---|---|---|---|---|"
wrk -t1 -c"$CONNS" -d3s -s "$OUT/decisions.lua" http://127.0.0.1:18091 >/dev/null 2>&1
run hello http://127.0.0.1:18090/ "$CONNS"
run redis-up http://127.0.0.1:18091 "$CONNS" "$OUT/decisions.lua"
redis-cli -p "$PORT" shutdown nosave >/dev/null 2>&1 || true
run redis-down http://127.0.0.1:18091 "$CONNS" "$OUT/decisions.lua"
echo "breaker while down: $(breaker)" >&2
start_redis
sleep 1
run redis-back http://127.0.0.1:18091 "$CONNS" "$OUT/decisions.lua"
echo
echo "breaker after: $(breaker)"
