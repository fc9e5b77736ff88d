#!/usr/bin/env bash
# The README's quickstart as a script: import an OpenAPI file, create a revision, deploy it to Default, publish,
# create an application, generate keys, get a token, subscribe with Gold, call the API through the gateway.
# Needs curl and python3.
# Usage: examples/quickstart.sh [BASE_URL] [USER:PASSWORD] [GATEWAY_URL] [OPENAPI_FILE]
#   (defaults: https://localhost:9443 admin:admin http://localhost:8280 examples/pizzashack.yaml)
set -euo pipefail
BASE=${1:-https://localhost:9443}
AUTH=${2:-admin:admin}
HERE=$(cd "$(dirname "$0")" && pwd)
GW=${3:-http://localhost:8280}
SPEC=${4:-$HERE/pizzashack.yaml}
P=$BASE/api/am/publisher/v4
D=$BASE/api/am/devportal/v3
# A failed call says what failed (curl's -f alone would leave the JSON reader below with nothing to read).
c() {
  local out
  if ! out=$(curl -sSk -u "$AUTH" -w '\n%{http_code}' "$@"); then echo "quickstart: cannot reach $BASE (is apim all-in-one running?)" >&2; exit 1; fi
  local code=${out##*$'\n'}
  if [ "${code:0:1}" != 2 ]; then echo "quickstart: ${*: -1} answered $code: ${out%$'\n'*}" >&2; exit 1; fi
  printf '%s' "${out%$'\n'*}"
}
# A value from the JSON on stdin (`d`); nothing on stdin (the call before failed and said why) is a quiet failure.
value() { python3 -c "import json,sys
t = sys.stdin.read()
if not t.strip(): sys.exit(1)
d = json.loads(t)
print($1)"; }
field() { value "d$1"; }

# A second run finds the API there already (its name comes from the file) and uses it again.
NAME=$(sed -n 's/^[[:space:]]*"\{0,1\}title"\{0,1\}[[:space:]]*:[[:space:]]*"\{0,1\}\([^",]*\)"\{0,1\}.*/\1/p' "$SPEC" | head -1)
API_ID=""
if [ -n "$NAME" ]; then
  API_ID=$(c "$P/apis?query=name:%22$NAME%22" | value "(d.get('list') or [{}])[0].get('id', '')")
fi
if [ -z "$API_ID" ]; then
  API_ID=$(c -F file=@"$SPEC" -F 'additionalProperties={"context":"/pizzashack","policies":["Gold","Unlimited"]}' \
    "$P/apis/import-openapi" | field '["id"]')
  echo "API:          $API_ID"
  REV_ID=$(c -H 'content-type: application/json' -d '{"description":"first revision"}' "$P/apis/$API_ID/revisions" | field '["id"]')
  echo "revision:     $REV_ID"
  c -H 'content-type: application/json' -d '[{"name":"Default","displayOnDevportal":true}]' "$P/apis/$API_ID/deploy-revision?revisionId=$REV_ID" >/dev/null
  echo "deployed to:  Default"
  STATE=$(c -X POST "$P/apis/change-lifecycle?action=Publish&apiId=$API_ID" | field '["lifecycleState"]["state"]')
else
  echo "API:          $API_ID (there from an earlier run)"
  STATE=$(c "$P/apis/$API_ID" | field '["lifeCycleStatus"]' | python3 -c "import sys; print(sys.stdin.read().strip().title())")
fi
echo "state:        $STATE"
# Each run makes its own application (names are unique per owner), on the Unlimited plan so trying things is
# never throttled.
APP_ID=$(c -H 'content-type: application/json' -d "{\"name\":\"PizzaApp-$(date +%s)\",\"throttlingPolicy\":\"Unlimited\",\"tokenType\":\"JWT\"}" "$D/applications" | field '["applicationId"]')
echo "application:  $APP_ID"
KEYS=$(c -H 'content-type: application/json' -d '{"keyType":"PRODUCTION","grantTypesToBeSupported":["client_credentials","password"]}' "$D/applications/$APP_ID/generate-keys")
CK=$(echo "$KEYS" | field '["consumerKey"]')
CS=$(echo "$KEYS" | field '["consumerSecret"]')
echo "consumer key: $CK"
TOKEN=$(curl -sSfk -u "$CK:$CS" -d grant_type=client_credentials "$BASE/oauth2/token" | field '["access_token"]')
echo "token:        ${TOKEN:0:24}…"
SUB=$(c -H 'content-type: application/json' -d "{\"apiId\":\"$API_ID\",\"applicationId\":\"$APP_ID\",\"throttlingPolicy\":\"Gold\"}" "$D/subscriptions" | field '["status"]')
echo "subscription: Gold, $SUB"
# The gateway picks the deployment up within milliseconds; retry briefly while it does.
for _ in $(seq 1 50); do
  CODE=$(curl -sk -o /tmp/apim-quickstart-menu.$$ -w '%{http_code}' -H "Authorization: Bearer $TOKEN" "$GW/pizzashack/1.0.0/menu")
  [ "$CODE" = 200 ] && break
  sleep 0.1
done
echo "GET /pizzashack/1.0.0/menu through the gateway: $CODE"
cat /tmp/apim-quickstart-menu.$$; echo
rm -f /tmp/apim-quickstart-menu.$$
[ "$CODE" = 200 ]
# The gateway sends its analytics every few seconds: the API's traffic as the Publisher shows it.
for _ in $(seq 1 40); do
  CALLS=$(c "$P/apis/$API_ID/analytics?period=15m" | field '["requests"]')
  [ "$CALLS" -gt 0 ] && break
  sleep 0.25
done
echo "analytics:    $CALLS request(s) to the API in the last 15 minutes"
