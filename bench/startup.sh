#!/usr/bin/env bash
# Start-up benchmark: time from launching `apim all-in-one` (embedded default, empty directory) until
# /health/ready answers 200, and the idle RSS two seconds later. Printed beside a reference measured in the
# same run: a trivial server (python3 -m http.server) until its first 200.
# Usage: bench/startup.sh [RUNS]   (builds the release binary first)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5}
cargo build --release -q
bin=$PWD/target/release/apim

now_ms() { date +%s%3N; }
wait_200() { # url -> waits, polling every 5 ms, up to 20 s
  for _ in $(seq 1 4000); do curl -sf -o /dev/null "$1" && return 0; sleep 0.005; done
  return 1
}
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

measure_apim() { # first-start?=1 -> ms rss_kb
  local dir off pid t0 t1 rss
  dir=$(mktemp -d); off=$(( $(free_port) % 20000 + 20000 ))
  if [ "$1" = 0 ]; then # warm: a first run creates the data, the measured run restarts on it
    (cd "$dir" && exec "$bin" all-in-one --bind 127.0.0.1 -DportOffset=$off >/dev/null 2>&1) & pid=$!
    wait_200 "http://127.0.0.1:$((9763+off))/health/ready"; stop $pid; wait $pid || true
  fi
  t0=$(now_ms)
  (cd "$dir" && exec "$bin" all-in-one --bind 127.0.0.1 -DportOffset=$off >/dev/null 2>&1) & pid=$!
  wait_200 "http://127.0.0.1:$((9763+off))/health/ready"
  t1=$(now_ms)
  sleep 2
  rss=$(awk '/VmRSS/ {print $2}' /proc/$pid/status)
  stop $pid; wait $pid || true
  rm -rf "$dir"
  echo "$((t1 - t0)) $rss"
}

measure_reference() {
  local dir port pid t0 t1 rss
  dir=$(mktemp -d); port=$(free_port)
  t0=$(now_ms)
  python3 -m http.server "$port" --bind 127.0.0.1 --directory "$dir" >/dev/null 2>&1 & pid=$!
  wait_200 "http://127.0.0.1:$port/"
  t1=$(now_ms)
  sleep 2
  rss=$(awk '/VmRSS/ {print $2}' /proc/$pid/status)
  kill $pid; wait $pid 2>/dev/null || true
  rm -rf "$dir"
  echo "$((t1 - t0)) $rss"
}

stop() { # pid: SIGTERM, then wait until it is gone (the next run reuses its ports)
  kill -TERM "$1" 2>/dev/null || true
  for _ in $(seq 1 1000); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.01; done
  echo "process $1 did not exit within 10 s" >&2; return 1
}

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

first=(); warm=(); ref=(); rss_apim=(); rss_ref=()
for _ in $(seq 1 "$runs"); do
  read -r ms rss < <(measure_apim 1); first+=("$ms"); rss_apim+=("$rss")
  read -r ms rss < <(measure_apim 0); warm+=("$ms")
  read -r ms rss < <(measure_reference); ref+=("$ms"); rss_ref+=("$rss")
done
f=$(printf '%s\n' "${first[@]}" | median); w=$(printf '%s\n' "${warm[@]}" | median); r=$(printf '%s\n' "${ref[@]}" | median)
ra=$(printf '%s\n' "${rss_apim[@]}" | median); rr=$(printf '%s\n' "${rss_ref[@]}" | median)
echo "runs: $runs (medians)"
echo "apim all-in-one, first start (generates certificate, creates databases and admin): ${f} ms to ready"
echo "apim all-in-one, restart on existing data:                                          ${w} ms to ready"
echo "reference: python3 -m http.server to first 200:                                     ${r} ms"
echo "idle RSS: apim ${ra} KiB, reference ${rr} KiB (ratio $(awk "BEGIN {printf \"%.2f\", $ra/$rr}"))"
echo "targets: ready < 1000 ms, idle RSS < 51200 KiB (WSO2 API-M: 2 GB heap, tens of seconds)"
