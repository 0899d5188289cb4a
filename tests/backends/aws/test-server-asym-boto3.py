# test-server-asym-boto3.py - boto3 against the loopback AWS KMS server's asymmetric keys: keys
# of every spec and usage, every signing algorithm RAW and DIGEST, RSA-OAEP both ways, each
# result checked independently by the openssl CLI, error codes, faults, persistence, and every
# answer checked against botocore's model.
"""boto3 + OpenSSL fidelity test of the asymmetric half of tests/servers/aws_kms_server.py."""

import base64
import hashlib
import http.client
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.environ.get("top_srcdir") or os.path.dirname(os.path.dirname(os.path.dirname(HERE)))
sys.path.insert(0, os.path.join(TOP, "tests", "servers"))

try:
    import boto3
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.config import Config
    from botocore.credentials import Credentials
    from botocore.exceptions import ClientError
    if importlib.util.find_spec("cryptography") is None:
        raise ImportError("no module named cryptography (the server needs it)")
except ImportError as e:
    print("# SKIP: %s cannot import boto3/botocore/cryptography: %s" % (sys.executable, e))
    sys.exit(77)
OPENSSL = shutil.which("openssl")
if OPENSSL is None:
    print("# SKIP: the openssl CLI is missing (Debian: openssl)")
    sys.exit(77)

import awssrv  # noqa: E402
import aws_kms_shapes  # noqa: E402

n = 0
failures = 0

# What AWS answers per key spec (KeyMetadata / GetPublicKey), written out here rather than
# taken from the server, so that the server is checked against it.
RSA_SIGNING = ["RSASSA_PKCS1_V1_5_SHA_256", "RSASSA_PKCS1_V1_5_SHA_384",
               "RSASSA_PKCS1_V1_5_SHA_512", "RSASSA_PSS_SHA_256", "RSASSA_PSS_SHA_384",
               "RSASSA_PSS_SHA_512"]
RSA_ENCRYPTION = ["RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256"]
EXPECTED = {
    ("RSA_2048", "SIGN_VERIFY"): RSA_SIGNING,
    ("RSA_3072", "SIGN_VERIFY"): RSA_SIGNING,
    ("RSA_4096", "SIGN_VERIFY"): RSA_SIGNING,
    ("RSA_2048", "ENCRYPT_DECRYPT"): RSA_ENCRYPTION,
    ("RSA_3072", "ENCRYPT_DECRYPT"): RSA_ENCRYPTION,
    ("RSA_4096", "ENCRYPT_DECRYPT"): RSA_ENCRYPTION,
    ("ECC_NIST_P256", "SIGN_VERIFY"): ["ECDSA_SHA_256"],
    ("ECC_NIST_P384", "SIGN_VERIFY"): ["ECDSA_SHA_384"],
    ("ECC_NIST_P521", "SIGN_VERIFY"): ["ECDSA_SHA_512"],
    ("ECC_SECG_P256K1", "SIGN_VERIFY"): ["ECDSA_SHA_256"],
}
# What `openssl pkey -text` prints for each spec's public key.
OPENSSL_TEXT = {"RSA_2048": "Public-Key: (2048 bit)", "RSA_3072": "Public-Key: (3072 bit)",
                "RSA_4096": "Public-Key: (4096 bit)", "ECC_NIST_P256": "ASN1 OID: prime256v1",
                "ECC_NIST_P384": "ASN1 OID: secp384r1", "ECC_NIST_P521": "ASN1 OID: secp521r1",
                "ECC_SECG_P256K1": "ASN1 OID: secp256k1"}
CURVE_BITS = {"ECC_NIST_P256": 256, "ECC_NIST_P384": 384, "ECC_NIST_P521": 521,
              "ECC_SECG_P256K1": 256}
PRELOADED = awssrv.ASYMMETRIC_KEYS
HASH = {"256": ("sha256", 32), "384": ("sha384", 48), "512": ("sha512", 64), "1": ("sha1", 20)}


def check(cond, what):
    global n, failures
    n += 1
    if cond:
        print("ok %d - %s" % (n, what))
    else:
        failures += 1
        print("not ok %d - %s" % (n, what))
    return cond


def error_code(func, *args, **kwargs):
    try:
        func(*args, **kwargs)
    except ClientError as e:
        return e.response["Error"]["Code"]
    return None


class Work:
    """A scratch directory for the files the openssl CLI reads and writes."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="p11kms-asym.")
        self.seq = 0

    def file(self, data, name="f"):
        self.seq += 1
        path = os.path.join(self.dir, "%s-%d" % (name, self.seq))
        with open(path, "wb") as fh:
            fh.write(data)
        return path

    def path(self, name="out"):
        self.seq += 1
        return os.path.join(self.dir, "%s-%d" % (name, self.seq))


def openssl(*args, data=None):
    """(exit status, stdout+stderr) of the openssl CLI."""
    p = subprocess.run([OPENSSL] + list(args), input=data, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT)
    return p.returncode, p.stdout


def hash_of(alg):
    return HASH[alg.rsplit("_", 1)[1]]


class Answers:
    """Every raw answer boto3 received, to be checked against botocore's model."""

    def __init__(self):
        self.items = []

    def hook(self, http_response, model, **kwargs):
        self.items.append((model.name, http_response.content.decode("utf-8")))


def kms_client(srv, answers, retries=None):
    client = boto3.session.Session().client(
        "kms", endpoint_url=srv.endpoint, region_name=awssrv.REGION,
        config=Config(retries=retries or {"mode": "standard"}))
    client.meta.events.register("after-call.kms", answers.hook)
    return client


def pem_of(work, der):
    out = work.path("pub.pem")
    rc, _ = openssl("pkey", "-pubin", "-inform", "DER", "-in", work.file(der, "pub.der"),
                    "-out", out)
    return out if rc == 0 else None


def private_pem(srv, work, key_id):
    """The server's private key from its state dir (PKCS#8 DER in keys.json), for OpenSSL."""
    with open(os.path.join(srv.state_dir, "keys.json"), encoding="utf-8") as fh:
        saved = {k["key_id"]: k for k in json.load(fh)["keys"]}
    der = base64.b64decode(saved[key_id]["private_key"])
    out = work.path("priv.pem")
    rc, _ = openssl("pkey", "-inform", "DER", "-in", work.file(der, "priv.der"), "-out", out)
    return out if rc == 0 else None


def pss_opts(flag, alg, saltlen=None):
    if "_PSS_" not in alg:
        return []
    name, size = hash_of(alg)
    return [flag, "rsa_padding_mode:pss", flag, "rsa_pss_saltlen:%d" % (saltlen or size),
            flag, "rsa_mgf1_md:" + name]


def openssl_verify_raw(work, pem, alg, message, signature, saltlen=None):
    name, _ = hash_of(alg)
    rc, out = openssl("dgst", "-" + name, "-verify", pem, "-signature",
                      work.file(signature, "sig"), *pss_opts("-sigopt", alg, saltlen),
                      work.file(message, "msg"))
    return rc == 0 and b"Verified OK" in out


def openssl_verify_digest(work, pem, alg, digest, signature):
    name, _ = hash_of(alg)
    rc, out = openssl("pkeyutl", "-verify", "-pubin", "-inkey", pem, "-in",
                      work.file(digest, "digest"), "-sigfile", work.file(signature, "sig"),
                      "-pkeyopt", "digest:" + name, *pss_opts("-pkeyopt", alg))
    return rc == 0 and b"Signature Verified Successfully" in out


def ecdsa_der_ok(work, signature, bits):
    """A DER SEQUENCE of two INTEGERs no longer than the curve (what AWS returns)."""
    rc, out = openssl("asn1parse", "-inform", "DER", "-in", work.file(signature, "sig"))
    lines = out.decode().splitlines()
    ints = [ln.split(":")[-1] for ln in lines if "prim: INTEGER" in ln]
    return rc == 0 and "cons: SEQUENCE" in lines[0] and len(ints) == 2 and \
        all(len(i) <= 2 * ((bits + 7) // 8) for i in ints)


# ---- keys of every spec and usage -------------------------------------------------------

def test_create_all(kms, work):
    keys = {}
    for (spec, usage), algs in EXPECTED.items():
        md = kms.create_key(KeySpec=spec, KeyUsage=usage,
                            Description="boto3 %s %s" % (spec, usage))["KeyMetadata"]
        listed, absent = ("SigningAlgorithms", "EncryptionAlgorithms") if \
            usage == "SIGN_VERIFY" else ("EncryptionAlgorithms", "SigningAlgorithms")
        check(md["KeySpec"] == spec and md["CustomerMasterKeySpec"] == spec and
              md["KeyUsage"] == usage and md["KeyState"] == "Enabled" and
              md[listed] == algs and absent not in md,
              "create-key %s %s: KeyMetadata with %s %s" % (spec, usage, listed, algs))
        described = kms.describe_key(KeyId=md["Arn"])["KeyMetadata"]
        check(described == md, "describe-key %s %s answers the same metadata" % (spec, usage))
        pub = kms.get_public_key(KeyId=md["KeyId"])
        check(pub["KeyId"] == md["Arn"] and pub["KeySpec"] == spec and
              pub["CustomerMasterKeySpec"] == spec and pub["KeyUsage"] == usage and
              pub[listed] == algs and absent not in pub,
              "get-public-key %s %s: spec, usage and %s" % (spec, usage, listed))
        pem = pem_of(work, pub["PublicKey"])
        rc, text = openssl("pkey", "-pubin", "-in", pem or "/nonexistent", "-text", "-noout")
        check(pem and rc == 0 and OPENSSL_TEXT[spec].encode() in text,
              "OpenSSL reads the %s public key as DER SubjectPublicKeyInfo (%s)"
              % (spec, OPENSSL_TEXT[spec]))
        keys[(spec, usage)] = {"id": md["KeyId"], "arn": md["Arn"], "pem": pem,
                               "der": pub["PublicKey"]}
    return keys


# ---- signatures -------------------------------------------------------------------------

def test_sign_all(kms, work, keys):
    message = os.urandom(1000)
    for (spec, usage), key in keys.items():
        if usage != "SIGN_VERIFY":
            continue
        for alg in EXPECTED[(spec, usage)]:
            name, size = hash_of(alg)
            digest = hashlib.new(name, message).digest()
            for mtype, data in (("RAW", message), ("DIGEST", digest)):
                what = "%s %s %s" % (spec, alg, mtype)
                r = kms.sign(KeyId=key["id"], Message=data, MessageType=mtype,
                             SigningAlgorithm=alg)
                sig = r["Signature"]
                check(r["KeyId"] == key["arn"] and r["SigningAlgorithm"] == alg,
                      "sign %s: key ARN and algorithm echoed" % what)
                v = kms.verify(KeyId=key["id"], Message=data, MessageType=mtype, Signature=sig,
                               SigningAlgorithm=alg)
                check(v["SignatureValid"] is True and v["SigningAlgorithm"] == alg,
                      "verify %s: SignatureValid" % what)
                check(openssl_verify_raw(work, key["pem"], alg, message, sig),
                      "OpenSSL dgst verifies the %s signature over the message" % what)
                check(openssl_verify_digest(work, key["pem"], alg, digest, sig),
                      "OpenSSL pkeyutl verifies the %s signature over the digest" % what)
                if alg.startswith("ECDSA"):
                    check(ecdsa_der_ok(work, sig, CURVE_BITS[spec]),
                          "the %s signature is DER (SEQUENCE of r, s)" % what)
                elif mtype == "RAW":
                    rsa_bits = int(spec[4:])
                    check(len(sig) == rsa_bits // 8, "the %s signature is %d bytes"
                          % (what, rsa_bits // 8))
            # The OpenSSL checks can fail: a changed message is refused.
            tampered = bytes([message[0] ^ 1]) + message[1:]
            check(not openssl_verify_raw(work, key["pem"], alg, tampered, sig),
                  "OpenSSL refuses the %s %s signature for a changed message" % (spec, alg))
            if "_PSS_" in alg:
                check(not openssl_verify_raw(work, key["pem"], alg, message, sig, saltlen=size - 1),
                      "%s %s: the salt is exactly %d bytes (OpenSSL with salt %d refuses)"
                      % (spec, alg, size, size - 1))


def test_sign_errors(srv, kms, work, keys):
    ec = keys[("ECC_NIST_P256", "SIGN_VERIFY")]
    rsa = keys[("RSA_2048", "SIGN_VERIFY")]
    enc = keys[("RSA_2048", "ENCRYPT_DECRYPT")]
    msg = b"p11kms signed message"
    sig = kms.sign(KeyId=ec["id"], Message=msg, SigningAlgorithm="ECDSA_SHA_256")["Signature"]
    for kwargs, code, what in (
            (dict(KeyId=ec["id"], Message=b"\x01" * 31, MessageType="DIGEST",
                  SigningAlgorithm="ECDSA_SHA_256"), "ValidationException",
             "a 31-byte digest for ECDSA_SHA_256"),
            (dict(KeyId=rsa["id"], Message=b"\x01" * 64, MessageType="DIGEST",
                  SigningAlgorithm="RSASSA_PSS_SHA_256"), "ValidationException",
             "a 64-byte digest for RSASSA_PSS_SHA_256"),
            (dict(KeyId=ec["id"], Message=msg, SigningAlgorithm="ECDSA_SHA_384"),
             "InvalidKeyUsageException", "ECDSA_SHA_384 with a P-256 key"),
            (dict(KeyId=rsa["id"], Message=msg, SigningAlgorithm="ECDSA_SHA_256"),
             "InvalidKeyUsageException", "ECDSA on an RSA key"),
            (dict(KeyId=ec["id"], Message=msg, SigningAlgorithm="RSASSA_PSS_SHA_256"),
             "InvalidKeyUsageException", "RSA-PSS on an EC key"),
            (dict(KeyId=enc["id"], Message=msg, SigningAlgorithm="RSASSA_PSS_SHA_256"),
             "InvalidKeyUsageException", "signing with an ENCRYPT_DECRYPT key"),
            (dict(KeyId=awssrv.ALIAS, Message=msg, SigningAlgorithm="ECDSA_SHA_256"),
             "InvalidKeyUsageException", "signing with a symmetric key"),
            (dict(KeyId=ec["id"], Message=msg, SigningAlgorithm="ECDSA_SHA_1"),
             "ValidationException", "an unknown signing algorithm"),
            (dict(KeyId=ec["id"], Message=msg, MessageType="HASH",
                  SigningAlgorithm="ECDSA_SHA_256"), "ValidationException",
             "an unknown message type"),
            (dict(KeyId=ec["id"], Message=b"x" * 4097, SigningAlgorithm="ECDSA_SHA_256"),
             "ValidationException", "a 4097-byte message"),
            (dict(KeyId="alias/no-such-key", Message=msg, SigningAlgorithm="ECDSA_SHA_256"),
             "NotFoundException", "an unknown alias")):
        check(error_code(kms.sign, **kwargs) == code, "sign with %s: %s" % (what, code))
    check(error_code(kms.sign, KeyId=ec["id"], Message=b"x" * 4096,
                     SigningAlgorithm="ECDSA_SHA_256") is None, "a 4096-byte message is signed")
    bad_sig = bytearray(sig)
    bad_sig[-1] ^= 1
    other = kms.sign(KeyId="alias/p11kms-ec-p256", Message=msg,
                     SigningAlgorithm="ECDSA_SHA_256")["Signature"]
    for data, signature, what in ((msg + b"!", sig, "a changed message"),
                                  (msg, bytes(bad_sig), "a changed signature"),
                                  (msg, b"\x30\x03\x02\x01\x01", "a malformed DER signature"),
                                  (msg, other, "another key's signature")):
        check(error_code(kms.verify, KeyId=ec["id"], Message=data, Signature=signature,
                         SigningAlgorithm="ECDSA_SHA_256") == "KMSInvalidSignatureException",
              "verify %s: KMSInvalidSignatureException" % what)
    digest = hashlib.sha256(msg).digest()
    dsig = kms.sign(KeyId=ec["id"], Message=digest, MessageType="DIGEST",
                    SigningAlgorithm="ECDSA_SHA_256")["Signature"]
    check(kms.verify(KeyId=ec["id"], Message=msg, MessageType="RAW", Signature=dsig,
                     SigningAlgorithm="ECDSA_SHA_256")["SignatureValid"],
          "a DIGEST signature of SHA-256(m) verifies as a RAW signature of m")
    check(error_code(kms.get_public_key, KeyId=awssrv.ALIAS) == "UnsupportedOperationException",
          "get-public-key of a symmetric key: UnsupportedOperationException")
    srv.ctl("POST", "/disable", {"key_id": ec["id"]})
    check(error_code(kms.sign, KeyId=ec["id"], Message=msg, SigningAlgorithm="ECDSA_SHA_256")
          == "DisabledException", "sign with a disabled key: DisabledException")
    check(error_code(kms.get_public_key, KeyId=ec["id"]) == "DisabledException",
          "get-public-key of a disabled key: DisabledException")
    check(kms.describe_key(KeyId=ec["id"])["KeyMetadata"]["KeyState"] == "Disabled",
          "describe-key shows the asymmetric key disabled")
    srv.ctl("POST", "/enable", {"key_id": ec["id"]})

    # Signatures made by OpenSSL with the server's private key are accepted by Verify.
    p384 = keys[("ECC_NIST_P384", "SIGN_VERIFY")]
    priv = private_pem(srv, work, p384["id"])
    sig_path = work.path("ossl.sig")
    openssl("dgst", "-sha384", "-sign", priv or "/nonexistent", "-out", sig_path,
            work.file(msg, "msg"))
    with open(sig_path, "rb") as fh:
        osig = fh.read()
    check(kms.verify(KeyId=p384["id"], Message=msg, Signature=osig,
                     SigningAlgorithm="ECDSA_SHA_384")["SignatureValid"],
          "verify accepts an ECDSA P-384 signature made by OpenSSL")
    priv = private_pem(srv, work, rsa["id"])
    for saltlen, valid in ((32, True), (20, False)):
        sig_path = work.path("ossl.sig")
        openssl("dgst", "-sha256", "-sign", priv or "/nonexistent", "-sigopt",
                "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:%d" % saltlen, "-sigopt",
                "rsa_mgf1_md:sha256", "-out", sig_path, work.file(msg, "msg"))
        with open(sig_path, "rb") as fh:
            osig = fh.read()
        code = error_code(kms.verify, KeyId=rsa["id"], Message=msg, Signature=osig,
                          SigningAlgorithm="RSASSA_PSS_SHA_256")
        check(code is None if valid else code == "KMSInvalidSignatureException",
              "an OpenSSL RSA-PSS SHA-256 signature with a %d-byte salt is %s" %
              (saltlen, "valid" if valid else "refused (KMSInvalidSignatureException)"))


# ---- RSA-OAEP ---------------------------------------------------------------------------

def oaep_opts(alg):
    name, _ = hash_of(alg)
    return ["-pkeyopt", "rsa_padding_mode:oaep", "-pkeyopt", "rsa_oaep_md:" + name,
            "-pkeyopt", "rsa_mgf1_md:" + name]


def test_oaep(srv, kms, work, keys):
    targets = [(spec, keys[(spec, "ENCRYPT_DECRYPT")]) for spec in
               ("RSA_2048", "RSA_3072", "RSA_4096")]
    pub = kms.get_public_key(KeyId="alias/p11kms-rsa-2048-enc")
    targets.append(("RSA_2048", {"id": PRELOADED["alias/p11kms-rsa-2048-enc"][0],
                                 "arn": pub["KeyId"], "pem": pem_of(work, pub["PublicKey"])}))
    for spec, key in targets:
        bits = int(spec[4:])
        priv = private_pem(srv, work, key["id"])
        for alg in RSA_ENCRYPTION:
            _, hlen = hash_of(alg)
            limit = bits // 8 - 2 * hlen - 2
            what = "%s %s (%s)" % (spec, alg, key["id"][:8])
            plain = os.urandom(limit)
            ct_path = work.path("ct")
            rc, _ = openssl("pkeyutl", "-encrypt", "-pubin", "-inkey", key["pem"],
                            *oaep_opts(alg), "-in", work.file(plain, "pt"), "-out", ct_path)
            with open(ct_path, "rb") as fh:
                ct = fh.read()
            d = kms.decrypt(CiphertextBlob=ct, KeyId=key["id"], EncryptionAlgorithm=alg)
            check(rc == 0 and d["Plaintext"] == plain and d["KeyId"] == key["arn"] and
                  d["EncryptionAlgorithm"] == alg,
                  "%s: OpenSSL encrypts %d bytes, decrypt returns them" % (what, limit))
            e = kms.encrypt(KeyId=key["id"], Plaintext=plain, EncryptionAlgorithm=alg)
            out = work.path("pt")
            rc, _ = openssl("pkeyutl", "-decrypt", "-inkey", priv or "/nonexistent",
                            *oaep_opts(alg), "-in", work.file(e["CiphertextBlob"], "ct"),
                            "-out", out)
            with open(out, "rb") as fh:
                back = fh.read()
            check(rc == 0 and back == plain and len(e["CiphertextBlob"]) == bits // 8 and
                  e["EncryptionAlgorithm"] == alg,
                  "%s: encrypt gives a %d-byte OAEP ciphertext OpenSSL decrypts" %
                  (what, bits // 8))
            check(error_code(kms.encrypt, KeyId=key["id"], Plaintext=plain + b"x",
                             EncryptionAlgorithm=alg) == "ValidationException",
                  "%s: %d bytes are too many (ValidationException)" % (what, limit + 1))
            other = RSA_ENCRYPTION[1 - RSA_ENCRYPTION.index(alg)]
            check(error_code(kms.decrypt, CiphertextBlob=ct, KeyId=key["id"],
                             EncryptionAlgorithm=other) == "InvalidCiphertextException",
                  "%s: decrypt with %s: InvalidCiphertextException" % (what, other))

    key = keys[("RSA_2048", "ENCRYPT_DECRYPT")]
    ct = kms.encrypt(KeyId=key["id"], Plaintext=b"secret",
                     EncryptionAlgorithm="RSAES_OAEP_SHA_256")["CiphertextBlob"]
    bad = bytearray(ct)
    bad[10] ^= 1
    sign_key = keys[("RSA_2048", "SIGN_VERIFY")]
    for func, kwargs, code, what in (
            (kms.encrypt, dict(KeyId=key["id"], Plaintext=b"x",
                               EncryptionAlgorithm="RSAES_OAEP_SHA_256",
                               EncryptionContext={"a": "b"}), "ValidationException",
             "encrypt with an EncryptionContext"),
            (kms.decrypt, dict(KeyId=key["id"], CiphertextBlob=ct,
                               EncryptionAlgorithm="RSAES_OAEP_SHA_256",
                               EncryptionContext={"a": "b"}), "ValidationException",
             "decrypt with an EncryptionContext"),
            (kms.encrypt, dict(KeyId=key["id"], Plaintext=b"x"), "InvalidKeyUsageException",
             "encrypt with an RSA key and no algorithm (SYMMETRIC_DEFAULT)"),
            (kms.decrypt, dict(KeyId=key["id"], CiphertextBlob=ct), "InvalidCiphertextException",
             "decrypt of an RSA ciphertext without its algorithm"),
            (kms.decrypt, dict(CiphertextBlob=ct, EncryptionAlgorithm="RSAES_OAEP_SHA_256"),
             "ValidationException", "decrypt with an RSA algorithm and no KeyId"),
            (kms.encrypt, dict(KeyId=sign_key["id"], Plaintext=b"x",
                               EncryptionAlgorithm="RSAES_OAEP_SHA_256"),
             "InvalidKeyUsageException", "encrypt with a SIGN_VERIFY key"),
            (kms.decrypt, dict(KeyId=sign_key["id"], CiphertextBlob=ct,
                               EncryptionAlgorithm="RSAES_OAEP_SHA_256"),
             "InvalidKeyUsageException", "decrypt with a SIGN_VERIFY key"),
            (kms.encrypt, dict(KeyId=awssrv.ALIAS, Plaintext=b"x",
                               EncryptionAlgorithm="RSAES_OAEP_SHA_1"),
             "InvalidKeyUsageException", "an RSA algorithm with a symmetric key"),
            (kms.encrypt, dict(KeyId=key["id"], Plaintext=b"x", EncryptionAlgorithm="SM2PKE"),
             "InvalidKeyUsageException", "SM2PKE with an RSA key"),
            (kms.decrypt, dict(KeyId=key["id"], CiphertextBlob=bytes(bad),
                               EncryptionAlgorithm="RSAES_OAEP_SHA_256"),
             "InvalidCiphertextException", "decrypt of a changed RSA ciphertext"),
            (kms.decrypt, dict(KeyId=key["id"], CiphertextBlob=ct[:-1],
                               EncryptionAlgorithm="RSAES_OAEP_SHA_256"),
             "InvalidCiphertextException", "decrypt of a short RSA ciphertext"),
            (kms.generate_data_key, dict(KeyId=key["id"], KeySpec="AES_256"),
             "InvalidKeyUsageException", "generate-data-key with an RSA key"),
            (kms.generate_data_key_without_plaintext, dict(KeyId=sign_key["id"],
                                                           NumberOfBytes=32),
             "InvalidKeyUsageException", "generate-data-key-without-plaintext with an RSA "
             "signing key")):
        check(error_code(func, **kwargs) == code, "%s: %s" % (what, code))

    r = kms.re_encrypt(CiphertextBlob=ct, SourceKeyId=key["id"],
                       SourceEncryptionAlgorithm="RSAES_OAEP_SHA_256",
                       DestinationKeyId=awssrv.ALIAS, DestinationEncryptionContext={"k": "v"})
    check(r["SourceKeyId"] == key["arn"] and r["SourceEncryptionAlgorithm"] ==
          "RSAES_OAEP_SHA_256" and kms.decrypt(CiphertextBlob=r["CiphertextBlob"],
                                               EncryptionContext={"k": "v"})["Plaintext"] ==
          b"secret", "re-encrypt from an RSA ciphertext to a symmetric key")
    r = kms.re_encrypt(CiphertextBlob=r["CiphertextBlob"], SourceEncryptionContext={"k": "v"},
                       DestinationKeyId=key["id"],
                       DestinationEncryptionAlgorithm="RSAES_OAEP_SHA_1")
    check(kms.decrypt(CiphertextBlob=r["CiphertextBlob"], KeyId=key["id"],
                      EncryptionAlgorithm="RSAES_OAEP_SHA_1")["Plaintext"] == b"secret",
          "re-encrypt from a symmetric blob to RSA-OAEP SHA-1")


# ---- CreateKey checks -------------------------------------------------------------------

def test_create_errors(kms):
    for kwargs, code, what in (
            (dict(KeySpec="ECC_NIST_P256", KeyUsage="ENCRYPT_DECRYPT"), "ValidationException",
             "an ECC key for ENCRYPT_DECRYPT"),
            (dict(KeySpec="ECC_SECG_P256K1", KeyUsage="ENCRYPT_DECRYPT"),
             "ValidationException", "a secp256k1 key for ENCRYPT_DECRYPT"),
            (dict(KeySpec="SYMMETRIC_DEFAULT", KeyUsage="SIGN_VERIFY"), "ValidationException",
             "a symmetric key for SIGN_VERIFY"),
            (dict(KeySpec="RSA_2048", KeyUsage="GENERATE_VERIFY_MAC"), "ValidationException",
             "an RSA key for GENERATE_VERIFY_MAC"),
            (dict(KeySpec="RSA_2048"), "ValidationException", "an RSA key without KeyUsage"),
            (dict(KeySpec="ECC_NIST_P384"), "ValidationException", "an ECC key without KeyUsage"),
            (dict(KeySpec="RSA_1024", KeyUsage="SIGN_VERIFY"), "ValidationException",
             "an unknown key spec"),
            (dict(KeySpec="RSA_2048", KeyUsage="SIGN"), "ValidationException",
             "an unknown key usage"),
            (dict(KeySpec="RSA_2048", CustomerMasterKeySpec="RSA_2048", KeyUsage="SIGN_VERIFY"),
             "ValidationException", "both KeySpec and CustomerMasterKeySpec"),
            (dict(KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC"),
             "UnsupportedOperationException", "an HMAC key (not offered by the test server)")):
        check(error_code(kms.create_key, **kwargs) == code, "create-key %s: %s" % (what, code))
    md = kms.create_key(CustomerMasterKeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")
    check(md["KeyMetadata"]["KeySpec"] == "ECC_NIST_P256",
          "create-key with the deprecated CustomerMasterKeySpec")
    md = kms.create_key()["KeyMetadata"]
    ct = kms.encrypt(KeyId=md["KeyId"], Plaintext=b"x")["CiphertextBlob"]
    check(md["KeySpec"] == "SYMMETRIC_DEFAULT" and md["KeyUsage"] == "ENCRYPT_DECRYPT" and
          md["EncryptionAlgorithms"] == ["SYMMETRIC_DEFAULT"] and
          kms.decrypt(CiphertextBlob=ct)["Plaintext"] == b"x",
          "create-key without arguments makes a working symmetric key")


# ---- preloaded keys, persistence, faults, counters --------------------------------------

def public_keys(kms):
    return {alias: kms.get_public_key(KeyId=alias)["PublicKey"] for alias in PRELOADED}


def test_preloaded(srv, kms, work, env):
    for alias, (key_id, spec, usage) in PRELOADED.items():
        md = kms.describe_key(KeyId=alias)["KeyMetadata"]
        check(md["KeyId"] == key_id and md["KeySpec"] == spec and md["KeyUsage"] == usage,
              "preloaded %s: %s %s %s" % (alias, key_id, spec, usage))
    mine = public_keys(kms)
    with awssrv.AwsServer() as other:
        other_kms = kms_client(other, Answers())
        theirs = public_keys(other_kms)
    check(mine == theirs, "the preloaded public keys are the same on another server with "
          "another state dir (derived, not random)")
    for alias, der in mine.items():
        check(OPENSSL_TEXT[PRELOADED[alias][1]].encode() in
              openssl("pkey", "-pubin", "-in", pem_of(work, der), "-text", "-noout")[1],
              "OpenSSL reads the preloaded %s public key" % alias)


def test_persistence(work):
    state = tempfile.mkdtemp(prefix="p11kms-asym-persist.")
    answers = Answers()
    try:
        with awssrv.AwsServer(state_dir=state) as srv:
            kms = kms_client(srv, answers)
            before = public_keys(kms)
            kid = kms.create_key(KeySpec="RSA_3072", KeyUsage="ENCRYPT_DECRYPT")["KeyMetadata"]
            ct = kms.encrypt(KeyId=kid["KeyId"], Plaintext=b"kept",
                             EncryptionAlgorithm="RSAES_OAEP_SHA_256")["CiphertextBlob"]
            sid = kms.create_key(KeySpec="ECC_NIST_P521", KeyUsage="SIGN_VERIFY")["KeyMetadata"]
            sig = kms.sign(KeyId=sid["KeyId"], Message=b"kept",
                           SigningAlgorithm="ECDSA_SHA_512")["Signature"]
            spub = kms.get_public_key(KeyId=sid["KeyId"])["PublicKey"]
            srv.stop()
            srv.start()
            kms = kms_client(srv, answers)
            check(public_keys(kms) == before, "the preloaded keys are unchanged after a restart")
            check(kms.decrypt(CiphertextBlob=ct, KeyId=kid["KeyId"],
                              EncryptionAlgorithm="RSAES_OAEP_SHA_256")["Plaintext"] == b"kept",
                  "an RSA key made by create-key still decrypts after a restart")
            check(kms.get_public_key(KeyId=sid["KeyId"])["PublicKey"] == spub and
                  kms.verify(KeyId=sid["KeyId"], Message=b"kept", Signature=sig,
                             SigningAlgorithm="ECDSA_SHA_512")["SignatureValid"],
                  "an EC key made by create-key keeps its public key and verifies old "
                  "signatures after a restart")
            srv.ctl("POST", "/reset", {"keys": True})
            check(error_code(kms.describe_key, KeyId=sid["KeyId"]) == "NotFoundException" and
                  public_keys(kms) == before,
                  "reset with keys forgets created keys, the preloaded ones come back alike")
    finally:
        shutil.rmtree(state, ignore_errors=True)
    return answers


def test_faults(srv, kms, env, keys):
    ec = keys[("ECC_NIST_P256", "SIGN_VERIFY")]
    srv.ctl("POST", "/reset", {})
    srv.fault("Sign", "throttle", count=10)
    code = error_code(kms.sign, KeyId=ec["id"], Message=b"m", SigningAlgorithm="ECDSA_SHA_256")
    srv.ctl("DELETE", "/faults")
    check(code == "ThrottlingException" and srv.counters()["requests"].get("Sign") == 3,
          "a throttled Sign is tried 3 times (standard retry mode)")
    srv.fault("GetPublicKey", "http500")
    check(error_code(kms.get_public_key, KeyId=ec["id"]) is None and
          srv.counters()["requests"].get("GetPublicKey") == 2,
          "one 500 on GetPublicKey, then success on the second attempt")
    srv.fault("Verify", "error", status=400, type="KMSInvalidStateException", message="inj")
    check(error_code(kms.verify, KeyId=ec["id"], Message=b"m", Signature=b"\x30\x00",
                     SigningAlgorithm="ECDSA_SHA_256") == "KMSInvalidStateException",
          "an injected error on Verify is answered")
    srv.fault("CreateKey", "drop")
    check(error_code(kms.create_key, KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY") is None
          and srv.counters()["requests"].get("CreateKey") == 2,
          "a dropped CreateKey is retried on a new connection and succeeds")
    c = srv.counters()
    check(c["faults"] == {"throttle": 3, "http500": 1, "error": 1, "drop": 1},
          "faults on the new operations are counted by kind (%s)" % c["faults"])
    with_env = dict(env, AWS_SECRET_ACCESS_KEY="wrong")
    os.environ.update(with_env)
    bad = kms_client(srv, Answers())
    check(error_code(bad.sign, KeyId=ec["id"], Message=b"m", SigningAlgorithm="ECDSA_SHA_256")
          == "InvalidSignatureException" and srv.counters()["signature_failures"] == 1,
          "Sign is SigV4-checked: a wrong secret gives InvalidSignatureException")
    os.environ.update(env)


def wire(srv, op, payload):
    """(status, JSON answer) of a request botocore signs but does not shape: what boto3 would
    refuse to send (fields of the wrong type, DryRun on Sign, missing members)."""
    body = json.dumps(payload).encode()
    req = AWSRequest(method="POST", url=srv.endpoint + "/", data=body, headers={
        "Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "TrentService." + op,
        "Host": "127.0.0.1:%d" % srv.port})
    SigV4Auth(Credentials(awssrv.ACCESS_KEY, awssrv.SECRET_KEY), "kms",
              awssrv.REGION).add_auth(req)
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=120)
    try:
        conn.request("POST", "/", body=body, headers=dict(req.headers.items()))
        resp = conn.getresponse()
        return resp.status, json.loads(resp.read().decode())
    finally:
        conn.close()


def test_wire(srv, answers):
    p256 = "alias/p11kms-ec-p256"
    msg = base64.b64encode(b"m").decode()
    for op, payload, status, code, what in (
            ("Sign", {"KeyId": p256, "Message": msg, "SigningAlgorithm": "ECDSA_SHA_256",
                      "DryRun": True}, 412, "DryRunOperationException", "Sign with DryRun"),
            ("Sign", {"KeyId": p256, "Message": "%%%", "SigningAlgorithm": "ECDSA_SHA_256"},
             400, "SerializationException", "a Message that is not base64"),
            ("Sign", {"KeyId": p256, "Message": msg}, 400, "ValidationException",
             "Sign without SigningAlgorithm"),
            ("Sign", {"KeyId": p256, "Message": msg, "SigningAlgorithm": 1}, 400,
             "SerializationException", "a SigningAlgorithm that is a number"),
            ("Verify", {"KeyId": p256, "Message": msg, "SigningAlgorithm": "ECDSA_SHA_256"},
             400, "ValidationException", "Verify without Signature"),
            ("GetPublicKey", {}, 400, "ValidationException", "GetPublicKey without KeyId"),
            ("CreateKey", {"Description": "d" * 8193}, 400, "ValidationException",
             "a 8193-character Description"),
            ("CreateKey", {"KeySpec": "RSA_2048", "KeyUsage": "SIGN_VERIFY",
                           "Origin": "EXTERNAL"}, 400, "UnsupportedOperationException",
             "Origin EXTERNAL (not offered by the test server)"),
            ("CreateKey", {"KeySpec": "ECC_NIST_P256", "KeyUsage": "SIGN_VERIFY",
                           "MultiRegion": True}, 400, "UnsupportedOperationException",
             "a multi-Region key (not offered by the test server)")):
        got_status, answer = wire(srv, op, payload)
        answers.items.append((op, json.dumps(answer)))
        check(got_status == status and answer.get("__type") == code,
              "%s: %d %s (%d %s)" % (what, status, code, got_status, answer.get("__type")))
    fixed = "88888888-8888-4888-8888-888888888888"
    made = srv.ctl("POST", "/keys", {"key_id": fixed, "alias": "alias/ctl-p384",
                                     "key_spec": "ECC_NIST_P384", "key_usage": "SIGN_VERIFY"})
    _, md = wire(srv, "DescribeKey", {"KeyId": "alias/ctl-p384"})
    check(made["KeySpec"] == "ECC_NIST_P384" and md["KeyMetadata"]["KeyId"] == fixed and
          md["KeyMetadata"]["SigningAlgorithms"] == ["ECDSA_SHA_384"],
          "the control API makes an asymmetric key with a chosen id and alias")
    try:
        srv.ctl("POST", "/keys", {"key_spec": "ECC_NIST_P256", "key_usage": "ENCRYPT_DECRYPT"})
        refused = False
    except awssrv.ControlError as e:
        refused = "400" in str(e)
    check(refused, "the control API refuses an ECC key for ENCRYPT_DECRYPT (400)")


def test_shapes(kms, answers):
    model = kms.meta.service_model
    seen = {}
    bad = []
    for op, body in answers.items:
        seen[op] = seen.get(op, 0) + 1
        bad += aws_kms_shapes.answer_problems(model, op, body)
    for p in bad[:20]:
        print("# %s" % p)
    check(not bad, "all %d answers fit botocore %s's model (names, types, enums, modelled "
          "errors)" % (len(answers.items), model.api_version))
    for op in ("CreateKey", "DescribeKey", "GetPublicKey", "Sign", "Verify", "Encrypt",
               "Decrypt", "ReEncrypt"):
        check(seen.get(op, 0) > 0, "%s answers were among them (%d)" % (op, seen.get(op, 0)))


def main():
    work = Work()
    try:
        answers = Answers()
        with awssrv.AwsServer() as srv:
            env = srv.client_env()
            os.environ.clear()
            os.environ.update(env)
            kms = kms_client(srv, answers)
            keys = test_create_all(kms, work)
            test_sign_all(kms, work, keys)
            test_sign_errors(srv, kms, work, keys)
            test_oaep(srv, kms, work, keys)
            test_create_errors(kms)
            test_preloaded(srv, kms, work, env)
            test_faults(srv, kms, env, keys)
            test_wire(srv, answers)
        answers.items += test_persistence(work).items
        test_shapes(kms, answers)
    finally:
        shutil.rmtree(work.dir, ignore_errors=True)
    print("1..%d" % n)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
