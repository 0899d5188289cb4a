# vaultsrv.py - Python test fixture for the loopback Vault server: start it on free ports with a
# temp state dir, talk to its control API, stop it (also when the test fails).
"""with VaultServer() as srv: ... srv.addr, srv.tls_addr, srv.ctl(), srv.counters()"""

import http.client
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import vault_auth  # noqa: E402
import vault_store  # noqa: E402

ROOT_TOKEN = vault_store.ROOT_TOKEN
APP_TOKEN = vault_store.APP_TOKEN
ENCRYPT_TOKEN = vault_store.ENCRYPT_TOKEN
DECRYPT_TOKEN = vault_store.DECRYPT_TOKEN
NS_TOKEN = vault_store.NS_TOKEN
NAMESPACE = vault_store.NAMESPACE
CHILD_NAMESPACE = vault_store.CHILD_NAMESPACE
CUSTOM_MOUNT = vault_store.CUSTOM_MOUNT
APPROLE_ROLE_ID = vault_store.APPROLE_ROLE_ID
APPROLE_SECRET_ID = vault_store.APPROLE_SECRET_ID
NS_APPROLE_ROLE_ID = vault_store.NS_APPROLE_ROLE_ID
NS_APPROLE_SECRET_ID = vault_store.NS_APPROLE_SECRET_ID
K8S_ROLE = vault_store.K8S_ROLE
K8S_JWT = vault_auth.make_service_account_jwt(vault_store.K8S_SA,
                                              vault_store.K8S_SA_NAMESPACE)[0]
K8S_OTHER_JWT = vault_auth.make_service_account_jwt("p11kms-other-sa",
                                                    vault_store.K8S_SA_NAMESPACE)[0]
CERT_ROLE = vault_store.CERT_ROLE
SERVER_NAME = "vault.p11kms.test"

# Variables that would steer a Vault client away from the test server or its identities.
_CLEARED = ("VAULT_ADDR", "VAULT_TOKEN", "VAULT_NAMESPACE", "VAULT_CACERT", "VAULT_CAPATH",
            "VAULT_CLIENT_CERT", "VAULT_CLIENT_KEY", "VAULT_TLS_SERVER_NAME",
            "VAULT_SKIP_VERIFY", "VAULT_AGENT_ADDR", "VAULT_PREFIX", "VAULT_PROXY_ADDR",
            "VAULT_HTTP_PROXY", "VAULT_MAX_RETRIES", "VAULT_CLIENT_TIMEOUT",
            "HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY",
            "all_proxy")


class ControlError(Exception):
    pass


class VaultServer:
    def __init__(self, python=None, state_dir=None):
        """state_dir: reuse a directory (kept on stop) to test persistence across restarts."""
        self.python = python or sys.executable
        self.state_dir = state_dir
        self.own_state = state_dir is None
        self.proc = None
        self.port = self.tls_port = None

    def start(self):
        if self.state_dir is None:
            self.state_dir = tempfile.mkdtemp(prefix="p11kms-vault.")
        self.log_path = os.path.join(self.state_dir, "server.log")
        port_file = os.path.join(self.state_dir, "port")
        for name in ("port", "tls-port"):
            if os.path.exists(os.path.join(self.state_dir, name)):
                os.unlink(os.path.join(self.state_dir, name))
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [self.python, os.path.join(HERE, "vault_server.py"),
                 "--state-dir", self.state_dir], stdin=subprocess.DEVNULL, stdout=log,
                stderr=log)
        # Startup wait, not a timed assertion.
        for _ in range(600):
            if os.path.exists(port_file):
                with open(port_file, encoding="ascii") as f:
                    self.port = int(f.read().strip())
                with open(os.path.join(self.state_dir, "tls-port"), encoding="ascii") as f:
                    self.tls_port = int(f.read().strip())
                break
            if self.proc.poll() is not None:
                raise RuntimeError("Vault test server exited during startup:\n" + self.log())
            time.sleep(0.1)
        else:
            raise RuntimeError("Vault test server did not write its port")
        self.addr = "http://127.0.0.1:%d" % self.port
        self.tls_addr = "https://127.0.0.1:%d" % self.tls_port
        self.tls_dir = os.path.join(self.state_dir, "tls")
        return self

    def tls_file(self, name):
        return os.path.join(self.tls_dir, name)

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
            sys.stdout.write("# ---- Vault test server log (last 60 lines) ----\n")
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

    def requests(self, op=None):
        entries = self.ctl("GET", "/requests")["requests"]
        return [e for e in entries if op is None or e["op"] == op]

    def count(self, op):
        return self.counters()["requests"].get(op, 0)

    def fault(self, op, kind, count=1, **extra):
        body = {"op": op, "kind": kind, "count": count}
        body.update(extra)
        return self.ctl("POST", "/faults", body)

    def config(self, **values):
        return self.ctl("POST", "/config", values)

    def reset(self, state=True):
        return self.ctl("POST", "/reset", {"state": state})

    def client_env(self, base=None, tls=False):
        """An environment for Vault clients: this server, the root test token, no stray Vault
        or proxy settings."""
        env = dict(os.environ if base is None else base)
        for name in _CLEARED:
            env.pop(name, None)
        env.update({"VAULT_ADDR": self.tls_addr if tls else self.addr,
                    "VAULT_TOKEN": ROOT_TOKEN, "NO_PROXY": "127.0.0.1,localhost",
                    "no_proxy": "127.0.0.1,localhost"})
        if tls:
            env["VAULT_CACERT"] = self.tls_file("ca.pem")
        return env
