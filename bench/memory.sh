#!/usr/bin/env bash
# Memory at size: the RSS (now and peak) of a gateway node (`apim gateway`) synced over the event hub from an
# all-in-one holding APIS APIs (default 10,000), one application subscribed to every one, after a short wrk run
# through it; and the all-in-one's own RSS. Target (issue 22): the gateway node under 60 MB at 10,000 APIs.
# Usage: [APIS=N] bench/memory.sh   (needs wrk)
# Where the heap goes: build with `cargo build --release -p apim-bin --features system-alloc` (mimalloc hides
# allocations from valgrind) and start the gateway node under `valgrind --tool=massif`; `ms_print` reads the result.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q -p apim-bin -p apim-test-support --example backend
. bench/common.sh
bin=$PWD/target/release/apim
bport=$(free_port)
target/release/examples/backend "127.0.0.1:$bport" >/dev/null 2>&1 & pids+=($!)
off=$(( $(free_port) % 10000 + 10000 ))
mkdir -p "$work/apim/db"
printf '[server]\nhostname = "localhost"\n[super_admin]\nusername = "admin"\npassword = "admin"\ncreate_admin_account = true\n[database.apim_db]\ntype = "sqlite"\nurl = "jdbc:sqlite:db/apim.db"\n[database.shared_db]\ntype = "sqlite"\nurl = "jdbc:sqlite:db/shared.db"\n[apim.event_hub]\nenable = true\nusername = "admin"\npassword = "admin"\n' >"$work/apim/deployment.toml"
(cd "$work/apim" && exec "$bin" all-in-one -c deployment.toml --bind 127.0.0.1 -DportOffset=$off --log-level warn) >"$work/apim.log" 2>&1 & apim_pid=$!; pids+=($apim_pid)
wait_200 "http://127.0.0.1:$((9763 + off))/health/ready"
token=$(python3 bench/setup_apis.py "https://127.0.0.1:$((9443 + off))" "http://127.0.0.1:$bport/bytes/1024")
date
python3 bench/setup_apis.py "https://127.0.0.1:$((9443 + off))" "http://127.0.0.1:$bport/bytes/1024" ${APIS:-10000} 1
date
sleep 3
goff=$(( off + 100 ))
mkdir -p "$work/gw"
printf '[server]\nhostname = "localhost"\n[apim.event_hub]\nenable = true\nusername = "admin"\npassword = "admin"\nservice_url = "https://127.0.0.1:%s/services/"\nevent_listening_endpoints = ["tcp://127.0.0.1:%s"]\n[apim.sync_runtime_artifacts.gateway]\ngateway_labels = ["Default"]\n' "$((9443 + off))" "$((5672 + off))" >"$work/gw/gw.toml"
cp -r "$work/apim/data/tls" "$work/gw/" 2>/dev/null || true
(cd "$work/gw" && exec "$bin" gateway -c gw.toml --data-dir . --bind 127.0.0.1 -DportOffset=$goff --log-level warn) >"$work/gw.log" 2>&1 & gw_pid=$!; pids+=($gw_pid)
wait_200 "http://127.0.0.1:$((9763 + goff))/health/ready"
wait_200 -H "Authorization: Bearer $token" "http://127.0.0.1:$((8280 + goff))/bench/1.0.0"
wrk -t1 -c32 -d5s -H "Authorization: Bearer $token" "http://127.0.0.1:$((8280 + goff))/bench/1.0.0" | grep Requests
echo "gateway node RSS: $(awk '/VmRSS/ {printf "%.1f MB", $2/1024}' /proc/$gw_pid/status), peak $(awk '/VmHWM/ {printf "%.1f MB", $2/1024}' /proc/$gw_pid/status); all-in-one RSS: $(awk '/VmRSS/ {printf "%.1f MB", $2/1024}' /proc/$apim_pid/status)"
# Anonymous pages (the heap, stacks) apart from the binary's own pages, which the kernel maps 64 KB around each one
# touched (fault-around), and which every process of the same binary shares.
echo "gateway node RSS split: $(awk '/^Anonymous:/ {a=$2} /^Rss:/ {r=$2} END {printf "anonymous %.1f MB, file-backed %.1f MB", a/1024, (r-a)/1024}' /proc/$gw_pid/smaps_rollup)"
