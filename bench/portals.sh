#!/usr/bin/env bash
# The portals' load benchmark (issue #19): each portal's first load on a cold cache (bytes over the wire and the
# time until it can be used) beside its HTML shell alone, and the Publisher's API list at 10,000 APIs, in
# Debian's Chromium against the release binary. Details: portals/bench/portals.bench.ts.
# Usage: bench/portals.sh   (ROUNDS=5 APIS=10000 by default; APIM_BIN to use another binary)
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${APIM_BIN:-}" ]; then
  cargo build --release -q -p apim-bin --bin apim
  APIM_BIN="$PWD/target/release/apim"
fi
chromium=${CHROMIUM:-/usr/bin/chromium}
[ -x "$chromium" ] || { echo "bench/portals.sh: $chromium is missing (apt-get install chromium)" >&2; exit 69; }
(cd portals && [ -d node_modules ] || npm ci --no-audit --no-fund)
cd portals && CHROMIUM="$chromium" APIM_BIN="$APIM_BIN" PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npx playwright test -c bench.config.ts
