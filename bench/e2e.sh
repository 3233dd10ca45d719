#!/usr/bin/env bash
# Gatehouse's end-to-end speed comparison, one command:
#
#   bench/e2e.sh [--rounds N] [--configs B0,B1,N,N-nocache,X,G] [--label NAME]
#
# On one Envoy binary (.venv/envoy, from scripts/setup.sh), `--concurrency 1` pinned to core 0,
# with wrk, the upstream and the ext_authz service pinned to core 1, it compares: B0 no auth
# filter; B1 a no-op wasm filter; N Envoy's jwt_authn + rbac, with and without its JWT cache;
# X ext_authz to a local authorization service running Gatehouse's engine; G Gatehouse, with
# warm and fresh tokens, RS256 (Dex) and ES256 (ALB), allowed and denied. Rounds interleave
# the variants. It also times the filter's table load inside Envoy (V8) for the example
# policies and for 10k Profiles + 100k RoleBindings, and (bench/scale.sh) the size, memory and
# load of big tables, inline and by reference.
#
# Installs what it uses (wrk from Debian, taskset from util-linux) when missing, builds in
# release, writes bench/out/ (gitignored). Everything listens on 127.0.0.1; every process it
# starts is stopped by PID when it exits. Load is bounded: a few seconds per scenario.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
out="$root/bench/out"
mkdir -p "$out"

envoy=$(scripts/setup.sh | tail -n 1)
missing=()
command -v wrk >/dev/null || missing+=(wrk)
command -v taskset >/dev/null || missing+=(util-linux)
if [ ${#missing[@]} -gt 0 ]; then
  echo "e2e: installing ${missing[*]}" >&2
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >&2
fi
if [ "$(nproc)" -lt 2 ]; then
  echo "e2e: needs 2 cores (Envoy on core 0, load on core 1)" >&2
  exit 1
fi

echo "== build (release)" >&2
cargo build -q --release -p gatehouse -p gatehouse-bench-tool -p gatehouse-authz-service
cargo build -q --release --target wasm32-wasip1 -p gatehouse-filter -p gatehouse-noop-filter ${GATEHOUSE_WASM_CARGO_ARGS:-}
bin="$root/target/release"
wasm="$root/target/wasm32-wasip1/release"

echo "== tables and tokens" >&2
"$bin/gatehouse" compile policies -o "$out/table.json"
# policies/' Dex sign-in reads its secrets from the environment of Envoy (and the authorization
# service); benchmark values.
export OIDC_CLIENT_SECRET=${OIDC_CLIENT_SECRET:-bench-client-secret}
export GATEHOUSE_COOKIE_KEYS=${GATEHOUSE_COOKIE_KEYS:-bench:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8}
if [ ! -f "$out/table-100k.json" ]; then
  rm -rf "$out/policy-100k"
  "$bin/gatehouse-bench" policy "$out/policy-100k" --profiles 10000 --bindings 100000
  "$bin/gatehouse" compile "$out/policy-100k" -o "$out/table-100k.json"
fi
fresh=50000
for kind in dex alb; do
  f="$out/fresh-$kind.txt"
  # Minted for a day; re-minted when older than 12 hours.
  if [ ! -f "$f" ] || [ -n "$(find "$f" -mmin +720)" ] || [ "$(wc -l < "$f")" -ne "$fresh" ]; then
    echo "e2e: minting $fresh fresh $kind tokens" >&2
    "$bin/gatehouse-bench" tokens "$kind" --count "$fresh" > "$f.tmp"
    mv "$f.tmp" "$f"
  fi
done

# A signed-in browser's session cookie, holding the warm Dex token, sealed as the gateway seals
# it (the sign-in of policies/, the cookie keys above).
"$bin/gatehouse-bench" session --table "$out/table.json" --token testdata/tokens/dex-alice.jwt \
  > "$out/session.txt"

echo "== load: $(uptime)" >&2
python3 bench/e2e.py \
  --envoy "$envoy" --wasm "$wasm/gatehouse_filter.wasm" --noop "$wasm/gatehouse_noop_filter.wasm" \
  --tool "$bin/gatehouse-bench" --authz "$bin/gatehouse-authz-service" \
  --table "$out/table.json" --big-table "$out/table-100k.json" \
  --warm-dex testdata/tokens/dex-alice.jwt --warm-alb testdata/tokens/alb-alice.alb \
  --warm-session "$out/session.txt" \
  --fresh-dex "$out/fresh-dex.txt" --fresh-alb "$out/fresh-alb.txt" --fresh-count "$fresh" \
  "$@"
case " $* " in
  *" --label "*|*" --only "*|*" --configs "*) ;; # partial runs leave RESULTS.md alone
  *)
    # The size, memory and load rows of big tables (bench/RESULTS-scale.md; --with-1m there
    # adds the 1M-binding compile).
    bash bench/scale.sh
    python3 bench/results.py && echo "e2e: wrote bench/RESULTS.md" >&2 ;;
esac
