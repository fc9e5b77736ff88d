#!/usr/bin/env bash
# The gateway's instructions per request, counted by callgrind: a figure this host's drifting speed does not move,
# for before/after comparisons of a change to the request path (requests/s move by several percent from run to
# run here; an instruction count moves by well under 1 %).
# Runs `harness::timing::request_path` (crates/apim-gateway/src/harness.rs): a client, the gateway's own HTTP/1.1
# server and chain (JWT, subscription, application and subscription throttling never reached) and a backend
# answering 1 KiB, over loopback sockets on one thread, as bench/gateway.sh's (c). Only the gateway's connection
# task is counted (`inbound::serve`): the client and the backend are not. Three settings: analytics on (the
# default, (c) and (i)), analytics off ((i0)), and OpenTelemetry traces of every request ((j)).
# Prints the total per request and the main parts of it (inclusive). Counts run under glibc's allocator (the test
# binary's), not mimalloc (the release binary's): allocations weigh a little more here than in the gateway. Two
# builds of the same code can differ by about 1 % (inlining, the allocator's paths); compare larger differences.
# Usage: bench/instructions.sh [REQUESTS]   (needs valgrind: apt-get install valgrind)
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-20000}
command -v valgrind >/dev/null || { echo "valgrind not found: apt-get install valgrind" >&2; exit 1; }
bin=$(cargo test --profile profiling -p apim-gateway --lib --no-run --message-format=json 2>/dev/null |
  python3 -c 'import json,sys
for l in sys.stdin:
    m = json.loads(l)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["name"] == "apim_gateway": print(m["executable"])' | tail -1)
[ -x "$bin" ] || { echo "cannot build the gateway's test binary" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# The test runs 2,000 requests to warm up (the JWT verified once, connections made), then n counted ones; the
# warm-up is counted too, so the total is divided by n + 2,000.
per=$((n + 2000))
# The parts shown: substrings of callgrind's function names, each shown once (its largest inclusive count).
parts='inbound::serve::{{closure}}|Gateway>::chain::{{closure}}|Pool::send::{{closure}}|http1::parse_request|http1::parse_response|pool::h1::encode|Gateway>::throttle|analytics::Recorder::record|Gateway>::export|Authenticator::cached|Gateway>::canonical|Endpoint::uri_for|drop_in_place<http::header::map::HeaderMap>'
for setting in analytics no-analytics otlp; do
  case $setting in
    analytics) env=() ;;
    no-analytics) env=(APIM_TIMING_ANALYTICS=off) ;;
    otlp) env=(APIM_TIMING_OTLP=1) ;;
  esac
  out="$work/cg.$setting"
  env APIM_TIMING_N="$n" "${env[@]}" valgrind --tool=callgrind --callgrind-out-file="$out" \
    --toggle-collect='apim_gateway::inbound::serve*' "$bin" harness::timing --ignored --test-threads 1 >/dev/null 2>&1
  echo "== $setting"
  callgrind_annotate --inclusive=yes --threshold=100 "$out" 2>/dev/null |
    awk -v per="$per" -v parts="$parts" '
      BEGIN { n = split(parts, want, "|") }
      /^ *[0-9,]+ / {
        v = $1; gsub(",", "", v)
        name = $0; sub(/^[^:]*:/, "", name); sub(/ \[.*$/, "", name)
        for (i = 1; i <= n; i++) {
          if (index(name, want[i]) && !(want[i] in seen)) { seen[want[i]] = 1; printf "  %8.0f  %s\n", v / per, name; if (i == 1) total = v }
        }
      }
      END { printf "  %8.0f  instructions per request in all (the first row)\n", total / per }'
done
