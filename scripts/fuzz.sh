#!/usr/bin/env bash
# The parser property tests with many cases (CI runs a few hundred each):
#   scripts/fuzz.sh [CASES]     # default 100000
set -euo pipefail
cd "$(dirname "$0")/.."
export ENDCAP_FUZZ_CASES="${1:-100000}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-${ENDCAP_CACHE_DIR:-$HOME/.cache/endcap}/target}"
cargo test --release --locked -p endcap-ingest --test fuzz
cargo test --release --locked -p endcap-openrtb --test fuzz
cargo test --release --locked -p endcap-tracking --lib -- arbitrary_tokens any_single_character
