# s3_control.py - the unsigned /_control/ API of the S3 test server: reset, faults, denials,
# config, credentials, buckets, counters, the request log, and direct views and edits of stored
# objects and pending uploads (what a test checks behind the client's back, a tampered byte).
"""Control API: handle_control(store, method, path, body, port) -> (status, JSON answer)."""

import json
from urllib.parse import parse_qsl

from s3_store import FAULT_KINDS, OPERATIONS, Blob, Bucket, S3Error

CONFIG_TYPES = {"min_part_size": int, "clock_offset_seconds": int, "list_page_max": int}


class ControlError(Exception):
    def __init__(self, status, message):
        super().__init__(message)
        self.status = status


def _get(body, name, kind, default=None, required=False):
    if body.get(name) is None:
        if required:
            raise ControlError(400, "%s is required" % name)
        return default
    value = body[name]
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise ControlError(400, "%s has the wrong type" % name)
    return value


def _fault(body):
    op = _get(body, "op", str, required=True)
    if op != "*" and op not in OPERATIONS:
        raise ControlError(400, "unknown op %s" % op)
    kind = _get(body, "kind", str, required=True)
    if kind not in FAULT_KINDS:
        raise ControlError(400, "kind must be one of %s" % ", ".join(FAULT_KINDS))
    fault = {"op": op, "kind": kind, "count": _get(body, "count", int, 1),
             "skip": _get(body, "skip", int, 0),
             "delay_ms": _get(body, "delay_ms", int, required=kind == "delay"),
             "status": _get(body, "status", int, required=kind == "error"),
             "code": _get(body, "code", str, required=kind == "error"),
             "message": _get(body, "message", str, "")}
    if fault["count"] < 1 or fault["skip"] < 0:
        raise ControlError(400, "count must be >= 1, skip >= 0")
    if fault["status"] is not None and not 200 <= fault["status"] <= 599:
        raise ControlError(400, "status must be an HTTP status")
    if fault["delay_ms"] is not None and not 0 <= fault["delay_ms"] <= 600000:
        raise ControlError(400, "delay_ms must be 0..600000")
    return fault


def _denial(body):
    ops = _get(body, "ops", list, ["*"])
    for op in ops:
        if op not in OPERATIONS and op not in ("*", "write"):
            raise ControlError(400, "unknown op %s" % op)
    return {"access_key": _get(body, "access_key", str), "bucket": _get(body, "bucket", str),
            "prefix": _get(body, "prefix", str), "ops": ops}


def _objects(store, bucket):
    with store.lock:
        b = store.bucket_locked(bucket)
        return {"objects": [{"key": o.key, "size": o.size, "etag": o.etag, "parts": o.parts,
                             "metadata": dict(o.metadata), "content_type": o.content_type,
                             "sse": o.sse, "sse_kms_key": o.sse_kms_key}
                            for _, o in sorted(b.objects.items())]}


def _uploads(store):
    with store.lock:
        return {"uploads": [{"bucket": u.bucket, "key": u.key, "upload_id": u.upload_id,
                             "parts": sorted(u.parts)} for u in store.uploads.values()]}


def _tamper(store, body):
    """Flip one bit of a stored object's byte at offset (a new blob, published under the
    lock as any write)."""
    bucket = _get(body, "bucket", str, required=True)
    key = _get(body, "key", str, required=True)
    offset = _get(body, "offset", int, required=True)
    with store.lock:
        o = store.object_locked(bucket, key)
        if not 0 <= offset < o.size:
            raise ControlError(400, "offset outside the object (%d bytes)" % o.size)
        src = o.blob
    path = store.new_blob_path()
    with open(src.path, "rb") as f, open(path, "wb") as out:
        while True:
            chunk = f.read(1 << 20)
            if not chunk:
                break
            out.write(chunk)
    with open(path, "r+b") as out:
        out.seek(offset)
        byte = out.read(1)
        out.seek(offset)
        out.write(bytes([byte[0] ^ 0x01]))
    with store.lock:
        o = store.object_locked(bucket, key)
        if o.blob is not src:
            store.drop_blob(Blob(path, 0))
            raise ControlError(409, "the object changed meanwhile")
        o.blob = Blob(path, src.size)
        store.drop_blob(src)
    return {"tampered": offset}


def _route(store, method, path, query, body, port):
    if (method, path) == ("GET", "/_control/health"):
        return {"ok": True, "port": port}
    if (method, path) == ("GET", "/_control/counters"):
        return store.counters()
    if (method, path) == ("GET", "/_control/requests"):
        return {"requests": store.request_entries()}
    if (method, path) == ("GET", "/_control/objects"):
        return _objects(store, query.get("bucket", "p11kms-test"))
    if (method, path) == ("GET", "/_control/uploads"):
        return _uploads(store)
    if (method, path) == ("GET", "/_control/faults"):
        with store.lock:
            return {"faults": [dict(f) for f in store.faults]}
    if (method, path) == ("DELETE", "/_control/faults"):
        with store.lock:
            store.faults = []
        return {"queued": 0}
    if (method, path) == ("DELETE", "/_control/denials"):
        with store.lock:
            store.denials = []
        return {"denials": 0}
    if (method, path) == ("GET", "/_control/config"):
        with store.lock:
            return dict(store.config)
    if method != "POST":
        raise ControlError(404, "no such control request")
    if path == "/_control/reset":
        store.reset()
        return {"ok": True}
    if path == "/_control/faults":
        fault = _fault(body)
        with store.lock:
            store.faults.append(fault)
            return {"queued": len(store.faults)}
    if path == "/_control/denials":
        denial = _denial(body)
        with store.lock:
            store.denials.append(denial)
            return {"denials": len(store.denials)}
    if path == "/_control/config":
        for name, value in body.items():
            if name not in CONFIG_TYPES:
                raise ControlError(400, "unknown config key %s" % name)
            _get(body, name, CONFIG_TYPES[name], required=True)
        with store.lock:
            store.config.update(body)
            return dict(store.config)
    if path == "/_control/credentials":
        ak = _get(body, "access_key", str, required=True)
        secret = _get(body, "secret", str, required=True)
        token = _get(body, "token", str)
        with store.lock:
            store.credentials[ak] = secret
            store.tokens.pop(ak, None)
            if token is not None:
                store.tokens[ak] = token
        return {"access_key": ak}
    if path == "/_control/buckets":
        name = _get(body, "name", str, required=True)
        with store.lock:
            store.buckets.setdefault(name, Bucket(name, _get(body, "region", str,
                                                             store.region)))
        return {"bucket": name}
    if path == "/_control/tamper":
        return _tamper(store, body)
    raise ControlError(404, "no such control request")


def handle_control(store, method, target, raw, port):
    path, _, raw_query = target.partition("?")
    query = dict(parse_qsl(raw_query))
    try:
        body = json.loads(raw.decode("utf-8")) if raw.strip() else {}
        if not isinstance(body, dict):
            raise ValueError
    except (UnicodeDecodeError, ValueError):
        return 400, {"error": "body must be a JSON object"}
    try:
        return 200, _route(store, method, path, query, body, port)
    except ControlError as e:
        return e.status, {"error": str(e)}
    except S3Error as e:
        return e.status, {"error": "%s: %s" % (e.code, e.message)}
