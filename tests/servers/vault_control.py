# vault_control.py - the unauthenticated /_control/ API of the loopback Vault server: config,
# faults, tokens, keys, mounts, namespaces, AppRole secret IDs, service-account JWTs, counters.
"""Control API: handle_control(store, method, path, raw, ports) -> (status, JSON answer)."""

import base64
import binascii
import json

import vault_auth
import vault_store
from vault_transit import KEY_TYPES, InternalError, TransitKey
from vault_util import VaultError

CONFIG_TYPES = {
    "sealed": (bool,),
    "associated_data": (str,),
    "key_version_in_response": (bool,),
    "require_request_header": (bool,),
    "login_token_ttl": (int, type(None)),
    "clock_offset_seconds": (int,),
    "version": (str,),
    "salt_length": (bool,),
}


class ControlError(Exception):
    def __init__(self, status, message):
        super().__init__(message)
        self.status = status


def _get(body, name, kinds, default=None, required=False):
    if name not in body or (body[name] is None and type(None) not in kinds):
        if required:
            raise ControlError(400, "%s is required" % name)
        return default
    value = body[name]
    if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
        raise ControlError(400, "%s has the wrong type" % name)
    return value


def _fault(body):
    op = _get(body, "op", (str,), required=True)
    if op != "*" and op not in vault_store.API_OPS:
        raise ControlError(400, "unknown op %s (one of *, %s)"
                           % (op, ", ".join(vault_store.API_OPS)))
    kind = _get(body, "kind", (str,), required=True)
    if kind not in vault_store.FAULT_KINDS:
        raise ControlError(400, "kind must be one of %s" % ", ".join(vault_store.FAULT_KINDS))
    fault = {"op": op, "kind": kind, "count": _get(body, "count", (int,), 1),
             "delay_ms": _get(body, "delay_ms", (int,), required=kind == "delay"),
             "status": _get(body, "status", (int,), required=kind == "error"),
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
            if name == "associated_data" and value not in vault_store.ASSOCIATED_DATA_MODES:
                raise ControlError(400, "associated_data must be one of %s"
                                   % ", ".join(vault_store.ASSOCIATED_DATA_MODES))
            if name == "login_token_ttl" and value is not None and value < 1:
                raise ControlError(400, "login_token_ttl must be >= 1")
        store.config.update(body)
        return dict(store.config)


def _namespace(store, body):
    ns = _get(body, "namespace", (str,), "").strip("/")
    if ns not in store.namespaces:
        raise ControlError(404, "no namespace %r" % ns)
    return ns


def _mount(store, body):
    ns = _namespace(store, body)
    path = _get(body, "mount", (str,), "transit").strip("/")
    mount = store.mounts.get(ns, {}).get(path)
    if mount is None:
        raise ControlError(404, "no transit mount %r in namespace %r" % (path, ns))
    return ns, mount


def _key(store, body):
    with store.lock:
        ns, mount = _mount(store, body)
        name = _get(body, "name", (str,), required=True)
        if name in mount.keys:
            raise ControlError(409, "key %s exists" % name)
        key_type = _get(body, "type", (str,), "aes256-gcm96")
        if key_type not in KEY_TYPES:
            raise ControlError(400, "type must be one of %s" % ", ".join(KEY_TYPES))
        key = TransitKey(name, key_type, _get(body, "derived", (bool,), True))
        versions = _get(body, "versions", (int,), 1)
        if not 1 <= versions <= 100:
            raise ControlError(400, "versions must be 1..100")
        for _ in range(versions):
            key.rotate()
        key.min_decryption_version = _get(body, "min_decryption_version", (int,), 1)
        key.min_encryption_version = _get(body, "min_encryption_version", (int,), 0)
        if not 1 <= key.min_decryption_version <= versions or \
                not 0 <= key.min_encryption_version <= versions:
            raise ControlError(400, "min_decryption_version/min_encryption_version out of range")
        key.deletion_allowed = _get(body, "deletion_allowed", (bool,), False)
        mount.keys[name] = key
        store._save_locked()
        return key.describe()


def _ciphertext(store, body):
    """Encrypt with any version of a key, bypassing policies and min_encryption_version:
    how tests get a ciphertext of an archived version."""
    with store.lock:
        _, mount = _mount(store, body)
        key = mount.keys.get(_get(body, "name", (str,), required=True))
        if key is None:
            raise ControlError(404, "no such key")
        version = _get(body, "version", (int,), key.latest_version)
        saved = (key.min_decryption_version, key.min_encryption_version)
        key.min_decryption_version, key.min_encryption_version = 1, 0
        try:
            ct, ver = key.encrypt(version, _decode(body, "context"),
                                  _get(body, "plaintext", (str,), required=True),
                                  _get(body, "associated_data", (str,), ""))
        except VaultError as e:
            raise ControlError(400, e.errors[0])
        except InternalError as e:
            raise ControlError(400, str(e))
        finally:
            key.min_decryption_version, key.min_encryption_version = saved
        return {"ciphertext": ct, "key_version": ver}


def _decode(body, name):
    value = _get(body, name, (str,), "")
    try:
        return base64.b64decode(value, validate=True)
    except binascii.Error:
        raise ControlError(400, "%s is not base64" % name)


def _token(store, body):
    ns = _namespace(store, body)
    policies = _get(body, "policies", (list,), ["default"])
    if not all(isinstance(p, str) for p in policies):
        raise ControlError(400, "policies must be strings")
    if "root" not in policies and not _get(body, "no_default_policy", (bool,), False):
        policies = ["default"] + policies
    ttl = _get(body, "ttl", (int,), vault_store.DEFAULT_TTL)
    if ttl < 0:
        raise ControlError(400, "ttl must be >= 0")
    token = store.new_token(ns, policies, ttl=ttl,
                            token_id=_get(body, "id", (str,)),
                            renewable=_get(body, "renewable", (bool,), True),
                            num_uses=_get(body, "num_uses", (int,), 0),
                            explicit_max_ttl=_get(body, "explicit_max_ttl", (int,), 0))
    return {"token": token.id, "accessor": token.accessor, "ttl": token.ttl,
            "policies": token.policies, "namespace": ns}


def _expire(store, body):
    """Expire (token given) one token, or every token that a login issued."""
    token_id = _get(body, "token", (str,))
    n = 0
    with store.lock:
        for tid, token in store.tokens.items():
            if (tid == token_id) if token_id else token.path.endswith("/login"):
                if not token.revoked:
                    token.revoked = True
                    n += 1
    if token_id and n == 0:
        raise ControlError(404, "no such live token")
    return {"expired": n}


def _secret_id(store, body):
    ns = _namespace(store, body)
    role = _get(body, "role", (str,), vault_store.APPROLE_ROLE if not ns else
                "p11kms-ns-approle")
    with store.lock:
        if role not in store.approle_roles.get(ns, {}):
            raise ControlError(404, "no AppRole role %s" % role)
        secret_id = _get(body, "secret_id", (str,)) or vault_store.random_id(36)
        ttl = _get(body, "ttl", (int,), 0)
        store.secret_ids.setdefault(ns, {})[secret_id] = {
            "role": role, "accessor": vault_store.random_id(24),
            "expires": store.now() + ttl if ttl else None,
            "uses": _get(body, "num_uses", (int,), 0)}
        return {"secret_id": secret_id, "role_id": store.approle_roles[ns][role]["role_id"],
                "ttl": ttl}


def _jwt(store, body):
    name = _get(body, "service_account", (str,), vault_store.K8S_SA)
    namespace = _get(body, "namespace", (str,), vault_store.K8S_SA_NAMESPACE)
    jwt, uid = vault_auth.make_service_account_jwt(name, namespace)
    with store.lock:
        if _get(body, "revoke", (bool,), False):
            store.k8s_tokens.pop(jwt, None)
        else:
            store.k8s_tokens[jwt] = (name, namespace, uid)
    return {"jwt": jwt, "service_account": name, "namespace": namespace, "uid": uid}


def _add_namespace(store, body):
    path = _get(body, "path", (str,), required=True).strip("/")
    if not path:
        raise ControlError(400, "path must not be empty")
    with store.lock:
        parent = path.rsplit("/", 1)[0] if "/" in path else ""
        if parent not in store.namespaces:
            raise ControlError(400, "parent namespace %r does not exist" % parent)
        if path not in store.namespaces:
            store.namespaces.append(path)
            store.mounts[path] = {"transit": vault_store.TransitMount("transit")}
            store.policies[path] = {"default": vault_store.DEFAULT_POLICY}
            store._save_locked()
    return {"namespaces": list(store.namespaces)}


def _add_mount(store, body):
    ns = _namespace(store, body)
    path = _get(body, "path", (str,), required=True).strip("/")
    if not path or path.split("/")[0] in ("sys", "auth", "cubbyhole", "identity"):
        raise ControlError(400, "path %r is reserved" % path)
    with store.lock:
        store.mounts[ns].setdefault(path, vault_store.TransitMount(path))
        store._save_locked()
        return {"mounts": sorted(store.mounts[ns])}


def _policy(store, body):
    ns = _namespace(store, body)
    name = _get(body, "name", (str,), required=True)
    rules = _get(body, "rules", (list,), required=True)
    parsed = []
    for rule in rules:
        if not isinstance(rule, dict) or not isinstance(rule.get("path"), str) or \
                not isinstance(rule.get("capabilities"), list):
            raise ControlError(400, "a rule is {\"path\": str, \"capabilities\": [str]}")
        parsed.append((rule["path"], list(rule["capabilities"])))
    with store.lock:
        store.policies[ns][name] = parsed
    return {"name": name, "namespace": ns, "rules": len(parsed)}


POSTS = {
    "/_control/faults": lambda s, b: {"queued": s.queue_fault(_fault(b))},
    "/_control/config": _config,
    "/_control/keys": _key,
    "/_control/ciphertext": _ciphertext,
    "/_control/tokens": _token,
    "/_control/expire-tokens": _expire,
    "/_control/approle/secret-id": _secret_id,
    "/_control/kubernetes/jwt": _jwt,
    "/_control/namespaces": _add_namespace,
    "/_control/mounts": _add_mount,
    "/_control/policies": _policy,
}


def _route(store, method, path, body, ports):
    if (method, path) == ("GET", "/_control/health"):
        return {"ok": True, "port": ports[0], "tls_port": ports[1]}
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
    if (method, path) == ("GET", "/_control/keys"):
        with store.lock:
            return {"keys": [{"namespace": ns, "mount": m, "name": k.name,
                              "latest_version": k.latest_version, "derived": k.derived,
                              "min_decryption_version": k.min_decryption_version}
                             for ns, mounts in sorted(store.mounts.items())
                             for m, mount in sorted(mounts.items())
                             for k in mount.keys.values()]}
    if method != "POST":
        raise ControlError(404, "no such control request")
    if path == "/_control/reset":
        store.reset(bool(_get(body, "state", (bool,), False)))
        return {"ok": True}
    func = POSTS.get(path)
    if func is None:
        raise ControlError(404, "no such control request")
    return func(store, body)


def handle_control(store, method, path, raw, ports):
    try:
        body = json.loads(raw.decode("utf-8")) if raw.strip() else {}
        if not isinstance(body, dict):
            raise ValueError
    except (UnicodeDecodeError, ValueError):
        return 400, {"error": "body must be a JSON object"}
    try:
        return 200, _route(store, method, path, body, ports)
    except ControlError as e:
        return e.status, {"error": str(e)}

