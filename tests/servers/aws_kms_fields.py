# aws_kms_fields.py - request fields and common answers of the AWS KMS test server: typed field
# reading with AWS's SerializationException/ValidationException texts, and the errors that every
# key operation shares (disabled key, wrong key usage, algorithm not for the key spec, DryRun).
"""Shared by the symmetric (aws_kms_ops) and asymmetric (aws_kms_asym_ops) operations."""

import base64
import binascii

from aws_kms_store import KmsError, client_error

MAX_KEY_ID = 2048
MAX_GRANT_TOKENS = 10


def validation(field, constraint):
    """A constraint failure on a field whose value AWS does not echo (blobs, lengths)."""
    return client_error("ValidationException",
                        "1 validation error detected: Value at '%s' failed to satisfy "
                        "constraint: %s" % (field, constraint))


def lower_first(name):
    return name[0].lower() + name[1:]


def typed(req, name, kind, required=False):
    """Field of a JSON type; absent optional fields are None. Wrong types are serialization
    errors, as AWS's JSON deserializer reports them."""
    value = req.get(name)
    if value is None:
        if required:
            raise client_error("ValidationException",
                               "1 validation error detected: Value null at '%s' failed to "
                               "satisfy constraint: Member must not be null"
                               % lower_first(name))
        return None
    ok = isinstance(value, kind) and not (kind is int and isinstance(value, bool))
    if not ok:
        raise client_error("SerializationException",
                           "Unexpected value type for field %s" % name)
    return value


def enum(req, name, values, required=False, listed=None):
    """A string field limited to an enum: AWS echoes the value and lists the set."""
    value = typed(req, name, str, required)
    if value is not None and value not in values:
        raise client_error("ValidationException",
                           "1 validation error detected: Value '%s' at '%s' failed to satisfy "
                           "constraint: Member must satisfy enum value set: [%s]"
                           % (value, lower_first(name), ", ".join(listed or values)))
    return value


def blob(req, name, max_len, required=True):
    text = typed(req, name, str, required)
    if text is None:
        return None
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise client_error("SerializationException",
                           "Invalid base64 in field %s" % name)
    if not 1 <= len(data) <= max_len:
        raise validation(lower_first(name),
                         "Member must have length between 1 and %d" % max_len)
    return data


def key_ref(req, name, required=True):
    ref = typed(req, name, str, required)
    if ref is not None and not 1 <= len(ref) <= MAX_KEY_ID:
        raise validation(lower_first(name),
                         "Member must have length between 1 and %d" % MAX_KEY_ID)
    return ref


def context(req, name):
    ctx = typed(req, name, dict)
    if ctx is None:
        return {}
    for v in ctx.values():
        if not isinstance(v, str):
            raise client_error("SerializationException",
                               "Unexpected value type in %s" % name)
    return ctx


def common(req):
    """GrantTokens (checked, then ignored) and DryRun."""
    tokens = typed(req, "GrantTokens", list)
    if tokens is not None:
        if len(tokens) > MAX_GRANT_TOKENS or not all(isinstance(t, str) for t in tokens):
            raise validation("grantTokens", "Member must have length less than or equal "
                             "to %d" % MAX_GRANT_TOKENS)
    return bool(typed(req, "DryRun", bool))


def dry_run():
    return KmsError(412, "DryRunOperationException",
                    "The request would have succeeded, but the DryRun option is set.")


def usable(store, key):
    if not key.enabled:
        raise client_error("DisabledException", "%s is disabled." % store.key_arn(key.key_id))
    return key


def require_usage(store, key, usage, op):
    """AWS's text, e.g. '<arn> key usage is SIGN_VERIFY which is not valid for Encrypt.'"""
    if key.usage != usage:
        raise client_error("InvalidKeyUsageException",
                           "%s key usage is %s which is not valid for %s."
                           % (store.key_arn(key.key_id), key.usage, op))


def incompatible(alg, spec):
    """An algorithm the key spec does not offer, e.g. SYMMETRIC_DEFAULT on an RSA key."""
    return client_error("InvalidKeyUsageException",
                        "Algorithm %s is incompatible with key spec %s." % (alg, spec))


def invalid_ciphertext():
    return client_error("InvalidCiphertextException",
                        "The ciphertext is invalid or was not encrypted under this key "
                        "and encryption context.")


def b64(data):
    return base64.b64encode(data).decode("ascii")
