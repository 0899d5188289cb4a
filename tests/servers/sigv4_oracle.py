# sigv4_oracle.py - recompute a received request's AWS SigV4 signature with botocore.
# The test servers trust only botocore's signer (an independent implementation), never ours.
"""SigV4 verification oracle built on botocore.auth.SigV4Auth.

A server hands over the request exactly as received; the oracle rebuilds it as a botocore
AWSRequest that carries only the headers the client declared as signed, reuses the client's
X-Amz-Date, and lets botocore produce the canonical request, string to sign and signature.
"""

import hashlib
import hmac
import re
from urllib.parse import parse_qsl

from botocore.auth import SIGNED_HEADERS_BLACKLIST, S3SigV4Auth, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.compat import HTTPHeaders
from botocore.credentials import Credentials

ALGORITHM = "AWS4-HMAC-SHA256"
_AUTH_RE = re.compile(
    r"^AWS4-HMAC-SHA256 +Credential=([^,\s]+)\s*,\s*SignedHeaders=([^,\s]+)\s*,"
    r"\s*Signature=([0-9a-f]{64})$"
)
_AMZDATE_RE = re.compile(r"^\d{8}T\d{6}Z$")


class AuthHeader:
    """The parts of an Authorization header; parse() returns None when it is malformed."""

    def __init__(self, access_key, date, region, service, signed_headers, signature):
        self.access_key = access_key
        self.date = date
        self.region = region
        self.service = service
        self.signed_headers = signed_headers
        self.signature = signature

    @classmethod
    def parse(cls, value):
        m = _AUTH_RE.match(value.strip())
        if not m:
            return None
        scope = m.group(1).split("/")
        if len(scope) != 5 or scope[4] != "aws4_request" or not scope[0]:
            return None
        names = m.group(2).split(";")
        if any(n == "" or n != n.lower() for n in names) or names != sorted(names):
            return None
        return cls(scope[0], scope[1], scope[2], scope[3], names, m.group(3))


def valid_amzdate(value):
    return bool(value) and bool(_AMZDATE_RE.match(value))


def payload_hash_ok(header_pairs, body):
    """botocore takes an X-Amz-Content-SHA256 header as the payload hash without looking at
    the body (it is the signer's side); a verifier must check the header against the body."""
    claimed = [v.strip() for n, v in header_pairs if n.lower() == "x-amz-content-sha256"]
    if not claimed:
        return True
    return len(claimed) == 1 and hmac.compare_digest(
        claimed[0].encode("ascii", "replace"), hashlib.sha256(body).hexdigest().encode())


def never_signed(name):
    """True for headers botocore refuses to sign (proxies and HTTP stacks change them)."""
    return name in SIGNED_HEADERS_BLACKLIST


def compute(method, raw_path, header_pairs, body, signed_names, access_key, secret_key,
            token, region, service, amzdate, s3=False):
    """Return (authorization, signature, canonical_request, string_to_sign).

    raw_path is the request target as sent (path plus optional query), header_pairs the
    received (name, value) pairs in order, repeats included, body the raw bytes. s3: S3's
    rules (botocore's S3SigV4Auth): the path as sent, not normalised or encoded again, and a
    signed X-Amz-Content-SHA256 taken as the payload hash (body is then not read).
    """
    wanted = set(signed_names)
    headers = HTTPHeaders()
    host = ""
    for name, value in header_pairs:
        lname = name.lower()
        if lname == "host":
            host = value.strip()
        if lname in wanted:
            headers[lname] = value      # HTTPHeaders appends, so repeats are kept
    path, _, query = raw_path.partition("?")
    params = parse_qsl(query, keep_blank_values=True) if query else None
    # http:// makes botocore hash the payload, as AWS does for every request.
    req = AWSRequest(method=method, url="http://%s%s" % (host, path), data=body,
                     params=params)
    req.headers = headers
    req.context["timestamp"] = amzdate
    auth = (S3SigV4Auth if s3 else SigV4Auth)(Credentials(access_key, secret_key, token),
                                              service, region)
    creq = auth.canonical_request(req)
    sts = auth.string_to_sign(req, creq)
    sig = auth.signature(sts, req)
    authz = "%s Credential=%s, SignedHeaders=%s, Signature=%s" % (
        ALGORITHM, auth.scope(req), auth.signed_headers(auth.headers_to_sign(req)), sig)
    return authz, sig, creq, sts


def signature_matches(expected, received):
    return hmac.compare_digest(expected.encode("ascii"), received.encode("ascii"))
