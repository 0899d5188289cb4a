# gcp_kms_keys.py - key rings, crypto keys and crypto key versions of the Google Cloud KMS test
# server, their key material (AES-256-GCM, EC and RSA keys) and the opaque ciphertext format.
"""Resource objects and crypto; no locking here (gcp_kms_store.Store.lock guards them)."""

import base64
import hashlib
import secrets
import struct
import time

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from gcp_kms_wire import ALGORITHMS, PROTECTION_LEVELS, PURPOSES, STATES, enum_out, rfc3339

# Ciphertext: magic, format byte, the version's 16-byte uid (so decrypt on the CryptoKey finds
# the version), a 12-byte IV, then AES-256-GCM output. The GCM AAD is the 21-byte header
# followed by the length-prefixed additionalAuthenticatedData.
CT_MAGIC = b"P1GC"
CT_FORMAT = 1
UID_LEN = 16
IV_LEN = 12
TAG_LEN = 16
CT_HEADER_LEN = len(CT_MAGIC) + 1 + UID_LEN
CT_MIN_LEN = CT_HEADER_LEN + IV_LEN + TAG_LEN

# algorithm -> (purpose, kind, parameter, digest name)
ALGORITHM_INFO = {
    "GOOGLE_SYMMETRIC_ENCRYPTION": ("ENCRYPT_DECRYPT", "aes", 256, None),
    "EC_SIGN_P256_SHA256": ("ASYMMETRIC_SIGN", "ec", "P-256", "sha256"),
    "EC_SIGN_P384_SHA384": ("ASYMMETRIC_SIGN", "ec", "P-384", "sha384"),
    "RSA_SIGN_PKCS1_2048_SHA256": ("ASYMMETRIC_SIGN", "rsa-pkcs1", 2048, "sha256"),
    "RSA_SIGN_PKCS1_3072_SHA256": ("ASYMMETRIC_SIGN", "rsa-pkcs1", 3072, "sha256"),
    "RSA_SIGN_PSS_2048_SHA256": ("ASYMMETRIC_SIGN", "rsa-pss", 2048, "sha256"),
    "RSA_SIGN_PSS_3072_SHA256": ("ASYMMETRIC_SIGN", "rsa-pss", 3072, "sha256"),
    "RSA_DECRYPT_OAEP_2048_SHA256": ("ASYMMETRIC_DECRYPT", "rsa-oaep", 2048, "sha256"),
    "RSA_DECRYPT_OAEP_3072_SHA256": ("ASYMMETRIC_DECRYPT", "rsa-oaep", 3072, "sha256"),
    "EC_SIGN_SECP256K1_SHA256": ("ASYMMETRIC_SIGN", "ec", "secp256k1", "sha256"),
    "RSA_SIGN_PKCS1_4096_SHA256": ("ASYMMETRIC_SIGN", "rsa-pkcs1", 4096, "sha256"),
    "RSA_SIGN_PKCS1_4096_SHA512": ("ASYMMETRIC_SIGN", "rsa-pkcs1", 4096, "sha512"),
    "RSA_SIGN_PSS_4096_SHA256": ("ASYMMETRIC_SIGN", "rsa-pss", 4096, "sha256"),
    "RSA_SIGN_PSS_4096_SHA512": ("ASYMMETRIC_SIGN", "rsa-pss", 4096, "sha512"),
    "RSA_DECRYPT_OAEP_4096_SHA256": ("ASYMMETRIC_DECRYPT", "rsa-oaep", 4096, "sha256"),
    "RSA_DECRYPT_OAEP_4096_SHA512": ("ASYMMETRIC_DECRYPT", "rsa-oaep", 4096, "sha512"),
    "RSA_DECRYPT_OAEP_2048_SHA1": ("ASYMMETRIC_DECRYPT", "rsa-oaep", 2048, "sha1"),
    "RSA_DECRYPT_OAEP_3072_SHA1": ("ASYMMETRIC_DECRYPT", "rsa-oaep", 3072, "sha1"),
    "RSA_DECRYPT_OAEP_4096_SHA1": ("ASYMMETRIC_DECRYPT", "rsa-oaep", 4096, "sha1"),
}
_CURVES = {"P-256": ec.SECP256R1, "P-384": ec.SECP384R1, "secp256k1": ec.SECP256K1}
DEFAULT_ALGORITHM = {"ENCRYPT_DECRYPT": "GOOGLE_SYMMETRIC_ENCRYPTION"}
DIGEST_SIZES = {"sha256": 32, "sha384": 48, "sha512": 64}
_HASHES = {"sha1": hashes.SHA1, "sha256": hashes.SHA256, "sha384": hashes.SHA384,
           "sha512": hashes.SHA512}
DESTROY_SCHEDULED_SECONDS = 30 * 24 * 3600


class KeyRing:
    def __init__(self, name, created=None):
        self.name = name
        self.created = created if created is not None else time.time()

    def to_json(self, numeric=False):
        return {"name": self.name, "createTime": rfc3339(self.created)}

    def dump(self):
        return {"name": self.name, "created": self.created}


class Version:
    def __init__(self, key, number, algorithm, protection_level, state="ENABLED", uid=None,
                 secret=None, private_pem=None, created=None):
        self.key = key
        self.number = number
        self.algorithm = algorithm
        self.protection_level = protection_level
        self.state = state
        self.uid = uid or secrets.token_bytes(UID_LEN)
        self.secret = secret
        self.private_pem = private_pem
        self._private = None
        self.fresh = False          # key material made since the last save
        if secret is None and state != "DESTROYED" and ALGORITHM_INFO[algorithm][1] == "aes":
            self.secret = secrets.token_bytes(32)
            self.fresh = True
        self.created = created if created is not None else time.time()
        self.destroy_time = None
        self.destroy_event_time = None

    @property
    def name(self):
        return "%s/cryptoKeyVersions/%d" % (self.key.name, self.number)

    @property
    def kind(self):
        return ALGORITHM_INFO[self.algorithm][1]

    @property
    def digest(self):
        return ALGORITHM_INFO[self.algorithm][3]

    # ---- key material ----------------------------------------------------------------------

    def material(self):
        """The AES key, or the private key object generated on first use (RSA is slow)."""
        if self.kind == "aes":
            return self.secret
        if self._private is None:
            if self.private_pem is None:
                param = ALGORITHM_INFO[self.algorithm][2]
                if self.kind == "ec":
                    priv = ec.generate_private_key(_CURVES[param]())
                else:
                    priv = rsa.generate_private_key(public_exponent=65537, key_size=param)
                self.private_pem = priv.private_bytes(
                    serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                    serialization.NoEncryption()).decode("ascii")
                self.fresh = True
            self._private = serialization.load_pem_private_key(self.private_pem.encode(), None)
        return self._private

    def public_pem(self):
        return self.material().public_key().public_bytes(
            serialization.Encoding.PEM,
            serialization.PublicFormat.SubjectPublicKeyInfo).decode("ascii")

    def public_der(self):
        return self.material().public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)

    # ---- operations ------------------------------------------------------------------------

    def seal(self, plaintext, aad):
        header = CT_MAGIC + bytes([CT_FORMAT]) + self.uid
        iv = secrets.token_bytes(IV_LEN)
        return header + iv + AESGCM(self.material()).encrypt(iv, plaintext, _gcm_aad(header,
                                                                                    aad))

    def open(self, ciphertext, aad):
        """Plaintext, or None when the ciphertext or the AAD do not match."""
        header = ciphertext[:CT_HEADER_LEN]
        iv = ciphertext[CT_HEADER_LEN:CT_HEADER_LEN + IV_LEN]
        try:
            return AESGCM(self.material()).decrypt(iv, ciphertext[CT_HEADER_LEN + IV_LEN:],
                                                   _gcm_aad(header, aad))
        except Exception:      # InvalidTag, or anything else: "decryption failed"
            return None

    def sign(self, digest):
        priv = self.material()
        algo = utils.Prehashed(_HASHES[self.digest]())
        if self.kind == "ec":
            return priv.sign(digest, ec.ECDSA(algo))
        if self.kind == "rsa-pss":
            return priv.sign(digest, padding.PSS(mgf=padding.MGF1(_HASHES[self.digest]()),
                                                 salt_length=DIGEST_SIZES[self.digest]), algo)
        return priv.sign(digest, padding.PKCS1v15(), algo)

    def decrypt_oaep(self, ciphertext):
        try:
            h = _HASHES[self.digest]
            return self.material().decrypt(ciphertext, padding.OAEP(
                mgf=padding.MGF1(algorithm=h()), algorithm=h(), label=None))
        except Exception:      # ValueError on a bad block
            return None

    # ---- JSON ------------------------------------------------------------------------------

    def to_json(self, numeric=False):
        out = {"name": self.name, "state": enum_out(self.state, STATES, numeric),
               "createTime": rfc3339(self.created),
               "protectionLevel": enum_out(self.protection_level, PROTECTION_LEVELS, numeric),
               "algorithm": enum_out(self.algorithm, ALGORITHMS, numeric)}
        if self.state not in ("PENDING_GENERATION",):
            out["generateTime"] = rfc3339(self.created)
        if self.destroy_time is not None:
            out["destroyTime"] = rfc3339(self.destroy_time)
        if self.destroy_event_time is not None:
            out["destroyEventTime"] = rfc3339(self.destroy_event_time)
        return out

    def dump(self):
        return {"number": self.number, "algorithm": self.algorithm,
                "protection_level": self.protection_level, "state": self.state,
                "uid": base64.b64encode(self.uid).decode(),
                "secret": base64.b64encode(self.secret).decode() if self.secret else None,
                "private_pem": self.private_pem, "created": self.created,
                "destroy_time": self.destroy_time,
                "destroy_event_time": self.destroy_event_time}

    @classmethod
    def load(cls, key, d):
        v = cls(key, d["number"], d["algorithm"], d["protection_level"], d["state"],
                base64.b64decode(d["uid"]),
                base64.b64decode(d["secret"]) if d.get("secret") else None,
                d.get("private_pem"), d.get("created"))
        v.destroy_time = d.get("destroy_time")
        v.destroy_event_time = d.get("destroy_event_time")
        return v


class CryptoKey:
    def __init__(self, name, purpose, algorithm, protection_level, created=None):
        self.name = name
        self.purpose = purpose
        self.algorithm = algorithm
        self.protection_level = protection_level
        self.versions = {}          # number -> Version
        self.primary = None         # version number (ENCRYPT_DECRYPT keys only)
        self.next_number = 1
        self.created = created if created is not None else time.time()
        self.labels = {}

    @property
    def key_ring(self):
        return self.name.rsplit("/cryptoKeys/", 1)[0]

    def add_version(self, state="ENABLED", uid=None, secret=None):
        v = Version(self, self.next_number, self.algorithm, self.protection_level, state, uid,
                    secret)
        self.versions[v.number] = v
        self.next_number += 1
        return v

    def primary_version(self):
        return self.versions.get(self.primary) if self.primary is not None else None

    def to_json(self, numeric=False):
        out = {"name": self.name}
        primary = self.primary_version()
        if self.purpose == "ENCRYPT_DECRYPT" and primary is not None:
            out["primary"] = primary.to_json(numeric)
        out.update({
            "purpose": enum_out(self.purpose, PURPOSES, numeric),
            "createTime": rfc3339(self.created),
            "versionTemplate": {
                "protectionLevel": enum_out(self.protection_level, PROTECTION_LEVELS, numeric),
                "algorithm": enum_out(self.algorithm, ALGORITHMS, numeric)},
            "destroyScheduledDuration": "%ds" % DESTROY_SCHEDULED_SECONDS,
        })
        if self.labels:
            out["labels"] = dict(self.labels)
        return out

    def dump(self):
        return {"name": self.name, "purpose": self.purpose, "algorithm": self.algorithm,
                "protection_level": self.protection_level, "primary": self.primary,
                "next_number": self.next_number, "created": self.created,
                "labels": self.labels, "versions": [v.dump() for v in self.versions.values()]}

    @classmethod
    def load(cls, d):
        k = cls(d["name"], d["purpose"], d["algorithm"], d["protection_level"], d["created"])
        k.primary = d.get("primary")
        k.next_number = d["next_number"]
        k.labels = d.get("labels") or {}
        for vd in d["versions"]:
            v = Version.load(k, vd)
            k.versions[v.number] = v
        return k


def _gcm_aad(header, aad):
    return header + struct.pack(">I", len(aad)) + aad


def ciphertext_uid(ciphertext):
    """The version uid a ciphertext names, or None when it is not one of ours."""
    if len(ciphertext) < CT_MIN_LEN or ciphertext[:len(CT_MAGIC)] != CT_MAGIC or \
            ciphertext[len(CT_MAGIC)] != CT_FORMAT:
        return None
    return bytes(ciphertext[len(CT_MAGIC) + 1:CT_HEADER_LEN])


def preloaded_uid(version_name):
    return hashlib.sha256(b"p11kms gcp test uid " + version_name.encode()).digest()[:UID_LEN]


def preloaded_secret(version_name):
    # Fixed per version so ciphertexts of the preloaded keys stay valid across restarts.
    return hashlib.sha256(b"p11kms gcp test server key " + version_name.encode()).digest()
