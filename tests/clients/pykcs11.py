#!/usr/bin/python3
# pykcs11.py - Python PyKCS11 (Debian python3-pykcs11) against the built module: an envelope
# round trip with an encryption context through CKM_P11KMS_ENVELOPE_ENCODED, its refusals, and
# AES-GCM and AES-CBC-PAD with the data key before wrapping and after unwrapping; AES key wrap,
# ECB and CMAC with data keys against python3-cryptography, both ways.
# Exit 0 pass, 1 fail, 77 skip.
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile

try:
    import PyKCS11
    from PyKCS11 import (CKA_CLASS, CKA_DECRYPT, CKA_ENCRYPT, CKA_EXTRACTABLE, CKA_KEY_TYPE,
                         CKA_LABEL, CKA_SENSITIVE, CKA_SIGN, CKA_TOKEN, CKA_UNWRAP, CKA_VALUE,
                         CKA_VALUE_LEN, CKA_VERIFY, CKA_WRAP, CKK_AES, CKK_GENERIC_SECRET,
                         CKM_AES_CBC_PAD, CKM_AES_CMAC, CKM_AES_CMAC_GENERAL, CKM_AES_ECB,
                         CKM_AES_KEY_GEN, CKM_AES_KEY_WRAP, CKM_AES_KEY_WRAP_KWP,
                         CKM_AES_KEY_WRAP_PAD, CKO_SECRET_KEY, CKR_ENCRYPTED_DATA_INVALID,
                         CKR_KEY_UNEXTRACTABLE, CKR_WRAPPED_KEY_INVALID, CKF_RW_SESSION,
                         CKF_SERIAL_SESSION)
except ImportError:
    print("SKIP: python3-pykcs11 is not installed")
    sys.exit(77)

top_srcdir = os.environ["top_srcdir"]
module = os.environ["P11KMS_TEST_MODULE"]
passed = failed = 0


def sanitizer_reexec():
    """A module built with --enable-asan needs the sanitizer runtimes loaded before Python
    starts: re-run this script with them preloaded (leak detection off: Python's own
    allocations are not ours; the module's leaks are checked by the module tests)."""
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
    return cond


def vendor_base():
    # The vendor values are read from the public header, so a renumbering there cannot
    # silently leave this client testing stale numbers.
    with open(os.path.join(top_srcdir, "pkcs11", "p11kms.h")) as f:
        m = re.search(r"#define P11KMS_VENDOR_BASE (0x[0-9A-Fa-f]+)UL", f.read())
    return int(m.group(1), 16)


VENDOR = 0x80000000 | vendor_base()
CKM_P11KMS_ENVELOPE_ENCODED = VENDOR | 0x02
CKA_P11KMS_DEFAULT_CONTEXT = VENDOR | 0x04


def encode_context(pairs):
    """The canonical context encoding of pkcs11/p11kms.h, written here independently."""
    items = sorted((k.encode(), v.encode()) for k, v in pairs.items())
    out = struct.pack(">H", len(items))
    for k, v in items:
        out += struct.pack(">H", len(k)) + k + struct.pack(">H", len(v)) + v
    return out


def expect_error(what, want, fn, *args):
    try:
        fn(*args)
    except PyKCS11.PyKCS11Error as e:
        return ok(e.value == want, "%s: %s (got %s)" % (what, PyKCS11.CKR[want], e))
    return ok(False, what + ": succeeded, want " + PyKCS11.CKR[want])


def test_config(tmp):
    """Key file and configuration from the shared shell helper (one source of truth)."""
    script = ('. "$top_srcdir/tests/clients/test-config.sh"; p11kms_test_keyfile "$1/local.key"; '
              'p11kms_test_config "$1/p11kms.conf" "$1/local.key"; '
              'echo "$P11KMS_TEST_TOKEN $P11KMS_TEST_KEY $P11KMS_TEST_CONTEXT_KEY '
              '$P11KMS_TEST_CONTEXT_VALUE"')
    out = subprocess.run(["sh", "-c", script, "sh", tmp], check=True, capture_output=True,
                         text=True).stdout.split()
    return os.path.join(tmp, "p11kms.conf"), out[0], out[1], {out[2]: out[3]}


def secret_keys(session):
    return len(session.findObjects([(CKA_CLASS, CKO_SECRET_KEY)]))


def value(session, key):
    return bytes(session.getAttributeValue(key, [CKA_VALUE], allAsBinary=True)[0])


def main(tmp):
    conf, token, kms_label, default_ctx = test_config(tmp)
    for var in ("KMS_KEY_ID", "P11KMS_CONFIG"):
        os.environ.pop(var, None)
    os.environ["P11KMS_CONFIG"] = conf
    os.environ.setdefault("P11KMS_LOG", "warning")

    lib = PyKCS11.PyKCS11Lib()
    lib.load(module)
    slots = [s for s in lib.getSlotList(tokenPresent=True)
             if lib.getTokenInfo(s).label.strip() == token]
    if not ok(len(slots) == 1, "token %s found" % token):
        return
    session = lib.openSession(slots[0], CKF_SERIAL_SESSION | CKF_RW_SESSION)
    kms = session.findObjects([(CKA_CLASS, CKO_SECRET_KEY), (CKA_LABEL, kms_label)])
    if not ok(len(kms) == 1, "KMS key %s found" % kms_label):
        return
    kms = kms[0]

    # The module's default context of the key equals our own encoding of the configured one.
    dflt = bytes(session.getAttributeValue(kms, [CKA_P11KMS_DEFAULT_CONTEXT],
                                           allAsBinary=True)[0])
    ok(dflt == encode_context(default_ctx),
       "CKA_P11KMS_DEFAULT_CONTEXT is the canonical encoding of the configured context")

    data_key_tmpl = [(CKA_CLASS, CKO_SECRET_KEY), (CKA_KEY_TYPE, CKK_AES), (CKA_VALUE_LEN, 32),
                     (CKA_TOKEN, False), (CKA_SENSITIVE, False), (CKA_EXTRACTABLE, True),
                     (CKA_ENCRYPT, True), (CKA_DECRYPT, True)]
    dk = session.generateKey(data_key_tmpl, PyKCS11.Mechanism(CKM_AES_KEY_GEN))
    dk_value = value(session, dk)
    ok(len(dk_value) == 32, "generated data key is 32 bytes")

    # AES-GCM with the data key, before it is wrapped.
    iv, aad = os.urandom(12), b"record 42 header"
    plain = os.urandom(3000) + b"tail"
    gcm = PyKCS11.AES_GCM_Mechanism(iv, aad, 128)
    ct = bytes(session.encrypt(dk, plain, gcm))
    ok(len(ct) == len(plain) + 16, "AES-GCM ciphertext carries a 16-byte tag")
    cbc_iv = os.urandom(16)
    cbc_ct = bytes(session.encrypt(dk, plain, PyKCS11.Mechanism(CKM_AES_CBC_PAD, cbc_iv)))
    ref = subprocess.run(["openssl", "enc", "-aes-256-cbc", "-K", dk_value.hex(), "-iv",
                          cbc_iv.hex()], input=plain, capture_output=True, check=True).stdout
    ok(cbc_ct == ref, "AES-CBC-PAD ciphertext equals OpenSSL's")

    # Envelope with a per-call context.
    ctx = {"tenant": "acme", "purpose": "pykcs11 round trip", "zone": "eu-1"}
    enc = PyKCS11.Mechanism(CKM_P11KMS_ENVELOPE_ENCODED, encode_context(ctx))
    wrapped = bytes(session.wrapKey(kms, dk, enc))
    ok(wrapped[:6] == b"PKMS\x02\x01", "the wrapped key is a version-2 envelope of a wrapped key")
    ok(dk_value not in wrapped, "the envelope does not contain the key in clear")

    unwrap_tmpl = [(CKA_CLASS, CKO_SECRET_KEY), (CKA_KEY_TYPE, CKK_AES), (CKA_TOKEN, False),
                   (CKA_SENSITIVE, False), (CKA_EXTRACTABLE, True), (CKA_ENCRYPT, True),
                   (CKA_DECRYPT, True)]
    before = secret_keys(session)
    for what, bad in (("a changed value", dict(ctx, tenant="acme2")),
                      ("a missing pair", {k: v for k, v in ctx.items() if k != "zone"}),
                      ("an extra pair", dict(ctx, extra="x")),
                      ("the empty context", {})):
        mech = PyKCS11.Mechanism(CKM_P11KMS_ENVELOPE_ENCODED, encode_context(bad))
        expect_error("unwrap with " + what, CKR_WRAPPED_KEY_INVALID, session.unwrapKey, kms,
                     wrapped, unwrap_tmpl, mech)
    expect_error("unwrap with the key's default context (no parameter)", CKR_WRAPPED_KEY_INVALID,
                 session.unwrapKey, kms, wrapped, unwrap_tmpl,
                 PyKCS11.Mechanism(CKM_P11KMS_ENVELOPE_ENCODED))
    tampered = bytearray(wrapped)
    tampered[-1] ^= 0x01
    expect_error("unwrap of a tampered envelope", CKR_WRAPPED_KEY_INVALID, session.unwrapKey,
                 kms, bytes(tampered), unwrap_tmpl, enc)
    ok(secret_keys(session) == before, "refused unwraps created no object")

    dk2 = session.unwrapKey(kms, wrapped, unwrap_tmpl, enc)
    ok(secret_keys(session) == before + 1, "the unwrap created one object")
    ok(value(session, dk2) == dk_value, "unwrap with the same context gives the same key value")
    back = bytes(session.decrypt(dk2, ct, PyKCS11.AES_GCM_Mechanism(iv, aad, 128)))
    ok(back == plain, "the unwrapped key decrypts the AES-GCM data")
    back = bytes(session.decrypt(dk2, cbc_ct, PyKCS11.Mechanism(CKM_AES_CBC_PAD, cbc_iv)))
    ok(back == plain, "the unwrapped key decrypts the AES-CBC-PAD data")
    bad_ct = bytearray(ct)
    bad_ct[10] ^= 0x80
    expect_error("AES-GCM decrypt of tampered data", CKR_ENCRYPTED_DATA_INVALID, session.decrypt,
                 dk2, bytes(bad_ct), PyKCS11.AES_GCM_Mechanism(iv, aad, 128))

    # The standard mechanism uses the key's default context: the same envelope is readable with
    # the vendor mechanism given that context explicitly.
    std = bytes(session.wrapKey(kms, dk, PyKCS11.Mechanism(CKM_AES_KEY_WRAP_PAD)))
    dk3 = session.unwrapKey(kms, std, unwrap_tmpl,
                            PyKCS11.Mechanism(CKM_P11KMS_ENVELOPE_ENCODED,
                                              encode_context(default_ctx)))
    ok(value(session, dk3) == dk_value,
       "CKM_AES_KEY_WRAP_PAD binds the configured default context")

    # A data key the application made unextractable cannot be wrapped.
    locked = session.generateKey([(CKA_CLASS, CKO_SECRET_KEY), (CKA_KEY_TYPE, CKK_AES),
                                  (CKA_VALUE_LEN, 32), (CKA_TOKEN, False),
                                  (CKA_EXTRACTABLE, False)], PyKCS11.Mechanism(CKM_AES_KEY_GEN))
    expect_error("wrap of an unextractable key", CKR_KEY_UNEXTRACTABLE, session.wrapKey, kms,
                 locked, enc)

    # A small secret encrypted by the KMS key itself, with the context.
    secret = b"db password: correct horse battery staple"
    box = bytes(session.encrypt(kms, secret, enc))
    ok(box[:4] == b"PKMS" and secret not in box, "C_Encrypt with the KMS key gives an envelope")
    ok(box[4:6] == b"\x02\x02", "a version-2 envelope of data")
    ok(bytes(session.decrypt(kms, box, enc)) == secret, "C_Decrypt with the same context")
    expect_error("C_Decrypt of the wrapped key", CKR_ENCRYPTED_DATA_INVALID, session.decrypt,
                 kms, wrapped, enc)
    before = secret_keys(session)
    expect_error("C_UnwrapKey of the data envelope", CKR_WRAPPED_KEY_INVALID, session.unwrapKey,
                 kms, box, unwrap_tmpl, enc)
    ok(secret_keys(session) == before, "no object was created")
    expect_error("C_Decrypt with another context", CKR_ENCRYPTED_DATA_INVALID, session.decrypt,
                 kms, box, PyKCS11.Mechanism(CKM_P11KMS_ENVELOPE_ENCODED,
                                             encode_context(dict(ctx, zone="us-1"))))

    test_data_key_wrap(session)
    session.closeSession()


def test_data_key_wrap(session):
    """AES key wrap with an AES data key as the wrapping key, checked against
    python3-cryptography in both directions, and ECB and CMAC with data keys."""
    try:
        from cryptography.hazmat.primitives import cmac, keywrap
        from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
    except ImportError:
        print("# python3-cryptography missing: data-key wrap interop not checked")
        return
    readable = [(CKA_CLASS, CKO_SECRET_KEY), (CKA_TOKEN, False), (CKA_SENSITIVE, False),
                (CKA_EXTRACTABLE, True)]
    kek = session.generateKey(readable + [(CKA_KEY_TYPE, CKK_AES), (CKA_VALUE_LEN, 24),
                                          (CKA_WRAP, True), (CKA_UNWRAP, True),
                                          (CKA_ENCRYPT, False), (CKA_DECRYPT, False)],
                              PyKCS11.Mechanism(CKM_AES_KEY_GEN))
    kek_value = value(session, kek)
    dk = session.generateKey(readable + [(CKA_KEY_TYPE, CKK_AES), (CKA_VALUE_LEN, 32)],
                             PyKCS11.Mechanism(CKM_AES_KEY_GEN))
    dk_value = value(session, dk)

    kw = PyKCS11.Mechanism(CKM_AES_KEY_WRAP)
    wrapped = bytes(session.wrapKey(kek, dk, kw))
    ok(len(wrapped) == 40 and keywrap.aes_key_unwrap(kek_value, wrapped) == dk_value,
       "CKM_AES_KEY_WRAP: python3-cryptography unwraps what the module wrapped")
    for mech in (CKM_AES_KEY_WRAP_PAD, CKM_AES_KEY_WRAP_KWP):
        wrapped = bytes(session.wrapKey(kek, dk, PyKCS11.Mechanism(mech)))
        ok(keywrap.aes_key_unwrap_with_padding(kek_value, wrapped) == dk_value,
           "%s: python3-cryptography unwraps what the module wrapped" % PyKCS11.CKM[mech])

    chosen = os.urandom(32)
    aes_tmpl = readable + [(CKA_KEY_TYPE, CKK_AES)]
    got = session.unwrapKey(kek, keywrap.aes_key_wrap(kek_value, chosen), aes_tmpl, kw)
    ok(value(session, got) == chosen,
       "CKM_AES_KEY_WRAP: the module unwraps what python3-cryptography wrapped")
    secret = os.urandom(21)
    generic = readable + [(CKA_KEY_TYPE, CKK_GENERIC_SECRET)]
    got = session.unwrapKey(kek, keywrap.aes_key_wrap_with_padding(kek_value, secret), generic,
                            PyKCS11.Mechanism(CKM_AES_KEY_WRAP_KWP))
    ok(value(session, got) == secret,
       "CKM_AES_KEY_WRAP_KWP: the module unwraps a 21-byte secret python3-cryptography wrapped")
    tampered = bytearray(keywrap.aes_key_wrap(kek_value, chosen))
    tampered[3] ^= 1
    expect_error("unwrap of changed bytes", CKR_WRAPPED_KEY_INVALID, session.unwrapKey, kek,
                 bytes(tampered), aes_tmpl, kw)

    mac_key = session.generateKey(readable + [(CKA_KEY_TYPE, CKK_AES), (CKA_VALUE_LEN, 16),
                                              (CKA_SIGN, True), (CKA_VERIFY, True)],
                                  PyKCS11.Mechanism(CKM_AES_KEY_GEN))
    data = os.urandom(1000)
    ref = cmac.CMAC(algorithms.AES(value(session, mac_key)))
    ref.update(data)
    ref = ref.finalize()
    ok(bytes(session.sign(mac_key, data, PyKCS11.Mechanism(CKM_AES_CMAC))) == ref,
       "CKM_AES_CMAC equals python3-cryptography's CMAC")
    ok(session.verify(mac_key, data, ref, PyKCS11.Mechanism(CKM_AES_CMAC)),
       "CKM_AES_CMAC verifies python3-cryptography's CMAC")
    general = PyKCS11.Mechanism(CKM_AES_CMAC_GENERAL, struct.pack("@L", 8))
    ok(bytes(session.sign(mac_key, data, general)) == ref[:8],
       "CKM_AES_CMAC_GENERAL of 8 bytes is the MAC's first 8")

    enc = session.encrypt(dk, data[:992], PyKCS11.Mechanism(CKM_AES_ECB))
    ref = Cipher(algorithms.AES(dk_value), modes.ECB()).encryptor().update(data[:992])
    ok(bytes(enc) == ref, "CKM_AES_ECB equals python3-cryptography's ECB")


if __name__ == "__main__":
    tmp = tempfile.mkdtemp(prefix="p11kms-pykcs11.")
    try:
        main(tmp)
    except PyKCS11.PyKCS11Error as e:
        ok(False, "unexpected PKCS#11 error: %s" % e)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("# %d passed, %d failed" % (passed, failed))
    sys.exit(1 if failed or not passed else 0)
