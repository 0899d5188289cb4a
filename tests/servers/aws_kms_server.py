#!/usr/bin/python3
# aws_kms_server.py - loopback AWS KMS (TrentService JSON 1.1) + STS web identity + IMDSv2 +
# container credentials, with SigV4 checked by botocore, fault injection and counters for tests.
"""Loopback AWS KMS test server. See tests/servers/README.md for the full contract."""

import argparse
import calendar
import hashlib
import ipaddress
import json
import logging
import os
import signal
import socket
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import aws_kms_ops  # noqa: E402
import aws_kms_store  # noqa: E402
import sigv4_oracle  # noqa: E402
from aws_kms_control import handle_control  # noqa: E402
from aws_kms_credentials import credential_route, sts_error, sts_request  # noqa: E402
from aws_kms_store import KmsError, client_error  # noqa: E402

LOG = logging.getLogger("awskms")
MAX_BODY = 1 << 20
MAX_SKEW = 15 * 60
JSON_TYPE = "application/x-amz-json-1.1"
GARBAGE = b"\x00\xff<html>not json</html>{\"__type\":"
SIGNATURE_MISMATCH = ("The request signature we calculated does not match the signature you "
                      "provided. Check your AWS Secret Access Key and signing method. Consult "
                      "the service documentation for details.")


def _amz_epoch(amzdate):
    return calendar.timegm(time.strptime(amzdate, "%Y%m%dT%H%M%SZ"))


def _redacted_creq(creq):
    """The canonical request for the log, with the session token reduced to a fingerprint."""
    out = []
    for line in creq.split("\n"):
        if line.startswith("x-amz-security-token:"):
            tok = line.split(":", 1)[1]
            line = "x-amz-security-token:<redacted len=%d sha256=%s>" % (
                len(tok), hashlib.sha256(tok.encode()).hexdigest()[:12])
        out.append(line)
    return "\n".join(out)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "p11kms-aws-test"
    sys_version = ""
    timeout = 120

    # ---- plumbing --------------------------------------------------------------------------

    @property
    def store(self):
        return self.server.store

    def setup(self):
        super().setup()
        # Headers and body go out in two writes; without NODELAY, Nagle + delayed ACK add
        # ~40 ms to every keep-alive request.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.conn_id = self.store.new_connection()

    def log_message(self, fmt, *args):
        LOG.debug("conn %d: " + fmt, self.conn_id, *args)

    def _header_pairs(self):
        return list(self.headers.raw_items())

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
                    raise KmsError(413, "RequestEntityTooLarge", "request body too large")
                body += self.rfile.read(size)
                self.rfile.readline(8)
            return bytes(body)
        length = int(self.headers.get("Content-Length") or 0)
        if length < 0 or length > MAX_BODY:
            raise KmsError(413, "RequestEntityTooLarge", "request body too large")
        return self.rfile.read(length) if length else b""

    def send_body(self, status, body, content_type, extra=None):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (extra or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def drop(self):
        """Close without an answer, as a crashed or cut-off server would."""
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _entry(self, op, status, error=None, **extra):
        entry = {"conn": self.conn_id, "op": op, "status": status, "error": error,
                 "user_agent": self.headers.get("User-Agent")}
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

    def do_PUT(self):
        self._dispatch()

    def do_POST(self):
        self._dispatch()

    def do_DELETE(self):
        self._dispatch()

    def _dispatch(self):
        try:
            body = self._read_body()
        except (KmsError, ValueError) as e:
            status = e.status if isinstance(e, KmsError) else 400
            self.send_body(status, b'{"message":"unreadable request body"}', "application/json")
            self.close_connection = True
            return
        path = self.path.split("?", 1)[0]
        if path.startswith("/_control/"):
            if not self._loopback_client():
                self.send_body(403, b'{"error":"control API is loopback only"}',
                               "application/json")
                return
            status, answer = handle_control(self.store, self.command, path, body,
                                            self.server.server_address[1])
            self.send_body(status, json.dumps(answer).encode(), "application/json")
            return
        route = credential_route(self.command, path)
        if route is not None:
            op, func = route
            self._serve(op, False, lambda: func(self, body))
            return
        if self.command == "POST" and path == "/":
            target = self.headers.get("X-Amz-Target")
            if target is not None:
                op = target[len("TrentService."):] if target.startswith("TrentService.") \
                    else target
                self._serve(op, True, lambda: self._kms(op, target, body))
                return
            if "Action=" in body.decode("latin-1"):
                self._serve("sts", False, lambda: sts_request(self, body))
                return
        self.store.record(self._entry("unknown", 404, "NotFound"))
        self.send_body(404, b'{"message":"no such resource"}', "application/json")

    def _serve(self, op, is_kms, work):
        """Count the request, apply a queued fault, else do the work."""
        self.store.count_request(op)
        fault = self.store.take_fault(op, is_kms)
        if fault is not None:
            LOG.info("conn %d: %s: fault %s", self.conn_id, op, fault["kind"])
            if fault["kind"] != "delay":
                self._serve_fault(op, is_kms, fault)
                return
            time.sleep(fault["delay_ms"] / 1000.0)     # then answer normally
        work()

    def _serve_fault(self, op, is_kms, fault):
        kind = fault["kind"]
        if kind == "drop":
            self.store.record(self._entry(op, 0, "dropped", fault=kind))
            self.drop()
            return
        if kind == "garbage":
            status = fault.get("status") or 200
            ctype = JSON_TYPE if is_kms else ("text/xml" if op == "sts" else "application/json")
            self.store.record(self._entry(op, status, "garbage", fault=kind))
            self.send_body(status, GARBAGE, ctype)
            return
        if kind == "throttle":
            status, code, msg = (400, "ThrottlingException", "Rate exceeded") if is_kms else \
                (400, "Throttling", "Rate exceeded") if op == "sts" else \
                (429, "Throttling", "Too Many Requests")
        elif kind == "http500":
            status, code, msg = 500, "KMSInternalException", "Internal failure (injected)"
        elif kind == "http503":
            status, code, msg = 503, "ServiceUnavailableException", "Service unavailable"
        else:
            status, code, msg = fault["status"], fault["type"], fault.get("message") or ""
        err = KmsError(status, code, msg)
        if is_kms:
            self.kms_error(op, err, fault=kind)
        elif op == "sts":
            sts_error(self, err, fault=kind)
        else:
            self.store.record(self._entry(op, status, code, fault=kind))
            self.send_body(status, json.dumps({"Code": code, "Message": msg}).encode(),
                           "application/json")

    # ---- KMS -------------------------------------------------------------------------------

    def kms_error(self, op, err, auth_failed=False, **extra):
        rid = str(uuid.uuid4())
        body = json.dumps({"__type": err.code, "message": err.message}).encode()
        # Counted before the answer leaves, so a client that reads the counters right after
        # its call always sees it.
        self.store.record(self._entry(op, err.status, err.code, request_id=rid, **extra),
                          auth_failed=auth_failed,
                          signature_failed=err.code == "InvalidSignatureException")
        self.send_body(err.status, body, JSON_TYPE, {"x-amzn-RequestId": rid})
        LOG.info("conn %d: %s -> %d %s (request %s)", self.conn_id, op, err.status, err.code,
                 rid)

    def _kms(self, op, target, body):
        try:
            ident = self._authenticate(body)
        except KmsError as err:
            self.kms_error(op, err, auth_failed=True)
            return
        try:
            func = aws_kms_ops.OPERATIONS.get(op) if target.startswith("TrentService.") \
                else None
            if func is None:
                raise client_error("UnknownOperationException", "")
            try:
                req = json.loads(body.decode("utf-8")) if body else None
            except (UnicodeDecodeError, ValueError):
                req = None
            if not isinstance(req, dict):
                raise client_error("SerializationException", "Request body is not a JSON "
                                   "object")
            # As CloudTrail records requestParameters.encryptionContext, refused calls too.
            for name, field in (("EncryptionContext", "encryption_context"),
                                ("DestinationEncryptionContext",
                                 "destination_encryption_context")):
                if isinstance(req.get(name), dict):
                    ident[field] = req[name]
            answer = func(self.store, req)
        except KmsError as err:
            self.kms_error(op, err, **ident)
            return
        rid = str(uuid.uuid4())
        self.store.record(self._entry(op, 200, request_id=rid, **ident))
        self.send_body(200, json.dumps(answer).encode(), JSON_TYPE, {"x-amzn-RequestId": rid})
        LOG.info("conn %d: %s -> 200 key %s as %s (request %s)", self.conn_id, op,
                 answer.get("KeyId") or answer.get("KeyMetadata", {}).get("Arn"),
                 ident["access_key_id"], rid)

    def _authenticate(self, body):
        """SigV4 check of a KMS request; the identity fields for the log, or KmsError."""
        store = self.store
        pairs = self._header_pairs()
        value = self.headers.get("Authorization")
        if value is None:
            raise client_error("MissingAuthenticationTokenException",
                               "Missing Authentication Token")
        auth = sigv4_oracle.AuthHeader.parse(value)
        amzdate = (self.headers.get("X-Amz-Date") or "").strip()
        if auth is None:
            raise client_error("IncompleteSignatureException",
                               "Authorization header requires 'Credential', 'Signature' and "
                               "'SignedHeaders' parameters in the form AWS4-HMAC-SHA256 "
                               "Credential=..., SignedHeaders=..., Signature=...")
        if not sigv4_oracle.valid_amzdate(amzdate):
            raise client_error("IncompleteSignatureException",
                               "Authorization header requires existence of either a "
                               "'X-Amz-Date' or a 'Date' header.")
        present = {n.lower() for n, _ in pairs}
        token = self.headers.get("X-Amz-Security-Token")
        missing = [h for h in ("host", "x-amz-date") if h not in auth.signed_headers]
        if token is not None and "x-amz-security-token" not in auth.signed_headers:
            missing.append("x-amz-security-token")
        absent = [h for h in auth.signed_headers if h not in present]
        if missing or absent:
            raise client_error("IncompleteSignatureException",
                               "Signed headers must include %s; signed but absent: %s"
                               % (", ".join(missing) or "-", ", ".join(absent) or "-"))
        ident = {"access_key_id": auth.access_key, "signed_headers": auth.signed_headers,
                 "session_token_signed": token is not None}
        with store.lock:
            try:
                secret, want_token, expires = store.secret_for_locked(auth.access_key)
            except KeyError:
                raise client_error("UnrecognizedClientException",
                                   "The security token included in the request is invalid.")
            now = store.now()
        if want_token is not None:
            if token is None or not sigv4_oracle.signature_matches(want_token, token):
                raise client_error("UnrecognizedClientException",
                                   "The security token included in the request is invalid.")
            if expires <= now:
                raise client_error("ExpiredTokenException",
                                   "The security token included in the request is expired")
        elif token is not None:
            raise client_error("UnrecognizedClientException",
                               "The security token included in the request is invalid.")
        self._check_time(amzdate, now)
        if auth.service != "kms" or auth.region != store.region or auth.date != amzdate[:8]:
            raise client_error("InvalidSignatureException",
                               "Credential should be scoped to a valid region, service and "
                               "date: expected %s/%s/kms, got %s/%s/%s"
                               % (amzdate[:8], store.region, auth.date, auth.region,
                                  auth.service))
        _, sig, creq, sts = sigv4_oracle.compute(
            self.command, self.path, pairs, body, auth.signed_headers, auth.access_key,
            secret, want_token, store.region, "kms", amzdate)
        if not sigv4_oracle.payload_hash_ok(pairs, body):
            LOG.warning("conn %d: x-amz-content-sha256 does not match the body", self.conn_id)
            raise client_error("InvalidSignatureException",
                               "The provided 'x-amz-content-sha256' header does not match what "
                               "was computed.")
        if not sigv4_oracle.signature_matches(sig, auth.signature):
            odd = [h for h in auth.signed_headers if sigv4_oracle.never_signed(h)]
            LOG.warning("conn %d: signature mismatch for %s%s\n--- canonical request "
                        "(botocore)\n%s\n--- string to sign (botocore)\n%s\n---",
                        self.conn_id, auth.access_key,
                        " (client signed %s, which AWS SDKs never sign)" % ",".join(odd)
                        if odd else "", _redacted_creq(creq), sts)
            raise client_error("InvalidSignatureException", SIGNATURE_MISMATCH)
        return ident

    @staticmethod
    def _check_time(amzdate, now):
        try:
            sent = _amz_epoch(amzdate)
        except (ValueError, OverflowError):
            raise client_error("IncompleteSignatureException", "X-Amz-Date is malformed")
        fmt = "%Y%m%dT%H%M%SZ"
        if sent < now - MAX_SKEW:
            raise client_error("InvalidSignatureException",
                               "Signature expired: %s is now earlier than %s (%s - 15 min.)"
                               % (amzdate, time.strftime(fmt, time.gmtime(now - MAX_SKEW)),
                                  time.strftime(fmt, time.gmtime(now))))
        if sent > now + MAX_SKEW:
            raise client_error("InvalidSignatureException",
                               "Signature not yet current: %s is still later than %s (%s + "
                               "15 min.)" % (amzdate,
                                             time.strftime(fmt, time.gmtime(now + MAX_SKEW)),
                                             time.strftime(fmt, time.gmtime(now))))


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = False


def _write_port_file(path, port):
    tmp = "%s.tmp.%d" % (path, os.getpid())
    with open(tmp, "w", encoding="ascii") as f:
        f.write("%d\n" % port)
    os.replace(tmp, path)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--port-file")
    ap.add_argument("--state-dir")
    ap.add_argument("--log")
    ap.add_argument("--region", default="us-east-1")
    ap.add_argument("--account", default="111122223333")
    ap.add_argument("--web-identity-token", default=aws_kms_store.DEFAULT_WEB_IDENTITY_TOKEN)
    ap.add_argument("--credential-ttl", type=int, default=None)
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args(argv)
    if not args.port_file and not args.state_dir:
        ap.error("--port-file or --state-dir is required")
    if args.state_dir:
        os.makedirs(args.state_dir, exist_ok=True)
    port_file = args.port_file or os.path.join(args.state_dir, "port")
    log_path = args.log or (os.path.join(args.state_dir, "server.log") if args.state_dir
                            else None)
    logging.basicConfig(filename=log_path, level=logging.DEBUG if args.verbose else
                        logging.INFO, format="%(asctime)s %(levelname)s %(message)s")

    store = aws_kms_store.Store(args.region, args.account, args.web_identity_token,
                                args.credential_ttl, args.state_dir)
    server = Server(("127.0.0.1", 0), Handler)
    server.store = store
    port = server.server_address[1]

    def stop(signum, frame):
        LOG.info("signal %d: stopping", signum)
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    _write_port_file(port_file, port)
    LOG.info("listening on 127.0.0.1:%d (region %s, account %s)", port, args.region,
             args.account)
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()
        LOG.info("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
