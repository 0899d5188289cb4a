#!/usr/bin/python3
# test-server-hvac-asym.py - hvac (Debian python3-hvac, an independent Vault client) against the
# asymmetric transit keys of the loopback Vault server: read_key's public keys, sign_data and
# verify_signed_data (ECDSA, PKCS#1 v1.5, PSS with salt_length), RSA-OAEP encrypt and decrypt,
# key creation and rotation, the errors; every signature also verified by the OpenSSL command
# line against the public key read_key gave.
"""hvac fidelity test of the asymmetric side of tests/servers/vault_server.py; 77 without hvac
or openssl."""

import base64
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from hvac_common import b64, check, client, fails, finish, hx, vaultsrv  # noqa: E402

if shutil.which("openssl") is None:
    print("# SKIP: openssl is missing")
    sys.exit(77)

TMP = tempfile.mkdtemp(prefix="p11kms-hvac-asym.")
DATA = b"signed by the loopback Vault " * 7


def write(name, data):
    path = os.path.join(TMP, name)
    with open(path, "wb") as f:
        f.write(data)
    return path


def openssl(*args, quiet=False):
    r = subprocess.run(("openssl",) + args, capture_output=True)
    if r.returncode != 0 and not quiet:
        print("#   openssl %s: %s" % (" ".join(args[:3]), r.stderr.decode().strip()))
    return r.returncode == 0


def raw_sig(signature, version=1):
    prefix = "vault:v%d:" % version
    return base64.b64decode(signature[len(prefix):]) if signature.startswith(prefix) else b""


def public_key(t, name, version="1"):
    d = t.read_key(name)["data"]
    return write("%s-v%s.pem" % (name, version), d["keys"][version]["public_key"].encode()), d


def ecdsa(t):
    for name, curve, alg, hname, bits in (("p11kms-ec256", "P-256", "sha2-256", "sha256", 256),
                                          ("p11kms-ec384", "P-384", "sha2-384", "sha384", 384),
                                          ("p11kms-ec521", "P-521", "sha2-512", "sha512", 521)):
        pem, d = public_key(t, name)
        check(d["type"] == "ecdsa-" + curve.lower().replace("-", "") and
              d["keys"]["1"]["name"] == curve and d["supports_signing"] and
              not d["supports_encryption"] and not d["supports_decryption"] and
              not d["supports_derivation"] and d["latest_version"] == 1,
              "%s: read_key says %s, signing only, name %s" % (name, d["type"], curve))
        check(openssl("pkey", "-pubin", "-in", pem, "-noout"),
              "  ...its public_key is a PEM public key OpenSSL reads")
        digest = hashlib.new(hname, DATA).digest()
        r = t.sign_data(name, b64(digest), prehashed=True, hash_algorithm=alg,
                        marshaling_algorithm="asn1")["data"]
        check(r["signature"].startswith("vault:v1:") and r["key_version"] == 1,
              "  ...sign_data prehashed: vault:v1: and key_version 1")
        check(openssl("pkeyutl", "-verify", "-pubin", "-inkey", pem, "-in",
                      write("digest", digest), "-sigfile", write("sig", raw_sig(r["signature"]))),
              "  ...OpenSSL verifies the DER signature over the digest")
        check(openssl("dgst", "-" + hname, "-verify", pem, "-signature",
                      write("sig", raw_sig(r["signature"])), write("data", DATA)),
              "  ...and over the data (openssl dgst -%s)" % hname)
        v = t.verify_signed_data(name, b64(digest), signature=r["signature"], prehashed=True,
                                 hash_algorithm=alg)["data"]
        check(v == {"valid": True}, "  ...verify_signed_data: valid")
        bad = raw_sig(r["signature"])
        bad = bad[:-1] + bytes([bad[-1] ^ 1])
        v = t.verify_signed_data(name, b64(digest), signature="vault:v1:" + b64(bad),
                                 prehashed=True, hash_algorithm=alg)["data"]
        check(v == {"valid": False}, "  ...a changed signature: valid false")
        r = t.sign_data(name, b64(DATA), hash_algorithm=alg)["data"]
        check(openssl("dgst", "-" + hname, "-verify", pem, "-signature",
                      write("sig", raw_sig(r["signature"])), write("data", DATA)),
              "  ...sign_data of the data itself (Vault hashes): OpenSSL verifies it")
        r = t.sign_data(name, b64(digest), prehashed=True, hash_algorithm=alg,
                        marshaling_algorithm="jws")["data"]
        jws = r["signature"][len("vault:v1:"):]
        raw = base64.urlsafe_b64decode(jws + "=" * (-len(jws) % 4))
        check("=" not in jws and "+" not in jws and "/" not in jws and
              len(raw) == 2 * ((bits + 7) // 8),
              "  ...jws marshaling: unpadded URL-safe base64 of r||s")


def rsa(c, t):
    name = "p11kms-rsa2048"
    pem, d = public_key(t, name)
    check(d["type"] == "rsa-2048" and d["keys"]["1"]["name"] == "rsa-2048" and
          d["supports_signing"] and d["supports_encryption"] and d["supports_decryption"],
          "rsa-2048: read_key: signing, encryption and decryption")
    digest = hashlib.sha256(DATA).digest()
    r = t.sign_data(name, b64(digest), prehashed=True, hash_algorithm="sha2-256",
                    signature_algorithm="pkcs1v15")["data"]
    check(openssl("dgst", "-sha256", "-verify", pem, "-signature",
                  write("sig", raw_sig(r["signature"])), write("data", DATA)),
          "  ...pkcs1v15 prehashed sha2-256: OpenSSL verifies PKCS#1 v1.5 SHA-256")
    r2 = t.sign_data(name, b64(digest), prehashed=True, hash_algorithm="sha2-256",
                     signature_algorithm="pkcs1v15")["data"]
    check(r["signature"] == r2["signature"], "  ...deterministic, as PKCS#1 v1.5 is")
    check(t.verify_signed_data(name, b64(digest), signature=r["signature"], prehashed=True,
                               hash_algorithm="sha2-256", signature_algorithm="pkcs1v15")
          ["data"]["valid"] is True, "  ...verify_signed_data: valid")
    r = t.sign_data(name, b64(DATA), hash_algorithm="sha2-256")["data"]
    check(openssl("dgst", "-sha256", "-verify", pem, "-sigopt", "rsa_padding_mode:pss",
                  "-sigopt", "rsa_pss_saltlen:222", "-signature",
                  write("sig", raw_sig(r["signature"])), write("data", DATA)),
          "  ...default pss, salt_length auto: OpenSSL verifies it with the longest salt "
          "(256 - 32 - 2 = 222 bytes)")
    # hvac 0.11 has no salt_length argument: the same client's adapter posts it
    r = c.adapter.post("/v1/transit/sign/%s" % name,
                       json={"input": b64(digest), "prehashed": True,
                             "hash_algorithm": "sha2-256", "signature_algorithm": "pss",
                             "salt_length": "hash"})["data"]
    sig = write("sig", raw_sig(r["signature"]))
    check(openssl("dgst", "-sha256", "-verify", pem, "-sigopt", "rsa_padding_mode:pss",
                  "-sigopt", "rsa_pss_saltlen:32", "-signature", sig, write("data", DATA)),
          "  ...salt_length hash: OpenSSL verifies PSS SHA-256 with a 32-byte salt")
    check(not openssl("dgst", "-sha256", "-verify", pem, "-sigopt", "rsa_padding_mode:pss",
                      "-sigopt", "rsa_pss_saltlen:222", "-signature", sig, write("data", DATA),
                      quiet=True), "  ...and not with the longest salt")

    ct = t.encrypt_data(name, b64(b"a data key"))["data"]["ciphertext"]
    check(ct.startswith("vault:v1:") and len(raw_sig(ct)) == 256,
          "  ...encrypt_data: vault:v1: and a 256-byte RSA ciphertext")
    check(base64.b64decode(t.decrypt_data(name, ct)["data"]["plaintext"]) == b"a data key",
          "  ...decrypt_data opens it")
    enc = os.path.join(TMP, "oaep.enc")
    ok = openssl("pkeyutl", "-encrypt", "-pubin", "-inkey", pem, "-pkeyopt",
                 "rsa_padding_mode:oaep", "-pkeyopt", "rsa_oaep_md:sha256", "-pkeyopt",
                 "rsa_mgf1_md:sha256", "-in", write("pt", b"from openssl"), "-out", enc)
    with open(enc, "rb") as f:
        ct = "vault:v1:" + b64(f.read())
    check(ok and base64.b64decode(t.decrypt_data(name, ct)["data"]["plaintext"]) ==
          b"from openssl", "  ...decrypt_data of OpenSSL's OAEP SHA-256 ciphertext")
    check(fails(hx.InternalServerError, "1 error occurred:\n\t* failed to RSA decrypt the "
                "ciphertext: crypto/rsa: decryption error\n\n", t.decrypt_data, name,
                "vault:v1:" + b64(b"\x01" * 256)),
          "  ...a ciphertext that does not open: 500, as keysutil's internal error")


def versions_and_errors(c, t):
    pem1, d = public_key(t, "p11kms-rsa3072", "1")
    pem2, _ = public_key(t, "p11kms-rsa3072", "2")
    check(d["latest_version"] == 2 and sorted(d["keys"]) == ["1", "2"],
          "rsa-3072 with two versions: both public keys")
    digest = hashlib.sha256(DATA).digest()
    r = t.sign_data("p11kms-rsa3072", b64(digest), key_version=1, prehashed=True,
                    signature_algorithm="pkcs1v15")["data"]
    sig = write("sig", raw_sig(r["signature"]))
    check(r["key_version"] == 1 and
          openssl("dgst", "-sha256", "-verify", pem1, "-signature", sig, write("data", DATA)) and
          not openssl("dgst", "-sha256", "-verify", pem2, "-signature", sig, write("data", DATA),
                      quiet=True),
          "  ...key_version 1 signs with version 1's key, not version 2's")
    check(fails(hx.InvalidRequest, "signing key not found", t.sign_data, "no-such-key",
                b64(digest)), "sign with an unknown key: 400 signing key not found")
    check(fails(hx.InvalidRequest, "key type aes256-gcm96 does not support signing",
                t.sign_data, "p11kms-plain", b64(digest)),
          "sign with an AES key: 400 does not support signing")
    check(fails(hx.InvalidRequest, "message encryption not supported for key type ecdsa-p256",
                t.encrypt_data, "p11kms-ec256", b64(b"x")),
          "encrypt with an ECDSA key: 400")
    app = client(srv_ref[0], token=vaultsrv.APP_TOKEN).secrets.transit
    check(app.sign_data("p11kms-ec256", b64(digest), prehashed=True)["data"]["signature"]
          .startswith("vault:v1:"), "the app token's policy allows transit/sign")
    check(fails(hx.Forbidden, None, app.sign_data, "p11kms-ec-denied", b64(digest),
                prehashed=True), "  ...but denies transit/sign/p11kms-ec-denied: 403")
    r = t.create_key("hvac-made-ec", key_type="ecdsa-p384")
    t.rotate_key("hvac-made-ec")
    d = t.read_key("hvac-made-ec")["data"]
    check(d["type"] == "ecdsa-p384" and d["latest_version"] == 2 and
          d["keys"]["1"]["public_key"] != d["keys"]["2"]["public_key"],
          "create_key ecdsa-p384 and rotate_key: two versions, two public keys")
    check(fails(hx.InvalidRequest, None, t.create_key, "hvac-derived-rsa", key_type="rsa-2048",
                derived=True), "a derived RSA key: 400")


srv_ref = []

if __name__ == "__main__":
    try:
        with vaultsrv.VaultServer() as srv:
            srv_ref.append(srv)
            c = client(srv)
            ecdsa(c.secrets.transit)
            rsa(c, c.secrets.transit)
            versions_and_errors(c, c.secrets.transit)
    finally:
        shutil.rmtree(TMP, ignore_errors=True)
    sys.exit(finish())
