#!/usr/bin/env bash
# Refreshes the bot and crawler user-agent list the ad server filters invalid traffic with,
# from the npm registry's `crawler-user-agents` package (MIT, a maintained open list), into
# crates/tracking/data/crawler-user-agents.json (patterns, one example user agent each, and
# where they came from). Commit the result; the ad server embeds it at build time.
#
#   scripts/update-bot-list.sh [VERSION]     # default: the latest published version
set -euo pipefail
cd "$(dirname "$0")/.."
VERSION="${1:-$(npm view crawler-user-agents version)}"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
(cd "$WORK" && npm pack --silent "crawler-user-agents@$VERSION" >/dev/null && tar xzf crawler-user-agents-*.tgz)
python3 - "$WORK/package" "$VERSION" crates/tracking/data/crawler-user-agents.json <<'PY'
import json, sys
pkg, version, out = sys.argv[1:]
entries = json.load(open(f"{pkg}/crawler-user-agents.json"))
license_head = open(f"{pkg}/LICENSE").read().splitlines()[:3]
doc = {
    "source": "npm:crawler-user-agents",
    "version": version,
    "license": " ".join(l.strip() for l in license_head if l.strip()),
    "patterns": [
        {"pattern": e["pattern"], "example": (e.get("instances") or [None])[0]}
        for e in entries
    ],
}
with open(out, "w") as f:
    json.dump(doc, f, indent=0, ensure_ascii=False)
    f.write("\n")
print(f"{len(entries)} patterns from crawler-user-agents {version} into {out}")
PY
