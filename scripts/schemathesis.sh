#!/usr/bin/env bash
# Contract test of the campaign API against its own OpenAPI document (outside CI):
# builds campaign-api, starts it on a free port over a temporary SQLite file with an admin
# key of its own, runs schemathesis with every check, stops the server, and exits non-zero
# when schemathesis found failures. See TESTING.md.
#
#   scripts/schemathesis.sh [EXTRA SCHEMATHESIS ARGS...]
#
# ENDCAP_SCHEMATHESIS_EXAMPLES (default 25) bounds the test cases per operation and phase;
# ENDCAP_SCHEMATHESIS_SEED (default 1) makes a run repeatable; ENDCAP_SCHEMATHESIS_PYTHON
# names the interpreter of the venv (else the newest python3 found). When ClickHouse answers at
# ENDCAP_TEST_CLICKHOUSE_URL (default http://127.0.0.1:8123) the events and finance reports
# use a database of their own there (dropped at the end); without it the four finance
# operations, which need ClickHouse, are left out. Needs python3 with venv.
set -euo pipefail
cd "$(dirname "$0")/.."

SCHEMATHESIS_VERSION=4.32.5
CACHE="${ENDCAP_CACHE_DIR:-$HOME/.cache/endcap}"
VENV="$CACHE/schemathesis-venv"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$CACHE/target}"

# CPython before 3.11.8 / 3.12.2 can fail hypothesis with "AST constructor recursion depth
# mismatch" (python/cpython#106905) in the middle of a run: take an interpreter without it
# when there is one.
fixed='import sys; v = sys.version_info; sys.exit(not (v >= (3, 12, 2) or (3, 11, 8) <= v < (3, 12)))'
PYTHON=python3
for py in ${ENDCAP_SCHEMATHESIS_PYTHON:-} python3.13 python3.12 python3; do
    if "$py" -c "$fixed" 2>/dev/null; then
        PYTHON="$py"
        break
    fi
done
if ! "$PYTHON" -c "$fixed" 2>/dev/null; then
    echo "warning: $("$PYTHON" --version) has python/cpython#106905; a run may stop on it" >&2
fi
want="$("$PYTHON" -c 'import sys; print(sys.version)')"
if [[ "$("$VENV/bin/schemathesis" --version 2>/dev/null || true)" != *"$SCHEMATHESIS_VERSION"* ]] ||
    [[ "$("$VENV/bin/python" -c 'import sys; print(sys.version)' 2>/dev/null || true)" != "$want" ]]; then
    rm -rf "$VENV"
    "$PYTHON" -m venv "$VENV"
    "$VENV/bin/pip" install --quiet "schemathesis==$SCHEMATHESIS_VERSION"
fi

cargo build --locked -p campaign-api
BIN="$CARGO_TARGET_DIR/debug/campaign-api"
HERE="$PWD/scripts/schemathesis"

WORK="$(mktemp -d)"
SERVER_PID=""
CLICKHOUSE="${ENDCAP_TEST_CLICKHOUSE_URL:-http://127.0.0.1:8123}"
CH_DB=""
cleanup() {
    if [[ -n "$SERVER_PID" ]]; then
        kill "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    if [[ -n "$CH_DB" ]]; then
        curl -s -m 10 "$CLICKHOUSE/" --data-binary "DROP DATABASE IF EXISTS $CH_DB" >/dev/null || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT

EVENTS=(--event-dir "$WORK/events")
SKIP=()
if [[ "$(curl -s -m 3 "$CLICKHOUSE/ping" 2>/dev/null || true)" == Ok.* ]]; then
    CH_DB="endcap_schemathesis_$$"
    EVENTS=(--clickhouse "$CLICKHOUSE?database=$CH_DB")
else
    echo "no ClickHouse at $CLICKHOUSE: the finance reports are left out" >&2
    SKIP=(--exclude-tag reports)
fi

# A key of our own: the demo's published keys are refused without --demo.
ADMIN_KEY="schemathesis-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
ENDCAP_ADMIN_KEY="$ADMIN_KEY" ENDCAP_LOG_FORMAT=text ENDCAP_WORKERS=2 RUST_LOG=warn,campaign_api=info \
    NO_COLOR=1 "$BIN" --listen 127.0.0.1:0 --database "sqlite://$WORK/endcap.db" \
    "${EVENTS[@]}" --spool-dir "$WORK/spool" >"$WORK/server.log" 2>&1 &
SERVER_PID=$!

# Port 0 picks a free port; the service logs the one it got.
ADDR=""
for _ in $(seq 1 300); do
    ADDR="$(grep -o 'listening on [0-9.:]*' "$WORK/server.log" | head -n1 | cut -d' ' -f3 || true)"
    [[ -n "$ADDR" ]] && break
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then
        cat "$WORK/server.log" >&2
        echo "campaign-api did not start" >&2
        exit 2
    fi
    sleep 0.1
done
if [[ -z "$ADDR" ]]; then
    cat "$WORK/server.log" >&2
    echo "campaign-api did not report its address" >&2
    exit 2
fi
BASE="http://$ADDR"
echo "campaign-api at $BASE (schemathesis $SCHEMATHESIS_VERSION)"

# Run from the scratch directory: schemathesis keeps a .schemathesis/ folder where it runs.
status=0
(cd "$WORK" && SCHEMATHESIS_HOOKS=hooks PYTHONPATH="$HERE" \
    "$VENV/bin/schemathesis" --config-file "$HERE/schemathesis.toml" run "$BASE/openapi.json" \
    --checks all \
    -H "Authorization: Bearer $ADMIN_KEY" \
    --max-examples "${ENDCAP_SCHEMATHESIS_EXAMPLES:-25}" \
    --seed "${ENDCAP_SCHEMATHESIS_SEED:-1}" \
    --workers 2 \
    --request-timeout 30 \
    "${SKIP[@]}" "$@") || status=$?

if ! kill -0 "$SERVER_PID" 2>/dev/null; then
    echo "campaign-api died during the run:" >&2
    tail -n 50 "$WORK/server.log" >&2
    status=1
fi
exit "$status"
