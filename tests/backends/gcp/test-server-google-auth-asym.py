#!/usr/bin/python3
# test-server-google-auth-asym.py - Debian's python3-google-auth (an independent client) against
# the asymmetric keys of the loopback Google Cloud KMS server: getPublicKey (pemCrc32c checked by
# crcmod), asymmetricSign of digests with CRC32C both ways, every signature verified by the
# OpenSSL command line against the public key, asymmetricDecrypt of OpenSSL's RSA-OAEP
# ciphertexts (SHA-256 and SHA-1 keys), and the refusals (wrong digest, wrong purpose, IAM).
"""google-auth fidelity test of the asymmetric side of tests/servers/gcp_kms_server.py; exit 77
when google-auth, crcmod or openssl is missing."""

import base64
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.environ.get("top_srcdir") or os.path.dirname(os.path.dirname(os.path.dirname(HERE)))
sys.path.insert(0, os.path.join(TOP, "tests", "servers"))

try:
    import crcmod.predefined
    from google.auth.transport.requests import AuthorizedSession
    from google.oauth2 import service_account
except ImportError as e:
    print("# SKIP: %s cannot import google-auth/crcmod: %s (Debian: python3-google-auth "
          "python3-crcmod)" % (sys.executable, e))
    sys.exit(77)
if shutil.which("openssl") is None:
    print("# SKIP: openssl is missing")
    sys.exit(77)

import gcpsrv  # noqa: E402

crc32c = crcmod.predefined.mkPredefinedCrcFun("crc-32c")   # independent of the server's
TMP = tempfile.mkdtemp(prefix="p11kms-gauth-asym.")
DATA = b"signed by the loopback Cloud KMS " * 5
counts = {"n": 0, "failures": 0}


def check(cond, what):
    counts["n"] += 1
    print("%s %d - %s" % ("ok" if cond else "not ok", counts["n"], what))
    if not cond:
        counts["failures"] += 1
    return cond


def b64(data):
    return base64.b64encode(data).decode()


def write(name, data):
    path = os.path.join(TMP, name)
    with open(path, "wb") as f:
        f.write(data)
    return path


def openssl(*args):
    r = subprocess.run(("openssl",) + args, capture_output=True)
    return r.returncode == 0


def version(key):
    return gcpsrv.KEY_RING + "/cryptoKeys/" + key + "/cryptoKeyVersions/1"


class Kms:
    def __init__(self, srv, key_file="sa-key.json"):
        creds = service_account.Credentials.from_service_account_file(
            srv.path(key_file), scopes=[gcpsrv.SCOPE_KMS])
        self.session = AuthorizedSession(creds)
        self.session.trust_env = False
        self.base = srv.endpoint + "/v1/"

    def public_key(self, name):
        return self.session.get(self.base + name + "/publicKey")

    def post(self, name, verb, body):
        return self.session.post(self.base + name + ":" + verb, json=body)


def public_pem(kms, key, algorithm):
    r = kms.public_key(version(key))
    a = r.json() if r.status_code == 200 else {}
    pem = a.get("pem", "")
    check(r.status_code == 200 and a.get("algorithm") == algorithm and
          a.get("name") == version(key) and a.get("pemCrc32c") == str(crc32c(pem.encode())),
          "%s: getPublicKey: %s, pemCrc32c matches crcmod's" % (key, algorithm))
    path = write(key + ".pem", pem.encode())
    check(openssl("pkey", "-pubin", "-in", path, "-noout"), "  ...a PEM public key OpenSSL reads")
    return path


def sign(kms, key, hname, digest):
    r = kms.post(version(key), "asymmetricSign",
                 {"digest": {hname: b64(digest)}, "digestCrc32c": str(crc32c(digest))})
    a = r.json() if r.status_code == 200 else {}
    sig = base64.b64decode(a.get("signature", ""))
    check(r.status_code == 200 and a.get("verifiedDigestCrc32c") is True and
          a.get("signatureCrc32c") == str(crc32c(sig)) and a.get("name") == version(key),
          "  ...asymmetricSign: verifiedDigestCrc32c, signatureCrc32c matches")
    return write("sig", sig)


def signing(kms):
    data = write("data", DATA)
    for key, alg, hname, opts in (
            ("p11kms-sign-p256", "EC_SIGN_P256_SHA256", "sha256", ()),
            ("p11kms-sign-p384", "EC_SIGN_P384_SHA384", "sha384", ()),
            ("p11kms-sign-k256", "EC_SIGN_SECP256K1_SHA256", "sha256", ()),
            ("p11kms-sign-rsa2048", "RSA_SIGN_PKCS1_2048_SHA256", "sha256", ()),
            ("p11kms-sign-pss2048", "RSA_SIGN_PSS_2048_SHA256", "sha256",
             ("-sigopt", "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:32")),
            ("p11kms-sign-pss4096-sha512", "RSA_SIGN_PSS_4096_SHA512", "sha512",
             ("-sigopt", "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:64"))):
        pem = public_pem(kms, key, alg)
        sig = sign(kms, key, hname, hashlib.new(hname, DATA).digest())
        check(openssl("dgst", "-" + hname, "-verify", pem, "-signature", sig, *opts, data),
              "  ...OpenSSL verifies the signature over the data%s"
              % (" (PSS, salt = hash length)" if opts else ""))
    r = kms.post(version("p11kms-sign-p256"), "asymmetricSign",
                 {"digest": {"sha384": b64(b"x" * 48)}})
    check(r.status_code == 400 and r.json()["error"]["status"] == "INVALID_ARGUMENT",
          "a SHA-384 digest for EC_SIGN_P256_SHA256: 400 INVALID_ARGUMENT")
    r = kms.post(version("p11kms-sign-p256"), "asymmetricSign",
                 {"digest": {"sha256": b64(b"x" * 32)}, "digestCrc32c": "1"})
    check(r.status_code == 400, "a digestCrc32c that does not match: 400")
    r = kms.post(version("p11kms-decrypt-rsa2048"), "asymmetricSign",
                 {"digest": {"sha256": b64(b"x" * 32)}})
    check(r.status_code == 400 and r.json()["error"]["status"] == "FAILED_PRECONDITION",
          "asymmetricSign on an ASYMMETRIC_DECRYPT key: 400 FAILED_PRECONDITION")


def decrypting(kms):
    secret = write("secret", b"a data key for Cloud KMS")
    for key, alg, md in (("p11kms-decrypt-rsa2048", "RSA_DECRYPT_OAEP_2048_SHA256", "sha256"),
                         ("p11kms-decrypt-rsa2048-sha1", "RSA_DECRYPT_OAEP_2048_SHA1", "sha1")):
        pem = public_pem(kms, key, alg)
        enc = os.path.join(TMP, "secret.enc")
        check(openssl("pkeyutl", "-encrypt", "-pubin", "-inkey", pem, "-pkeyopt",
                      "rsa_padding_mode:oaep", "-pkeyopt", "rsa_oaep_md:" + md, "-pkeyopt",
                      "rsa_mgf1_md:" + md, "-in", secret, "-out", enc),
              "  ...OpenSSL encrypts to it (OAEP %s)" % md)
        with open(enc, "rb") as f:
            ct = f.read()
        r = kms.post(version(key), "asymmetricDecrypt",
                     {"ciphertext": b64(ct), "ciphertextCrc32c": str(crc32c(ct))})
        a = r.json() if r.status_code == 200 else {}
        pt = base64.b64decode(a.get("plaintext", ""))
        check(r.status_code == 200 and a.get("verifiedCiphertextCrc32c") is True and
              pt == b"a data key for Cloud KMS" and a.get("plaintextCrc32c") == str(crc32c(pt)),
              "  ...asymmetricDecrypt opens it, CRC32C both ways")
    r = kms.post(version("p11kms-decrypt-rsa2048"), "asymmetricDecrypt",
                 {"ciphertext": b64(b"\x01" * 256)})
    check(r.status_code == 400 and r.json()["error"]["status"] == "INVALID_ARGUMENT",
          "a ciphertext that does not open: 400 INVALID_ARGUMENT")


def iam(srv):
    srv.ctl("POST", "/iam", {"resource": gcpsrv.KEY_RING + "/cryptoKeys/p11kms-sign-p256",
                             "member": "serviceAccount:" + gcpsrv.SA_ENCRYPTER,
                             "roles": ["roles/cloudkms.publicKeyViewer"]})
    kms = Kms(srv, "sa-encrypter.json")
    check(kms.public_key(version("p11kms-sign-p256")).status_code == 200,
          "publicKeyViewer on the key: getPublicKey allowed")
    r = kms.post(version("p11kms-sign-p256"), "asymmetricSign",
                 {"digest": {"sha256": b64(b"x" * 32)}})
    check(r.status_code == 403 and r.json()["error"]["status"] == "PERMISSION_DENIED",
          "  ...asymmetricSign without cloudkms.cryptoKeyVersions.useToSign: 403")


if __name__ == "__main__":
    try:
        with gcpsrv.GcpServer() as srv:
            signing(Kms(srv))
            decrypting(Kms(srv))
            iam(srv)
    finally:
        shutil.rmtree(TMP, ignore_errors=True)
    print("1..%d" % counts["n"])
    sys.exit(1 if counts["failures"] else 0)
