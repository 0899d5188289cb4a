# gcpsrv.py - Python test fixture for the loopback Google Cloud KMS server: start it with a temp
# state dir, talk to its control API, stop it (also when the test fails).
"""with GcpServer() as srv: ... srv.endpoint, srv.ctl(), srv.counters(), srv.client_env()"""

import http.client
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))

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


class ControlError(Exception):
    pass


class GcpServer:
    def __init__(self, python=None, state_dir=None, token_ttl=None):
        """state_dir: reuse a directory (kept on stop) to test persistence across restarts."""
        self.python = python or sys.executable
        self.state_dir = state_dir
        self.own_state = state_dir is None
        self.token_ttl = token_ttl
        self.proc = None
        self.port = None

    def start(self):
        if self.state_dir is None:
            self.state_dir = tempfile.mkdtemp(prefix="p11kms-gcp.")
        self.log_path = os.path.join(self.state_dir, "server.log")
        port_file = os.path.join(self.state_dir, "port")
        if os.path.exists(port_file):
            os.unlink(port_file)
        argv = [self.python, os.path.join(HERE, "gcp_kms_server.py"), "--state-dir",
                self.state_dir]
        if self.token_ttl is not None:
            argv += ["--token-ttl", str(self.token_ttl)]
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        # Startup wait, not a timed assertion.
        for _ in range(1200):
            if os.path.exists(port_file):
                with open(port_file, encoding="ascii") as f:
                    self.port = int(f.read().strip())
                break
            if self.proc.poll() is not None:
                raise RuntimeError("GCP test server exited during startup:\n" + self.log())
            time.sleep(0.1)
        else:
            raise RuntimeError("GCP test server did not write its port")
        with open(os.path.join(self.state_dir, "ports.json"), encoding="ascii") as f:
            self.ports = json.load(f)
        self.tls_port = self.ports["https"]
        self.metadata_port = self.ports["metadata"]
        self.endpoint = "http://127.0.0.1:%d" % self.port
        self.tls_endpoint = "https://127.0.0.1:%d" % self.tls_port
        self.metadata_host = "127.0.0.1:%d" % self.metadata_port
        self.ca = os.path.join(self.state_dir, "ca.pem")
        self.other_ca = os.path.join(self.state_dir, "other-ca.pem")
        return self

    def path(self, name):
        """A file of the state dir: sa-key.json, authorized-user.json, ca.pem, ..."""
        return os.path.join(self.state_dir, name)

    def stop(self, keep_log=False):
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None
        if self.state_dir and self.own_state and not keep_log and \
                not os.environ.get("P11KMS_KEEP_STATE"):
            shutil.rmtree(self.state_dir, ignore_errors=True)
            self.state_dir = None

    def __enter__(self):
        return self.start()

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None and exc_type is not SystemExit or \
                (exc_type is SystemExit and exc.code not in (0, 77, None)):
            sys.stdout.write("# ---- GCP test server log (last 60 lines) ----\n")
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

    def fault(self, op, kind, count=1, **extra):
        body = {"op": op, "kind": kind, "count": count}
        body.update(extra)
        return self.ctl("POST", "/faults", body)

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
