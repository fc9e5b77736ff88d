#!/usr/bin/env bash
# The key manager against its ceiling: JWT client_credentials tokens per second from `apim all-in-one` (default
# settings) pinned alone to one core, the load generator (wrk, keep-alive, one thread, 32 connections) pinned to
# the other; beside raw signatures per second with the same key on the same core (`sign_raw`, one thread), for
# each `[oauth.token_generation] signing_algorithm`: RS256 (the node's RSA-2048 key), ES256 and EdDSA (keys of
# the key manager's own). Medians of ROUNDS alternating rounds (default 3).
# Usage: bench/km.sh [SECONDS]   (needs wrk and taskset)
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-10}
rounds=${ROUNDS:-3}
for t in wrk taskset openssl; do command -v "$t" >/dev/null || { echo "$t not found" >&2; exit 1; }; done
[ "$(nproc)" -ge 2 ] || { echo "the pinned layout needs 2 cores" >&2; exit 1; }
[ -n "${APIM_BIN:-}" ] || cargo build --release -q -p apim-bin
cargo build --release -q -p apim-key-manager --example sign_raw
bin=${APIM_BIN:-$PWD/target/release/apim}
km_cpu=1
load_cpu=0
. bench/common.sh
off=$(( $(free_port) % 10000 + 10000 ))
printf 'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/x-www-form-urlencoded"\nwrk.body = "grant_type=client_credentials"\n' >"$work/token.lua"

for alg in RS256 ES256 EdDSA; do
  mkdir -p "$work/$alg/db"
  printf '[server]\nhostname = "localhost"\n[super_admin]\nusername = "admin"\npassword = "admin"\ncreate_admin_account = true\n[database.apim_db]\ntype = "sqlite"\nurl = "jdbc:sqlite:db/apim.db"\n[database.shared_db]\ntype = "sqlite"\nurl = "jdbc:sqlite:db/shared.db"\n[oauth.token_generation]\nsigning_algorithm = "%s"\n' "$alg" >"$work/$alg/deployment.toml"
  (cd "$work/$alg" && exec taskset -c $km_cpu "$bin" all-in-one -c deployment.toml --data-dir data --bind 127.0.0.1 -DportOffset=$off --log-level warn) \
    >"$work/$alg.log" 2>&1 & pid=$!; pids+=($pid)
  for _ in $(seq 1 2000); do [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$((9763 + off))/health/ready")" = 200 ] && break; sleep 0.01; done
  # An application with client_credentials keys, through the DevPortal REST API.
  creds=$(python3 - "https://127.0.0.1:$((9443 + off))" <<'EOF'
import base64, http.client, json, ssl, sys, urllib.parse
u = urllib.parse.urlsplit(sys.argv[1])
c = http.client.HTTPSConnection(u.hostname, u.port, context=ssl._create_unverified_context())
auth = {"authorization": "Basic " + base64.b64encode(b"admin:admin").decode(), "content-type": "application/json"}
def call(path, body):
    c.request("POST", path, json.dumps(body), auth)
    r = c.getresponse(); data = r.read()
    assert r.status < 300, (path, r.status, data)
    return json.loads(data)
app = call("/api/am/devportal/v3/applications", {"name": "KmBench", "throttlingPolicy": "Unlimited", "tokenType": "JWT"})
keys = call(f"/api/am/devportal/v3/applications/{app['applicationId']}/generate-keys",
            {"keyType": "PRODUCTION", "grantTypesToBeSupported": ["client_credentials"]})
print(base64.b64encode(f"{keys['consumerKey']}:{keys['consumerSecret']}".encode()).decode())
EOF
)
  url="http://127.0.0.1:$((9763 + off))/oauth2/token"
  alg_seen=$(curl -s -H "Authorization: Basic $creds" -d grant_type=client_credentials "$url" \
    | python3 -c 'import sys,json,base64; t=json.load(sys.stdin)["access_token"]; h=t.split(".")[0]; h+="="*(-len(h)%4); print(json.loads(base64.urlsafe_b64decode(h))["alg"])')
  [ "$alg_seen" = "$alg" ] || { echo "expected $alg tokens, got $alg_seen" >&2; exit 1; }
  # The same key for the ceiling: the node's RSA key, or the key manager's own.
  case $alg in
    RS256) openssl pkey -in "$work/$alg/data/tls/localhost.pem" -outform DER -out "$work/$alg/key.der" ;;
    *) cp "$work/$alg/data/keys/jwt-$(echo "$alg" | tr 'A-Z' 'a-z').pk8" "$work/$alg/key.der" ;;
  esac
  taskset -c $load_cpu wrk -t1 -c32 -d2s -H "Authorization: Basic $creds" -s "$work/token.lua" "$url" >/dev/null
  for _ in $(seq 1 "$rounds"); do
    out=$(taskset -c $load_cpu wrk -t1 -c32 -d"${secs}s" -H "Authorization: Basic $creds" -s "$work/token.lua" "$url")
    non2xx=$(echo "$out" | awk '/Non-2xx/ {print $NF}')
    [ -z "$non2xx" ] || { echo "$alg: non-2xx answers: $non2xx" >&2; echo "$out" >&2; exit 1; }
    echo "$out" | awk '/Requests\/sec/ {print $2}' >>"$work/${alg}_km"
    taskset -c $km_cpu target/release/examples/sign_raw "$alg" "$work/$alg/key.der" "$secs" >>"$work/${alg}_raw"
  done
  kill "$pid"; wait "$pid" 2>/dev/null || true
done

echo
echo "key manager pinned alone to core $km_cpu (all-in-one, default settings, SQLite), wrk -t1 -c32 on core $load_cpu; $secs s per figure; medians of $rounds alternating rounds"
printf '%-8s %14s %22s %7s\n' "alg" "tokens/s" "raw signatures/s" "ratio"
for alg in RS256 ES256 EdDSA; do
  k=$(median <"$work/${alg}_km"); r=$(median <"$work/${alg}_raw")
  printf '%-8s %14s %22s %7s\n' "$alg" "$k" "$r" "$(awk -v x="$k" -v y="$r" 'BEGIN {printf "%.2f", x/y}')"
done
