#!/usr/bin/python3
# s3_server.py - loopback Amazon S3 (REST, path-style and virtual-hosted addressing) for tests:
# SigV4 checked by botocore's S3 signer, object bytes streamed to files and hashed on the way
# in, payload hashes and checksums verified, fault injection, denials and counters. The
# operations are in s3_ops.py, the state in s3_store.py, the control API in s3_control.py.
"""Loopback S3 test server. See tests/servers/README.md for the contract."""

import argparse
import base64
import calendar
import hashlib
import ipaddress
import json
import logging
import os
import re
import signal
import socket
import sys
import threading
import time
import uuid
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, unquote

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import s3_ops  # noqa: E402
import s3_store  # noqa: E402
import s3_xml  # noqa: E402
import sigv4_oracle  # noqa: E402
from s3_control import handle_control  # noqa: E402
from s3_store import S3Error  # noqa: E402

LOG = logging.getLogger("s3")
MAX_BODY = 1 << 20                  # XML bodies (CompleteMultipartUpload, DeleteObjects)
MAX_OBJECT = 5 * 1024 * 1024 * 1024  # one PUT or one part, as S3
MAX_SKEW = 15 * 60
COPY_CHUNK = 1 << 20
UNSIGNED = "UNSIGNED-PAYLOAD"
HEX64 = re.compile(r"^[0-9a-f]{64}$")
CHECKSUMS = {"crc32": "CRC32", "sha1": "SHA1", "sha256": "SHA256"}


def _amz_epoch(amzdate):
    return calendar.timegm(time.strptime(amzdate, "%Y%m%dT%H%M%SZ"))


class Data:
    """Object bytes of a PutObject or UploadPart, in a blob file, with their digests. The
    operation sets taken when the blob becomes part of the state; otherwise it is removed."""

    def __init__(self, path):
        self.path = path
        self.size = 0
        self.md5 = hashlib.md5()
        self.sha256 = hashlib.sha256()
        self.sha1 = hashlib.sha1()
        self.crc32 = 0
        self.taken = False

    def add(self, chunk):
        self.size += len(chunk)
        self.md5.update(chunk)
        self.sha256.update(chunk)
        self.sha1.update(chunk)
        self.crc32 = zlib.crc32(chunk, self.crc32)

    @property
    def md5_hex(self):
        return self.md5.hexdigest()

    def checksum(self, name):
        if name == "crc32":
            return base64.b64encode(self.crc32.to_bytes(4, "big")).decode()
        return base64.b64encode((self.sha1 if name == "sha1" else self.sha256).digest()).decode()


class Request:
    """What an operation sees of a request."""

    def __init__(self, method, bucket, key, query, headers, pairs, host):
        self.method = method
        self.bucket = bucket
        self.key = key
        self.query = query
        self.headers = headers          # case-insensitive get()
        self.header_pairs = pairs
        self.host = host
        self.body = b""
        self.data = None


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "p11kms-s3-test"
    sys_version = ""
    timeout = 120

    @property
    def store(self):
        return self.server.store

    def setup(self):
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.conn_id = self.store.new_connection()

    def log_message(self, fmt, *args):
        LOG.debug("conn %d: " + fmt, self.conn_id, *args)

    def do_GET(self):
        self._dispatch()

    def do_HEAD(self):
        self._dispatch()

    def do_PUT(self):
        self._dispatch()

    def do_POST(self):
        self._dispatch()

    def do_DELETE(self):
        self._dispatch()

    # ---- answers ---------------------------------------------------------------------------

    def _ids(self):
        self.request_id = uuid.uuid4().hex[:16].upper()
        self.host_id = base64.b64encode(os.urandom(24)).decode()

    def _send(self, status, headers, body=b"", file_range=None, fault=None):
        self.send_response(status)
        headers = dict(headers)
        headers["x-amz-request-id"] = self.request_id
        headers["x-amz-id-2"] = self.host_id
        if file_range is None:
            headers.setdefault("Content-Length", str(len(body)))
        else:
            headers["Content-Length"] = str(file_range[2])
        if self.close_connection:
            headers["Connection"] = "close"
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        if self.command == "HEAD":
            return
        if file_range is None:
            self.wfile.write(body)
            self.store.add_bytes(n_out=len(body))
            return
        path, offset, length = file_range
        if fault in ("truncate", "corrupt"):
            self._send_faulty(path, offset, length, fault)
            return
        with open(path, "rb") as f:
            sent = 0
            while sent < length:
                n = self.connection.sendfile(f, offset + sent, length - sent)
                if n == 0:
                    break
                sent += n
        self.store.add_bytes(n_out=length)

    def _send_faulty(self, path, offset, length, fault):
        """truncate: half the announced bytes, then the connection closes. corrupt: every byte,
        one of them (the middle one) flipped on the way."""
        with open(path, "rb") as f:
            f.seek(offset)
            data = bytearray(f.read(length))
        if fault == "truncate":
            self.wfile.write(bytes(data[:length // 2]))
            self.drop()
            return
        if data:
            data[len(data) // 2] ^= 0x01
        self.wfile.write(bytes(data))

    def _error(self, op, err, entry):
        body = b"" if self.command == "HEAD" else s3_xml.error(
            err.code, err.message, self.request_id, self.host_id, err.extra)
        headers = {"Content-Type": "application/xml"} if body else {}
        headers.update(err.headers)
        entry.update(status=err.status, error=err.code)
        self.store.record(entry, signature_failed=err.code == "SignatureDoesNotMatch")
        self._send(err.status, headers, body)
        LOG.info("conn %d: %s %s/%s -> %d %s (request %s)", self.conn_id, op, entry["bucket"],
                 entry["key"], err.status, err.code, self.request_id)

    def drop(self):
        """Close without (the rest of) an answer, as a cut-off server would."""
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _loopback_client(self):
        try:
            return ipaddress.ip_address(self.client_address[0]).is_loopback
        except ValueError:
            return False

    # ---- request reading -------------------------------------------------------------------

    def _length(self):
        v = self.headers.get("Content-Length")
        if v is None:
            return None
        if not v.strip().isdigit():
            raise S3Error(400, "InvalidArgument", "Content-Length is not a number")
        return int(v)

    def _drain(self, length):
        """Read and forget a body this server will not use, so the connection stays usable;
        past MAX_BODY the connection is closed instead."""
        if not length:
            return
        if length > MAX_BODY:
            self.close_connection = True
            return
        self.rfile.read(length)

    def _read_small(self, length):
        if length > MAX_BODY:
            self._drain(length)
            raise S3Error(400, "MaxMessageLengthExceeded", "Your request was too big.")
        return self.rfile.read(length) if length else b""

    def _stream(self, length):
        data = Data(self.store.new_blob_path())
        with open(data.path, "wb") as f:
            left = length
            while left > 0:
                chunk = self.rfile.read(min(COPY_CHUNK, left))
                if not chunk:
                    break
                data.add(chunk)
                f.write(chunk)
                left -= len(chunk)
        self.store.add_bytes(n_in=data.size)
        if data.size != length:
            self.close_connection = True
            raise S3Error(400, "IncompleteBody", "You did not provide the number of bytes "
                          "specified by the Content-Length HTTP header")
        return data

    def _target(self):
        """(bucket, key, query) of the request, path-style or virtual-hosted."""
        raw_path, _, raw_query = self.path.partition("?")
        query = dict(parse_qsl(raw_query, keep_blank_values=True))
        host = (self.headers.get("Host") or "").strip()
        name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
        suffix = "." + self.server.virtual_host_suffix
        if name.endswith(suffix) and len(name) > len(suffix):
            bucket = name[:-len(suffix)]
            rest = raw_path[1:]
        else:
            parts = raw_path[1:].split("/", 1)
            bucket = unquote(parts[0]) or None
            rest = parts[1] if len(parts) > 1 else ""
        key = unquote(rest, errors="strict") if rest else None
        if key is not None and len(key.encode("utf-8")) > s3_store.MAX_KEY_BYTES:
            raise S3Error(400, "KeyTooLongError", "Your key is too long",
                          MaxSizeAllowed=s3_store.MAX_KEY_BYTES)
        return bucket, key, query

    # ---- authentication --------------------------------------------------------------------

    def _authenticate(self, pairs):
        """SigV4 of the request, checked with botocore's S3 signer on the headers alone (the
        payload hash is the X-Amz-Content-SHA256 the client signed; the body is checked
        against it once read). The access key id, or S3Error."""
        value = self.headers.get("Authorization")
        if value is None:
            if "X-Amz-Algorithm" in self.path:
                raise S3Error(501, "NotImplemented", "Query-string authentication (presigned "
                              "URLs) is not implemented by this test server")
            raise S3Error(403, "AccessDenied", "Access Denied")
        auth = sigv4_oracle.AuthHeader.parse(value)
        if auth is None:
            raise S3Error(400, "AuthorizationHeaderMalformed", "The authorization header is "
                          "malformed; the authorization header requires three components: "
                          "Credential, SignedHeaders, and Signature.")
        amzdate = (self.headers.get("X-Amz-Date") or "").strip()
        if not sigv4_oracle.valid_amzdate(amzdate):
            raise S3Error(403, "AccessDenied", "AWS authentication requires a valid Date or "
                          "x-amz-date header")
        phash = self.headers.get("X-Amz-Content-SHA256")
        if phash is None:
            raise S3Error(400, "InvalidRequest", "Missing required header for this request: "
                          "x-amz-content-sha256")
        phash = phash.strip()
        if phash.startswith("STREAMING-"):
            raise S3Error(501, "NotImplemented", "A header you provided implies functionality "
                          "that is not implemented", Header="x-amz-content-sha256")
        if phash != UNSIGNED and not HEX64.match(phash):
            raise S3Error(400, "InvalidArgument", "x-amz-content-sha256 must be "
                          "UNSIGNED-PAYLOAD, STREAMING-AWS4-HMAC-SHA256-PAYLOAD, or a valid "
                          "sha256 value.", ArgumentName="x-amz-content-sha256",
                          ArgumentValue=phash)
        store = self.store
        try:
            secret, want_token = store.secret_for(auth.access_key)
        except KeyError:
            raise S3Error(403, "InvalidAccessKeyId", "The AWS Access Key Id you provided does "
                          "not exist in our records.", AWSAccessKeyId=auth.access_key)
        token = self.headers.get("X-Amz-Security-Token")
        if (want_token is None) != (token is None) or (
                token is not None and not sigv4_oracle.signature_matches(want_token, token)):
            raise S3Error(400, "InvalidToken", "The provided token is malformed or otherwise "
                          "invalid.")
        if auth.region != store.region:
            raise S3Error(400, "AuthorizationHeaderMalformed", "The authorization header is "
                          "malformed; the region '%s' is wrong; expecting '%s'"
                          % (auth.region, store.region), Region=store.region)
        if auth.service != "s3" or auth.date != amzdate[:8]:
            raise S3Error(400, "AuthorizationHeaderMalformed", "The authorization header is "
                          "malformed; incorrect service or date in the credential scope "
                          "(%s/%s, expected s3/%s)" % (auth.service, auth.date, amzdate[:8]))
        now = store.now()
        sent = _amz_epoch(amzdate)
        if abs(sent - now) > MAX_SKEW:
            raise S3Error(403, "RequestTimeTooSkewed", "The difference between the request time "
                          "and the current time is too large.", RequestTime=amzdate,
                          ServerTime=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now)),
                          MaxAllowedSkewMilliseconds=MAX_SKEW * 1000)
        present = {n.lower() for n, _ in pairs}
        absent = [h for h in auth.signed_headers if h not in present]
        unsigned = sorted(n for n in present if (n.startswith("x-amz-") or n == "host")
                          and n not in auth.signed_headers)
        if absent:
            raise S3Error(403, "SignatureDoesNotMatch", "Signed headers are absent from the "
                          "request: %s" % ", ".join(absent))
        if unsigned:
            raise S3Error(403, "AccessDenied", "There were headers present in the request "
                          "which were not signed", HeadersNotSigned=", ".join(unsigned))
        _, sig, creq, sts = sigv4_oracle.compute(
            self.command, self.path, pairs, b"", auth.signed_headers, auth.access_key, secret,
            want_token, store.region, "s3", amzdate, s3=True)
        if not sigv4_oracle.signature_matches(sig, auth.signature):
            LOG.warning("conn %d: signature mismatch for %s\n--- canonical request (botocore)"
                        "\n%s\n--- string to sign (botocore)\n%s\n---", self.conn_id,
                        auth.access_key, creq, sts)
            raise S3Error(403, "SignatureDoesNotMatch", "The request signature we calculated "
                          "does not match the signature you provided. Check your key and "
                          "signing method.", AWSAccessKeyId=auth.access_key, StringToSign=sts,
                          SignatureProvided=auth.signature, CanonicalRequest=creq)
        return auth.access_key, auth.signed_headers, phash

    # ---- body checks -----------------------------------------------------------------------

    def _check_body(self, phash, sha256_hex, data):
        if phash != UNSIGNED and phash != sha256_hex:
            raise S3Error(400, "XAmzContentSHA256Mismatch", "The provided 'x-amz-content-sha256'"
                          " header does not match what was computed.",
                          ClientComputedContentSHA256=phash,
                          S3ComputedContentSHA256=sha256_hex)
        md5 = self.headers.get("Content-MD5")
        if md5 is not None:
            try:
                want = base64.b64decode(md5.strip(), validate=True)
            except ValueError:
                want = b""
            if len(want) != 16:
                raise S3Error(400, "InvalidDigest", "The Content-MD5 you specified was invalid.",
                              **{"Content-MD5": md5})
            got = data.md5.digest() if data is not None else hashlib.md5(self._small).digest()
            if want != got:
                raise S3Error(400, "BadDigest", "The Content-MD5 you specified did not match "
                              "what we received.", ExpectedDigest=md5.strip(),
                              CalculatedDigest=base64.b64encode(got).decode())
        for name, label in CHECKSUMS.items():
            given = self.headers.get("x-amz-checksum-" + name)
            if given is None:
                continue
            if data is None:
                probe = Data(os.devnull)
                probe.add(self._small)
            else:
                probe = data
            if given.strip() != probe.checksum(name):
                raise S3Error(400, "BadDigest", "The %s you specified did not match the "
                              "calculated checksum." % label)
        if self.headers.get("x-amz-checksum-crc32c") is not None:
            raise S3Error(501, "NotImplemented", "A header you provided implies functionality "
                          "that is not implemented", Header="x-amz-checksum-crc32c")

    # ---- dispatch --------------------------------------------------------------------------

    def _dispatch(self):
        self._ids()
        self._small = b""
        if self.path.startswith("/_control/"):
            self._control()
            return
        pairs = list(self.headers.raw_items())
        entry = {"conn": self.conn_id, "op": "unknown", "method": self.command,
                 "bucket": None, "key": None, "status": None, "error": None,
                 "user_agent": self.headers.get("User-Agent")}
        op = "unknown"
        data = None
        begun = False
        try:
            try:
                length = self._length()
                bucket, key, query = self._target()
                entry.update(bucket=bucket, key=key, host=self.headers.get("Host"))
                op = s3_ops.operation(self.command, bucket, key, query)
            except S3Error:
                self._drain(self._length_or_zero())
                raise
            entry["op"] = op
            self.store.begin(op)
            begun = True
            if self.headers.get("Transfer-Encoding") is not None:
                self.close_connection = True
                raise S3Error(501, "NotImplemented", "A header you provided implies "
                              "functionality that is not implemented",
                              Header="Transfer-Encoding")
            if length is None and self.command in ("PUT", "POST"):
                self.close_connection = True
                raise S3Error(411, "MissingContentLength", "You must provide the Content-Length "
                              "HTTP header.")
            try:
                access_key, signed, phash = self._authenticate(pairs)
            except S3Error:
                self._drain(length)
                raise
            entry.update(access_key=access_key, signed_headers=signed,
                         payload_hash=UNSIGNED if phash == UNSIGNED else "sha256",
                         range=self.headers.get("Range"),
                         part_number=query.get("partNumber"),
                         sse=self.headers.get("x-amz-server-side-encryption"),
                         metadata=sorted(n[11:].lower() for n, _ in pairs
                                         if n.lower().startswith("x-amz-meta-")))
            if self.store.denied(access_key, op, bucket, key):
                self._drain(length)
                raise S3Error(403, "AccessDenied", "Access Denied")
            req = Request(self.command, bucket, key, query, self.headers, pairs,
                          self.headers.get("Host"))
            if op in s3_ops.STREAMED:
                if length > MAX_OBJECT:
                    self._drain(length)
                    raise S3Error(400, "EntityTooLarge", "Your proposed upload exceeds the "
                                  "maximum allowed size", ProposedSize=length,
                                  MaxSizeAllowed=MAX_OBJECT)
                data = self._stream(length)
                req.data = data
                entry["size"] = data.size
                self._check_body(phash, data.sha256.hexdigest(), data)
            else:
                self._small = req.body = self._read_small(length or 0)
                self._check_body(phash, hashlib.sha256(req.body).hexdigest(), None)
            fault = self.store.take_fault(op)
            if fault is not None:
                entry["fault"] = fault["kind"]
                LOG.info("conn %d: %s: fault %s", self.conn_id, op, fault["kind"])
                if self._fault(op, fault, entry):
                    return
            resp = s3_ops.OPERATIONS[op](self.store, req)
            if data is not None and data.taken:
                for name in CHECKSUMS:
                    if self.headers.get("x-amz-checksum-" + name) is not None:
                        resp.headers["x-amz-checksum-" + name] = data.checksum(name)
            entry.update(status=resp.status)
            self.store.record(entry)
            self._send(resp.status, resp.headers, resp.body, resp.file_range,
                       fault=entry.get("fault"))
            LOG.info("conn %d: %s %s/%s -> %d (request %s)", self.conn_id, op, bucket, key,
                     resp.status, self.request_id)
        except S3Error as err:
            self._error(op, err, entry)
        except (BrokenPipeError, ConnectionResetError) as e:
            LOG.info("conn %d: %s: connection lost: %s", self.conn_id, op, e)
            self.close_connection = True
        finally:
            if begun:
                self.store.end(op)
            if data is not None and not data.taken:
                self.store.drop_blob(data)

    def _length_or_zero(self):
        try:
            return self._length() or 0
        except S3Error:
            self.close_connection = True
            return 0

    def _fault(self, op, fault, entry):
        """Serve a queued fault. True when it is the whole answer; False to go on and answer
        normally (delay; truncate and corrupt spoil the body of a normal answer)."""
        kind = fault["kind"]
        if kind == "delay":
            time.sleep(fault["delay_ms"] / 1000.0)
            return False
        if kind in ("truncate", "corrupt"):
            return False
        if kind == "drop":
            entry.update(status=0, error="dropped")
            self.store.record(entry)
            self.drop()
            return True
        if kind == "garbage":
            entry.update(status=fault.get("status") or 200, error="garbage")
            self.store.record(entry)
            self._send(entry["status"], {"Content-Type": "application/xml"},
                       b"\x00\xff<html>not xml</html><ListBucketResult")
            return True
        if kind == "error200":
            # S3 can fail a CompleteMultipartUpload after it has answered 200: the error is
            # the body of the 200.
            entry.update(status=200, error="InternalError")
            self.store.record(entry)
            body = s3_xml.error("InternalError", "We encountered an internal error. Please "
                                "try again.", self.request_id, self.host_id, {})
            self._send(200, {"Content-Type": "application/xml"}, body)
            return True
        if kind == "slowdown":
            raise S3Error(503, "SlowDown", "Please reduce your request rate.")
        if kind == "internal":
            raise S3Error(500, "InternalError", "We encountered an internal error. Please try "
                          "again.")
        raise S3Error(fault["status"], fault["code"], fault.get("message") or "")

    def _control(self):
        length = self._length_or_zero()
        body = self._read_small(length) if length <= MAX_BODY else b""
        if not self._loopback_client():
            answer, status = {"error": "control API is loopback only"}, 403
        else:
            status, answer = handle_control(self.store, self.command, self.path, body,
                                            self.server.server_address[1])
        self._send(status, {"Content-Type": "application/json"}, json.dumps(answer).encode())


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = False
    request_queue_size = 64


def _write_port_file(path, port):
    tmp = "%s.tmp.%d" % (path, os.getpid())
    with open(tmp, "w", encoding="ascii") as f:
        f.write("%d\n" % port)
    os.replace(tmp, path)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--state-dir", required=True)
    ap.add_argument("--port-file")
    ap.add_argument("--log")
    ap.add_argument("--region", default="us-east-1")
    ap.add_argument("--virtual-host-suffix", default="localhost",
                    help="Host names <bucket>.<suffix> address a bucket (virtual-hosted style)")
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args(argv)
    os.makedirs(args.state_dir, exist_ok=True)
    port_file = args.port_file or os.path.join(args.state_dir, "port")
    logging.basicConfig(filename=args.log or os.path.join(args.state_dir, "server.log"),
                        level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(message)s")
    store = s3_store.Store(args.state_dir, args.region)
    server = Server(("127.0.0.1", 0), Handler)
    server.store = store
    server.virtual_host_suffix = args.virtual_host_suffix
    port = server.server_address[1]

    def stop(signum, frame):
        LOG.info("signal %d: stopping", signum)
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    _write_port_file(port_file, port)
    LOG.info("listening on 127.0.0.1:%d (region %s, virtual hosts *.%s)", port, args.region,
             args.virtual_host_suffix)
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()
        LOG.info("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
