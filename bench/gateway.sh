#!/usr/bin/env bash
# Gateway benchmark. One run, one load tool and one setting (wrk, keep-alive, 1 thread, fixed connections),
# 1 KiB responses from a small Rust backend:
#   (a) the backend directly,
#   (b) Debian's nginx, one worker, proxy_pass with a keep-alive upstream, access log off,
#   (c) apim all-in-one's gateway: JWT authentication, subscription check, application and subscription
#       throttling (limits never reached), access log off;
# then (c) again after loading 1,000 APIs and 10,000 subscriptions, and (d) a gateway on its own node
# (`apim gateway`, synced from the all-in-one's event hub) at that size. Prints requests/s, p50, p99, the ratios
# c/b and c/a, and RSS (the all-in-one process holds the control plane and key manager too; (d) is the gateway
# alone). Every target gets the same request, bearer token included (a plain proxy passes it on).
# (e), a reference: the least proxy on hyper (one tokio thread, no chain), the stack the gateway hands what its own
# HTTP/1.1 server and client do not take on, to tell what the chain costs from what a stack costs.
# (f) is (c) through an API whose operation adds a request header and rewrites the resource path: the cost of
# operation policies. (g0) and (g) POST a 1 KiB JSON body, (g) with the API's enableSchemaValidation. (h) is (c)
# through an API product serving the same operation at its own context, with its own subscription.
# BENCH_NO_PRODUCT=1 leaves (h) out (a build from before API products, with APIM_BIN for before/after runs).
# SMALL_ONLY=1 skips the runs at size (1,000 APIs) and the gateway node: (a)-(c) and (e)-(h) only.
# BENCH_ANALYTICS=1 adds (i)/(i0): two gateway nodes, analytics on and off, in alternating rounds; and (j)/(k), the
# same with OTLP tracing of every request and with WSO2's ELK log.
# BENCH_PAIRED=1 adds rounds that run (c) and (b) at the same time, and each of (i), (j), (k) beside (i0) (`paired`).
# BENCH_EDGE=1 then runs bench/edge.sh: the pinned layout against nginx and HAProxy with default settings, HTTPS,
# new connections (full and resumed TLS handshakes), HTTP/2 and both cores unpinned.
# Usage: bench/gateway.sh [SECONDS] [CONNECTIONS] [GATEWAY_WORKER_THREADS]   (needs wrk and nginx: apt-get install wrk nginx)
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-10}
conns=${2:-32}
workers=${3:-1}
command -v wrk >/dev/null || { echo "wrk not found: apt-get install wrk" >&2; exit 1; }
nginx_bin=$(command -v nginx || echo /usr/sbin/nginx)
[ -x "$nginx_bin" ] || { echo "nginx not found: apt-get install nginx" >&2; exit 1; }
# APIM_BIN=PATH measures another build of apim (an earlier commit's, for before/after) with this script.
[ -n "${APIM_BIN:-}" ] || cargo build --release -q -p apim-bin
cargo build --release -q -p apim-test-support --example backend --example bare_proxy
bin=${APIM_BIN:-$PWD/target/release/apim}
# GATEWAY_WORKER_THREADS=default runs the gateway with default settings (no --worker-threads).
threads=(--worker-threads "$workers")
[ "$workers" != default ] || threads=()
. bench/common.sh

# (a) backend
bport=$(free_port)
target/release/examples/backend "127.0.0.1:$bport" >"$work/backend.log" 2>&1 & pids+=($!)
wait_200 "http://127.0.0.1:$bport/bytes/1024"

# (e) the bare hyper proxy
eport=$(free_port)
target/release/examples/bare_proxy "127.0.0.1:$eport" "127.0.0.1:$bport" /bytes/1024 >"$work/bare.log" 2>&1 & bare_pid=$!; pids+=($bare_pid)
wait_200 "http://127.0.0.1:$eport/"

# (b) nginx
nport=$(free_port)
mkdir -p "$work/nginx/logs"
cat >"$work/nginx/nginx.conf" <<EOF
worker_processes 1;
daemon off;
pid $work/nginx/nginx.pid;
error_log $work/nginx/logs/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  upstream backend { server 127.0.0.1:$bport; keepalive 64; }
  server {
    listen 127.0.0.1:$nport;
    location / { proxy_pass http://backend/bytes/1024; proxy_http_version 1.1; proxy_set_header Connection ""; }
  }
}
EOF
"$nginx_bin" -p "$work/nginx" -c "$work/nginx/nginx.conf" >/dev/null 2>&1 & nginx_pid=$!; pids+=($nginx_pid)
wait_200 "http://127.0.0.1:$nport/"

# (c) apim all-in-one
# Below the kernel's ephemeral range (32768+), so no port of ours (up to 9763 + off + 100) meets an outgoing connection.
off=$(( $(free_port) % 10000 + 10000 ))
mkdir -p "$work/apim/db"
# The embedded default's settings plus the event hub, so that a gateway node can follow it for (d).
printf '[server]\nhostname = "localhost"\n[super_admin]\nusername = "admin"\npassword = "admin"\ncreate_admin_account = true\n[database.apim_db]\ntype = "sqlite"\nurl = "jdbc:sqlite:db/apim.db"\n[database.shared_db]\ntype = "sqlite"\nurl = "jdbc:sqlite:db/shared.db"\n[apim.event_hub]\nenable = true\nusername = "admin"\npassword = "admin"\n' >"$work/apim/deployment.toml"
(cd "$work/apim" && exec "$bin" all-in-one -c deployment.toml --bind 127.0.0.1 -DportOffset=$off "${threads[@]}" --log-level warn) \
  >"$work/apim.log" 2>&1 & apim_pid=$!; pids+=($apim_pid)
wait_200 "http://127.0.0.1:$((9763 + off))/health/ready"
token=$(python3 bench/setup_apis.py "https://127.0.0.1:$((9443 + off))" "http://127.0.0.1:$bport/bytes/1024")
gw="http://127.0.0.1:$((8280 + off))/bench/1.0.0"
gwp="http://127.0.0.1:$((8280 + off))/benchpol/1.0.0/x"
gwh="http://127.0.0.1:$((8280 + off))/benchprod/1.0.0"
wait_200 -H "Authorization: Bearer $token" "$gw"
wait_200 -H "Authorization: Bearer $token" "$gwp"
[ -n "${BENCH_NO_PRODUCT:-}" ] || wait_200 -H "Authorization: Bearer $token" "$gwh"
# (g) a 1 KiB JSON body POSTed through the gateway to the backend's counter: (g0) as it is, (g) checked against the
# API's OpenAPI schema (enableSchemaValidation).
python3 -c 'import json; print(json.dumps({"note": "bench", "items": [{"sku": "ABC-%d" % i, "qty": i + 1} for i in range(36)]}))' >"$work/order.json"
printf 'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\nlocal f = io.open("%s", "r")\nwrk.body = f:read("*a")\nf:close()\n' "$work/order.json" >"$work/post.lua"
gpost="http://127.0.0.1:$((8280 + off))/benchpost/1.0.0/count"
gschema="http://127.0.0.1:$((8280 + off))/benchschema/1.0.0/count"
for u in "$gpost" "$gschema"; do
  for _ in $(seq 1 2000); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $token" -H 'content-type: application/json' --data-binary @"$work/order.json" "$u")" = 200 ] && break
    sleep 0.01
  done
done

# wrk -> "rps p50_ms p99_ms"
load() {
  local out; out=$(wrk -t1 -c"$conns" -d"${secs}s" --latency "$@")
  local rps p50 p99 non2xx
  rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
  p50=$(echo "$out" | awk '$1=="50%" {print $2}' | to_ms)
  p99=$(echo "$out" | awk '$1=="99%" {print $2}' | to_ms)
  non2xx=$(echo "$out" | awk '/Non-2xx/ {print $NF}')
  [ -z "$non2xx" ] || { echo "non-2xx answers during the run: $non2xx" >&2; exit 1; }
  echo "$rps $p50 $p99"
}
rss_mb() { awk '/VmRSS/ {printf "%.1f", $2/1024}' /proc/$apim_pid/status; }

wrk -t1 -c"$conns" -d2s -H "Authorization: Bearer $token" "$gw" >/dev/null # warm-up: JWT cache, pools
# Rounds alternate the targets, and each figure is the median over the rounds: this machine's speed drifts by
# tens of percent from minute to minute, and the ratios should not depend on which target ran in a fast minute.
# Each round runs them in rotated order (`rotated`), so none always follows the same one.
cpu_of() { # PID... -> their CPU time so far, in clock ticks (user + system)
  local p t=0
  for p in "$@"; do t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null || echo 0))); done
  echo "$t"
}
run_target() { # PREFIX TARGET: one run of the target, appended to $work/<prefix>_<target>
  local post=(-s "$work/post.lua") url
  case $2 in
    a) url="http://127.0.0.1:$bport/bytes/1024" post=() ;;
    b) url="http://127.0.0.1:$nport/" post=() ;;
    c) url=$gw post=() ;;
    e) url="http://127.0.0.1:$eport/" post=() ;;
    f) url=$gwp post=() ;;
    h) url=$gwh post=() ;;
    g0) url=$gpost ;;
    g) url=$gschema ;;
  esac
  # A fourth column: the proxy's CPU time per request (us, user + system, all its threads and processes), a
  # figure this machine's drifting speed moves less than requests/s: the all-in-one's, nginx's (master and
  # worker), the bare proxy's; the backend's own (a) is not counted.
  local before out after measured
  case $2 in a) measured=() ;; b) measured=("$nginx_pid" $(pgrep -P "$nginx_pid")) ;; e) measured=("$bare_pid") ;; *) measured=("$apim_pid") ;; esac
  # A fifth: the all-in-one's CPU time per request outside its traffic workers (control plane, key manager,
  # traffic manager, runtimes, database workers): work that competes for the cores without serving the requests
  # (session 30 found the event log polled 200 times a second there).
  local obefore=0 oafter=0
  [ "${measured[0]:-}" != "$apim_pid" ] || obefore=$(background_ticks)
  before=$(cpu_of "${measured[@]}")
  out=$(load -H "Authorization: Bearer $token" "${post[@]}" "$url")
  after=$(cpu_of "${measured[@]}")
  [ "${measured[0]:-}" != "$apim_pid" ] || oafter=$(background_ticks)
  echo "$out" | awk -v t=$((after - before)) -v o=$((oafter - obefore)) -v hz="$(getconf CLK_TCK)" -v s="$secs" \
    '{n = $1 * s; printf "%s %.2f %.2f\n", $0, (n > 0 ? t * 1e6 / hz / n : 0), (n > 0 ? o * 1e6 / hz / n : 0)}' >>"$work/$1_$2"
}
# The all-in-one's threads other than its traffic workers (`apim-traffic-N`): their CPU time so far, in ticks.
background_ticks() { cat /proc/"$apim_pid"/task/*/stat 2>/dev/null | awk '$2 !~ /^\(apim-traffic/ {t += $14 + $15} END {print t + 0}'; }
# BENCH_PAIRED=1: a pair of targets also runs at the same time, two wrk processes started together, in rounds of
# their own. Both then meet the same seconds of this host (whose speed moves by tens of percent between minutes),
# the same neighbours and the same steal; single rounds still spread by about 10 %, so the median is printed. The
# figure to read is each one's CPU time per request (all its threads and processes) over those seconds;
# requests/s are printed too, but with the cores shared the costlier one's backlog wins it a larger share of them,
# which pulls their ratio towards 1.
paired() { # ROUND URL_A URL_B OUT PIDS_A... -- PIDS_B...: appends "rps_a rps_b rps_a/rps_b cpu_b/cpu_a" to OUT
  local r=$1 ua=$2 ub=$3 outf=$4 a=() b=() side=a p; shift 4
  for p in "$@"; do if [ "$p" = -- ]; then side=b; elif [ $side = a ]; then a+=("$p"); else b+=("$p"); fi; done
  local ta tb w1 w2 first=$ua second=$ub
  # Which wrk starts first alternates with the round.
  [ $((r % 2)) = 1 ] || { first=$ub; second=$ua; }
  ta=$(cpu_of "${a[@]}"); tb=$(cpu_of "${b[@]}")
  wrk -t1 -c"$conns" -d"${secs}s" -H "Authorization: Bearer $token" "$first" >"$work/pair_1" & w1=$!
  wrk -t1 -c"$conns" -d"${secs}s" -H "Authorization: Bearer $token" "$second" >"$work/pair_2" & w2=$!
  wait "$w1" "$w2"
  ta=$(( $(cpu_of "${a[@]}") - ta )); tb=$(( $(cpu_of "${b[@]}") - tb ))
  ! grep -q Non-2xx "$work/pair_1" "$work/pair_2" || { echo "non-2xx answers in a paired run" >&2; exit 1; }
  local ra rb
  ra=$(awk '/Requests\/sec/ {print $2}' "$work/pair_$([ "$first" = "$ua" ] && echo 1 || echo 2)")
  rb=$(awk '/Requests\/sec/ {print $2}' "$work/pair_$([ "$first" = "$ua" ] && echo 2 || echo 1)")
  [ -n "$ra" ] && [ -n "$rb" ] || { echo "wrk gave no figure in a paired run" >&2; exit 1; }
  echo "$ra $rb $ta $tb" | awk '{printf "%s %s %.4f %.4f\n", $1, $2, ($2 > 0 ? $1 / $2 : 0), ($1 > 0 && $3 > 0 ? ($4 / $2) / ($3 / $1) : 0)}' >>"$outf"
}
every() { awk '{printf "%s ", $'"$2"'}' "$work/$1" 2>/dev/null; } # FILE COLUMN: every round's figure
run_rounds() { # PREFIX: a, b and c (and with `small` the others) for $rounds rounds into files $work/<prefix>_<target>
  local targets=(a b c)
  [ "$1" != small ] || targets+=(e f g0 g)
  [ "$1" != small ] || [ -n "${BENCH_NO_PRODUCT:-}" ] || targets+=(h)
  # BENCH_TARGETS="g0 g": only these small targets (more rounds of one comparison in the same time); the others print 0.
  [ "$1" != small ] || [ -z "${BENCH_TARGETS:-}" ] || read -ra targets <<<"$BENCH_TARGETS"
  for r in $(seq 1 "$rounds"); do
    for t in $(rotated "$r" "${targets[@]}"); do run_target "$1" "$t"; done
  done
}
col() { [ -s "$work/$1" ] || { echo 0; return; }; awk -v c="$2" '{print $c}' "$work/$1" | median; }
rounds=${ROUNDS:-3}
run_rounds small
if [ -n "${BENCH_PAIRED:-}" ]; then
  for r in $(seq 1 "$rounds"); do
    paired "$r" "$gw" "http://127.0.0.1:$nport/" "$work/paired_cb" "$apim_pid" -- "$nginx_pid" $(pgrep -P "$nginx_pid")
  done
fi
c_rss=$(rss_mb)
a_rps=$(col small_a 1); a_p50=$(col small_a 2); a_p99=$(col small_a 3)
b_rps=$(col small_b 1); b_p50=$(col small_b 2); b_p99=$(col small_b 3)
c_rps=$(col small_c 1); c_p50=$(col small_c 2); c_p99=$(col small_c 3)
e_rps=$(col small_e 1); e_p50=$(col small_e 2); e_p99=$(col small_e 3)
f_rps=$(col small_f 1); f_p50=$(col small_f 2); f_p99=$(col small_f 3)
if [ -z "${BENCH_NO_PRODUCT:-}" ]; then h_rps=$(col small_h 1); h_p50=$(col small_h 2); h_p99=$(col small_h 3); else h_rps=0; h_p50=-; h_p99=-; fi
g0_rps=$(col small_g0 1); g0_p50=$(col small_g0 2); g0_p99=$(col small_g0 3)
g_rps=$(col small_g 1); g_p50=$(col small_g 2); g_p99=$(col small_g 3)

# (i) and (i0): two gateway nodes synced from the all-in-one, the same API and token, with [apim.analytics] on
# (the default) and off, measured in alternating rounds (BENCH_ANALYTICS=1; a build without [apim.analytics]
# would refuse the key).
# (j) and (k) add the exporters to (i): OpenTelemetry traces of every request (sampling_ratio 1) sent to a second
# backend process as the collector, and WSO2's ELK log written to a file.
i_rps=0; i_p50=-; i_p99=-; i0_rps=1; i0_p50=-; i0_p99=-; j_rps=0; j_p50=-; j_p99=-; k_rps=0; k_p50=-; k_p99=-
i_cpu=-; i0_cpu=-; j_cpu=-; k_cpu=-; j_collector_cpu=-; j_export_cpu=-; k_export_cpu=-; i_wait=-; i0_wait=-; j_wait=-; k_wait=-
if [ -n "${BENCH_ANALYTICS:-}" ]; then
  # The OTLP collector: another backend process (it answers the posted spans 200), so the backend under test
  # does not read them.
  cport=$(free_port)
  target/release/examples/backend "127.0.0.1:$cport" >"$work/collector.log" 2>&1 & pids+=($!); collector_pid=$!
  wait_200 "http://127.0.0.1:$cport/bytes/1"
  declare -A node_pid
  for mode in on off otlp elk; do
    case $mode in on) noff=$(( off + 200 ));; off) noff=$(( off + 300 ));; otlp) noff=$(( off + 400 ));; elk) noff=$(( off + 500 ));; esac
    mkdir -p "$work/gw_$mode"
    enable=$([ $mode = off ] && echo false || echo true)
    printf '[server]\nhostname = "localhost"\n[apim.event_hub]\nenable = true\nusername = "admin"\npassword = "admin"\nservice_url = "https://127.0.0.1:%s/services/"\nevent_listening_endpoints = ["tcp://127.0.0.1:%s"]\n[apim.sync_runtime_artifacts.gateway]\ngateway_labels = ["Default"]\n[apim.analytics]\nenable = %s\n' \
      "$((9443 + off))" "$((5672 + off))" "$enable" >"$work/gw_$mode/gw.toml"
    [ $mode != otlp ] || printf '[apim.analytics.otlp]\nendpoint = "http://127.0.0.1:%s"\nsampling_ratio = 1\n' "$cport" >>"$work/gw_$mode/gw.toml"
    [ $mode != elk ] || printf 'type = "elk"\nlog_file = "%s/apim_metrics.log"\n' "$work" >>"$work/gw_$mode/gw.toml"
    cp -r "$work/apim/data/tls" "$work/gw_$mode/" 2>/dev/null || true
    (cd "$work/gw_$mode" && exec "$bin" gateway -c gw.toml --data-dir . --bind 127.0.0.1 -DportOffset=$noff "${threads[@]}" --log-level warn) \
      >"$work/gw_$mode.log" 2>&1 & pids+=($!); node_pid[$mode]=$!
    wait_200 "http://127.0.0.1:$((9763 + noff))/health/ready" || { tail -30 "$work/gw_$mode.log" >&2; exit 1; }
    wait_200 -H "Authorization: Bearer $token" "http://127.0.0.1:$((8280 + noff))/bench/1.0.0"
  done
  url_of() { echo "http://127.0.0.1:$((8280 + off + $1))/bench/1.0.0"; }
  for n in 200 300 400 500; do wrk -t1 -c"$conns" -d2s -H "Authorization: Bearer $token" "$(url_of $n)" >/dev/null; done
  # The node's CPU time per request (all its threads, the exporters' included): steadier than requests/s on a
  # host whose speed drifts, and what the requests/s ratio comes to when the gateway's core is the bottleneck.
  cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
  export_ticks() { cat /proc/"$1"/task/*/stat 2>/dev/null | awk '$2 == "(apim-export)" {t += $14 + $15} END {print t + 0}'; }
  # Time the node's threads were ready to run and waited for a core (schedstat's run delay, ns), the exporters'
  # thread left out: what the request path waited.
  run_delay_ns() {
    local t
    for t in /proc/"$1"/task/*; do
      [ "$(awk '{print $2}' "$t/stat" 2>/dev/null)" != "(apim-export)" ] || continue
      awk '{print $2}' "$t/schedstat" 2>/dev/null
    done | awk '{t += $1} END {printf "%d", t}'
  }
  # The collector's too: on this host it takes its turns on the same cores, and the spans it reads are part of
  # what OTLP costs the machine.
  # And the exporters' thread's share of the node's.
  # And how long its threads waited for a core.
  node_load() { # MODE URL_OFFSET -> "rps p50 p99 node_cpu collector_cpu exporters_cpu run_delay" (us per request)
    local before after cbefore cafter ebefore eafter dbefore dafter out requests
    before=$(cpu_ticks "${node_pid[$1]}"); cbefore=$(cpu_ticks "$collector_pid"); ebefore=$(export_ticks "${node_pid[$1]}")
    dbefore=$(run_delay_ns "${node_pid[$1]}")
    out=$(load -H "Authorization: Bearer $token" "$(url_of "$2")")
    after=$(cpu_ticks "${node_pid[$1]}"); cafter=$(cpu_ticks "$collector_pid"); eafter=$(export_ticks "${node_pid[$1]}")
    dafter=$(run_delay_ns "${node_pid[$1]}")
    requests=$(echo "$out" | awk -v s="$secs" '{printf "%d", $1 * s}')
    per_request() { awk -v t="$1" -v hz="$(getconf CLK_TCK)" -v n="$requests" 'BEGIN {printf "%.2f", (n > 0 ? t * 1e6 / hz / n : 0)}'; }
    local waited; waited=$(awk -v d=$((dafter - dbefore)) -v n="$requests" 'BEGIN {printf "%.2f", (n > 0 ? d / 1000 / n : 0)}')
    echo "$out $(per_request $((after - before))) $(per_request $((cafter - cbefore))) $(per_request $((eafter - ebefore))) $waited"
  }
  # BENCH_PAIRED=1: each of (i), (j), (k) beside (i0) at the same time (`paired`).
  if [ -n "${BENCH_PAIRED:-}" ]; then
    for r in $(seq 1 "$rounds"); do
      for mode in $(rotated "$r" on otlp elk); do
        case $mode in on) n=200;; otlp) n=400;; elk) n=500;; esac
        paired "$r" "$(url_of $n)" "$(url_of 300)" "$work/paired_$mode" "${node_pid[$mode]}" -- "${node_pid[off]}"
      done
    done
  fi
  for r in $(seq 1 "$rounds"); do
    for mode in $(rotated "$r" on off otlp elk); do
      case $mode in on) n=200;; off) n=300;; otlp) n=400;; elk) n=500;; esac
      node_load $mode $n >>"$work/analytics_$mode"
    done
  done
  i_rps=$(col analytics_on 1); i_p50=$(col analytics_on 2); i_p99=$(col analytics_on 3); i_cpu=$(col analytics_on 4)
  i0_rps=$(col analytics_off 1); i0_p50=$(col analytics_off 2); i0_p99=$(col analytics_off 3); i0_cpu=$(col analytics_off 4)
  j_rps=$(col analytics_otlp 1); j_p50=$(col analytics_otlp 2); j_p99=$(col analytics_otlp 3); j_cpu=$(col analytics_otlp 4)
  j_collector_cpu=$(col analytics_otlp 5); j_export_cpu=$(col analytics_otlp 6); k_export_cpu=$(col analytics_elk 6)
  i_wait=$(col analytics_on 7); i0_wait=$(col analytics_off 7); j_wait=$(col analytics_otlp 7); k_wait=$(col analytics_elk 7)
  k_rps=$(col analytics_elk 1); k_p50=$(col analytics_elk 2); k_p99=$(col analytics_elk 3); k_cpu=$(col analytics_elk 4)
  # Every request of (j) was exported, or counted as dropped.
  curl -s "http://127.0.0.1:$((9763 + off + 400))/metrics" | grep -E '^apim_gateway_export_(dropped|catch_ups)_total' | sed 's/^/(j) /'
  curl -s "http://127.0.0.1:$((9763 + off + 500))/metrics" | grep -E '^apim_gateway_export_(dropped|catch_ups)_total' | sed 's/^/(k) /'
fi

if [ -z "${SMALL_ONLY:-}" ]; then
python3 bench/setup_apis.py "https://127.0.0.1:$((9443 + off))" "http://127.0.0.1:$bport/bytes/1024" 1000 10
sleep 2 # the gateway rebuilds its snapshot after the last change
wrk -t1 -c"$conns" -d2s -H "Authorization: Bearer $token" "$gw" >/dev/null
run_rounds large
d_rss=$(rss_mb)
d_rps=$(col large_c 1); d_p50=$(col large_c 2); d_p99=$(col large_c 3)
b2_rps=$(col large_b 1); b2_p99=$(col large_b 3)

# (d) a gateway node on its own, synced from the all-in-one over the event hub, at the same size.
goff=$(( off + 100 ))
mkdir -p "$work/gw"
printf '[server]\nhostname = "localhost"\n[apim.event_hub]\nenable = true\nusername = "admin"\npassword = "admin"\nservice_url = "https://127.0.0.1:%s/services/"\nevent_listening_endpoints = ["tcp://127.0.0.1:%s"]\n[apim.sync_runtime_artifacts.gateway]\ngateway_labels = ["Default"]\n' \
  "$((9443 + off))" "$((5672 + off))" >"$work/gw/gw.toml"
cp -r "$work/apim/data/tls" "$work/gw/" 2>/dev/null || true
(cd "$work/gw" && exec "$bin" gateway -c gw.toml --data-dir . --bind 127.0.0.1 -DportOffset=$goff "${threads[@]}" --log-level warn) \
  >"$work/gw.log" 2>&1 & gw_pid=$!; pids+=($gw_pid)
wait_200 "http://127.0.0.1:$((9763 + goff))/health/ready" || { tail -30 "$work/gw.log" >&2; exit 1; }
gwn="http://127.0.0.1:$((8280 + goff))/bench/1.0.0"
wait_200 -H "Authorization: Bearer $token" "$gwn"
wrk -t1 -c"$conns" -d2s -H "Authorization: Bearer $token" "$gwn" >/dev/null
for r in $(seq 1 "$rounds"); do
  for t in $(rotated "$r" b d); do
    case $t in b) load -H "Authorization: Bearer $token" "http://127.0.0.1:$nport/" >>"$work/node_b" ;;
      d) load -H "Authorization: Bearer $token" "$gwn" >>"$work/node_d" ;; esac
  done
done
n_rss=$(awk '/VmRSS/ {printf "%.1f", $2/1024}' /proc/$gw_pid/status)
n_rps=$(col node_d 1); n_p50=$(col node_d 2); n_p99=$(col node_d 3)
b3_rps=$(col node_b 1); b3_p99=$(col node_b 3)

else
  d_rps=0; d_p50=-; d_p99=-; d_rss=-; b2_rps=1; b2_p99=1; n_rps=0; n_p50=-; n_p99=-; n_rss=-; b3_rps=1; b3_p99=1
fi
ratio() { awk -v x="$1" -v y="$2" 'BEGIN {if (y == 0 || x == "-" || y == "-") print "-"; else printf "%.2f", x/y}'; }
echo
echo "wrk -t1 -c$conns -d${secs}s, keep-alive, 1 KiB responses; gateway worker threads: $workers; $(nproc) cores; medians of $rounds alternating rounds"
printf '%-52s %10s %9s %9s %9s\n' "target" "req/s" "p50 ms" "p99 ms" "RSS MB"
printf '%-52s %10s %9s %9s %9s\n' "(a) backend directly" "$a_rps" "$a_p50" "$a_p99" "-"
printf '%-52s %10s %9s %9s %9s\n' "(b) nginx proxy_pass, keep-alive upstream" "$b_rps" "$b_p50" "$b_p99" "-"
printf '%-52s %10s %9s %9s %9s\n' "(c) apim gateway: JWT + subscription + throttling" "$c_rps" "$c_p50" "$c_p99" "$c_rss"
printf '%-52s %10s %9s %9s %9s\n' "(c) with 1,000 APIs and 10,000 subscriptions" "$d_rps" "$d_p50" "$d_p99" "$d_rss"
printf '%-52s %10s %9s %9s %9s\n' "(d) gateway node alone, same size" "$n_rps" "$n_p50" "$n_p99" "$n_rss"
printf '%-52s %10s %9s %9s %9s\n' "(e) reference: bare hyper proxy, no chain" "$e_rps" "$e_p50" "$e_p99" "-"
printf '%-52s %10s %9s %9s %9s\n' "(f) (c) plus addHeader + rewriteResourcePath" "$f_rps" "$f_p50" "$f_p99" "-"
printf '%-52s %10s %9s %9s %9s\n' "(h) (c) through an API product" "$h_rps" "$h_p50" "$h_p99" "-"
printf '%-52s %10s %9s %9s %9s\n' "(g0) POST of a 1 KiB JSON body" "$g0_rps" "$g0_p50" "$g0_p99" "-"
printf '%-52s %10s %9s %9s %9s\n' "(g) (g0) with JSON schema validation" "$g_rps" "$g_p50" "$g_p99" "-"
printf '%-52s %10s %9s %9s %9s\n' "(i) gateway node, [apim.analytics] on (default)" "$i_rps" "$i_p50" "$i_p99" "-"
printf '%-52s %10s %9s %9s %9s\n' "(i0) gateway node, [apim.analytics] off" "$i0_rps" "$i0_p50" "$i0_p99" "-"
printf '%-52s %10s %9s %9s %9s\n' "(j) (i) plus OTLP traces of every request" "$j_rps" "$j_p50" "$j_p99" "-"
printf '%-52s %10s %9s %9s %9s\n' "(k) (i) plus WSO2's ELK log" "$k_rps" "$k_p50" "$k_p99" "-"
echo
echo "c/b requests/s: $(ratio "$c_rps" "$b_rps")   p99 c/b: $(ratio "$c_p99" "$b_p99")   c/a requests/s: $(ratio "$c_rps" "$a_rps")"
echo "at size: c/b requests/s: $(ratio "$d_rps" "$b2_rps")   p99 c/b: $(ratio "$d_p99" "$b2_p99")   (nginx measured again in the same rounds)"
echo "gateway node at size: d/b requests/s: $(ratio "$n_rps" "$b3_rps")   p99 d/b: $(ratio "$n_p99" "$b3_p99")   (nginx measured again in the same rounds)"
echo "operation policies: f/c requests/s: $(ratio "$f_rps" "$c_rps")   p99 f/c: $(ratio "$f_p99" "$c_p99")"
echo "API product: h/c requests/s: $(ratio "$h_rps" "$c_rps")   p99 h/c: $(ratio "$h_p99" "$c_p99")"
echo "schema validation of 1 KiB: g/g0 requests/s: $(ratio "$g_rps" "$g0_rps")   p99 g/g0: $(ratio "$g_p99" "$g0_p99")"
echo "CPU per request (us, all threads): nginx b $(col small_b 4), bare proxy e $(col small_e 4), all-in-one c $(col small_c 4) (outside its traffic workers: $(col small_c 5)), f $(col small_f 4), g0 $(col small_g0 4), g $(col small_g 4);   as throughput ratios on a saturated core: b/c $(ratio "$(col small_b 4)" "$(col small_c 4)"), c/f $(ratio "$(col small_c 4)" "$(col small_f 4)"), g0/g $(ratio "$(col small_g0 4)" "$(col small_g 4)")"
[ -z "${BENCH_ANALYTICS:-}" ] || echo "analytics: i/i0 requests/s: $(ratio "$i_rps" "$i0_rps")   p99 i/i0: $(ratio "$i_p99" "$i0_p99")"
[ -z "${BENCH_ANALYTICS:-}" ] || echo "exporters: j/i0 (OTLP, 100 %) requests/s: $(ratio "$j_rps" "$i0_rps")   k/i0 (ELK log): $(ratio "$k_rps" "$i0_rps")   p99 j/i0: $(ratio "$j_p99" "$i0_p99")"
[ -z "${BENCH_ANALYTICS:-}" ] || echo "node CPU per request (us, all threads): i $i_cpu, i0 $i0_cpu, j $j_cpu, k $k_cpu;   as throughput ratios on a saturated core: i0/i $(ratio "$i0_cpu" "$i_cpu"), i0/j $(ratio "$i0_cpu" "$j_cpu"), i0/k $(ratio "$i0_cpu" "$k_cpu");   of which the exporters' thread: j $j_export_cpu, k $k_export_cpu;   the OTLP collector's CPU per request in (j): $j_collector_cpu us"
[ -z "${BENCH_PAIRED:-}" ] || [ -z "${BENCH_ANALYTICS:-}" ] || echo "paired with (i0), at the same time, medians of $rounds rounds: CPU per request i0/i $(col paired_on 4), i0/j $(col paired_otlp 4), i0/k $(col paired_elk 4);   requests/s i/i0 $(col paired_on 3), j/i0 $(col paired_otlp 3), k/i0 $(col paired_elk 3);   every round's CPU i0/i: $(every paired_on 4)  i0/j: $(every paired_otlp 4)  i0/k: $(every paired_elk 4)"
[ -z "${BENCH_ANALYTICS:-}" ] || echo "node threads' wait for a core per request, the exporters' thread left out (us, schedstat run delay): i $i_wait, i0 $i0_wait, j $j_wait, k $k_wait"
[ -z "${BENCH_PAIRED:-}" ] || echo "paired with nginx, at the same time, medians of $rounds rounds: CPU per request b/c $(col paired_cb 4);   requests/s c/b $(col paired_cb 3);   every round's CPU b/c: $(every paired_cb 4)"
echo "reference: e/b requests/s: $(ratio "$e_rps" "$b_rps")   p99 e/b: $(ratio "$e_p99" "$b_p99")   c/e requests/s: $(ratio "$c_rps" "$e_rps")   (the chain's share)"
if [ -n "${BENCH_EDGE:-}" ]; then
  cleanup
  trap - EXIT
  echo
  exec bash bench/edge.sh "$secs"
fi
