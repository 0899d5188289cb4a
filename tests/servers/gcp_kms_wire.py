# gcp_kms_wire.py - the Google Cloud KMS test server's wire forms: google.rpc.Status errors,
# proto3 JSON parsing of requests (bytes, Int64Value, enums, unknown fields) and enum tables.
"""GcpError and the request parser: parse(schema, body) -> dict of typed fields, or GcpError."""

import base64
import binascii
import json
import re
import time

# google.rpc.Code name -> HTTP status, as Google's front end maps them (and gax maps back).
HTTP_OF = {
    "INVALID_ARGUMENT": 400, "FAILED_PRECONDITION": 400, "OUT_OF_RANGE": 400,
    "UNAUTHENTICATED": 401, "PERMISSION_DENIED": 403, "NOT_FOUND": 404,
    "ALREADY_EXISTS": 409, "ABORTED": 409, "RESOURCE_EXHAUSTED": 429, "CANCELLED": 499,
    "INTERNAL": 500, "UNIMPLEMENTED": 501, "UNAVAILABLE": 503, "DEADLINE_EXCEEDED": 504,
    "UNKNOWN": 500, "DATA_LOSS": 500,
}
SERVICE = "cloudkms.googleapis.com"
JSON_TYPE = "application/json; charset=UTF-8"

PROTECTION_LEVELS = {"SOFTWARE": 1, "HSM": 2, "EXTERNAL": 3, "EXTERNAL_VPC": 4}
PURPOSES = {"ENCRYPT_DECRYPT": 1, "ASYMMETRIC_SIGN": 5, "ASYMMETRIC_DECRYPT": 6,
            "RAW_ENCRYPT_DECRYPT": 7, "MAC": 9}
STATES = {"ENABLED": 1, "DISABLED": 2, "DESTROYED": 3, "DESTROY_SCHEDULED": 4,
          "PENDING_GENERATION": 5}
ALGORITHMS = {
    "GOOGLE_SYMMETRIC_ENCRYPTION": 1,
    "RSA_SIGN_PSS_2048_SHA256": 2, "RSA_SIGN_PSS_3072_SHA256": 3,
    "RSA_SIGN_PSS_4096_SHA256": 4, "RSA_SIGN_PSS_4096_SHA512": 15,
    "RSA_SIGN_PKCS1_2048_SHA256": 5, "RSA_SIGN_PKCS1_3072_SHA256": 6,
    "RSA_SIGN_PKCS1_4096_SHA256": 7, "RSA_SIGN_PKCS1_4096_SHA512": 16,
    "RSA_DECRYPT_OAEP_2048_SHA256": 8, "RSA_DECRYPT_OAEP_3072_SHA256": 9,
    "RSA_DECRYPT_OAEP_4096_SHA256": 10, "RSA_DECRYPT_OAEP_4096_SHA512": 17,
    "RSA_DECRYPT_OAEP_2048_SHA1": 37, "RSA_DECRYPT_OAEP_3072_SHA1": 38,
    "RSA_DECRYPT_OAEP_4096_SHA1": 39,
    "EC_SIGN_P256_SHA256": 12, "EC_SIGN_P384_SHA384": 13, "EC_SIGN_SECP256K1_SHA256": 31,
}
PUBLIC_KEY_FORMATS = {"PEM": 1, "DER": 2}
ENUMS = {"protection_level": PROTECTION_LEVELS, "purpose": PURPOSES, "state": STATES,
         "algorithm": ALGORITHMS, "public_key_format": PUBLIC_KEY_FORMATS}


class GcpError(Exception):
    """A Google API error answer: google.rpc.Status name, message, ErrorInfo reason."""

    def __init__(self, status, message, reason=None, metadata=None, details=None,
                 headers=None, http=None):
        super().__init__(message)
        self.status = status
        self.http = http or HTTP_OF[status]
        self.message = message
        self.reason = reason
        self.metadata = metadata
        self.details = details
        self.headers = headers or {}

    def body(self):
        err = {"code": self.http, "message": self.message, "status": self.status}
        details = list(self.details or [])
        if self.reason:
            info = {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": self.reason,
                    "domain": "googleapis.com" if self.reason.startswith(("ACCESS_TOKEN",
                                                                         "CREDENTIALS",
                                                                         "SERVICE_"))
                    else SERVICE}
            if self.metadata:
                info["metadata"] = self.metadata
            details.insert(0, info)
        if details:
            err["details"] = details
        return json.dumps({"error": err}, indent=2).encode()


def invalid(message, field=None):
    details = None
    if field is not None:
        details = [{"@type": "type.googleapis.com/google.rpc.BadRequest",
                    "fieldViolations": [{"field": field, "description": message}]}]
    return GcpError("INVALID_ARGUMENT", message, details=details)


def bad_payload(description, field=None):
    """The front end's answer to JSON it cannot bind to the request message."""
    return GcpError("INVALID_ARGUMENT",
                    "Invalid JSON payload received. " + description,
                    details=[{"@type": "type.googleapis.com/google.rpc.BadRequest",
                              "fieldViolations": [dict({"description": "Invalid JSON payload "
                                                        "received. " + description},
                                                       **({"field": field} if field else {}))]}])


# ---- proto3 JSON ------------------------------------------------------------------------------

def camel(snake):
    head, *rest = snake.split("_")
    return head + "".join(p[:1].upper() + p[1:] for p in rest)


_B64_RE = re.compile(r"^[A-Za-z0-9+/\-_]*={0,2}$")


def decode_bytes(value, path):
    """proto3 JSON bytes: standard or URL-safe base64, with or without padding."""
    if not isinstance(value, str) or not _B64_RE.match(value):
        raise bad_payload("Invalid value at '%s' (TYPE_BYTES), %s" % (path, json.dumps(value)),
                          path)
    text = value.rstrip("=").replace("-", "+").replace("_", "/")
    if len(text) % 4 == 1:
        raise bad_payload("Invalid value at '%s' (TYPE_BYTES), Base64 decoding failed for %s"
                          % (path, json.dumps(value)), path)
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise bad_payload("Invalid value at '%s' (TYPE_BYTES), Base64 decoding failed for %s"
                          % (path, json.dumps(value)), path)


def decode_int64(value, path):
    """proto3 JSON int64 (and Int64Value): a decimal string or a JSON number."""
    if isinstance(value, bool):
        ok = None
    elif isinstance(value, int):
        ok = value
    elif isinstance(value, float) and value.is_integer():
        ok = int(value)
    elif isinstance(value, str) and re.match(r"^-?[0-9]{1,19}$", value):
        ok = int(value)
    else:
        ok = None
    if ok is None or not -(1 << 63) <= ok < (1 << 63):
        raise bad_payload("Invalid value at '%s' (TYPE_INT64), %s" % (path, json.dumps(value)),
                          path)
    return ok


def decode_enum(value, table, path, type_name):
    if isinstance(value, str) and value in table:
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        for name, num in table.items():
            if num == value:
                return name
    raise bad_payload("Invalid value at '%s' (type.googleapis.com/%s), %s"
                      % (path, type_name, json.dumps(value)), path)


def _field(schema, key):
    for snake, kind in schema.items():
        if key in (snake, camel(snake)):
            return snake, kind
    return None, None


def parse_message(schema, obj, prefix=""):
    """Bind a JSON object to a schema {snake_name: kind}. Kinds: 'bytes', 'int64', 'string',
    'bool', 'int32', ('enum', table, type name), ('message', schema), ('map', 'string'),
    'duration', 'timestamp', 'any'. Absent and null fields are left out."""
    if not isinstance(obj, dict):
        raise bad_payload("Expected an object at '%s', got %s." % (prefix or "request",
                                                                  json.dumps(obj)[:40]))
    out = {}
    for key, value in obj.items():
        snake, kind = _field(schema, key)
        if snake is None:
            raise bad_payload('Unknown name "%s"%s: Cannot find field.'
                              % (key, " at '%s'" % prefix if prefix else ""))
        if value is None:
            continue
        path = prefix + "." + snake if prefix else snake
        out[snake] = _value(kind, value, path)
    return out


def _value(kind, value, path):
    if kind == "bytes":
        return decode_bytes(value, path)
    if kind == "int64":
        return decode_int64(value, path)
    if kind == "int32":
        v = decode_int64(value, path)
        if not -(1 << 31) <= v < (1 << 31):
            raise bad_payload("Invalid value at '%s' (TYPE_INT32), %s" % (path, value), path)
        return v
    if kind == "string":
        if not isinstance(value, str):
            raise bad_payload("Invalid value at '%s' (TYPE_STRING), %s"
                              % (path, json.dumps(value)), path)
        return value
    if kind == "bool":
        if not isinstance(value, bool):
            raise bad_payload("Invalid value at '%s' (TYPE_BOOL), %s"
                              % (path, json.dumps(value)), path)
        return value
    if kind == "duration":
        if not isinstance(value, str) or not re.match(r"^[0-9]{1,12}(\.[0-9]{1,9})?s$", value):
            raise bad_payload("Invalid value at '%s' (type.googleapis.com/google.protobuf."
                              "Duration), Field '%s', Illegal duration format; duration must "
                              "end with 's'" % (path, path), path)
        return float(value[:-1])
    if kind == "timestamp":
        if not isinstance(value, str):
            raise bad_payload("Invalid value at '%s' (type.googleapis.com/google.protobuf."
                              "Timestamp), %s" % (path, json.dumps(value)), path)
        return value
    if kind == "any":
        return value
    if kind[0] == "enum":
        return decode_enum(value, kind[1], path, kind[2])
    if kind[0] == "message":
        return parse_message(kind[1], value, path)
    if kind[0] == "map":
        if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
            raise bad_payload("Invalid value at '%s', expected a map of strings." % path, path)
        return dict(value)
    raise AssertionError(kind)


def parse_body(schema, raw):
    """The request body (bytes) bound to schema; an empty body is an empty message."""
    if not raw.strip():
        return {}
    try:
        obj = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise bad_payload("Unexpected token.\n%s" % str(e)[:80])
    if obj is None or obj == "":
        # null, or "" as gax sends for an empty body message: the message at its defaults.
        return {}
    return parse_message(schema, obj)


def b64(data):
    return base64.b64encode(data).decode("ascii")


def enum_out(value, table, numeric):
    return table[value] if numeric else value


def rfc3339(epoch):
    """A protobuf Timestamp in JSON: UTC, nanosecond digits as Google prints them."""
    whole = int(epoch)
    nanos = int(round((epoch - whole) * 1e9))
    if nanos >= 1000000000:
        whole, nanos = whole + 1, nanos - 1000000000
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)) + ".%09dZ" % nanos
