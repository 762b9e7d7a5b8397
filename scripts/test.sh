#!/usr/bin/env bash
# The test command: installs and starts what the tests need when it is missing (idempotent),
# then runs the whole workspace's tests against the real servers.
#
#   ./scripts/test.sh            # fmt check, clippy, tests
#   ./scripts/test.sh --no-lint  # tests only
#
# Environment it honours:
#   ENDCAP_CACHE_DIR       where the cargo target dir, ClickHouse data and the cmake venv live
#                          (default: ~/.cache/endcap; outside the clone so CI runs reuse it)
#   ENDCAP_TEST_PG_URL     PostgreSQL admin URL (default postgres://postgres@127.0.0.1:5432/test)
#   ENDCAP_TEST_REDIS_URL  Redis URL (default redis://127.0.0.1:6379/0)
#   ENDCAP_TEST_CLICKHOUSE_URL ClickHouse HTTP URL (default http://127.0.0.1:8123)
set -euo pipefail

cd "$(dirname "$0")/.."
LINT=1
[ "${1:-}" = "--no-lint" ] && LINT=0

CACHE_DIR="${ENDCAP_CACHE_DIR:-$HOME/.cache/endcap}"
mkdir -p "$CACHE_DIR"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$CACHE_DIR/target}"
export ENDCAP_TEST_PG_URL="${ENDCAP_TEST_PG_URL:-postgres://postgres@127.0.0.1:5432/test}"
export ENDCAP_TEST_REDIS_URL="${ENDCAP_TEST_REDIS_URL:-redis://127.0.0.1:6379/0}"
export ENDCAP_TEST_CLICKHOUSE_URL="${ENDCAP_TEST_CLICKHOUSE_URL:-http://127.0.0.1:8123}"

log() { printf '[test.sh] %s\n' "$*" >&2; }
SUDO=""
[ "$(id -u)" = 0 ] || SUDO="sudo"

APT_UPDATED=0
apt_install() {
  if [ "$APT_UPDATED" = 0 ]; then
    $SUDO apt-get update -qq
    APT_UPDATED=1
  fi
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

wait_for() { # wait_for NAME SECONDS CMD...
  local name=$1 secs=$2; shift 2
  for _ in $(seq 1 $((secs * 10))); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.1
  done
  log "$name did not come up within ${secs}s"
  return 1
}

# --- build tools: C compiler, libclang (bindgen, for lightgbm3), cmake >= 3.28 -------------
need_pkgs=()
command -v cc >/dev/null || need_pkgs+=(gcc g++)
command -v pkg-config >/dev/null || need_pkgs+=(pkg-config)
dpkg -s libclang-dev >/dev/null 2>&1 || need_pkgs+=(libclang-dev)
command -v python3 >/dev/null || need_pkgs+=(python3)
# Debian's python3 lacks venv until python3-venv is installed.
python3 -m venv --help >/dev/null 2>&1 || need_pkgs+=(python3-venv)

# --- PostgreSQL ------------------------------------------------------------------------------
command -v psql >/dev/null || need_pkgs+=(postgresql-client)
if ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
  if ! command -v pg_ctlcluster >/dev/null; then need_pkgs+=(postgresql); fi
fi
# --- Redis -----------------------------------------------------------------------------------
if ! (command -v redis-cli >/dev/null && redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1); then
  command -v redis-server >/dev/null || need_pkgs+=(redis-server redis-tools)
fi
# --- ClickHouse (Debian 12 ships 18.16) --------------------------------------------------------
command -v clickhouse-server >/dev/null || need_pkgs+=(clickhouse-server clickhouse-client)
command -v curl >/dev/null || need_pkgs+=(curl)

if [ ${#need_pkgs[@]} -gt 0 ]; then
  log "installing: ${need_pkgs[*]}"
  apt_install "${need_pkgs[@]}"
fi

PG_VERSION_DIR=$(ls -d /etc/postgresql/*/ 2>/dev/null | sort -V | tail -n1)
PG_VERSION=$(basename "${PG_VERSION_DIR:-none}")
if ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
  log "starting PostgreSQL $PG_VERSION"
  $SUDO pg_ctlcluster --skip-systemctl-redirect "$PG_VERSION" main start
  wait_for postgresql 30 pg_isready -q -h 127.0.0.1 -p 5432
fi
if ! psql "$ENDCAP_TEST_PG_URL" -qAtc 'select 1' >/dev/null 2>&1; then
  # A stock Debian cluster asks for passwords on TCP; the tests assume trust on loopback
  # (a development or CI machine only), and a database named in ENDCAP_TEST_PG_URL.
  log "allowing trust auth on 127.0.0.1 and creating the test database"
  hba="/etc/postgresql/$PG_VERSION/main/pg_hba.conf"
  grep -q '^host all all 127.0.0.1/32 trust' "$hba" || $SUDO sed -i '1i host all all 127.0.0.1/32 trust' "$hba"
  $SUDO pg_ctlcluster --skip-systemctl-redirect "$PG_VERSION" main reload
  $SUDO -u postgres createdb test 2>/dev/null || su postgres -c 'createdb test' 2>/dev/null || true
  psql "$ENDCAP_TEST_PG_URL" -qAtc 'select 1' >/dev/null
fi

if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
  log "starting Redis"
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
    --dir "$CACHE_DIR" --logfile "$CACHE_DIR/redis.log"
  wait_for redis 10 redis-cli -h 127.0.0.1 -p 6379 ping
fi

# ClickHouse: our own config, data dir under the cache dir, loopback only, no systemd.
CH_DIR="$CACHE_DIR/clickhouse"
if ! curl -sf "$ENDCAP_TEST_CLICKHOUSE_URL/ping" >/dev/null 2>&1; then
  log "starting ClickHouse"
  mkdir -p "$CH_DIR/data" "$CH_DIR/tmp" "$CH_DIR/log" "$CH_DIR/user_files" "$CH_DIR/format_schemas"
  sed -e "s#@CH_DIR@#$CH_DIR#g" -e "s#@HTTP_PORT@#8123#" -e "s#@TCP_PORT@#19000#" scripts/clickhouse/config.xml >"$CH_DIR/config.xml"
  cp scripts/clickhouse/users.xml "$CH_DIR/users.xml"
  (cd "$CH_DIR" && nohup clickhouse-server --config-file="$CH_DIR/config.xml" >"$CH_DIR/log/stdout.log" 2>&1 &)
  wait_for clickhouse 60 curl -sf "$ENDCAP_TEST_CLICKHOUSE_URL/ping"
fi

# cmake >= 3.28 for lightgbm3's bundled LightGBM (Debian 12 has 3.25).
CMAKE_VENV="$CACHE_DIR/cmake-venv"
if [ ! -x "$CMAKE_VENV/bin/cmake" ]; then
  log "installing cmake into $CMAKE_VENV"
  python3 -m venv "$CMAKE_VENV"
  "$CMAKE_VENV/bin/pip" install -q 'cmake>=3.28'
fi
export CMAKE="$CMAKE_VENV/bin/cmake"

# SQLite files and PostgreSQL databases left behind by earlier runs (each test makes its own, named endcap_t_*).
psql "$ENDCAP_TEST_PG_URL" -Atc "select datname from pg_database where datname like 'endcap\_t\_%'" 2>/dev/null |
  while read -r db; do psql "$ENDCAP_TEST_PG_URL" -qc "drop database if exists \"$db\"" >/dev/null 2>&1 || true; done
rm -rf "${TMPDIR:-/tmp}/endcap-tests"

if [ "$LINT" = 1 ]; then
  log "cargo fmt --check"
  cargo fmt --all -- --check
  log "cargo clippy"
  cargo clippy --workspace --all-targets --locked -- -D warnings
fi

log "cargo test"
cargo test --workspace --locked
