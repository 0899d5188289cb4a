# aws_kms_asym.py - the asymmetric key material of the AWS KMS test server: which key specs,
# usages and algorithms AWS pairs, key generation (random, or deterministic from a seed for the
# preloaded keys), and real RSA/ECDSA signing and RSA-OAEP with python3-cryptography.
"""Asymmetric KMS keys without HTTP or state: spec tables and crypto primitives."""

import base64
import hashlib
import math
from collections import namedtuple

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils

SYMMETRIC = "SYMMETRIC_DEFAULT"
ENCRYPT_DECRYPT = "ENCRYPT_DECRYPT"
SIGN_VERIFY = "SIGN_VERIFY"

# The enum values of the botocore 1.29 model (Debian 12), listed as AWS lists them in its
# "Member must satisfy enum value set" messages where a recorded answer shows the order
# (keySpec, keyUsage: us-east-1, where SM2 is not offered), else in model order.
KEY_SPEC_ENUM = ("RSA_2048", "ECC_NIST_P384", "ECC_NIST_P256", "ECC_NIST_P521", "HMAC_384",
                 "RSA_3072", "ECC_SECG_P256K1", "RSA_4096", "SYMMETRIC_DEFAULT", "HMAC_256",
                 "HMAC_224", "HMAC_512")
KEY_USAGE_ENUM = (ENCRYPT_DECRYPT, SIGN_VERIFY, "GENERATE_VERIFY_MAC")
SIGNING_ENUM = ("RSASSA_PSS_SHA_256", "RSASSA_PSS_SHA_384", "RSASSA_PSS_SHA_512",
                "RSASSA_PKCS1_V1_5_SHA_256", "RSASSA_PKCS1_V1_5_SHA_384",
                "RSASSA_PKCS1_V1_5_SHA_512", "ECDSA_SHA_256", "ECDSA_SHA_384", "ECDSA_SHA_512",
                "SM2DSA")
ENCRYPTION_ENUM = (SYMMETRIC, "RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256", "SM2PKE")
MESSAGE_TYPE_ENUM = ("RAW", "DIGEST")

RSA_SIGNING = ("RSASSA_PKCS1_V1_5_SHA_256", "RSASSA_PKCS1_V1_5_SHA_384",
               "RSASSA_PKCS1_V1_5_SHA_512", "RSASSA_PSS_SHA_256", "RSASSA_PSS_SHA_384",
               "RSASSA_PSS_SHA_512")
RSA_ENCRYPTION = ("RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256")

# kind, size in bits (RSA) or curve class (EC), usages, and the algorithm lists in AWS's order
# (KeyMetadata / GetPublicKey). An EC curve signs with exactly one ECDSA hash, as on AWS.
Spec = namedtuple("Spec", "kind size curve usages signing encryption")
SPECS = {
    "RSA_2048": Spec("rsa", 2048, None, (ENCRYPT_DECRYPT, SIGN_VERIFY), RSA_SIGNING,
                     RSA_ENCRYPTION),
    "RSA_3072": Spec("rsa", 3072, None, (ENCRYPT_DECRYPT, SIGN_VERIFY), RSA_SIGNING,
                     RSA_ENCRYPTION),
    "RSA_4096": Spec("rsa", 4096, None, (ENCRYPT_DECRYPT, SIGN_VERIFY), RSA_SIGNING,
                     RSA_ENCRYPTION),
    "ECC_NIST_P256": Spec("ec", 256, ec.SECP256R1, (SIGN_VERIFY,), ("ECDSA_SHA_256",), ()),
    "ECC_NIST_P384": Spec("ec", 384, ec.SECP384R1, (SIGN_VERIFY,), ("ECDSA_SHA_384",), ()),
    "ECC_NIST_P521": Spec("ec", 521, ec.SECP521R1, (SIGN_VERIFY,), ("ECDSA_SHA_512",), ()),
    "ECC_SECG_P256K1": Spec("ec", 256, ec.SECP256K1, (SIGN_VERIFY,), ("ECDSA_SHA_256",), ()),
}

# Signing algorithm -> (scheme, hash). PSS uses MGF1 with the same hash and a salt as long as
# the hash, which is what AWS KMS signs with.
SIGNING = {
    "RSASSA_PKCS1_V1_5_SHA_256": ("pkcs1", hashes.SHA256),
    "RSASSA_PKCS1_V1_5_SHA_384": ("pkcs1", hashes.SHA384),
    "RSASSA_PKCS1_V1_5_SHA_512": ("pkcs1", hashes.SHA512),
    "RSASSA_PSS_SHA_256": ("pss", hashes.SHA256),
    "RSASSA_PSS_SHA_384": ("pss", hashes.SHA384),
    "RSASSA_PSS_SHA_512": ("pss", hashes.SHA512),
    "ECDSA_SHA_256": ("ecdsa", hashes.SHA256),
    "ECDSA_SHA_384": ("ecdsa", hashes.SHA384),
    "ECDSA_SHA_512": ("ecdsa", hashes.SHA512),
}
# OAEP: the label is empty and MGF1 uses the same hash.
OAEP = {"RSAES_OAEP_SHA_1": hashes.SHA1, "RSAES_OAEP_SHA_256": hashes.SHA256}

RSA_EXPONENT = 65537


def spec_of(name):
    return SPECS.get(name)


def algorithms(spec_name, usage):
    """(field name, list) for KeyMetadata/GetPublicKey, or (None, None) for symmetric keys."""
    spec = SPECS[spec_name]
    if usage == SIGN_VERIFY:
        return "SigningAlgorithms", list(spec.signing)
    return "EncryptionAlgorithms", list(spec.encryption)


def digest_length(alg):
    return SIGNING[alg][1].digest_size


def max_plaintext(spec_name, alg):
    """Longest OAEP plaintext: k - 2*hLen - 2 (RFC 8017 7.1.1)."""
    return SPECS[spec_name].size // 8 - 2 * OAEP[alg].digest_size - 2


# ---- key material ------------------------------------------------------------------------

def generate(spec_name):
    spec = SPECS[spec_name]
    if spec.kind == "rsa":
        return rsa.generate_private_key(RSA_EXPONENT, spec.size)
    return ec.generate_private_key(spec.curve())


class _Stream:
    """SHA-512 in counter mode over a seed: a reproducible byte stream, so a preloaded key is
    the same on every machine and after every reset, without keeping key files in git."""

    def __init__(self, seed):
        self.seed = seed
        self.counter = 0

    def take(self, n):
        out = b""
        while len(out) < n:
            out += hashlib.sha512(self.seed + self.counter.to_bytes(8, "big")).digest()
            self.counter += 1
        return out[:n]

    def bits(self, nbits):
        nbytes = (nbits + 7) // 8
        return int.from_bytes(self.take(nbytes), "big") >> (8 * nbytes - nbits)


_SMALL_PRIMES = [p for p in range(3, 20000) if all(p % d for d in range(2, math.isqrt(p) + 1))]


def _probable_prime(n, stream, rounds=24):
    """Miller-Rabin: base 2 first (rejects almost every composite cheaply), then bases from the
    stream (error below 4**-24 for these random candidates; they are checked again by
    cryptography when the key is built)."""
    d, r = n - 1, 0
    while d % 2 == 0:
        d //= 2
        r += 1
    for i in range(rounds):
        a = 2 if i == 0 else 2 + stream.bits(n.bit_length()) % (n - 3)
        x = pow(a, d, n)
        if x in (1, n - 1):
            continue
        for _ in range(r - 1):
            x = pow(x, 2, n)
            if x == n - 1:
                break
        else:
            return False
    return True


def _rsa_prime(nbits, stream):
    """A prime of exactly nbits bits with its top two bits set (so p*q has 2*nbits bits):
    sieve a window of odd numbers after a random start, then test the survivors."""
    window = 2 * nbits
    while True:
        start = stream.bits(nbits) | (3 << (nbits - 2)) | 1
        composite = bytearray(window)
        for p in _SMALL_PRIMES:
            # start + 2j is a multiple of p when j = -start / 2 (mod p)
            j = (-(start % p) * ((p + 1) // 2)) % p
            composite[j::p] = b"\x01" * len(range(j, window, p))
        for j in range(window):
            c = start + 2 * j
            if c >> (nbits - 2) != 3:
                break
            if composite[j] or math.gcd(RSA_EXPONENT, c - 1) != 1:
                continue
            if _probable_prime(c, stream):
                return c


def generate_deterministic(spec_name, seed):
    """The same private key for the same (spec, seed), every time."""
    spec = SPECS[spec_name]
    stream = _Stream(b"p11kms-aws-test-key|" + spec_name.encode() + b"|" + seed)
    if spec.kind == "ec":
        # One bit shorter than the group order, so always in 1..n-1.
        value = stream.bits(spec.curve.key_size - 1) + 1
        return ec.derive_private_key(value, spec.curve())
    half = spec.size // 2
    p = _rsa_prime(half, stream)
    q = _rsa_prime(half, stream)
    while q == p:
        q = _rsa_prime(half, stream)
    n = p * q
    d = pow(RSA_EXPONENT, -1, (p - 1) * (q - 1) // math.gcd(p - 1, q - 1))
    numbers = rsa.RSAPrivateNumbers(p, q, d, rsa.rsa_crt_dmp1(d, p), rsa.rsa_crt_dmq1(d, q),
                                    rsa.rsa_crt_iqmp(p, q), rsa.RSAPublicNumbers(RSA_EXPONENT, n))
    return numbers.private_key()


def matches_spec(private, spec_name):
    spec = SPECS[spec_name]
    if spec.kind == "rsa":
        return isinstance(private, rsa.RSAPrivateKey) and private.key_size == spec.size
    return isinstance(private, ec.EllipticCurvePrivateKey) and \
        isinstance(private.curve, spec.curve)


def private_to_text(private):
    """PKCS#8 DER, base64: how keys.json keeps a private key (OpenSSL reads it directly)."""
    der = private.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return base64.b64encode(der).decode("ascii")


def private_from_text(text):
    return serialization.load_der_private_key(base64.b64decode(text), password=None)


def public_der(private):
    """DER SubjectPublicKeyInfo, what GetPublicKey returns."""
    return private.public_key().public_bytes(serialization.Encoding.DER,
                                             serialization.PublicFormat.SubjectPublicKeyInfo)


# ---- operations --------------------------------------------------------------------------

def _scheme(alg, is_digest):
    kind, hash_cls = SIGNING[alg]
    algo = utils.Prehashed(hash_cls()) if is_digest else hash_cls()
    if kind == "pkcs1":
        return padding.PKCS1v15(), algo
    if kind == "pss":
        return padding.PSS(mgf=padding.MGF1(hash_cls()),
                           salt_length=hash_cls.digest_size), algo
    return None, ec.ECDSA(algo)


def sign(private, alg, message, is_digest):
    """PKCS#1 (v1.5 or PSS) for RSA, DER (X9.62) for ECDSA, as AWS returns them."""
    pad, algo = _scheme(alg, is_digest)
    if pad is None:
        return private.sign(message, algo)
    return private.sign(message, pad, algo)


def verify(public, alg, message, is_digest, signature):
    pad, algo = _scheme(alg, is_digest)
    try:
        if pad is None:
            public.verify(signature, message, algo)
        else:
            public.verify(signature, message, pad, algo)
    except (InvalidSignature, ValueError):     # ValueError: an ECDSA signature that is not DER
        return False
    return True


def _oaep(alg):
    hash_cls = OAEP[alg]
    return padding.OAEP(mgf=padding.MGF1(hash_cls()), algorithm=hash_cls(), label=None)


def oaep_encrypt(private, alg, plaintext):
    return private.public_key().encrypt(plaintext, _oaep(alg))


def oaep_decrypt(private, alg, ciphertext):
    """The plaintext, or None when the ciphertext does not open under this key and algorithm."""
    if len(ciphertext) != private.key_size // 8:
        return None
    try:
        return private.decrypt(ciphertext, _oaep(alg))
    except ValueError:
        return None
