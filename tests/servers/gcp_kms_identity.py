# gcp_kms_identity.py - test identity material for the Google Cloud KMS test server, generated
# at start in the state dir (kept there across restarts): service-account key files, an
# authorized_user file, external_account files with an OIDC subject token, and RS256 JWTs.
"""Identities.load_or_create(state_dir, endpoints) writes the files clients read."""

import base64
import json
import os
import time

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

import gcp_kms_iam as iam

SUBJECT_TOKEN_TTL = 7 * 24 * 3600
SA_FILES = {iam.SA_MAIN: "sa-key.json", iam.SA_ENCRYPTER: "sa-encrypter.json",
            iam.SA_DECRYPTER: "sa-decrypter.json"}


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text):
    """base64url with or without '=' padding (python google-auth 1.x pads, RFC 7515 does not)."""
    if isinstance(text, bytes):
        text = text.decode("ascii")
    stripped = text.rstrip("=")
    if len(stripped) % 4 == 1 or any(c not in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                     "0123456789-_" for c in stripped):
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(stripped + "=" * (-len(stripped) % 4))


def sign_jwt(private_key, claims, kid=None):
    header = {"alg": "RS256", "typ": "JWT"}
    if kid:
        header["kid"] = kid
    signing_input = (b64url(json.dumps(header, separators=(",", ":")).encode()) + "." +
                     b64url(json.dumps(claims, separators=(",", ":")).encode()))
    sig = private_key.sign(signing_input.encode("ascii"), padding.PKCS1v15(), hashes.SHA256())
    return signing_input + "." + b64url(sig)


class JwtError(Exception):
    pass


def parse_jwt(token):
    """(header, claims, signing input, signature) of a compact JWS, or JwtError."""
    if isinstance(token, bytes):
        token = token.decode("ascii", "replace")
    parts = token.split(".")
    if len(parts) != 3:
        raise JwtError("not a JWT")
    try:
        header = json.loads(b64url_decode(parts[0]))
        claims = json.loads(b64url_decode(parts[1]))
        sig = b64url_decode(parts[2])
    except (ValueError, UnicodeDecodeError):
        raise JwtError("JWT segments are not base64url JSON")
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise JwtError("JWT header or claims are not objects")
    return header, claims, (parts[0] + "." + parts[1]).encode("ascii"), sig


def rs256_valid(public_key, signing_input, sig):
    try:
        public_key.verify(sig, signing_input, padding.PKCS1v15(), hashes.SHA256())
        return True
    except InvalidSignature:
        return False


def _new_rsa():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _pkcs8(key):
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode("ascii")


def _write_json(path, data):
    tmp = path + ".tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=2)
        f.write("\n")
    os.replace(tmp, path)


def _write_text(path, text, mode=0o600):
    tmp = path + ".tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)


class Identities:
    """Public keys the server verifies with, and the secrets it checks (all test-only)."""

    def __init__(self):
        self.sa_keys = {}         # email -> {kid: public key}
        self.sa_private = {}      # email -> (kid, private key): for files and self-tests
        self.idp_private = None
        self.refresh_tokens = {}  # refresh token -> (client_id, principal, scopes)
        self.files = {}

    def sa_public(self, email, kid):
        keys = self.sa_keys.get(email, {})
        if kid is None:
            return list(keys.values())
        return [keys[kid]] if kid in keys else []

    def sa_by_kid(self, kid):
        for email, keys in self.sa_keys.items():
            if kid in keys:
                return email, keys[kid]
        return None, None

    def new_sa_key(self, email):
        """A second key for a service account (key rotation); returns the key-file dict."""
        kid = os.urandom(20).hex()
        key = _new_rsa()
        self.sa_keys.setdefault(email, {})[kid] = key.public_key()
        return kid, key

    def subject_token(self, ttl=SUBJECT_TOKEN_TTL, audience=None, issuer=None, subject=None):
        now = int(time.time())
        return sign_jwt(self.idp_private, {
            "iss": issuer or iam.IDP_ISSUER, "aud": audience or "https:" + iam.POOL_AUDIENCE,
            "sub": subject or iam.WORKLOAD_SUBJECT, "iat": now, "exp": now + ttl}, kid="idp-1")

    # ---- files -----------------------------------------------------------------------------

    def load_or_create(self, state_dir, http_base, https_base):
        """Keys from state_dir/identity.json (created once); the client files are rewritten
        at every start because they carry this run's ports."""
        secret_path = os.path.join(state_dir, "identity.json")
        saved = {}
        if os.path.exists(secret_path):
            with open(secret_path, encoding="utf-8") as f:
                saved = json.load(f)
        changed = False
        for email in SA_FILES:
            entry = saved.get(email)
            if entry is None:
                key = _new_rsa()
                entry = {"kid": os.urandom(20).hex(), "pem": _pkcs8(key)}
                saved[email] = entry
                changed = True
            priv = serialization.load_pem_private_key(entry["pem"].encode(), None)
            self.sa_private[email] = (entry["kid"], priv, entry["pem"])
            self.sa_keys.setdefault(email, {})[entry["kid"]] = priv.public_key()
        if "idp" not in saved:
            saved["idp"] = _pkcs8(_new_rsa())
            changed = True
        if "refresh_token" not in saved:
            saved["refresh_token"] = "1//p11kms-" + b64url(os.urandom(36))
            changed = True
        if changed:
            _write_json(secret_path, saved)
        self.idp_private = serialization.load_pem_private_key(saved["idp"].encode(), None)
        self.refresh_tokens[saved["refresh_token"]] = (iam.OAUTH_CLIENT_ID, iam.USER_EMAIL,
                                                       iam.USER_SCOPES)
        self._write_files(state_dir, http_base, https_base, saved["refresh_token"])

    def _write_files(self, d, http_base, https_base, refresh_token):
        def sa_file(email, base):
            kid, _, pem = self.sa_private[email]
            return {"type": "service_account", "project_id": iam.PROJECT,
                    "private_key_id": kid, "private_key": pem, "client_email": email,
                    "client_id": str(int.from_bytes(email.encode()[:8], "big")),
                    "auth_uri": base + "/o/oauth2/auth", "token_uri": base + "/token",
                    "universe_domain": "googleapis.com"}

        for email, name in SA_FILES.items():
            path = os.path.join(d, name)
            _write_json(path, sa_file(email, http_base))
            self.files[name] = path
        path = os.path.join(d, "sa-key-tls.json")
        _write_json(path, sa_file(iam.SA_MAIN, https_base))
        self.files["sa-key-tls.json"] = path

        user = {"type": "authorized_user", "client_id": iam.OAUTH_CLIENT_ID,
                "client_secret": iam.OAUTH_CLIENT_SECRET, "refresh_token": refresh_token,
                "token_uri": http_base + "/token", "universe_domain": "googleapis.com"}
        path = os.path.join(d, "authorized-user.json")
        _write_json(path, user)
        self.files["authorized-user.json"] = path
        path = os.path.join(d, "authorized-user-quota.json")
        _write_json(path, dict(user, quota_project_id="p11kms-quota"))
        self.files["authorized-user-quota.json"] = path

        token_path = os.path.join(d, "subject-token.jwt")
        _write_text(token_path, self.subject_token())
        json_token_path = os.path.join(d, "subject-token.json")
        _write_json(json_token_path, {"id_token": self.subject_token()})
        self.files["subject-token.jwt"] = token_path
        self.files["subject-token.json"] = json_token_path
        ext = {"type": "external_account", "audience": iam.POOL_AUDIENCE,
               "subject_token_type": "urn:ietf:params:oauth:token-type:jwt",
               "token_url": http_base + "/v1/token",
               "credential_source": {"file": token_path},
               "universe_domain": "googleapis.com"}
        variants = {
            "external-account.json": ext,
            "external-account-json.json": dict(ext, credential_source={
                "file": json_token_path,
                "format": {"type": "json", "subject_token_field_name": "id_token"}}),
            "external-account-impersonation.json": dict(
                ext, service_account_impersonation_url=(
                    http_base + "/v1/projects/-/serviceAccounts/%s:generateAccessToken"
                    % iam.SA_MAIN)),
        }
        for name, data in variants.items():
            path = os.path.join(d, name)
            _write_json(path, data)
            self.files[name] = path
