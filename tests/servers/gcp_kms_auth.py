# gcp_kms_auth.py - OAuth on the Google Cloud KMS test server: the token endpoint (RS256 JWT
# bearer grant for service accounts, refresh_token grant for authorized users), STS token
# exchange for workload identity federation, IAM generateAccessToken, and the bearer check of
# every API call (issued access tokens and self-signed service-account JWTs).
"""Token endpoints return (status, JSON dict); check_bearer() returns the caller or raises."""

import re
import time
from urllib.parse import parse_qs

import gcp_kms_iam as iam
from gcp_kms_identity import JwtError, parse_jwt, rs256_valid
from gcp_kms_wire import GcpError, parse_body

JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"
SUBJECT_TOKEN_TYPES = ("urn:ietf:params:oauth:token-type:jwt",
                       "urn:ietf:params:oauth:token-type:id_token")
MAX_JWT_LIFETIME = 3600
CLOCK_SKEW = 300
TIMEFRAME = ("Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable "
             "timeframe. Check your iat and exp values in the JWT claim.")
GOOGLE_TOKEN_URIS = ("https://oauth2.googleapis.com/token",
                     "https://www.googleapis.com/oauth2/v4/token",
                     "https://accounts.google.com/o/oauth2/token")
KMS_AUDIENCES = ("https://cloudkms.googleapis.com/", "https://cloudkms.googleapis.com")
UNAUTH_HEADERS = {"WWW-Authenticate": 'Bearer realm="https://accounts.google.com/"'}
INVALID_CREDENTIALS = ("Request had invalid authentication credentials. Expected OAuth 2 "
                       "access token, login cookie or other valid authentication credential. "
                       "See https://developers.google.com/identity/sign-in/web/devconsole-"
                       "project.")
MISSING_CREDENTIALS = ("Request is missing required authentication credential. Expected OAuth "
                       "2 access token, login cookie or other valid authentication credential. "
                       "See https://developers.google.com/identity/sign-in/web/devconsole-"
                       "project.")


class OAuthError(Exception):
    """An OAuth 2.0 error answer: {"error": code, "error_description": text}."""

    def __init__(self, status, error, description):
        super().__init__(description)
        self.status = status
        self.error = error
        self.description = description

    def body(self):
        return {"error": self.error, "error_description": self.description}


def _form(raw):
    try:
        fields = parse_qs(raw.decode("ascii"), keep_blank_values=True, strict_parsing=False)
    except UnicodeDecodeError:
        raise OAuthError(400, "invalid_request", "The request body is not form-encoded.")
    return {k: v[0] for k, v in fields.items()}


def _require(form, name):
    value = form.get(name)
    if not value:
        raise OAuthError(400, "invalid_request", "Required parameter is missing: %s" % name)
    return value


def _scopes(text):
    return tuple(s for s in re.split(r"[ ,]+", text or "") if s)


def _window_ok(claims, now):
    iat, exp = claims.get("iat"), claims.get("exp")
    if not isinstance(iat, (int, float)) or not isinstance(exp, (int, float)) or \
            isinstance(iat, bool) or isinstance(exp, bool):
        return False
    return exp > iat and exp - iat <= MAX_JWT_LIFETIME and iat <= now + CLOCK_SKEW and \
        exp > now - CLOCK_SKEW


# ---- POST /token -------------------------------------------------------------------------------

def token_endpoint(store, raw, token_uris):
    """The oauth2.googleapis.com/token answer for a form body: (status, JSON dict, log fields)."""
    grant = None
    try:
        form = _form(raw)
        grant = _require(form, "grant_type")
        if grant == JWT_GRANT:
            return (200,) + _jwt_grant(store, _require(form, "assertion"), token_uris)
        if grant == "refresh_token":
            return (200,) + _refresh_grant(store, form)
        raise OAuthError(400, "unsupported_grant_type", "Invalid grant_type: %s" % grant)
    except OAuthError as e:
        return e.status, e.body(), {"grant": grant}


def _jwt_grant(store, assertion, token_uris):
    try:
        header, claims, signing_input, sig = parse_jwt(assertion)
    except JwtError:
        raise OAuthError(400, "invalid_grant", "Invalid JWT: the assertion is not a JWS.")
    if header.get("alg") != "RS256":
        raise OAuthError(400, "invalid_grant", "Invalid JWT Signature.")
    email = claims.get("iss")
    keys = store.identities.sa_public(email, header.get("kid")) if isinstance(email, str) \
        else []
    if not keys:
        if email not in store.identities.sa_keys:
            raise OAuthError(400, "invalid_grant", "Invalid grant: account not found")
        raise OAuthError(400, "invalid_grant", "Invalid JWT Signature.")
    if not any(rs256_valid(k, signing_input, sig) for k in keys):
        raise OAuthError(400, "invalid_grant", "Invalid JWT Signature.")
    if claims.get("aud") not in token_uris:
        raise OAuthError(400, "invalid_grant", "Invalid JWT: Failed audience check. The right "
                         "audience is %s" % sorted(token_uris)[0])
    if not _window_ok(claims, store.now()):
        raise OAuthError(400, "invalid_grant", TIMEFRAME)
    if "sub" in claims and claims["sub"] != email:
        raise OAuthError(401, "unauthorized_client", "Client is unauthorized to retrieve "
                         "access tokens using this method, or client not authorized for any "
                         "of the scopes requested.")
    scopes = _scopes(claims.get("scope"))
    if not scopes:
        raise OAuthError(400, "invalid_scope", "Invalid OAuth scope or ID token audience "
                         "provided.")
    token, ttl = store.issue_token(email, scopes, "jwt-bearer")
    return ({"access_token": token, "expires_in": ttl, "token_type": "Bearer"},
            {"grant": "jwt-bearer", "principal": email, "jwt_kid": header.get("kid"),
             "jwt_padded": assertion.rstrip().endswith("=") or "=." in assertion})


def _refresh_grant(store, form):
    client_id = _require(form, "client_id")
    if client_id != iam.OAUTH_CLIENT_ID:
        raise OAuthError(401, "invalid_client", "The OAuth client was not found.")
    if form.get("client_secret") != iam.OAUTH_CLIENT_SECRET:
        raise OAuthError(401, "invalid_client", "Unauthorized")
    entry = store.identities.refresh_tokens.get(_require(form, "refresh_token"))
    if entry is None or entry[0] != client_id:
        raise OAuthError(400, "invalid_grant", "Bad Request")
    _, principal, granted = entry
    scopes = _scopes(form.get("scope")) or granted
    if any(s not in granted for s in scopes):
        raise OAuthError(400, "invalid_scope", "The requested scope exceeds what was granted.")
    token, ttl = store.issue_token(principal, scopes, "refresh_token")
    return ({"access_token": token, "expires_in": ttl, "scope": " ".join(scopes),
             "token_type": "Bearer"}, {"grant": "refresh_token", "principal": principal})


# ---- POST /v1/token (sts.googleapis.com) --------------------------------------------------------

def sts_endpoint(store, raw):
    """The sts.googleapis.com/v1/token answer: (status, JSON dict, log fields)."""
    try:
        form = _form(raw)
        grant = _require(form, "grant_type")
        if grant != TOKEN_EXCHANGE:
            raise OAuthError(400, "unsupported_grant_type", "Invalid value for "
                             "\"grant_type\": %s" % grant)
        audience = _require(form, "audience")
        if audience != iam.POOL_AUDIENCE:
            raise OAuthError(400, "invalid_target", "The target service indicated by the "
                             "\"audience\" parameters is invalid. This might either be because "
                             "the pool or provider is disabled or deleted or because it doesn't "
                             "exist.")
        if form.get("requested_token_type", ACCESS_TOKEN_TYPE) != ACCESS_TOKEN_TYPE:
            raise OAuthError(400, "invalid_request", "Invalid value for "
                             "\"requested_token_type\".")
        if _require(form, "subject_token_type") not in SUBJECT_TOKEN_TYPES:
            raise OAuthError(400, "invalid_request", "Invalid value for "
                             "\"subject_token_type\".")
        principal = _verify_subject_token(store, _require(form, "subject_token"))
        scopes = _scopes(form.get("scope")) or (iam.SCOPE_CLOUD_PLATFORM,)
        token, ttl = store.issue_token(principal, scopes, "sts")
        return 200, {"access_token": token, "issued_token_type": ACCESS_TOKEN_TYPE,
                     "token_type": "Bearer", "expires_in": ttl}, {"grant": "token-exchange",
                                                                  "principal": principal}
    except OAuthError as e:
        return e.status, e.body(), {"grant": "token-exchange"}


def _verify_subject_token(store, subject_token):
    try:
        header, claims, signing_input, sig = parse_jwt(subject_token)
    except JwtError:
        raise OAuthError(400, "invalid_grant", "Unable to parse the ID Token.")
    if header.get("alg") != "RS256" or \
            not rs256_valid(store.identities.idp_private.public_key(), signing_input, sig):
        raise OAuthError(400, "invalid_grant", "Invalid ID Token signature.")
    if claims.get("iss") != iam.IDP_ISSUER:
        raise OAuthError(400, "invalid_grant", "The issuer in ID Token %s does not match the "
                         "expected ones: %s." % (claims.get("iss"), iam.IDP_ISSUER))
    allowed = ("https:" + iam.POOL_AUDIENCE, iam.POOL_AUDIENCE)
    aud = claims.get("aud")
    auds = aud if isinstance(aud, list) else [aud]
    if not any(a in allowed for a in auds):
        raise OAuthError(400, "invalid_grant", "The audience in ID Token [%s] does not match "
                         "the expected audience." % aud)
    now = store.now()
    exp = claims.get("exp")
    if not isinstance(exp, (int, float)) or exp <= now:
        raise OAuthError(400, "invalid_grant", "ID Token issued at %s is stale to sign-in."
                         % claims.get("iat"))
    if claims.get("sub") != iam.WORKLOAD_SUBJECT:
        raise OAuthError(400, "invalid_grant", "The subject %s is not mapped." %
                         claims.get("sub"))
    return iam.WORKLOAD_PRINCIPAL


# ---- POST /v1/projects/-/serviceAccounts/EMAIL:generateAccessToken -----------------------------

GENERATE_SCHEMA = {"scope": "any", "lifetime": "duration", "delegates": "any"}


def generate_access_token(store, caller, email, raw):
    """iamcredentials.googleapis.com: a token for email, if caller may impersonate it."""
    resource = iam.sa_resource(email)
    if email not in iam.SERVICE_ACCOUNTS or \
            not store.permitted(caller["principal"], "iam.serviceAccounts.getAccessToken",
                                resource):
        raise GcpError("PERMISSION_DENIED", "Permission 'iam.serviceAccounts.getAccessToken' "
                       "denied on resource (or it may not exist).",
                       reason="IAM_PERMISSION_DENIED",
                       metadata={"permission": "iam.serviceAccounts.getAccessToken"})
    req = parse_body(GENERATE_SCHEMA, raw)
    scopes = req.get("scope")
    if not isinstance(scopes, list) or not scopes or \
            not all(isinstance(s, str) and s for s in scopes):
        raise GcpError("INVALID_ARGUMENT", "Scope required.")
    lifetime = req.get("lifetime", 3600.0)
    if not 0 < lifetime <= 3600:
        raise GcpError("INVALID_ARGUMENT", "The lifetime must be between 1s and 3600s.")
    token, ttl = store.issue_token(email, scopes, "generateAccessToken",
                                   store.token_ttl(int(lifetime)))
    expire = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(store.now() + ttl))
    return {"accessToken": token, "expireTime": expire}


# ---- Authorization: Bearer on API calls ---------------------------------------------------------

def check_bearer(store, authorization, host, need_scopes=iam.KMS_SCOPES):
    """The caller of an API request: {"principal", "token_kind", "token_id", "scopes"}."""
    if not authorization:
        raise GcpError("UNAUTHENTICATED", MISSING_CREDENTIALS, reason="CREDENTIALS_MISSING",
                       metadata={"service": "cloudkms.googleapis.com"}, headers=UNAUTH_HEADERS)
    scheme, _, token = authorization.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise GcpError("UNAUTHENTICATED", INVALID_CREDENTIALS,
                       reason="ACCESS_TOKEN_TYPE_UNSUPPORTED", headers=UNAUTH_HEADERS)
    fid = iam.fingerprint(token)
    info = store.token_info(token)
    if info is not None:
        if info["expires"] <= store.now():
            raise GcpError("UNAUTHENTICATED", INVALID_CREDENTIALS,
                           reason="ACCESS_TOKEN_EXPIRED", headers=UNAUTH_HEADERS)
        caller = {"principal": info["principal"], "token_kind": "access", "token_id": fid,
                  "scopes": info["scopes"], "token_source": info["source"]}
    elif token.count(".") == 2 and store.config["accept_self_signed_jwt"]:
        caller = _self_signed(store, token, host, fid)
    else:
        raise GcpError("UNAUTHENTICATED", INVALID_CREDENTIALS,
                       reason="ACCESS_TOKEN_TYPE_UNSUPPORTED", headers=UNAUTH_HEADERS)
    if need_scopes and not any(s in caller["scopes"] for s in need_scopes):
        raise GcpError("PERMISSION_DENIED", "Request had insufficient authentication scopes.",
                       reason="ACCESS_TOKEN_SCOPE_INSUFFICIENT",
                       headers={"WWW-Authenticate": 'Bearer realm="https://accounts.google.com/"'
                                ', error="insufficient_scope", scope="%s"'
                                % " ".join(need_scopes)})
    return caller


def _self_signed(store, token, host, fid):
    """A JWT the service account signed itself (no token exchange), as google-auth-library
    sends by default: iss = sub = client email, and either aud = https://SERVICE/ or a scope."""
    def reject(why):
        raise GcpError("UNAUTHENTICATED", INVALID_CREDENTIALS,
                       reason="ACCESS_TOKEN_TYPE_UNSUPPORTED", headers=UNAUTH_HEADERS,
                       metadata={"detail": why})
    try:
        header, claims, signing_input, sig = parse_jwt(token)
    except JwtError:
        reject("not a JWT")
    email = claims.get("iss")
    if header.get("alg") != "RS256" or not isinstance(email, str) or claims.get("sub") != email:
        reject("self-signed JWT must be RS256 with iss = sub = the service account")
    keys = store.identities.sa_public(email, header.get("kid"))
    if not keys or not any(rs256_valid(k, signing_input, sig) for k in keys):
        reject("self-signed JWT signature does not verify")
    if not _window_ok(claims, store.now()):
        reject("self-signed JWT iat/exp out of range")
    if "scope" in claims:
        scopes = _scopes(claims["scope"])
    else:
        bare = host.rsplit(":", 1)[0] if host and not host.endswith("]") else host
        audiences = set(KMS_AUDIENCES) | set(store.config["extra_jwt_audiences"])
        if host:
            audiences |= {"https://%s/" % bare, "http://%s/" % host, "https://%s/" % host}
        if claims.get("aud") not in audiences:
            reject("self-signed JWT audience %s is not this service" % claims.get("aud"))
        scopes = (iam.SCOPE_CLOUD_PLATFORM,)
    store.count("self_signed_jwts")
    return {"principal": email, "token_kind": "self-signed-jwt", "token_id": fid,
            "scopes": scopes, "token_source": "self-signed"}
