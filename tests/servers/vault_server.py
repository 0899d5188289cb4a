#!/usr/bin/python3
# vault_server.py - loopback HashiCorp Vault stand-in for tests: transit, token/AppRole/
# Kubernetes/cert auth, namespaces, sealed mode, fault injection, over HTTP and HTTPS.
"""Loopback Vault test server. See tests/servers/README.md for the full contract."""

import argparse
import ipaddress
import json
import logging
import os
import re
import signal
import socket
import ssl
import struct
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import vault_auth  # noqa: E402
import vault_store  # noqa: E402
import vault_tls  # noqa: E402
import vault_transit  # noqa: E402
from vault_control import handle_control  # noqa: E402
from vault_util import (INVALID_TOKEN, PERMISSION_DENIED, POLICY_DENIED, SEALED,  # noqa: E402
                        StatusResponse, VaultError, multierror)

LOG = logging.getLogger("vault")
MAX_BODY = 32 << 20             # Vault's default max_request_size
GARBAGE = b"\x00\xff<html>not json</html>{\"data\":"
NAME = r"[0-9A-Za-z_](?:[0-9A-Za-z_.@-]*[0-9A-Za-z_])?"    # framework.GenericNameRegex
TRANSIT_ROUTES = [
    (re.compile(r"^encrypt/(%s)$" % NAME), "encrypt", ("POST", "PUT")),
    (re.compile(r"^decrypt/(%s)$" % NAME), "decrypt", ("POST", "PUT")),
    (re.compile(r"^rewrap/(%s)$" % NAME), "rewrap", ("POST", "PUT")),
    (re.compile(r"^datakey/(%s)/(%s)$" % (NAME, NAME)), "datakey", ("POST", "PUT")),
    (re.compile(r"^sign/(%s)(?:/(%s))?$" % (NAME, NAME)), "sign", ("POST", "PUT")),
    (re.compile(r"^verify/(%s)(?:/(%s))?$" % (NAME, NAME)), "verify", ("POST", "PUT")),
    (re.compile(r"^keys/?$"), "keys-list", ("LIST",)),
    (re.compile(r"^keys/(%s)/rotate$" % NAME), "keys-rotate", ("POST", "PUT")),
    (re.compile(r"^keys/(%s)/config$" % NAME), "keys-config", ("POST", "PUT")),
    (re.compile(r"^keys/(%s)$" % NAME), "keys", ("GET", "POST", "PUT", "DELETE")),
]
AUTH_ROUTES = {
    "auth/approle/login": ("approle-login", ("POST", "PUT")),
    "auth/kubernetes/login": ("kubernetes-login", ("POST", "PUT")),
    "auth/cert/login": ("cert-login", ("POST", "PUT")),
    "auth/token/lookup-self": ("token-lookup-self", ("GET", "POST", "PUT")),
    "auth/token/renew-self": ("token-renew-self", ("POST", "PUT")),
    "auth/token/revoke-self": ("token-revoke-self", ("POST", "PUT")),
}
AUTH_MOUNTS = ("approle", "kubernetes", "cert", "token")
CAPABILITY = {"GET": "read", "HEAD": "read", "LIST": "list", "DELETE": "delete",
              "POST": "update", "PUT": "update", "PATCH": "patch"}
MOUNT_TYPE = {"approle-login": "approle", "kubernetes-login": "kubernetes",
              "cert-login": "cert", "token-lookup-self": "token",
              "token-renew-self": "token", "token-revoke-self": "token"}


def go_json(obj):
    """encoding/json.Encoder output: compact, <>& escaped, newline at the end."""
    text = json.dumps(obj, separators=(",", ":"), ensure_ascii=False)
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    text = text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    return (text + "\n").encode("utf-8")


def go_sorted(obj):
    """Go marshals maps with sorted keys; data and metadata maps are maps."""
    if isinstance(obj, dict):
        return {k: go_sorted(obj[k]) for k in sorted(obj)}
    if isinstance(obj, list):
        return [go_sorted(v) for v in obj]
    return obj


class Route:
    """What a request is: its operation name (counters, faults), how it is handled, where."""

    def __init__(self, op, kind, methods=(), mount=None, name=None, path_arg=None):
        self.op = op
        self.kind = kind            # transit, login, token, sys, unsupported, noroute
        self.methods = methods
        self.mount = mount
        self.name = name
        self.path_arg = path_arg


def _route_locked(store, ns, rel, method):
    if rel in ("sys/health", "sys/seal-status"):
        return Route(rel.split("/")[1], "sys", ("GET", "HEAD"))
    auth = AUTH_ROUTES.get(rel)
    if auth is not None:
        kind = "login" if auth[0].endswith("-login") else "token"
        return Route(auth[0], kind, auth[1])
    parts = rel.split("/")
    if parts[0] == "sys" or (parts[0] == "auth" and len(parts) > 1 and
                             parts[1] in AUTH_MOUNTS):
        return Route("unknown", "unsupported")
    mount, sub = store.transit_mount_locked(ns, rel)
    if mount is None:
        return Route("unknown", "noroute")
    for regex, op, methods in TRANSIT_ROUTES:
        m = regex.match(sub)
        if m is None:
            continue
        if op == "datakey":
            return Route(op, "transit", methods, mount, m.group(2), m.group(1))
        if op in ("sign", "verify"):    # the hash algorithm may come in the path
            return Route(op, "transit", methods, mount, m.group(1), m.group(2))
        if op == "keys":
            op = {"GET": "keys-read", "DELETE": "keys-delete", "LIST": "keys-list"}.get(
                method, "keys-create")
        return Route(op, "transit", methods, mount, m.group(1) if m.groups() else None)
    return Route("unknown", "unsupported")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 120

    # ---- plumbing --------------------------------------------------------------------------

    @property
    def store(self):
        return self.server.store

    def setup(self):
        self.tls = isinstance(self.request, ssl.SSLSocket)
        self.peer_cert = None
        self.conn_id = self.server.store.new_connection(self.tls)
        self.request.settimeout(self.timeout)
        if self.tls:
            self.request.do_handshake()     # in this thread, not in the accept loop
            self.peer_cert = self.request.getpeercert(binary_form=True)
        super().setup()
        # Headers and body go out in two writes; without NODELAY, Nagle + delayed ACK add
        # ~40 ms to every keep-alive request.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, fmt, *args):
        LOG.debug("conn %d: " + fmt, self.conn_id, *args)

    def send_response(self, code, message=None):
        # Go's net/http sends Date but no Server header.
        self.log_request(code)
        self.send_response_only(code, message)
        self.send_header("Date", self.date_time_string())

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
                    raise OverflowError
                body += self.rfile.read(size)
                self.rfile.readline(8)
            return bytes(body)
        length = int(self.headers.get("Content-Length") or 0)
        if length < 0 or length > MAX_BODY:
            raise OverflowError
        return self.rfile.read(length) if length else b""

    def _send(self, status, body, content_type="application/json", extra=None):
        truncate = getattr(self, "truncate", False)
        if status in (204, 304):
            body = None             # Go's net/http never sends a body with these
        self.send_response(status)
        self.send_header("Cache-Control", "no-store")
        if body is not None:
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
        for name, value in (extra or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if body and self.command != "HEAD":
            if truncate:
                self.wfile.write(body[:len(body) // 2])
                self.wfile.flush()
                self._close(reset=False)
                return
            self.wfile.write(body)

    def _close(self, reset):
        """Close without (the rest of) an answer: FIN, or RST as a crashed peer would."""
        self.close_connection = True
        try:
            self.wfile.flush()
            if reset:
                # Linger 0 and no shutdown first (Server.shutdown_request): close sends RST.
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                           struct.pack("ii", 1, 0))
                with self.server.reset_lock:
                    self.server.reset_requests.add(self.request)
            else:
                self.connection.shutdown(socket.SHUT_WR)
        except (OSError, AttributeError):
            pass

    def _loopback_client(self):
        try:
            return ipaddress.ip_address(self.client_address[0]).is_loopback
        except ValueError:
            return False

    # ---- dispatch --------------------------------------------------------------------------

    def do_GET(self):
        self._dispatch()

    do_HEAD = do_PUT = do_POST = do_DELETE = do_LIST = do_PATCH = do_GET

    def _dispatch(self):
        self.truncate = False
        try:
            body = self._read_body()
        except (OverflowError, ValueError):
            self._send(413, go_json({"errors": [
                "failed to parse JSON input: http: request body too large"]}))
            self.close_connection = True
            return
        url = urllib.parse.urlsplit(self.path)
        if url.path.startswith("/_control/"):
            if not self._loopback_client():
                self._send(403, go_json({"error": "control API is loopback only"}))
                return
            status, answer = handle_control(self.store, self.command, url.path, body,
                                            self.server.ports)
            self._send(status, json.dumps(answer).encode())
            return
        if not url.path.startswith("/v1/"):
            self._send(404, b"404 page not found\n", "text/plain; charset=utf-8")
            return
        self._api(urllib.parse.unquote(url.path[len("/v1/"):]), url.query, body)

    def _token(self):
        value = self.headers.get("X-Vault-Token")
        if value:
            return value.strip(), "x-vault-token"
        auth = self.headers.get("Authorization", "")
        if auth.startswith("Bearer "):
            return auth[len("Bearer "):].strip(), "bearer"
        return None, None

    def _api(self, path, query, raw):
        store = self.store
        params = dict(urllib.parse.parse_qsl(query))
        method = self.command
        if method == "GET" and params.get("list") in ("true", "1"):
            method = "LIST"
        header_ns = self.headers.get("X-Vault-Namespace", "")
        with store.lock:
            ns, rel = store.resolve_locked(header_ns, path)
            route = _route_locked(store, ns, rel, method)
        token_id, token_source = self._token()
        entry = {"conn": self.conn_id, "tls": self.tls, "method": self.command,
                 "path": "/v1/" + path, "op": route.op, "namespace": ns,
                 "mount": route.mount.path if route.mount else None,
                 "token": vault_store.fingerprint(token_id), "token_source": token_source,
                 "x_vault_request": self.headers.get("X-Vault-Request"),
                 "x_vault_namespace": self.headers.get("X-Vault-Namespace"),
                 "user_agent": self.headers.get("User-Agent"),
                 "content_type": self.headers.get("Content-Type"), "fault": None}
        store.count_request(route.op)
        fault = store.take_fault(route.op)
        if fault is not None:
            entry["fault"] = fault["kind"]
            LOG.info("conn %d: %s: fault %s", self.conn_id, route.op, fault["kind"])
            if fault["kind"] == "truncated":
                self.truncate = True
            elif fault["kind"] == "delay":
                time.sleep(fault["delay_ms"] / 1000.0)
            else:
                self._serve_fault(fault, entry, rel)
                return
        try:
            data = self._parse(raw, method, params)
            entry["fields"] = sorted(data)
            for name in ("context", "associated_data", "hash_algorithm", "signature_algorithm",
                         "marshaling_algorithm", "salt_length"):
                if isinstance(data.get(name), str):
                    entry[name] = data[name]
            for name in ("prehashed", "key_version"):
                if isinstance(data.get(name), (bool, int)):
                    entry["asked_" + name] = data[name]
            self._checked(route, ns, rel, method, data, token_id, entry)
        except VaultError as e:
            self._error(e, entry, auth_failed=e.status == 403)
        except StatusResponse as e:
            self._respond(e.status, e.data, None, [], entry, route)
        except (OSError, ssl.SSLError):
            raise                   # the client went away; socketserver logs it
        except Exception:           # a server bug: Vault's answer to one, and the traceback
            LOG.exception("conn %d: %s %s failed", self.conn_id, self.command, path)
            self._error(VaultError(500, [multierror("internal error")]), entry)

    def _parse(self, raw, method, params):
        if method in ("GET", "HEAD", "LIST", "DELETE") and not raw.strip():
            return {k: v for k, v in params.items() if k != "list"}
        if not raw.strip():
            return {}
        try:
            data = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as e:
            raise VaultError(400, ["failed to parse JSON input: %s" % e])
        if data is None:
            return {}               # Go decodes null into a nil map: no fields
        if not isinstance(data, dict):
            go_type = {list: "array", str: "string", bool: "bool"}.get(type(data), "number")
            raise VaultError(400, ["failed to parse JSON input: json: cannot unmarshal %s into "
                                   "Go value of type map[string]interface {}" % go_type])
        return data

    def _checked(self, route, ns, rel, method, data, token_id, entry):
        """Vault's order: request header (Vault Proxy) -> sealed -> token and ACL -> route."""
        store = self.store
        cfg = store.config
        if cfg["require_request_header"] and self.headers.get("X-Vault-Request") != "true":
            raise VaultError(412, ["missing 'X-Vault-Request' header"])
        if route.kind == "sys":
            self._sys(route, entry, data)
            return
        if cfg["sealed"]:
            raise VaultError(503, [SEALED])
        token = None
        if route.kind != "login":
            with store.lock:
                if not token_id:
                    raise VaultError(403, [PERMISSION_DENIED])
                token = store.check_token_locked(token_id)
                if token is None:
                    raise VaultError(403, [INVALID_TOKEN])
                capability = CAPABILITY.get(method, "update")
                if route.op == "encrypt" and route.name not in route.mount.keys:
                    capability = "create"       # the existence check says the key is new
                if not store.allowed_locked(token, ns, rel, capability):
                    store.use_token_locked(token)
                    raise VaultError(403, [POLICY_DENIED])
                store.use_token_locked(token)
                entry["create"] = capability == "create"
        if route.kind == "noroute":
            raise VaultError(404, ['no handler for route "%s". route entry not found.' % rel])
        if route.kind == "unsupported":
            raise VaultError(404, [multierror("unsupported path")])
        if method not in route.methods and not (method == "HEAD" and "GET" in route.methods):
            raise VaultError(405, [multierror("unsupported operation")])
        warnings = self._param_warnings(route, data)
        if route.kind == "transit":
            self._transit(route, data, entry, warnings)
        else:
            self._auth(route, ns, data, token, entry, warnings)

    def _param_warnings(self, route, data):
        mode = self.store.config["associated_data"]
        if mode == "silent":        # Vault before 1.10 ignored unknown parameters silently
            return []
        known = vault_transit.FIELDS.get(route.op) or vault_auth.FIELDS.get(route.op, set())
        if route.op == "keys-list":
            known = set()
        if mode == "warn" and route.op in ("encrypt", "decrypt"):
            known = known - {"associated_data"}     # Vault 1.10..1.12: no AEAD AD yet
        if not self.store.config["salt_length"] and route.op in ("sign", "verify"):
            known = known - {"salt_length"}         # before Vault 1.14
        warnings = []
        ignored = sorted(k for k in data if k not in known)
        if ignored:
            warnings.append("Endpoint ignored these unrecognized parameters: [%s]"
                            % " ".join(ignored))
        if route.op in ("sign", "verify") and "salt_length" in ignored:
            del data["salt_length"]     # ignored: the handler does not see it
        captures = ("name", "plaintext") if route.op == "datakey" else ("name",)
        replaced = sorted(k for k in captures if data.get(k) is not None)
        if route.kind == "transit" and replaced:
            warnings.append("Endpoint replaced the value of these parameters with the values "
                            "captured from the endpoint's path: [%s]" % " ".join(replaced))
        return warnings

    # ---- endpoints -------------------------------------------------------------------------

    def _sys(self, route, entry, params):
        store = self.store
        cfg = store.config
        sealed = cfg["sealed"]
        if route.op == "health":
            data = {"initialized": True, "sealed": sealed, "standby": sealed,
                    "performance_standby": False, "replication_performance_mode": "disabled",
                    "replication_dr_mode": "disabled", "server_time_utc": int(store.now()),
                    "version": cfg["version"], "enterprise": cfg["version"].endswith("+ent"),
                    "cluster_name": "vault-cluster-p11kms",
                    "cluster_id": "11111111-2222-3333-4444-555555555555"}
            try:
                status = int(params.get("sealedcode", 503)) if sealed else \
                    int(params.get("activecode", 200))
            except ValueError:
                raise VaultError(400, ["sealedcode and activecode must be numbers"])
            self._raw_json(status, data, entry)
            return
        data = {"type": "shamir", "initialized": True, "sealed": sealed, "t": 1, "n": 1,
                "progress": 0, "nonce": "", "version": cfg["version"],
                "build_date": "2024-01-01T00:00:00Z", "migration": False,
                "recovery_seal": False, "storage_type": "inmem"}
        if not sealed:
            data["cluster_name"] = "vault-cluster-p11kms"
            data["cluster_id"] = "11111111-2222-3333-4444-555555555555"
        self._raw_json(200, data, entry)

    def _transit(self, route, data, entry, warnings):
        store = self.store
        req = vault_transit.Request(route.op, route.name, data, route.mount, store.config,
                                    create=entry.get("create", False), path_arg=route.path_arg)
        with store.lock:
            try:
                answer = vault_transit.HANDLERS[route.op](req)
            except vault_transit.InternalError as e:
                raise VaultError(500, [multierror(str(e))])
            finally:
                if route.op not in ("encrypt", "decrypt", "rewrap", "datakey", "keys-read",
                                    "keys-list", "sign", "verify") or req.create:
                    store._save_locked()
        if isinstance(answer, dict) and "key_version" in answer:
            entry["key_version"] = answer["key_version"]
        if answer is None:
            if route.op in ("keys-read", "keys-list"):
                raise VaultError(404, [])
            self._respond(204, None, None, [], entry, route)
            return
        self._respond(200, answer, None, warnings + req.warnings, entry, route)

    def _auth(self, route, ns, data, token, entry, warnings):
        login = vault_auth.Login(self.store, ns, data, token=token,
                                 peer_cert_der=self.peer_cert, tls=self.tls)
        if route.kind == "login":
            auth = vault_auth.LOGINS[route.op](login)
            self._respond(200, None, auth, warnings, entry, route)
            return
        answer = vault_auth.TOKEN_OPS[route.op](login)
        if route.op == "token-lookup-self":
            self._respond(200, answer, None, warnings, entry, route)
        elif route.op == "token-renew-self":
            self._respond(200, None, answer, warnings + login.warnings, entry, route)
        else:
            self._respond(204, None, None, [], entry, route)

    # ---- answers ---------------------------------------------------------------------------

    def _respond(self, status, data, auth, warnings, entry, route):
        rid = self.store.request_id()
        if status == 204:
            self._finish(entry, 204, None, rid)
            self._send(204, None)
            return
        body = {"request_id": rid, "lease_id": "", "renewable": False, "lease_duration": 0,
                "data": go_sorted(data) if data is not None else None, "wrap_info": None,
                "warnings": warnings or None, "auth": auth,
                "mount_type": route.mount and "transit" or MOUNT_TYPE.get(route.op, "")}
        if auth is not None and auth.get("metadata") is not None:
            auth["metadata"] = go_sorted(auth["metadata"])
        entry["warnings"] = warnings or None
        self._finish(entry, status, None, rid)
        self._send(status, go_json(body))

    def _raw_json(self, status, data, entry):
        self._finish(entry, status, None, None)
        self._send(status, go_json(data))

    def _error(self, err, entry, auth_failed=False):
        extra = dict(err.headers)
        self._finish(entry, err.status, err.errors[0] if err.errors else "", None,
                     auth_failed=auth_failed)
        self._send(err.status, go_json({"errors": err.errors}), extra=extra)

    def _finish(self, entry, status, error, rid, auth_failed=False):
        entry.update({"status": status, "error": error, "request_id": rid})
        self.store.record(entry, auth_failed=auth_failed)
        LOG.info("conn %d: %s %s -> %d%s ns=%r token=%s%s", self.conn_id, self.command,
                 entry["path"], status, " [%s]" % error.replace("\n", " ") if error else "",
                 entry["namespace"], entry["token"], " request %s" % rid if rid else "")

    def _serve_fault(self, fault, entry, rel):
        kind = fault["kind"]
        if kind in ("reset", "drop"):
            self._finish(entry, 0, kind, None)
            self._close(reset=kind == "reset")
            return
        if kind == "garbage":
            status = fault.get("status") or 200
            self._finish(entry, status, "garbage", None)
            self._send(status, GARBAGE)
            return
        headers = {}
        if kind == "http412":
            status, errors = 412, ["required index state not present"]
        elif kind == "http429":
            status, errors = 429, ['request path "%s": rate limit quota exceeded' % rel]
            headers = {"Retry-After": "1", "X-Ratelimit-Limit": "1",
                       "X-Ratelimit-Remaining": "0", "X-Ratelimit-Reset": "1"}
        elif kind == "http500":
            status, errors = 500, [multierror("internal error")]
        elif kind == "http501":
            status, errors = 501, ["Vault is not initialized"]
        elif kind == "http502":
            status, errors = 502, [multierror("upstream rate limited")]
        elif kind == "http503":
            status, errors = 503, [SEALED]
        else:
            status, errors = fault["status"], [fault["message"]] if fault["message"] else []
        self._error(VaultError(status, errors, headers), entry)


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = False

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.reset_lock = threading.Lock()
        self.reset_requests = set()

    def shutdown_request(self, request):
        with self.reset_lock:
            reset = request in self.reset_requests
            self.reset_requests.discard(request)
        if reset:
            self.close_request(request)     # RST, not FIN then RST
            return
        super().shutdown_request(request)

    def handle_error(self, request, client_address):
        # TLS handshakes that fail (wrong CA, plain HTTP to the TLS port) and clients that go
        # away are part of the tests; one log line, no traceback on stderr.
        LOG.info("connection from %s ended: %s", client_address[0], sys.exc_info()[1])


class TLSServer(Server):
    def get_request(self):
        sock, addr = self.socket.accept()
        return self.ssl_context.wrap_socket(sock, server_side=True,
                                            do_handshake_on_connect=False), addr


def _write_port_file(path, port):
    tmp = "%s.tmp.%d" % (path, os.getpid())
    with open(tmp, "w", encoding="ascii") as f:
        f.write("%d\n" % port)
    os.replace(tmp, path)


def _tls_context(tls_dir):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(os.path.join(tls_dir, "server.pem"),
                        os.path.join(tls_dir, "server-key.pem"))
    # Vault asks for a client certificate but lets cert auth judge it; Python can only ask
    # with verification, so both test CAs are accepted here and the role check does the rest.
    ctx.verify_mode = ssl.CERT_OPTIONAL
    ctx.load_verify_locations(os.path.join(tls_dir, "ca.pem"))
    ctx.load_verify_locations(os.path.join(tls_dir, "other-ca.pem"))
    return ctx


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--port-file")
    ap.add_argument("--tls-port-file")
    ap.add_argument("--state-dir")
    ap.add_argument("--tls-dir", help="test PKI directory (default STATE_DIR/tls)")
    ap.add_argument("--log")
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args(argv)
    if not args.state_dir and not (args.port_file and args.tls_dir):
        ap.error("--state-dir, or --port-file and --tls-dir, are required")
    if args.state_dir:
        os.makedirs(args.state_dir, exist_ok=True)
    port_file = args.port_file or os.path.join(args.state_dir, "port")
    tls_port_file = args.tls_port_file or (os.path.join(args.state_dir, "tls-port")
                                           if args.state_dir else port_file + ".tls")
    tls_dir = args.tls_dir or os.path.join(args.state_dir, "tls")
    log_path = args.log or (os.path.join(args.state_dir, "server.log") if args.state_dir
                            else None)
    logging.basicConfig(filename=log_path, level=logging.DEBUG if args.verbose else
                        logging.INFO, format="%(asctime)s %(levelname)s %(message)s")

    vault_tls.ensure_pki(tls_dir)
    store = vault_store.Store(args.state_dir, tls_dir)
    identity_files = {}
    for name, namespace, fname in ((vault_store.K8S_SA, vault_store.K8S_SA_NAMESPACE,
                                    "k8s-token"),
                                   ("p11kms-other-sa", vault_store.K8S_SA_NAMESPACE,
                                    "k8s-token-other-sa")):
        jwt, uid = vault_auth.make_service_account_jwt(name, namespace)
        store.k8s_tokens[jwt] = (name, namespace, uid)
        identity_files[fname] = jwt
    identity_files["approle-role-id"] = vault_store.APPROLE_ROLE_ID
    identity_files["approle-secret-id"] = vault_store.APPROLE_SECRET_ID
    if args.state_dir:
        # Files as a pod or an operator would have them (service-account token, secret-id
        # file), without a trailing newline, readable only by the owner.
        for fname, value in identity_files.items():
            path = os.path.join(args.state_dir, fname)
            fd = os.open(path + ".tmp", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="ascii") as f:
                f.write(value)
            os.replace(path + ".tmp", path)
    http_server = Server(("127.0.0.1", 0), Handler)
    tls_server = TLSServer(("127.0.0.1", 0), Handler)
    tls_server.ssl_context = _tls_context(tls_dir)
    ports = (http_server.server_address[1], tls_server.server_address[1])
    for srv in (http_server, tls_server):
        srv.store = store
        srv.ports = ports

    def stop(signum, frame):
        LOG.info("signal %d: stopping", signum)
        for srv in (http_server, tls_server):
            threading.Thread(target=srv.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    tls_thread = threading.Thread(target=tls_server.serve_forever, kwargs={"poll_interval": 0.2})
    tls_thread.start()
    _write_port_file(tls_port_file, ports[1])
    _write_port_file(port_file, ports[0])       # last: its presence means both are up
    LOG.info("listening on http://127.0.0.1:%d and https://127.0.0.1:%d", *ports)
    try:
        http_server.serve_forever(poll_interval=0.2)
    finally:
        tls_server.shutdown()
        tls_thread.join()
        http_server.server_close()
        tls_server.server_close()
        LOG.info("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
