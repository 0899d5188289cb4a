# hvac_common.py - shared pieces of the hvac fidelity tests of the loopback Vault server: TAP
# checks, hvac exception matching, clients aimed at the server. Exits 77 when hvac is missing.
"""Helpers for test-server-hvac*.py."""

import base64
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.environ.get("top_srcdir") or os.path.dirname(os.path.dirname(os.path.dirname(HERE)))
sys.path.insert(0, os.path.join(TOP, "tests", "servers"))

try:
    import hvac
    import requests
    from hvac import exceptions as hx
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF
except ImportError as e:
    print("# SKIP: %s cannot import hvac/requests/cryptography (Debian: python3-hvac "
          "python3-cryptography): %s" % (sys.executable, e))
    sys.exit(77)

import vaultsrv  # noqa: E402

__all__ = ["AESGCM", "HKDF", "hashes", "hvac", "hx", "requests", "vaultsrv"]

_counts = {"n": 0, "failures": 0}
ERR_TOO_OLD = "ciphertext or signature version is disallowed by policy (too old)"
MISSING_CONTEXT = ("missing 'context' for key derivation; the key was created using a derived "
                   "key, which means additional, per-request information must be included in "
                   "order to perform operations with the key")
AUTH_FAILED = "cipher: message authentication failed"
ENVELOPE = ["request_id", "lease_id", "renewable", "lease_duration", "data", "wrap_info",
            "warnings", "auth", "mount_type"]


def check(cond, what):
    _counts["n"] += 1
    if cond:
        print("ok %d - %s" % (_counts["n"], what))
    else:
        _counts["failures"] += 1
        print("not ok %d - %s" % (_counts["n"], what))
    return cond


def raised(func, *args, **kwargs):
    """(exception class, errors list) hvac raised, or (None, answer)."""
    try:
        return None, func(*args, **kwargs)
    except hx.VaultError as e:
        return type(e), e.errors
    except requests.exceptions.RequestException as e:
        return type(e), [str(e)]


def fails(expected_cls, expected_msg, func, *args, **kwargs):
    cls, errors = raised(func, *args, **kwargs)
    ok = cls is not None and issubclass(cls, expected_cls)
    if expected_msg is not None:
        ok = ok and isinstance(errors, list) and expected_msg in errors
    if not ok:
        print("#   got %s %r" % (cls.__name__ if cls else None, errors))
    return ok


def b64(data):
    return base64.b64encode(data).decode()


def client(srv, token=vaultsrv.ROOT_TOKEN, **kw):
    return hvac.Client(url=srv.addr, token=token, **kw)


def finish():
    print("1..%d" % _counts["n"])
    return 1 if _counts["failures"] else 0
