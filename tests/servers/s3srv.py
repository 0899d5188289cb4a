# s3srv.py - Python test fixture for the loopback S3 server: start it on a free port with a temp
# state dir, talk to its control API, stop it (also when the test fails).
"""with S3Server() as srv: ... srv.endpoint, srv.ctl(), srv.counters(), srv.client_env()"""

import http.client
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))

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


class ControlError(Exception):
    pass


class S3Server:
    def __init__(self, python=None):
        self.python = python or sys.executable
        self.state_dir = None
        self.proc = None
        self.port = None

    def start(self):
        self.state_dir = tempfile.mkdtemp(prefix="p11kms-s3.")
        self.log_path = os.path.join(self.state_dir, "server.log")
        port_file = os.path.join(self.state_dir, "port")
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [self.python, os.path.join(HERE, "s3_server.py"), "--state-dir",
                 self.state_dir], stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        # Startup wait, not a timed assertion.
        for _ in range(600):
            if os.path.exists(port_file):
                with open(port_file, encoding="ascii") as f:
                    self.port = int(f.read().strip())
                break
            if self.proc.poll() is not None:
                raise RuntimeError("S3 test server exited during startup:\n" + self.log())
            time.sleep(0.1)
        else:
            raise RuntimeError("S3 test server did not write its port")
        self.endpoint = "http://127.0.0.1:%d" % self.port
        return self

    def stop(self):
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None
        if self.state_dir and not os.environ.get("P11KMS_KEEP_STATE"):
            shutil.rmtree(self.state_dir, ignore_errors=True)
            self.state_dir = None

    def __enter__(self):
        return self.start()

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None and exc_type is not SystemExit or \
                (exc_type is SystemExit and exc.code not in (0, 77, None)):
            sys.stdout.write("# ---- S3 test server log (last 60 lines) ----\n")
            for line in self.log().splitlines()[-60:]:
                sys.stdout.write("# %s\n" % line)
        self.stop()
        return False

    def log(self):
        try:
            with open(self.log_path, encoding="utf-8", errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def ctl(self, method, path, body=None):
        """Control API call (path relative to /_control); the decoded JSON answer."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
        try:
            data = json.dumps(body).encode() if body is not None else None
            conn.request(method, "/_control" + path, body=data,
                         headers={"Content-Type": "application/json"})
            resp = conn.getresponse()
            answer = json.loads(resp.read().decode())
        finally:
            conn.close()
        if resp.status >= 400:
            raise ControlError("%s %s -> %d %s" % (method, path, resp.status, answer))
        return answer

    def counters(self):
        return self.ctl("GET", "/counters")

    def requests(self):
        return self.ctl("GET", "/requests")["requests"]

    def objects(self, bucket=BUCKET):
        return {o["key"]: o for o in self.ctl("GET", "/objects?bucket=" + bucket)["objects"]}

    def uploads(self):
        return self.ctl("GET", "/uploads")["uploads"]

    def fault(self, op, kind, count=1, **extra):
        body = {"op": op, "kind": kind, "count": count}
        body.update(extra)
        return self.ctl("POST", "/faults", body)

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
