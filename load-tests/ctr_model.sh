#!/usr/bin/env bash
# A 200-tree, 31-leaf CTR artifact (feature spec $SPEC, default ctr-features-v3), trained by
# ctr-trainer on the shopper simulator's ad log, for the decision benchmark
# (ENDCAP_MODEL_DIR=DIR load-tests/wrk.sh).
#
#   [SPEC=ctr-features-v2] load-tests/ctr_model.sh DIR
#
# Early stopping is off so the model keeps all 200 rounds, and the artifact's history is
# dropped so the model scores every candidate (with it, the benchmark's line items, unknown
# to the simulator, would all go to the cold start and no tree would be walked).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT="${1:?usage: load-tests/ctr_model.sh DIR}"
SPEC="${SPEC:-ctr-features-v3}"
CACHE_DIR="${ENDCAP_CACHE_DIR:-$HOME/.cache/endcap}"
export CMAKE="${CMAKE:-$CACHE_DIR/cmake-venv/bin/cmake}"
# The dev profile on purpose: LightGBM's C++ is built optimized either way, and a release
# build of it would take another ~10 minutes here; the test script's build is reused.
CARGO_TARGET_DIR="$CACHE_DIR/target" cargo build --locked -p ctr-trainer >&2
BIN="$CACHE_DIR/target/debug/ctr-trainer"
LOG="$(mktemp -d)"
trap 'rm -rf "$LOG"' EXIT
"$BIN" simulate --out "$LOG" --requests 200000 --line-items 200 --seed 7
"$BIN" train --input "$LOG" --out "$OUT" --rounds 200 --leaves 31 --early-stopping 0 \
  --min-auc 0 --max-calibration-error 100 --version "bench-$SPEC-200x31" --spec "$SPEC"
python3 - "$OUT/model.json" <<'PY'
import json, sys
p = sys.argv[1]
m = json.load(open(p))
m.pop("history", None)
json.dump(m, open(p, "w"), indent=2)
PY
