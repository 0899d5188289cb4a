#!/usr/bin/python3
# gcp_kms_server.py - loopback Google Cloud KMS (REST v1) + OAuth token endpoint + STS + IAM
# generateAccessToken + GCE metadata server, over HTTP and HTTPS, with faults and counters.
"""Loopback Google Cloud KMS test server. See tests/servers/README.md for the contract."""

import argparse
import ipaddress
import json
import logging
import os
import re
import shutil
import signal
import socket
import struct
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import gcp_crc32c  # noqa: E402
import gcp_kms_auth as auth  # noqa: E402
import gcp_kms_metadata as metadata  # noqa: E402
import gcp_kms_routes as routes  # noqa: E402
import gcp_kms_tls as tls  # noqa: E402
from gcp_kms_answers import apply_answer_fault, fault_error  # noqa: E402
from gcp_kms_control import handle_control  # noqa: E402
from gcp_kms_identity import Identities  # noqa: E402
from gcp_kms_ops import Ctx  # noqa: E402
from gcp_kms_store import ANSWER_FAULTS, Store  # noqa: E402
from gcp_kms_wire import JSON_TYPE, GcpError  # noqa: E402

LOG = logging.getLogger("gcpkms")
MAX_BODY = 1 << 20
GARBAGE = b"\x00\xff<html>not json</html>{\"error\":"
IAM_RE = re.compile(r"^/v1/projects/-/serviceAccounts/([^/:]+):generateAccessToken$")
NOT_FOUND_HTML = ("<!DOCTYPE html>\n<html lang=en>\n<title>Error 404 (Not Found)</title>\n"
                  "<p><b>404.</b> <ins>That's an error.</ins>\n<p>The requested URL <code>%s"
                  "</code> was not found on this server. <ins>That's all we know.</ins>\n")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "ESF"
    sys_version = ""
    timeout = 120

    # ---- plumbing --------------------------------------------------------------------------

    def version_string(self):
        return self.server_version

    @property
    def store(self):
        return self.server.store

    def setup(self):
        # Headers and body go out in two writes; without NODELAY, Nagle + delayed ACK add
        # ~40 ms to every keep-alive request.
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self.server.ssl_context is not None:
            self.request.settimeout(30)
            self.request = self.server.ssl_context.wrap_socket(self.request, server_side=True)
        super().setup()
        self.conn_id = self.store.new_connection(self.server.listener)
        self.answer_fault = None
        self.truncate = False

    def log_message(self, fmt, *args):
        LOG.debug("conn %d: " + fmt, self.conn_id, *args)

    def _read_body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            body = bytearray()
            while True:
                size = int(self.rfile.readline(64).split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(1024).strip():
                        pass
                    break
                if len(body) + size > MAX_BODY:
                    raise ValueError("request body too large")
                body += self.rfile.read(size)
                self.rfile.readline(8)
            return bytes(body)
        length = int(self.headers.get("Content-Length") or 0)
        if length < 0 or length > MAX_BODY:
            raise ValueError("request body too large")
        return self.rfile.read(length) if length else b""

    def send_body(self, status, body, content_type, extra=None):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (extra or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if self.truncate:
            # A cut-off answer: the full Content-Length announced, half the body sent.
            self.wfile.write(body[:len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            self._shutdown()
            return
        if self.command != "HEAD":
            self.wfile.write(body)

    def send_json(self, status, obj, extra=None, ctype=JSON_TYPE):
        self.send_body(status, json.dumps(obj, indent=2).encode(), ctype, extra)

    def _shutdown(self):
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _reset(self):
        """Close with a TCP RST (SO_LINGER 0), as a crashed middlebox would."""
        self.close_connection = True
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                       struct.pack("ii", 1, 0))
            self.connection.close()
        except OSError:
            pass

    def _entry(self, op, status, error=None, **extra):
        entry = {"conn": self.conn_id, "listener": self.server.listener, "op": op,
                 "method": self.command, "status": status, "error": error,
                 "user_agent": self.headers.get("User-Agent"),
                 "quota_project": self.headers.get("x-goog-user-project"),
                 "api_client": self.headers.get("x-goog-api-client"),
                 "request_params": self.headers.get("x-goog-request-params")}
        entry.update(extra)
        return entry

    def _loopback_client(self):
        try:
            return ipaddress.ip_address(self.client_address[0]).is_loopback
        except ValueError:
            return False

    # ---- dispatch --------------------------------------------------------------------------

    def do_GET(self):
        self._dispatch()

    def do_POST(self):
        self._dispatch()

    def do_PATCH(self):
        self._dispatch()

    def do_PUT(self):
        self._dispatch()

    def do_DELETE(self):
        self._dispatch()

    def _dispatch(self):
        self.answer_fault = None
        self.truncate = False
        try:
            body = self._read_body()
        except ValueError:
            self.send_body(413, b'{"error":"unreadable or too large request body"}', JSON_TYPE)
            self.close_connection = True
            return
        path, _, query = self.path.partition("?")
        if path.startswith("/_control/"):
            if not self._loopback_client():
                self.send_json(403, {"error": "control API is loopback only"})
                return
            status, answer = handle_control(self.server.owner, self.command, path, body)
            self.send_json(status, answer, ctype="application/json")
            return
        if self.server.listener == "metadata":
            self._metadata(path, query)
            return
        if self.command == "POST" and path == "/token":
            self._serve("token", False, lambda: self._oauth("token", auth.token_endpoint(
                self.store, body, self.server.owner.token_uris(self.headers.get("Host")))))
            return
        if self.command == "POST" and path == "/v1/token":
            self._serve("sts", False, lambda: self._oauth("sts",
                                                          auth.sts_endpoint(self.store, body)))
            return
        m = IAM_RE.match(unquote(path))
        if m and self.command == "POST":
            self._serve("iamcredentials", False, lambda: self._iam(m.group(1), body))
            return
        found = routes.route(self.command, path)
        if found is None:
            self.store.record(self._entry("unknown", 404, "NOT_FOUND", name=path))
            self.send_body(404, (NOT_FOUND_HTML % path.replace("<", "&lt;")).encode(),
                           "text/html; charset=UTF-8")
            return
        op, func, name, params = found
        self._serve(op, True, lambda: self._kms(op, func, name, params, query, body))

    def _serve(self, op, is_kms, work):
        """Count the request, apply a queued fault, else do the work."""
        self.store.count_request(op)
        fault = self.store.take_fault(op, is_kms)
        if fault is not None:
            LOG.info("conn %d: %s: fault %s", self.conn_id, op, fault["kind"])
            if fault.get("delay_ms"):
                time.sleep(fault["delay_ms"] / 1000.0)
            kind = fault["kind"]
            if kind in ANSWER_FAULTS:
                self.answer_fault = kind
            elif kind == "truncated":
                self.truncate = True
            elif kind != "delay":
                self._serve_fault(op, is_kms, fault)
                return
        work()

    def _serve_fault(self, op, is_kms, fault):
        kind = fault["kind"]
        if kind in ("reset", "close"):
            self.store.record(self._entry(op, 0, kind, fault=kind))
            if kind == "reset":
                self._reset()
            else:
                self.close_connection = True
                self._shutdown()
            return
        if kind == "garbage":
            status = fault.get("http") or 200
            ctype = "application/text" if op.startswith("metadata") else JSON_TYPE
            self.store.record(self._entry(op, status, "garbage", fault=kind))
            self.send_body(status, GARBAGE, ctype)
            return
        status, body, ctype, error = fault_error(op, is_kms, fault)
        self.store.record(self._entry(op, status, error, fault=kind))
        extra = {"Metadata-Flavor": "Google"} if op.startswith("metadata") else None
        self.send_body(status, body, ctype, extra)

    # ---- token endpoints -------------------------------------------------------------------

    def _oauth(self, op, result):
        status, answer, fields = result
        error = answer.get("error") if status != 200 else None
        self.store.record(self._entry(op, status, error, detail=answer.get("error_description"),
                                      **fields), auth_failed=error is not None)
        self.send_json(status, answer, {"Cache-Control": "no-cache, no-store, max-age=0, "
                                                         "must-revalidate", "Pragma": "no-cache"},
                       ctype="application/json; charset=utf-8")
        LOG.info("conn %d: %s -> %d %s", self.conn_id, op, status, error or "granted")

    def _iam(self, email, body):
        try:
            caller = auth.check_bearer(self.store, self.headers.get("Authorization"),
                                       self.headers.get("Host"),
                                       need_scopes=(auth.iam.SCOPE_CLOUD_PLATFORM,))
            answer = auth.generate_access_token(self.store, caller, email, body)
        except GcpError as err:
            self._api_error("iamcredentials", err)
            return
        self.store.record(self._entry("iamcredentials", 200, principal=caller["principal"],
                                      target=email))
        self.send_json(200, answer)

    def _metadata(self, path, query):
        op = "metadata-token" if path.endswith("/token") else "metadata"

        def work():
            got_op, status, answer, ctype = metadata.answer(self.store, self.command, path,
                                                            query, self.headers)
            extra = {"principal": self.store.config["metadata_email"]} \
                if got_op == "metadata-token" and status == 200 else {}
            self.store.record(self._entry(got_op, status, None if status == 200 else str(status),
                                          name=path, **extra))
            self.send_body(status, answer, ctype, {"Metadata-Flavor": "Google"})
        self._serve(op, False, work)

    # ---- KMS -------------------------------------------------------------------------------

    def _api_error(self, op, err, **extra):
        self.store.record(self._entry(op, err.http, err.status, message=err.message, **extra),
                          auth_failed=err.status in ("UNAUTHENTICATED",) or
                          err.reason == "ACCESS_TOKEN_SCOPE_INSUFFICIENT")
        self.send_body(err.http, err.body(), JSON_TYPE, err.headers)
        LOG.info("conn %d: %s -> %d %s: %s", self.conn_id, op, err.http, err.status,
                 err.message)

    def _kms(self, op, func, name, params, query, body):
        ident = {"name": name}
        try:
            caller = auth.check_bearer(self.store, self.headers.get("Authorization"),
                                       self.headers.get("Host"))
            ident.update(principal=caller["principal"], token_kind=caller["token_kind"],
                         token_id=caller["token_id"], token_source=caller["token_source"])
            bound, numeric = routes.bind_query(query, params)
            ident["numeric_enums"] = numeric
            ctx = Ctx(self.store, caller, name, bound, body, numeric)
            try:
                answer = func(ctx)
            finally:
                ident["crcs_sent"] = ctx.crcs_sent
        except GcpError as err:
            self._api_error(op, err, **ident)
            return
        fault = self.answer_fault
        if fault:
            apply_answer_fault(answer, fault)
            ident["fault"] = fault
        self.store.record(self._entry(op, 200, **ident))
        self.send_json(200, answer)
        LOG.info("conn %d: %s %s -> 200 as %s%s", self.conn_id, op, name, ident["principal"],
                 " (%s)" % fault if fault else "")


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = False

    def __init__(self, owner, listener, ssl_context=None):
        super().__init__(("127.0.0.1", 0), Handler)
        self.owner = owner
        self.store = owner.store
        self.listener = listener
        self.ssl_context = ssl_context

    def handle_error(self, request, client_address):
        # TLS handshakes a client refuses (wrong CA tests) and resets end up here: one line.
        LOG.info("connection from %s ended with %s", client_address[0],
                 repr(sys.exc_info()[1])[:200])


class GcpKmsServer:
    """Three listeners on 127.0.0.1 (API over HTTP, API over HTTPS, metadata) on one store."""

    def __init__(self, state_dir, token_ttl=None):
        self.store = Store(state_dir, token_ttl)
        self.pki = tls.ensure_pki(state_dir)
        self.http = Server(self, "http")
        self.https = Server(self, "https", tls.server_context(self.pki))
        self.metadata = Server(self, "metadata")
        self.ports = {"http": self.http.server_address[1],
                      "https": self.https.server_address[1],
                      "metadata": self.metadata.server_address[1]}
        self.identities = Identities()
        self.identities.load_or_create(state_dir, self.base("http"), self.base("https"))
        self.store.identities = self.identities

    def base(self, listener):
        scheme = "https" if listener == "https" else "http"
        return "%s://127.0.0.1:%d" % (scheme, self.ports[listener])

    def token_uris(self, host):
        uris = {self.base("http") + "/token", self.base("https") + "/token"}
        uris.update(auth.GOOGLE_TOKEN_URIS)
        if host:
            uris.update({"http://%s/token" % host, "https://%s/token" % host})
        return uris

    def serve(self):
        threads = [threading.Thread(target=s.serve_forever, kwargs={"poll_interval": 0.2},
                                    daemon=True) for s in (self.https, self.metadata)]
        for t in threads:
            t.start()
        try:
            self.http.serve_forever(poll_interval=0.2)
        finally:
            for s in (self.https, self.metadata):
                s.shutdown()
            for s in (self.http, self.https, self.metadata):
                s.server_close()

    def shutdown(self):
        self.http.shutdown()


def _write_atomic(path, text):
    tmp = "%s.tmp.%d" % (path, os.getpid())
    with open(tmp, "w", encoding="ascii") as f:
        f.write(text)
    os.replace(tmp, path)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--port-file")
    ap.add_argument("--state-dir")
    ap.add_argument("--log")
    ap.add_argument("--token-ttl", type=int, default=None)
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args(argv)
    if not args.port_file and not args.state_dir:
        ap.error("--port-file or --state-dir is required")
    gcp_crc32c.self_test()
    own_state = args.state_dir is None
    state_dir = args.state_dir or tempfile.mkdtemp(prefix="p11kms-gcp.")
    os.makedirs(state_dir, exist_ok=True)
    port_file = args.port_file or os.path.join(state_dir, "port")
    log_path = args.log or (None if own_state else os.path.join(state_dir, "server.log"))
    logging.basicConfig(filename=log_path, level=logging.DEBUG if args.verbose else
                        logging.INFO, format="%(asctime)s %(levelname)s %(message)s")

    server = GcpKmsServer(state_dir, args.token_ttl)

    def stop(signum, frame):
        LOG.info("signal %d: stopping", signum)
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    _write_atomic(os.path.join(state_dir, "ports.json"), json.dumps(server.ports) + "\n")
    _write_atomic(os.path.join(state_dir, "tls-port"), "%d\n" % server.ports["https"])
    _write_atomic(os.path.join(state_dir, "metadata-port"), "%d\n" % server.ports["metadata"])
    # The port file last: when it exists, everything else is in place.
    _write_atomic(port_file, "%d\n" % server.ports["http"])
    LOG.info("listening on 127.0.0.1: http %(http)d, https %(https)d, metadata %(metadata)d",
             server.ports)
    try:
        server.serve()
    finally:
        LOG.info("stopped")
        if own_state:
            shutil.rmtree(state_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
