# test-server-google-auth.py - Debian's python3-google-auth (an independent client) against the
# loopback Google Cloud KMS server: service-account, self-signed JWT, authorized-user and GCE
# metadata credential flows, then REST calls through AuthorizedSession (encrypt/decrypt with
# AAD and CRC32C checked by crcmod, rotation, states, IAM, errors, faults, TLS).
"""google-auth fidelity test of tests/servers/gcp_kms_server.py; exit 77 when it is missing."""

import base64
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.environ.get("top_srcdir") or os.path.dirname(os.path.dirname(os.path.dirname(HERE)))
sys.path.insert(0, os.path.join(TOP, "tests", "servers"))

try:
    import crcmod.predefined
    import google.auth
    import google.auth.exceptions
    import google.auth.jwt
    import google.oauth2.credentials
    import requests
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from google.auth.transport.requests import AuthorizedSession, Request
    from google.oauth2 import service_account
except ImportError as e:
    print("# SKIP: %s cannot import google-auth/requests/crcmod/cryptography: %s "
          "(Debian: python3-google-auth python3-requests python3-crcmod python3-cryptography)"
          % (sys.executable, e))
    sys.exit(77)

import gcpsrv  # noqa: E402

# An independent CRC32C (crcmod's table for the iSCSI polynomial), not the server's.
crc32c = crcmod.predefined.mkPredefinedCrcFun("crc-32c")
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


def unb64(text):
    return base64.b64decode(text)


def error_of(resp):
    """(HTTP status, google.rpc.Status name, message) of an API answer."""
    try:
        err = resp.json()["error"]
        return resp.status_code, err.get("status"), err.get("message")
    except (ValueError, KeyError, TypeError):
        return resp.status_code, None, resp.text[:80]


class Kms:
    """Cloud KMS REST v1 calls through google-auth's AuthorizedSession."""

    def __init__(self, srv, creds, base=None, verify=True):
        self.session = AuthorizedSession(creds)
        # No REQUESTS_CA_BUNDLE or proxy from the environment: this session's CA, loopback.
        self.session.trust_env = False
        self.session.verify = verify
        self.base = (base or srv.endpoint) + "/v1/"

    def post(self, name, verb, body, headers=None):
        return self.session.post(self.base + name + ":" + verb, json=body, headers=headers)

    def get(self, path):
        return self.session.get(self.base + path)

    def encrypt(self, name, pt, aad=b"", crcs=True, headers=None):
        body = {"plaintext": b64(pt)}
        if aad:
            body["additionalAuthenticatedData"] = b64(aad)
        if crcs:
            body["plaintextCrc32c"] = str(crc32c(pt))
            if aad:
                body["additionalAuthenticatedDataCrc32c"] = str(crc32c(aad))
        return self.post(name, "encrypt", body, headers)

    def decrypt(self, name, ct, aad=b"", crcs=True):
        body = {"ciphertext": b64(ct)}
        if aad:
            body["additionalAuthenticatedData"] = b64(aad)
        if crcs:
            body["ciphertextCrc32c"] = str(crc32c(ct))
            if aad:
                body["additionalAuthenticatedDataCrc32c"] = str(crc32c(aad))
        return self.post(name, "decrypt", body)


def sa_creds(srv, name="sa-key.json", scopes=(gcpsrv.SCOPE_KMS,)):
    return service_account.Credentials.from_service_account_file(srv.path(name),
                                                                 scopes=list(scopes))


def refresh_error(creds, request=None):
    try:
        creds.refresh(request or Request())
    except google.auth.exceptions.RefreshError as e:
        return str(e)
    return None


def entries(srv, op=None):
    return [r for r in srv.requests() if op is None or r["op"] == op]


# ---- service account -----------------------------------------------------------------------

def test_service_account(srv):
    before = srv.counters()["token_grants"].get("jwt-bearer", 0)
    creds = sa_creds(srv)
    creds.refresh(Request())
    check(creds.token.startswith("ya29.") and creds.expiry is not None,
          "service account: RS256 assertion exchanged at the key file's token_uri")
    check(srv.counters()["token_grants"].get("jwt-bearer", 0) == before + 1,
          "the server counted one jwt-bearer grant")
    tok = entries(srv, "token")[-1]
    check(tok["status"] == 200 and creds.token not in json.dumps(srv.requests()),
          "the request log never holds the access token")
    return creds


def test_encrypt_decrypt(srv, kms):
    pt, aad = bytes(range(256)) * 2, b"p11kms context v1"
    r = kms.encrypt(gcpsrv.KEY, pt, aad)
    a = r.json()
    ct = unb64(a["ciphertext"])
    check(r.status_code == 200 and a["name"] == gcpsrv.KEY + "/cryptoKeyVersions/1",
          "encrypt on the CryptoKey answers with the primary version's name")
    check(a["ciphertextCrc32c"] == str(crc32c(ct)),
          "ciphertextCrc32c is the CRC32C (crcmod) of the ciphertext, as a decimal string")
    check(a.get("verifiedPlaintextCrc32c") is True and
          a.get("verifiedAdditionalAuthenticatedDataCrc32c") is True,
          "both request CRCs reported verified")
    check(a.get("protectionLevel") == "SOFTWARE", "protectionLevel SOFTWARE (string enums)")
    r = kms.encrypt(gcpsrv.KEY, pt, aad, crcs=False)
    check(r.status_code == 200 and "verifiedPlaintextCrc32c" not in r.json() and
          "verifiedAdditionalAuthenticatedDataCrc32c" not in r.json(),
          "without request CRCs the verified flags are left out (proto3 false)")
    d = kms.decrypt(gcpsrv.KEY, ct, aad)
    da = d.json()
    check(d.status_code == 200 and unb64(da["plaintext"]) == pt,
          "decrypt with the same AAD returns the plaintext")
    check(da["plaintextCrc32c"] == str(crc32c(pt)) and da.get("usedPrimary") is True,
          "decrypt: plaintextCrc32c right, usedPrimary true")
    check(error_of(kms.decrypt(gcpsrv.KEY, ct, b"p11kms context v2")) ==
          (400, "INVALID_ARGUMENT", "Decryption failed: verify that 'name' refers to the "
           "correct CryptoKey."), "wrong AAD: 400 INVALID_ARGUMENT 'Decryption failed ...'")
    check(error_of(kms.decrypt(gcpsrv.KEY, ct))[1] == "INVALID_ARGUMENT",
          "missing AAD: INVALID_ARGUMENT")
    bad = bytearray(ct)
    bad[-1] ^= 1
    check(error_of(kms.decrypt(gcpsrv.KEY, bytes(bad), aad))[1] == "INVALID_ARGUMENT",
          "tampered ciphertext: INVALID_ARGUMENT")
    check(error_of(kms.decrypt(gcpsrv.OTHER_KEY, ct, aad))[:2] == (400, "INVALID_ARGUMENT"),
          "decrypt under another CryptoKey: INVALID_ARGUMENT")
    r = kms.post(gcpsrv.KEY + "/cryptoKeyVersions/1", "decrypt", {"ciphertext": b64(ct)})
    check(r.status_code == 404 and r.headers["Content-Type"].startswith("text/html"),
          "decrypt on a CryptoKeyVersion name: no such REST method, the front end's HTML 404")
    before = srv.counters()["crc_failures"]
    r = kms.post(gcpsrv.KEY, "encrypt", {"plaintext": b64(pt),
                                         "plaintextCrc32c": str(crc32c(pt) ^ 1)})
    check(error_of(r)[:2] == (400, "INVALID_ARGUMENT") and
          srv.counters()["crc_failures"] == before + 1,
          "a wrong plaintextCrc32c: 400 INVALID_ARGUMENT, counted")
    r = kms.post(gcpsrv.KEY, "decrypt", {"ciphertext": b64(ct), "additionalAuthenticatedData":
                                         b64(aad), "additionalAuthenticatedDataCrc32c":
                                         crc32c(aad) ^ 4})
    check(error_of(r)[:2] == (400, "INVALID_ARGUMENT"),
          "a wrong additionalAuthenticatedDataCrc32c (JSON number): INVALID_ARGUMENT")
    r = kms.post(gcpsrv.KEY, "encrypt", {"plaintext": b64(pt), "plaintextCrc": "1"})
    check(error_of(r)[:2] == (400, "INVALID_ARGUMENT") and "Unknown name" in error_of(r)[2],
          "an unknown body field: INVALID_ARGUMENT 'Unknown name'")
    r = kms.post(gcpsrv.KEY, "encrypt", {"plaintext": "not base64!"})
    check(error_of(r)[:2] == (400, "INVALID_ARGUMENT"), "bad base64: INVALID_ARGUMENT")
    r = kms.post(gcpsrv.KEY, "encrypt", {"plaintext": b64(b"x" * 65537)})
    check(error_of(r)[:2] == (400, "INVALID_ARGUMENT"), "65537-byte plaintext: INVALID_ARGUMENT")
    r = kms.encrypt(gcpsrv.HSM_KEY, b"x" * 4096, b"y" * 4097)
    check(error_of(r)[:2] == (400, "INVALID_ARGUMENT"),
          "HSM key: plaintext + AAD over 8 KiB is INVALID_ARGUMENT")
    r = kms.encrypt(gcpsrv.HSM_KEY, b"x" * 4096, b"y" * 4096)
    check(r.status_code == 200 and r.json()["protectionLevel"] == "HSM", "HSM key: 8 KiB is fine")
    r = kms.session.post(kms.base + gcpsrv.KEY + ":encrypt?$alt=json;enum-encoding=int",
                         json={"plaintext": b64(b"x")})
    check(r.status_code == 200 and r.json()["protectionLevel"] == 1,
          "$alt=json;enum-encoding=int gives numeric enums")


def test_rotation_and_states(srv, kms):
    rot = gcpsrv.ROTATED_KEY
    r = kms.encrypt(rot, b"secret", b"aad")
    check(r.json().get("name") == rot + "/cryptoKeyVersions/2", "rotated key: primary is v2")
    v1 = kms.encrypt(rot + "/cryptoKeyVersions/1", b"old", b"aad")
    check(v1.status_code == 200 and v1.json()["name"].endswith("/cryptoKeyVersions/1"),
          "encrypt on an explicit CryptoKeyVersion")
    d = kms.decrypt(rot, unb64(v1.json()["ciphertext"]), b"aad").json()
    check(unb64(d["plaintext"]) == b"old" and "usedPrimary" not in d,
          "decrypt on the CryptoKey finds v1; usedPrimary absent (false)")
    for v, state in ((3, "DISABLED"), (4, "DESTROYED")):
        r = kms.encrypt(rot + "/cryptoKeyVersions/%d" % v, b"x")
        check(error_of(r) == (400, "FAILED_PRECONDITION", "%s/cryptoKeyVersions/%d is not "
                              "enabled, current state is: %s." % (rot, v, state)),
              "version %d: FAILED_PRECONDITION 'is not enabled, current state is: %s.'"
              % (v, state))
    check(error_of(kms.encrypt(gcpsrv.DISABLED_KEY, b"x"))[:2] == (400, "FAILED_PRECONDITION"),
          "key whose primary is disabled: FAILED_PRECONDITION")
    # Rotation through the REST admin methods, as an operator would.
    r = kms.session.post(kms.base + rot + "/cryptoKeyVersions", json={})
    new = r.json()["name"]
    check(r.status_code == 200 and new.endswith("/cryptoKeyVersions/5") and
          r.json()["state"] == "ENABLED", "CreateCryptoKeyVersion makes v5 ENABLED")
    r = kms.post(rot, "updatePrimaryVersion", {"cryptoKeyVersionId": "5"})
    check(r.status_code == 200 and r.json()["primary"]["name"] == new,
          "UpdateCryptoKeyPrimaryVersion to v5")
    ct5 = unb64(kms.encrypt(rot, b"new", b"aad").json()["ciphertext"])
    ct2 = unb64(kms.encrypt(rot + "/cryptoKeyVersions/2", b"two", b"aad").json()["ciphertext"])
    r = kms.session.patch(kms.base + rot + "/cryptoKeyVersions/2?updateMask=state",
                          json={"state": "DISABLED"})
    check(r.status_code == 200 and r.json()["state"] == "DISABLED", "disable v2 (PATCH)")
    check(error_of(kms.decrypt(rot, ct2, b"aad")) ==
          (400, "FAILED_PRECONDITION", "%s/cryptoKeyVersions/2 is not enabled, current state "
           "is: DISABLED." % rot), "decrypt of a v2 ciphertext: FAILED_PRECONDITION")
    check(kms.decrypt(rot, ct5, b"aad").json().get("usedPrimary") is True,
          "v5 ciphertexts still decrypt, usedPrimary")
    r = kms.post(rot + "/cryptoKeyVersions/2", "destroy", {})
    check(r.json().get("state") == "DESTROY_SCHEDULED" and "destroyTime" in r.json(),
          "destroy schedules destruction")
    r = kms.post(rot + "/cryptoKeyVersions/2", "restore", {})
    check(r.json().get("state") == "DISABLED", "restore brings it back DISABLED")
    srv.ctl("POST", "/state", {"version": rot + "/cryptoKeyVersions/2", "state": "DESTROYED"})
    check(error_of(kms.decrypt(rot, ct2, b"aad"))[2].endswith("current state is: DESTROYED."),
          "after destruction: FAILED_PRECONDITION DESTROYED")
    srv.ctl("POST", "/reset", {"keys": True})


def test_not_found_and_iam(srv, kms):
    missing = gcpsrv.KEY_RING + "/cryptoKeys/nope"
    check(error_of(kms.encrypt(missing, b"x")) == (404, "NOT_FOUND",
                                                   "CryptoKey %s not found." % missing),
          "unknown key with project-wide permission: 404 NOT_FOUND")
    other = "projects/someone-else/locations/global/keyRings/r/cryptoKeys/k"
    status = error_of(kms.encrypt(other, b"x"))
    check(status[:2] == (403, "PERMISSION_DENIED") and "(or it may not exist)" in status[2],
          "a key in another project: 403 PERMISSION_DENIED '(or it may not exist)'")
    enc = Kms(srv, sa_creds(srv, "sa-encrypter.json"))
    dec = Kms(srv, sa_creds(srv, "sa-decrypter.json"))
    r = enc.encrypt(gcpsrv.KEY, b"dek", b"ctx")
    check(r.status_code == 200, "cryptoKeyEncrypter may encrypt")
    ct = unb64(r.json()["ciphertext"])
    check(error_of(enc.decrypt(gcpsrv.KEY, ct, b"ctx")) ==
          (403, "PERMISSION_DENIED", "Permission 'cloudkms.cryptoKeyVersions.useToDecrypt' "
           "denied on resource '%s' (or it may not exist)." % gcpsrv.KEY),
          "cryptoKeyEncrypter may not decrypt: 403 with the permission named")
    check(unb64(dec.decrypt(gcpsrv.KEY, ct, b"ctx").json()["plaintext"]) == b"dek",
          "cryptoKeyDecrypter may decrypt")
    check(error_of(dec.encrypt(gcpsrv.KEY, b"x"))[:2] == (403, "PERMISSION_DENIED"),
          "cryptoKeyDecrypter may not encrypt")
    srv.ctl("POST", "/iam", {"member": "serviceAccount:" + gcpsrv.SA_ENCRYPTER,
                             "roles": ["roles/cloudkms.cryptoKeyDecrypter"],
                             "resource": gcpsrv.KEY})
    check(enc.decrypt(gcpsrv.KEY, ct, b"ctx").status_code == 200 and
          error_of(enc.decrypt(gcpsrv.OTHER_KEY, ct, b"ctx"))[1] == "PERMISSION_DENIED",
          "a role granted on one key applies to that key only")
    r = kms.encrypt(gcpsrv.KEY, b"x", headers={"x-goog-user-project": "p11kms-quota"})
    check(r.status_code == 200 and entries(srv, "Encrypt")[-1]["quota_project"] ==
          "p11kms-quota", "x-goog-user-project is recorded")
    narrow = service_account.Credentials.from_service_account_file(
        srv.path("sa-key.json"), scopes=["https://www.googleapis.com/auth/devstorage.read_only"])
    r = Kms(srv, narrow).encrypt(gcpsrv.KEY, b"x")
    check(error_of(r)[:2] == (403, "PERMISSION_DENIED") and
          "insufficient authentication scopes" in error_of(r)[2],
          "a token without a KMS scope: 403 insufficient scopes")
    srv.ctl("POST", "/reset", {"keys": True})


def test_token_errors(srv):
    info = json.load(open(srv.path("sa-key.json")))
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forged = dict(info, private_key=stranger.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()).decode())
    creds = service_account.Credentials.from_service_account_info(forged,
                                                                  scopes=[gcpsrv.SCOPE])
    check("invalid_grant: Invalid JWT Signature." in (refresh_error(creds) or ""),
          "an assertion signed by another key: invalid_grant Invalid JWT Signature.")
    nobody = dict(info, client_email="nobody@p11kms-test.iam.gserviceaccount.com")
    creds = service_account.Credentials.from_service_account_info(nobody, scopes=[gcpsrv.SCOPE])
    check("invalid_grant" in (refresh_error(creds) or ""), "an unknown service account: "
          "invalid_grant")
    check("invalid_scope" in (refresh_error(sa_creds(srv, scopes=())) or ""),
          "no scope: invalid_scope")
    srv.ctl("POST", "/config", {"clock_offset_seconds": 7200})
    check("Token must be a short-lived token" in (refresh_error(sa_creds(srv)) or ""),
          "iat/exp two hours off the server clock: invalid_grant short-lived token")
    srv.ctl("POST", "/config", {"clock_offset_seconds": 0})
    wrong_aud = dict(info, token_uri=srv.endpoint + "/token?x=1")
    creds = service_account.Credentials.from_service_account_info(wrong_aud,
                                                                  scopes=[gcpsrv.SCOPE])
    check("Failed audience check" in (refresh_error(creds) or ""),
          "aud not the token endpoint: invalid_grant audience")
    srv.fault("token", "http503")
    check("temporarily_unavailable" in (refresh_error(sa_creds(srv)) or ""),
          "token endpoint fault http503: the OAuth error reaches the client")


def test_expiry(srv, kms_creds):
    kms = Kms(srv, kms_creds)
    kms.encrypt(gcpsrv.KEY, b"warm")
    grants = srv.counters()["token_grants"].get("jwt-bearer", 0)
    srv.ctl("POST", "/expire-tokens", {})
    r = kms.encrypt(gcpsrv.KEY, b"after expiry")
    log = entries(srv, "Encrypt")[-2:]
    check(r.status_code == 200 and [e["status"] for e in log] == [401, 200] and
          log[0]["error"] == "UNAUTHENTICATED",
          "token expired server-side: 401 UNAUTHENTICATED, AuthorizedSession refreshes, 200")
    check(srv.counters()["token_grants"]["jwt-bearer"] == grants + 1, "... with one new grant")
    r = requests.post(kms.base + gcpsrv.KEY + ":encrypt", json={"plaintext": "eA=="},
                      headers={"Authorization": "Bearer ya29.not-a-token"})
    check(error_of(r)[:2] == (401, "UNAUTHENTICATED") and
          r.headers.get("WWW-Authenticate", "").startswith("Bearer"),
          "an unknown token: 401 UNAUTHENTICATED with WWW-Authenticate")
    r = requests.post(kms.base + gcpsrv.KEY + ":encrypt", json={"plaintext": "eA=="})
    check(error_of(r)[:2] == (401, "UNAUTHENTICATED") and
          r.json()["error"]["details"][0]["reason"] == "CREDENTIALS_MISSING",
          "no Authorization: 401, ErrorInfo reason CREDENTIALS_MISSING")
    srv.ctl("POST", "/config", {"token_ttl_seconds": 60})
    short = Kms(srv, sa_creds(srv))
    before = srv.counters()["token_grants"].get("jwt-bearer", 0)
    for _ in range(3):
        short.encrypt(gcpsrv.KEY, b"x")
    # google-auth treats tokens within 5 minutes of expiry as expired: 60 s tokens are
    # refreshed before every call.
    check(srv.counters()["token_grants"]["jwt-bearer"] - before == 3,
          "60 s tokens: google-auth fetches a new one for each call")
    srv.ctl("POST", "/config", {"token_ttl_seconds": None})


def test_self_signed(srv):
    creds = google.auth.jwt.Credentials.from_service_account_file(
        srv.path("sa-key.json"), audience="https://cloudkms.googleapis.com/")
    before = srv.counters()["token_grants"].get("jwt-bearer", 0)
    r = Kms(srv, creds).encrypt(gcpsrv.KEY, b"jwt")
    e = entries(srv, "Encrypt")[-1]
    check(r.status_code == 200 and e["token_kind"] == "self-signed-jwt" and
          e["principal"] == gcpsrv.SA_MAIN,
          "self-signed JWT (aud https://cloudkms.googleapis.com/) accepted without exchange")
    check(srv.counters()["token_grants"].get("jwt-bearer", 0) == before, "... no token grant")
    creds = google.auth.jwt.Credentials.from_service_account_file(
        srv.path("sa-key.json"), audience="https://storage.googleapis.com/")
    check(error_of(Kms(srv, creds).encrypt(gcpsrv.KEY, b"jwt"))[:2] == (401, "UNAUTHENTICATED"),
          "self-signed JWT for another service: 401")


def test_authorized_user(srv):
    info = json.load(open(srv.path("authorized-user.json")))
    # google-auth 1.5.1 hard-codes Google's token URI for authorized_user files; the file's
    # token_uri is passed explicitly, the refresh itself is the library's.
    creds = google.oauth2.credentials.Credentials(
        None, refresh_token=info["refresh_token"], token_uri=info["token_uri"],
        client_id=info["client_id"], client_secret=info["client_secret"])
    creds.refresh(Request())
    check(creds.token.startswith("ya29."), "authorized_user: refresh_token grant")
    r = Kms(srv, creds).encrypt(gcpsrv.KEY, b"as user", b"aad")
    check(r.status_code == 200 and entries(srv, "Encrypt")[-1]["principal"] ==
          gcpsrv.USER_EMAIL, "KMS call as the user")
    bad = google.oauth2.credentials.Credentials(
        None, refresh_token=info["refresh_token"], token_uri=info["token_uri"],
        client_id=info["client_id"], client_secret="wrong")
    check("invalid_client" in (refresh_error(bad) or ""), "wrong client secret: invalid_client")
    bad = google.oauth2.credentials.Credentials(
        None, refresh_token="1//unknown", token_uri=info["token_uri"],
        client_id=info["client_id"], client_secret=info["client_secret"])
    check("invalid_grant" in (refresh_error(bad) or ""), "unknown refresh token: invalid_grant")
    env = srv.client_env(credentials="sa-key.json")
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        creds, project = google.auth.default(scopes=[gcpsrv.SCOPE])
    finally:
        os.environ.clear()
        os.environ.update(saved)
    check(isinstance(creds, service_account.Credentials) and project == gcpsrv.PROJECT,
          "google.auth.default() loads the service-account file from "
          "GOOGLE_APPLICATION_CREDENTIALS")


METADATA_CHILD = r"""
import json, sys
import google.auth
from google.auth import compute_engine
from google.auth.transport.requests import AuthorizedSession, Request
creds, project = google.auth.default()
creds.refresh(Request())
s = AuthorizedSession(creds)
r = s.post(sys.argv[1], json={"plaintext": "bWV0YWRhdGE="})
print(json.dumps({"type": type(creds).__name__, "project": project,
                  "email": creds.service_account_email, "token": creds.token[:5],
                  "status": r.status_code}))
"""


def test_metadata(srv):
    env = srv.client_env(credentials=None)
    env.update({"GCE_METADATA_ROOT": srv.metadata_host, "GCE_METADATA_IP": srv.metadata_host})
    # The metadata address is read at import time, hence a child process.
    out = subprocess.run([sys.executable, "-c", METADATA_CHILD,
                          srv.endpoint + "/v1/" + gcpsrv.KEY + ":encrypt"], env=env,
                         capture_output=True, text=True, timeout=300)
    try:
        got = json.loads(out.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        got = {}
        print("# metadata child failed: %s %s" % (out.stdout[-400:], out.stderr[-800:]))
    check(got.get("type") == "Credentials" and got.get("project") == gcpsrv.PROJECT,
          "google.auth.default() detects the metadata server (GCE_METADATA_IP/ROOT)")
    check(got.get("email") == gcpsrv.SA_GCE and got.get("token") == "ya29.",
          "metadata: service account info (?recursive=true) and token")
    check(got.get("status") == 200 and entries(srv, "Encrypt")[-1]["principal"] ==
          gcpsrv.SA_GCE, "KMS call with the metadata token")
    ops = [e["op"] for e in srv.requests() if e["listener"] == "metadata"]
    check("metadata-ping" in ops and "metadata-token" in ops, "ping and token on the metadata "
          "listener")
    r = requests.get("http://%s/computeMetadata/v1/instance/service-accounts/default/token"
                     % srv.metadata_host)
    check(r.status_code == 403 and r.headers.get("Metadata-Flavor") == "Google",
          "without Metadata-Flavor: Google the token is refused (403), the header echoed")


def test_faults(srv, kms):
    srv.fault("Encrypt", "http503")
    r = kms.encrypt(gcpsrv.KEY, b"x")
    check(error_of(r)[:2] == (503, "UNAVAILABLE"), "fault http503: 503 UNAVAILABLE")
    srv.fault("Encrypt", "http429")
    check(error_of(kms.encrypt(gcpsrv.KEY, b"x"))[:2] == (429, "RESOURCE_EXHAUSTED"),
          "fault http429: 429 RESOURCE_EXHAUSTED")
    srv.fault("Encrypt", "http504")
    check(error_of(kms.encrypt(gcpsrv.KEY, b"x"))[:2] == (504, "DEADLINE_EXCEEDED"),
          "fault http504: 504 DEADLINE_EXCEEDED")
    srv.fault("Encrypt", "crc_mismatch")
    a = kms.encrypt(gcpsrv.KEY, b"x").json()
    check(a["ciphertextCrc32c"] != str(crc32c(unb64(a["ciphertext"]))),
          "fault crc_mismatch: the answer's ciphertextCrc32c does not match")
    srv.fault("Decrypt", "corrupt_body")
    ct = unb64(kms.encrypt(gcpsrv.KEY, b"body").json()["ciphertext"])
    a = kms.decrypt(gcpsrv.KEY, ct).json()
    check(unb64(a["plaintext"]) != b"body" and a["plaintextCrc32c"] == str(crc32c(b"body")),
          "fault corrupt_body: plaintext altered, CRC of the original kept")
    srv.fault("Encrypt", "unverified")
    a = kms.encrypt(gcpsrv.KEY, b"x").json()
    check("verifiedPlaintextCrc32c" not in a, "fault unverified: verified flags dropped")
    srv.fault("Encrypt", "truncated")
    try:
        r = kms.encrypt(gcpsrv.KEY, b"x")
        # urllib3 1.26 does not enforce Content-Length by default: a short body comes back.
        cut = len(r.content) < int(r.headers["Content-Length"])
    except requests.exceptions.RequestException:
        cut = True
    check(cut, "fault truncated: fewer body bytes than the Content-Length announced")
    srv.fault("Encrypt", "garbage")
    r = kms.encrypt(gcpsrv.KEY, b"x")
    try:
        r.json()
        parsed = True
    except ValueError:
        parsed = False
    check(r.status_code == 200 and not parsed, "fault garbage: 200 with a body that is not JSON")


def test_tls(srv):
    kms = Kms(srv, sa_creds(srv), base=srv.tls_endpoint, verify=srv.ca)
    check(kms.encrypt(gcpsrv.KEY, b"tls").status_code == 200,
          "HTTPS with the test CA: encrypt")
    try:
        Kms(srv, sa_creds(srv), base=srv.tls_endpoint, verify=srv.other_ca).encrypt(
            gcpsrv.KEY, b"tls")
        refused = False
    except requests.exceptions.SSLError:
        refused = True
    check(refused, "HTTPS with an unrelated CA: certificate verification fails")
    session = requests.Session()
    session.trust_env = False
    session.verify = srv.ca
    creds = sa_creds(srv, "sa-key-tls.json")
    creds.refresh(Request(session))
    check(creds.token.startswith("ya29.") and entries(srv, "token")[-1]["listener"] == "https",
          "token_uri over HTTPS (sa-key-tls.json)")


def main():
    with gcpsrv.GcpServer() as srv:
        creds = test_service_account(srv)
        kms = Kms(srv, creds)
        test_encrypt_decrypt(srv, kms)
        test_rotation_and_states(srv, kms)
        test_not_found_and_iam(srv, kms)
        test_token_errors(srv)
        test_expiry(srv, creds)
        test_self_signed(srv)
        test_authorized_user(srv)
        test_metadata(srv)
        test_faults(srv, kms)
        test_tls(srv)
        print("1..%d" % n)
        if failures:
            raise SystemExit(1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
