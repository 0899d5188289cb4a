# test-server-boto3.py - boto3/botocore (independent clients) against the loopback AWS KMS
# server: KMS operations and errors, retries, and every credential source the server imitates.
"""boto3 fidelity test of tests/servers/aws_kms_server.py; exit 77 when boto3 is missing."""

import functools
import importlib.util
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.environ.get("top_srcdir") or os.path.dirname(os.path.dirname(os.path.dirname(HERE)))
sys.path.insert(0, os.path.join(TOP, "tests", "servers"))

try:
    import boto3
    import botocore.credentials
    import botocore.session
    from botocore.config import Config
    from botocore.exceptions import ClientError
    if importlib.util.find_spec("cryptography") is None:
        raise ImportError("no module named cryptography (the server needs it)")
except ImportError as e:
    print("# SKIP: %s cannot import boto3/botocore/cryptography: %s" % (sys.executable, e))
    sys.exit(77)

import awssrv  # noqa: E402

n = 0
failures = 0


def check(cond, what):
    global n, failures
    n += 1
    if cond:
        print("ok %d - %s" % (n, what))
    else:
        failures += 1
        print("not ok %d - %s" % (n, what))
    return cond


def error_code(func, *args, **kwargs):
    """The AWS error code func raises, or None when it succeeds."""
    try:
        func(*args, **kwargs)
    except ClientError as e:
        return e.response["Error"]["Code"]
    return None


def with_env(env):
    os.environ.clear()
    os.environ.update(env)


def kms_client(srv, session=None, retries=None):
    cfg = Config(retries=retries or {"mode": "standard"})
    s = boto3.session.Session(botocore_session=session or botocore.session.Session())
    return s.client("kms", endpoint_url=srv.endpoint, region_name=awssrv.REGION, config=cfg)


def kms_entries(srv, op=None):
    return [r for r in srv.requests() if r["op"] != "sts" and not r["op"].startswith(
        ("imds", "container")) and (op is None or r["op"] == op)]


def test_operations(srv):
    kms = kms_client(srv)
    ctx = {"purpose": "test", "app": "p11"}
    pt = bytes(range(256)) * 4
    r = kms.encrypt(KeyId=awssrv.ALIAS, Plaintext=pt, EncryptionContext=ctx)
    check(r["KeyId"] == awssrv.KEY_ARN, "encrypt answers with the key ARN")
    check(r["ResponseMetadata"]["HTTPHeaders"].get("x-amzn-requestid"),
          "responses carry x-amzn-RequestId")
    blob = r["CiphertextBlob"]
    d = kms.decrypt(CiphertextBlob=blob, EncryptionContext=dict(reversed(list(ctx.items()))))
    check(d["Plaintext"] == pt and d["KeyId"] == awssrv.KEY_ARN,
          "decrypt with the context in another order returns the plaintext")
    check(error_code(kms.decrypt, CiphertextBlob=blob) == "InvalidCiphertextException",
          "decrypt without the context: InvalidCiphertextException")
    check(error_code(kms.decrypt, CiphertextBlob=blob,
                     EncryptionContext={"purpose": "test"}) == "InvalidCiphertextException",
          "decrypt with a missing pair: InvalidCiphertextException")
    check(error_code(kms.decrypt, CiphertextBlob=blob, EncryptionContext=ctx,
                     KeyId=awssrv.OTHER_KEY_ID) == "IncorrectKeyException",
          "decrypt naming another key: IncorrectKeyException")
    alias_arn = "arn:aws:kms:%s:%s:alias/p11kms-test" % (awssrv.REGION, awssrv.ACCOUNT)
    check(kms.decrypt(CiphertextBlob=blob, EncryptionContext=ctx, KeyId=alias_arn)["Plaintext"]
          == pt, "decrypt naming the key by alias ARN")
    other = kms.encrypt(KeyId=awssrv.OTHER_KEY_ID, Plaintext=pt, EncryptionContext=ctx)
    check(other["CiphertextBlob"] != blob and
          kms.decrypt(CiphertextBlob=other["CiphertextBlob"], EncryptionContext=ctx)["KeyId"]
          .endswith(awssrv.OTHER_KEY_ID), "a blob identifies its own key")
    wrong_region = "arn:aws:kms:eu-west-1:%s:key/%s" % (awssrv.ACCOUNT, awssrv.KEY_ID)
    check(error_code(kms.encrypt, KeyId=wrong_region, Plaintext=b"x") == "NotFoundException",
          "a key ARN of another region: NotFoundException")
    check(error_code(kms.encrypt, KeyId=awssrv.KEY_ID, Plaintext=b"x" * 4097)
          == "ValidationException", "4097-byte plaintext: ValidationException")
    check(error_code(kms.encrypt, KeyId="alias/p11kms-disabled", Plaintext=b"x")
          == "DisabledException", "disabled key: DisabledException")
    g = kms.generate_data_key(KeyId=awssrv.ALIAS, NumberOfBytes=48, EncryptionContext=ctx)
    check(len(g["Plaintext"]) == 48 and kms.decrypt(
        CiphertextBlob=g["CiphertextBlob"], EncryptionContext=ctx)["Plaintext"] == g["Plaintext"],
        "generate-data-key: the blob decrypts to the returned plaintext")
    w = kms.generate_data_key_without_plaintext(KeyId=awssrv.ALIAS, KeySpec="AES_128")
    check("Plaintext" not in w and len(kms.decrypt(
        CiphertextBlob=w["CiphertextBlob"])["Plaintext"]) == 16,
        "generate-data-key-without-plaintext AES_128")
    check(error_code(kms.generate_data_key, KeyId=awssrv.ALIAS, NumberOfBytes=32,
                     KeySpec="AES_256") == "ValidationException",
          "both NumberOfBytes and KeySpec: ValidationException")
    re = kms.re_encrypt(CiphertextBlob=blob, SourceEncryptionContext=ctx,
                        DestinationKeyId="alias/p11kms-other")
    check(re["SourceKeyId"] == awssrv.KEY_ARN and re["KeyId"].endswith(awssrv.OTHER_KEY_ID) and
          kms.decrypt(CiphertextBlob=re["CiphertextBlob"])["Plaintext"] == pt,
          "re-encrypt to another key and an empty context")
    md = kms.describe_key(KeyId=awssrv.DISABLED_KEY_ID)["KeyMetadata"]
    check(md["KeyState"] == "Disabled" and md["Enabled"] is False and
          md["KeyUsage"] == "ENCRYPT_DECRYPT", "describe-key of the disabled key")
    created = srv.ctl("POST", "/keys", {"alias": "alias/boto3-created"})
    check(kms.describe_key(KeyId="alias/boto3-created")["KeyMetadata"]["Arn"] ==
          created["Arn"], "a key created through the control API is visible by its alias")


def test_retries(srv):
    kms = kms_client(srv)
    before = srv.counters()["requests"].get("Encrypt", 0)
    srv.fault("Encrypt", "throttle", count=10)
    code = error_code(kms.encrypt, KeyId=awssrv.ALIAS, Plaintext=b"x")
    after = srv.counters()["requests"]["Encrypt"]
    srv.ctl("DELETE", "/faults")
    check(code == "ThrottlingException" and after - before == 3,
          "standard retry mode: 3 attempts on throttling (%d)" % (after - before))
    for kind, code in (("http503", "ServiceUnavailableException"),
                       ("http500", "KMSInternalException")):
        before = srv.counters()["requests"]["Encrypt"]
        srv.fault("Encrypt", kind, count=2)
        ok = error_code(kms.encrypt, KeyId=awssrv.ALIAS, Plaintext=b"x") is None
        after = srv.counters()["requests"]["Encrypt"]
        check(ok and after - before == 3, "%s twice, then success on attempt 3" % kind)
    conns = {r["conn"] for r in kms_entries(srv, "Encrypt")[-3:]}
    check(len(conns) == 1, "retries reuse the keep-alive connection")
    before = srv.counters()["requests"]["Encrypt"]
    srv.fault("Encrypt", "drop")
    ok = error_code(kms.encrypt, KeyId=awssrv.ALIAS, Plaintext=b"x") is None
    after = srv.counters()["requests"]["Encrypt"]
    check(ok and after - before == 2, "a dropped connection is retried once and succeeds")
    conns = [r["conn"] for r in kms_entries(srv, "Encrypt")[-2:]]
    check(conns[0] != conns[1], "... on a new connection")
    before = srv.counters()["requests"]["Decrypt"]
    error_code(kms.decrypt, CiphertextBlob=b"\x01" * 64)
    check(srv.counters()["requests"]["Decrypt"] - before == 1,
          "InvalidCiphertextException is not retried")


def test_signatures(srv, env):
    bad = dict(env, AWS_SECRET_ACCESS_KEY="not-the-secret")
    with_env(bad)
    before = srv.counters()["signature_failures"]
    check(error_code(kms_client(srv).encrypt, KeyId=awssrv.ALIAS, Plaintext=b"x")
          == "InvalidSignatureException", "wrong secret key: InvalidSignatureException")
    check(srv.counters()["signature_failures"] == before + 1, "counted as signature failure")
    with_env(dict(env, AWS_ACCESS_KEY_ID="AKIDNOBODY0000000000"))
    check(error_code(kms_client(srv).encrypt, KeyId=awssrv.ALIAS, Plaintext=b"x")
          == "UnrecognizedClientException", "unknown access key: UnrecognizedClientException")
    with_env(env)


def temp_kms_requests_ok(srv, akid, what):
    entries = [r for r in kms_entries(srv) if r.get("access_key_id") == akid]
    return check(entries and all(r["status"] == 200 and r["session_token_signed"] and
                                 "x-amz-security-token" in r["signed_headers"]
                                 for r in entries),
                 "%s: KMS requests signed with the session token" % what)


def test_imds(srv, env):
    with_env(dict(env, AWS_EC2_METADATA_SERVICE_ENDPOINT=srv.endpoint + "/",
                  AWS_EC2_METADATA_DISABLED="false"))
    before = srv.counters()["requests"]
    session = botocore.session.Session()
    creds = session.get_credentials()
    check(creds is not None and creds.method == "iam-role", "IMDS credentials resolved")
    akid = creds.get_frozen_credentials().access_key
    kms = kms_client(srv, session)
    check(kms.describe_key(KeyId=awssrv.ALIAS)["KeyMetadata"]["KeyId"] == awssrv.KEY_ID,
          "KMS call with IMDS credentials")
    after = srv.counters()["requests"]
    for op in ("imds-token", "imds-role", "imds-credentials"):
        check(after.get(op, 0) > before.get(op, 0), "IMDSv2 flow used %s" % op)
    check(akid.startswith("ASIA"), "IMDS issued a temporary access key")
    temp_kms_requests_ok(srv, akid, "IMDS")
    # Tokenless (IMDSv1) requests are refused; botocore must have used the token.
    check(not any(r["op"].startswith("imds") and r["status"] == 401 for r in srv.requests()),
          "no IMDS request was refused for a missing token")



def test_container(srv, env):
    token = "p11kms-container-auth"
    srv.ctl("POST", "/config", {"container_auth_token": token})
    full_uri = srv.endpoint + "/ecs/credentials"
    with_env(dict(env, AWS_CONTAINER_CREDENTIALS_FULL_URI=full_uri,
                  AWS_CONTAINER_AUTHORIZATION_TOKEN=token))
    session = botocore.session.Session()
    creds = session.get_credentials()
    check(creds is not None and creds.method == "container-role",
          "container credentials resolved with the authorization token")
    akid = creds.get_frozen_credentials().access_key
    kms_client(srv, session).describe_key(KeyId=awssrv.ALIAS)
    temp_kms_requests_ok(srv, akid, "container")

    # Short-lived credentials get refreshed: with 5 minutes left (botocore refreshes inside 10)
    # every call fetches new ones. (IMDS is not used for this: botocore stretches short IMDS
    # expirations on purpose, so no refresh would happen.)
    srv.ctl("POST", "/config", {"credential_ttl_seconds": 300})
    kms = kms_client(srv, botocore.session.Session())
    kms.describe_key(KeyId=awssrv.ALIAS)
    kms.describe_key(KeyId=awssrv.ALIAS)
    keys = [r["access_key_id"] for r in kms_entries(srv, "DescribeKey")[-2:]]
    check(keys[0] != keys[1] and all(k.startswith("ASIA") for k in keys),
          "short-lived container credentials are refreshed between calls")
    srv.ctl("POST", "/config", {"credential_ttl_seconds": None})

    with_env(dict(env, AWS_CONTAINER_CREDENTIALS_FULL_URI=full_uri,
                  AWS_CONTAINER_AUTHORIZATION_TOKEN="wrong"))
    refused_before = srv.counters()["errors"].get("Unauthorized", 0)
    try:
        got = botocore.session.Session().get_credentials()
        failed = got is None
    except Exception:       # botocore raises CredentialRetrievalError here
        failed = True
    check(failed and srv.counters()["errors"].get("Unauthorized", 0) > refused_before,
          "a wrong container authorization token is refused")
    srv.ctl("POST", "/config", {"container_auth_token": None})


def web_identity_session(srv, token_file, role_arn):
    """botocore 1.29 has no STS endpoint override; put a web-identity provider whose STS
    client targets the server at the head of the credential chain."""
    session = botocore.session.Session()
    resolver = session.get_component("credential_provider")
    provider = botocore.credentials.AssumeRoleWithWebIdentityProvider(
        load_config=lambda: session.full_config,
        client_creator=functools.partial(session.create_client, region_name=awssrv.REGION,
                                         endpoint_url=srv.endpoint),
        cache={}, profile_name="default")
    resolver.insert_before("env", provider)
    return session


def test_web_identity(srv, env):
    state = srv.state_dir
    token_file = os.path.join(state, "web-identity-token")
    with open(token_file, "w") as f:
        f.write(awssrv.WEB_IDENTITY_TOKEN)
    role_arn = "arn:aws:iam::%s:role/p11kms-web-role" % awssrv.ACCOUNT
    with_env(dict(env, AWS_WEB_IDENTITY_TOKEN_FILE=token_file, AWS_ROLE_ARN=role_arn,
                  AWS_ROLE_SESSION_NAME="p11kms-boto3"))
    session = web_identity_session(srv, token_file, role_arn)
    creds = session.get_credentials()
    akid = creds.get_frozen_credentials().access_key
    check(creds.method == "assume-role-with-web-identity" and akid.startswith("ASIA"),
          "web identity credentials from AssumeRoleWithWebIdentity")
    kms_client(srv, session).describe_key(KeyId=awssrv.ALIAS)
    temp_kms_requests_ok(srv, akid, "web identity")
    sts = [r for r in srv.requests() if r["op"] == "sts"]
    check(sts and sts[-1]["status"] == 200 and sts[-1]["access_key_id"] == akid,
          "the STS call was served by the test server")

    with open(token_file, "w") as f:
        f.write("not-the-configured-token")
    session = web_identity_session(srv, token_file, role_arn)
    code = None
    try:
        session.get_credentials().get_frozen_credentials()
    except ClientError as e:
        code = e.response["Error"]["Code"]
    except Exception as e:      # some botocore versions wrap it
        code = "InvalidIdentityToken" if "InvalidIdentityToken" in str(e) else repr(e)
    check(code == "InvalidIdentityToken", "a wrong web identity token: InvalidIdentityToken "
          "(%s)" % code)
    with_env(env)


def main():
    with awssrv.AwsServer() as srv:
        env = srv.client_env()
        with_env(env)
        test_operations(srv)
        test_retries(srv)
        test_signatures(srv, env)
        no_static = srv.client_env(static_credentials=False)
        test_imds(srv, no_static)
        test_container(srv, no_static)
        test_web_identity(srv, no_static)
        print("1..%d" % n)
        if failures:
            raise SystemExit(1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
