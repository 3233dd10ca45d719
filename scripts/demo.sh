#!/usr/bin/env bash
# Gatehouse's main job, end to end on this machine: builds the filter and the CLI, compiles
# policies/, starts Envoy (with the filter) and an echo upstream on 127.0.0.1, sends a scripted
# set of requests and prints each decision. Installs what it needs (scripts/setup.sh).
# Everything it starts is stopped when it exits.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
policies=${1:-policies}

envoy=$(scripts/setup.sh | tail -n 1)
echo "== building the filter (wasm32-wasip1, release) and the gatehouse CLI"
cargo build -q -p gatehouse-filter --target wasm32-wasip1 --release
cargo build -q -p gatehouse --release
gh="$root/target/release/gatehouse"
wasm="$root/target/wasm32-wasip1/release/gatehouse_filter.wasm"
out="$root/target/demo"
mkdir -p "$out"

echo "== gatehouse compile $policies"
"$gh" compile "$policies" -o "$out/table.json"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
listen=$(free_port); upstream=$(free_port); admin=$(free_port)
"$gh" emit envoy --wasm "$wasm" --table "$out/table.json" --table-dir "$out/tables" \
  --listen "127.0.0.1:$listen" --upstream "127.0.0.1:$upstream" --admin "127.0.0.1:$admin" \
  > "$out/envoy.yaml"

# The Dex sign-in's secrets (policies/issuers.yaml, `signIn`) come from Envoy's environment,
# as a Kubernetes Secret gives them to the gateway; the table only names the variables.
export OIDC_CLIENT_SECRET=${OIDC_CLIENT_SECRET:-demo-client-secret}
GATEHOUSE_COOKIE_KEYS=${GATEHOUSE_COOKIE_KEYS:-demo:$(python3 -c 'import base64, os; print(base64.urlsafe_b64encode(os.urandom(32)).decode().rstrip("="))')}
export GATEHOUSE_COOKIE_KEYS

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT
python3 scripts/echo_upstream.py --port "$upstream" --max-seconds 300 & pids+=($!)
"$envoy" -c "$out/envoy.yaml" --use-dynamic-base-id --concurrency 1 -l warning \
  --log-path "$out/envoy.log" & pids+=($!)
for _ in $(seq 1 150); do
  (exec 3<>"/dev/tcp/127.0.0.1/$listen") 2>/dev/null && break
  sleep 0.2
done
echo "== Envoy $("$envoy" --version | grep -o '[0-9]*\.[0-9]*\.[0-9]*' | head -1) with Gatehouse on 127.0.0.1:$listen (log: target/demo/envoy.log)"

keys=testdata/keys
alb_arn=arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/kubeflow/50dc6c495c0c9188
dex() { "$gh" token jwt --key $keys/dex-rsa.key.pem --alg RS256 --kid dex-1 \
  --claims "{\"iss\":\"https://dex.example.com\",\"aud\":\"kubeflow-oidc-authservice\",\"email\":\"$1\",\"email_verified\":true,\"groups\":$2}" "${@:3}"; }
alb() { "$gh" token alb --key "$2" --kid alb-1 --signer "$3" --claims "{\"email\":\"$1\",\"email_verified\":true,\"sub\":\"$1\"}"; }
# The Cognito access token an ALB forwards beside x-amzn-oidc-data (its groups: `cognito:groups`).
access() { "$gh" token jwt --key $keys/cognito-rsa.key.pem --alg RS256 --kid cognito-1 \
  --claims "{\"iss\":\"https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Example\",\"sub\":\"$1\",\"token_use\":\"access\",\"client_id\":\"gatehouse-example-client\",\"cognito:groups\":$2}"; }
sa() { "$gh" token jwt --key $keys/eks-sa-rsa.key.pem --alg RS256 --kid eks-sa-1 \
  --claims "{\"iss\":\"https://oidc.eks.us-east-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE\",\"aud\":[\"gatehouse\"],\"sub\":\"system:serviceaccount:$1\"}"; }

alice=$(dex alice@example.com '[]')
bob=$(dex bob@example.com '[]')
carol=$(dex carol@example.com '[]')
ops=$(dex dave@example.com '["ml-ops"]')
expired=$(dex alice@example.com '[]' --issued-ago 7200 --ttl 3600)
alb_alice=$(alb alice@example.com $keys/alb-1.key.pem "$alb_arn")
alb_wrong_signer=$(alb alice@example.com $keys/alb-1.key.pem \
  arn:aws:elasticloadbalancing:us-east-1:999999999999:loadbalancer/app/evil/0123456789abcdef)
ci=$(sa ci:model-deployer)
alb_erin=$(alb erin@example.com $keys/alb-1.key.pem "$alb_arn")
access_erin=$(access erin@example.com '["ml-ops"]')
access_mallory=$(access mallory@example.com '["ml-ops"]')

# request LABEL METHOD PATH [curl header args...]
request() {
  local label=$1 method=$2 path=$3; shift 3
  local body status
  body=$(curl -s --path-as-is -o - -w '\n%{http_code}' -X "$method" "$@" "http://127.0.0.1:$listen$path")
  status=${body##*$'\n'}; body=${body%$'\n'*}
  if [ "$status" = 200 ]; then
    local seen
    seen=$(printf '%s' "$body" | python3 -c 'import json,sys; h=json.load(sys.stdin)["headers"]; print(" ".join(f"{k}={v[0]}" for k,v in sorted(h.items()) if k.startswith("kubeflow-")) or "no identity headers")')
    printf 'ALLOW %s  %-58s %-6s %-52s upstream saw: %s\n' "$status" "$label" "$method" "$path" "$seen"
  else
    local reason
    reason=$(printf '%s' "$body" | python3 -c 'import json,sys; print(json.load(sys.stdin)["reason"])' 2>/dev/null || echo "(answered by Envoy)")
    printf 'DENY  %s  %-58s %-6s %-52s reason: %s\n' "$status" "$label" "$method" "$path" "$reason"
  fi
}

echo "== decisions"
request "public path, no token" GET /dex/auth
request "no token" GET /notebook/alice/nb/lab
request "alice (Dex) opens her notebook" GET /notebook/alice/nb/lab -H "authorization: Bearer $alice"
request "bob (Dex, edit in alice) lists alice's notebooks" GET /jupyter/api/namespaces/alice/notebooks -H "authorization: Bearer $bob"
request "carol (Dex, view in alice) deletes a notebook" DELETE /jupyter/api/namespaces/alice/notebooks/nb -H "authorization: Bearer $carol"
request "carol (view) climbs from bob/ into alice/ via ../" GET "/notebook/bob/../alice/nb/" -H "authorization: Bearer $carol"
request "carol deploys fraud-model (her one API)" PUT /serving/v1/namespaces/models/apis/fraud-model -H "authorization: Bearer $carol"
request "carol deploys churn-model" PUT /serving/v1/namespaces/models/apis/churn-model -H "authorization: Bearer $carol"
request "dave (group ml-ops) deploys churn-model" PUT /serving/v1/namespaces/models/apis/churn-model -H "authorization: Bearer $ops"
request "CI ServiceAccount (EKS token) deploys" PUT /serving/v1/namespaces/models/apis/churn-model -H "authorization: Bearer $ci"
request "bob spoofs kubeflow-userid: alice" GET /notebook/alice/nb/ -H "authorization: Bearer $bob" -H "kubeflow-userid: alice@example.com"
request "spoofed header, no token" GET /notebook/alice/nb/ -H "kubeflow-userid: alice@example.com"
request "expired Dex token" GET /notebook/alice/nb/ -H "authorization: Bearer $expired"
request "ALB x-amzn-oidc-data (padded ES256)" GET /notebook/alice/nb/ -H "x-amzn-oidc-data: $alb_alice"
request "ALB token from another load balancer (signer)" GET /notebook/alice/nb/ -H "x-amzn-oidc-data: $alb_wrong_signer"
request "ALB says alice, bearer says bob" GET /notebook/alice/nb/ -H "x-amzn-oidc-data: $alb_alice" -H "authorization: Bearer $bob"
request "erin (ALB + Cognito group ml-ops) deploys churn-model" PUT /serving/v1/namespaces/models/apis/churn-model -H "x-amzn-oidc-data: $alb_erin" -H "x-amzn-oidc-accesstoken: $access_erin"
request "erin's ALB token alone (no access token, no groups)" PUT /serving/v1/namespaces/models/apis/churn-model -H "x-amzn-oidc-data: $alb_erin"
request "erin's ALB token with mallory's access token" PUT /serving/v1/namespaces/models/apis/churn-model -H "x-amzn-oidc-data: $alb_erin" -H "x-amzn-oidc-accesstoken: $access_mallory"
request "encoded slash in the path" GET "/notebook/alice%2f..%2fbob/nb/" -H "authorization: Bearer $alice"
request "carol PATCHes a Cortex API (no route names PATCH)" PATCH /serving/v1/namespaces/models/apis/fraud-model -H "authorization: Bearer $carol"
request "carol asks to act as DELETE via an override header" GET /jupyter/api/namespaces/alice/notebooks -H "authorization: Bearer $carol" -H "x-http-method-override: DELETE"
request "bob adds kubeflow_userid: alice (\`_\` in a header name)" GET /notebook/alice/nb/ -H "authorization: Bearer $bob" -H "kubeflow_userid: alice@example.com"

echo "== browser sign-in (Dex, no oauth2-proxy): a browser without a session is sent to sign in; an API client keeps its 401"
signin=$(curl -s -o /dev/null -w '%{http_code} %{redirect_url}' -H 'accept: text/html' "http://127.0.0.1:$listen/notebook/alice/nb/")
printf 'BROWSER  %s\n' "$(printf '%s' "$signin" | sed -E 's/(state|nonce|code_challenge)=[^&]*/\1=…/g')"
request "the same page from an API client (no session, no token)" GET /notebook/alice/nb/ -H 'accept: application/json'
