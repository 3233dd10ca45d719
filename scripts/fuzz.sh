#!/usr/bin/env bash
# Fuzzes Gatehouse for a bounded time: scripts/fuzz.sh [TARGET|all] [SECONDS]
#
# Targets (fuzz/fuzz_targets/): token (ALB and bearer verification), path (normalization and
# route matching, with the judged-is-served check), table (table loading), policy_yaml (the
# YAML loader and the whole compiler), keys (key endpoint answers: JWKS and ALB PEM bodies), signin (sign-in cookies, callbacks and token endpoint answers). Default: every target, 60 s each. Needs the nightly
# toolchain; installs cargo-fuzz when missing. Seeds each corpus from testdata/ (hostile
# tokens, sample tokens, paths, tables, policies). Crashes land in fuzz/artifacts/<target>/;
# the script exits 1 when any target found one. Runs on this machine only, sends no traffic.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root/fuzz"

target=${1:-all}
seconds=${2:-60}
targets=(token path table policy_yaml keys signin)
[ "$target" = all ] || targets=("$target")

if ! rustup toolchain list | grep -q '^nightly'; then
  echo "fuzz: installing the nightly toolchain" >&2
  rustup toolchain install nightly --profile minimal >&2
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
  echo "fuzz: installing cargo-fuzz" >&2
  cargo install cargo-fuzz --locked >&2
fi

seed() {
  local t=$1 dir=corpus/$1
  mkdir -p "$dir"
  [ -n "$(ls -A "$dir" 2>/dev/null)" ] && return
  case $t in
    token)
      for f in "$root"/testdata/tokens/*.jwt "$root"/testdata/tokens/*.alb; do
        tr -d '\n' < "$f" > "$dir/$(basename "$f")"
      done
      python3 - "$root/testdata/hostile/cases.json" "$dir" <<'PY'
import json, sys
for c in json.load(open(sys.argv[1]))["cases"]:
    for i, h in enumerate(c["headers"]):
        v = h.get("value")
        if v is None or len(v) > 20000:
            continue
        if v.lower().startswith("bearer "):
            v = v[7:]
        open(f"{sys.argv[2]}/{c['name']}-{i}", "w").write(v)
PY
      ;;
    path)
      python3 - "$root/testdata/hostile/paths.json" "$dir" <<'PY'
import json, sys
for i, r in enumerate(json.load(open(sys.argv[1]))["rows"]):
    open(f"{sys.argv[2]}/row-{i}", "wb").write(bytes([i % 8]) + r["path"].encode())
PY
      ;;
    table)
      cp "$root/testdata/hostile/table.json" "$dir/hostile.json"
      cargo run -q --manifest-path "$root/Cargo.toml" -p gatehouse -- show "$root/testdata/hostile/table.json" --format binary \
        > "$dir/hostile.bin"
      printf '{"format_version":1}' > "$dir/empty.json"
      ;;
    keys)
      # First byte: the status; up to the first newline: Cache-Control; the rest: the body.
      for f in "$root"/testdata/keys/*.jwks.json "$root"/testdata/keys/*.pem; do
        case $f in *.key.pem) continue ;; esac
        { printf '\000max-age=600\n'; cat "$f"; } > "$dir/$(basename "$f")"
      done
      ;;
    signin)
      printf '__Host-gatehouse=2.v1.k1.AAAAAAAAAAAAAAAAAAAAAAAA; __Host-gatehouse-1=AAAA; _xsrf=1' > "$dir/cookies"
      printf 'code=abc&state=xyz&iss=https%%3A%%2F%%2Fdex.example.com' > "$dir/callback"
      printf '{"id_token":"eyJhbGciOiJSUzI1NiJ9.eyJub25jZSI6Im4ifQ.c2ln","token_type":"Bearer"}' > "$dir/answer"
      printf '//evil.example/%%2F..' > "$dir/return"
      ;;
    policy_yaml)
      i=0
      for f in $(find "$root/policies" "$root/testdata/policies" "$root/testdata/hostile/policies" -name '*.yaml' -o -name '*.yml'); do
        cp "$f" "$dir/p$i.yaml"; i=$((i + 1))
      done
      ;;
  esac
}

failed=0
for t in "${targets[@]}"; do
  seed "$t"
  echo "== fuzz $t for ${seconds}s"
  # -max_total_time bounds the run; -timeout flags an input slower than 10 s as a hang.
  if ! cargo +nightly fuzz run -O "$t" -- -max_total_time="$seconds" -timeout=10 \
      -rss_limit_mb=4096 -print_final_stats=1 2>&1 | tee "/tmp/gatehouse-fuzz-$t.log" \
      | grep -E '^(#[0-9]+ *DONE|INFO: seed|==[0-9]+==|SUMMARY|stat::number_of_executed_units|stat::peak_rss)|panicked|Test unit written'; then
    :
  fi
  if grep -q 'Test unit written' "/tmp/gatehouse-fuzz-$t.log"; then
    echo "fuzz: $t found a crash: see fuzz/artifacts/$t/" >&2
    failed=1
  fi
done
exit $failed
