# gcp_kms_metadata.py - the GCE metadata server of the Google Cloud KMS test server (its own
# listener): the detection GET of /, service-account info (plain and ?recursive=true), the
# access token, project id; Metadata-Flavor: Google required on /computeMetadata and echoed.
"""answer(store, method, path, query, headers) -> (op, status, body bytes, content type)."""

import json
from urllib.parse import parse_qsl

import gcp_kms_iam as iam

BASE = "/computeMetadata/v1/"
TEXT = "application/text"
JSON = "application/json"
FORBIDDEN = ("Your client does not have permission to get URL %s from this server. Missing "
             "Metadata-Flavor:Google header.")


def _text(op, body, status=200):
    return op, status, body.encode(), TEXT


def answer(store, method, path, query, headers):
    if method != "GET":
        return _text("metadata", "Method not allowed", 405)
    if path == "/":
        # The detection probe: clients look only for the Metadata-Flavor answer header.
        return _text("metadata-ping", "computeMetadata/\n")
    if not path.startswith(BASE[:-1]):
        return _text("metadata", "Not Found", 404)
    if headers.get("X-Forwarded-For") is not None or \
            headers.get("Metadata-Flavor") != "Google":
        return _text("metadata", FORBIDDEN % path, 403)
    params = dict(parse_qsl(query, keep_blank_values=True))
    recursive = params.get("recursive", "").lower() == "true"
    rel = path[len(BASE):] if path.startswith(BASE) else ""
    email = store.config["metadata_email"]
    scopes = list(store.config["metadata_scopes"])
    if rel in ("", "/"):
        return _text("metadata", "instance/\noauth2/\nproject/\nuniverse/\n")
    if rel in ("instance", "instance/"):
        return _text("metadata", "attributes/\nhostname\nid\nservice-accounts/\nzone\n")
    if rel == "instance/zone":
        return _text("metadata", "projects/%s/zones/us-central1-a" % iam.PROJECT_NUMBER)
    if rel == "instance/id":
        return _text("metadata", "1234567890123456789")
    if rel == "instance/hostname":
        return _text("metadata", "p11kms-test-vm.us-central1-a.c.%s.internal" % iam.PROJECT)
    if rel == "project/project-id":
        return _text("metadata", iam.PROJECT)
    if rel == "project/numeric-project-id":
        return _text("metadata", iam.PROJECT_NUMBER)
    if rel == "universe/universe-domain":
        return _text("metadata", "googleapis.com")
    if rel in ("instance/service-accounts", "instance/service-accounts/"):
        if recursive:
            info = {"aliases": ["default"], "email": email, "scopes": scopes}
            return "metadata", 200, json.dumps({"default": info, email: info}).encode(), JSON
        return _text("metadata", "default/\n%s/\n" % email)
    prefix = "instance/service-accounts/"
    if not rel.startswith(prefix):
        return _text("metadata", "Not Found", 404)
    account, _, leaf = rel[len(prefix):].partition("/")
    if account not in ("default", email):
        return _text("metadata", "Not Found", 404)
    if leaf == "":
        if recursive:
            info = {"aliases": ["default"], "email": email, "scopes": scopes}
            return "metadata", 200, json.dumps(info).encode(), JSON
        return _text("metadata", "aliases\nemail\nidentity\nscopes\ntoken\n")
    if leaf == "email":
        return _text("metadata", email)
    if leaf == "scopes":
        return _text("metadata", "".join(s + "\n" for s in scopes))
    if leaf == "aliases":
        return _text("metadata", "default\n")
    if leaf == "token":
        wanted = [s for s in params.get("scopes", "").split(",") if s]
        token, ttl = store.issue_token(email, wanted or scopes, "metadata")
        body = {"access_token": token, "expires_in": ttl, "token_type": "Bearer"}
        return "metadata-token", 200, json.dumps(body).encode(), JSON
    return _text("metadata", "Not Found", 404)
