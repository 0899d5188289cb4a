# vault_transit.py - the transit secrets engine of the loopback Vault server: keys with versions,
# derived keys (HKDF-SHA256 as Vault), AES-GCM/ChaCha20 "vault:vN:" ciphertexts, the endpoints.
"""Transit engine: the same checks, in the same order and with the same messages as Vault's
builtin/logical/transit and sdk/helper/keysutil (see tests/servers/README.md)."""

import hashlib
import os
import time

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

import vault_transit_asym
from vault_util import (B64Error, StatusResponse, VaultError, b64, get_bool, get_int,
                        get_str, go_atoi, go_b64decode, multierror, user_error)

KEY_TYPES = {"aes256-gcm96": 32, "aes128-gcm96": 16, "chacha20-poly1305": 32}
# Asymmetric ecdsa-* and rsa-* keys: vault_transit_asym.py.
OTHER_VAULT_TYPES = ("ed25519", "hmac", "managed_key", "aes128-cmac", "aes192-cmac",
                     "aes256-cmac", "ml-dsa", "hybrid")
NONCE_LEN = 12
ERR_TOO_OLD = "ciphertext or signature version is disallowed by policy (too old)"
MISSING_CONTEXT = ("missing 'context' for key derivation; the key was created using a derived "
                   "key, which means additional, per-request information must be included in "
                   "order to perform operations with the key")
NONCE_NOT_ALLOWED = "provided nonce not allowed for this key"
KEY_NOT_FOUND = "encryption key not found"

# Request fields each endpoint knows (Vault's framework schema); anything else draws the
# "Endpoint ignored these unrecognized parameters" warning on Vault 1.10 and later.
FIELDS = {
    "encrypt": {"name", "plaintext", "padding_scheme", "context", "nonce", "type",
                "convergent_encryption", "key_version", "partial_failure_response_code",
                "associated_data", "batch_input"},
    "decrypt": {"name", "ciphertext", "padding_scheme", "context", "nonce",
                "partial_failure_response_code", "associated_data", "batch_input"},
    "rewrap": {"name", "ciphertext", "encrypt_padding_scheme", "decrypt_padding_scheme",
               "context", "nonce", "key_version", "batch_input"},
    "datakey": {"name", "plaintext", "padding_scheme", "context", "nonce", "bits",
                "key_version"},
    "keys-create": {"name", "type", "derived", "convergent_encryption", "exportable",
                    "allow_plaintext_backup", "context", "auto_rotate_period", "key_size",
                    "managed_key_name", "managed_key_id", "parameter_set",
                    "hybrid_key_type_pqc", "hybrid_key_type_ec"},
    "keys-read": {"name", "context"},
    "sign": {"name", "key_version", "hash_algorithm", "algorithm", "urlalgorithm", "input",
             "reference", "batch_input", "context", "prehashed", "signature_algorithm",
             "marshaling_algorithm", "salt_length"},
    "verify": {"name", "hash_algorithm", "algorithm", "urlalgorithm", "input", "signature",
               "hmac", "cmac", "reference", "batch_input", "context", "prehashed",
               "signature_algorithm", "marshaling_algorithm", "salt_length"},
    "keys-rotate": {"name", "managed_key_name", "managed_key_id"},
    "keys-config": {"name", "min_decryption_version", "min_encryption_version",
                    "deletion_allowed", "exportable", "allow_plaintext_backup",
                    "auto_rotate_period"},
}


class InternalError(Exception):
    """errutil.InternalError: answered 500 with the message in a multierror."""


def preloaded_secret(ns, mount, name, version, size):
    # Fixed per key version so that ciphertexts of the preloaded keys survive a restart.
    seed = "p11kms vault test key|%s|%s|%s|%d" % (ns, mount, name, version)
    return hashlib.sha256(seed.encode()).digest()[:size]


class TransitKey:
    def __init__(self, name, key_type="aes256-gcm96", derived=False):
        self.name = name
        self.type = key_type
        self.derived = derived
        self.exportable = False
        self.allow_plaintext_backup = False
        self.deletion_allowed = False
        self.auto_rotate_period = 0
        self.min_decryption_version = 1
        self.min_encryption_version = 0
        self.versions = {}          # version -> (secret, unix creation time)

    @property
    def latest_version(self):
        return max(self.versions) if self.versions else 0

    def rotate(self, secret=None, created=None):
        size = KEY_TYPES[self.type]
        ver = self.latest_version + 1
        self.versions[ver] = (secret if secret is not None else os.urandom(size),
                              int(created if created is not None else time.time()))
        return ver

    # ---- persistence -----------------------------------------------------------------------

    def to_json(self):
        return {"name": self.name, "type": self.type, "derived": self.derived,
                "exportable": self.exportable,
                "allow_plaintext_backup": self.allow_plaintext_backup,
                "deletion_allowed": self.deletion_allowed,
                "auto_rotate_period": self.auto_rotate_period,
                "min_decryption_version": self.min_decryption_version,
                "min_encryption_version": self.min_encryption_version,
                "versions": {str(v): [b64(s), c] for v, (s, c) in self.versions.items()}}

    @classmethod
    def from_json(cls, d):
        key = cls(d["name"], d["type"], d["derived"])
        for attr in ("exportable", "allow_plaintext_backup", "deletion_allowed",
                     "auto_rotate_period", "min_decryption_version", "min_encryption_version"):
            setattr(key, attr, d[attr])
        key.versions = {int(v): (go_b64decode(s), c) for v, (s, c) in d["versions"].items()}
        return key

    # ---- keysutil.Policy -------------------------------------------------------------------

    def describe(self):
        """formatKeyPolicy: what GET keys/:name answers."""
        data = {
            "name": self.name, "type": self.type, "derived": self.derived,
            "deletion_allowed": self.deletion_allowed, "min_available_version": 0,
            "min_decryption_version": self.min_decryption_version,
            "min_encryption_version": self.min_encryption_version,
            "latest_version": self.latest_version, "exportable": self.exportable,
            "allow_plaintext_backup": self.allow_plaintext_backup,
            "supports_encryption": True, "supports_decryption": True,
            "supports_signing": False, "supports_derivation": True,
            "auto_rotate_period": self.auto_rotate_period, "imported_key": False,
            # Versions below min_decryption_version are archived and not listed.
            "keys": {str(v): c for v, (_, c) in sorted(self.versions.items())
                     if v >= self.min_decryption_version},
        }
        if self.derived:
            data["kdf"] = "hkdf_sha256"
            data["convergent_encryption"] = False
        return data

    def _entry(self, ver):
        if ver < self.min_decryption_version or ver not in self.versions:
            raise user_error("no such key version")
        return self.versions[ver][0]

    def get_key(self, context, ver):
        if not self.derived:
            return self._entry(ver)
        if ver <= 0 or ver > self.latest_version:
            raise user_error("invalid key version")
        if not context:
            raise user_error(MISSING_CONTEXT)
        master = self._entry(ver)
        return HKDF(algorithm=hashes.SHA256(), length=KEY_TYPES[self.type], salt=None,
                    info=context).derive(master)

    def _aead(self, key):
        return ChaCha20Poly1305(key) if self.type == "chacha20-poly1305" else AESGCM(key)

    def encrypt(self, ver, context, plaintext_b64, aad_b64):
        """EncryptWithFactory: answers (ciphertext, version used)."""
        try:
            plaintext = go_b64decode(plaintext_b64)
        except B64Error as e:
            raise user_error(str(e))
        if ver == 0:
            ver = self.latest_version
        elif ver < 0:
            raise user_error("requested version for encryption is negative")
        elif ver > self.latest_version:
            raise user_error("requested version for encryption is higher than the latest key "
                             "version")
        elif ver < self.min_encryption_version:
            raise user_error("requested version for encryption is less than the minimum "
                             "encryption key version")
        key = self.get_key(context, ver)
        aad = _associated_data(aad_b64)
        nonce = os.urandom(NONCE_LEN)
        sealed = self._aead(key).encrypt(nonce, plaintext, aad)
        return "vault:v%d:%s" % (ver, b64(nonce + sealed)), ver

    def decrypt(self, context, ciphertext, aad_b64):
        """DecryptWithFactory: answers the plaintext, base64."""
        if not ciphertext.startswith("vault:v"):
            raise user_error("invalid ciphertext: no prefix")
        parts = ciphertext[len("vault:v"):].split(":", 1)
        if len(parts) != 2:
            raise user_error("invalid ciphertext: wrong number of fields")
        ver = go_atoi(parts[0])
        if ver is None:
            raise user_error("invalid ciphertext: version number could not be decoded")
        if ver == 0:
            ver = 1     # compatibility with keys that started at version 0
        if ver > self.latest_version:
            raise user_error("invalid ciphertext: version is too new")
        if self.min_decryption_version > 0 and ver < self.min_decryption_version:
            raise user_error(ERR_TOO_OLD)
        try:
            raw = go_b64decode(parts[1])
        except B64Error:
            raise user_error("invalid ciphertext: could not decode base64")
        key = self.get_key(context, ver)
        aad = _associated_data(aad_b64)
        if len(raw) < NONCE_LEN:
            raise user_error("invalid ciphertext length")
        try:
            plain = self._aead(key).decrypt(raw[:NONCE_LEN], raw[NONCE_LEN:], aad)
        except InvalidTag:
            raise user_error("chacha20poly1305: message authentication failed"
                             if self.type == "chacha20-poly1305"
                             else "cipher: message authentication failed")
        return b64(plain)


def _associated_data(aad_b64):
    if not aad_b64:
        return None
    try:
        return go_b64decode(aad_b64)
    except B64Error as e:
        raise InternalError("unable to get associated_data/additional_data from factory[0]: %s"
                            % e)


# ---- endpoints ----------------------------------------------------------------------------


class Request:
    """What a transit endpoint needs from the HTTP layer."""

    def __init__(self, op, name, data, mount, config, create=False, path_arg=None):
        self.op = op                # encrypt, decrypt, ...
        self.name = name            # key name from the path
        self.data = data            # request JSON object
        self.mount = mount          # vault_store.TransitMount
        self.config = config        # the server's control config
        self.create = create        # ACL said create (key missing, create capability held)
        self.path_arg = path_arg    # datakey: "plaintext" or "wrapped"
        self.warnings = []

    def supports_aad(self):
        return self.config["associated_data"] == "supported" and self.op in ("encrypt",
                                                                              "decrypt")

    def aad(self, item):
        return get_str(item, "associated_data") if self.supports_aad() else ""


def _batch_items(req, required):
    raw = req.data.get("batch_input")
    if raw is None:
        return None
    if not isinstance(raw, list):
        raise InternalError("failed to parse batch input: source data must be an array or "
                            "slice, got map[string]interface {}"
                            if isinstance(raw, dict) else
                            "failed to parse batch input: source data must be an array or "
                            "slice, got %s" % type(raw).__name__)
    if not raw:
        raise user_error("missing batch input to process")
    for i, item in enumerate(raw):
        if not isinstance(item, dict):
            raise InternalError("failed to parse batch input: [%d] expected a map, got '%s'"
                                % (i, type(item).__name__))
        if required not in item:
            raise InternalError("failed to parse batch input: 1 error(s) decoding:\n\n* "
                                "'[%d].%s' missing %s to %s" % (
                                    i, required, required,
                                    "encrypt" if required == "plaintext" else "decrypt"))
    return raw


def _finish(req, results, single, successes, user_err, internal_err, extra_single):
    """batchRequestResponse plus the single-item error mapping."""
    if single:
        item = results[0]
        if item.get("error"):
            if internal_err:
                raise VaultError(500, [multierror(item["error"])])
            raise user_error(item["error"])
        return extra_single(item)
    data = {"batch_results": results}
    if user_err or internal_err:
        status = 400 if user_err else 500
        code = req.data.get("partial_failure_response_code")
        if code is not None and successes:
            code = get_int(req.data, "partial_failure_response_code")
            if 1 <= code <= 599:
                status = code
            else:
                req.warnings.append("invalid HTTP response code override from "
                                    "partial_failure_response_code, reverting to %d" % status)
        raise StatusResponse(status, data)
    return data


def _context_all_or_none(items):
    context_set = bool(get_str(items[0], "context"))
    for item in items:
        if bool(get_str(item, "context")) != context_set:
            raise user_error("context should be set either in all the request blocks or in "
                             "none")
    return context_set


def _decode_item_b64(item, field, out):
    value = get_str(item, field)
    if not value or out.get("error"):
        return b""
    try:
        return go_b64decode(value)
    except B64Error as e:
        out["error"] = str(e)
        return None


def encrypt(req):
    items = _batch_items(req, "plaintext")
    single = items is None
    if single:
        if req.data.get("plaintext") is None:
            raise user_error("missing plaintext to encrypt")
        items = [req.data]
    context_set = _context_all_or_none(items)
    results = [{} for _ in items]
    contexts = []
    for item, out in zip(items, results):
        try:
            go_b64decode(get_str(item, "plaintext"))
        except B64Error as e:
            out["error"] = str(e)
        contexts.append(_decode_item_b64(item, "context", out))
        _decode_item_b64(item, "nonce", out)
    key = req.mount.keys.get(req.name)
    if key is None:
        if not req.create:
            raise user_error(KEY_NOT_FOUND)
        key = _upsert(req, context_set)
    successes = user_err = internal_err = False
    for item, out, context in zip(items, results, contexts):
        if "reference" in item:
            out["reference"] = get_str(item, "reference")
        if out.get("error"):
            user_err = True
            continue
        if get_str(item, "nonce"):
            out["error"] = NONCE_NOT_ALLOWED
            user_err = True
            continue
        try:
            out["ciphertext"], out["key_version"] = key.encrypt(
                get_int(item, "key_version"), context, get_str(item, "plaintext"),
                req.aad(item))
            successes = True
        except InternalError as e:
            out["error"] = str(e)
            internal_err = True
        except VaultError as e:
            out["error"] = e.errors[0]
            user_err = True
    if not single:
        for out in results:
            out.setdefault("reference", "")
            if not req.config["key_version_in_response"]:
                out.pop("key_version", None)
    return _finish(req, results, single, successes, user_err, internal_err,
                   lambda r: _with_version(req, {"ciphertext": r["ciphertext"]},
                                           r["key_version"]))


def _with_version(req, data, version):
    if req.config["key_version_in_response"]:
        data["key_version"] = version
    return data


def _upsert(req, derived):
    key_type = get_str(req.data, "type", "aes256-gcm96")
    if get_bool(req.data, "convergent_encryption"):
        raise user_error("convergent encryption is not supported by the p11kms test server")
    if key_type in OTHER_VAULT_TYPES:
        raise user_error("key type %s not supported for this operation" % key_type)
    if key_type not in KEY_TYPES:
        raise user_error("unknown key type %s" % key_type)
    key = TransitKey(req.name, key_type, derived)
    key.rotate()
    req.mount.keys[req.name] = key
    return key


def decrypt(req):
    items = _batch_items(req, "ciphertext")
    single = items is None
    if single:
        if not get_str(req.data, "ciphertext"):
            raise user_error("missing ciphertext to decrypt")
        items = [req.data]
    _context_all_or_none(items)
    results = [{} for _ in items]
    contexts = []
    for item, out in zip(items, results):
        if not get_str(item, "ciphertext"):
            out["error"] = "missing ciphertext to decrypt"
        contexts.append(_decode_item_b64(item, "context", out))
        _decode_item_b64(item, "nonce", out)
    key = req.mount.keys.get(req.name)
    if key is None:
        raise user_error(KEY_NOT_FOUND)
    successes = user_err = internal_err = False
    for item, out, context in zip(items, results, contexts):
        if out.get("error"):
            user_err = True
            continue
        try:
            out["plaintext"] = key.decrypt(context, get_str(item, "ciphertext"), req.aad(item))
            successes = True
        except InternalError as e:
            out["error"] = str(e)
            internal_err = True
        except VaultError as e:
            out["error"] = e.errors[0]
            user_err = True
    if not single:
        for item, out in zip(items, results):
            out.setdefault("plaintext", "")
            out["reference"] = get_str(item, "reference")
    return _finish(req, results, single, successes, user_err, internal_err,
                   lambda r: {"plaintext": r["plaintext"]})


def rewrap(req):
    """Decrypt then encrypt under the latest (or key_version) version; associated_data is not
    a rewrap parameter in any Vault release, so AAD-bound ciphertexts cannot be rewrapped."""
    items = _batch_items(req, "ciphertext")
    single = items is None
    if single:
        if not get_str(req.data, "ciphertext"):
            raise user_error("missing ciphertext to decrypt")
        items = [req.data]
    _context_all_or_none(items)
    results = [{} for _ in items]
    contexts = []
    for item, out in zip(items, results):
        if not get_str(item, "ciphertext"):
            out["error"] = "missing ciphertext to decrypt"
        contexts.append(_decode_item_b64(item, "context", out))
        _decode_item_b64(item, "nonce", out)
    key = req.mount.keys.get(req.name)
    if key is None:
        raise user_error(KEY_NOT_FOUND)
    successes = user_err = False
    for item, out, context in zip(items, results, contexts):
        if out.get("error"):
            user_err = True
            continue
        if get_str(item, "nonce"):
            out["error"] = NONCE_NOT_ALLOWED
            user_err = True
            continue
        try:
            plain = key.decrypt(context, get_str(item, "ciphertext"), "")
            out["ciphertext"], out["key_version"] = key.encrypt(
                get_int(item, "key_version"), context, plain, "")
            successes = True
        except InternalError as e:
            raise VaultError(500, [multierror(str(e))])
        except VaultError as e:
            out["error"] = e.errors[0]
            user_err = True
    if not single:
        for item, out in zip(items, results):
            out["reference"] = get_str(item, "reference")
            if not req.config["key_version_in_response"]:
                out.pop("key_version", None)
        return {"batch_results": results}     # rewrap answers 200 even with failed items
    return _finish(req, results, single, successes, user_err, False,
                   lambda r: _with_version(req, {"ciphertext": r["ciphertext"]},
                                           r["key_version"]))


def datakey(req):
    if req.path_arg not in ("plaintext", "wrapped"):
        raise user_error("Invalid path, must be 'plaintext' or 'wrapped'")
    context = b""
    if get_str(req.data, "context"):
        try:
            context = go_b64decode(get_str(req.data, "context"))
        except B64Error:
            raise user_error("failed to base64-decode context")
    nonce = get_str(req.data, "nonce")
    if nonce:
        try:
            go_b64decode(nonce)
        except B64Error:
            raise user_error("failed to base64-decode nonce")
    key = req.mount.keys.get(req.name)
    if key is None:
        raise user_error(KEY_NOT_FOUND)
    bits = get_int(req.data, "bits", 256)
    if bits not in (128, 256, 512):
        raise user_error("invalid bit length")
    new_key = os.urandom(bits // 8)
    ciphertext, ver = key.encrypt(get_int(req.data, "key_version"), context, b64(new_key), "")
    if nonce:
        raise VaultError(500, [multierror(NONCE_NOT_ALLOWED)])
    data = _with_version(req, {"ciphertext": ciphertext}, ver)
    if req.path_arg == "plaintext":
        data["plaintext"] = b64(new_key)
    return data


def keys_create(req):
    derived = get_bool(req.data, "derived")
    convergent = get_bool(req.data, "convergent_encryption")
    key_type = get_str(req.data, "type", "aes256-gcm96")
    period = get_int(req.data, "auto_rotate_period")
    if period != 0 and period < 3600:
        raise user_error("auto rotate period must be 0 to disable or at least an hour")
    if convergent and not derived:
        raise user_error("convergent encryption requires derivation to be enabled")
    if convergent:
        raise user_error("convergent encryption is not supported by the p11kms test server")
    if key_type in OTHER_VAULT_TYPES:
        raise user_error("key type %s is not supported by the p11kms test server" % key_type)
    if key_type not in KEY_TYPES and key_type not in vault_transit_asym.ASYM_TYPES:
        raise user_error("unknown key type %s" % key_type)
    if derived and key_type in vault_transit_asym.ASYM_TYPES:
        raise user_error("key derivation and convergent encryption not supported for keys "
                         "of type %s" % key_type)
    key = req.mount.keys.get(req.name)
    if key is not None:
        req.warnings.append("key %s already existed" % req.name)
        return key.describe()
    if key_type in vault_transit_asym.ASYM_TYPES:
        key = vault_transit_asym.AsymKey(req.name, key_type)
    else:
        key = TransitKey(req.name, key_type, derived)
    key.exportable = get_bool(req.data, "exportable")
    key.allow_plaintext_backup = get_bool(req.data, "allow_plaintext_backup")
    key.auto_rotate_period = period
    key.rotate()
    req.mount.keys[req.name] = key
    return key.describe()


def keys_read(req):
    key = req.mount.keys.get(req.name)
    if key is None:
        return None         # 404 {"errors":[]}
    if get_str(req.data, "context"):
        try:
            go_b64decode(get_str(req.data, "context"))
        except B64Error:
            raise user_error("failed to base64-decode context")
    return key.describe()


def keys_list(req):
    if not req.mount.keys:
        return None
    return {"keys": sorted(req.mount.keys)}


def keys_delete(req):
    key = req.mount.keys.get(req.name)
    if key is None:
        raise user_error("error deleting policy %s: could not delete key; not found"
                         % req.name)
    if not key.deletion_allowed:
        raise user_error("error deleting policy %s: deletion is not allowed for this key"
                         % req.name)
    del req.mount.keys[req.name]
    return None


def keys_rotate(req):
    key = req.mount.keys.get(req.name)
    if key is None:
        raise user_error("key not found")
    key.rotate()
    return key.describe()


def keys_config(req):
    key = req.mount.keys.get(req.name)
    if key is None:
        raise user_error("no existing key named %s could be found" % req.name)
    saved = (key.min_decryption_version, key.min_encryption_version, key.deletion_allowed,
             key.exportable, key.allow_plaintext_backup, key.auto_rotate_period)
    try:
        return _apply_config(req, key)
    except VaultError:
        (key.min_decryption_version, key.min_encryption_version, key.deletion_allowed,
         key.exportable, key.allow_plaintext_backup, key.auto_rotate_period) = saved
        raise


def _apply_config(req, key):
    data = req.data
    if data.get("min_decryption_version") is not None:
        mdv = get_int(data, "min_decryption_version")
        if mdv < 0:
            raise user_error("min decryption version cannot be negative")
        if mdv == 0:
            mdv = 1
            req.warnings.append("since Vault 0.3, transit key numbering starts at 1; forcing "
                                "minimum to 1")
        if mdv != key.min_decryption_version:
            if mdv > key.latest_version:
                raise user_error("cannot set min decryption version of %d, latest key version "
                                 "is %d" % (mdv, key.latest_version))
            key.min_decryption_version = mdv
    if data.get("min_encryption_version") is not None:
        mev = get_int(data, "min_encryption_version")
        if mev < 0:
            raise user_error("min encryption version cannot be negative")
        if mev != key.min_encryption_version:
            if mev > key.latest_version:
                raise user_error("cannot set min encryption version of %d, latest key version "
                                 "is %d" % (mev, key.latest_version))
            key.min_encryption_version = mev
    if 0 < key.min_encryption_version < key.min_decryption_version:
        raise user_error("cannot set min encryption/decryption values; min encryption version "
                         "of %d must be greater than or equal to min decryption version of %d"
                         % (key.min_encryption_version, key.min_decryption_version))
    if data.get("deletion_allowed") is not None:
        key.deletion_allowed = get_bool(data, "deletion_allowed")
    if get_bool(data, "exportable"):
        key.exportable = True
    if get_bool(data, "allow_plaintext_backup"):
        key.allow_plaintext_backup = True
    if data.get("auto_rotate_period") is not None:
        period = get_int(data, "auto_rotate_period")
        if period != 0 and period < 3600:
            raise user_error("auto rotate period must be 0 to disable or at least an hour")
        key.auto_rotate_period = period
    return key.describe()


HANDLERS = {
    "encrypt": encrypt, "decrypt": decrypt, "rewrap": rewrap, "datakey": datakey,
    "keys-create": keys_create, "keys-read": keys_read, "keys-list": keys_list,
    "keys-delete": keys_delete, "keys-rotate": keys_rotate, "keys-config": keys_config,
    "sign": vault_transit_asym.sign, "verify": vault_transit_asym.verify,
}
