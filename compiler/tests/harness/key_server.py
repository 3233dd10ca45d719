#!/usr/bin/env python3
"""A key server for the live-keys tests: an issuer's JWKS and an ALB's per-kid PEMs over HTTPS.

What it answers is read from a state directory the test rewrites while it runs, so a test
rotates keys, takes the server down or makes it misbehave without restarting it:

  jwks.json   served at /keys (Cache-Control: max-age from `max_age`, default 1)
  alb/<kid>   served at /alb/<kid> (404 when absent)
  mode        `ok` (default), `down` (503), `malformed`, `oversized` (300 KiB of JSON),
              or `slow <ms>` (answers after that long)
  fetches.log one line per request: the path (the test counts fetches from it)

Loopback only; stops by itself after --max-seconds.
"""

import argparse
import http.server
import os
import ssl
import threading
import time


def read(path, default=None):
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError:
        return default


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def answer(self, status, body, content_type="application/json", extra=()):
        self.send_response(status)
        self.send_header("content-type", content_type)
        self.send_header("content-length", str(len(body)))
        for name, value in extra:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        state = self.server.state
        with self.server.lock:
            with open(os.path.join(state, "fetches.log"), "a") as log:
                log.write(self.path + "\n")
        mode = (read(os.path.join(state, "mode"), b"ok") or b"ok").decode().strip()
        if mode.startswith("slow"):
            time.sleep(int(mode.split()[1]) / 1000)
        if mode == "down":
            return self.answer(503, b"down\n", "text/plain")
        if mode == "malformed":
            return self.answer(200, b'{"keys": [{"kty": "RSA", "n": ', extra=[])
        if mode == "oversized":
            filler = b'{"keys": [], "padding": "' + b"x" * (300 * 1024) + b'"}'
            return self.answer(200, filler)
        max_age = (read(os.path.join(state, "max_age"), b"1") or b"1").decode().strip()
        cache = [("cache-control", f"public, max-age={max_age}")]
        if self.path == "/keys":
            body = read(os.path.join(state, "jwks.json"))
            if body is None:
                return self.answer(404, b"no jwks\n", "text/plain")
            return self.answer(200, body, extra=cache)
        if self.path.startswith("/alb/"):
            kid = self.path[len("/alb/"):]
            if "/" in kid or kid.startswith("."):
                return self.answer(400, b"bad kid\n", "text/plain")
            body = read(os.path.join(state, "alb", kid))
            if body is None:
                return self.answer(404, b"no such key\n", "text/plain")
            return self.answer(200, body, "application/x-pem-file", cache)
        return self.answer(404, b"not found\n", "text/plain")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--cert", required=True)
    p.add_argument("--key", required=True)
    p.add_argument("--state", required=True)
    p.add_argument("--max-seconds", type=float, default=300)
    a = p.parse_args()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", a.port), Handler)
    server.daemon_threads = True
    server.state = a.state
    server.lock = threading.Lock()
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(a.cert, a.key)
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    threading.Timer(a.max_seconds, server.shutdown).start()
    server.serve_forever()


if __name__ == "__main__":
    main()
