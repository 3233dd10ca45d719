#!/usr/bin/env bash
# Tables at scale, one command: bench/scale.sh [--with-1m]
#
# Generates 10k Profiles + 100k bindings (and, with --with-1m, 100k Profiles + 1M bindings,
# compile rows only), then measures with bench/scale.py: compile time and peak memory, the
# JSON, binary and signed table sizes, and inside Envoy (V8, --concurrency 1 and 4, the table
# inline and fetched by reference) each worker's load time and Envoy's RSS. Builds in
# release; writes bench/out/ (gitignored). Everything runs on 127.0.0.1 and stops by itself.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
out="$root/bench/out"
mkdir -p "$out"
envoy=$(scripts/setup.sh | tail -n 1)
cargo build -q --release -p gatehouse -p gatehouse-bench-tool
cargo build -q --release --target wasm32-wasip1 -p gatehouse-filter
bin="$root/target/release"
gen() { # DIR PROFILES BINDINGS
  if [ ! -f "$1/.done" ]; then
    rm -rf "$1"
    "$bin/gatehouse-bench" policy "$1" --profiles "$2" --bindings "$3"
    touch "$1/.done"
  fi
}
gen "$out/policy-100k" 10000 100000
args=(--policy "100k=$out/policy-100k")
if [ "${1:-}" = "--with-1m" ]; then
  gen "$out/policy-1m" 100000 1000000
  args+=(--compile-only "1m=$out/policy-1m")
fi
python3 bench/scale.py --envoy "$envoy" --wasm "$root/target/wasm32-wasip1/release/gatehouse_filter.wasm" \
  --gatehouse "$bin/gatehouse" "${args[@]}"
