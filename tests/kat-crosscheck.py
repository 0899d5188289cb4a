#!/usr/bin/python3
# kat-crosscheck.py - every known-answer vector of tests/kat.h recomputed with python3-cryptography,
# an implementation independent of the OpenSSL EVP code the module uses, so a vector mistyped
# from its RFC or NIST source cannot pass by agreeing with a bug. Exit 0 pass, 1 fail, 77 skip.
import os
import re
import sys

try:
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
    from cryptography.hazmat.primitives.cmac import CMAC
    from cryptography.hazmat.primitives.keywrap import (aes_key_unwrap, aes_key_unwrap_with_padding,
                                                        aes_key_wrap, aes_key_wrap_with_padding)
except ImportError:
    print("1..0 # SKIP python3-cryptography is not installed")
    sys.exit(77)

top_srcdir = os.environ.get("top_srcdir", os.path.join(os.path.dirname(__file__), ".."))
with open(os.path.join(top_srcdir, "tests", "kat.h")) as f:
    text = f.read()

# The header's string macros, expanded (a macro may continue another: `#define B A "..."`).
macros = {}
for m in re.finditer(r'^#define (KAT_\w+)[ \t]+(.*)$', re.sub(r'\\\n', ' ', text), re.M):
    parts = re.findall(r'KAT_\w+|"[0-9a-f]*"', m.group(2))
    if parts and all(p.startswith('"') or p in macros for p in parts):
        macros[m.group(1)] = "".join(macros.get(p, p.strip('"')) for p in parts)


def value(tok):
    """A C string expression of macros and literals, as bytes."""
    tok = tok.strip()
    parts = re.findall(r'KAT_\w+|"[0-9a-f]*"', tok)
    return bytes.fromhex("".join(macros[p] if p.startswith("KAT_") else p.strip('"')
                                 for p in parts))


def entries(array):
    body = re.search(r"%s\[\] = \{(.*?)\n\};" % array, text, re.S).group(1)
    return [e for e in re.findall(r"\{(\".*?)\},?\n", body + "\n", re.S)]


def fields(entry):
    # Split on commas outside string literals.
    out, cur, quoted = [], "", False
    for ch in entry:
        if ch == '"':
            quoted = not quoted
        if ch == "," and not quoted:
            out.append(cur)
            cur = ""
        else:
            cur += ch
    out.append(cur)
    return [f.strip() for f in out]


n = failed = 0


def check(cond, what):
    global n, failed
    n += 1
    if not cond:
        failed += 1
    print("%s %d - %s" % ("ok" if cond else "not ok", n, what))


def crypt(mech, key, iv, data):
    mode = modes.ECB() if mech == "CKM_AES_ECB" else modes.CTR(iv)
    e = Cipher(algorithms.AES(key), mode).encryptor()
    return e.update(data) + e.finalize()


for e in entries("kat_ciphers"):
    src, mech, key, iv, pt, ct = fields(e)
    out = crypt(mech, value(key), value(iv), value(pt))
    check(out == value(ct), src.strip('"'))

for e in entries("kat_wraps"):
    src, mech, kek, key, wrapped = fields(e)
    kek, key, wrapped = value(kek), value(key), value(wrapped)
    if mech == "CKM_AES_KEY_WRAP":
        ok_ = aes_key_wrap(kek, key) == wrapped and aes_key_unwrap(kek, wrapped) == key
    else:
        ok_ = (aes_key_wrap_with_padding(kek, key) == wrapped and
               aes_key_unwrap_with_padding(kek, wrapped) == key)
    check(ok_, src.strip('"'))

pt = value("KAT_SP_PT")
for e in entries("kat_macs"):
    src, key, msg_len, mac = fields(e)
    c = CMAC(algorithms.AES(value(key)))
    c.update(pt[:int(msg_len)])
    check(c.finalize() == value(mac), src.strip('"'))

check(n == 4 + 8 + 8, "all 20 vectors of tests/kat.h were read")
print("1..%d" % n)
sys.exit(1 if failed else 0)
