# vault_util.py - small pieces of Vault's wire behaviour the loopback Vault server shares: the
# error type, Go's strict base64 decoder and its error text, Go durations, field coercion.
"""Helpers for the loopback Vault server that copy Go/Vault behaviour byte for byte."""

import base64
import binascii
import re

B64_ALPHABET = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
GO_INT = re.compile(r"^[+-]?[0-9]{1,18}$")
DURATION_PART = re.compile(r"([0-9]+(?:\.[0-9]*)?)(ns|us|µs|ms|s|m|h)")
DURATION_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600}


class VaultError(Exception):
    """A Vault error answer: HTTP status and the strings of {"errors": [...]}."""

    def __init__(self, status, errors, headers=None):
        super().__init__(errors[0] if errors else "status %d" % status)
        self.status = status
        self.errors = list(errors)
        self.headers = dict(headers or {})


class StatusResponse(Exception):
    """A normal response envelope sent with a non-200 status (logical.RespondWithStatusCode),
    as transit does for batches with failed items."""

    def __init__(self, status, data):
        super().__init__("status %d" % status)
        self.status = status
        self.data = data


def user_error(message):
    """logical.ErrorResponse(...) with ErrInvalidRequest: 400 with the message as is."""
    return VaultError(400, [message])


def multierror(*messages):
    """go-multierror's text, which Vault puts in errors[] for errors that went through the
    request handler's multierror (ACL denials, routing errors, internal errors)."""
    if len(messages) == 1:
        head = "1 error occurred:"
    else:
        head = "%d errors occurred:" % len(messages)
    return head + "".join("\n\t* %s" % m for m in messages) + "\n\n"


PERMISSION_DENIED = "permission denied"                  # missing token
POLICY_DENIED = multierror("permission denied")         # valid token, ACL says no
INVALID_TOKEN = multierror("permission denied", "invalid token")   # unknown/expired/revoked
SEALED = "Vault is sealed"


class B64Error(ValueError):
    def __init__(self, offset):
        super().__init__("illegal base64 data at input byte %d" % offset)
        self.offset = offset


def go_b64decode(src):
    """encoding/base64.StdEncoding.DecodeString: padding required, CR/LF skipped, and the
    same "illegal base64 data at input byte N" offsets Go reports."""
    n = len(src)
    si = 0
    quanta = []
    while True:
        j = 0
        quantum = []
        while j < 4:
            if si == n:
                if j == 0:
                    out = "".join("".join(q) for q in quanta)
                    return base64.b64decode(out) if out else b""
                raise B64Error(si - j)
            c = src[si]
            si += 1
            if c in "\r\n":
                continue
            if c in B64_ALPHABET:
                quantum.append(c)
                j += 1
                continue
            if c != "=":
                raise B64Error(si - 1)
            if j in (0, 1):
                raise B64Error(si - 1)
            if j == 2:
                while si < n and src[si] in "\r\n":
                    si += 1
                if si == n:
                    raise B64Error(n)
                if src[si] != "=":
                    raise B64Error(si - 1)
                si += 1
            while si < n and src[si] in "\r\n":
                si += 1
            if si < n:
                raise B64Error(si)
            quanta.append(quantum + ["="] * (4 - j))
            out = "".join("".join(q) for q in quanta)
            try:
                return base64.b64decode(out)
            except binascii.Error:
                raise B64Error(0)
        quanta.append(quantum)


def b64(data):
    return base64.b64encode(data).decode("ascii")


def go_atoi(text):
    """strconv.Atoi for the values a ciphertext version can hold; None when Go would fail."""
    if not GO_INT.match(text):
        return None
    return int(text)


def go_duration(seconds):
    """time.Duration.String() for whole seconds: "768h0m0s", "1h0m0s", "45s", "0s"."""
    seconds = int(seconds)
    if seconds == 0:
        return "0s"
    sign = "-" if seconds < 0 else ""
    seconds = abs(seconds)
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    if h:
        return "%s%dh%dm%ds" % (sign, h, m, s)
    if m:
        return "%s%dm%ds" % (sign, m, s)
    return "%s%ds" % (sign, s)


def parse_duration_second(value):
    """parseutil.ParseDurationSecond: an int, a numeric string (seconds) or a Go duration
    ("1h", "90m", "1h30m"); None/"" mean unset. Raises ValueError otherwise."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise ValueError("not a duration")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if not isinstance(value, str):
        raise ValueError("not a duration")
    text = value.strip()
    if GO_INT.match(text):
        return int(text)
    pos = 0
    total = 0.0
    for m in DURATION_PART.finditer(text):
        if m.start() != pos:
            raise ValueError("time: invalid duration %r" % value)
        total += float(m.group(1)) * DURATION_UNITS[m.group(2)]
        pos = m.end()
    if pos != len(text) or pos == 0:
        raise ValueError("time: invalid duration %r" % value)
    return int(total)


def field_error(name, value):
    return user_error("Field validation failed: error converting input %s for field %r"
                      % (value, name))


def get_str(data, name, default=""):
    """A TypeString field as Vault's FieldData sees it: null means unset, numbers and bools
    are converted weakly, objects and arrays are refused."""
    value = data.get(name)
    if value is None:
        return default
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, (int, float)):
        return str(value)
    raise field_error(name, value)


def get_int(data, name, default=0):
    value = data.get(name)
    if value is None:
        return default
    if isinstance(value, bool):
        raise field_error(name, value)
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        parsed = go_atoi(value.strip())
        if parsed is not None:
            return parsed
    raise field_error(name, value)


def get_bool(data, name, default=False):
    value = data.get(name)
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.lower() in ("true", "false", "1", "0", "t", "f"):
        return value.lower() in ("true", "1", "t")
    raise field_error(name, value)
