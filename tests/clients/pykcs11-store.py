#!/usr/bin/python3
# pykcs11-store.py - Python PyKCS11 and the object store, each step its own process as real use
# would be: one process generates a token AES key, a second encrypts with it (AES-GCM), a third
# decrypts; a fourth sees a tampered ciphertext refused and the key's value stay unreadable.
# The steps are this script run again with a step name. Exit 0 pass, 1 fail, 77 skip.
import os
import re
import shutil
import subprocess
import sys
import tempfile

try:
    import PyKCS11
    from PyKCS11 import (CKA_CLASS, CKA_EXTRACTABLE, CKA_KEY_TYPE, CKA_LABEL, CKA_SENSITIVE,
                         CKA_TOKEN, CKA_VALUE, CKA_VALUE_LEN, CKK_AES, CKM_AES_KEY_GEN,
                         CKO_SECRET_KEY, CKR_ATTRIBUTE_SENSITIVE, CKR_ENCRYPTED_DATA_INVALID,
                         CKF_RW_SESSION, CKF_SERIAL_SESSION)
except ImportError:
    print("SKIP: python3-pykcs11 is not installed")
    sys.exit(77)

module = os.environ["P11KMS_TEST_MODULE"]
LABEL = "gcm-across-processes"
IV = bytes(range(12))
AAD = b"pykcs11-store"


def sanitizer_env():
    """A module built with --enable-asan needs the sanitizer runtimes preloaded in Python."""
    ldd = subprocess.run(["ldd", module], capture_output=True, text=True).stdout
    libs = [line.split()[2] for line in ldd.splitlines()
            if re.search(r"lib(asan|ubsan)\.so", line) and len(line.split()) > 2]
    env = dict(os.environ)
    if libs:
        env["LD_PRELOAD"] = " ".join(libs + [env.get("LD_PRELOAD", "")]).strip()
        env["ASAN_OPTIONS"] = "detect_leaks=0:" + env.get("ASAN_OPTIONS", "")
    return env


def session():
    lib = PyKCS11.PyKCS11Lib()
    lib.load(module)
    token = os.environ["P11KMS_TEST_TOKEN"]
    slot = [s for s in lib.getSlotList(tokenPresent=True)
            if lib.getTokenInfo(s).label.strip() == token][0]
    return lib, lib.openSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION)


def the_key(s):
    keys = s.findObjects([(CKA_CLASS, CKO_SECRET_KEY), (CKA_LABEL, LABEL)])
    if len(keys) != 1:
        sys.exit("%d keys labelled %s" % (len(keys), LABEL))
    return keys[0]


def step(name, arg):
    """One process's part; prints its result on stdout."""
    lib, s = session()
    gcm = PyKCS11.AES_GCM_Mechanism(IV, AAD, 128)
    if name == "generate":
        s.generateKey([(CKA_CLASS, CKO_SECRET_KEY), (CKA_KEY_TYPE, CKK_AES), (CKA_VALUE_LEN, 32),
                       (CKA_TOKEN, True), (CKA_SENSITIVE, True), (CKA_EXTRACTABLE, False),
                       (CKA_LABEL, LABEL)], PyKCS11.Mechanism(CKM_AES_KEY_GEN))
    elif name == "encrypt":
        print(bytes(s.encrypt(the_key(s), bytes.fromhex(arg), gcm)).hex())
    elif name == "decrypt":
        print(bytes(s.decrypt(the_key(s), bytes.fromhex(arg), gcm)).hex())
    elif name == "refusals":
        key = the_key(s)
        bad = bytearray(bytes.fromhex(arg))
        bad[0] ^= 1
        try:
            s.decrypt(key, bytes(bad), gcm)
            print("tampered-accepted")
        except PyKCS11.PyKCS11Error as e:
            print("tampered-" + ("refused" if e.value == CKR_ENCRYPTED_DATA_INVALID else str(e)))
        # PyKCS11 answers None for an attribute the module calls sensitive.
        try:
            v = s.getAttributeValue(key, [CKA_VALUE], allAsBinary=True)[0]
            print("value-sensitive" if v is None else "value-readable")
        except PyKCS11.PyKCS11Error as e:
            print("value-" + ("sensitive" if e.value == CKR_ATTRIBUTE_SENSITIVE else str(e)))
    s.closeSession()


def main(tmp):
    passed = failed = 0

    def ok(cond, what):
        nonlocal passed, failed
        passed, failed = passed + bool(cond), failed + (not cond)
        print(("ok - " if cond else "FAIL - ") + what)

    script = ('. "$top_srcdir/tests/clients/test-config.sh"; p11kms_test_keyfile "$1/local.key"; '
              'p11kms_test_config "$1/p11kms.conf" "$1/local.key"; echo "$P11KMS_TEST_TOKEN"')
    token = subprocess.run(["sh", "-c", script, "sh", tmp], check=True, capture_output=True,
                           text=True).stdout.strip()
    env = sanitizer_env()
    for var in ("KMS_KEY_ID",):
        env.pop(var, None)
    env.update(P11KMS_CONFIG=os.path.join(tmp, "p11kms.conf"), P11KMS_TEST_TOKEN=token,
               XDG_DATA_HOME=os.path.join(tmp, "data"), P11KMS_LOG="warning")

    def run(name, arg=""):
        r = subprocess.run([sys.executable, __file__, name, arg], env=env, capture_output=True,
                           text=True)
        sys.stderr.write(r.stderr)
        return r.returncode, r.stdout.strip()

    store = os.path.join(tmp, "data", "p11kms", token)
    plain = os.urandom(100)
    rc, _ = run("generate")
    ok(rc == 0, "process 1 generates a token AES key")
    ok(len([f for f in os.listdir(store) if f.endswith(".obj")]) == 1,
       "its file is in the token's store")
    rc, ct = run("encrypt", plain.hex())
    ok(rc == 0 and len(ct) == 2 * (len(plain) + 16), "process 2 encrypts with it (AES-GCM)")
    rc, back = run("decrypt", ct)
    ok(rc == 0 and back == plain.hex(), "process 3 decrypts: the plaintext")
    rc, out = run("refusals", ct)
    ok(rc == 0 and out.split() == ["tampered-refused", "value-sensitive"],
       "process 4: a tampered ciphertext refused, the key's value unreadable (%s)" % out)
    return passed, failed


if __name__ == "__main__":
    if len(sys.argv) > 1:
        step(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else "")
        sys.exit(0)
    tmp = tempfile.mkdtemp(prefix="p11kms-pykcs11-store.")
    try:
        passed, failed = main(tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("# %d passed, %d failed" % (passed, failed))
    sys.exit(1 if failed or not passed else 0)
