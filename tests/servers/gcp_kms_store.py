# gcp_kms_store.py - the Google Cloud KMS test server's state: key rings, keys, versions, IAM
# bindings, issued tokens, config, faults, counters and the request log. Store.lock guards all
# of it; methods ending in _locked expect it held.
"""State of the loopback Cloud KMS server, independent of HTTP."""

import collections
import copy
import json
import os
import threading
import time

import gcp_kms_iam as iam
from gcp_kms_keys import (ALGORITHM_INFO, CryptoKey, KeyRing, ciphertext_uid, preloaded_secret,
                          preloaded_uid)
from gcp_kms_wire import GcpError

REQUEST_LOG_LEN = 500
DEFAULT_TOKEN_TTL = 3599
PRELOAD_TIME = 1700000000.0

# (key id, algorithm, protection level, [version states], primary version)
PRELOADED_KEYS = [
    ("p11kms-key", "GOOGLE_SYMMETRIC_ENCRYPTION", "SOFTWARE", ["ENABLED"], 1),
    ("p11kms-other", "GOOGLE_SYMMETRIC_ENCRYPTION", "SOFTWARE", ["ENABLED"], 1),
    ("p11kms-rotated", "GOOGLE_SYMMETRIC_ENCRYPTION", "SOFTWARE",
     ["ENABLED", "ENABLED", "DISABLED", "DESTROYED"], 2),
    ("p11kms-disabled", "GOOGLE_SYMMETRIC_ENCRYPTION", "SOFTWARE", ["DISABLED"], 1),
    ("p11kms-hsm", "GOOGLE_SYMMETRIC_ENCRYPTION", "HSM", ["ENABLED"], 1),
    ("p11kms-sign-p256", "EC_SIGN_P256_SHA256", "SOFTWARE", ["ENABLED"], None),
    ("p11kms-sign-p384", "EC_SIGN_P384_SHA384", "SOFTWARE", ["ENABLED"], None),
    ("p11kms-sign-rsa2048", "RSA_SIGN_PKCS1_2048_SHA256", "SOFTWARE", ["ENABLED"], None),
    ("p11kms-sign-rsa3072", "RSA_SIGN_PKCS1_3072_SHA256", "SOFTWARE", ["ENABLED"], None),
    ("p11kms-sign-pss2048", "RSA_SIGN_PSS_2048_SHA256", "SOFTWARE", ["ENABLED"], None),
    ("p11kms-decrypt-rsa2048", "RSA_DECRYPT_OAEP_2048_SHA256", "SOFTWARE", ["ENABLED"], None),
    ("p11kms-decrypt-rsa3072", "RSA_DECRYPT_OAEP_3072_SHA256", "SOFTWARE", ["ENABLED"], None),
    ("p11kms-decrypt-rsa2048-sha1", "RSA_DECRYPT_OAEP_2048_SHA1", "SOFTWARE", ["ENABLED"],
     None),
    ("p11kms-sign-k256", "EC_SIGN_SECP256K1_SHA256", "HSM", ["ENABLED"], None),
    ("p11kms-sign-pss4096-sha512", "RSA_SIGN_PSS_4096_SHA512", "SOFTWARE", ["ENABLED"], None),
]

FAULT_KINDS = ("http429", "http500", "http503", "http504", "error", "reset", "close", "delay",
               "garbage", "truncated", "crc_mismatch", "corrupt_body", "unverified")
# Fault kinds that alter a successful KMS answer instead of replacing it.
ANSWER_FAULTS = ("crc_mismatch", "corrupt_body", "unverified")
AUTH_OPS = ("token", "sts", "iamcredentials", "metadata-token", "metadata")


class Store:
    def __init__(self, state_dir=None, token_ttl=None):
        self.lock = threading.RLock()   # re-entrant: ops count while holding it
        self.state_dir = state_dir
        self.start_config = {
            "token_ttl_seconds": token_ttl,
            "clock_offset_seconds": 0,
            "accept_self_signed_jwt": True,
            "metadata_email": iam.SA_GCE,
            "metadata_scopes": list(iam.GCE_SCOPES),
            "extra_jwt_audiences": [],
        }
        self.conn_seq = 0
        self.identities = None        # gcp_kms_identity.Identities, set by the server
        self._reset_resources()
        self._reset_runtime()
        self._load()

    # ---- reset and persistence -------------------------------------------------------------

    def _reset_resources(self):
        self.key_rings = {}
        self.keys = {}
        self.uid_index = {}           # version uid -> Version
        self.bindings = iam.default_bindings()
        self.tokens = {}              # access token -> {principal, expires, scopes, source}
        ring = KeyRing(iam.KEY_RING, PRELOAD_TIME)
        self.key_rings[ring.name] = ring
        for key_id, algo, level, states, primary in PRELOADED_KEYS:
            key = CryptoKey("%s/cryptoKeys/%s" % (ring.name, key_id),
                            ALGORITHM_INFO[algo][0], algo, level, PRELOAD_TIME)
            for n, state in enumerate(states, 1):
                vname = "%s/cryptoKeyVersions/%d" % (key.name, n)
                v = key.add_version(state, preloaded_uid(vname),
                                    preloaded_secret(vname) if algo.startswith("GOOGLE")
                                    else None)
                v.created = PRELOAD_TIME
                if state == "DESTROYED":
                    v.secret = None
                    v.destroy_time = v.destroy_event_time = PRELOAD_TIME
            key.primary = primary
            self._add_key_locked(key)

    def _add_key_locked(self, key):
        self.keys[key.name] = key
        for v in key.versions.values():
            self.uid_index[v.uid] = v

    def _reset_runtime(self):
        self.config = copy.deepcopy(self.start_config)
        self.connections = 0
        self.listener_connections = collections.Counter()
        self.faults = []
        self.requests = collections.Counter()
        self.statuses = collections.Counter()
        self.errors = collections.Counter()
        self.token_grants = collections.Counter()
        self.fault_kinds = collections.Counter()
        self.auth_failures = 0
        self.crc_failures = 0
        self.faults_served = 0
        self.self_signed_jwts = 0
        self.request_log = collections.deque(maxlen=REQUEST_LOG_LEN)
        self.seq = 0

    def reset(self, keys):
        with self.lock:
            self._reset_runtime()
            if keys:
                self._reset_resources()
                self._save_locked()

    def _keys_path(self):
        return os.path.join(self.state_dir, "keys.json") if self.state_dir else None

    def _load(self):
        path = self._keys_path()
        if not path or not os.path.exists(path):
            return
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
        for d in data.get("key_rings", []):
            self.key_rings[d["name"]] = KeyRing(d["name"], d["created"])
        for d in data.get("keys", []):
            self._add_key_locked(CryptoKey.load(d))
        if "bindings" in data:
            self.bindings = {r: {m: set(roles) for m, roles in b.items()}
                             for r, b in data["bindings"].items()}

    def _save_locked(self):
        path = self._keys_path()
        if not path:
            return
        data = {"key_rings": [r.dump() for r in self.key_rings.values()],
                "keys": [k.dump() for k in self.keys.values()],
                "bindings": {r: {m: sorted(roles) for m, roles in b.items()}
                             for r, b in self.bindings.items()}}
        tmp = path + ".tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f)
        os.replace(tmp, path)
        for key in self.keys.values():
            for v in key.versions.values():
                v.fresh = False

    def save(self):
        with self.lock:
            self._save_locked()

    def persist_fresh_locked(self, version):
        """Save when a version just got its key material (asymmetric keys are made lazily)."""
        if version.fresh:
            self._save_locked()

    # ---- time and tokens -------------------------------------------------------------------

    def now(self):
        return time.time() + self.config["clock_offset_seconds"]

    def token_ttl(self, requested=None):
        ttl = self.config["token_ttl_seconds"] or DEFAULT_TOKEN_TTL
        return min(ttl, requested) if requested else ttl

    def issue_token(self, principal, scopes, source, ttl=None):
        """A new access token for principal; (token, expires_in)."""
        token = iam.new_access_token()
        with self.lock:
            ttl = ttl if ttl is not None else self.token_ttl()
            self.tokens[token] = {"principal": principal, "expires": self.now() + ttl,
                                  "scopes": tuple(scopes), "source": source}
            self.token_grants[source] += 1
            return token, int(ttl)

    def token_info(self, token):
        with self.lock:
            info = self.tokens.get(token)
            return dict(info) if info else None

    def expire_tokens(self, principal=None):
        with self.lock:
            now = self.now()
            n = 0
            for info in self.tokens.values():
                if principal is None or info["principal"] == principal:
                    info["expires"] = min(info["expires"], now - 1)
                    n += 1
            return n

    def permitted(self, principal, permission, resource):
        with self.lock:
            return iam.permitted(self.bindings, principal, permission, resource)

    def set_roles(self, resource, member, roles):
        with self.lock:
            if roles:
                self.bindings.setdefault(resource, {})[member] = set(roles)
            else:
                self.bindings.get(resource, {}).pop(member, None)
            self._save_locked()
            return {r: {m: sorted(x) for m, x in b.items()} for r, b in self.bindings.items()}

    # ---- resources -------------------------------------------------------------------------

    def key_locked(self, name):
        key = self.keys.get(name)
        if key is None:
            raise GcpError("NOT_FOUND", "CryptoKey %s not found." % name)
        return key

    def version_locked(self, name):
        key_name, sep, number = name.rpartition("/cryptoKeyVersions/")
        key = self.keys.get(key_name) if sep else None
        v = key.versions.get(int(number)) if key and number.isdigit() else None
        if v is None:
            raise GcpError("NOT_FOUND", "CryptoKeyVersion %s not found." % name)
        return v

    def version_for_ciphertext_locked(self, ciphertext):
        uid = ciphertext_uid(ciphertext)
        return self.uid_index.get(uid) if uid is not None else None

    def create_key_ring(self, name):
        with self.lock:
            if name in self.key_rings:
                raise GcpError("ALREADY_EXISTS", "KeyRing %s already exists." % name)
            ring = KeyRing(name)
            self.key_rings[name] = ring
            self._save_locked()
            return ring

    def create_key(self, ring_name, key_id, purpose, algorithm, level, versions=1, labels=None):
        """A new CryptoKey (its ring must exist); versions=0 skips the first version."""
        with self.lock:
            if ring_name not in self.key_rings:
                raise GcpError("NOT_FOUND", "KeyRing %s not found." % ring_name)
            name = "%s/cryptoKeys/%s" % (ring_name, key_id)
            if name in self.keys:
                raise GcpError("ALREADY_EXISTS", "CryptoKey %s already exists." % name)
            key = CryptoKey(name, purpose, algorithm, level)
            key.labels = dict(labels or {})
            for _ in range(versions):
                key.add_version()
            if purpose == "ENCRYPT_DECRYPT" and versions:
                key.primary = 1
            self._add_key_locked(key)
            self._save_locked()
            return key

    def create_version(self, key_name, make_primary=False):
        with self.lock:
            key = self.key_locked(key_name)
            v = key.add_version()
            self.uid_index[v.uid] = v
            if make_primary and key.purpose == "ENCRYPT_DECRYPT":
                key.primary = v.number
            self._save_locked()
            return v

    def set_primary(self, key_name, number):
        with self.lock:
            key = self.key_locked(key_name)
            v = key.versions.get(number)
            if v is None:
                raise GcpError("NOT_FOUND", "CryptoKeyVersion %s/cryptoKeyVersions/%s not "
                               "found." % (key_name, number))
            if key.purpose != "ENCRYPT_DECRYPT":
                raise GcpError("FAILED_PRECONDITION", "%s has purpose %s; only "
                               "ENCRYPT_DECRYPT keys have a primary version."
                               % (key_name, key.purpose))
            if v.state != "ENABLED":
                raise GcpError("FAILED_PRECONDITION", "%s is not enabled, current state is: "
                               "%s." % (v.name, v.state))
            key.primary = number
            self._save_locked()
            return key

    def set_state(self, version_name, state):
        """Any state transition (control API); DESTROYED drops the key material."""
        with self.lock:
            v = self.version_locked(version_name)
            v.state = state
            now = self.now()
            if state == "DESTROY_SCHEDULED":
                v.destroy_time = now + 30 * 24 * 3600
            elif state == "DESTROYED":
                v.destroy_time = v.destroy_time or now
                v.destroy_event_time = now
                v.secret = None
                v.private_pem = None
                v._private = None
            else:
                v.destroy_time = None
            self._save_locked()
            return v

    # ---- faults ----------------------------------------------------------------------------

    def queue_fault(self, fault):
        with self.lock:
            self.faults.append(fault)
            return len(self.faults)

    def clear_faults(self):
        with self.lock:
            self.faults = []

    def take_fault(self, op, is_kms):
        with self.lock:
            for f in self.faults:
                if f["op"] == op or (is_kms and f["op"] == "*"):
                    f["count"] -= 1
                    if f["count"] <= 0:
                        self.faults.remove(f)
                    self.faults_served += 1
                    self.fault_kinds[f["kind"]] += 1
                    return dict(f)
            return None

    # ---- counters and log ------------------------------------------------------------------

    def new_connection(self, listener):
        with self.lock:
            self.connections += 1
            self.listener_connections[listener] += 1
            self.conn_seq += 1
            return self.conn_seq

    def count_request(self, op):
        with self.lock:
            self.requests[op] += 1

    def count(self, what):
        with self.lock:
            setattr(self, what, getattr(self, what) + 1)

    def record(self, entry, auth_failed=False):
        with self.lock:
            self.seq += 1
            entry["seq"] = self.seq
            self.statuses[str(entry["status"])] += 1
            if entry.get("error"):
                self.errors[entry["error"]] += 1
            if auth_failed:
                self.auth_failures += 1
            self.request_log.append(entry)

    def counters(self):
        with self.lock:
            return {
                "connections": self.connections,
                "listener_connections": dict(self.listener_connections),
                "requests": dict(self.requests),
                "statuses": dict(self.statuses),
                "errors": dict(self.errors),
                "token_grants": dict(self.token_grants),
                "self_signed_jwts": self.self_signed_jwts,
                "auth_failures": self.auth_failures,
                "crc_failures": self.crc_failures,
                "faults_served": self.faults_served,
                "faults": dict(self.fault_kinds),
            }

    def request_entries(self):
        with self.lock:
            return [dict(e) for e in self.request_log]
