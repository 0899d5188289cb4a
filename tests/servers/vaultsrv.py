# vaultsrv.py - Python test fixture for the loopback Vault server: start it on free ports with a
# temp state dir, talk to its control API, stop it (also when the test fails).
"""with VaultServer() as srv: ... srv.addr, srv.tls_addr, srv.ctl(), srv.counters()"""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from loopback import ControlError, LoopbackServer  # noqa: E402,F401 (ControlError: callers)

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


class VaultServer(LoopbackServer):
    NAME = "Vault"
    SCRIPT = "vault_server.py"
    PREFIX = "p11kms-vault."
    PORT_FILES = ("port", "tls-port")

    def started(self):
        with open(self.path("tls-port"), encoding="ascii") as f:
            self.tls_port = int(f.read().strip())
        self.addr = "http://127.0.0.1:%d" % self.port
        self.tls_addr = "https://127.0.0.1:%d" % self.tls_port
        self.tls_dir = self.path("tls")

    def tls_file(self, name):
        return os.path.join(self.tls_dir, name)

    def requests(self, op=None):
        entries = self.ctl("GET", "/requests")["requests"]
        return [e for e in entries if op is None or e["op"] == op]

    def count(self, op):
        return self.counters()["requests"].get(op, 0)

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
