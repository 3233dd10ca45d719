#!/usr/bin/env python3
"""Tables at scale: size, compile cost, load time and Envoy memory for big policies.

Run through bench/scale.sh, which builds everything and generates the policies. For each policy
(`--policy LABEL=DIR`), it measures:

- compile: wall time and peak RSS of `gatehouse compile` (JSON), sizes of the JSON, binary and
  signed tables;
- Envoy (V8), for `--concurrency` 1 and 4, with the table inline (JSON, the filter's
  configuration) and by reference (the signed table from a local file server, the filter
  fetching it): the time each worker took to load it (the filter logs it), and Envoy's RSS once
  every worker holds the table.

Everything listens on 127.0.0.1; every process is stopped by PID. Results go to
bench/out/scale.json and are printed as a Markdown table.
"""

import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"


def log(msg):
    print(f"scale: {msg}", file=sys.stderr, flush=True)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_port(port, proc, seconds=120):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"process exited ({proc.returncode}) before listening on {port}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"nothing listens on {port} after {seconds} s")


def stop(proc):
    if proc and proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def rss_mb(pid):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def timed(cmd):
    """Runs `cmd` under /usr/bin/time -v: (wall seconds, peak RSS MB)."""
    r = subprocess.run(["/usr/bin/time", "-v"] + cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{r.stderr[-2000:]}")
    wall = re.search(r"Elapsed \(wall clock\) time.*: (?:(\d+):)?(\d+):([\d.]+)", r.stderr)
    h, m, s = wall.groups()
    seconds = int(h or 0) * 3600 + int(m) * 60 + float(s)
    peak = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", r.stderr).group(1))
    return seconds, peak / 1024


def stat(admin, name):
    import urllib.request
    body = urllib.request.urlopen(f"http://127.0.0.1:{admin}/stats", timeout=5).read().decode()
    for line in body.splitlines():
        if line.startswith(name + ": "):
            return int(line.split(": ")[1])
    return 0


def envoy_config(a, table_json, work, listen, admin, upstream, source=None):
    """A standalone Envoy config from `gatehouse emit envoy`; with `source` the table file's
    configuration is replaced by it and the table host's cluster added."""
    table_dir = work / "table"
    shutil.rmtree(table_dir, ignore_errors=True)
    yaml_text = subprocess.run(
        [a.gatehouse, "emit", "envoy", "--wasm", a.wasm, "--table", table_json,
         "--table-dir", str(table_dir), "--listen", f"127.0.0.1:{listen}",
         "--upstream", f"127.0.0.1:{upstream}", "--admin", f"127.0.0.1:{admin}"],
        capture_output=True, text=True, check=True).stdout
    import yaml
    boot = yaml.safe_load(yaml_text)
    if source:
        config, cluster = source
        ecds = table_dir / "gatehouse.ecds.json"
        doc = json.loads(ecds.read_text())
        text = json.dumps(doc)
        # The one StringValue holding the table becomes the source configuration.
        res = doc["resources"][0]
        res["typed_config"]["config"]["configuration"]["value"] = json.dumps(config)
        tmp = table_dir / "next.json"
        tmp.write_text(json.dumps(doc))
        os.replace(tmp, ecds)
        boot["static_resources"]["clusters"].append(cluster)
    path = work / "envoy.json"
    path.write_text(json.dumps(boot))
    return path


def measure_envoy(a, label, table_json, concurrency, source=None):
    work = OUT / f"scale-{label}-{concurrency}-{'ref' if source else 'inline'}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    listen, admin, upstream = free_port(), free_port(), free_port()
    src = None
    if source:
        port = source
        src = (
            {"table_source": {
                "url": f"http://tables.gatehouse.svc.cluster.local:{port}/table",
                "cluster": f"outbound|{port}||tables.gatehouse.svc.cluster.local",
                "trusted_keys": [a.public_key], "poll_seconds": 3600,
                "hold_milliseconds": 30000}},
            {"name": f"outbound|{port}||tables.gatehouse.svc.cluster.local",
             "type": "STATIC", "connect_timeout": "2s",
             "load_assignment": {
                 "cluster_name": f"outbound|{port}||tables.gatehouse.svc.cluster.local",
                 "endpoints": [{"lb_endpoints": [{"endpoint": {"address": {"socket_address": {
                     "address": "127.0.0.1", "port_value": port}}}}]}]}},
        )
    cfg = envoy_config(a, table_json, work, listen, admin, upstream, src)
    envoy_log = work / "envoy.log"
    up = subprocess.Popen([sys.executable, str(ROOT / "scripts/echo_upstream.py"), "--port",
                           str(upstream), "--max-seconds", "600"],
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    envoy = subprocess.Popen([a.envoy, "-c", str(cfg), "--concurrency", str(concurrency),
                              "--use-dynamic-base-id", "-l", "info", "--log-path", str(envoy_log),
                              "--file-flush-interval-msec", "100"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_port(upstream, up)
        wait_port(listen, envoy, 300)
        pattern = "checked and loaded in" if source else "table loaded:"
        deadline = time.time() + 300
        loads = []
        while time.time() < deadline:
            # New connections spread over the workers: each worker fetches at its first request.
            for _ in range(8):
                try:
                    c = socket.create_connection(("127.0.0.1", listen), timeout=2)
                    c.sendall(b"GET /dex/x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                    c.recv(100)
                    c.close()
                except OSError:
                    pass
            text = envoy_log.read_text() if envoy_log.exists() else ""
            loads = [float(m) for m in re.findall(r"loaded in ([\d.]+) ms", text)
                     if pattern in text]
            lines = [l for l in text.splitlines() if pattern in l]
            # Inline: the main thread and every worker load it; by reference: every worker.
            want = concurrency + (0 if source else 1)
            if len(lines) >= want:
                loads = [float(re.search(r"loaded in ([\d.]+) ms", l).group(1)) for l in lines]
                break
            time.sleep(0.5)
        else:
            raise SystemExit(f"{label}: the workers did not all load the table; see {envoy_log}")
        time.sleep(2)
        rss = rss_mb(envoy.pid)
    finally:
        stop(envoy)
        stop(up)
    return {"load_ms": loads, "rss_mb": round(rss, 1)}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--envoy")
    p.add_argument("--wasm")
    p.add_argument("--gatehouse")
    p.add_argument("--policy", action="append", default=[], help="LABEL=DIR")
    p.add_argument("--compile-only", action="append", default=[], help="LABEL=DIR: compile rows only")
    p.add_argument("--render", action="store_true", help="only rewrite bench/RESULTS-scale.md from bench/out/scale.json")
    a = p.parse_args()
    if a.render:
        render(json.loads((OUT / "scale.json").read_text()))
        return
    OUT.mkdir(parents=True, exist_ok=True)
    keydir = OUT / "scale-key"
    shutil.rmtree(keydir, ignore_errors=True)
    keydir.mkdir()
    a.public_key = subprocess.run([a.gatehouse, "keygen", "--out", str(keydir / "k")],
                                  capture_output=True, text=True, check=True).stdout.strip()
    key = keydir / "k.key"
    rows = []
    for spec, envoy_too in [(s, True) for s in a.policy] + [(s, False) for s in a.compile_only]:
        label, d = spec.split("=", 1)
        t_json, t_bin, t_signed = (OUT / f"scale-{label}.{ext}" for ext in ("json", "bin", "signed"))
        log(f"{label}: compile")
        # Timed: the signed binary table, what a gateway fetches by reference.
        wall, peak = timed([a.gatehouse, "compile", d, "--sign", str(key), "-o", str(t_signed)])
        timed([a.gatehouse, "compile", d, "--format", "binary", "-o", str(t_bin)])
        # JSON: refused over the filter's 64 MiB limit (then no size).
        r = subprocess.run([a.gatehouse, "compile", d, "-o", str(t_json)], capture_output=True)
        json_bytes = t_json.stat().st_size if r.returncode == 0 else None
        row = {"policy": label, "compile_s": round(wall, 2), "compile_peak_mb": round(peak),
               "json_bytes": json_bytes, "binary_bytes": t_bin.stat().st_size,
               "signed_bytes": t_signed.stat().st_size, "envoy": {}}
        if envoy_too:
            served = OUT / f"scale-{label}-served"
            shutil.rmtree(served, ignore_errors=True)
            served.mkdir()
            shutil.copy(t_signed, served / "table")
            port = free_port()
            server = subprocess.Popen([sys.executable, "-m", "http.server", "--bind", "127.0.0.1",
                                       "--directory", str(served), str(port)],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                wait_port(port, server)
                for c in (1, 4):
                    for mode, source in (("inline", None), ("reference", port)):
                        log(f"{label}: Envoy --concurrency {c}, table {mode}")
                        row["envoy"][f"{mode}-{c}"] = measure_envoy(a, label, str(t_json), c, source)
            finally:
                stop(server)
        rows.append(row)
        log(json.dumps(row))
    (OUT / "scale.json").write_text(json.dumps(rows, indent=2))
    render(rows)


def json_mb(row):
    b = row.get("json_bytes")
    return f"{b / 1e6:.2f} MB" if b else "over the 64 MiB limit"


def render(rows):
    """Writes bench/RESULTS-scale.md (which bench/results.py folds into RESULTS.md)."""
    import datetime
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                            capture_output=True, text=True).stdout.strip()
    out = ["## Tables at scale", "",
           f"`bench/scale.sh --with-1m`, {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC, "
           f"commit `{commit}`. Policies from `gatehouse-bench policy` (N Profiles, each with its owner, "
           "plus RoleBindings of other users). Envoy 1.40 (V8), the table inline (JSON, the filter's "
           "configuration) or by reference (signed binary, fetched from a local server). RSS once "
           "every worker holds the table; load = the slowest worker's check-and-load, as the filter "
           "logs it.", "",
           "| policy | compile | compile peak | JSON | binary | signed | Envoy RSS c1 / c4, inline | by reference | load per worker, inline / by reference |",
           "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        e = r["envoy"]
        def rss(mode):
            if f"{mode}-1" not in e:
                return "–"
            return f"{e[f'{mode}-1']['rss_mb']:.0f} / {e[f'{mode}-4']['rss_mb']:.0f} MB"
        def load(mode):
            ms = e.get(f"{mode}-4", {}).get("load_ms", [])
            return f"{max(ms):.0f} ms" if ms else "–"
        out.append(f"| {r['policy']} | {r['compile_s']} s | {r['compile_peak_mb']} MB | "
                   f"{json_mb(r)} | {r['binary_bytes'] / 1e6:.2f} MB | "
                   f"{r['signed_bytes'] / 1e6:.2f} MB | {rss('inline')} | {rss('reference')} | "
                   f"{load('inline')} / {load('reference')} |")
    text = "\n".join(out) + "\n"
    (ROOT / "bench" / "RESULTS-scale.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
