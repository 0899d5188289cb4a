# test-server-wire.py - the AWS KMS test server on the wire, with requests signed by botocore and
# sent by http.client: what the CLI and boto3 cannot provoke (bad auth, faults, IMDS, STS, control).
"""Wire-level test of tests/servers/aws_kms_server.py; exit 77 when botocore is missing."""

import base64
import calendar
import hashlib
import http.client
import json
import importlib.util
import os
import re
import shutil
import sys
import tempfile
import time
from urllib.parse import urlencode

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.environ.get("top_srcdir") or os.path.dirname(os.path.dirname(os.path.dirname(HERE)))
sys.path.insert(0, os.path.join(TOP, "tests", "servers"))

try:
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials
    if importlib.util.find_spec("cryptography") is None:
        raise ImportError("no module named cryptography (the server needs it)")
except ImportError as e:
    print("# SKIP: %s cannot import botocore/cryptography: %s" % (sys.executable, e))
    sys.exit(77)

import awssrv  # noqa: E402

n = 0
failures = 0
CREDS = Credentials(awssrv.ACCESS_KEY, awssrv.SECRET_KEY)


def check(cond, what):
    global n, failures
    n += 1
    print("%s %d - %s" % ("ok" if cond else "not ok", n, what))
    if not cond:
        failures += 1
    return cond


class Answer:
    def __init__(self, resp):
        self.status = resp.status
        self.headers = {k.lower(): v for k, v in resp.getheaders()}
        self.raw = resp.read()
        try:
            self.json = json.loads(self.raw.decode())
        except (UnicodeDecodeError, ValueError):
            self.json = None

    @property
    def code(self):
        return (self.json or {}).get("__type")


def sign(srv, target, body, creds=CREDS, region=awssrv.REGION, service="kms", extra=None):
    """Headers of a request signed by botocore (an independent signer)."""
    headers = {"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": target,
               "Host": "127.0.0.1:%d" % srv.port}
    headers.update(extra or {})
    req = AWSRequest(method="POST", url=srv.endpoint + "/", data=body, headers=headers)
    SigV4Auth(creds, service, region).add_auth(req)
    return dict(req.headers.items())


def kms(srv, op, payload, conn=None, raw=None, headers=None, **sign_args):
    body = raw if raw is not None else json.dumps(payload).encode()
    hdrs = headers if headers is not None else sign(srv, "TrentService." + op, body,
                                                    **sign_args)
    c = conn or http.client.HTTPConnection("127.0.0.1", srv.port, timeout=120)
    try:
        c.request("POST", "/", body=body, headers=hdrs)
        return Answer(c.getresponse())
    finally:
        if conn is None:
            c.close()


def plain(srv, method, path, headers=None, body=None):
    c = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=120)
    try:
        c.request(method, path, body=body, headers=headers or {})
        return Answer(c.getresponse())
    finally:
        c.close()


def b64(data):
    return base64.b64encode(data).decode()


def test_connections(srv):
    before = srv.counters()["connections"]
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=120)
    answers = [kms(srv, "DescribeKey", {"KeyId": awssrv.ALIAS}, conn=conn) for _ in range(5)]
    conn.close()
    after = srv.counters()["connections"]
    check(all(a.status == 200 for a in answers), "5 requests on one connection succeed")
    ids = {r["conn"] for r in srv.requests()[-5:]}
    check(len(ids) == 1, "the server saw them on one connection")
    # +1 for our connection, +1 for the second counters query's own connection.
    check(after - before == 2, "accepted connections are counted")
    a = answers[0]
    check(a.headers.get("content-type") == "application/x-amz-json-1.1" and
          re.match(r"^[0-9a-f-]{36}$", a.headers.get("x-amzn-requestid", "")),
          "JSON 1.1 content type and a request id")


def test_auth(srv):
    body = json.dumps({"KeyId": awssrv.ALIAS}).encode()
    good = sign(srv, "TrentService.DescribeKey", body)
    no_auth = {k: v for k, v in good.items() if k != "Authorization"}
    a = kms(srv, "DescribeKey", None, raw=body, headers=no_auth)
    check(a.code == "MissingAuthenticationTokenException" and a.status == 400,
          "no Authorization: MissingAuthenticationTokenException")
    check("x-amzn-requestid" in a.headers, "errors carry a request id too")
    broken = dict(good, Authorization="AWS4-HMAC-SHA256 Credential=nonsense")
    check(kms(srv, "DescribeKey", None, raw=body, headers=broken).code ==
          "IncompleteSignatureException", "malformed Authorization: IncompleteSignature")
    tampered = json.dumps({"KeyId": awssrv.OTHER_KEY_ID}).encode()
    sigfail = srv.counters()["signature_failures"]
    a = kms(srv, "DescribeKey", None, raw=tampered, headers=dict(
        good, **{"Content-Length": str(len(tampered))}))
    check(a.code == "InvalidSignatureException" and a.status == 400,
          "body changed after signing: InvalidSignatureException")
    check(srv.counters()["signature_failures"] == sigfail + 1, "counted as signature failure")
    check("--- canonical request (botocore)" in srv.log(),
          "the mismatch logged botocore's canonical request")
    check(awssrv.SECRET_KEY not in srv.log(), "the secret key is never logged")
    # botocore's signer trusts an X-Amz-Content-SHA256 header; the server must not.
    real = json.dumps({"KeyId": awssrv.ALIAS}).encode()
    other = json.dumps({"KeyId": awssrv.OTHER_KEY_ID}).encode()
    claimed = sign(srv, "TrentService.DescribeKey", other,
                   extra={"X-Amz-Content-SHA256": hashlib.sha256(other).hexdigest()})
    check(kms(srv, "DescribeKey", None, raw=other, headers=claimed).status == 200,
          "a correct signed X-Amz-Content-SHA256 is accepted")
    a = kms(srv, "DescribeKey", None, raw=real, headers=dict(
        claimed, **{"Content-Length": str(len(real))}))
    check(a.code == "InvalidSignatureException",
          "a body that does not match X-Amz-Content-SHA256: InvalidSignatureException")
    for region, service, what in (("eu-west-1", "kms", "region"), (awssrv.REGION, "s3",
                                                                      "service")):
        a = kms(srv, "DescribeKey", {"KeyId": awssrv.ALIAS}, region=region, service=service)
        check(a.code == "InvalidSignatureException", "scope with another %s: "
              "InvalidSignatureException" % what)

    tmp = srv.ctl("POST", "/credentials", {"temporary": True})
    tcreds = Credentials(tmp["AccessKeyId"], tmp["SecretAccessKey"], tmp["SessionToken"])
    check(kms(srv, "DescribeKey", {"KeyId": awssrv.ALIAS}, creds=tcreds).status == 200,
          "temporary credentials with a signed session token")
    check(tmp["SessionToken"] not in srv.log(), "session tokens are never logged")
    unsigned = sign(srv, "TrentService.DescribeKey", body,
                    creds=Credentials(tmp["AccessKeyId"], tmp["SecretAccessKey"]))
    unsigned["X-Amz-Security-Token"] = tmp["SessionToken"]
    check(kms(srv, "DescribeKey", None, raw=body, headers=unsigned).code ==
          "IncompleteSignatureException", "an unsigned session token: IncompleteSignature")
    other_token = Credentials(tmp["AccessKeyId"], tmp["SecretAccessKey"], "P11KMSTOKENother")
    check(kms(srv, "DescribeKey", {"KeyId": awssrv.ALIAS}, creds=other_token).code ==
          "UnrecognizedClientException", "a different session token: UnrecognizedClient")

    srv.ctl("POST", "/config", {"clock_offset_seconds": -1200})
    a = kms(srv, "DescribeKey", {"KeyId": awssrv.ALIAS})
    check(a.code == "InvalidSignatureException" and
          a.json["message"].startswith("Signature not yet current"),
          "X-Amz-Date 20 minutes ahead of the server: not yet current")
    srv.ctl("POST", "/config", {"clock_offset_seconds": 0})


def test_requests(srv):
    check(kms(srv, "Encrypt", None, raw=b"{not json").code == "SerializationException",
          "a body that is not JSON: SerializationException")
    check(kms(srv, "Encrypt", None, raw=b"[1]").code == "SerializationException",
          "a JSON array body: SerializationException")
    check(kms(srv, "Encrypt", {"KeyId": awssrv.ALIAS, "Plaintext": "%%%"}).code ==
          "SerializationException", "Plaintext not base64: SerializationException")
    check(kms(srv, "Encrypt", {"KeyId": awssrv.ALIAS, "Plaintext": ""}).code ==
          "ValidationException", "empty Plaintext: ValidationException")
    check(kms(srv, "Encrypt", {"Plaintext": b64(b"x")}).code == "ValidationException",
          "no KeyId: ValidationException")
    check(kms(srv, "Encrypt", {"KeyId": awssrv.ALIAS, "Plaintext": b64(b"x"),
                               "EncryptionContext": {"a": 1}}).code ==
          "SerializationException", "a context value that is not a string")
    check(kms(srv, "GenerateDataKey", {"KeyId": awssrv.ALIAS, "NumberOfBytes": 0}).code ==
          "ValidationException", "NumberOfBytes 0: ValidationException")
    check(kms(srv, "GenerateDataKey", {"KeyId": awssrv.ALIAS, "NumberOfBytes": 1025}).code ==
          "ValidationException", "NumberOfBytes 1025: ValidationException")
    check(kms(srv, "Encrypt", {"KeyId": awssrv.ALIAS, "Plaintext": b64(b"x"),
                               "EncryptionAlgorithm": "RSAES_OAEP_SHA_256"}).code ==
          "InvalidKeyUsageException", "an RSA algorithm on a symmetric key")
    a = kms(srv, "Encrypt", {"KeyId": awssrv.ALIAS, "Plaintext": b64(b"x"), "DryRun": True})
    check(a.code == "DryRunOperationException" and a.status == 412, "DryRun: 412")
    check(kms(srv, "ListKeys", {}).code == "UnknownOperationException",
          "an operation the server does not offer: UnknownOperationException")
    check(kms(srv, "Decrypt", {"CiphertextBlob": b64(os.urandom(80))}).code ==
          "InvalidCiphertextException", "random bytes: InvalidCiphertextException")
    ct = kms(srv, "Encrypt", {"KeyId": awssrv.ALIAS, "Plaintext": b64(b"secret"),
                              "EncryptionContext": {"k": "v"}}).json["CiphertextBlob"]
    blob = bytearray(base64.b64decode(ct))
    for pos, what in ((10, "key id"), (len(blob) - 1, "tag"), (45, "IV")):
        bad = bytearray(blob)
        bad[pos] ^= 0x20
        a = kms(srv, "Decrypt", {"CiphertextBlob": b64(bytes(bad)),
                                 "EncryptionContext": {"k": "v"}})
        check(a.code == "InvalidCiphertextException", "a changed %s byte: "
              "InvalidCiphertextException" % what)
    for ctx, what in (({"k": "V"}, "case-changed value"), ({"K": "v"}, "case-changed key"),
                      ({"k": "v", "x": ""}, "extra empty pair"), ({"kv": ""}, "joined pair")):
        check(kms(srv, "Decrypt", {"CiphertextBlob": ct, "EncryptionContext": ctx}).code ==
              "InvalidCiphertextException", "context with a %s is refused" % what)

    # Chunked transfer encoding (no Content-Length) is read and signed like any body.
    body = json.dumps({"KeyId": awssrv.ALIAS}).encode()
    hdrs = sign(srv, "TrentService.DescribeKey", body)
    c = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=120)
    c.putrequest("POST", "/", skip_host=True, skip_accept_encoding=True)
    for k, v in hdrs.items():
        c.putheader(k, v)
    c.putheader("Transfer-Encoding", "chunked")
    c.endheaders()
    c.send(b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body))
    check(Answer(c.getresponse()).status == 200, "a chunked request body")
    c.close()


def test_faults(srv):
    srv.ctl("POST", "/reset", {})
    srv.fault("*", "error", count=2, status=400, type="KMSInvalidStateException",
              message="injected")
    srv.fault("Decrypt", "throttle")
    a1 = kms(srv, "Decrypt", {"CiphertextBlob": b64(b"x")})
    a2 = kms(srv, "DescribeKey", {"KeyId": awssrv.ALIAS})
    check(a1.code == a2.code == "KMSInvalidStateException" and a1.json["message"] ==
          "injected", "an 'error' fault on '*' answers the next 2 KMS requests, in order")
    check(kms(srv, "Decrypt", {"CiphertextBlob": b64(b"x")}).code == "ThrottlingException",
          "then the queued Decrypt throttle")
    check(srv.ctl("GET", "/faults")["faults"] == [], "and the queue is empty")
    srv.fault("*", "http503")
    tok = plain(srv, "PUT", "/latest/api/token",
               {"x-aws-ec2-metadata-token-ttl-seconds": "60"})
    check(tok.status == 200, "'*' faults do not touch the credential endpoints")
    check(kms(srv, "DescribeKey", {"KeyId": awssrv.ALIAS}).status == 503, "503 fault")
    srv.fault("Encrypt", "garbage")
    a = kms(srv, "Encrypt", {"KeyId": awssrv.ALIAS, "Plaintext": b64(b"x")})
    check(a.status == 200 and a.json is None and a.raw, "garbage: 200 with a non-JSON body")
    srv.fault("DescribeKey", "delay", delay_ms=200)
    check(kms(srv, "DescribeKey", {"KeyId": awssrv.ALIAS}).status == 200,
          "delay: the answer still comes, and is right")
    srv.fault("DescribeKey", "drop")
    try:
        kms(srv, "DescribeKey", {"KeyId": awssrv.ALIAS})
        dropped = False
    except (http.client.RemoteDisconnected, ConnectionError):
        dropped = True
    check(dropped, "drop: the connection closes without an answer")
    srv.fault("imds-token", "throttle")
    check(plain(srv, "PUT", "/latest/api/token",
               {"x-aws-ec2-metadata-token-ttl-seconds": "60"}).status == 429,
          "a throttle fault on IMDS answers 429")
    c = srv.counters()
    check(c["faults_served"] == 8 and c["faults"] == {"error": 2, "throttle": 2, "http503": 1,
                                                      "garbage": 1, "delay": 1, "drop": 1},
          "faults served are counted by kind (%s)" % c["faults"])
    check(c["requests"].get("DescribeKey") == 4 and c["requests"].get("imds-token") == 2,
          "requests per operation include faulted ones (%s)" % c["requests"])
    try:
        srv.fault("Nope", "throttle")
        rejected = False
    except awssrv.ControlError:
        rejected = True
    check(rejected, "a fault for an unknown operation is refused")


def test_imds(srv):
    put = lambda h: plain(srv, "PUT", "/latest/api/token", h)  # noqa: E731
    check(put({}).status == 400, "IMDS token without a TTL: 400")
    check(put({"x-aws-ec2-metadata-token-ttl-seconds": "21601"}).status == 400,
          "IMDS token TTL above 21600: 400")
    check(put({"x-aws-ec2-metadata-token-ttl-seconds": "60", "X-Forwarded-For": "1.2.3.4"})
          .status == 403, "IMDS token through a proxy: 403")
    token = put({"x-aws-ec2-metadata-token-ttl-seconds": "60"}).raw.decode()
    base = "/latest/meta-data/iam/security-credentials/"
    check(plain(srv, "GET", base).status == 401, "IMDS without a token: 401")
    check(plain(srv, "GET", base, {"x-aws-ec2-metadata-token": "bogus"}).status == 401,
          "IMDS with an unknown token: 401")
    a = plain(srv, "GET", base, {"x-aws-ec2-metadata-token": token})
    check(a.status == 200 and a.raw == awssrv.IMDS_ROLE.encode(), "IMDS role name")
    check(plain(srv, "GET", base + "other-role", {"x-aws-ec2-metadata-token": token}).status
          == 404, "IMDS unknown role: 404")
    a = plain(srv, "GET", base + awssrv.IMDS_ROLE, {"x-aws-ec2-metadata-token": token})
    check(a.status == 200 and a.json["Code"] == "Success" and
          a.json["AccessKeyId"].startswith("ASIA"), "IMDS credentials")
    srv.ctl("POST", "/config", {"imds_v1": True})
    check(plain(srv, "GET", base).status == 200, "IMDSv1 when enabled")
    srv.ctl("POST", "/config", {"imds_v1": False})
    srv.ctl("POST", "/config", {"credential_ttl_seconds": 120})
    a = plain(srv, "GET", "/ecs/credentials")
    left = calendar.timegm(time.strptime(a.json["Expiration"], "%Y-%m-%dT%H:%M:%SZ")) - \
        time.time()
    check(a.status == 200 and 0 < left <= 120, "container credentials follow the TTL")
    srv.ctl("POST", "/config", {"credential_ttl_seconds": None})
    srv.ctl("POST", "/config", {"container_auth_token": "tok"})
    check(plain(srv, "GET", "/ecs/credentials", {"Authorization": "other"}).status == 401,
          "container credentials with a wrong token: 401")
    check(plain(srv, "GET", "/ecs/credentials", {"Authorization": "tok"}).status == 200,
          "container credentials with the right token")
    srv.ctl("POST", "/config", {"container_auth_token": None})


def sts(srv, **fields):
    form = {"Action": "AssumeRoleWithWebIdentity", "Version": "2011-06-15",
            "RoleArn": "arn:aws:iam::%s:role/r" % awssrv.ACCOUNT, "RoleSessionName": "s1",
            "WebIdentityToken": awssrv.WEB_IDENTITY_TOKEN}
    form.update(fields)
    body = urlencode({k: v for k, v in form.items() if v is not None})
    return plain(srv, "POST", "/", {"Content-Type": "application/x-www-form-urlencoded"},
                body)


def xml_code(a):
    m = re.search(rb"<Code>([^<]*)</Code>", a.raw)
    return m.group(1).decode() if m else None


def test_sts(srv):
    a = sts(srv, DurationSeconds="900")
    m = re.search(rb"<Expiration>([^<]*)</Expiration>", a.raw)
    left = calendar.timegm(time.strptime(m.group(1).decode(), "%Y-%m-%dT%H:%M:%SZ")) - \
        time.time() if m else -1
    check(a.status == 200 and b"<AccessKeyId>ASIA" in a.raw and 800 < left <= 900,
          "AssumeRoleWithWebIdentity honours DurationSeconds")
    check(xml_code(sts(srv, WebIdentityToken="wrong")) == "InvalidIdentityToken",
          "wrong web identity token: InvalidIdentityToken")
    check(xml_code(sts(srv, RoleArn=None)) == "ValidationError", "no RoleArn: ValidationError")
    check(xml_code(sts(srv, RoleSessionName="bad name")) == "ValidationError",
          "bad session name: ValidationError")
    a = sts(srv, RoleArn="arn:aws:iam::999999999999:role/r")
    check(a.status == 403 and xml_code(a) == "AccessDenied", "another account: AccessDenied")
    check(xml_code(sts(srv, Action="AssumeRole")) == "InvalidAction",
          "another action: InvalidAction")


def test_control_and_persistence(srv):
    kid = "44444444-4444-4444-8444-444444444444"
    srv.ctl("POST", "/keys", {"key_id": kid, "alias": "alias/persist"})
    try:
        srv.ctl("POST", "/keys", {"key_id": kid})
        dup = False
    except awssrv.ControlError as e:
        dup = "409" in str(e)
    check(dup, "creating an existing key id: 409")
    srv.ctl("POST", "/aliases", {"alias": "alias/moved", "key_id": awssrv.KEY_ID})
    srv.ctl("POST", "/aliases", {"alias": "alias/moved", "key_id": kid})
    check(kms(srv, "DescribeKey", {"KeyId": "alias/moved"}).json["KeyMetadata"]["KeyId"] ==
          kid, "an alias can be re-pointed")
    arn = "arn:aws:kms:%s:%s:key/%s" % (awssrv.REGION, awssrv.ACCOUNT, kid)
    check(srv.ctl("POST", "/disable", {"key_id": arn})["KeyState"] == "Disabled",
          "disable by key ARN")
    check(kms(srv, "Encrypt", {"KeyId": "alias/persist", "Plaintext": b64(b"x")}).code ==
          "DisabledException", "the disabled key refuses Encrypt")
    srv.ctl("POST", "/enable", {"key_id": kid})
    ct = kms(srv, "Encrypt", {"KeyId": "alias/persist", "Plaintext": b64(b"kept"),
                              "EncryptionContext": {"a": "b"}}).json["CiphertextBlob"]
    srv.stop()
    srv.start()
    a = kms(srv, "Decrypt", {"CiphertextBlob": ct, "EncryptionContext": {"a": "b"}})
    check(a.status == 200 and base64.b64decode(a.json["Plaintext"]) == b"kept",
          "a created key and its alias survive a restart with the same state dir")
    srv.ctl("POST", "/reset", {})
    c = srv.counters()
    check(c["requests"] == {} and c["faults_served"] == 0 and c["connections"] == 1,
          "reset clears the counters")
    srv.ctl("POST", "/reset", {"keys": True})
    check(kms(srv, "DescribeKey", {"KeyId": "alias/persist"}).code == "NotFoundException",
          "reset with keys forgets created keys")


def main():
    with awssrv.AwsServer() as srv:
        test_connections(srv)
        test_auth(srv)
        test_requests(srv)
        test_faults(srv)
        test_imds(srv)
        test_sts(srv)
    state = tempfile.mkdtemp(prefix="p11kms-aws-persist.")
    try:
        with awssrv.AwsServer(state_dir=state) as srv:
            test_control_and_persistence(srv)
    finally:
        shutil.rmtree(state, ignore_errors=True)
    print("1..%d" % n)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
