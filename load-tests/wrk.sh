#!/usr/bin/env bash
# The decision-log benchmark of issue 7, kept under its old name: load-tests/throughput.sh
# with the event log to files or ClickHouse (1,000 line items, 50 candidates, 1 worker).
#
#   load-tests/wrk.sh [SECONDS] [files|clickhouse]     # default 15 s per row, file event log
set -euo pipefail
SINK="${2:-files}" exec "$(dirname "$0")/throughput.sh" "${1:-15}"
