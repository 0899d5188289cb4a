# aws_kms_credentials.py - the credential sources the AWS test server imitates: EC2 IMDSv2,
# ECS/EKS container credentials and STS AssumeRoleWithWebIdentity; each issues temporary keys.
"""Credential endpoints. Handlers take the HTTP handler and the raw body and answer."""

import json
import re
import time
import uuid
from urllib.parse import parse_qs
from xml.sax.saxutils import escape

from aws_kms_store import IMDS_ROLE, KmsError

IMDS_MAX_TTL = 21600
STS_NS = "https://sts.amazonaws.com/doc/2011-06-15/"
SESSION_NAME_RE = re.compile(r"^[\w+=,.@-]{2,64}$")
ROLE_ARN_RE = re.compile(r"^arn:aws:iam::(\d{12}):role/([\w+=,.@/-]{1,64})$")


def _text(handler, op, status, text, error=None, extra=None):
    handler.store.record(handler._entry(op, status, error))
    handler.send_body(status, text.encode(), "text/plain", extra)


def _imds_authorized(handler, op):
    token = handler.headers.get("x-aws-ec2-metadata-token")
    if token is None and handler.store.config["imds_v1"]:
        return True
    if token is not None and handler.store.imds_token_valid(token):
        return True
    _text(handler, op, 401, "Unauthorized", "Unauthorized")
    return False


def imds_token(handler, body):
    op = "imds-token"
    if handler.headers.get("X-Forwarded-For") is not None:
        _text(handler, op, 403, "Forbidden", "Forbidden")
        return
    ttl_text = handler.headers.get("x-aws-ec2-metadata-token-ttl-seconds", "")
    if not ttl_text.strip().isdigit() or not 1 <= int(ttl_text) <= IMDS_MAX_TTL:
        _text(handler, op, 400, "Bad Request", "BadRequest")
        return
    ttl = int(ttl_text)
    token = handler.store.new_imds_token(ttl)
    _text(handler, op, 200, token, extra={"x-aws-ec2-metadata-token-ttl-seconds": str(ttl)})


def imds_role(handler, body):
    if _imds_authorized(handler, "imds-role"):
        _text(handler, "imds-role", 200, IMDS_ROLE)


def imds_credentials(handler, body):
    op = "imds-credentials"
    if not _imds_authorized(handler, op):
        return
    role = handler.path.split("?", 1)[0].rsplit("/", 1)[1]
    if role != IMDS_ROLE:
        _text(handler, op, 404, "Not Found", "NotFound")
        return
    cred = handler.store.issue_temporary("imds")
    answer = {"Code": "Success",
              "LastUpdated": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
              "Type": "AWS-HMAC", "AccessKeyId": cred["AccessKeyId"],
              "SecretAccessKey": cred["SecretAccessKey"], "Token": cred["SessionToken"],
              "Expiration": cred["Expiration"]}
    handler.store.record(handler._entry(op, 200, access_key_id=cred["AccessKeyId"]))
    handler.send_body(200, json.dumps(answer, indent=2).encode(), "text/plain")


def container(handler, body):
    op = "container"
    store = handler.store
    want = store.config["container_auth_token"]
    if want is not None and handler.headers.get("Authorization") != want:
        store.record(handler._entry(op, 401, "Unauthorized"))
        handler.send_body(401, json.dumps({"Code": "Unauthorized", "Message":
                                           "Authorization token missing or invalid"}).encode(),
                          "application/json")
        return
    cred = store.issue_temporary("container")
    answer = {"AccessKeyId": cred["AccessKeyId"], "SecretAccessKey": cred["SecretAccessKey"],
              "Token": cred["SessionToken"], "Expiration": cred["Expiration"],
              "RoleArn": "arn:aws:iam::%s:role/p11kms-container-role" % store.account}
    store.record(handler._entry(op, 200, access_key_id=cred["AccessKeyId"]))
    handler.send_body(200, json.dumps(answer).encode(), "application/json")


def sts_error(handler, err, **extra):
    rid = str(uuid.uuid4())
    kind = "Receiver" if err.status >= 500 else "Sender"
    xml = ('<ErrorResponse xmlns="%s"><Error><Type>%s</Type><Code>%s</Code>'
           '<Message>%s</Message></Error><RequestId>%s</RequestId></ErrorResponse>'
           % (STS_NS, kind, escape(err.code), escape(err.message), rid))
    handler.store.record(handler._entry("sts", err.status, err.code, request_id=rid, **extra))
    handler.send_body(err.status, xml.encode(), "text/xml", {"x-amzn-RequestId": rid})


def _sts_fail(code, message, status=400):
    return KmsError(status, code, message)


def _assume_role_with_web_identity(store, form):
    def one(name, required=True):
        values = form.get(name)
        if not values:
            if required:
                raise _sts_fail("ValidationError", "1 validation error detected: Value null "
                                "at '%s' failed to satisfy constraint: Member must not be "
                                "null" % (name[0].lower() + name[1:]))
            return None
        return values[0]

    role_arn = one("RoleArn")
    session = one("RoleSessionName")
    token = one("WebIdentityToken")
    duration = one("DurationSeconds", required=False)
    if not SESSION_NAME_RE.match(session):
        raise _sts_fail("ValidationError", "1 validation error detected: Value at "
                        "'roleSessionName' failed to satisfy constraint: Member must "
                        "satisfy regular expression pattern: [\\w+=,.@-]*")
    m = ROLE_ARN_RE.match(role_arn)
    if not m:
        raise _sts_fail("ValidationError", "%s is invalid" % role_arn)
    ttl = None
    if duration is not None:
        if not duration.isdigit() or not 900 <= int(duration) <= 43200:
            raise _sts_fail("ValidationError", "1 validation error detected: Value at "
                            "'durationSeconds' failed to satisfy constraint: Member must "
                            "have value between 900 and 43200")
        ttl = int(duration)
    if token != store.config["web_identity_token"]:
        raise _sts_fail("InvalidIdentityToken", "Couldn't retrieve verification key from "
                        "your identity provider, please reference AssumeRoleWithWebIdentity "
                        "documentation for requirements")
    if m.group(1) != store.account:
        raise _sts_fail("AccessDenied", "Not authorized to perform "
                        "sts:AssumeRoleWithWebIdentity", 403)
    if store.config["credential_ttl_seconds"] is not None or ttl is None:
        ttl = None      # the configured TTL (or the default) wins
    cred = store.issue_temporary("sts", ttl)
    role = m.group(2).rsplit("/", 1)[-1]
    return cred, role, session


def sts_request(handler, body):
    store = handler.store
    try:
        form = parse_qs(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
    except UnicodeDecodeError:
        form = {}
    action = (form.get("Action") or [""])[0]
    try:
        if action != "AssumeRoleWithWebIdentity":
            raise _sts_fail("InvalidAction", "Could not find operation %s for version "
                            "2011-06-15" % action)
        if (form.get("Version") or [""])[0] != "2011-06-15":
            raise _sts_fail("InvalidAction", "Unsupported Version")
        cred, role, session = _assume_role_with_web_identity(store, form)
    except KmsError as err:
        sts_error(handler, err)
        return
    rid = str(uuid.uuid4())
    xml = (
        '<AssumeRoleWithWebIdentityResponse xmlns="%s">'
        '<AssumeRoleWithWebIdentityResult>'
        '<SubjectFromWebIdentityToken>p11kms-test-subject</SubjectFromWebIdentityToken>'
        '<Audience>sts.amazonaws.com</Audience>'
        '<AssumedRoleUser><Arn>arn:aws:sts::%s:assumed-role/%s/%s</Arn>'
        '<AssumedRoleId>AROAP11KMSTEST:%s</AssumedRoleId></AssumedRoleUser>'
        '<Credentials><SessionToken>%s</SessionToken><SecretAccessKey>%s</SecretAccessKey>'
        '<Expiration>%s</Expiration><AccessKeyId>%s</AccessKeyId></Credentials>'
        '<Provider>p11kms-test-idp</Provider>'
        '</AssumeRoleWithWebIdentityResult>'
        '<ResponseMetadata><RequestId>%s</RequestId></ResponseMetadata>'
        '</AssumeRoleWithWebIdentityResponse>'
        % (STS_NS, store.account, escape(role), escape(session), escape(session),
           escape(cred["SessionToken"]), escape(cred["SecretAccessKey"]), cred["Expiration"],
           cred["AccessKeyId"], rid))
    handler.store.record(handler._entry("sts", 200, request_id=rid,
                                        access_key_id=cred["AccessKeyId"]))
    handler.send_body(200, xml.encode(), "text/xml", {"x-amzn-RequestId": rid})


CREDENTIAL_ROUTES = {
    ("PUT", "/latest/api/token"): ("imds-token", imds_token),
    ("GET", "/latest/meta-data/iam/security-credentials/"): ("imds-role", imds_role),
    ("GET", "/ecs/credentials"): ("container", container),
}
IMDS_ROLE_PREFIX = "/latest/meta-data/iam/security-credentials/"


def credential_route(method, path):
    """(op name, handler) for a credential endpoint, or None."""
    route = CREDENTIAL_ROUTES.get((method, path))
    if route is None and method == "GET" and path.startswith(IMDS_ROLE_PREFIX):
        route = ("imds-credentials", imds_credentials)
    return route
