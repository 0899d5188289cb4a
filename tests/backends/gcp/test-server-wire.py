# test-server-wire.py - the loopback Google Cloud KMS server on the wire, driven with raw HTTP:
# its CRC32C against crcmod and RFC 3720, the identity files, the token endpoint's JWT checks
# (assertions made by PyJWT, padded and unpadded), self-signed JWTs, STS and IAM credentials,
# the metadata server, proto3 JSON and query binding, every fault kind, the control API,
# keep-alive, TLS, persistence across a restart and a clean exit on SIGTERM.
"""Wire test of tests/servers/gcp_kms_server.py; exit 77 without crcmod/PyJWT/cryptography."""

import base64
import http.client
import json
import os
import shutil
import signal
import ssl
import stat
import sys
import time
from urllib.parse import urlencode

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.environ.get("top_srcdir") or os.path.dirname(os.path.dirname(os.path.dirname(HERE)))
sys.path.insert(0, os.path.join(TOP, "tests", "servers"))

try:
    import crcmod.predefined
    import jwt
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding, rsa
except ImportError as e:
    print("# SKIP: %s cannot import crcmod/jwt/cryptography: %s (Debian: python3-crcmod "
          "python3-jwt python3-cryptography)" % (sys.executable, e))
    sys.exit(77)

import gcp_crc32c  # noqa: E402
import gcpsrv  # noqa: E402

crc32c = crcmod.predefined.mkPredefinedCrcFun("crc-32c")
JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
n = 0
failures = 0


def check(cond, what):
    global n, failures
    n += 1
    print("%s %d - %s" % ("ok" if cond else "not ok", n, what))
    if not cond:
        failures += 1
    return cond


def b64(data):
    return base64.b64encode(data).decode()


class Resp:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    def json(self):
        return json.loads(self.body.decode())

    def rpc(self):
        """(HTTP status, google.rpc.Status name) of an API error answer."""
        try:
            return self.status, self.json()["error"]["status"]
        except (ValueError, KeyError, TypeError):
            return self.status, None


def call(port, method, path, body=None, headers=None, conn=None, form=False, tls=None):
    own = conn is None
    if own:
        conn = http.client.HTTPSConnection("127.0.0.1", port, context=tls, timeout=120) \
            if tls else http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    hdrs = dict(headers or {})
    if body is not None and not isinstance(body, (bytes, str)):
        body = urlencode(body) if form else json.dumps(body)
        hdrs.setdefault("Content-Type", "application/x-www-form-urlencoded" if form
                        else "application/json")
    try:
        conn.request(method, path, body=body, headers=hdrs)
        r = conn.getresponse()
        return Resp(r.status, r.headers, r.read())
    finally:
        if own:
            conn.close()


def api(srv, method, name, verb="", body=None, token=None, query="", conn=None, headers=None):
    hdrs = {"Authorization": "Bearer " + (token or srv.token())}
    hdrs.update(headers or {})
    path = "/v1/" + name + (":" + verb if verb else "") + (("?" + query) if query else "")
    return call(srv.port, method, path, body, hdrs, conn)


def sa_key(srv, name="sa-key.json"):
    info = json.load(open(srv.path(name)))
    return info, serialization.load_pem_private_key(info["private_key"].encode(), None)


def assertion(srv, claims=None, kid=True, key=None, alg="RS256", name="sa-key.json"):
    info, priv = sa_key(srv, name)
    now = int(time.time())
    body = {"iss": info["client_email"], "aud": info["token_uri"], "iat": now,
            "exp": now + 3600, "scope": gcpsrv.SCOPE}
    body.update(claims or {})
    headers = {"kid": info["private_key_id"]} if kid is True else ({"kid": kid} if kid else None)
    signing_key = key or priv
    if alg == "HS256":
        signing_key = "not-a-private-key-but-long-enough-for-hmac"
    return jwt.encode(body, signing_key, algorithm=alg, headers=headers)


def padded_assertion(srv):
    """A JWT as python google-auth 1.x makes it: every segment base64url WITH '=' padding,
    the signature over the padded header.payload."""
    info, priv = sa_key(srv)
    now = int(time.time())

    def seg(data):
        return base64.urlsafe_b64encode(data).decode()
    header = {"typ": "JWT", "alg": "RS256", "kid": info["private_key_id"]}
    claims = {"iss": info["client_email"], "aud": info["token_uri"], "iat": now,
              "exp": now + 3600, "scope": gcpsrv.SCOPE + " "}
    signing_input = seg(json.dumps(header).encode()) + "." + seg(json.dumps(claims).encode())
    sig = priv.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
    token = signing_input + "." + seg(sig)
    return token if "=" in token else None


def grant(srv, token_assertion, grant_type=JWT_GRANT):
    body = {"grant_type": grant_type, "assertion": token_assertion}
    return call(srv.port, "POST", "/token", body, form=True)


def oauth_error(r):
    try:
        return r.status, r.json().get("error")
    except ValueError:
        return r.status, None


# ---- tests -------------------------------------------------------------------------------------

def test_crc32c():
    check(all(gcp_crc32c.crc32c(d) == w == crc32c(d) for d, w in gcp_crc32c.VECTORS),
          "server CRC32C = crcmod = the known answers (123456789 -> 0xE3069283, RFC 3720 B.4)")
    data = os.urandom(4099)
    check(gcp_crc32c.crc32c(data) == crc32c(data), "server CRC32C = crcmod on random data")


def test_files(srv):
    ports = json.load(open(srv.path("ports.json")))
    check(set(ports) == {"http", "https", "metadata"} and ports["http"] == srv.port and
          len(set(ports.values())) == 3, "ports.json: three distinct listeners")
    info, _ = sa_key(srv)
    check(info["type"] == "service_account" and info["client_email"] == gcpsrv.SA_MAIN and
          info["private_key"].startswith("-----BEGIN PRIVATE KEY-----") and
          info["token_uri"] == srv.endpoint + "/token" and len(info["private_key_id"]) == 40,
          "sa-key.json: service_account, PKCS#8 key, private_key_id, token_uri at the server")
    user = json.load(open(srv.path("authorized-user.json")))
    check(user["type"] == "authorized_user" and user["refresh_token"].startswith("1//") and
          user["client_id"].endswith(".apps.googleusercontent.com"), "authorized-user.json")
    ext = json.load(open(srv.path("external-account.json")))
    check(ext["type"] == "external_account" and ext["token_url"] == srv.endpoint + "/v1/token"
          and os.path.exists(ext["credential_source"]["file"]), "external-account.json")
    secret = [f for f in ("sa-key.json", "identity.json", "tls-key.pem", "authorized-user.json")
              if stat.S_IMODE(os.stat(srv.path(f)).st_mode) != 0o600]
    check(not secret, "private material is mode 0600 (%s)" % (secret or "all"))


def test_token_endpoint(srv):
    r = grant(srv, assertion(srv))
    a = r.json() if r.status == 200 else {}
    check(r.status == 200 and a.get("token_type") == "Bearer" and
          a.get("access_token", "").startswith("ya29.") and 0 < a.get("expires_in", 0) <= 3600,
          "PyJWT RS256 assertion (unpadded): access_token, expires_in, token_type")
    check("no-store" in (r.headers.get("Cache-Control") or ""), "token answers are no-store")
    tok = padded_assertion(srv)
    check(tok is not None and grant(srv, tok).status == 200,
          "padded base64url segments (as python google-auth 1.x sends) accepted")
    check(srv.requests()[-1].get("jwt_padded") is True, "... and logged as padded")
    check(grant(srv, assertion(srv, kid=None)).status == 200, "no kid: the account's keys tried")
    check(oauth_error(grant(srv, assertion(srv, kid="0" * 40))) == (400, "invalid_grant"),
          "an unknown kid: invalid_grant")
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    r = grant(srv, assertion(srv, key=other))
    check(oauth_error(r) == (400, "invalid_grant") and
          r.json()["error_description"] == "Invalid JWT Signature.",
          "signed by another key: invalid_grant Invalid JWT Signature.")
    check(oauth_error(grant(srv, assertion(srv, alg="HS256"))) == (400, "invalid_grant"),
          "HS256: invalid_grant")
    now = int(time.time())
    check(oauth_error(grant(srv, assertion(srv, {"iat": now, "exp": now + 3601}))) ==
          (400, "invalid_grant"), "lifetime over an hour: invalid_grant")
    check(oauth_error(grant(srv, assertion(srv, {"iat": now - 7200, "exp": now - 3600}))) ==
          (400, "invalid_grant"), "expired assertion: invalid_grant")
    check(grant(srv, assertion(srv, {"aud": "https://oauth2.googleapis.com/token"})).status ==
          200, "aud https://oauth2.googleapis.com/token accepted (clients that hard-code it)")
    check(oauth_error(grant(srv, assertion(srv, {"sub": "someone@example.com"}))) ==
          (401, "unauthorized_client"), "domain-wide delegation (sub) refused")
    check(oauth_error(grant(srv, assertion(srv), "password")) ==
          (400, "unsupported_grant_type"), "other grant_type: unsupported_grant_type")
    r = call(srv.port, "POST", "/token", {"assertion": "x"}, form=True)
    check(oauth_error(r) == (400, "invalid_request"), "no grant_type: invalid_request")
    check(oauth_error(grant(srv, "not.a.jwt")) == (400, "invalid_grant"),
          "garbage assertion: invalid_grant")
    r = call(srv.port, "POST", "/token", {"grant_type": "refresh_token", "client_id": "x",
                                          "client_secret": "y", "refresh_token": "z"}, form=True)
    check(oauth_error(r) == (401, "invalid_client"), "unknown OAuth client: 401 invalid_client")


def test_self_signed(srv):
    info, priv = sa_key(srv)
    now = int(time.time())
    host = "127.0.0.1:%d" % srv.port

    def encrypt_with(claims, kid=True):
        body = {"iss": info["client_email"], "sub": info["client_email"], "iat": now,
                "exp": now + 3600}
        body.update(claims)
        tok = jwt.encode(body, priv, algorithm="RS256",
                         headers={"kid": info["private_key_id"]} if kid else None)
        return api(srv, "POST", gcpsrv.KEY, "encrypt", {"plaintext": "eA=="}, token=tok)

    check(encrypt_with({"scope": gcpsrv.SCOPE + " " + gcpsrv.SCOPE_KMS}).status == 200,
          "self-signed JWT with a scope claim (google-auth-library's form)")
    check(encrypt_with({"aud": "https://127.0.0.1/"}).status == 200,
          "self-signed JWT with aud https://<apiEndpoint>/ (the node client aimed here)")
    check(encrypt_with({"aud": "http://%s/" % host}).status == 200, "aud http://host:port/")
    check(encrypt_with({"aud": "https://cloudkms.googleapis.com/"}, kid=False).status == 200,
          "aud the KMS service name, no kid")
    check(encrypt_with({"aud": "https://pubsub.googleapis.com/"}).rpc() ==
          (401, "UNAUTHENTICATED"), "aud of another service: 401")
    check(encrypt_with({"scope": gcpsrv.SCOPE, "sub": "x@example.com"}).rpc() ==
          (401, "UNAUTHENTICATED"), "sub != iss: 401")
    check(encrypt_with({"scope": gcpsrv.SCOPE, "iat": now - 7200, "exp": now - 3600}).rpc() ==
          (401, "UNAUTHENTICATED"), "expired self-signed JWT: 401")
    check(encrypt_with({"scope": "https://www.googleapis.com/auth/devstorage.read_only"})
          .rpc() == (403, "PERMISSION_DENIED"), "self-signed JWT without a KMS scope: 403")
    srv.ctl("POST", "/config", {"accept_self_signed_jwt": False})
    check(encrypt_with({"scope": gcpsrv.SCOPE}).rpc() == (401, "UNAUTHENTICATED"),
          "accept_self_signed_jwt false: 401")
    srv.ctl("POST", "/config", {"accept_self_signed_jwt": True})


def test_metadata(srv):
    mp = srv.metadata_port
    flavor = {"Metadata-Flavor": "Google"}
    r = call(mp, "GET", "/")
    check(r.status == 200 and r.headers.get("Metadata-Flavor") == "Google",
          "GET / (detection): 200 with Metadata-Flavor: Google")
    base = "/computeMetadata/v1/instance/service-accounts/default/"
    r = call(mp, "GET", base + "token", headers=flavor)
    a = r.json()
    check(r.status == 200 and r.headers["Content-Type"] == "application/json" and
          a["token_type"] == "Bearer" and a["access_token"].startswith("ya29."),
          "token: exactly application/json (python google-auth compares it), Bearer token")
    check(api(srv, "POST", gcpsrv.KEY, "encrypt", {"plaintext": "eA=="},
              token=a["access_token"]).status == 200, "the metadata token works on KMS")
    r = call(mp, "GET", base + "?recursive=true", headers=flavor)
    check(r.json() == {"aliases": ["default"], "email": gcpsrv.SA_GCE,
                       "scopes": [gcpsrv.SCOPE]}, "?recursive=true: aliases, email, scopes")
    check(call(mp, "GET", "/computeMetadata/v1/instance/service-accounts/%s/token"
               % gcpsrv.SA_GCE, headers=flavor).status == 200, "token by account email")
    check(call(mp, "GET", base + "email", headers=flavor).body.decode() == gcpsrv.SA_GCE,
          "email")
    check(call(mp, "GET", "/computeMetadata/v1/project/project-id", headers=flavor).body ==
          gcpsrv.PROJECT.encode(), "project-id")
    r = call(mp, "GET", base + "token?scopes=" + gcpsrv.SCOPE_KMS, headers=flavor)
    tok = r.json()["access_token"]
    check(api(srv, "POST", gcpsrv.KEY, "encrypt", {"plaintext": "eA=="}, token=tok).status ==
          200, "token?scopes= narrows the scopes (cloudkms still enough)")
    check(call(mp, "GET", base + "token").status == 403, "no Metadata-Flavor: 403")
    check(call(mp, "GET", base + "token", headers={"Metadata-Flavor": "google"}).status == 403,
          "Metadata-Flavor value is case-sensitive")
    check(call(mp, "GET", base + "token", headers=dict(flavor, **{"X-Forwarded-For": "1.2.3.4"}))
          .status == 403, "X-Forwarded-For: 403")
    check(call(mp, "GET", "/computeMetadata/v1/nothing", headers=flavor).status == 404,
          "unknown path: 404")
    check(call(srv.port, "GET", "/computeMetadata/v1/instance/service-accounts/default/token",
               headers=flavor).status == 404, "the API listener does not serve metadata")
    srv.fault("metadata-token", "http503")
    check(call(mp, "GET", base + "token", headers=flavor).status == 503,
          "metadata-token fault: 503")


def test_sts_and_impersonation(srv):
    subject = open(srv.path("subject-token.jwt")).read()
    form = {"grant_type": "urn:ietf:params:oauth:grant-type:token-exchange",
            "audience": json.load(open(srv.path("external-account.json")))["audience"],
            "scope": gcpsrv.SCOPE, "requested_token_type":
            "urn:ietf:params:oauth:token-type:access_token", "subject_token": subject,
            "subject_token_type": "urn:ietf:params:oauth:token-type:jwt"}
    r = call(srv.port, "POST", "/v1/token", form, form=True)
    a = r.json()
    check(r.status == 200 and a["issued_token_type"] ==
          "urn:ietf:params:oauth:token-type:access_token" and a["token_type"] == "Bearer",
          "STS: token exchange of the OIDC subject token")
    sts_token = a["access_token"]
    for change, err, what in (
            ({"audience": "//iam.googleapis.com/projects/1/locations/global/"
                          "workloadIdentityPools/x/providers/y"}, "invalid_target",
             "another pool"),
            ({"subject_token": assertion(srv)}, "invalid_grant", "a token from another issuer"),
            ({"subject_token_type": "urn:ietf:params:oauth:token-type:saml2"},
             "invalid_request", "subject_token_type saml2"),
            ({"grant_type": "client_credentials"}, "unsupported_grant_type", "another grant")):
        check(oauth_error(call(srv.port, "POST", "/v1/token", dict(form, **change), form=True))
              [1] == err, "STS refuses %s: %s" % (what, err))
    gen = "/v1/projects/-/serviceAccounts/%s:generateAccessToken" % gcpsrv.SA_MAIN
    r = call(srv.port, "POST", gen, {"scope": [gcpsrv.SCOPE], "lifetime": "3600s"},
             {"Authorization": "Bearer " + sts_token})
    a = r.json()
    check(r.status == 200 and a["accessToken"].startswith("ya29.") and
          a["expireTime"].endswith("Z"), "generateAccessToken with the federated token")
    r = api(srv, "POST", gcpsrv.KEY, "encrypt", {"plaintext": "eA=="}, token=a["accessToken"])
    check(r.status == 200 and srv.requests()[-1]["principal"] == gcpsrv.SA_MAIN,
          "the impersonated token acts as the service account")
    r = call(srv.port, "POST", gen, {"scope": [gcpsrv.SCOPE]},
             {"Authorization": "Bearer " + srv.token(gcpsrv.SA_ENCRYPTER)})
    check(r.rpc() == (403, "PERMISSION_DENIED"), "generateAccessToken without tokenCreator: 403")
    r = call(srv.port, "POST", gen, {"scope": [gcpsrv.SCOPE], "lifetime": "7200s"},
             {"Authorization": "Bearer " + sts_token})
    check(r.rpc() == (400, "INVALID_ARGUMENT"), "lifetime over 3600s: 400")


def test_proto3_json(srv):
    pt = b"proto3 json"
    body = {"plaintext": base64.urlsafe_b64encode(b"\xfb\xff" + pt).decode().rstrip("="),
            "plaintext_crc32c": crc32c(b"\xfb\xff" + pt)}
    r = api(srv, "POST", gcpsrv.KEY, "encrypt", body)
    check(r.status == 200 and r.json().get("verifiedPlaintextCrc32c") is True,
          "snake_case names, URL-safe unpadded base64, Int64 as a JSON number")
    ct = r.json()["ciphertext"]
    check(api(srv, "POST", gcpsrv.KEY, "decrypt", {"ciphertext": ct}).json()["plaintext"] ==
          b64(b"\xfb\xff" + pt), "the answer's bytes are standard padded base64")
    r = call(srv.port, "POST", "/v1/" + gcpsrv.KEY.replace("/", "%2F") + ":encrypt",
             {"plaintext": "eA=="}, {"Authorization": "Bearer " + srv.token()})
    check(r.status == 200, "a percent-encoded resource name in the path")
    r = api(srv, "POST", gcpsrv.KEY, "encrypt", {"plaintext": "eA=="}, query="foo=1")
    check(r.rpc() == (400, "INVALID_ARGUMENT") and "Cannot bind query parameter" in
          r.json()["error"]["message"], "an unknown query parameter: 400 Cannot bind")
    r = api(srv, "POST", gcpsrv.KEY, "encrypt", {"plaintext": "eA=="},
            query="%24alt=json%3Benum-encoding%3Dint&%24prettyPrint=0")
    check(r.status == 200 and r.json()["protectionLevel"] == 1,
          "$alt=json%3Benum-encoding=int as gax encodes it: numeric enums")
    check(api(srv, "POST", gcpsrv.KEY, "encrypt", {"plaintext": "eA=="}, query="alt=proto")
          .rpc() == (400, "INVALID_ARGUMENT"), "alt=proto: 400")
    r = api(srv, "POST", gcpsrv.KEY, "encrypt", b"{not json")
    check(r.rpc() == (400, "INVALID_ARGUMENT") and r.headers["Content-Type"] ==
          "application/json; charset=UTF-8", "a body that is not JSON: 400, google.rpc.Status")
    r = api(srv, "POST", gcpsrv.KEY, "encrypt", {"plaintext": "eA==", "plaintextCrc32c": "x1"})
    check(r.rpc() == (400, "INVALID_ARGUMENT"), "an Int64Value that is not a number: 400")
    err = api(srv, "POST", gcpsrv.KEY, "decrypt", {"ciphertext": b64(b"\x00" * 60)}).json()
    check(set(err["error"]) >= {"code", "message", "status"} and err["error"]["code"] == 400,
          "error body: {error: {code, message, status}}")
    r = api(srv, "GET", gcpsrv.SIGN_P256 + "/cryptoKeyVersions/1/publicKey",
            query="publicKeyFormat=DER")
    a = r.json()
    check(r.status == 200 and a["publicKeyFormat"] == "DER" and
          a["publicKey"]["crc32cChecksum"] == str(crc32c(base64.b64decode(
              a["publicKey"]["data"]))), "getPublicKey publicKeyFormat=DER with crc32cChecksum")


def test_faults(srv):
    enc = {"plaintext": "eA=="}
    srv.fault("Encrypt", "http503", count=2)
    got = [api(srv, "POST", gcpsrv.KEY, "encrypt", enc).status for _ in range(3)]
    check(got == [503, 503, 200], "count=2: two faulted answers, then normal (%s)" % got)
    srv.fault("*", "http500")
    check(api(srv, "POST", gcpsrv.KEY, "decrypt", {"ciphertext": "eA=="}).rpc() ==
          (500, "INTERNAL"), "op * hits any KMS operation: 500 INTERNAL")
    srv.fault("Encrypt", "error", status="ABORTED", message="injected abort")
    r = api(srv, "POST", gcpsrv.KEY, "encrypt", enc)
    check(r.rpc() == (409, "ABORTED") and r.json()["error"]["message"] == "injected abort",
          "kind error: the google.rpc.Status asked for")
    srv.fault("Encrypt", "delay", delay_ms=300)
    t0 = time.monotonic()
    r = api(srv, "POST", gcpsrv.KEY, "encrypt", enc)
    check(r.status == 200 and time.monotonic() - t0 >= 0.3, "delay: the normal answer, later")
    for kind, exc in (("reset", (ConnectionResetError, http.client.RemoteDisconnected,
                                 BrokenPipeError)),
                      ("close", (http.client.RemoteDisconnected, ConnectionResetError))):
        srv.fault("Encrypt", kind)
        try:
            api(srv, "POST", gcpsrv.KEY, "encrypt", enc)
            raised = None
        except exc as e:
            raised = type(e).__name__
        check(raised is not None, "%s: the connection ends without an answer (%s)"
              % (kind, raised))
    srv.fault("Encrypt", "truncated")
    try:
        api(srv, "POST", gcpsrv.KEY, "encrypt", enc)
        cut = False
    except http.client.IncompleteRead:
        cut = True
    check(cut, "truncated: http.client sees an IncompleteRead")
    srv.fault("token", "garbage")
    r = grant(srv, assertion(srv))
    check(r.status == 200 and oauth_error(r)[1] is None and b"not json" in r.body,
          "garbage on the token endpoint")
    srv.fault("token", "http429")
    check(oauth_error(grant(srv, assertion(srv)))[0] == 429, "token endpoint 429")
    srv.fault("AsymmetricSign", "crc_mismatch")
    r = api(srv, "POST", gcpsrv.SIGN_P256 + "/cryptoKeyVersions/1", "asymmetricSign",
            {"digest": {"sha256": b64(b"\x01" * 32)}})
    a = r.json()
    check(a["signatureCrc32c"] != str(crc32c(base64.b64decode(a["signature"]))),
          "crc_mismatch on asymmetricSign: signatureCrc32c wrong")
    before = srv.counters()["faults_served"]
    srv.fault("Decrypt", "http503", count=5)
    pending = srv.ctl("GET", "/faults")["faults"]
    srv.ctl("DELETE", "/faults")
    check(pending and pending[0]["count"] == 5 and not srv.ctl("GET", "/faults")["faults"] and
          srv.counters()["faults_served"] == before, "GET/DELETE /faults")
    for bad in ({"op": "Nope", "kind": "http503"}, {"op": "Encrypt", "kind": "nope"},
                {"op": "token", "kind": "crc_mismatch"}, {"op": "Encrypt", "kind": "error"}):
        try:
            srv.ctl("POST", "/faults", bad)
            refused = False
        except gcpsrv.ControlError:
            refused = True
        check(refused, "control refuses the fault %s" % bad)


def test_keepalive_and_log(srv):
    before = srv.counters()["connections"]
    tok = srv.token()
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=120)
    marker = b"p11kms-plaintext-marker"
    for _ in range(5):
        r = api(srv, "POST", gcpsrv.KEY, "encrypt", {"plaintext": b64(marker)}, token=tok,
                conn=conn)
    conn.close()
    after = srv.counters()["connections"]
    check(r.status == 200 and after - before == 3,
          "five calls on one keep-alive connection (+2 control calls): %d" % (after - before))
    log = json.dumps(srv.requests()) + srv.log()
    check(tok not in log and b64(marker) not in log and marker.decode() not in log,
          "neither the token nor the plaintext appears in the request log or server log")
    e = srv.requests()[-1]
    check(e["token_id"].startswith("sha256:") and e["principal"] == gcpsrv.SA_MAIN,
          "the log names the token by fingerprint and the caller by principal")


def test_control(srv):
    name = gcpsrv.KEY_RING + "/cryptoKeys/wire-created"
    k = srv.ctl("POST", "/keys", {"name": name, "versions": 2})
    check(k["name"] == name and k["primary"]["name"] == name + "/cryptoKeyVersions/1",
          "control: create a key with two versions")
    srv.ctl("POST", "/primary", {"key": name, "version": 2})
    r = api(srv, "POST", name, "encrypt", {"plaintext": "eA=="})
    check(r.json()["name"] == name + "/cryptoKeyVersions/2", "control: primary moved to v2")
    v = srv.ctl("POST", "/versions", {"key": name, "primary": True})
    check(v["name"].endswith("/3") and api(srv, "POST", name, "encrypt", {"plaintext": "eA=="})
          .json()["name"] == v["name"], "control: new version made primary")
    srv.ctl("POST", "/state", {"version": v["name"], "state": "DISABLED"})
    check(api(srv, "POST", name, "encrypt", {"plaintext": "eA=="}).rpc() ==
          (400, "FAILED_PRECONDITION"), "control: disabling the primary blocks encrypt")
    ring = "projects/%s/locations/us-east1/keyRings/elsewhere" % gcpsrv.PROJECT
    k = srv.ctl("POST", "/keys", {"name": ring + "/cryptoKeys/ec",
                                  "algorithm": "EC_SIGN_P256_SHA256"})
    check(k["purpose"] == "ASYMMETRIC_SIGN" and "primary" not in k,
          "control: an asymmetric key in a new ring")
    tok = srv.token(gcpsrv.SA_DECRYPTER, ttl_seconds=600)
    check(api(srv, "POST", gcpsrv.KEY, "encrypt", {"plaintext": "eA=="}, token=tok).rpc() ==
          (403, "PERMISSION_DENIED"), "control: a minted token carries its principal's roles")
    srv.ctl("POST", "/iam", {"member": "serviceAccount:" + gcpsrv.SA_DECRYPTER,
                             "roles": ["roles/cloudkms.cryptoKeyEncrypterDecrypter"]})
    check(api(srv, "POST", gcpsrv.KEY, "encrypt", {"plaintext": "eA=="}, token=tok).status ==
          200, "control: IAM roles changed at the project")
    expired = srv.ctl("POST", "/expire-tokens", {"principal": gcpsrv.SA_DECRYPTER})["expired"]
    r = api(srv, "POST", gcpsrv.KEY, "encrypt", {"plaintext": "eA=="}, token=tok)
    check(expired >= 1 and r.rpc() == (401, "UNAUTHENTICATED") and
          r.json()["error"]["details"][0]["reason"] == "ACCESS_TOKEN_EXPIRED",
          "control: expire-tokens -> 401 ACCESS_TOKEN_EXPIRED")
    c = srv.counters()
    check({"connections", "listener_connections", "requests", "statuses", "errors",
           "token_grants", "auth_failures", "crc_failures", "faults_served"} <= set(c) and
          c["requests"].get("Encrypt", 0) > 0, "counters")
    ids = srv.ctl("GET", "/identities")
    check(ids["files"]["sa-key.json"] == srv.path("sa-key.json") and "ca" in ids["pki"],
          "GET /_control/identities")
    try:
        srv.ctl("GET", "/nothing")
        missing = False
    except gcpsrv.ControlError:
        missing = True
    check(missing, "unknown control path: 404")


def test_tls(srv):
    ctx = ssl.create_default_context(cafile=srv.ca)
    r = call(srv.tls_port, "POST", "/v1/%s:encrypt" % gcpsrv.KEY, {"plaintext": "eA=="},
             {"Authorization": "Bearer " + srv.token()}, tls=ctx)
    check(r.status == 200, "HTTPS to 127.0.0.1 verified against ca.pem (IP SAN)")
    conn = http.client.HTTPSConnection("localhost", srv.tls_port, context=ctx, timeout=60)
    try:
        conn.request("GET", "/_control/health")
        ok = conn.getresponse().status == 200
    except OSError:
        ok = False   # localhost may resolve to ::1 only on some hosts
    finally:
        conn.close()
    check(ok, "HTTPS by the name localhost (DNS SAN)")
    bad = ssl.create_default_context(cafile=srv.other_ca)
    try:
        call(srv.tls_port, "GET", "/_control/health", tls=bad)
        refused = False
    except ssl.SSLCertVerificationError:
        refused = True
    check(refused, "other-ca.pem does not verify the server")


def test_restart_and_sigterm():
    srv = gcpsrv.GcpServer(sys.executable).start()
    state = srv.state_dir
    try:
        name = gcpsrv.KEY_RING + "/cryptoKeys/survivor"
        srv.ctl("POST", "/keys", {"name": name})
        ct_new = api(srv, "POST", name, "encrypt", {"plaintext": b64(b"new")}).json()
        ct_pre = api(srv, "POST", gcpsrv.KEY, "encrypt", {"plaintext": b64(b"pre")}).json()
        kid = json.load(open(srv.path("sa-key.json")))["private_key_id"]
        old_token = srv.token()
        proc = srv.proc
        proc.send_signal(signal.SIGTERM)
        check(proc.wait(120) == 0, "SIGTERM: clean exit, status 0")
        srv.proc = None
        srv2 = gcpsrv.GcpServer(sys.executable, state_dir=state).start()
        try:
            d1 = api(srv2, "POST", name, "decrypt", {"ciphertext": ct_new["ciphertext"]})
            d2 = api(srv2, "POST", gcpsrv.KEY, "decrypt", {"ciphertext": ct_pre["ciphertext"]})
            check(d1.status == 200 and base64.b64decode(d1.json()["plaintext"]) == b"new",
                  "restart with the state dir: a created key and its ciphertexts survive")
            check(d2.status == 200, "preloaded keys decrypt old ciphertexts after a restart")
            info = json.load(open(srv2.path("sa-key.json")))
            check(info["private_key_id"] == kid and info["token_uri"] == srv2.endpoint +
                  "/token", "identity keys kept, files rewritten with the new ports")
            check(api(srv2, "POST", gcpsrv.KEY, "encrypt", {"plaintext": "eA=="},
                      token=old_token).rpc() == (401, "UNAUTHENTICATED"),
                  "access tokens do not survive a restart")
        finally:
            srv2.stop()
    finally:
        srv.stop()
        shutil.rmtree(state, ignore_errors=True)


def main():
    test_crc32c()
    with gcpsrv.GcpServer(sys.executable) as srv:
        test_files(srv)
        test_token_endpoint(srv)
        test_self_signed(srv)
        test_metadata(srv)
        test_sts_and_impersonation(srv)
        test_proto3_json(srv)
        test_faults(srv)
        test_keepalive_and_log(srv)
        test_control(srv)
        test_tls(srv)
    test_restart_and_sigterm()
    print("1..%d" % n)
    if failures:
        raise SystemExit(1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
