#!/usr/bin/env bash
# Gatehouse's test command: installs what it needs (scripts/setup.sh), builds the release filter
# for wasm32-wasip1, checks formatting and lints, and runs every test — unit, snapshot, CLI and
# end-to-end through a real Envoy.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

envoy=$(scripts/setup.sh | tail -n 1)
export GATEHOUSE_ENVOY="$envoy"
export GATEHOUSE_WASM="$root/target/wasm32-wasip1/release/gatehouse_filter.wasm"

echo "== format"
cargo fmt --all -- --check
echo "== filter for wasm32-wasip1 (release)"
cargo build -p gatehouse-filter --target wasm32-wasip1 --release
ls -l "$GATEHOUSE_WASM"
echo "== module cycles"
python3 "$root/scripts/module-cycles.py" "$root/filter/src" "$root/compiler/src"
echo "== fuzz targets build (nightly; scripts/fuzz.sh runs them)"
if ! rustup toolchain list | grep -q '^nightly'; then
  rustup toolchain install nightly --profile minimal
fi
(cd "$root/fuzz" && cargo +nightly check --bins)
echo "== clippy"
cargo clippy --workspace --all-targets -- -D warnings
cargo clippy -p gatehouse-filter --target wasm32-wasip1 --release -- -D warnings
# The minting code (jwt-compact, pinned) stays out of the filter's wasm build, but must still
# build for wasm32: the demo and the tests mint with it.
cargo check -p gatehouse-filter --target wasm32-wasip1 --features mint
echo "== tests"
cargo test --workspace --all-targets
