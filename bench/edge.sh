#!/usr/bin/env bash
# The gateway against nginx and HAProxy at the edge: default settings, TLS, new connections, HTTP/2. The layout
# pins the proxy under test alone to one core and the load generator with the backend (1 KiB answers) to the
# other, so each proxy gets exactly one core:
#   (p)  keep-alive HTTP/1.1, wrk -t1 -c32: nginx proxy_pass (one worker) against apim with default settings
#        (no flags: it finds one usable core and runs one traffic worker);
#   (s)  the same over HTTPS (TLS 1.3, keep-alive);
#   (n)  a new connection per request (`Connection: close`), plain HTTP, wrk;
#   (t)  a new TLS connection per request, full handshakes (`connload ... full`, the server's RSA-2048 key);
#   (r)  the same with sessions resumed (TLS 1.3 tickets);
#   (t2) full handshakes with both servers holding an ECDSA P-256 certificate too (the client's choice);
#   (h)  HTTP/2 over TLS, h2load with 8 connections of 32 streams;
#   (x)  HAProxy doing the gateway's job (RS256 jwt_verify, exp, a client map, a stick-table rate), one thread;
# then, unpinned on every core: (u) nginx `worker_processes auto` against apim with default settings, wrk with as
# many threads as cores. Every proxy gets the same request, bearer token included. Medians of ROUNDS alternating
# rounds (default 3).
# Usage: bench/edge.sh [SECONDS]   (needs wrk, nginx, haproxy and h2load: apt-get install wrk nginx haproxy nghttp2-client)
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-10}
rounds=${ROUNDS:-3}
for t in wrk h2load haproxy taskset openssl; do command -v "$t" >/dev/null || { echo "$t not found (apt-get install wrk nghttp2-client haproxy)" >&2; exit 1; }; done
nginx_bin=$(command -v nginx || echo /usr/sbin/nginx)
[ -x "$nginx_bin" ] || { echo "nginx not found: apt-get install nginx" >&2; exit 1; }
[ "$(nproc)" -ge 2 ] || { echo "the pinned layout needs 2 cores" >&2; exit 1; }
[ -n "${APIM_BIN:-}" ] || cargo build --release -q -p apim-bin
cargo build --release -q -p apim-test-support --example backend --example connload
bin=${APIM_BIN:-$PWD/target/release/apim}
# Core 1: the proxy under test. Core 0: wrk, connload, h2load and the backend.
proxy_cpu=1
load_cpu=0
. bench/common.sh

bport=$(free_port)
taskset -c $load_cpu target/release/examples/backend "127.0.0.1:$bport" >"$work/backend.log" 2>&1 & pids+=($!)
wait_200 "http://127.0.0.1:$bport/bytes/1024"

# apim all-in-one, default settings, on the proxy's core (std's available_parallelism reads the affinity mask).
off=$(( $(free_port) % 10000 + 10000 ))
mkdir -p "$work/apim/db"
printf '[server]\nhostname = "localhost"\n[super_admin]\nusername = "admin"\npassword = "admin"\ncreate_admin_account = true\n[database.apim_db]\ntype = "sqlite"\nurl = "jdbc:sqlite:db/apim.db"\n[database.shared_db]\ntype = "sqlite"\nurl = "jdbc:sqlite:db/shared.db"\n' >"$work/apim/deployment.toml"
start_apim() { # CPUS EXTRA_TOML_FILE...: the node, pinned to CPUS, with the TOML files appended to its configuration
  local cpus=$1; shift
  cat "$work/apim/deployment.toml" "$@" >"$work/apim/run.toml"
  (cd "$work/apim" && exec taskset -c "$cpus" "$bin" all-in-one -c run.toml --data-dir data --bind 127.0.0.1 -DportOffset=$off --log-level warn) \
    >>"$work/apim.log" 2>&1 &
  apim_pid=$!; pids+=($apim_pid)
  wait_200 "http://127.0.0.1:$((9763 + off))/health/ready" || { tail -30 "$work/apim.log" >&2; exit 1; }
}
stop_apim() { kill "$apim_pid"; wait "$apim_pid" 2>/dev/null || true; }
start_apim $proxy_cpu /dev/null
token=$(python3 bench/setup_apis.py "https://127.0.0.1:$((9443 + off))" "http://127.0.0.1:$bport/bytes/1024")
gw="127.0.0.1:$((8280 + off))/bench/1.0.0"
gws="127.0.0.1:$((8243 + off))/bench/1.0.0"
wait_200 -H "Authorization: Bearer $token" "http://$gw"

# The same certificate for nginx: the one apim generated (RSA-2048), and an ECDSA P-256 one for (t2).
pem="$work/apim/data/tls/localhost.pem"
openssl ecparam -name prime256v1 -genkey -noout 2>/dev/null | openssl pkcs8 -topk8 -nocrypt -out "$work/ec.key"
openssl req -new -x509 -key "$work/ec.key" -subj /CN=localhost -days 30 -out "$work/ec.crt" 2>/dev/null
cat "$work/ec.crt" "$work/ec.key" >"$work/apim/ec.pem"

# nginx: one worker pinned, or `auto` unpinned; plain, TLS and HTTP/2 on their own ports.
nport=$(free_port); nsport=$(free_port)
nginx_conf() { # WORKERS EXTRA_SSL_LINES
  mkdir -p "$work/nginx/logs"
  cat >"$work/nginx/nginx.conf" <<EOF
worker_processes $1;
daemon off;
pid $work/nginx/nginx.pid;
error_log $work/nginx/logs/error.log warn;
events { worker_connections 8192; }
http {
  access_log off;
  upstream backend { server 127.0.0.1:$bport; keepalive 64; }
  # h2load keeps its connections for the whole run (nginx's default closes them after 1,000 requests).
  keepalive_requests 100000000;
  ssl_protocols TLSv1.2 TLSv1.3;
  ssl_session_cache shared:SSL:10m;
  ssl_session_tickets on;
  ssl_ecdh_curve X25519:prime256v1:secp384r1;
  server {
    listen 127.0.0.1:$nport;
    listen 127.0.0.1:$nsport ssl http2;
    ssl_certificate $pem;
    ssl_certificate_key $pem;
    $2
    location / { proxy_pass http://backend/bytes/1024; proxy_http_version 1.1; proxy_set_header Connection ""; }
  }
}
EOF
}
start_nginx() { # CPUS WORKERS EXTRA_SSL_LINES
  nginx_conf "$2" "$3"
  taskset -c "$1" "$nginx_bin" -p "$work/nginx" -c "$work/nginx/nginx.conf" >/dev/null 2>&1 & nginx_pid=$!; pids+=($nginx_pid)
  wait_200 "http://127.0.0.1:$nport/"
}
stop_nginx() { kill "$nginx_pid"; wait "$nginx_pid" 2>/dev/null || true; }
start_nginx $proxy_cpu 1 ""

# HAProxy doing the gateway's job on one thread: the token's RS256 signature and expiry, its client in a map of
# subscribed applications, a per-client request rate in a stick table (a limit never reached), then the backend.
xport=$(free_port)
openssl x509 -in "$pem" -pubkey -noout >"$work/jwt_pub.pem"
client=$(python3 -c 'import sys,json,base64; p=sys.argv[1].split(".")[1]; p+="="*(-len(p)%4); c=json.loads(base64.urlsafe_b64decode(p)); print(c.get("azp") or c.get("client_id"))' "$token")
printf '%s BenchApp\n' "$client" >"$work/clients.map"
cat >"$work/haproxy.cfg" <<EOF
global
  nbthread 1
  maxconn 8192
defaults
  mode http
  timeout connect 5s
  timeout client 30s
  timeout server 30s
frontend gateway
  bind 127.0.0.1:$xport
  http-request set-var(txn.bearer) http_auth_bearer
  http-request set-var(txn.alg) var(txn.bearer),jwt_header_query('\$.alg')
  http-request deny deny_status 401 unless { var(txn.alg) -m str RS256 }
  http-request deny deny_status 401 unless { var(txn.bearer),jwt_verify(txn.alg,"$work/jwt_pub.pem") -m int 1 }
  http-request set-var(txn.exp) var(txn.bearer),jwt_payload_query('\$.exp','int')
  http-request set-var(txn.now) date()
  http-request deny deny_status 401 if { var(txn.exp),sub(txn.now) -m int lt 0 }
  http-request set-var(txn.client) var(txn.bearer),jwt_payload_query('\$.azp')
  http-request deny deny_status 403 unless { var(txn.client),map($work/clients.map) -m found }
  http-request track-sc0 var(txn.client) table clients
  http-request deny deny_status 429 if { sc_http_req_rate(0) gt 1000000000 }
  default_backend backend
backend clients
  stick-table type string len 64 size 100k expire 60s store http_req_rate(60s)
backend backend
  http-reuse always
  http-request set-path /bytes/1024
  server b1 127.0.0.1:$bport
EOF
taskset -c $proxy_cpu haproxy -f "$work/haproxy.cfg" -db >"$work/haproxy.log" 2>&1 & pids+=($!)
wait_200 -H "Authorization: Bearer $token" "http://127.0.0.1:$xport/"
[ "$(curl -s -o /dev/null -w '%{http_code}' -H 'Authorization: Bearer x.y.z' "http://127.0.0.1:$xport/")" = 401 ] \
  || { echo "HAProxy took a forged token" >&2; exit 1; }

# Loads -> "requests/s p50_ms p99_ms"
wrk_load() { # CPUS THREADS CONNS wrk-args...
  local cpus=$1 threads=$2 conns=$3; shift 3
  local out; out=$(taskset -c "$cpus" wrk -t"$threads" -c"$conns" -d"${secs}s" --latency -H "Authorization: Bearer $token" "$@")
  local non2xx; non2xx=$(echo "$out" | awk '/Non-2xx/ {print $NF}')
  [ -z "$non2xx" ] || { echo "non-2xx answers from $*: $non2xx" >&2; exit 1; }
  echo "$(echo "$out" | awk '/Requests\/sec/ {print $2}') $(echo "$out" | awk '$1=="50%" {print $2}' | to_ms) $(echo "$out" | awk '$1=="99%" {print $2}' | to_ms)"
}
conn_load() { # URL full|resume -> "requests/s p50 p99" (the resumed share goes to stderr's log)
  local out; out=$(taskset -c $load_cpu target/release/examples/connload "$1" "$secs" 32 "$2" "Authorization: Bearer $token")
  echo "$1 $2: $out" >>"$work/connload.log"
  echo "$out" | awk '{print $1, $2, $3}'
}
h2_load() { # URL -> "requests/s mean -" (h2load reports a request's mean time, not its percentiles)
  local out; out=$(taskset -c $load_cpu h2load -c 8 -m 32 -t 1 -D "$secs" -H "Authorization: Bearer $token" "$1" 2>&1)
  if ! echo "$out" | grep -q ' 0 failed, 0 errored' || ! echo "$out" | grep -q ' 0 4xx, 0 5xx'; then
    echo "h2load errors against $1:" >&2; echo "$out" | grep -E 'requests:|status codes' >&2; exit 1
  fi
  echo "$(echo "$out" | awk '/^finished in/ {print $4}') $(echo "$out" | awk '/^time for request:/ {print $6}' | to_ms) -"
}
col() { awk -v c="$2" '{print $c}' "$work/$1" | median; }
ratio() { awk -v x="$1" -v y="$2" 'BEGIN {if (y == 0 || x == "-" || y == "-") print "-"; else printf "%.2f", x/y}'; }

# Warm-up: the gateway's verified-token cache and pools, nginx's and HAProxy's upstream connections.
for u in "http://$gw" "http://127.0.0.1:$nport/" "http://127.0.0.1:$xport/"; do taskset -c $load_cpu wrk -t1 -c32 -d2s -H "Authorization: Bearer $token" "$u" >/dev/null; done

pinned_step() { # KEY: one run of one row's target
  case $1 in
    p_nginx) wrk_load $load_cpu 1 32 "http://127.0.0.1:$nport/" ;;
    p_apim) wrk_load $load_cpu 1 32 "http://$gw" ;;
    x_haproxy) wrk_load $load_cpu 1 32 "http://127.0.0.1:$xport/" ;;
    s_nginx) wrk_load $load_cpu 1 32 "https://127.0.0.1:$nsport/" ;;
    s_apim) wrk_load $load_cpu 1 32 "https://$gws" ;;
    n_nginx) wrk_load $load_cpu 1 32 -H "Connection: close" "http://127.0.0.1:$nport/" ;;
    n_apim) wrk_load $load_cpu 1 32 -H "Connection: close" "http://$gw" ;;
    t_nginx) conn_load "https://127.0.0.1:$nsport/" full ;;
    t_apim) conn_load "https://$gws" full ;;
    r_nginx) conn_load "https://127.0.0.1:$nsport/" resume ;;
    r_apim) conn_load "https://$gws" resume ;;
    h_nginx) h2_load "https://127.0.0.1:$nsport/" ;;
    h_apim) h2_load "https://$gws" ;;
  esac >>"$work/$1"
}
# Each round in rotated order (`rotated`): no target always runs right after the same one.
pinned_rounds() {
  for r in $(seq 1 "$rounds"); do
    for key in $(rotated "$r" p_nginx p_apim x_haproxy s_nginx s_apim n_nginx n_apim t_nginx t_apim r_nginx r_apim h_nginx h_apim); do
      pinned_step "$key"
    done
  done
}
pinned_rounds

# (t2): both with an ECDSA P-256 certificate beside the RSA one; connload's client prefers ECDSA, as browsers do.
stop_nginx
start_nginx $proxy_cpu 1 "ssl_certificate $work/apim/ec.pem; ssl_certificate_key $work/apim/ec.pem;"
stop_apim
printf '[keystore.tls_ecdsa]\nfile_name = "ec.pem"\ntype = "PEM"\n' >"$work/ecdsa.toml"
start_apim $proxy_cpu "$work/ecdsa.toml"
wait_200 -H "Authorization: Bearer $token" "http://$gw"
for r in $(seq 1 "$rounds"); do
  for who in $(rotated "$r" nginx apim); do
    case $who in nginx) conn_load "https://127.0.0.1:$nsport/" full ;; apim) conn_load "https://$gws" full ;; esac >>"$work/t2_$who"
  done
done

# (u): unpinned on every core, nginx `worker_processes auto`, wrk with a thread per core.
cores=$(nproc)
stop_nginx; start_nginx "0-$((cores - 1))" auto ""
stop_apim; start_apim "0-$((cores - 1))" /dev/null
wait_200 -H "Authorization: Bearer $token" "http://$gw"
for u in "http://$gw" "http://127.0.0.1:$nport/"; do wrk -t"$cores" -c64 -d2s -H "Authorization: Bearer $token" "$u" >/dev/null; done
for r in $(seq 1 "$rounds"); do
  for who in $(rotated "$r" nginx apim); do
    case $who in nginx) wrk_load "0-$((cores - 1))" "$cores" 64 "http://127.0.0.1:$nport/" ;; apim) wrk_load "0-$((cores - 1))" "$cores" 64 "http://$gw" ;; esac >>"$work/u_$who"
  done
done

echo
echo "pinned: each proxy alone on core $proxy_cpu; load and backend on core $load_cpu; $secs s per figure; medians of $rounds alternating rounds"
printf '%-58s %10s %8s %8s %10s %8s %8s %7s %7s\n' "row" "nginx/s" "p50" "p99" "apim/s" "p50" "p99" "ratio" "p99 x"
row() { # LABEL KEY
  local n a np a99
  n=$(col "$2_nginx" 1); a=$(col "$2_apim" 1); np=$(col "$2_nginx" 3); a99=$(col "$2_apim" 3)
  printf '%-58s %10s %8s %8s %10s %8s %8s %7s %7s\n' "$1" "$n" "$(col "$2_nginx" 2)" "$np" "$a" "$(col "$2_apim" 2)" "$a99" "$(ratio "$a" "$n")" "$(ratio "$a99" "$np")"
}
row "(p) keep-alive HTTP/1.1, apim default settings" p
row "(s) keep-alive HTTPS (TLS 1.3)" s
row "(n) new connection per request, HTTP" n
row "(t) new TLS connection per request, full handshake (RSA)" t
row "(r) new TLS connection per request, session resumed" r
row "(t2) new TLS connection, full handshake, ECDSA P-256" t2
row "(h) HTTP/2 over TLS, 8 conns x 32 streams (p50: mean)" h
row "(u) unpinned, $cores cores: nginx auto, wrk -t$cores -c64" u
x=$(col x_haproxy 1); a=$(col p_apim 1)
printf '%-58s %10s %8s %8s %10s %8s %8s %7s\n' "(x) HAProxy, the gateway's job, 1 thread (vs apim (p))" "$x" "$(col x_haproxy 2)" "$(col x_haproxy 3)" "$a" "$(col p_apim 2)" "$(col p_apim 3)" "$(ratio "$a" "$x")"
echo
echo "resumed shares (connload):"
sort "$work/connload.log" | awk '{print "  " $0}'
