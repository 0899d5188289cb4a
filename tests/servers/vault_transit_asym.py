# vault_transit_asym.py - asymmetric transit keys of the loopback Vault server: ecdsa-p256/p384/
# p521 and rsa-2048/3072/4096 with versions, sign and verify (prehashed or not, PKCS#1 v1.5 or
# PSS with salt_length, asn1 or jws marshaling), RSA-OAEP SHA-256 encrypt and decrypt.
"""Asymmetric transit keys, with the checks, order and messages of Vault's
builtin/logical/transit/path_sign_verify.go and sdk/helper/keysutil/policy.go, in real crypto
(python3-cryptography)."""

import base64
import hashlib
import time

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils
from cryptography.hazmat.primitives.asymmetric.utils import (decode_dss_signature,
                                                             encode_dss_signature)

from vault_util import (B64Error, VaultError, b64, get_bool, get_int, get_str, go_atoi,
                        go_b64decode, multierror, user_error)

CURVES = {"ecdsa-p256": (ec.SECP256R1, "P-256"), "ecdsa-p384": (ec.SECP384R1, "P-384"),
          "ecdsa-p521": (ec.SECP521R1, "P-521")}
RSA_BITS = {"rsa-2048": 2048, "rsa-3072": 3072, "rsa-4096": 4096}
ASYM_TYPES = tuple(CURVES) + tuple(RSA_BITS)
HASHES = {"sha1": hashes.SHA1, "sha2-224": hashes.SHA224, "sha2-256": hashes.SHA256,
          "sha2-384": hashes.SHA384, "sha2-512": hashes.SHA512, "sha3-224": hashes.SHA3_224,
          "sha3-256": hashes.SHA3_256, "sha3-384": hashes.SHA3_384,
          "sha3-512": hashes.SHA3_512, "none": None}
ERR_TOO_OLD = "ciphertext or signature version is disallowed by policy (too old)"

# RSA keys take a while to make: one per (seed) for the life of the process, so a store reset
# does not make the preloaded keys again.
_RSA_CACHE = {}


def _seed_int(seed):
    return int.from_bytes(hashlib.sha512(seed.encode()).digest(), "big")


def new_private(key_type, seed=None):
    """A fresh private key of key_type; preloaded ones (seed set) are the same for the life of
    the process (EC: derived from the seed, so also across restarts)."""
    if key_type in CURVES:
        curve = CURVES[key_type][0]()
        if seed is None:
            return ec.generate_private_key(curve)
        order = {"ecdsa-p256": 2 ** 256, "ecdsa-p384": 2 ** 384, "ecdsa-p521": 2 ** 521}
        return ec.derive_private_key(_seed_int(seed) % (order[key_type] - 2) + 1, curve)
    if seed is not None and seed in _RSA_CACHE:
        return _RSA_CACHE[seed]
    key = rsa.generate_private_key(public_exponent=65537, key_size=RSA_BITS[key_type])
    if seed is not None:
        _RSA_CACHE[seed] = key
    return key


def _pem_private(key):
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


def public_pem(key):
    """Vault's FormattedPublicKey: PKIX "PUBLIC KEY" PEM for ECDSA and RSA."""
    return key.public_key().public_bytes(serialization.Encoding.PEM,
                                         serialization.PublicFormat.SubjectPublicKeyInfo
                                         ).decode()


def _rfc3339(epoch):
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(epoch)) + ".%09dZ" % 0


class AsymKey:
    """A keysutil.Policy of an asymmetric type: versions -> (private key, creation time)."""

    def __init__(self, name, key_type):
        self.name = name
        self.type = key_type
        self.derived = False
        self.exportable = False
        self.allow_plaintext_backup = False
        self.deletion_allowed = False
        self.auto_rotate_period = 0
        self.min_decryption_version = 1
        self.min_encryption_version = 0
        self.versions = {}

    @property
    def latest_version(self):
        return max(self.versions) if self.versions else 0

    @property
    def is_rsa(self):
        return self.type in RSA_BITS

    def rotate(self, private=None, created=None, seed=None):
        ver = self.latest_version + 1
        self.versions[ver] = (private if private is not None else
                              new_private(self.type, seed and "%s|%d" % (seed, ver)),
                              int(created if created is not None else time.time()))
        return ver

    def to_json(self):
        return {"name": self.name, "type": self.type, "derived": False,
                "exportable": self.exportable,
                "allow_plaintext_backup": self.allow_plaintext_backup,
                "deletion_allowed": self.deletion_allowed,
                "auto_rotate_period": self.auto_rotate_period,
                "min_decryption_version": self.min_decryption_version,
                "min_encryption_version": self.min_encryption_version,
                "versions": {str(v): [_pem_private(k), c] for v, (k, c) in self.versions.items()}}

    @classmethod
    def from_json(cls, d):
        key = cls(d["name"], d["type"])
        for attr in ("exportable", "allow_plaintext_backup", "deletion_allowed",
                     "auto_rotate_period", "min_decryption_version", "min_encryption_version"):
            setattr(key, attr, d[attr])
        key.versions = {int(v): (serialization.load_pem_private_key(p.encode(), None), c)
                        for v, (p, c) in d["versions"].items()}
        return key

    def describe(self):
        """formatKeyPolicy for an asymmetric key: each version's name, creation time and
        public key."""
        keys = {}
        for v, (k, c) in sorted(self.versions.items()):
            if v < self.min_decryption_version:
                continue
            keys[str(v)] = {"name": CURVES[self.type][1] if self.type in CURVES else self.type,
                            "creation_time": _rfc3339(c), "public_key": public_pem(k)}
        return {
            "name": self.name, "type": self.type, "derived": False,
            "deletion_allowed": self.deletion_allowed, "min_available_version": 0,
            "min_decryption_version": self.min_decryption_version,
            "min_encryption_version": self.min_encryption_version,
            "latest_version": self.latest_version, "exportable": self.exportable,
            "allow_plaintext_backup": self.allow_plaintext_backup,
            "supports_encryption": self.is_rsa, "supports_decryption": self.is_rsa,
            "supports_signing": True, "supports_derivation": False,
            "auto_rotate_period": self.auto_rotate_period, "imported_key": False,
            "keys": keys,
        }

    # ---- versions ------------------------------------------------------------------------

    def _signing_version(self, ver):
        if ver == 0:
            return self.latest_version
        if ver < 0:
            raise user_error("requested version for signing is negative")
        if ver > self.latest_version:
            raise user_error("requested version for signing is higher than the latest key "
                             "version")
        if self.min_encryption_version > 0 and ver < self.min_encryption_version:
            raise user_error("requested version for signing is less than the minimum "
                             "encryption key version")
        return ver

    def _prefixed(self, text, what):
        if not text.startswith("vault:v"):
            raise user_error("invalid %s: no prefix" % what)
        parts = text[len("vault:v"):].split(":", 1)
        if len(parts) != 2:
            raise user_error("invalid %s: wrong number of fields" % what)
        ver = go_atoi(parts[0])
        if ver is None:
            raise user_error("invalid %s: version number could not be decoded" % what)
        if ver == 0:
            ver = 1
        if ver > self.latest_version:
            raise user_error("invalid %s: version is too new" % what)
        if self.min_decryption_version > 0 and ver < self.min_decryption_version:
            raise user_error(ERR_TOO_OLD)
        return ver, parts[1]

    # ---- sign and verify ------------------------------------------------------------------

    def sign(self, ver, digest, opts):
        """SignWithOptions: the signature of an already hashed input."""
        ver = self._signing_version(ver)
        key = self.versions[ver][0]
        if self.type in CURVES:
            size = {20: hashes.SHA1(), 28: hashes.SHA224(), 32: hashes.SHA256(),
                    48: hashes.SHA384(), 64: hashes.SHA512()}.get(len(digest))
            if size is None:
                raise user_error("unsupported digest length %d for ECDSA" % len(digest))
            der = key.sign(digest, ec.ECDSA(utils.Prehashed(size)))
            if opts["marshaling"] == "jws":
                r, s = decode_dss_signature(der)
                n = (key.curve.key_size + 7) // 8
                raw = r.to_bytes(n, "big") + s.to_bytes(n, "big")
                return "vault:v%d:%s" % (ver, base64.urlsafe_b64encode(raw).decode()
                                         .rstrip("=")), ver
            return "vault:v%d:%s" % (ver, b64(der)), ver
        algo = HASHES[opts["hash"]]
        if algo is None or len(digest) != algo.digest_size:
            raise VaultError(500, [multierror("crypto/rsa: input must be hashed message")])
        if opts["sig"] == "pkcs1v15":
            pad = padding.PKCS1v15()
        elif opts["sig"] == "pss":
            pad = padding.PSS(mgf=padding.MGF1(algo()), salt_length=opts["salt"]
                              if opts["salt"] is not None else padding.PSS.MAX_LENGTH)
        else:
            raise VaultError(500, [multierror("unsupported rsa signature algorithm %s"
                                              % opts["sig"])])
        sig = key.sign(digest, pad, utils.Prehashed(algo()))
        return "vault:v%d:%s" % (ver, b64(sig)), ver

    def verify(self, digest, signature, opts):
        ver, body = self._prefixed(signature, "signature")
        key = self.versions[ver][0].public_key()
        try:
            if self.type in CURVES:
                if opts["marshaling"] == "jws":
                    raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
                    n = len(raw) // 2
                    sig = encode_dss_signature(int.from_bytes(raw[:n], "big"),
                                               int.from_bytes(raw[n:], "big"))
                else:
                    sig = go_b64decode(body)
                size = {20: hashes.SHA1(), 28: hashes.SHA224(), 32: hashes.SHA256(),
                        48: hashes.SHA384(), 64: hashes.SHA512()}.get(len(digest))
                if size is None:
                    return False
                key.verify(sig, digest, ec.ECDSA(utils.Prehashed(size)))
                return True
            sig = go_b64decode(body)
            algo = HASHES[opts["hash"]]
            if algo is None or len(digest) != algo.digest_size:
                return False
            if opts["sig"] == "pkcs1v15":
                pad = padding.PKCS1v15()
            else:
                pad = padding.PSS(mgf=padding.MGF1(algo()), salt_length=opts["salt"]
                                  if opts["salt"] is not None else padding.PSS.AUTO)
            key.verify(sig, digest, pad, utils.Prehashed(algo()))
            return True
        except (InvalidSignature, ValueError, B64Error):
            return False

    # ---- RSA encrypt and decrypt ------------------------------------------------------------

    def _oaep(self):
        return padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(),
                            label=None)

    def encrypt(self, ver, context, plaintext_b64, aad_b64):
        if not self.is_rsa:
            raise user_error("message encryption not supported for key type %s" % self.type)
        try:
            plaintext = go_b64decode(plaintext_b64)
        except B64Error as e:
            raise user_error(str(e))
        if ver == 0:
            ver = self.latest_version
        elif ver < 0 or ver > self.latest_version or ver < self.min_encryption_version:
            raise user_error("requested version for encryption is out of range")
        try:
            ct = self.versions[ver][0].public_key().encrypt(plaintext, self._oaep())
        except ValueError as e:
            from vault_transit import InternalError
            raise InternalError("failed to RSA encrypt the plaintext: %s" % e)
        return "vault:v%d:%s" % (ver, b64(ct)), ver

    def decrypt(self, context, ciphertext, aad_b64):
        if not self.is_rsa:
            raise user_error("message decryption not supported for key type %s" % self.type)
        ver, body = self._prefixed(ciphertext, "ciphertext")
        try:
            raw = go_b64decode(body)
        except B64Error:
            raise user_error("invalid ciphertext: could not decode base64")
        try:
            plain = self.versions[ver][0].decrypt(raw, self._oaep())
        except ValueError:
            # keysutil: an errutil.InternalError, so HTTP 500
            from vault_transit import InternalError
            raise InternalError("failed to RSA decrypt the ciphertext: crypto/rsa: decryption "
                                "error")
        return b64(plain)


# ---- endpoints ----------------------------------------------------------------------------


def _options(req):
    """The request's hash, marshaling, signature algorithm and salt length, checked as
    pathSignWrite checks them (before the key is looked up)."""
    data = req.data
    name = req.path_arg or get_str(data, "hash_algorithm") or get_str(data, "algorithm") \
        or "sha2-256"
    if name not in HASHES:
        raise user_error("invalid hash algorithm %s" % name)
    marshaling = get_str(data, "marshaling_algorithm") or "asn1"
    if marshaling not in ("asn1", "jws"):
        raise user_error("invalid marshaling type %s" % marshaling)
    salt = get_str(data, "salt_length") or "auto"
    if salt == "auto":
        salt_len = None
    elif salt == "hash":
        salt_len = -1
    else:
        salt_len = go_atoi(salt)
        if salt_len is None or salt_len < 0:
            raise user_error("salt length must be \"auto\", \"hash\" or a positive integer")
    return {"hash": name, "marshaling": marshaling,
            "sig": get_str(data, "signature_algorithm") or "pss", "salt": salt_len,
            "prehashed": get_bool(data, "prehashed")}


def _input(req, opts):
    try:
        data = go_b64decode(get_str(req.data, "input"))
    except B64Error as e:
        raise user_error("unable to decode input as base64: %s" % e)
    if opts["prehashed"] or opts["hash"] == "none":
        return data
    return hashlib.new(HASHES[opts["hash"]].name, data).digest()


def _key(req, kind):
    from vault_transit import KEY_NOT_FOUND
    key = req.mount.keys.get(req.name)
    if key is None:
        raise user_error("signing key not found" if kind == "sign" else KEY_NOT_FOUND)
    if not isinstance(key, AsymKey):
        raise user_error("key type %s does not support %s" % (key.type, "signing"
                                                              if kind == "sign" else
                                                              "verification"))
    return key


def _salt(key, opts, digest_size):
    if opts["salt"] == -1:
        opts["salt"] = digest_size
    return opts


def sign(req):
    opts = _options(req)
    key = _key(req, "sign")
    if opts["hash"] == "none" and (not opts["prehashed"] or opts["sig"] != "pkcs1v15"):
        raise user_error("hash_algorithm=none requires both prehashed=true and "
                         "signature_algorithm=pkcs1v15")
    if req.data.get("batch_input") is not None:
        raise user_error("batch_input is not supported for signing by the p11kms test server")
    digest = _input(req, opts)
    if key.is_rsa and HASHES[opts["hash"]] is not None:
        _salt(key, opts, HASHES[opts["hash"]].digest_size)
    signature, ver = key.sign(get_int(req.data, "key_version"), digest, opts)
    data = {"signature": signature}
    if req.config["key_version_in_response"]:
        data["key_version"] = ver
    return data


def verify(req):
    opts = _options(req)
    key = _key(req, "verify")
    signature = get_str(req.data, "signature")
    if not signature:
        raise user_error("missing signature")
    digest = _input(req, opts)
    if key.is_rsa and HASHES[opts["hash"]] is not None:
        _salt(key, opts, HASHES[opts["hash"]].digest_size)
    return {"valid": key.verify(digest, signature, opts)}


def key_from_json(d):
    """A stored transit key of either kind."""
    if d["type"] in ASYM_TYPES:
        return AsymKey.from_json(d)
    from vault_transit import TransitKey
    return TransitKey.from_json(d)
