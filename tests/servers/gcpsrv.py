# gcpsrv.py - Python test fixture for the loopback Google Cloud KMS server: start it with a temp
# state dir, talk to its control API, stop it (also when the test fails).
"""with GcpServer() as srv: ... srv.endpoint, srv.ctl(), srv.counters(), srv.client_env()"""

import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from loopback import ControlError, LoopbackServer  # noqa: E402,F401 (ControlError: callers)

PROJECT = "p11kms-test"
PROJECT_NUMBER = "123456789012"
LOCATION = "global"
KEY_RING = "projects/%s/locations/%s/keyRings/p11kms-ring" % (PROJECT, LOCATION)
KEY = KEY_RING + "/cryptoKeys/p11kms-key"
OTHER_KEY = KEY_RING + "/cryptoKeys/p11kms-other"
ROTATED_KEY = KEY_RING + "/cryptoKeys/p11kms-rotated"
DISABLED_KEY = KEY_RING + "/cryptoKeys/p11kms-disabled"
HSM_KEY = KEY_RING + "/cryptoKeys/p11kms-hsm"
SIGN_P256 = KEY_RING + "/cryptoKeys/p11kms-sign-p256"
SIGN_P384 = KEY_RING + "/cryptoKeys/p11kms-sign-p384"
SIGN_RSA2048 = KEY_RING + "/cryptoKeys/p11kms-sign-rsa2048"
SIGN_RSA3072 = KEY_RING + "/cryptoKeys/p11kms-sign-rsa3072"
SIGN_PSS2048 = KEY_RING + "/cryptoKeys/p11kms-sign-pss2048"
DECRYPT_RSA2048 = KEY_RING + "/cryptoKeys/p11kms-decrypt-rsa2048"
DECRYPT_RSA3072 = KEY_RING + "/cryptoKeys/p11kms-decrypt-rsa3072"
SA_MAIN = "p11kms-test@%s.iam.gserviceaccount.com" % PROJECT
SA_ENCRYPTER = "p11kms-encrypter@%s.iam.gserviceaccount.com" % PROJECT
SA_DECRYPTER = "p11kms-decrypter@%s.iam.gserviceaccount.com" % PROJECT
SA_GCE = "p11kms-gce@%s.iam.gserviceaccount.com" % PROJECT
USER_EMAIL = "p11kms-user@example.com"
SCOPE = "https://www.googleapis.com/auth/cloud-platform"
SCOPE_KMS = "https://www.googleapis.com/auth/cloudkms"

# Variables that would steer a Google client away from the test server or its identities.
_CLEARED = ("GOOGLE_APPLICATION_CREDENTIALS", "GOOGLE_CLOUD_PROJECT", "GCLOUD_PROJECT",
            "GCE_METADATA_HOST", "GCE_METADATA_ROOT", "GCE_METADATA_IP",
            "GOOGLE_CLOUD_QUOTA_PROJECT", "CLOUDSDK_CONFIG", "GOOGLE_API_USE_CLIENT_CERTIFICATE",
            "GOOGLE_CLOUD_UNIVERSE_DOMAIN", "METADATA_SERVER_DETECTION", "NO_GCE_CHECK")


class GcpServer(LoopbackServer):
    NAME = "GCP"
    SCRIPT = "gcp_kms_server.py"
    PREFIX = "p11kms-gcp."
    STARTUP_POLLS = 1200

    def __init__(self, python=None, state_dir=None, token_ttl=None):
        super().__init__(python, state_dir)
        self.token_ttl = token_ttl

    def server_args(self):
        return [] if self.token_ttl is None else ["--token-ttl", str(self.token_ttl)]

    def started(self):
        with open(self.path("ports.json"), encoding="ascii") as f:
            self.ports = json.load(f)
        self.tls_port = self.ports["https"]
        self.metadata_port = self.ports["metadata"]
        self.endpoint = "http://127.0.0.1:%d" % self.port
        self.tls_endpoint = "https://127.0.0.1:%d" % self.tls_port
        self.metadata_host = "127.0.0.1:%d" % self.metadata_port
        self.ca = self.path("ca.pem")
        self.other_ca = self.path("other-ca.pem")

    def token(self, principal=SA_MAIN, ttl_seconds=None, scopes=None):
        body = {"principal": principal}
        if ttl_seconds is not None:
            body["ttl_seconds"] = ttl_seconds
        if scopes is not None:
            body["scopes"] = scopes
        return self.ctl("POST", "/tokens", body)["access_token"]

    def client_env(self, base=None, credentials="sa-key.json"):
        """An environment for Google clients: no stray Google settings, no proxy for loopback,
        HOME without a gcloud config, and GOOGLE_APPLICATION_CREDENTIALS at one of the
        server's identity files (None: no explicit credentials, for metadata tests)."""
        env = dict(os.environ if base is None else base)
        for name in _CLEARED:
            env.pop(name, None)
        home = os.path.join(self.state_dir, "home")
        os.makedirs(home, exist_ok=True)
        env.update({"HOME": home, "CLOUDSDK_CONFIG": os.path.join(home, "gcloud"),
                    "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost"})
        for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
            env.pop(name, None)
        if credentials:
            env["GOOGLE_APPLICATION_CREDENTIALS"] = self.path(credentials)
        return env
