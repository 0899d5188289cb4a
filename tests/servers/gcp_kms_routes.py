# gcp_kms_routes.py - the Cloud KMS REST v1 URL map of the test server (the google.api.http
# rules of service.proto) and the query parameters each method binds; system parameters such as
# $alt=json;enum-encoding=int as gax sends them.
"""route(method, path) -> (op name, function, name, allowed query params) or None."""

import re
from urllib.parse import parse_qsl, unquote

import gcp_kms_admin as admin
import gcp_kms_ops as ops
from gcp_kms_wire import GcpError, bad_payload

SEG = r"[^/:]+"
LOC = r"projects/%s/locations/%s" % (SEG, SEG)
RING = LOC + r"/keyRings/" + SEG
KEY = RING + r"/cryptoKeys/" + SEG
VER = KEY + r"/cryptoKeyVersions/" + SEG

PAGING = ("pageSize", "pageToken", "filter", "orderBy", "view")
# (HTTP method, path pattern, operation, function, query parameters bound to the request)
ROUTES = [
    ("POST", r"(%s(?:/cryptoKeyVersions/%s)?):encrypt" % (KEY, SEG), "Encrypt", ops.encrypt,
     ()),
    ("POST", r"(%s):decrypt" % KEY, "Decrypt", ops.decrypt, ()),
    ("POST", r"(%s):asymmetricSign" % VER, "AsymmetricSign", ops.asymmetric_sign, ()),
    ("POST", r"(%s):asymmetricDecrypt" % VER, "AsymmetricDecrypt", ops.asymmetric_decrypt,
     ()),
    ("GET", r"(%s)/publicKey" % VER, "GetPublicKey", ops.get_public_key,
     ("publicKeyFormat",)),
    ("GET", r"(%s)/keyRings" % LOC, "ListKeyRings", admin.list_key_rings, PAGING),
    ("POST", r"(%s)/keyRings" % LOC, "CreateKeyRing", admin.create_key_ring, ("keyRingId",)),
    ("GET", r"(%s)" % RING, "GetKeyRing", admin.get_key_ring, ()),
    ("GET", r"(%s)/cryptoKeys" % RING, "ListCryptoKeys", admin.list_crypto_keys, PAGING),
    ("POST", r"(%s)/cryptoKeys" % RING, "CreateCryptoKey", admin.create_crypto_key,
     ("cryptoKeyId", "skipInitialVersionCreation")),
    ("GET", r"(%s)" % KEY, "GetCryptoKey", admin.get_crypto_key, ()),
    ("POST", r"(%s):updatePrimaryVersion" % KEY, "UpdateCryptoKeyPrimaryVersion",
     admin.update_primary, ()),
    ("GET", r"(%s)/cryptoKeyVersions" % KEY, "ListCryptoKeyVersions", admin.list_versions,
     PAGING),
    ("POST", r"(%s)/cryptoKeyVersions" % KEY, "CreateCryptoKeyVersion", admin.create_version,
     ()),
    ("GET", r"(%s)" % VER, "GetCryptoKeyVersion", admin.get_version, ()),
    ("PATCH", r"(%s)" % VER, "UpdateCryptoKeyVersion", admin.update_version, ("updateMask",)),
    ("POST", r"(%s):destroy" % VER, "DestroyCryptoKeyVersion", admin.destroy_version, ()),
    ("POST", r"(%s):restore" % VER, "RestoreCryptoKeyVersion", admin.restore_version, ()),
]
_COMPILED = [(m, re.compile("^/v1/" + p + "$"), op, f, q) for m, p, op, f, q in ROUTES]
OPERATIONS = sorted({r[2] for r in ROUTES})
SYSTEM_PARAMS = ("$alt", "alt", "$prettyPrint", "prettyPrint", "$fields", "fields", "quotaUser",
                 "$quotaUser")


def _snake(name):
    return re.sub(r"([A-Z])", lambda m: "_" + m.group(1).lower(), name)


def route(method, path):
    """The route for a request path (percent-decoded first), or None for an unknown URL."""
    path = unquote(path)
    for m, rx, op, func, params in _COMPILED:
        match = rx.match(path)
        if match and m == method:
            return op, func, match.group(1), params
    return None


def any_method(path):
    """True when some route matches the path with another method (the front end's 404)."""
    path = unquote(path)
    return any(rx.match(path) for _, rx, _, _, _ in _COMPILED)


def bind_query(query, params):
    """(query dict, numeric enums?) after checking every parameter binds to something."""
    out = {}
    numeric = False
    for name, value in parse_qsl(query, keep_blank_values=True):
        if name in ("$alt", "alt"):
            fmt, _, opts = value.partition(";")
            if fmt != "json":
                raise GcpError("INVALID_ARGUMENT", "Unsupported response format: %s" % value)
            if opts:
                if opts not in ("enum-encoding=int", "enum-encoding=string"):
                    raise GcpError("INVALID_ARGUMENT", "Unsupported $alt option: %s" % opts)
                numeric = opts == "enum-encoding=int"
            continue
        if name in SYSTEM_PARAMS:
            continue
        if name in params or any(_snake(p) == name for p in params):
            canonical = next(p for p in params if name in (p, _snake(p)))
            out[canonical] = value
            continue
        raise bad_payload('Unknown name "%s": Cannot bind query parameter. Field \'%s\' could '
                          'not be found in request message.' % (name, name))
    return out, numeric
