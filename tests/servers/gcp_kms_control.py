# gcp_kms_control.py - the unauthenticated /_control/ API of the Google Cloud KMS test server:
# keys, versions, states, IAM roles, tokens, faults, config, counters, request log, reset.
"""handle_control(server, method, path, raw) -> (status, JSON answer)."""

import json

import gcp_kms_iam as iam
from gcp_kms_keys import ALGORITHM_INFO, DEFAULT_ALGORITHM
from gcp_kms_routes import OPERATIONS
from gcp_kms_store import ANSWER_FAULTS, AUTH_OPS, FAULT_KINDS
from gcp_kms_wire import HTTP_OF, STATES, GcpError

CONFIG_TYPES = {
    "token_ttl_seconds": (int, type(None)),
    "clock_offset_seconds": (int,),
    "accept_self_signed_jwt": (bool,),
    "metadata_email": (str,),
    "metadata_scopes": (list,),
    "extra_jwt_audiences": (list,),
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
    if op != "*" and op not in OPERATIONS and op not in AUTH_OPS:
        raise ControlError(400, "unknown op %s (KMS operations: %s; auth: %s)"
                           % (op, ", ".join(OPERATIONS), ", ".join(AUTH_OPS)))
    kind = _get(body, "kind", (str,), required=True)
    if kind not in FAULT_KINDS:
        raise ControlError(400, "kind must be one of %s" % ", ".join(FAULT_KINDS))
    fault = {"op": op, "kind": kind, "count": _get(body, "count", (int,), 1),
             "delay_ms": _get(body, "delay_ms", (int,), required=kind == "delay"),
             "status": _get(body, "status", (str,), required=kind == "error"),
             "http": _get(body, "http", (int,)),
             "message": _get(body, "message", (str,), "")}
    if kind in ANSWER_FAULTS and op in AUTH_OPS:
        raise ControlError(400, "%s alters KMS answers; it does not apply to %s" % (kind, op))
    if fault["count"] < 1:
        raise ControlError(400, "count must be >= 1")
    if fault["status"] is not None and fault["status"] not in HTTP_OF:
        raise ControlError(400, "status must be a google.rpc.Code name (%s)"
                           % ", ".join(sorted(HTTP_OF)))
    if fault["http"] is not None and not 200 <= fault["http"] <= 599:
        raise ControlError(400, "http must be an HTTP status")
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
            if name == "token_ttl_seconds" and value is not None and value < 1:
                raise ControlError(400, "token_ttl_seconds must be >= 1")
            if name in ("metadata_scopes", "extra_jwt_audiences") and \
                    not all(isinstance(s, str) for s in value):
                raise ControlError(400, "%s must be a list of strings" % name)
        store.config.update(body)
        return dict(store.config)


def _create_key(store, body):
    name = _get(body, "name", (str,), required=True)
    ring, sep, key_id = name.rpartition("/cryptoKeys/")
    if not sep or ring.count("/") != 5 or not key_id:
        raise ControlError(400, "name must be projects/P/locations/L/keyRings/R/cryptoKeys/K")
    algorithm = _get(body, "algorithm", (str,))
    purpose = _get(body, "purpose", (str,))
    if algorithm is None:
        algorithm = DEFAULT_ALGORITHM.get(purpose or "ENCRYPT_DECRYPT")
    if algorithm not in ALGORITHM_INFO:
        raise ControlError(400, "algorithm must be one of %s" % ", ".join(ALGORITHM_INFO))
    purpose = purpose or ALGORITHM_INFO[algorithm][0]
    if ALGORITHM_INFO[algorithm][0] != purpose:
        raise ControlError(400, "algorithm %s does not fit purpose %s" % (algorithm, purpose))
    level = _get(body, "protection_level", (str,), "SOFTWARE")
    if level not in ("SOFTWARE", "HSM"):
        raise ControlError(400, "protection_level must be SOFTWARE or HSM")
    versions = _get(body, "versions", (int,), 1)
    if not 0 <= versions <= 100:
        raise ControlError(400, "versions must be 0..100")
    with store.lock:
        if ring not in store.key_rings:
            store.create_key_ring(ring)
        key = store.create_key(ring, key_id, purpose, algorithm, level, versions,
                               _get(body, "labels", (dict,)))
        return key.to_json()


def _route(server, method, path, body):
    store = server.store
    if (method, path) == ("GET", "/_control/health"):
        return {"ok": True, "ports": server.ports}
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
    if (method, path) == ("GET", "/_control/iam"):
        with store.lock:
            return {r: {m: sorted(x) for m, x in b.items()} for r, b in store.bindings.items()}
    if (method, path) == ("GET", "/_control/identities"):
        return {"files": dict(store.identities.files), "service_accounts":
                list(iam.SERVICE_ACCOUNTS), "user": iam.USER_EMAIL,
                "workload_principal": iam.WORKLOAD_PRINCIPAL, "pki": dict(server.pki)}
    if method != "POST":
        raise ControlError(404, "no such control request")
    if path == "/_control/reset":
        store.reset(bool(_get(body, "keys", (bool,), False)))
        return {"ok": True}
    if path == "/_control/faults":
        return {"queued": store.queue_fault(_fault(body))}
    if path == "/_control/config":
        return _config(store, body)
    if path == "/_control/keys":
        return _create_key(store, body)
    if path == "/_control/versions":
        v = store.create_version(_get(body, "key", (str,), required=True),
                                 _get(body, "primary", (bool,), False))
        with store.lock:
            return v.to_json()
    if path == "/_control/primary":
        key = store.set_primary(_get(body, "key", (str,), required=True),
                                _get(body, "version", (int,), required=True))
        with store.lock:
            return key.to_json()
    if path == "/_control/state":
        state = _get(body, "state", (str,), required=True)
        if state not in STATES or state == "PENDING_GENERATION":
            raise ControlError(400, "state must be ENABLED, DISABLED, DESTROY_SCHEDULED or "
                               "DESTROYED")
        v = store.set_state(_get(body, "version", (str,), required=True), state)
        with store.lock:
            return v.to_json()
    if path == "/_control/iam":
        roles = _get(body, "roles", (list,), required=True)
        unknown = [r for r in roles if r not in iam.ROLES]
        if unknown:
            raise ControlError(400, "unknown roles %s (known: %s)" % (unknown,
                                                                      ", ".join(iam.ROLES)))
        return store.set_roles(_get(body, "resource", (str,), "projects/" + iam.PROJECT),
                               _get(body, "member", (str,), required=True), roles)
    if path == "/_control/tokens":
        principal = _get(body, "principal", (str,), iam.SA_MAIN)
        ttl = _get(body, "ttl_seconds", (int,))
        if ttl is not None and ttl < 1:
            raise ControlError(400, "ttl_seconds must be >= 1")
        scopes = _get(body, "scopes", (list,), [iam.SCOPE_CLOUD_PLATFORM])
        token, ttl = store.issue_token(principal, scopes, "control", ttl)
        return {"access_token": token, "expires_in": ttl, "token_type": "Bearer"}
    if path == "/_control/expire-tokens":
        return {"expired": store.expire_tokens(_get(body, "principal", (str,)))}
    raise ControlError(404, "no such control request")


def handle_control(server, method, path, raw):
    try:
        body = json.loads(raw.decode("utf-8")) if raw.strip() else {}
        if not isinstance(body, dict):
            raise ValueError
    except (UnicodeDecodeError, ValueError):
        return 400, {"error": "body must be a JSON object"}
    try:
        return 200, _route(server, method, path, body)
    except ControlError as e:
        return e.status, {"error": str(e)}
    except GcpError as e:
        return (404 if e.status == "NOT_FOUND" else 409 if e.status == "ALREADY_EXISTS"
                else 400), {"error": e.message}
