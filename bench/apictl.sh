#!/usr/bin/env bash
# apictl at 1,000 APIs (issue #20): three `apim all-in-one` processes (release build, SQLite, free ports): a source
# filled with APIS APIs (bench/apictl_setup.py: each with a deployed revision) and two empty targets B and C.
#   export: `apictl export apis -e src --all --force` beside curl making the same REST calls (a page of GET /apis,
#           then one curl process exporting that page's 100 APIs over one keep-alive connection; 100 per page as apictl)
#   import: `apictl import api -f X.zip` once per archive (a process each, as a pipeline runs it) into B, beside one
#           `curl -F file=@X.zip …/apis/import` per archive into C; then `--update` of every archive, apictl into C and
#           curl into B, so both overwrite the same number of APIs on databases of the same size.
#   import, no stored token: `import api --update` of the first 100 archives with keys.json's token removed before
#           each command (WSO2 apictl's way: a password grant per command), beside the same with the stored token.
# Same token for both (the one `apictl login` stored), same archives. Wall time per phase, and requests per API
# (apictl's counted from `--verbose`, curl's from its -w lines). Ratio = apictl / curl wall time; the target is < 1.2.
# Usage: bench/apictl.sh [APIS]   (default 1000; BENCH_NO_BUILD=1 uses the release binaries as they are)
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-1000}
[ "${BENCH_NO_BUILD:-}" = 1 ] || cargo build --release -q -p apim-bin -p apictl
apim=$PWD/target/release/apim
apictl=$PWD/target/release/apictl
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

free_offset() { # an offset whose 9443/9763/8280/8243/9099/8099 ports are free
  python3 - <<'PY'
import random, socket
for _ in range(200):
    off = random.randrange(10000, 20000)
    ok = True
    for base in (9443, 9763, 8280, 8243, 9099, 8099, 5672, 9611, 9711):
        s = socket.socket()
        try:
            s.bind(("127.0.0.1", base + off))
        except OSError:
            ok = False
        finally:
            s.close()
    if ok:
        print(off)
        break
PY
}
url=
start() { # name -> sets url to the management URL once ready (not in a $(…) subshell: pids must stay in this shell)
  local dir=$work/$1 off
  mkdir -p "$dir"; off=$(free_offset)
  (cd "$dir" && exec "$apim" all-in-one --bind 127.0.0.1 -DportOffset="$off" >"$dir/log" 2>&1) &
  pids+=($!)
  for _ in $(seq 1 2000); do
    curl -sf -o /dev/null "http://127.0.0.1:$((9763 + off))/health/ready" && { url="https://127.0.0.1:$((9443 + off))"; return 0; }
    sleep 0.01
  done
  echo "$1 never became ready: $(tail -5 "$dir/log")" >&2; return 1
}
now_ms() { date +%s%3N; }

start src; A=$url; start b; B=$url; start c; C=$url
echo "filling the source with $n APIs …" >&2
t0=$(now_ms); python3 bench/apictl_setup.py "$A" "$n"; echo "  done in $(( $(now_ms) - t0 )) ms" >&2

export APICTL_CONFIG_DIR=$work/apictl-home
for e in src:$A b:$B c:$C; do
  "$apictl" add env "${e%%:*}" --apim "${e#*:}" >/dev/null
  echo admin | "$apictl" login "${e%%:*}" -u admin --password-stdin -k >/dev/null
done
keys=$APICTL_CONFIG_DIR/.wso2apictl.local/keys.json
token() { jq -r ".environments.$1.accessToken" "$keys" | base64 -d; }
TA=$(token src); TB=$(token b); TC=$(token c)

ms=0; req=0 # each measurement sets these: wall ms and requests
per() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
row() { printf '%-44s %10s %8s %12s %8s %7s\n' "$@"; }
echo
echo "apictl benchmark: $n APIs, $(nproc) cores, $(date -u +%Y-%m-%dT%H:%MZ), load $(cut -d' ' -f1-3 /proc/loadavg)"
row "phase" "apictl ms" "req/API" "curl ms" "req/API" "ratio"
# --- export ---
export_apictl() {
  local t0 t1
  t0=$(now_ms)
  "$apictl" export apis -e src --all --force -k --verbose >/dev/null 2>"$work/export.log" || { tail -3 "$work/export.log" >&2; exit 1; }
  t1=$(now_ms)
  ms=$((t1 - t0)); req=$(grep -c '^apictl: ' "$work/export.log" || true)
}
export_curl() {
  local out=$work/curl-export t0 t1 offset=0 requests=0 page count
  rm -rf "$out"; mkdir -p "$out"
  t0=$(now_ms)
  while :; do
    page=$(curl -sk -H "Authorization: Bearer $TA" "$A/api/am/publisher/v4/apis?limit=100&offset=$offset")
    requests=$((requests + 1))
    count=$(jq '.list | length' <<<"$page")
    if [ "$count" -gt 0 ]; then
      jq -r --arg base "$A/api/am/publisher/v4/apis/export" --arg out "$out" \
        '.list[] | "url = \"\($base)?apiId=\(.id)&format=YAML&latestRevision=true\"\noutput = \"\($out)/\(.name)_\(.version).zip\""' \
        <<<"$page" >"$work/curl.cfg"
      requests=$((requests + $(curl -sk -H "Authorization: Bearer $TA" -w '%{http_code}\n' -K "$work/curl.cfg" | grep -c '^200$')))
    fi
    [ "$count" -lt 100 ] && break
    offset=$((offset + 100))
  done
  t1=$(now_ms)
  ms=$((t1 - t0)); req=$requests
}
export_apictl; ea1=$ms er1=$req
export_curl; ec1=$ms cr1=$req
row "export apis --all (run 1, apictl first)" "$ea1" "$(per "$er1" "$n")" "$ec1" "$(per "$cr1" "$n")" "$(per "$ea1" "$ec1")"
export_curl; ec2=$ms cr2=$req
export_apictl; ea2=$ms er2=$req
row "export apis --all (run 2, curl first)" "$ea2" "$(per "$er2" "$n")" "$ec2" "$(per "$cr2" "$n")" "$(per "$ea2" "$ec2")"
archives=$APICTL_CONFIG_DIR/exported/migration/src/tenant-default/apis
[ "$(ls "$archives" | wc -l)" -eq "$n" ] || { echo "apictl exported $(ls "$archives" | wc -l) archives, not $n" >&2; exit 1; }
[ "$(ls "$work/curl-export" | wc -l)" -eq "$n" ] || { echo "curl exported $(ls "$work/curl-export" | wc -l) archives, not $n" >&2; exit 1; }

# --- import ---
import_apictl() { # env update(0|1) -> ms requests
  local t0 t1 flag=()
  [ "$2" = 1 ] && flag=(--update)
  : >"$work/import.log"
  t0=$(now_ms)
  for f in "$archives"/*.zip; do
    "$apictl" import api -f "$f" -e "$1" -k "${flag[@]}" --verbose >/dev/null 2>>"$work/import.log" || { tail -3 "$work/import.log" >&2; exit 1; }
  done
  t1=$(now_ms)
  ms=$((t1 - t0)); req=$(grep -c '^apictl: ' "$work/import.log" || true)
}
import_curl() { # url token update(true|false) -> ms requests
  local t0 t1 ok=0
  : >"$work/curl-import.log"
  t0=$(now_ms)
  for f in "$archives"/*.zip; do
    curl -sk -o /dev/null -w '%{http_code}\n' -H "Authorization: Bearer $2" -F "file=@$f;filename=project.zip" \
      "$1/api/am/publisher/v4/apis/import?preserveProvider=true&overwrite=$3&rotateRevision=false" >>"$work/curl-import.log"
  done
  t1=$(now_ms)
  ok=$(grep -c '^20[01]$' "$work/curl-import.log" || true)
  [ "$ok" -eq "$n" ] || { echo "curl: $ok of $n imports answered 2xx: $(sort "$work/curl-import.log" | uniq -c)" >&2; exit 1; }
  ms=$((t1 - t0)); req=$(wc -l <"$work/curl-import.log")
}
import_apictl b 0; ia1=$ms ir1=$req
import_curl "$C" "$TC" false; ic1=$ms icr1=$req
row "import api, a process each (new APIs)" "$ia1" "$(per "$ir1" "$n")" "$ic1" "$(per "$icr1" "$n")" "$(per "$ia1" "$ic1")"
import_curl "$B" "$TB" true; ic2=$ms icr2=$req
import_apictl c 1; ia2=$ms ir2=$req
row "import api --update, a process each" "$ia2" "$(per "$ir2" "$n")" "$ic2" "$(per "$icr2" "$n")" "$(per "$ia2" "$ic2")"

# --- the first 100 archives with and without a stored token (--update into B) ---
all=("$archives"/*.zip)
first=("${all[@]:0:100}")
m=${#first[@]}
grant_ms=0; grant_req=0; stored_ms=0; stored_req=0
for f in "${first[@]}"; do
  jq 'del(.environments.b.accessToken, .environments.b.expiresAt)' "$keys" >"$keys.tmp" && mv "$keys.tmp" "$keys"
  t0=$(now_ms)
  "$apictl" import api -f "$f" -e b -k --update --verbose >/dev/null 2>"$work/one.log" || { cat "$work/one.log" >&2; exit 1; }
  grant_ms=$((grant_ms + $(now_ms) - t0)); grant_req=$((grant_req + $(grep -c '^apictl: ' "$work/one.log" || true)))
done
for f in "${first[@]}"; do
  t0=$(now_ms)
  "$apictl" import api -f "$f" -e b -k --update --verbose >/dev/null 2>"$work/one.log"
  stored_ms=$((stored_ms + $(now_ms) - t0)); stored_req=$((stored_req + $(grep -c '^apictl: ' "$work/one.log" || true)))
done

row "import --update, first $m, a grant each" "$grant_ms" "$(per "$grant_req" "$m")" "$stored_ms (stored)" "$(per "$stored_req" "$m")" "$(per "$grant_ms" "$stored_ms")"
echo "(last row: apictl asking the token endpoint before each command, as WSO2's does, against apictl with its stored token)"
