# aws_kms_control.py - the unsigned /_control/ API of the AWS test server: keys, aliases,
# faults, config, credentials, counters, reset, Encrypt. Tests drive the server's state through it.
"""Control API: handle_control(store, method, path, body, port) -> (status, JSON answer)."""

import json

from aws_kms_store import CREDENTIAL_OPS, FAULT_KINDS, KmsError
from aws_kms_ops import OPERATIONS, encrypt

CONFIG_TYPES = {
    "credential_ttl_seconds": (int, type(None)),
    "container_auth_token": (str, type(None)),
    "web_identity_token": (str,),
    "clock_offset_seconds": (int,),
    "imds_v1": (bool,),
}


class ControlError(Exception):
    def __init__(self, status, message):
        super().__init__(message)
        self.status = status


def _get(body, name, kinds, default=None, required=False):
    if name not in body or body[name] is None and type(None) not in kinds:
        if required:
            raise ControlError(400, "%s is required" % name)
        return default
    value = body[name]
    if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
        raise ControlError(400, "%s has the wrong type" % name)
    return value


def _fault(body):
    op = _get(body, "op", (str,), required=True)
    if op != "*" and op not in OPERATIONS and op not in CREDENTIAL_OPS:
        raise ControlError(400, "unknown op %s" % op)
    kind = _get(body, "kind", (str,), required=True)
    if kind not in FAULT_KINDS:
        raise ControlError(400, "kind must be one of %s" % ", ".join(FAULT_KINDS))
    fault = {"op": op, "kind": kind, "count": _get(body, "count", (int,), 1),
             "delay_ms": _get(body, "delay_ms", (int,), required=kind == "delay"),
             "status": _get(body, "status", (int,), required=kind == "error"),
             "type": _get(body, "type", (str,), required=kind == "error"),
             "message": _get(body, "message", (str,), "")}
    if fault["count"] < 1:
        raise ControlError(400, "count must be >= 1")
    if fault["status"] is not None and not 200 <= fault["status"] <= 599:
        raise ControlError(400, "status must be an HTTP status")
    if fault["delay_ms"] is not None and not 0 <= fault["delay_ms"] <= 600000:
        raise ControlError(400, "delay_ms must be 0..600000")
    return fault


def _config(store, body):
    with store.lock:
        for name, value in body.items():
            kinds = CONFIG_TYPES.get(name)
            if kinds is None:
                raise ControlError(400, "unknown config key %s" % name)
            _get(body, name, kinds)
            if name == "credential_ttl_seconds" and value is not None and value < 1:
                raise ControlError(400, "credential_ttl_seconds must be >= 1")
        store.config.update(body)
        return dict(store.config)


def _route(store, method, path, body, port):
    if (method, path) == ("GET", "/_control/health"):
        return {"ok": True, "port": port}
    if (method, path) == ("GET", "/_control/counters"):
        return store.counters()
    if (method, path) == ("GET", "/_control/requests"):
        return {"requests": store.request_entries()}
    if (method, path) == ("GET", "/_control/faults"):
        with store.lock:
            return {"faults": [dict(f) for f in store.faults]}
    if (method, path) == ("DELETE", "/_control/faults"):
        store.clear_faults()
        return {"queued": 0}
    if (method, path) == ("GET", "/_control/config"):
        with store.lock:
            return dict(store.config)
    if method != "POST":
        raise ControlError(404, "no such control request")
    if path == "/_control/reset":
        store.reset(bool(_get(body, "keys", (bool,), False)))
        return {"ok": True}
    if path == "/_control/keys":
        return store.create_key(_get(body, "key_id", (str,)), _get(body, "alias", (str,)),
                                _get(body, "enabled", (bool,), True),
                                _get(body, "description", (str,), ""),
                                _get(body, "key_spec", (str,), "SYMMETRIC_DEFAULT"),
                                _get(body, "key_usage", (str,)))
    if path == "/_control/aliases":
        return store.set_alias(_get(body, "alias", (str,), required=True),
                               _get(body, "key_id", (str,), required=True))
    if path in ("/_control/disable", "/_control/enable"):
        return store.set_enabled(_get(body, "key_id", (str,), required=True),
                                 path.endswith("enable") and not path.endswith("disable"))
    if path == "/_control/faults":
        return {"queued": store.queue_fault(_fault(body))}
    if path == "/_control/config":
        return _config(store, body)
    if path == "/_control/encrypt":
        # The Encrypt operation itself, unsigned and uncounted: tests make ciphertexts with any
        # context (for example the version-1 envelopes older p11kms versions wrote).
        return encrypt(store, body)
    if path == "/_control/credentials":
        if _get(body, "temporary", (bool,), True):
            ttl = _get(body, "ttl_seconds", (int,))
            if ttl is not None and ttl < 1:
                raise ControlError(400, "ttl_seconds must be >= 1")
            return store.issue_temporary("control", ttl)
        return store.issue_long_term()
    if path == "/_control/expire-credentials":
        return {"expired": store.expire_temporary(_get(body, "access_key_id", (str,)))}
    raise ControlError(404, "no such control request")


def handle_control(store, method, path, raw, port):
    try:
        body = json.loads(raw.decode("utf-8")) if raw.strip() else {}
        if not isinstance(body, dict):
            raise ValueError
    except (UnicodeDecodeError, ValueError):
        return 400, {"error": "body must be a JSON object"}
    try:
        return 200, _route(store, method, path, body, port)
    except ControlError as e:
        return e.status, {"error": str(e)}
    except KmsError as e:       # from the store: NotFoundException, bad key ids, ...
        return (e.status if e.code == "control" else 404 if e.code == "NotFoundException"
                else 400), {"error": e.message}
