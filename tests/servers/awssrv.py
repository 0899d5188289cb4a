# awssrv.py - Python test fixture for the loopback AWS KMS server: start it on a free port with
# a temp state dir, talk to its control API, stop it (also when the test fails).
"""with AwsServer() as srv: ... srv.endpoint, srv.ctl(), srv.counters(), srv.client_env()"""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from loopback import ControlError, LoopbackServer  # noqa: E402,F401 (ControlError: callers)

ACCESS_KEY = "AKIDP11KMSTEST000001"
SECRET_KEY = "p11kms/Test+Secret/Key0000000000EXAMPLEKEY"
REGION = "us-east-1"
ACCOUNT = "111122223333"
KEY_ID = "11111111-1111-4111-8111-111111111111"
KEY_ARN = "arn:aws:kms:%s:%s:key/%s" % (REGION, ACCOUNT, KEY_ID)
ALIAS = "alias/p11kms-test"
OTHER_KEY_ID = "22222222-2222-4222-8222-222222222222"
DISABLED_KEY_ID = "33333333-3333-4333-8333-333333333333"
# Preloaded asymmetric keys: alias -> (key id, KeySpec, KeyUsage).
ASYMMETRIC_KEYS = {
    "alias/p11kms-ec-p256": ("66666666-6666-4666-8666-666666660256", "ECC_NIST_P256",
                             "SIGN_VERIFY"),
    "alias/p11kms-ec-p384": ("66666666-6666-4666-8666-666666660384", "ECC_NIST_P384",
                             "SIGN_VERIFY"),
    "alias/p11kms-rsa-3072": ("77777777-7777-4777-8777-777777773072", "RSA_3072",
                              "SIGN_VERIFY"),
    "alias/p11kms-rsa-2048-enc": ("77777777-7777-4777-8777-777777772048", "RSA_2048",
                                  "ENCRYPT_DECRYPT"),
}
IMDS_ROLE = "p11kms-test-role"
WEB_IDENTITY_TOKEN = "p11kms-test-web-identity-token"

# Variables that would steer an AWS client away from the test server or its credentials.
_CLEARED = ("AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_PROFILE", "AWS_DEFAULT_PROFILE",
            "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_KMS", "AWS_ENDPOINT_URL_STS",
            "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
            "AWS_CONTAINER_AUTHORIZATION_TOKEN", "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
            "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN", "AWS_ROLE_SESSION_NAME",
            "AWS_EC2_METADATA_SERVICE_ENDPOINT", "AWS_CA_BUNDLE", "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY", "AWS_RETRY_MODE", "AWS_MAX_ATTEMPTS")


class AwsServer(LoopbackServer):
    NAME = "AWS"
    SCRIPT = "aws_kms_server.py"
    PREFIX = "p11kms-aws."

    def started(self):
        self.endpoint = "http://127.0.0.1:%d" % self.port

    def client_env(self, base=None, static_credentials=True):
        """An environment for AWS clients: this server's region, no stray AWS settings,
        no proxy for loopback, no IMDS probing, and the long-term test credentials."""
        env = dict(os.environ if base is None else base)
        for name in _CLEARED:
            env.pop(name, None)
        cfg = os.path.join(self.state_dir, "aws-config")
        creds = os.path.join(self.state_dir, "aws-credentials")
        for path in (cfg, creds):
            open(path, "a").close()
        env.update({"AWS_REGION": REGION, "AWS_DEFAULT_REGION": REGION,
                    "AWS_CONFIG_FILE": cfg, "AWS_SHARED_CREDENTIALS_FILE": creds,
                    "AWS_EC2_METADATA_DISABLED": "true", "AWS_PAGER": "",
                    "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost"})
        if static_credentials:
            env["AWS_ACCESS_KEY_ID"] = ACCESS_KEY
            env["AWS_SECRET_ACCESS_KEY"] = SECRET_KEY
        return env
