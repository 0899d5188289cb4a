# vault_auth.py - the loopback Vault server's auth methods: token (lookup-self, renew-self,
# revoke-self), AppRole, Kubernetes (service-account JWT) and TLS certificate login.
"""Login and token endpoints, with Vault's messages and status codes."""

import base64
import hashlib
import hmac
import json
import uuid

from cryptography import x509

import vault_tls
from vault_util import VaultError, get_str, go_duration, parse_duration_second, field_error, \
    user_error

K8S_SIGNING_KEY = b"p11kms kubernetes test signing key"
K8S_ISSUER = "kubernetes/serviceaccount"

FIELDS = {
    "approle-login": {"role_id", "secret_id"},
    "kubernetes-login": {"role", "jwt"},
    "cert-login": {"name"},
    "token-renew-self": {"increment"},
    "token-lookup-self": set(),
    "token-revoke-self": set(),
}


def _b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def make_service_account_jwt(name, namespace, uid=None):
    """A Kubernetes-style service-account token (HS256 with the server's test key, so the
    same inputs always give the same JWT)."""
    uid = uid or str(uuid.uuid5(uuid.NAMESPACE_URL, "p11kms-sa/%s/%s" % (namespace, name)))
    header = {"alg": "HS256", "typ": "JWT", "kid": "p11kms-test"}
    claims = {
        "iss": K8S_ISSUER,
        "kubernetes.io/serviceaccount/namespace": namespace,
        "kubernetes.io/serviceaccount/secret.name": "%s-token" % name,
        "kubernetes.io/serviceaccount/service-account.name": name,
        "kubernetes.io/serviceaccount/service-account.uid": uid,
        "sub": "system:serviceaccount:%s:%s" % (namespace, name),
    }
    signing_input = "%s.%s" % (_b64url(json.dumps(header, separators=(",", ":")).encode()),
                               _b64url(json.dumps(claims, separators=(",", ":")).encode()))
    sig = hmac.new(K8S_SIGNING_KEY, signing_input.encode(), hashlib.sha256).digest()
    return "%s.%s" % (signing_input, _b64url(sig)), uid


class Login:
    """What a login or token endpoint needs from the HTTP layer."""

    def __init__(self, store, ns, data, token=None, peer_cert_der=None, tls=False):
        self.store = store
        self.ns = ns
        self.data = data
        self.token = token              # vault_store.Token for the token endpoints
        self.peer_cert_der = peer_cert_der
        self.tls = tls
        self.warnings = []


def _issue_locked(login, method, policies, role, display_name, meta):
    store = login.store
    ttl = store.config["login_token_ttl"] or role["token_ttl"]
    token = store.new_token(login.ns, ["default"] + list(policies), ttl=ttl,
                            display_name=display_name, path="auth/%s/login" % method,
                            meta=meta, max_ttl=role["token_max_ttl"])
    store.logins[method] += 1
    auth = token.auth(store.now())
    auth["lease_duration"] = ttl
    return auth


def approle_login(login):
    store = login.store
    role_id = get_str(login.data, "role_id").strip()
    if not role_id:
        raise user_error("missing role_id")
    with store.lock:
        roles = store.approle_roles.get(login.ns, {})
        name = next((n for n, r in roles.items() if r["role_id"] == role_id), None)
        if name is None:
            raise user_error("invalid role or secret ID")
        secret_id = get_str(login.data, "secret_id").strip()
        if not secret_id:
            raise user_error("missing secret_id")
        entry = store.secret_ids.get(login.ns, {}).get(secret_id)
        now = store.now()
        if entry is None or entry["role"] != name or \
                (entry["expires"] is not None and now >= entry["expires"]):
            raise user_error("invalid role or secret ID")
        if entry["uses"] > 0:
            entry["uses"] -= 1
            if entry["uses"] == 0:
                del store.secret_ids[login.ns][secret_id]
        return _issue_locked(login, "approle", roles[name]["policies"], roles[name], "approle",
                             {"role_name": name})


def kubernetes_login(login):
    store = login.store
    role_name = get_str(login.data, "role")
    if not role_name:
        raise user_error("missing role")
    jwt = get_str(login.data, "jwt")
    if not jwt:
        raise user_error("missing jwt")
    with store.lock:
        role = store.k8s_roles.get(login.ns, {}).get(role_name)
        if role is None:
            raise user_error('invalid role name "%s"' % role_name)
        sa = store.k8s_tokens.get(jwt)
        if sa is None:
            # What Vault answers when the TokenReview or the signature check fails.
            raise VaultError(403, ["permission denied"])
        name, namespace, uid = sa
        if name not in role["bound_service_account_names"] and \
                "*" not in role["bound_service_account_names"]:
            raise VaultError(403, ["service account name not authorized"])
        if namespace not in role["bound_service_account_namespaces"] and \
                "*" not in role["bound_service_account_namespaces"]:
            raise VaultError(403, ["namespace not authorized"])
        meta = {"role": role_name, "service_account_name": name,
                "service_account_namespace": namespace,
                "service_account_secret_name": "", "service_account_uid": uid}
        return _issue_locked(login, "kubernetes", role["policies"], role,
                             "kubernetes-%s-%s" % (namespace, name), meta)


def cert_login(login):
    store = login.store
    if not login.tls:
        raise user_error("tls connection required")
    if not login.peer_cert_der:
        raise user_error("client certificate must be supplied")
    cert = x509.load_der_x509_certificate(login.peer_cert_der)
    wanted = get_str(login.data, "name")
    with store.lock:
        roles = store.cert_roles.get(login.ns, {})
        if wanted:
            roles = {wanted: roles[wanted]} if wanted in roles else {}
        trusted = []
        for name, role in sorted(roles.items()):
            ca = vault_tls.load_cert("%s/%s" % (store.tls_dir, role["certificate"]))
            if vault_tls.issued_by(cert, ca):
                trusted.append((name, role))
        if not trusted:
            raise user_error("invalid certificate or no client certificate supplied")
        cn_attrs = cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
        cn = cn_attrs[0].value if cn_attrs else ""
        matches = [(n, r) for n, r in trusted
                   if not r["allowed_common_names"] or cn in r["allowed_common_names"]]
        if not matches:
            raise user_error("no chain matching all constraints could be found for this login "
                             "certificate")
        name, role = matches[0]
        ski = _ext_hex(cert, x509.SubjectKeyIdentifier, "digest")
        aki = _ext_hex(cert, x509.AuthorityKeyIdentifier, "key_identifier")
        meta = {"cert_name": name, "common_name": cn, "serial_number": str(cert.serial_number),
                "subject_key_id": ski, "authority_key_id": aki}
        return _issue_locked(login, "cert", role["policies"], role, "cert-" + name, meta)


def _ext_hex(cert, ext_type, attr):
    try:
        value = getattr(cert.extensions.get_extension_for_class(ext_type).value, attr)
    except x509.ExtensionNotFound:
        return ""
    return ":".join("%02x" % b for b in value or b"")


def lookup_self(login):
    with login.store.lock:
        return login.token.lookup(login.store.now())


def renew_self(login):
    store = login.store
    try:
        increment = parse_duration_second(login.data.get("increment"))
    except ValueError:
        raise field_error("increment", login.data.get("increment"))
    with store.lock:
        token = login.token
        now = store.now()
        if token.ttl == 0:
            raise user_error("invalid lease ID")
        if not token.renewable:
            raise user_error("lease is not renewable")
        want = increment if increment and increment > 0 else token.ttl
        ttl = want
        if token.max_expires is not None:
            left = int(token.max_expires - now)
            if want > left:
                ttl = max(left, 0)
                login.warnings.append('TTL of "%s" exceeded the effective max_ttl of "%s"; TTL '
                                      'value is capped accordingly'
                                      % (go_duration(want), go_duration(ttl)))
        token.expires = now + ttl
        auth = token.auth(now)
        auth["lease_duration"] = ttl
        return auth


def revoke_self(login):
    with login.store.lock:
        login.token.revoked = True
    return None


LOGINS = {
    "approle-login": approle_login,
    "kubernetes-login": kubernetes_login,
    "cert-login": cert_login,
}
TOKEN_OPS = {
    "token-lookup-self": lookup_self,
    "token-renew-self": renew_self,
    "token-revoke-self": revoke_self,
}
