#!/usr/bin/env python3
"""End-to-end comparison driver for bench/e2e.sh (run that, not this).

Every variant runs on the same Envoy binary, `--concurrency 1`, pinned to core 0 with taskset;
wrk, the upstream and the ext_authz service are pinned to core 1. Rounds are interleaved: each
round starts every configuration once (in a rotated order) and runs all of its scenarios, so
drift and noise from other work on the machine hit every variant alike. Per scenario:

  warm-up   1 s of requests with the warm token (JIT, connection pools, token cache)
  latency   one connection, closed loop: p50 / p99 (2 s; fresh tokens 1 s)
  load      16 connections: requests/s and Envoy CPU per request (4 s; fresh tokens 2 s)
            (utime + stime of the Envoy process from /proc/PID/stat, delta / requests)

Fresh-token scenarios send a token never seen before on every request: a wrk Lua script walks
a pre-minted token file, each Envoy start begins with an empty cache, and a scenario that
would run past the end of the file (and so repeat tokens) is flagged. Everything listens on 127.0.0.1 and every process started is stopped by
PID. Results: bench/out/e2e.json, bench/out/e2e.md, and bench/RESULTS.md.
"""
import argparse
import json
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
CLK = os.sysconf("SC_CLK_TCK")

LISTEN, UPSTREAM, ADMIN, AUTHZ = 18480, 18481, 18482, 18483
ALLOW_PATH = "/notebook/alice/nb/lab"  # alice owns namespace alice
DENY_PATH = "/notebook/bob/nb/lab"  # alice holds nothing in bob

# Configurations (one Envoy each) and their scenarios: (name, token kind, mode, path, status).
CONFIGS = {
    "B0": ("b0", [("warm", "dex", "warm", ALLOW_PATH, 200)]),
    "B1": ("b1", [("warm", "dex", "warm", ALLOW_PATH, 200)]),
    "N": ("n", [
        ("dex-warm-allow", "dex", "warm", ALLOW_PATH, 200),
        ("dex-warm-deny", "dex", "warm", DENY_PATH, 403),
    ]),
    "N-nocache": ("n-nocache", [
        ("dex-warm-allow", "dex", "warm", ALLOW_PATH, 200),
        ("dex-fresh-allow", "dex", "fresh", ALLOW_PATH, 200),
    ]),
    "X": ("x", [
        ("dex-warm-allow", "dex", "warm", ALLOW_PATH, 200),
        ("dex-warm-deny", "dex", "warm", DENY_PATH, 403),
    ]),
    "G": ("g", [
        ("dex-warm-allow", "dex", "warm", ALLOW_PATH, 200),
        ("dex-warm-deny", "dex", "warm", DENY_PATH, 403),
        ("alb-warm-allow", "alb", "warm", ALLOW_PATH, 200),
        ("alb-warm-deny", "alb", "warm", DENY_PATH, 403),
        ("session-warm-allow", "session", "warm", ALLOW_PATH, 200),
        ("session-warm-deny", "session", "warm", DENY_PATH, 403),
        ("dex-fresh-allow", "dex", "fresh", ALLOW_PATH, 200),
        ("dex-fresh-deny", "dex", "fresh", DENY_PATH, 403),
        ("alb-fresh-allow", "alb", "fresh", ALLOW_PATH, 200),
        ("alb-fresh-deny", "alb", "fresh", DENY_PATH, 403),
    ]),
    # Gatehouse with two Envoy workers (both cores; wrk shares core 1): the per-worker caches
    # and the proxy's shared one. CPU per request compares; requests/s does not.
    "G-c2": ("g", [
        ("dex-warm-allow", "dex", "warm", ALLOW_PATH, 200),
        ("dex-fresh-allow", "dex", "fresh", ALLOW_PATH, 200),
        ("alb-fresh-allow", "alb", "fresh", ALLOW_PATH, 200),
    ]),
}

# Envoy worker threads per configuration (default 1, pinned to core 0).
CONCURRENCY = {"G-c2": 2}

# How each token kind travels: header and value prefix. `session`: the browser sign-in's
# session cookie holding the warm Dex token (`gatehouse-bench session`), as a signed-in browser
# sends it.
HEADERS = {
    "dex": ("authorization", "Bearer "),
    "alb": ("x-amzn-oidc-data", ""),
    "session": ("cookie", ""),
}

LUA = r"""
-- args: header, prefix, token file, offset, method, path
local header, prefix, file, offset, method, path
local tokens = {}
local n = 0
function init(args)
  header, prefix, file = args[1], args[2], args[3]
  offset = tonumber(args[4])
  method, path = args[5], args[6]
  for line in io.lines(file) do
    if #line > 0 then tokens[#tokens + 1] = line end
  end
  n = offset
end
function request()
  local t = tokens[(n % #tokens) + 1]
  n = n + 1
  return wrk.format(method, path, {[header] = prefix .. t})
end
function done(summary, latency, requests)
  io.write(string.format(
    "RESULT {\"requests\": %d, \"duration_us\": %d, \"non2xx\": %d, \"socket_errors\": %d, \"p50_us\": %d, \"p99_us\": %d}\n",
    summary.requests, summary.duration, summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    latency:percentile(50), latency:percentile(99)))
end
"""


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def cpu_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15)


def wait_port(port, proc, seconds=60):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"process exited early (status {proc.returncode})")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"port {port} did not open in {seconds} s")


def stop(proc):
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class Bench:
    def __init__(self, a):
        self.a = a
        self.procs = []
        self.lua = OUT / "tokens.lua"
        self.lua.write_text(LUA)

    def start(self, cmd, cpu, log_path):
        f = open(log_path, "w")
        p = subprocess.Popen(["taskset", "-c", str(cpu)] + cmd, stdout=f, stderr=subprocess.STDOUT,
                             stdin=subprocess.DEVNULL)
        self.procs.append(p)
        return p

    def envoy(self, variant, log_path, table=None, concurrency=1):
        cfg = OUT / f"envoy-{variant}.json"
        cmd = [self.a.tool, "envoy", variant, "--listen", f"127.0.0.1:{LISTEN}",
               "--upstream", f"127.0.0.1:{UPSTREAM}", "--admin", f"127.0.0.1:{ADMIN}",
               "--authz", f"127.0.0.1:{AUTHZ}", "--jwks", str(ROOT / "testdata/keys/dex.jwks.json"),
               "--table", str(table or self.a.table)]
        cmd += ["--wasm", self.a.noop if variant == "b1" else self.a.wasm]
        with open(cfg, "w") as f:
            subprocess.run(cmd, stdout=f, check=True)
        cpus = ",".join(str(c) for c in range(concurrency))
        p = self.start([self.a.envoy, "-c", str(cfg), "--concurrency", str(concurrency),
                        "--base-id", "48", "--log-level", "info", "--disable-hot-restart"],
                       cpus, log_path)
        wait_port(LISTEN, p)
        return p

    def wrk(self, kind, mode, path, conns, seconds, offset):
        header, prefix = HEADERS[kind]
        tokens = self.a.fresh[kind] if mode == "fresh" else self.a.warm[kind]
        cmd = ["taskset", "-c", "1", "wrk", "-t1", f"-c{conns}", f"-d{seconds}s", "--timeout", "5s",
               "-s", str(self.lua), f"http://127.0.0.1:{LISTEN}", "--", header, prefix, tokens,
               str(offset), "GET", path]
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 30).stdout
        for line in out.splitlines():
            if line.startswith("RESULT "):
                return json.loads(line[7:])
        raise RuntimeError(f"wrk printed no result:\n{out}")

    def check(self, path, kind, status):
        """One request through curl-free urllib with the warm token: the expected status?"""
        header, prefix = HEADERS[kind]
        token = Path(self.a.warm[kind]).read_text().strip()
        req = urllib.request.Request(f"http://127.0.0.1:{LISTEN}{path}",
                                     headers={header: prefix + token})
        try:
            with urllib.request.urlopen(req, timeout=5) as r:
                got = r.status
        except urllib.error.HTTPError as e:
            got = e.code
        if got != status:
            raise RuntimeError(f"{path} with the {kind} token answered {got}, expected {status}")

    def scenario(self, envoy, authz, name, kind, mode, path, status, offset):
        a = self.a
        self.check(path, kind, status)
        self.wrk(kind, "warm", path, 4, 1, 0)  # warm-up
        fresh = mode == "fresh"
        lat = self.wrk(kind, mode, path, 1, a.fresh_lat_seconds if fresh else a.lat_seconds,
                       offset)
        if fresh:
            offset += lat["requests"] + 1
        t0, a0 = cpu_ticks(envoy.pid), cpu_ticks(authz.pid)
        load = self.wrk(kind, mode, path, 16, a.fresh_load_seconds if fresh else a.load_seconds,
                        offset)
        t1, a1 = cpu_ticks(envoy.pid), cpu_ticks(authz.pid)
        if fresh:
            offset += load["requests"] + 16
        n = load["requests"]
        wrong = load["non2xx"] if status == 200 else n - load["non2xx"]
        return {
            "requests": n,
            "rps": n / (load["duration_us"] / 1e6),
            "cpu_us": (t1 - t0) * 1e6 / CLK / n,
            "authz_cpu_us": (a1 - a0) * 1e6 / CLK / n,
            "p50_us": lat["p50_us"],
            "p99_us": lat["p99_us"],
            "wrong_status": wrong + lat["socket_errors"] + load["socket_errors"],
            "fresh_wrapped": fresh and offset > a.fresh_count,
        }, offset

    def run(self):
        a = self.a
        up = self.start([a.authz, "--upstream", "--listen", f"127.0.0.1:{UPSTREAM}",
                         "--max-seconds", "3600"], 1, OUT / "upstream.log")
        authz = self.start([a.authz, "--table", str(a.table), "--listen", f"127.0.0.1:{AUTHZ}",
                            "--max-seconds", "3600"], 1, OUT / "authz.log")
        wait_port(UPSTREAM, up)
        wait_port(AUTHZ, authz)
        results = {}
        names = [c for c in CONFIGS if c in a.configs]
        for r in range(a.rounds):
            order = names[r % len(names):] + names[:r % len(names)]
            log(f"round {r + 1}/{a.rounds}: {' '.join(order)}")
            for cfg in order:
                variant, scenarios = CONFIGS[cfg]
                envoy = self.envoy(variant, OUT / f"envoy-{cfg}.log",
                                   concurrency=CONCURRENCY.get(cfg, 1))
                try:
                    offsets = {"dex": 0, "alb": 0, "session": 0}
                    for name, kind, mode, path, status in scenarios:
                        if a.only and a.only not in name:
                            continue
                        res, offsets[kind] = self.scenario(envoy, authz, name, kind, mode, path,
                                                           status, offsets[kind])
                        results.setdefault((cfg, name), []).append(res)
                        log(f"  {cfg:<10} {name:<16} {res['cpu_us']:8.1f} us/req  "
                            f"p50 {res['p50_us']:6d} us  p99 {res['p99_us']:6d} us  "
                            f"{res['rps']:8.0f} req/s")
                finally:
                    stop(envoy)
        return results

    def table_load(self, table, label):
        """Starts Gatehouse on `table`; the filter logs how long each on_configure took."""
        log_path = OUT / f"envoy-load-{label}.log"
        t0 = time.time()
        envoy = self.envoy("g", log_path, table=table)
        ready = time.time() - t0
        stop(envoy)
        times = []
        for line in log_path.read_text().splitlines():
            if "loaded in" in line:
                times.append(float(line.rsplit("loaded in", 1)[1].split("ms")[0]))
        return {"on_configure_ms": times, "listener_ready_s": ready}

    def close(self):
        for p in self.procs:
            stop(p)


def median(rows, key):
    return statistics.median(r[key] for r in rows)


def machine(envoy):
    cpu = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    try:
        out = subprocess.run([envoy, "--version"], capture_output=True, text=True).stdout
        envoy_version = out.split("version:", 1)[1].strip().split()[0]
    except (OSError, IndexError):
        envoy_version = "unknown"
    return {"nproc": os.cpu_count(), "cpu": cpu, "kernel": platform.release(),
            "envoy": envoy_version}


def main():
    p = argparse.ArgumentParser()
    for name in ["envoy", "wasm", "noop", "tool", "authz", "table", "big_table", "warm_dex",
                 "warm_alb", "warm_session", "fresh_dex", "fresh_alb"]:
        p.add_argument("--" + name.replace("_", "-"), required=True)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--lat-seconds", type=int, default=2)
    p.add_argument("--load-seconds", type=int, default=4)
    p.add_argument("--fresh-lat-seconds", type=int, default=1)
    p.add_argument("--fresh-load-seconds", type=int, default=2)
    p.add_argument("--fresh-count", type=int, required=True)
    p.add_argument("--configs", default=",".join(CONFIGS))
    p.add_argument("--label", default="")
    p.add_argument("--only", default="", help="run only scenarios whose name holds this")
    p.add_argument("--no-table-load", action="store_true")
    a = p.parse_args()
    a.configs = a.configs.split(",")
    a.warm = {"dex": a.warm_dex, "alb": a.warm_alb, "session": a.warm_session}
    a.fresh = {"dex": a.fresh_dex, "alb": a.fresh_alb}
    OUT.mkdir(parents=True, exist_ok=True)
    b = Bench(a)
    try:
        raw = b.run()
        load = {} if a.no_table_load else {
            "small": b.table_load(a.table, "small"),
            "100k": b.table_load(a.big_table, "100k"),
        }
    finally:
        b.close()
    rows = []
    for (cfg, name), rs in raw.items():
        rows.append({
            "config": cfg, "scenario": name, "rounds": len(rs),
            "cpu_us": median(rs, "cpu_us"), "authz_cpu_us": median(rs, "authz_cpu_us"),
            "p50_us": median(rs, "p50_us"), "p99_us": median(rs, "p99_us"),
            "rps": median(rs, "rps"), "requests": median(rs, "requests"),
            "cpu_us_all": [round(r["cpu_us"], 1) for r in rs],
            "wrong_status": sum(r["wrong_status"] for r in rs),
            "fresh_wrapped": any(r["fresh_wrapped"] for r in rs),
        })
    result = {
        "label": a.label, "when": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "machine": machine(a.envoy), "rows": rows, "table_load": load,
        "settings": {k: getattr(a, k) for k in
                     ["rounds", "lat_seconds", "load_seconds", "fresh_lat_seconds",
                      "fresh_load_seconds", "fresh_count"]},
        "wasm_bytes": os.path.getsize(a.wasm), "noop_wasm_bytes": os.path.getsize(a.noop),
    }
    name = f"e2e{('-' + a.label) if a.label else ''}"
    (OUT / f"{name}.json").write_text(json.dumps(result, indent=2) + "\n")
    (OUT / f"{name}.md").write_text(render(result) + "\n")
    print(render(result))


def render(res):
    lines = ["| config | scenario | Envoy CPU µs/req (median) | per round | authz svc CPU µs/req "
             "| p50 µs | p99 µs | req/s | check |",
             "|---|---|---:|---|---:|---:|---:|---:|---|"]
    for r in res["rows"]:
        check = "ok" if r["wrong_status"] == 0 else f"{r['wrong_status']} wrong"
        if r["fresh_wrapped"]:
            check += ", tokens wrapped"
        authz = f"{r['authz_cpu_us']:.1f}" if r["config"] == "X" else ""
        lines.append(f"| {r['config']} | {r['scenario']} | {r['cpu_us']:.1f} | "
                     f"{' / '.join(str(x) for x in r['cpu_us_all'])} | {authz} | "
                     f"{r['p50_us']:.0f} | {r['p99_us']:.0f} | {r['rps']:.0f} | {check} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
