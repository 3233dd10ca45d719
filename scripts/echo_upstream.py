#!/usr/bin/env python3
"""Echo upstream for Gatehouse demos and end-to-end tests.

Answers every request, whatever its method, with 200 and a JSON body holding the method, the
path and every request header exactly as it arrived, so a test can see what the gateway let through. Listens on
127.0.0.1 only; stops after --max-seconds (default 3600) so it never outlives its caller.
"""
import argparse
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Echo(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def _answer(self):
        length = int(self.headers.get("content-length") or 0)
        if length:
            self.rfile.read(length)
        headers = {}
        for name, value in self.headers.items():
            headers.setdefault(name.lower(), []).append(value)
        body = json.dumps(
            {"method": self.command, "path": self.path, "headers": headers}, sort_keys=True
        ).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _answer

    def __getattr__(self, name):
        # Any other method too (PROPFIND, a lower-case `delete`, ...): tests send odd methods
        # through the gateway and need to see what reached the upstream, not a 501.
        if name.startswith("do_"):
            return self._answer
        raise AttributeError(name)

    def log_message(self, *args):
        pass


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--max-seconds", type=float, default=3600)
    a = p.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", a.port), Echo)
    server.daemon_threads = True
    threading.Timer(a.max_seconds, server.shutdown).start()
    server.serve_forever()


if __name__ == "__main__":
    main()
