#!/usr/bin/env python3
"""Rewrites the case tables of README.md from cases.json and paths.json (run in testdata/hostile)."""
import json, re

readme = open("README.md").read().split("## Token cases")[0]
cases = json.load(open("cases.json"))["cases"]
paths = json.load(open("paths.json"))["rows"]
readme = re.sub(r"\| `cases.json` \| \d+ ", "| `cases.json` | %d " % len(cases), readme)
readme = re.sub(r"\| `paths.json` \| \d+ ", "| `paths.json` | %d " % len(paths), readme)
out = [readme.rstrip("\n"), "", "## Token cases", "", "| case | outcome | what |", "|---|---|---|"]
for c in cases:
    e = c["expect"]
    if "envoy" in c:
        e += " (Envoy: %s)" % c["envoy"]
    if "envoy_h2" in c:
        e += " (Envoy, HTTP/2: %s)" % c["envoy_h2"]
    if c.get("issuer"):
        e += " [extra]"
    out.append("| `%s` | `%s` | %s |" % (c["name"], e, c["why"].replace("|", "\\|")))
out += ["", "## Paths", "", "| user | request | outcome | what |", "|---|---|---|---|"]
for r in paths:
    path = r["path"] if len(r["path"]) < 90 else r["path"][:40] + "…(%d bytes)" % len(r["path"])
    path = path.replace("`", "\u02cb")  # keep code spans intact: a look-alike for backticks
    if r["expect"] == "allow":
        fwd = r["forward"] if len(r["forward"]) < 60 else "…"
        e = "allow → `%s` in %s" % (fwd, r["namespace"] or "no namespace")
    else:
        e = "`%s`" % r["expect"]
    if "envoy" in r:
        e += " (Envoy: `%s`)" % r["envoy"]
    user = r.get("user", "carol@example.com").split("@")[0]
    why = r["why"].replace("|", "\\|")
    out.append("| %s | `%s %s` | %s | %s |" % (user, r["method"], path.replace("|", "\\|"), e, why))
open("README.md", "w").write("\n".join(out) + "\n")
