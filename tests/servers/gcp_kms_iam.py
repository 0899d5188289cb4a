# gcp_kms_iam.py - who may do what on the Google Cloud KMS test server: the test identities,
# predefined roles as permission sets, IAM bindings (inherited down the resource tree) and the
# access tokens the server has issued. No locking here (Store.lock guards it).
"""Identities, roles, bindings and issued tokens of the loopback Cloud KMS server."""

import hashlib
import secrets

PROJECT = "p11kms-test"
PROJECT_NUMBER = "123456789012"
LOCATION = "global"
KEY_RING = "projects/%s/locations/%s/keyRings/p11kms-ring" % (PROJECT, LOCATION)

SA_MAIN = "p11kms-test@%s.iam.gserviceaccount.com" % PROJECT
SA_ENCRYPTER = "p11kms-encrypter@%s.iam.gserviceaccount.com" % PROJECT
SA_DECRYPTER = "p11kms-decrypter@%s.iam.gserviceaccount.com" % PROJECT
SA_GCE = "p11kms-gce@%s.iam.gserviceaccount.com" % PROJECT
USER_EMAIL = "p11kms-user@example.com"
OAUTH_CLIENT_ID = "p11kms-test-client.apps.googleusercontent.com"
OAUTH_CLIENT_SECRET = "p11kms-test-client-secret"
POOL_AUDIENCE = ("//iam.googleapis.com/projects/%s/locations/global/workloadIdentityPools/"
                 "p11kms-pool/providers/p11kms-provider" % PROJECT_NUMBER)
IDP_ISSUER = "https://idp.p11kms.test"
WORKLOAD_SUBJECT = "p11kms-workload"
WORKLOAD_PRINCIPAL = ("principal://iam.googleapis.com/projects/%s/locations/global/"
                      "workloadIdentityPools/p11kms-pool/subject/%s"
                      % (PROJECT_NUMBER, WORKLOAD_SUBJECT))

SCOPE_CLOUD_PLATFORM = "https://www.googleapis.com/auth/cloud-platform"
SCOPE_CLOUDKMS = "https://www.googleapis.com/auth/cloudkms"
KMS_SCOPES = (SCOPE_CLOUD_PLATFORM, SCOPE_CLOUDKMS)
USER_SCOPES = ("openid", "https://www.googleapis.com/auth/userinfo.email",
               SCOPE_CLOUD_PLATFORM)
GCE_SCOPES = (SCOPE_CLOUD_PLATFORM,)

P = "cloudkms."
ROLES = {
    "roles/cloudkms.cryptoKeyEncrypter": {P + "cryptoKeyVersions.useToEncrypt"},
    "roles/cloudkms.cryptoKeyDecrypter": {P + "cryptoKeyVersions.useToDecrypt"},
    "roles/cloudkms.cryptoKeyEncrypterDecrypter": {P + "cryptoKeyVersions.useToEncrypt",
                                                   P + "cryptoKeyVersions.useToDecrypt"},
    "roles/cloudkms.signer": {P + "cryptoKeyVersions.useToSign"},
    "roles/cloudkms.signerVerifier": {P + "cryptoKeyVersions.useToSign",
                                      P + "cryptoKeyVersions.useToVerify",
                                      P + "cryptoKeyVersions.viewPublicKey"},
    "roles/cloudkms.publicKeyViewer": {P + "cryptoKeyVersions.viewPublicKey"},
    "roles/cloudkms.viewer": {P + "keyRings.get", P + "keyRings.list", P + "cryptoKeys.get",
                              P + "cryptoKeys.list", P + "cryptoKeyVersions.get",
                              P + "cryptoKeyVersions.list"},
    "roles/cloudkms.admin": {P + "keyRings.get", P + "keyRings.list", P + "keyRings.create",
                             P + "cryptoKeys.get", P + "cryptoKeys.list",
                             P + "cryptoKeys.create", P + "cryptoKeys.update",
                             P + "cryptoKeyVersions.get", P + "cryptoKeyVersions.list",
                             P + "cryptoKeyVersions.create", P + "cryptoKeyVersions.update",
                             P + "cryptoKeyVersions.destroy", P + "cryptoKeyVersions.restore",
                             P + "cryptoKeyVersions.viewPublicKey"},
    "roles/iam.serviceAccountTokenCreator": {"iam.serviceAccounts.getAccessToken"},
}

SERVICE_ACCOUNTS = (SA_MAIN, SA_ENCRYPTER, SA_DECRYPTER, SA_GCE)


def sa_resource(email):
    return "projects/%s/serviceAccounts/%s" % (PROJECT, email)


def default_bindings():
    """resource name -> {member: set(roles)}. Project bindings apply to everything below."""
    project = "projects/" + PROJECT
    return {
        project: {
            "serviceAccount:" + SA_MAIN: {"roles/cloudkms.admin",
                                          "roles/cloudkms.cryptoKeyEncrypterDecrypter",
                                          "roles/cloudkms.signerVerifier"},
            "serviceAccount:" + SA_ENCRYPTER: {"roles/cloudkms.cryptoKeyEncrypter"},
            "serviceAccount:" + SA_DECRYPTER: {"roles/cloudkms.cryptoKeyDecrypter"},
            "serviceAccount:" + SA_GCE: {"roles/cloudkms.cryptoKeyEncrypterDecrypter",
                                         "roles/cloudkms.signerVerifier"},
            "user:" + USER_EMAIL: {"roles/cloudkms.cryptoKeyEncrypterDecrypter",
                                   "roles/cloudkms.signerVerifier", "roles/cloudkms.viewer"},
            WORKLOAD_PRINCIPAL: {"roles/cloudkms.cryptoKeyEncrypterDecrypter"},
        },
        sa_resource(SA_MAIN): {WORKLOAD_PRINCIPAL: {"roles/iam.serviceAccountTokenCreator"}},
    }


def member_of(principal):
    """The IAM member string of an authenticated principal (an email or a principal:// URI)."""
    if principal.startswith("principal://"):
        return principal
    if principal.endswith(".gserviceaccount.com"):
        return "serviceAccount:" + principal
    return "user:" + principal


def ancestors(resource):
    """resource and every parent up to the project: IAM policies are inherited downward."""
    parts = resource.split("/")
    out = []
    for n in range(len(parts), 1, -1):
        if n % 2 == 0:
            out.append("/".join(parts[:n]))
    return out


def permitted(bindings, principal, permission, resource):
    member = member_of(principal)
    for res in ancestors(resource):
        for role in bindings.get(res, {}).get(member, ()):
            if permission in ROLES.get(role, ()):
                return True
    return False


def new_access_token():
    # Shaped like Google's (ya29. prefix, URL-safe); opaque to clients.
    return "ya29.p11kms." + secrets.token_urlsafe(48)


def fingerprint(token):
    """What the request log shows instead of a token: never the token itself."""
    return "sha256:" + hashlib.sha256(token.encode()).hexdigest()[:16]
