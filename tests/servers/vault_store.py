# vault_store.py - the loopback Vault server's state: namespaces, transit mounts and keys, tokens,
# ACL policies, auth roles, config, faults, counters and the request log. Store.lock guards all.
"""State of the loopback Vault server, independent of HTTP."""

import collections
import copy
import hashlib
import json
import os
import secrets
import string
import threading
import time
import uuid

from vault_transit import TransitKey, preloaded_secret, KEY_TYPES
from vault_transit_asym import AsymKey, key_from_json

DEFAULT_TTL = 768 * 3600            # Vault's system default and max lease TTL (32 days)
REQUEST_LOG_LEN = 500
BASE62 = string.ascii_letters + string.digits

ROOT_TOKEN = "p11kms-test-root-token"
APP_TOKEN = "p11kms-test-app-token"
ENCRYPT_TOKEN = "p11kms-test-encrypt-token"
DECRYPT_TOKEN = "p11kms-test-decrypt-token"
NS_TOKEN = "p11kms-test-ns-token"
NAMESPACE = "p11kms-ns"
CHILD_NAMESPACE = "p11kms-ns/team"
CUSTOM_MOUNT = "p11kms-transit"
APPROLE_ROLE = "p11kms-approle"
APPROLE_ROLE_ID = "p11kms-test-role-id"
APPROLE_SECRET_ID = "p11kms-test-secret-id"
NS_APPROLE_ROLE_ID = "p11kms-ns-role-id"
NS_APPROLE_SECRET_ID = "p11kms-ns-secret-id"
K8S_ROLE = "p11kms-k8s"
K8S_SA = "p11kms-sa"
K8S_SA_NAMESPACE = "p11kms"
CERT_ROLE = "p11kms-cert"

# (namespace, mount, name, derived, versions, min_decryption_version)
PRELOADED_KEYS = [
    ("", "transit", "p11kms-derived", True, 1, 1),
    ("", "transit", "p11kms-plain", False, 1, 1),
    ("", "transit", "p11kms-rotated", True, 3, 2),
    ("", "transit", "p11kms-encrypt-only", True, 1, 1),
    ("", CUSTOM_MOUNT, "p11kms-derived", True, 1, 1),
    (NAMESPACE, "transit", "p11kms-derived", True, 1, 1),
    (CHILD_NAMESPACE, "transit", "p11kms-derived", True, 1, 1),
]

# Asymmetric keys (namespace, mount, name, type, versions): EC keys are derived from their
# name, RSA keys made once per process (vault_transit_asym.new_private).
PRELOADED_ASYM_KEYS = [
    ("", "transit", "p11kms-ec256", "ecdsa-p256", 1),
    ("", "transit", "p11kms-ec384", "ecdsa-p384", 1),
    ("", "transit", "p11kms-ec521", "ecdsa-p521", 1),
    ("", "transit", "p11kms-rsa2048", "rsa-2048", 1),
    ("", "transit", "p11kms-rsa3072", "rsa-3072", 2),
    ("", "transit", "p11kms-ec-denied", "ecdsa-p256", 1),
]


def _transit_rules(mount, ops=("encrypt", "decrypt", "rewrap", "datakey", "sign", "verify")):
    rules = [("%s/%s/*" % (mount, op), ["update"]) for op in ops]
    rules.append(("%s/keys/*" % mount, ["read"]))
    return rules


DEFAULT_POLICY = [
    ("auth/token/lookup-self", ["read"]),
    ("auth/token/renew-self", ["update"]),
    ("auth/token/revoke-self", ["update"]),
    ("sys/capabilities-self", ["update"]),
]
POLICIES = {
    "": {
        "default": DEFAULT_POLICY,
        "p11kms-app": _transit_rules("transit") + _transit_rules(CUSTOM_MOUNT) + [
            ("transit/decrypt/p11kms-encrypt-only", ["deny"]),
            ("transit/sign/p11kms-ec-denied", ["deny"]),
            ("transit/sign/p11kms-ec-denied/*", ["deny"])],
        "p11kms-encrypt": [("transit/encrypt/*", ["update"]), ("transit/keys/*", ["read"])],
        "p11kms-decrypt": [("transit/decrypt/*", ["update"]), ("transit/keys/*", ["read"])],
    },
    NAMESPACE: {
        "default": DEFAULT_POLICY,
        "p11kms-ns-app": _transit_rules("transit") + _transit_rules("team/transit"),
    },
    CHILD_NAMESPACE: {"default": DEFAULT_POLICY},
}
# token id -> (namespace, policies)
FIXED_TOKENS = {
    ROOT_TOKEN: ("", ["root"]),
    APP_TOKEN: ("", ["default", "p11kms-app"]),
    ENCRYPT_TOKEN: ("", ["default", "p11kms-encrypt"]),
    DECRYPT_TOKEN: ("", ["default", "p11kms-decrypt"]),
    NS_TOKEN: (NAMESPACE, ["default", "p11kms-ns-app"]),
}

FAULT_KINDS = ("http412", "http429", "http500", "http501", "http502", "http503", "error",
               "delay", "reset", "drop", "garbage", "truncated")
API_OPS = ("encrypt", "decrypt", "rewrap", "datakey", "sign", "verify", "keys-create",
           "keys-read", "keys-list", "keys-delete", "keys-rotate", "keys-config", "approle-login",
           "kubernetes-login", "cert-login", "token-lookup-self", "token-renew-self", "token-revoke-self",
           "health", "seal-status")
ASSOCIATED_DATA_MODES = ("supported", "warn", "silent")


def random_id(n):
    return "".join(secrets.choice(BASE62) for _ in range(n))


def fingerprint(token):
    """How a token appears in logs and the request log: never the value itself."""
    if not token:
        return None
    return "%s...(len %d, sha256 %s)" % (token[:4], len(token),
                                          hashlib.sha256(token.encode()).hexdigest()[:12])


def iso_time(epoch):
    t = time.gmtime(epoch)
    return time.strftime("%Y-%m-%dT%H:%M:%S", t) + ".%06dZ" % int((epoch % 1) * 1e6)


class TransitMount:
    def __init__(self, path):
        self.path = path
        self.keys = {}


class Token:
    def __init__(self, token_id, namespace, policies, now, ttl=DEFAULT_TTL, renewable=True,
                 num_uses=0, explicit_max_ttl=0, display_name="token", path="auth/token/create",
                 meta=None, max_ttl=DEFAULT_TTL):
        self.id = token_id
        self.accessor = random_id(24)
        self.namespace = namespace
        self.policies = sorted(set(policies)) if "root" not in policies else ["root"]
        self.ttl = ttl                  # 0: never expires (root tokens)
        self.renewable = renewable and ttl > 0
        self.num_uses = num_uses
        self.explicit_max_ttl = explicit_max_ttl
        self.display_name = display_name
        self.path = path
        self.meta = meta
        self.created = now
        self.expires = now + ttl if ttl else None
        cap = explicit_max_ttl or max_ttl
        self.max_expires = now + cap if ttl and cap else None
        self.revoked = False

    def valid(self, now):
        return not self.revoked and (self.expires is None or now < self.expires)

    def remaining(self, now):
        return 0 if self.expires is None else max(0, int(self.expires - now))

    def lookup(self, now):
        return {
            "accessor": self.accessor, "creation_time": int(self.created),
            "creation_ttl": self.ttl, "display_name": self.display_name, "entity_id": "",
            "expire_time": iso_time(self.expires) if self.expires else None,
            "explicit_max_ttl": self.explicit_max_ttl, "id": self.id,
            "issue_time": iso_time(self.created), "meta": self.meta,
            "num_uses": self.num_uses, "orphan": True, "path": self.path,
            "policies": list(self.policies), "renewable": self.renewable,
            "ttl": self.remaining(now), "type": "service",
        }

    def auth(self, now):
        return {
            "client_token": self.id, "accessor": self.accessor,
            "policies": list(self.policies), "token_policies": list(self.policies),
            "metadata": self.meta, "lease_duration": self.remaining(now),
            "renewable": self.renewable, "entity_id": "", "token_type": "service",
            "orphan": True, "mfa_requirement": None, "num_uses": self.num_uses,
        }


def _pattern_matches(pattern, path):
    if pattern.endswith("*"):
        prefix = pattern[:-1]
    else:
        prefix = None
    p_parts = (prefix if prefix is not None else pattern).split("/")
    if "+" not in p_parts:
        return path.startswith(prefix) if prefix is not None else path == pattern
    parts = path.split("/")
    if prefix is None and len(parts) != len(p_parts):
        return False
    if len(parts) < len(p_parts):
        return False
    for i, seg in enumerate(p_parts):
        last = i == len(p_parts) - 1
        if seg == "+":
            continue
        if last and prefix is not None:
            if not parts[i].startswith(seg):
                return False
        elif parts[i] != seg:
            return False
    return True


class Store:
    def __init__(self, state_dir=None, tls_dir=None):
        self.lock = threading.RLock()
        self.state_dir = state_dir
        self.tls_dir = tls_dir
        self.start_config = {
            "sealed": False,
            "associated_data": "supported",
            "key_version_in_response": True,
            "require_request_header": False,
            "login_token_ttl": None,
            "clock_offset_seconds": 0,
            "version": "1.17.6+ent",
            # transit/sign and verify know salt_length (Vault 1.14 and later); false: an
            # older Vault, which ignores it with a warning and signs PSS with the longest salt
            "salt_length": True,
        }
        self.conn_seq = 0
        self.req_seq = 0
        self.config = dict(self.start_config)
        self._reset_state()
        self._reset_runtime()
        self._load()

    # ---- reset and persistence -------------------------------------------------------------

    def _reset_state(self):
        self.namespaces = ["", NAMESPACE, CHILD_NAMESPACE]
        self.mounts = {ns: {"transit": TransitMount("transit")} for ns in self.namespaces}
        self.mounts[""][CUSTOM_MOUNT] = TransitMount(CUSTOM_MOUNT)
        for ns, mount, name, derived, versions, mdv in PRELOADED_KEYS:
            key = TransitKey(name, "aes256-gcm96", derived)
            for v in range(1, versions + 1):
                key.rotate(preloaded_secret(ns, mount, name, v, KEY_TYPES[key.type]),
                           1700000000 + v)
            key.min_decryption_version = mdv
            self.mounts[ns][mount].keys[name] = key
        for ns, mount, name, key_type, versions in PRELOADED_ASYM_KEYS:
            key = AsymKey(name, key_type)
            for v in range(1, versions + 1):
                key.rotate(created=1700000000 + v, seed="%s|%s|%s" % (ns, mount, name))
            self.mounts[ns][mount].keys[name] = key
        self.policies = copy.deepcopy(POLICIES)
        now = self.now()
        self.tokens = {}
        for tid, (ns, pols) in FIXED_TOKENS.items():
            root = pols == ["root"]
            self.tokens[tid] = Token(tid, ns, pols, now, ttl=0 if root else DEFAULT_TTL,
                                     display_name="root" if root else "token",
                                     path="auth/token/root" if root else "auth/token/create")
        self.approle_roles = {
            "": {APPROLE_ROLE: {"role_id": APPROLE_ROLE_ID, "policies": ["p11kms-app"],
                                "token_ttl": 3600, "token_max_ttl": 4 * 3600}},
            NAMESPACE: {"p11kms-ns-approle": {"role_id": NS_APPROLE_ROLE_ID,
                                              "policies": ["p11kms-ns-app"],
                                              "token_ttl": 3600, "token_max_ttl": 4 * 3600}},
        }
        self.secret_ids = {
            "": {APPROLE_SECRET_ID: {"role": APPROLE_ROLE, "accessor": random_id(24),
                                     "expires": None, "uses": 0}},
            NAMESPACE: {NS_APPROLE_SECRET_ID: {"role": "p11kms-ns-approle",
                                               "accessor": random_id(24), "expires": None,
                                               "uses": 0}},
        }
        self.k8s_roles = {"": {K8S_ROLE: {"bound_service_account_names": [K8S_SA],
                                          "bound_service_account_namespaces": [K8S_SA_NAMESPACE],
                                          "policies": ["p11kms-app"], "token_ttl": 3600,
                                          "token_max_ttl": 4 * 3600}}}
        self.k8s_tokens = {}        # service-account JWT -> (name, namespace, uid)
        self.cert_roles = {"": {CERT_ROLE: {"certificate": "ca.pem",
                                            "allowed_common_names": ["p11kms-client"],
                                            "policies": ["p11kms-app"], "token_ttl": 3600,
                                            "token_max_ttl": 4 * 3600}}}

    def _reset_runtime(self):
        self.config = dict(self.start_config)
        self.connections = 0
        self.tls_connections = 0
        self.faults = []
        self.requests = collections.Counter()
        self.statuses = collections.Counter()
        self.errors = collections.Counter()
        self.fault_kinds = collections.Counter()
        self.logins = collections.Counter()
        self.auth_failures = 0
        self.log = collections.deque(maxlen=REQUEST_LOG_LEN)

    def reset(self, state):
        with self.lock:
            self._reset_runtime()
            if state:
                k8s = self.k8s_tokens
                self._reset_state()
                self.k8s_tokens = k8s
                self._save_locked()

    def _state_path(self):
        return os.path.join(self.state_dir, "vault-state.json") if self.state_dir else None

    def _load(self):
        path = self._state_path()
        if not path or not os.path.exists(path):
            return
        with open(path, encoding="utf-8") as f:
            saved = json.load(f)
        for ns in saved["namespaces"]:
            if ns not in self.namespaces:
                self.namespaces.append(ns)
                self.policies.setdefault(ns, {"default": DEFAULT_POLICY})
        for ns, mounts in saved["mounts"].items():
            for mpath, keys in mounts.items():
                mount = self.mounts.setdefault(ns, {}).setdefault(mpath, TransitMount(mpath))
                mount.keys = {k["name"]: key_from_json(k) for k in keys}

    def _save_locked(self):
        path = self._state_path()
        if not path:
            return
        data = {"namespaces": self.namespaces,
                "mounts": {ns: {m: [k.to_json() for k in mount.keys.values()]
                                for m, mount in mounts.items()}
                           for ns, mounts in self.mounts.items()}}
        tmp = "%s.tmp.%d" % (path, os.getpid())
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(data, f)
        os.replace(tmp, path)

    def save(self):
        with self.lock:
            self._save_locked()

    def now(self):
        """The server clock: token and secret-id expiry move with clock_offset_seconds."""
        return time.time() + self.config["clock_offset_seconds"]

    # ---- namespaces and mounts -------------------------------------------------------------

    def resolve_locked(self, header_ns, path):
        """X-Vault-Namespace and a namespace path prefix are the same thing: join them, then
        the longest known namespace wins. Answers (namespace, path inside it)."""
        full = "/".join(p for p in (header_ns.strip("/"), path.strip("/")) if p)
        best = ""
        for ns in self.namespaces:
            if ns and (full == ns or full.startswith(ns + "/")) and len(ns) > len(best):
                best = ns
        rel = full[len(best):].lstrip("/") if best else full
        return best, rel

    def transit_mount_locked(self, ns, rel):
        """The transit mount rel falls in: (mount, path inside the mount) or (None, None)."""
        best = None
        for mpath in self.mounts.get(ns, {}):
            if (rel == mpath or rel.startswith(mpath + "/")) and \
                    (best is None or len(mpath) > len(best)):
                best = mpath
        if best is None:
            return None, None
        return self.mounts[ns][best], rel[len(best):].lstrip("/")

    # ---- tokens and ACL --------------------------------------------------------------------

    def new_token(self, ns, policies, ttl=DEFAULT_TTL, **kw):
        with self.lock:
            tid = kw.pop("token_id", None) or "hvs." + random_id(91)
            token = Token(tid, ns, policies, self.now(), ttl=ttl, **kw)
            self.tokens[tid] = token
            return token

    def check_token_locked(self, token_id):
        """The live token, or None (unknown, expired, revoked, uses exhausted)."""
        token = self.tokens.get(token_id)
        if token is None or not token.valid(self.now()):
            return None
        return token

    def use_token_locked(self, token):
        if token.num_uses > 0:
            token.num_uses -= 1
            if token.num_uses == 0:
                token.revoked = True

    def allowed_locked(self, token, ns, rel, capability):
        """Vault's ACL: the token's policies (in its namespace) against the request path
        relative to that namespace; the most specific matching pattern decides, deny wins."""
        if "root" in token.policies and (token.namespace == "" or ns == token.namespace or
                                          ns.startswith(token.namespace + "/")):
            return True
        tns = token.namespace
        if tns == ns:
            path = rel
        elif tns == "" or ns.startswith(tns + "/"):
            path = (ns[len(tns):].lstrip("/") + "/" + rel).lstrip("/")
        else:
            return False
        merged = {}
        for name in token.policies:
            for pattern, caps in self.policies.get(tns, {}).get(name, []):
                merged.setdefault(pattern, set()).update(caps)
        best = None
        for pattern in merged:
            if not _pattern_matches(pattern, path):
                continue
            exact = not pattern.endswith("*") and "+" not in pattern
            rank = (exact, len(pattern.rstrip("*")), pattern.count("+") * -1)
            if best is None or rank > best[0]:
                best = (rank, pattern)
        if best is None:
            return False
        caps = merged[best[1]]
        return "deny" not in caps and capability in caps

    # ---- faults, counters, request log -----------------------------------------------------

    def queue_fault(self, fault):
        with self.lock:
            self.faults.append(dict(fault))
            return len(self.faults)

    def clear_faults(self):
        with self.lock:
            self.faults = []

    def take_fault(self, op):
        with self.lock:
            for fault in self.faults:
                if fault["op"] == op or (fault["op"] == "*" and op in API_OPS):
                    fault["count"] -= 1
                    if fault["count"] <= 0:
                        self.faults.remove(fault)
                    self.fault_kinds[fault["kind"]] += 1
                    return dict(fault)
        return None

    def new_connection(self, tls):
        with self.lock:
            self.conn_seq += 1
            if tls:
                self.tls_connections += 1
            else:
                self.connections += 1
            return self.conn_seq

    def count_request(self, op):
        with self.lock:
            self.requests[op] += 1

    def record(self, entry, auth_failed=False):
        with self.lock:
            self.req_seq += 1
            entry["seq"] = self.req_seq
            self.statuses[str(entry["status"])] += 1
            if entry.get("error"):
                self.errors[entry["error"]] += 1
            if auth_failed:
                self.auth_failures += 1
            self.log.append(entry)

    def counters(self):
        with self.lock:
            return {"connections": self.connections + self.tls_connections,
                    "http_connections": self.connections,
                    "tls_connections": self.tls_connections,
                    "requests": dict(self.requests), "statuses": dict(self.statuses),
                    "errors": dict(self.errors), "logins": dict(self.logins),
                    "auth_failures": self.auth_failures,
                    "faults_served": sum(self.fault_kinds.values()),
                    "faults": dict(self.fault_kinds)}

    def request_entries(self):
        with self.lock:
            return [dict(e) for e in self.log]

    def request_id(self):
        return str(uuid.uuid4())
