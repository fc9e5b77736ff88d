#!/usr/bin/env bash
# Export and import of an API project (issue #18): a control plane in process on SQLite; GET /apis/export and
# POST /apis/import (overwrite, a revision deployed) of an API with 200 operations and 10 documents, beside a plain
# ZIP read and write of the same archive in the same run. What it prints is explained at the top of
# crates/apim-control-plane/examples/import_export_bench.rs.
# Usage: bench/import_export.sh [ROUNDS] [OPERATIONS] [DOCUMENTS]   (defaults: 30, 200, 10)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q -p apim-control-plane --example import_export_bench
target/release/examples/import_export_bench "${1:-30}" "${2:-200}" "${3:-10}"
