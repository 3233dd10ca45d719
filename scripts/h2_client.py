#!/usr/bin/env python3
"""One HTTP/2 connection (h2c, prior knowledge, cleartext) for Gatehouse's end-to-end tests.

Opens a single connection to 127.0.0.1:PORT and keeps it open, sending one request for each
line read on standard input and answering with one line on standard output, so a test can
send several requests on the same connection over time (see `H2Connection` in
compiler/tests/harness/mod.rs). Once connected it writes {"ready": true}. It never opens a
second connection: after the server closed this one, every request is answered {"closed": …}.
It exits at the end of its input or after --max-seconds.

Request line (JSON): {"method": HEX, "path": HEX, "headers": [[HEX, HEX], ...]}, every name
and value hex-encoded so that any bytes go out exactly as given: header validation and
normalization are off, so upper-case and underscore names, odd methods, obs-text and empty
values are sent as they are. `:scheme` (http) and `:authority` (gatehouse.test) are added
unless the headers hold them.

Answer line (JSON): {"status": N, "headers": [[HEX, HEX], ...], "body": HEX} for a response,
or {"reset": ERROR_CODE} when the server reset the stream, or {"closed": WHY} when the
connection ended (GOAWAY or EOF) before the response did.
"""
import argparse
import json
import os
import socket
import sys
import threading

import h2.config
import h2.connection
import h2.events
import h2.exceptions


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--timeout", type=float, default=20)
    p.add_argument("--max-seconds", type=float, default=600)
    a = p.parse_args()
    # Never outlive the test that started it.
    timer = threading.Timer(a.max_seconds, lambda: os._exit(0))
    timer.daemon = True
    timer.start()

    sock = socket.create_connection(("127.0.0.1", a.port), timeout=a.timeout)
    config = h2.config.H2Configuration(
        client_side=True,
        header_encoding=None,
        validate_outbound_headers=False,
        normalize_outbound_headers=False,
        validate_inbound_headers=False,
        normalize_inbound_headers=False,
    )
    conn = h2.connection.H2Connection(config=config)
    conn.initiate_connection()
    sock.sendall(conn.data_to_send())
    sys.stdout.write(json.dumps({"ready": True}) + "\n")
    sys.stdout.flush()
    closed = None  # why the connection ended, once it has

    for line in sys.stdin:
        if not line.strip():
            continue
        req = json.loads(line)
        headers = [(bytes.fromhex(k), bytes.fromhex(v)) for k, v in req["headers"]]
        names = {k for k, _ in headers}
        block = [(b":method", bytes.fromhex(req["method"]))]
        if b":scheme" not in names:
            block.append((b":scheme", b"http"))
        if b":authority" not in names:
            block.append((b":authority", b"gatehouse.test"))
        block.append((b":path", bytes.fromhex(req["path"])))
        block.extend(headers)
        answer = closed and {"closed": closed}
        if not answer:
            answer, closed = exchange(conn, sock, block)
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()
    try:
        conn.close_connection()
        sock.sendall(conn.data_to_send())
    except (OSError, h2.exceptions.ProtocolError):
        pass
    sock.close()


def exchange(conn, sock, block):
    """Sends one request on a new stream and reads until its response ends.

    Returns the answer and, when the connection ended meanwhile, why.
    """
    try:
        stream = conn.get_next_available_stream_id()
        conn.send_headers(stream, block, end_stream=True)
        sock.sendall(conn.data_to_send())
    except (OSError, h2.exceptions.ProtocolError) as e:
        return {"closed": f"send failed: {e}"}, f"send failed: {e}"
    status, headers, body = None, [], bytearray()
    closed = None
    while True:
        try:
            data = sock.recv(65536)
        except OSError as e:
            return {"closed": f"recv failed: {e}"}, f"recv failed: {e}"
        if not data:
            return {"closed": "eof"}, "eof"
        try:
            events = conn.receive_data(data)
        except h2.exceptions.ProtocolError as e:
            return {"closed": f"protocol error: {e}"}, f"protocol error: {e}"
        done = None
        for ev in events:
            if isinstance(ev, h2.events.ResponseReceived) and ev.stream_id == stream:
                for k, v in ev.headers:
                    if k == b":status":
                        status = int(v)
                    else:
                        headers.append([k.hex(), v.hex()])
            elif isinstance(ev, h2.events.DataReceived) and ev.stream_id == stream:
                body.extend(ev.data)
                conn.acknowledge_received_data(ev.flow_controlled_length, stream)
            elif isinstance(ev, h2.events.StreamEnded) and ev.stream_id == stream:
                done = {"status": status, "headers": headers, "body": body.hex()}
            elif isinstance(ev, h2.events.StreamReset) and ev.stream_id == stream:
                done = {"reset": int(ev.error_code)}
            elif isinstance(ev, h2.events.ConnectionTerminated):
                # A GOAWAY (Envoy sends one when it drains the connection). The h2 state
                # machine takes no frames after it, so the connection ends here for the test.
                closed = f"goaway {int(ev.error_code)}"
                done = done or {"closed": closed}
        out = conn.data_to_send()
        if out:
            try:
                sock.sendall(out)
            except OSError:
                pass
        if done:
            return done, closed


if __name__ == "__main__":
    main()
