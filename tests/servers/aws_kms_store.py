# aws_kms_store.py - the AWS KMS test server's state: keys (symmetric and asymmetric), aliases,
# ciphertexts, credentials, faults, counters and the request log. One lock (Store.lock) guards
# all of it.
"""State of the loopback AWS KMS server, independent of HTTP."""

import base64
import collections
import hashlib
import json
import os
import secrets
import string
import struct
import threading
import time
import uuid

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

import aws_kms_asym

BLOB_MAGIC = b"P1KT"
BLOB_VERSION = 1
KEY_ID_LEN = 36
IV_LEN = 12
TAG_LEN = 16
BLOB_HEADER_LEN = len(BLOB_MAGIC) + 1 + KEY_ID_LEN

LONG_TERM_CREDENTIALS = {
    "AKIDP11KMSTEST000001": "p11kms/Test+Secret/Key0000000000EXAMPLEKEY",
}
PRELOADED_KEYS = [
    ("11111111-1111-4111-8111-111111111111", "alias/p11kms-test", True),
    ("22222222-2222-4222-8222-222222222222", "alias/p11kms-other", True),
    ("33333333-3333-4333-8333-333333333333", "alias/p11kms-disabled", False),
]
# Asymmetric keys whose material is derived from their key id: the same public keys on every
# machine and after every reset. Made on first use (RSA takes a second or two in Python) and
# then kept in keys.json, so a test that never touches them never pays for them.
PRELOADED_ASYMMETRIC = [
    ("66666666-6666-4666-8666-666666660256", "alias/p11kms-ec-p256", "ECC_NIST_P256",
     aws_kms_asym.SIGN_VERIFY),
    ("66666666-6666-4666-8666-666666660384", "alias/p11kms-ec-p384", "ECC_NIST_P384",
     aws_kms_asym.SIGN_VERIFY),
    ("77777777-7777-4777-8777-777777773072", "alias/p11kms-rsa-3072", "RSA_3072",
     aws_kms_asym.SIGN_VERIFY),
    ("77777777-7777-4777-8777-777777772048", "alias/p11kms-rsa-2048-enc", "RSA_2048",
     aws_kms_asym.ENCRYPT_DECRYPT),
]
IMDS_ROLE = "p11kms-test-role"
DEFAULT_WEB_IDENTITY_TOKEN = "p11kms-test-web-identity-token"
DEFAULT_TTL = 3600
REQUEST_LOG_LEN = 500

FAULT_KINDS = ("throttle", "http500", "http503", "error", "delay", "drop", "garbage")
CREDENTIAL_OPS = ("imds-token", "imds-role", "imds-credentials", "container", "sts")


class KmsError(Exception):
    """An AWS error answer: HTTP status, error code (__type) and message."""

    def __init__(self, status, code, message):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def client_error(code, message):
    return KmsError(400, code, message)


def iso8601(epoch):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def canonical_context(ctx):
    """Length-prefixed, key-sorted encoding: the map's order never matters, and no two maps
    encode alike (no separator a key or value could contain)."""
    out = bytearray()
    items = sorted((k.encode("utf-8"), v.encode("utf-8")) for k, v in ctx.items())
    out += struct.pack(">I", len(items))
    for k, v in items:
        out += struct.pack(">I", len(k)) + k + struct.pack(">I", len(v)) + v
    return bytes(out)


def preloaded_secret(key_id):
    # Fixed per key so that ciphertexts of the preloaded keys survive a restart.
    return hashlib.sha256(b"p11kms aws test server key " + key_id.encode("ascii")).digest()


def random_token(n, alphabet=string.ascii_uppercase + string.digits):
    return "".join(secrets.choice(alphabet) for _ in range(n))


def preloaded_seed(key_id):
    return b"p11kms aws test server asymmetric key " + key_id.encode("ascii")


class Key:
    """A KMS key: a symmetric one holds an AES-256 secret; an asymmetric one (spec RSA_* or
    ECC_*) a private key, or for a preloaded key not yet used, the seed to derive it from."""

    def __init__(self, key_id, secret, enabled=True, description="", created=None,
                 spec=aws_kms_asym.SYMMETRIC, usage=aws_kms_asym.ENCRYPT_DECRYPT, private=None,
                 seed=None):
        self.key_id = key_id
        self.secret = secret
        self.enabled = enabled
        self.description = description
        self.created = int(created if created is not None else time.time())
        self.spec = spec
        self.usage = usage
        self.private = private
        self.seed = seed

    @property
    def symmetric(self):
        return self.spec == aws_kms_asym.SYMMETRIC

    def to_json(self):
        d = {"key_id": self.key_id, "enabled": self.enabled, "description": self.description,
             "created": self.created, "key_spec": self.spec, "key_usage": self.usage}
        if self.symmetric:
            d["secret"] = base64.b64encode(self.secret).decode()
        elif self.private is not None:
            d["private_key"] = aws_kms_asym.private_to_text(self.private)
        return d

    @classmethod
    def from_json(cls, d):
        spec = d.get("key_spec", aws_kms_asym.SYMMETRIC)
        if spec == aws_kms_asym.SYMMETRIC:
            return cls(d["key_id"], base64.b64decode(d["secret"]), d["enabled"],
                       d.get("description", ""), d.get("created"))
        private = aws_kms_asym.private_from_text(d["private_key"]) if "private_key" in d \
            else None
        key = cls(d["key_id"], None, d["enabled"], d.get("description", ""), d.get("created"),
                  spec, d["key_usage"], private)
        if private is not None and not aws_kms_asym.matches_spec(private, spec):
            raise ValueError("keys.json: key %s is not a %s key" % (key.key_id, spec))
        return key


class Store:
    def __init__(self, region, account, web_identity_token, credential_ttl, state_dir=None):
        self.lock = threading.Lock()
        self.region = region
        self.account = account
        self.state_dir = state_dir
        self.start_config = {
            "credential_ttl_seconds": credential_ttl,
            "container_auth_token": None,
            "web_identity_token": web_identity_token,
            "clock_offset_seconds": 0,
            "imds_v1": False,
        }
        self.conn_seq = 0          # numbers connections in the log; never reset
        self.preloaded_private = {}    # key id -> derived private key, kept across resets
        saved = self._read_saved()
        self._reset_keys()
        self._reset_runtime()
        self._apply_saved(saved)

    # ---- reset and persistence -------------------------------------------------------------

    def _reset_keys(self):
        self.keys = {}
        self.aliases = {}
        for key_id, alias, enabled in PRELOADED_KEYS:
            self.keys[key_id] = Key(key_id, preloaded_secret(key_id), enabled,
                                    "p11kms preloaded test key", created=1700000000)
            self.aliases[alias] = key_id
        for key_id, alias, spec, usage in PRELOADED_ASYMMETRIC:
            self.keys[key_id] = Key(key_id, None, True, "p11kms preloaded test key",
                                    created=1700000000, spec=spec, usage=usage,
                                    private=self.preloaded_private.get(key_id),
                                    seed=preloaded_seed(key_id))
            self.aliases[alias] = key_id
        self.long_term = dict(LONG_TERM_CREDENTIALS)
        self.temporary = {}        # access key id -> {"secret", "token", "expires", "source"}
        self.imds_tokens = {}      # token -> expiry (server clock)

    def _reset_runtime(self):
        self.config = dict(self.start_config)
        self.connections = 0
        self.faults = []
        self.requests = collections.Counter()
        self.statuses = collections.Counter()
        self.errors = collections.Counter()
        self.fault_kinds = collections.Counter()
        self.signature_failures = 0
        self.auth_failures = 0
        self.faults_served = 0
        self.request_log = collections.deque(maxlen=REQUEST_LOG_LEN)
        self.seq = 0

    def reset(self, keys):
        with self.lock:
            self._reset_runtime()
            if keys:
                self._reset_keys()
                self._save_locked()

    def _keys_path(self):
        return os.path.join(self.state_dir, "keys.json") if self.state_dir else None

    def _read_saved(self):
        path = self._keys_path()
        if not path or not os.path.exists(path):
            return {}
        with open(path, encoding="utf-8") as f:
            return json.load(f)

    def _apply_saved(self, data):
        for d in data.get("keys", []):
            k = Key.from_json(d)
            preloaded = self.keys.get(k.key_id)
            if preloaded is not None and preloaded.seed is not None:
                # A preloaded key's saved material is the derived one: keep it for resets.
                k.seed = preloaded.seed
                if k.private is not None:
                    self.preloaded_private[k.key_id] = k.private
            elif not k.symmetric and k.private is None:
                raise ValueError("keys.json: asymmetric key %s has no private key" % k.key_id)
            self.keys[k.key_id] = k
        self.aliases.update(data.get("aliases", {}))

    def _save_locked(self):
        path = self._keys_path()
        if not path:
            return
        data = {"keys": [k.to_json() for k in self.keys.values()], "aliases": self.aliases}
        tmp = path + ".tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f)
        os.replace(tmp, path)

    # ---- time ------------------------------------------------------------------------------

    def now(self):
        return time.time() + self.config["clock_offset_seconds"]

    # ---- keys ------------------------------------------------------------------------------

    def key_arn(self, key_id):
        return "arn:aws:kms:%s:%s:key/%s" % (self.region, self.account, key_id)

    def alias_arn(self, alias):
        return "arn:aws:kms:%s:%s:%s" % (self.region, self.account, alias)

    def resolve_locked(self, ref):
        """Key id, key ARN, alias/NAME or alias ARN -> Key, else NotFoundException."""
        prefix = "arn:aws:kms:"
        name = ref
        if ref.startswith(prefix):
            parts = ref.split(":", 5)
            if len(parts) != 6 or parts[3] != self.region or parts[4] != self.account:
                raise client_error("NotFoundException", "Invalid arn %s" % ref)
            name = parts[5]
            if name.startswith("key/"):
                name = name[4:]
                if "/" in name or name.startswith("alias"):
                    raise client_error("NotFoundException", "Invalid arn %s" % ref)
            elif not name.startswith("alias/"):
                raise client_error("NotFoundException", "Invalid arn %s" % ref)
        if name.startswith("alias/"):
            key_id = self.aliases.get(name)
            if key_id is None or key_id not in self.keys:
                raise client_error("NotFoundException",
                                   "Alias %s is not found." % self.alias_arn(name))
            return self.keys[key_id]
        key = self.keys.get(name)
        if key is None:
            raise client_error("NotFoundException",
                               "Key '%s' does not exist" % self.key_arn(name))
        return key

    def private_key_locked(self, key):
        """An asymmetric key's private key; a preloaded key's is derived (and saved) on first
        use."""
        if key.private is None:
            key.private = aws_kms_asym.generate_deterministic(key.spec, key.seed)
            self.preloaded_private[key.key_id] = key.private
            self._save_locked()
        return key.private

    def new_key_id_locked(self):
        while True:
            key_id = str(uuid.uuid4())
            if key_id not in self.keys:
                return key_id

    def add_key_locked(self, key):
        self.keys[key.key_id] = key
        self._save_locked()

    def create_key(self, key_id, alias, enabled, description, spec=aws_kms_asym.SYMMETRIC,
                   usage=None):
        """Control API: a key of any spec this server makes, with a chosen id if wanted."""
        if spec != aws_kms_asym.SYMMETRIC and aws_kms_asym.spec_of(spec) is None:
            raise KmsError(400, "control", "key_spec must be SYMMETRIC_DEFAULT or one of %s"
                           % ", ".join(sorted(aws_kms_asym.SPECS)))
        allowed = aws_kms_asym.SPECS[spec].usages if spec != aws_kms_asym.SYMMETRIC else \
            (aws_kms_asym.ENCRYPT_DECRYPT,)
        if usage is None and spec == aws_kms_asym.SYMMETRIC:
            usage = aws_kms_asym.ENCRYPT_DECRYPT
        if usage not in allowed:
            raise KmsError(400, "control", "key_usage for %s must be one of %s"
                           % (spec, ", ".join(allowed)))
        private = aws_kms_asym.generate(spec) if spec != aws_kms_asym.SYMMETRIC else None
        with self.lock:
            key_id = key_id or str(uuid.uuid4())
            try:
                if str(uuid.UUID(key_id)) != key_id:
                    raise ValueError
            except ValueError:
                raise KmsError(400, "control", "key_id must be a lowercase UUID")
            if key_id in self.keys:
                raise KmsError(409, "control", "key %s exists" % key_id)
            if alias is not None:
                self._check_alias(alias)
            secret = secrets.token_bytes(32) if private is None else None
            self.keys[key_id] = Key(key_id, secret, enabled, description, spec=spec,
                                    usage=usage, private=private)
            if alias is not None:
                self.aliases[alias] = key_id
            self._save_locked()
            return {"KeyId": key_id, "Arn": self.key_arn(key_id), "KeySpec": spec,
                    "KeyUsage": usage}

    def _check_alias(self, alias):
        if not alias.startswith("alias/") or len(alias) < 7 or len(alias) > 256 or \
                alias.startswith("alias/aws/") or \
                any(c not in string.ascii_letters + string.digits + "/_-" for c in alias[6:]):
            raise KmsError(400, "control", "alias must be alias/NAME ([A-Za-z0-9/_-])")

    def set_alias(self, alias, ref):
        with self.lock:
            self._check_alias(alias)
            key = self.resolve_locked(ref)
            self.aliases[alias] = key.key_id
            self._save_locked()
            return {"AliasName": alias, "AliasArn": self.alias_arn(alias),
                    "TargetKeyId": key.key_id}

    def set_enabled(self, ref, enabled):
        with self.lock:
            key = self.resolve_locked(ref)
            key.enabled = enabled
            self._save_locked()
            return {"KeyId": key.key_id, "KeyState": "Enabled" if enabled else "Disabled"}

    # ---- ciphertexts -----------------------------------------------------------------------

    def seal(self, key, plaintext, ctx):
        assert key.symmetric, "seal() is for symmetric keys"
        header = BLOB_MAGIC + bytes([BLOB_VERSION]) + key.key_id.encode("ascii")
        iv = secrets.token_bytes(IV_LEN)
        ct = AESGCM(key.secret).encrypt(iv, plaintext, header + canonical_context(ctx))
        return header + iv + ct

    @staticmethod
    def blob_key_id(blob):
        """The key id a blob names, or None when the blob is not one of ours."""
        if len(blob) < BLOB_HEADER_LEN + IV_LEN + TAG_LEN or \
                blob[:len(BLOB_MAGIC)] != BLOB_MAGIC or blob[len(BLOB_MAGIC)] != BLOB_VERSION:
            return None
        try:
            return blob[len(BLOB_MAGIC) + 1:BLOB_HEADER_LEN].decode("ascii")
        except UnicodeDecodeError:
            return None

    @staticmethod
    def open(key, blob, ctx):
        """Plaintext, or None when the blob, key or context do not match."""
        if not key.symmetric:
            return None
        header = blob[:BLOB_HEADER_LEN]
        iv = blob[BLOB_HEADER_LEN:BLOB_HEADER_LEN + IV_LEN]
        try:
            return AESGCM(key.secret).decrypt(iv, blob[BLOB_HEADER_LEN + IV_LEN:],
                                              header + canonical_context(ctx))
        except Exception:      # cryptography raises InvalidTag; any failure means "invalid"
            return None

    # ---- credentials -----------------------------------------------------------------------

    def secret_for_locked(self, access_key):
        """(secret, expected session token or None, expiry or None); KeyError when unknown."""
        if access_key in self.long_term:
            return self.long_term[access_key], None, None
        t = self.temporary[access_key]
        return t["secret"], t["token"], t["expires"]

    def issue_temporary(self, source, ttl=None):
        with self.lock:
            if ttl is None:
                ttl = self.config["credential_ttl_seconds"] or DEFAULT_TTL
            akid = "ASIA" + random_token(16)
            cred = {
                "secret": base64.b64encode(secrets.token_bytes(30)).decode(),
                "token": "P11KMSTOKEN" + base64.b64encode(secrets.token_bytes(96)).decode(),
                "expires": self.now() + ttl,
                "source": source,
            }
            self.temporary[akid] = cred
            return {"AccessKeyId": akid, "SecretAccessKey": cred["secret"],
                    "SessionToken": cred["token"], "Expiration": iso8601(cred["expires"])}

    def issue_long_term(self):
        with self.lock:
            akid = "AKID" + random_token(16)
            secret = base64.b64encode(secrets.token_bytes(30)).decode()
            self.long_term[akid] = secret
            return {"AccessKeyId": akid, "SecretAccessKey": secret}

    def expire_temporary(self, access_key):
        with self.lock:
            now = self.now()
            n = 0
            for akid, cred in self.temporary.items():
                if access_key is None or akid == access_key:
                    cred["expires"] = min(cred["expires"], now - 1)
                    n += 1
            return n

    def new_imds_token(self, ttl):
        with self.lock:
            token = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip("=")
            self.imds_tokens[token] = self.now() + ttl
            return token

    def imds_token_valid(self, token):
        with self.lock:
            expiry = self.imds_tokens.get(token)
            return expiry is not None and expiry > self.now()

    # ---- faults ----------------------------------------------------------------------------

    def queue_fault(self, fault):
        with self.lock:
            self.faults.append(fault)
            return len(self.faults)

    def clear_faults(self):
        with self.lock:
            self.faults = []

    def take_fault(self, op, is_kms):
        """The next fault for op (consumed once), or None."""
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

    def new_connection(self):
        with self.lock:
            self.connections += 1
            self.conn_seq += 1
            return self.conn_seq

    def count_request(self, op):
        with self.lock:
            self.requests[op] += 1

    def record(self, entry, auth_failed=False, signature_failed=False):
        with self.lock:
            self.seq += 1
            entry["seq"] = self.seq
            self.statuses[str(entry["status"])] += 1
            if entry.get("error"):
                self.errors[entry["error"]] += 1
            if auth_failed:
                self.auth_failures += 1
            if signature_failed:
                self.signature_failures += 1
            self.request_log.append(entry)

    def counters(self):
        with self.lock:
            return {
                "connections": self.connections,
                "requests": dict(self.requests),
                "statuses": dict(self.statuses),
                "errors": dict(self.errors),
                "signature_failures": self.signature_failures,
                "auth_failures": self.auth_failures,
                "faults_served": self.faults_served,
                "faults": dict(self.fault_kinds),
            }

    def request_entries(self):
        with self.lock:
            return list(self.request_log)
