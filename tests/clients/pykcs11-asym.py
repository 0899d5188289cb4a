#!/usr/bin/python3
# pykcs11-asym.py - Python PyKCS11 (Debian python3-pykcs11) with an asymmetric local RSA key:
# RSA-OAEP (SHA-256 and SHA-1) decryption through the module of what python3-cryptography
# encrypted to the key, encryption with the public key object decrypted by python3-cryptography,
# and a PSS signature verified by python3-cryptography. The key file comes from
# "p11kms keygen --type rsa-2048". Exit 0 pass, 1 fail, 77 skip.
import os
import re
import subprocess
import sys
import tempfile

try:
    import PyKCS11
    from PyKCS11 import (CKA_CLASS, CKA_LABEL, CKF_RW_SESSION, CKF_SERIAL_SESSION, CKG_MGF1_SHA1,
                         CKG_MGF1_SHA256, CKM_RSA_PKCS_OAEP, CKM_SHA_1, CKM_SHA256,
                         CKM_SHA256_RSA_PKCS_PSS, CKO_PRIVATE_KEY, CKO_PUBLIC_KEY)
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding
except ImportError as e:
    print("SKIP: python3-pykcs11 or python3-cryptography is not installed (%s)" % e)
    sys.exit(77)

module = os.environ["P11KMS_TEST_MODULE"]
top_builddir = os.environ["top_builddir"]
passed = failed = 0


def sanitizer_reexec():
    """As pykcs11.py: an ASan module needs the runtimes preloaded before Python starts."""
    if "P11KMS_SANITIZER_REEXEC" in os.environ:
        return
    ldd = subprocess.run(["ldd", module], capture_output=True, text=True).stdout
    libs = [line.split()[2] for line in ldd.splitlines()
            if re.search(r"lib(asan|ubsan)\.so", line) and len(line.split()) > 2]
    if not libs:
        return
    env = dict(os.environ, P11KMS_SANITIZER_REEXEC="1",
               LD_PRELOAD=" ".join(libs + [os.environ.get("LD_PRELOAD", "")]).strip(),
               ASAN_OPTIONS="detect_leaks=0:" + os.environ.get("ASAN_OPTIONS", ""))
    os.execve(sys.executable, [sys.executable] + sys.argv, env)


sanitizer_reexec()


def ok(cond, what):
    global passed, failed
    if cond:
        passed += 1
        print("ok - " + what)
    else:
        failed += 1
        print("FAIL - " + what)


def oaep(md):
    algo = hashes.SHA256() if md == "sha256" else hashes.SHA1()
    return padding.OAEP(mgf=padding.MGF1(algorithm=algo), algorithm=algo, label=None)


def oaep_mech(md):
    if md == "sha256":
        return PyKCS11.RSAOAEPMechanism(CKM_SHA256, CKG_MGF1_SHA256)
    return PyKCS11.RSAOAEPMechanism(CKM_SHA_1, CKG_MGF1_SHA1)


with tempfile.TemporaryDirectory(prefix="p11kms-pykcs11-asym.") as tmp:
    key_path = os.path.join(tmp, "rsa.pem")
    r = subprocess.run([os.path.join(top_builddir, "p11kms"), "keygen", "--type", "rsa-2048",
                        key_path], capture_output=True, text=True)
    if r.returncode != 0:
        print("FAIL - p11kms keygen --type rsa-2048: " + r.stderr)
        sys.exit(1)
    with open(key_path, "rb") as f:
        private = serialization.load_pem_private_key(f.read(), password=None)
    public = private.public_key()
    conf = os.path.join(tmp, "p11kms.conf")
    with open(conf, "w") as f:
        f.write('{"tokens": [{"label": "py", "keys": [{"label": "rsa", "backend": "local", '
                '"type": "rsa-2048", "key_file": "%s", "permissions": ["sign", "decrypt"]}]}]}'
                % key_path)
    os.chmod(conf, 0o600)
    os.environ.pop("KMS_KEY_ID", None)
    os.environ["P11KMS_CONFIG"] = conf

    lib = PyKCS11.PyKCS11Lib()
    lib.load(module)
    slot = lib.getSlotList(tokenPresent=True)[0]
    s = lib.openSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION)
    priv = s.findObjects([(CKA_CLASS, CKO_PRIVATE_KEY), (CKA_LABEL, "rsa")])
    pub = s.findObjects([(CKA_CLASS, CKO_PUBLIC_KEY), (CKA_LABEL, "rsa")])
    ok(len(priv) == 1 and len(pub) == 1, "the private and public key objects")
    secret = os.urandom(32)
    for md in ("sha256", "sha1"):
        ct = public.encrypt(secret, oaep(md))
        try:
            pt = bytes(s.decrypt(priv[0], ct, oaep_mech(md)))
        except PyKCS11.PyKCS11Error as e:
            pt = b""
            print("# decrypt: %s" % e)
        ok(pt == secret, "OAEP %s: the module decrypts python3-cryptography's ciphertext" % md)
        bad = bytearray(ct)
        bad[7] ^= 1
        try:
            s.decrypt(priv[0], bytes(bad), oaep_mech(md))
            ok(False, "  ...a changed ciphertext was opened")
        except PyKCS11.PyKCS11Error as e:
            ok("CKR_ENCRYPTED_DATA_INVALID" in str(e), "  ...a changed ciphertext does not open")
        ct2 = bytes(s.encrypt(pub[0], secret, oaep_mech(md)))
        ok(private.decrypt(ct2, oaep(md)) == secret,
           "OAEP %s: the public key object encrypts for the key" % md)
    msg = b"signed through PyKCS11"
    sig = bytes(s.sign(priv[0], msg, PyKCS11.RSA_PSS_Mechanism(CKM_SHA256_RSA_PKCS_PSS, CKM_SHA256,
                                                               CKG_MGF1_SHA256, 32)))
    try:
        public.verify(sig, msg, padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32),
                      hashes.SHA256())
        ok(True, "SHA256-RSA-PKCS-PSS: python3-cryptography verifies the signature")
    except Exception as e:  # InvalidSignature
        ok(False, "SHA256-RSA-PKCS-PSS signature: %r" % e)
    s.closeSession()
    del lib

print("# %d passed, %d failed" % (passed, failed))
sys.exit(1 if failed or not passed else 0)
