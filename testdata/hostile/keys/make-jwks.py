#!/usr/bin/env python3
"""Rebuilds the rotation JWKS files here (run in testdata/hostile/keys). Test keys only.

`dex-overlap.jwks.json`: Dex's old key `dex-1` (../../keys/dex-rsa.pem) and its new key
`dex-2` (dex-next-rsa.pem) side by side; `dex-next.jwks.json`: the new key alone."""
import importlib.util, json, os
spec = importlib.util.spec_from_file_location("mk", os.path.join("..", "..", "keys", "make-jwks.py"))
src = open(spec.origin).read().split("def w(")[0]  # the key readers only, not the writes
exec(src)
def w(name, keys):
    open(name, "w").write(json.dumps({"keys": keys}, indent=2) + "\n")
w("dex-overlap.jwks.json", [rsa("../../keys/dex-rsa.pem", "dex-1", "RS256"), rsa("dex-next-rsa.pem", "dex-2", "RS256")])
w("dex-next.jwks.json", [rsa("dex-next-rsa.pem", "dex-2", "RS256")])
