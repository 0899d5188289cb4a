#!/usr/bin/python3
# test-http-server.py - a loopback HTTP and HTTPS server for the libcurl transport tests:
# echoes requests, serves large and slow answers and large headers, counts accepted connections.
"""Usage: test-http-server.py --dir DIR --cert CERT --key KEY

Binds 127.0.0.1 port 0 twice (plain and TLS) and writes "HTTP_PORT HTTPS_PORT" to DIR/ports
(atomically). Paths: /echo (JSON: method, headers, body_len, connections), /big?n=N (N bytes),
/bigheader?n=N (a header line with an N-byte value), /slow (answers after 3 s), /connections. Stops on SIGTERM."""

import argparse
import json
import os
import signal
import ssl
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse


class CountingServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, *args, **kwargs):
        self.connections = 0
        self.lock = threading.Lock()
        super().__init__(*args, **kwargs)

    def get_request(self):
        sock, addr = super().get_request()
        with self.lock:
            self.connections += 1
        return sock, addr


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):  # quiet: tests read answers, not logs
        pass

    def answer(self, status, body, ctype="application/json", extra=None):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Test", "yes")
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def handle_any(self):
        url = urlparse(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if url.path == "/echo":
            doc = {"method": self.command,
                   "headers": {k.lower(): v for k, v in self.headers.items()},
                   "body_len": len(body),
                   "connections": self.server.connections}
            self.answer(200, json.dumps(doc).encode())
        elif url.path == "/big":
            n = int(parse_qs(url.query).get("n", ["0"])[0])
            self.answer(200, b"a" * n, "application/octet-stream")
        elif url.path == "/bigheader":
            n = int(parse_qs(url.query).get("n", ["0"])[0])
            self.answer(200, b"{}", extra={"X-Big": "h" * n})
        elif url.path == "/slow":
            time.sleep(3)
            try:
                self.answer(200, b"{}")
            except OSError:
                pass
        elif url.path == "/connections":
            self.answer(200, json.dumps({"connections": self.server.connections}).encode())
        else:
            self.answer(404, b"{}")

    do_GET = do_POST = do_PUT = handle_any


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", required=True)
    ap.add_argument("--cert", required=True)
    ap.add_argument("--key", required=True)
    a = ap.parse_args()

    plain = CountingServer(("127.0.0.1", 0), Handler)
    tls = CountingServer(("127.0.0.1", 0), Handler)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(a.cert, a.key)
    tls.socket = ctx.wrap_socket(tls.socket, server_side=True)
    for s in (plain, tls):
        threading.Thread(target=s.serve_forever, daemon=True).start()

    tmp = os.path.join(a.dir, "ports.tmp")
    with open(tmp, "w") as f:
        f.write("%d %d\n" % (plain.server_address[1], tls.server_address[1]))
    os.rename(tmp, os.path.join(a.dir, "ports"))

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    while not stop.wait(0.2):
        pass
    plain.shutdown()
    tls.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
