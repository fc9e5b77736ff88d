#!/usr/bin/env bash
# REST list and search benchmark (issue #17): a control plane in process over 10,000 APIs and 1,000 applications
# on SQLite and/or PostgreSQL; p50/p99 of the Publisher's GET /apis, GET /search (name, tag and content queries),
# the anonymous DevPortal's GET /apis and the two application lists, each beside one primary-key SELECT through the
# same pool measured in the same run; and the N+1 check (statements per request for a page of 25 and of 200; a
# difference fails the run). Everything it prints is explained at the top of crates/apim-control-plane/examples/rest_bench.rs.
# Usage: bench/rest.sh [sqlite|postgres|both] [REQUESTS] [CLIENTS]   (defaults: both, 2000 per endpoint, 1 client)
# PostgreSQL: APIM_BENCH_PG_URL (else APIM_TEST_PG_URL, else postgres://postgres@127.0.0.1:5432/test); a database
# of a unique name is created there and dropped at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
which=${1:-both}
requests=${2:-2000}
clients=${3:-1}
case "$which" in
  sqlite|SQLITE) backends=(sqlite) ;;
  postgres|POSTGRES) backends=(postgres) ;;
  both|BOTH) backends=(sqlite postgres) ;;
  *) echo "usage: bench/rest.sh [sqlite|postgres|both] [REQUESTS] [CLIENTS]" >&2; exit 64 ;;
esac
cargo build --release -q -p apim-control-plane --example rest_bench
for b in "${backends[@]}"; do
  target/release/examples/rest_bench "$b" "$requests" "$clients"
  echo
done
