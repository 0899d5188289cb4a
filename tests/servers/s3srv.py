# s3srv.py - Python test fixture for the loopback S3 server: start it on a free port with a temp
# state dir, talk to its control API, stop it (also when the test fails).
"""with S3Server() as srv: ... srv.endpoint, srv.ctl(), srv.counters(), srv.client_env()"""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from loopback import ControlError, LoopbackServer  # noqa: E402,F401 (ControlError: callers)

ACCESS_KEY = "AKIDP11KMSTEST000001"
SECRET_KEY = "p11kms/Test+Secret/Key0000000000EXAMPLEKEY"
REGION = "us-east-1"
BUCKET = "p11kms-test"

# Variables that would steer an AWS client away from the test server or its credentials.
_CLEARED = ("AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_PROFILE", "AWS_DEFAULT_PROFILE",
            "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_S3_FORCE_PATH_STYLE",
            "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
            "AWS_CONTAINER_AUTHORIZATION_TOKEN", "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
            "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN", "AWS_ROLE_SESSION_NAME",
            "AWS_EC2_METADATA_SERVICE_ENDPOINT", "AWS_CA_BUNDLE", "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY", "AWS_RETRY_MODE", "AWS_MAX_ATTEMPTS")


class S3Server(LoopbackServer):
    NAME = "S3"
    SCRIPT = "s3_server.py"
    PREFIX = "p11kms-s3."

    def started(self):
        self.endpoint = "http://127.0.0.1:%d" % self.port

    def objects(self, bucket=BUCKET):
        return {o["key"]: o for o in self.ctl("GET", "/objects?bucket=" + bucket)["objects"]}

    def uploads(self):
        return self.ctl("GET", "/uploads")["uploads"]

    def client_env(self, base=None):
        """An environment for AWS clients: this server's region, no stray AWS settings, no
        proxy for loopback, no IMDS probing, and the long-term test credentials."""
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
                    "AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
                    "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost"})
        return env
