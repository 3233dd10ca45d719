#!/usr/bin/env bash
# Soak test: scripts/soak.sh [REQUESTS] [MAX_SECONDS]
#
# Sends REQUESTS (default 1,000,000) requests, each with its own ES256 bearer token, through
# Envoy + the release Gatehouse filter on 127.0.0.1, and checks that Envoy's memory stays
# bounded (the verified-token cache holds at most tokenCacheSize entries, default 10,000)
# and that every request is answered 200. Stops after MAX_SECONDS (default 3600) whatever
# happens. Prints a summary: requests, non-2xx, socket errors, rate, Envoy CPU per request,
# Envoy RSS before, during (max) and after.
#
# Tokens are minted up front (python3 `cryptography`, one P-256 signature each) for the
# `extra` issuer of testdata/hostile/table.json, valid for two hours. The upstream is Envoy's
# own direct_response, so only the gateway is measured. Installs what it uses: wrk
# (apt-get), python3-cryptography (apt-get), Envoy and the wasm target (scripts/setup.sh).
# Everything listens on 127.0.0.1 and is stopped on exit.
#
# Environment: GATEHOUSE_SOAK_CACHE (tokenCacheSize to run with, default 10000),
# GATEHOUSE_SOAK_CONCURRENCY (Envoy workers, default 2), GATEHOUSE_SOAK_CONNECTIONS (8).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

requests=${1:-1000000}
max_seconds=${2:-3600}
cache=${GATEHOUSE_SOAK_CACHE:-10000}
workers=${GATEHOUSE_SOAK_CONCURRENCY:-2}
connections=${GATEHOUSE_SOAK_CONNECTIONS:-8}
threads=2

need_apt() {
  echo "soak: installing $1 (apt-get)" >&2
  if [ "$(id -u)" = 0 ]; then apt-get install -y "$1" >&2; else sudo apt-get install -y "$1" >&2; fi
}
command -v wrk >/dev/null || need_apt wrk
python3 -c 'import cryptography' 2>/dev/null || need_apt python3-cryptography

envoy=$(scripts/setup.sh | tail -n 1)
echo "soak: building the release filter" >&2
cargo build -q -p gatehouse-filter --target wasm32-wasip1 --release
wasm="$root/target/wasm32-wasip1/release/gatehouse_filter.wasm"

work=$(mktemp -d /tmp/gatehouse-soak.XXXXXX)
envoy_pid=""
cleanup() {
  [ -n "$envoy_pid" ] && kill "$envoy_pid" 2>/dev/null && wait "$envoy_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
port=$(free_port)
admin=$(free_port)

echo "soak: minting $requests ES256 tokens" >&2
started=$(date +%s)
python3 - "$requests" "$threads" "$work" "$root/testdata/keys/extra-es256.key.pem" <<'PY'
import base64, json, multiprocessing, os, sys, time
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

count, parts, out, key_file = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
now = int(time.time())

def b64(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=")

def mint(part):
    key = serialization.load_pem_private_key(open(key_file, "rb").read(), None)
    header = b64(json.dumps({"alg": "ES256", "kid": "extra-es256", "typ": "JWT"}, separators=(",", ":")).encode())
    with open(os.path.join(out, f"pool.{part}"), "wb") as f:
        for n in range(part, count, parts):
            claims = {"iss": "https://extra.example.com", "aud": "gatehouse-extra",
                      "email": f"soak-{n}@example.com", "email_verified": True, "iat": now, "exp": now + 7200}
            signed = header + b"." + b64(json.dumps(claims, separators=(",", ":")).encode())
            r, s = decode_dss_signature(key.sign(signed, ec.ECDSA(hashes.SHA256())))
            f.write(signed + b"." + b64(r.to_bytes(32, "big") + s.to_bytes(32, "big")) + b"\n")

with multiprocessing.Pool(parts) as p:
    p.map(mint, range(parts))
PY
echo "soak: minted in $(( $(date +%s) - started ))s ($(du -sh "$work" | cut -f1))" >&2

# The hostile test table (policies/ plus the ES256 `extra` issuer), with the cache size asked
# for, as the filter's configuration; the route answers 200 itself.
python3 - "$root/testdata/hostile/table.json" "$cache" "$wasm" "$port" "$admin" > "$work/envoy.json" <<'PY'
import json, sys
table = json.load(open(sys.argv[1]))
table["gateway"]["token_cache_size"] = int(sys.argv[2])
wasm, port, admin = sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
addr = lambda p: {"socket_address": {"address": "127.0.0.1", "port_value": p}}
print(json.dumps({
  "admin": {"address": addr(admin)},
  "static_resources": {"listeners": [{
    "name": "gatehouse", "address": addr(port),
    "filter_chains": [{"filters": [{"name": "envoy.filters.network.http_connection_manager", "typed_config": {
      "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
      "stat_prefix": "soak",
      "route_config": {"name": "local", "virtual_hosts": [{"name": "all", "domains": ["*"], "routes": [
        {"match": {"prefix": "/"}, "direct_response": {"status": 200, "body": {"inline_string": "ok"}}}]}]},
      "http_filters": [
        {"name": "envoy.filters.http.wasm", "typed_config": {
          "@type": "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm",
          "config": {"name": "gatehouse", "root_id": "gatehouse", "fail_open": False,
            "configuration": {"@type": "type.googleapis.com/google.protobuf.StringValue", "value": json.dumps(table)},
            "vm_config": {"vm_id": "gatehouse", "runtime": "envoy.wasm.runtime.v8", "code": {"local": {"filename": wasm}}}}}},
        {"name": "envoy.filters.http.router", "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}}]}}]}]}]}}))
PY

"$envoy" -c "$work/envoy.json" --use-dynamic-base-id --concurrency "$workers" -l warning \
  --log-path "$work/envoy.log" >/dev/null 2>&1 &
envoy_pid=$!
for _ in $(seq 1 300); do
  curl -s -o /dev/null "http://127.0.0.1:$port/" && break
  kill -0 "$envoy_pid" 2>/dev/null || { cat "$work/envoy.log" >&2; exit 1; }
  sleep 0.1
done

rss() { awk '/^VmRSS:/ {print $2}' "/proc/$envoy_pid/status"; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$envoy_pid/stat"; }
stat_of() { curl -s "http://127.0.0.1:$admin/stats?filter=$1" | awk -v n="$1" -F': ' '$1 == n {print $2}'; }

cat > "$work/soak.lua" <<EOF
-- Each thread reads its own token file, one token per request, and stops after its share.
local counter = 0
local quota = math.ceil($requests / $threads)
local file, answered = nil, 0
function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
end
function init(args)
  file = io.open("$work/pool." .. id, "r")
end
function request()
  local t = file:read("*l")
  if t == nil then
    file:seek("set", 0)
    t = file:read("*l")
  end
  return wrk.format("GET", "/", {["Authorization"] = "Bearer " .. t})
end
function response(status, headers, body)
  answered = answered + 1
  if answered >= quota then wrk.thread:stop() end
end
function done(summary, latency, requests)
  io.write(string.format("wrk: %d requests, %d socket errors (connect %d, read %d, write %d, timeout %d), p50 %.2f ms, p99 %.2f ms\n",
    summary.requests, summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.errors.connect, summary.errors.read, summary.errors.write, summary.errors.timeout,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000))
  io.write(string.format("wrk: non-2xx (by status) %d\n", summary.errors.status))
end
EOF

# Warm up (first requests compile nothing, but allocate the VMs' heaps), then measure.
curl -s -o /dev/null -H "Authorization: Bearer $(head -n 1 "$work/pool.0")" "http://127.0.0.1:$port/"
rss_before=$(rss)
cpu_before=$(cpu_ticks)
rss_max=$rss_before
samples="$rss_before"
(
  while kill -0 "$envoy_pid" 2>/dev/null; do
    sleep 10
    echo "$(date +%s) $(rss 2>/dev/null || echo 0)"
  done
) > "$work/rss.log" &
sampler=$!

echo "soak: $requests requests, $connections connections, Envoy workers $workers, cache $cache, at most ${max_seconds}s" >&2
completed() { stat_of http.soak.downstream_rq_completed; }
base=$(completed)
t0=$(date +%s.%N)
timeout $((max_seconds + 30)) wrk -t"$threads" -c"$connections" -d"${max_seconds}s" --timeout 10s \
  -s "$work/soak.lua" "http://127.0.0.1:$port/" > "$work/wrk.out" &
wrk_pid=$!
# wrk runs for its whole duration even when every thread has stopped: interrupt it (it then
# reports) once Envoy has answered every request, or when the threads have all stopped.
last=-1
while kill -0 "$wrk_pid" 2>/dev/null; do
  sleep 1
  n=$(( $(completed) - base ))
  if [ "$n" -ge "$requests" ] || [ "$n" -eq "$last" ]; then
    kill -INT "$wrk_pid" 2>/dev/null || true
    break
  fi
  last=$n
done
wait "$wrk_pid" 2>/dev/null || true
t1=$(date +%s.%N)
cat "$work/wrk.out" >&2
kill "$sampler" 2>/dev/null || true
sleep 1
rss_after=$(rss)
cpu_after=$(cpu_ticks)
while read -r _ v; do
  [ "${v:-0}" -gt "$rss_max" ] && rss_max=$v
  samples="$samples $v"
done < "$work/rss.log"

done_requests=$(awk '/requests in/ {print $1}' "$work/wrk.out")
non2xx=$(awk -F'[: ]+' '/Non-2xx or 3xx responses/ {print $NF}' "$work/wrk.out")
non2xx=${non2xx:-0}
socket_errors=$(awk '/Socket errors/ {n=0; for (i=1;i<=NF;i++) if ($i ~ /^[0-9]+,?$/) n+=$i; print n}' "$work/wrk.out")
socket_errors=${socket_errors:-0}
allowed=$(stat_of wasmcustom.gatehouse.allowed)
misses=$(stat_of wasmcustom.gatehouse.token_cache.miss)
hits=$(stat_of wasmcustom.gatehouse.token_cache.hit)
hz=$(getconf CLK_TCK)
python3 - "$done_requests" "$t0" "$t1" "$cpu_before" "$cpu_after" "$hz" "$rss_before" "$rss_max" "$rss_after" \
  "$non2xx" "$socket_errors" "${allowed:-0}" "${misses:-0}" "${hits:-0}" "$requests" "$cache" "$samples" <<'PY'
import sys
(n, t0, t1, c0, c1, hz, before, peak, after, non2xx, sock, allowed, misses, hits, asked, cache, samples) = sys.argv[1:]
n = int(n or 0); secs = float(t1) - float(t0); cpu = (int(c1) - int(c0)) / int(hz)
print("== soak summary")
print(f"requests      {n} of {asked} asked, in {secs:.0f} s ({n / secs:.0f} req/s)")
print(f"answers       non-2xx {non2xx}, socket errors {sock}; filter: allowed {allowed}, cache misses {misses}, hits {hits}")
print(f"envoy cpu     {cpu:.0f} s, {1e6 * cpu / max(n, 1):.0f} us per request")
print(f"envoy rss     before {int(before) // 1024} MiB, max during {int(peak) // 1024} MiB, after {int(after) // 1024} MiB (token cache {cache})")
print(f"rss samples   (KiB, every 10 s) {samples}")
ok = n >= int(asked) and int(non2xx) == 0 and int(sock) == 0
print("result        " + ("PASS" if ok else "FAIL"))
sys.exit(0 if ok else 1)
PY
