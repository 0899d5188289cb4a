# gcp_kms_ops.py - the cryptographic operations of the Google Cloud KMS test server: encrypt,
# decrypt, asymmetricSign, asymmetricDecrypt and getPublicKey, with Cloud KMS's CRC32C
# integrity fields, IAM checks, version states and error answers.
"""Each operation takes a Ctx and returns the JSON answer dict, or raises GcpError."""

import hashlib

from gcp_crc32c import crc32c
from gcp_kms_keys import DIGEST_SIZES
from gcp_kms_wire import (ALGORITHMS, ENUMS, PROTECTION_LEVELS, PUBLIC_KEY_FORMATS, GcpError,
                          b64, enum_out, invalid, parse_body)

SOFTWARE_LIMIT = 64 * 1024
HSM_LIMIT = 8 * 1024
CIPHERTEXT_LIMIT = SOFTWARE_LIMIT + 1024
DECRYPT_FAILED = "Decryption failed: verify that 'name' refers to the correct CryptoKey."

ENCRYPT_SCHEMA = {"name": "string", "plaintext": "bytes", "additional_authenticated_data":
                  "bytes", "plaintext_crc32c": "int64",
                  "additional_authenticated_data_crc32c": "int64"}
DECRYPT_SCHEMA = {"name": "string", "ciphertext": "bytes", "additional_authenticated_data":
                  "bytes", "ciphertext_crc32c": "int64",
                  "additional_authenticated_data_crc32c": "int64"}
DIGEST_SCHEMA = {"sha256": "bytes", "sha384": "bytes", "sha512": "bytes"}
SIGN_SCHEMA = {"name": "string", "digest": ("message", DIGEST_SCHEMA), "digest_crc32c": "int64",
               "data": "bytes", "data_crc32c": "int64"}
ASYM_DECRYPT_SCHEMA = {"name": "string", "ciphertext": "bytes", "ciphertext_crc32c": "int64"}


class Ctx:
    """One API request: the store, the authenticated caller, the parsed URL and the body."""

    def __init__(self, store, caller, name, query, raw, numeric):
        self.store = store
        self.caller = caller
        self.name = name
        self.query = query
        self.raw = raw
        self.numeric = numeric
        self.crcs_sent = []        # request CRC fields present, for the request log

    def enum(self, value, field):
        return enum_out(value, ENUMS[field], self.numeric)


def authorize(ctx, permission, resource):
    """IAM first, existence second: without the permission a missing resource looks the same
    as a forbidden one, as Google answers."""
    if not ctx.store.permitted(ctx.caller["principal"], permission, resource):
        raise GcpError("PERMISSION_DENIED", "Permission '%s' denied on resource '%s' (or it may "
                       "not exist)." % (permission, resource), reason="IAM_PERMISSION_DENIED",
                       metadata={"permission": permission, "resource": resource})


def check_crc(ctx, req, data_field, crc_field, data):
    """A request CRC that does not match is INVALID_ARGUMENT; True when one was sent."""
    if crc_field not in req:
        return False
    ctx.crcs_sent.append(crc_field)
    if req[crc_field] != crc32c(data):
        ctx.store.count("crc_failures")
        raise invalid("The checksum in field %s did not match the data in field %s."
                      % (crc_field, data_field), crc_field)
    return True


def _check_name(ctx, req):
    if "name" in req and req["name"] != ctx.name:
        raise invalid("The name in the body does not match the name in the URL.", "name")


def _usable(version):
    if version.state != "ENABLED":
        raise GcpError("FAILED_PRECONDITION", "%s is not enabled, current state is: %s."
                       % (version.name, version.state))


def _purpose(ctx, key, purpose):
    if key.purpose != purpose:
        raise GcpError("FAILED_PRECONDITION", "%s has purpose %s; this operation requires %s."
                       % (key.name, key.purpose, purpose))


def _level_out(ctx, version):
    return enum_out(version.protection_level, PROTECTION_LEVELS, ctx.numeric)


def _limits(version, plaintext, aad):
    if version.protection_level == "HSM":
        if len(plaintext) + len(aad) > HSM_LIMIT:
            raise invalid("The combined length of the plaintext and additional authenticated "
                          "data fields must be no larger than 8192 bytes for HSM keys.",
                          "plaintext")
        return
    if len(plaintext) > SOFTWARE_LIMIT:
        raise invalid("The plaintext must be no larger than 65536 bytes.", "plaintext")
    if len(aad) > SOFTWARE_LIMIT:
        raise invalid("The additional authenticated data must be no larger than 65536 bytes.",
                      "additional_authenticated_data")


def encrypt(ctx):
    req = parse_body(ENCRYPT_SCHEMA, ctx.raw)
    _check_name(ctx, req)
    authorize(ctx, "cloudkms.cryptoKeyVersions.useToEncrypt", ctx.name)
    plaintext = req.get("plaintext", b"")
    aad = req.get("additional_authenticated_data", b"")
    store = ctx.store
    with store.lock:
        if "/cryptoKeyVersions/" in ctx.name:
            version = store.version_locked(ctx.name)
            key = version.key
            _purpose(ctx, key, "ENCRYPT_DECRYPT")
        else:
            key = store.key_locked(ctx.name)
            _purpose(ctx, key, "ENCRYPT_DECRYPT")
            version = key.primary_version()
            if version is None:
                raise GcpError("FAILED_PRECONDITION", "%s has no primary version." % key.name)
        _limits(version, plaintext, aad)
        v_pt = check_crc(ctx, req, "plaintext", "plaintext_crc32c", plaintext)
        v_aad = check_crc(ctx, req, "additional_authenticated_data",
                          "additional_authenticated_data_crc32c", aad)
        _usable(version)
        ciphertext = version.seal(plaintext, aad)
        out = {"name": version.name, "ciphertext": b64(ciphertext),
               "ciphertextCrc32c": str(crc32c(ciphertext))}
        # proto3 JSON leaves false booleans out, as Google's front end does.
        if v_pt:
            out["verifiedPlaintextCrc32c"] = True
        if v_aad:
            out["verifiedAdditionalAuthenticatedDataCrc32c"] = True
        out["protectionLevel"] = _level_out(ctx, version)
        return out


def decrypt(ctx):
    req = parse_body(DECRYPT_SCHEMA, ctx.raw)
    _check_name(ctx, req)
    authorize(ctx, "cloudkms.cryptoKeyVersions.useToDecrypt", ctx.name)
    ciphertext = req.get("ciphertext", b"")
    aad = req.get("additional_authenticated_data", b"")
    store = ctx.store
    with store.lock:
        key = store.key_locked(ctx.name)
        _purpose(ctx, key, "ENCRYPT_DECRYPT")
        if not ciphertext:
            raise invalid("The ciphertext is required.", "ciphertext")
        if len(ciphertext) > CIPHERTEXT_LIMIT:
            raise invalid("The ciphertext is too large.", "ciphertext")
        if len(aad) > SOFTWARE_LIMIT:
            raise invalid("The additional authenticated data must be no larger than 65536 "
                          "bytes.", "additional_authenticated_data")
        check_crc(ctx, req, "ciphertext", "ciphertext_crc32c", ciphertext)
        check_crc(ctx, req, "additional_authenticated_data",
                  "additional_authenticated_data_crc32c", aad)
        version = store.version_for_ciphertext_locked(ciphertext)
        if version is None or version.key is not key:
            raise invalid(DECRYPT_FAILED)
        _usable(version)
        plaintext = version.open(ciphertext, aad)
        if plaintext is None:
            raise invalid(DECRYPT_FAILED)
        out = {"plaintext": b64(plaintext), "plaintextCrc32c": str(crc32c(plaintext))}
        if key.primary == version.number:
            out["usedPrimary"] = True
        out["protectionLevel"] = _level_out(ctx, version)
        return out


def _asym_version(ctx, purpose):
    store = ctx.store
    version = store.version_locked(ctx.name)
    _purpose(ctx, version.key, purpose)
    return version


def asymmetric_sign(ctx):
    req = parse_body(SIGN_SCHEMA, ctx.raw)
    _check_name(ctx, req)
    authorize(ctx, "cloudkms.cryptoKeyVersions.useToSign", ctx.name)
    store = ctx.store
    with store.lock:
        version = _asym_version(ctx, "ASYMMETRIC_SIGN")
        out = {}
        if "digest" in req and "data" in req:
            raise invalid("Only one of digest and data may be set.", "data")
        if "data" in req:
            check_crc(ctx, req, "data", "data_crc32c", req["data"])
            digest = hashlib.new(version.digest, req["data"]).digest()
            if "data_crc32c" in req:
                out["verifiedDataCrc32c"] = True
        else:
            given = req.get("digest", {})
            if len(given) != 1:
                raise invalid("Exactly one digest (sha256, sha384 or sha512) is required.",
                              "digest")
            (kind, digest), = given.items()
            if kind != version.digest:
                raise invalid("The digest type %s does not match the algorithm %s of %s."
                              % (kind.upper(), version.algorithm, version.name),
                              "digest." + kind)
            if len(digest) != DIGEST_SIZES[kind]:
                raise invalid("The %s digest must be %d bytes long." % (kind, DIGEST_SIZES[kind]),
                              "digest." + kind)
            if check_crc(ctx, req, "digest", "digest_crc32c", digest):
                out["verifiedDigestCrc32c"] = True
        _usable(version)
        sig = version.sign(digest)
        store.persist_fresh_locked(version)
        out.update({"signature": b64(sig), "signatureCrc32c": str(crc32c(sig)),
                    "name": version.name, "protectionLevel": _level_out(ctx, version)})
        return out


def asymmetric_decrypt(ctx):
    req = parse_body(ASYM_DECRYPT_SCHEMA, ctx.raw)
    _check_name(ctx, req)
    authorize(ctx, "cloudkms.cryptoKeyVersions.useToDecrypt", ctx.name)
    store = ctx.store
    with store.lock:
        version = _asym_version(ctx, "ASYMMETRIC_DECRYPT")
        ciphertext = req.get("ciphertext", b"")
        if not ciphertext:
            raise invalid("The ciphertext is required.", "ciphertext")
        verified = check_crc(ctx, req, "ciphertext", "ciphertext_crc32c", ciphertext)
        _usable(version)
        plaintext = version.decrypt_oaep(ciphertext)
        store.persist_fresh_locked(version)
        if plaintext is None:
            raise invalid("Decryption failed.")
        out = {"plaintext": b64(plaintext), "plaintextCrc32c": str(crc32c(plaintext))}
        if verified:
            out["verifiedCiphertextCrc32c"] = True
        out["protectionLevel"] = _level_out(ctx, version)
        return out


def get_public_key(ctx):
    authorize(ctx, "cloudkms.cryptoKeyVersions.viewPublicKey", ctx.name)
    fmt = ctx.query.get("publicKeyFormat") or ctx.query.get("public_key_format")
    if fmt is not None and fmt not in PUBLIC_KEY_FORMATS and \
            fmt not in [str(n) for n in PUBLIC_KEY_FORMATS.values()]:
        raise invalid("Invalid value for publicKeyFormat: %s" % fmt, "public_key_format")
    if fmt is not None and fmt.isdigit():
        fmt = {str(n): k for k, n in PUBLIC_KEY_FORMATS.items()}[fmt]
    store = ctx.store
    with store.lock:
        version = store.version_locked(ctx.name)
        if version.key.purpose not in ("ASYMMETRIC_SIGN", "ASYMMETRIC_DECRYPT"):
            raise GcpError("FAILED_PRECONDITION", "%s has purpose %s; public keys exist only "
                           "for asymmetric keys." % (version.key.name, version.key.purpose))
        _usable(version)
        pem = version.public_pem()
        store.persist_fresh_locked(version)
        out = {"pem": pem, "algorithm": enum_out(version.algorithm, ALGORITHMS, ctx.numeric),
               "pemCrc32c": str(crc32c(pem.encode("ascii"))), "name": version.name,
               "protectionLevel": _level_out(ctx, version)}
        if fmt is not None:
            data = pem.encode("ascii") if fmt == "PEM" else version.public_der()
            out["publicKeyFormat"] = enum_out(fmt, PUBLIC_KEY_FORMATS, ctx.numeric)
            out["publicKey"] = {"data": b64(data), "crc32cChecksum": str(crc32c(data))}
        return out
