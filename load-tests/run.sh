#!/usr/bin/env bash
# Load test of the ad server against an actix-web hello world, in one run on one machine.
#
#   load-tests/run.sh [SECONDS]        # default 20 s per measurement
#
# Seeds a SQLite campaign store with 1,000 active line items (50 of them candidates for
# the decision request), starts the release ad-server with 1 worker (as the hello world),
# and drives each with goose: hello world, decisions and OpenRTB at full speed, then
# decisions throttled to 70% of their peak for the p99. Raw goose reports land in
# $OUT (default /tmp/endcap-load); the summary is printed at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
SECS="${1:-20}"
CACHE_DIR="${ENDCAP_CACHE_DIR:-$HOME/.cache/endcap}"
OUT="${OUT:-/tmp/endcap-load}"
USERS="${USERS:-32}"
rm -rf "$OUT" && mkdir -p "$OUT"

CARGO_TARGET_DIR="$CACHE_DIR/target" cargo build --release --locked -p ad-server
(cd load-tests && CARGO_TARGET_DIR="$CACHE_DIR/target-load" cargo build --release)
SERVER="$CACHE_DIR/target/release/ad-server"
BIN="$CACHE_DIR/target-load/release"

"$BIN/seed" "sqlite://$OUT/bench.db" 1000 50

pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; }
trap cleanup EXIT

attack() { # attack NAME HOST SCENARIO [extra goose flags...]
  local name=$1 host=$2 scenario=$3; shift 3
  "$BIN/attack" --host "$host" --scenarios "$scenario" --users "$USERS" --increase-rate "$USERS" \
    --run-time "${SECS}s" --no-reset-metrics --report-file "$OUT/$name.html" "$@" >"$OUT/$name.txt" 2>&1
}

"$BIN/hello" 127.0.0.1:18090 & pids+=($!)
sleep 1
attack hello http://127.0.0.1:18090 Hello

ENDCAP_SIGNING_KEYS="k1:load-test-signing-secret" ENDCAP_WORKERS=1 ENDCAP_OPEN_ENDPOINTS=true RUST_LOG=warn \
  "$SERVER" --listen 127.0.0.1:18091 --database "sqlite://$OUT/bench.db" --event-dir "$OUT/events" &
AD_PID=$!
pids+=($AD_PID)
for _ in $(seq 1 100); do curl -sf http://127.0.0.1:18091/readyz >/dev/null && break; sleep 0.1; done

attack decisions http://127.0.0.1:18091 Decisions
attack openrtb http://127.0.0.1:18091 Openrtb

# Requests per second and the percentile row of a goose report.
rps() { awk '/PER REQUEST METRICS/{f=1} f && /^ (GET|POST) /{split($0,a,"|"); gsub(/[ ,]/,"",a[4]); print a[4]; exit}' "$OUT/$1.txt"; }
pct() { awk '/Slowest page load/{f=1} f && /^ (GET|POST) /{print; exit}' "$OUT/$1.txt"; }
PEAK=$(rps decisions)
THROTTLE=$(awk -v p="$PEAK" 'BEGIN { printf "%d", p * 0.7 }')
attack decisions-70pct http://127.0.0.1:18091 Decisions --throttle-requests "$THROTTLE"
# The same rate from 8 concurrent users: goose is a closed-loop generator, and 32 users
# released together by the throttle arrive as bursts that queue behind the one worker.
USERS=8 attack decisions-70pct-8u http://127.0.0.1:18091 Decisions --throttle-requests "$THROTTLE"
RSS_KB=$(awk '/VmRSS/ {print $2}' "/proc/$AD_PID/status")

echo "== summary: $SECS s each, $USERS goose users; server and load generator share 2 cores"
echo "                  req/s   | latency ms: 50% | 75% | 98% | 99% | 99.9% | 99.99%"
for n in hello decisions openrtb decisions-70pct decisions-70pct-8u; do
  printf '%-16s %8s   %s\n' "$n" "$(rps "$n")" "$(pct "$n" | cut -d'|' -f2-)"
done
echo "decisions / hello: $(awk -v d="$(rps decisions)" -v h="$(rps hello)" 'BEGIN { printf "%.3f", d / h }')"
echo "throttle for the 70% run: $THROTTLE req/s"
echo "ad-server RSS after the runs: $RSS_KB kB"
