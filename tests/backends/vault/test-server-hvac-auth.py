# test-server-hvac-auth.py - hvac (Debian python3-hvac) against the loopback Vault server: AppRole,
# Kubernetes and TLS certificate login, token expiry and re-login, HTTPS with the test CA (file
# and directory), sealed mode, and every injected fault mapped to hvac's exceptions.
"""hvac fidelity test of tests/servers/vault_server.py (auth, TLS, faults); 77 without hvac."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from hvac_common import (b64, check, client, fails, finish, hvac, hx, raised,  # noqa: E402
                         requests, vaultsrv)

CTX = b64(b"auth-ctx")
DENIED = "1 error occurred:\n\t* permission denied\n\n"
INVALID_TOKEN = "2 errors occurred:\n\t* permission denied\n\t* invalid token\n\n"


def works(c):
    """The client's token can wrap and unwrap under p11kms-derived."""
    t = c.secrets.transit
    ct = t.encrypt_data("p11kms-derived", b64(b"w"), context=CTX)["data"]["ciphertext"]
    return t.decrypt_data("p11kms-derived", ct, context=CTX)["data"]["plaintext"] == b64(b"w")


def login_shape(r, method, ttl):
    a = r["auth"]
    return (r["data"] is None and r["lease_duration"] == 0 and r["renewable"] is False and
            a["client_token"].startswith("hvs.") and a["lease_duration"] == ttl and
            a["renewable"] is True and a["policies"] == ["default", "p11kms-app"] and
            a["token_policies"] == a["policies"] and a["token_type"] == "service" and
            r["mount_type"] == method)


def approle(srv):
    c = hvac.Client(url=srv.addr)
    r = c.auth.approle.login(vaultsrv.APPROLE_ROLE_ID, vaultsrv.APPROLE_SECRET_ID)
    check(login_shape(r, "approle", 3600) and r["auth"]["metadata"] == {
        "role_name": "p11kms-approle"}, "AppRole login: auth block as Vault sends it")
    check(c.token == r["auth"]["client_token"] and works(c), "... the token wraps and unwraps")
    check(srv.counters()["logins"].get("approle") == 1, "login counted")
    e = srv.requests("approle-login")[-1]
    check(e["fields"] == ["role_id", "secret_id"] and
          vaultsrv.APPROLE_SECRET_ID not in repr(e), "login logged: field names, no secret")
    bad = hvac.Client(url=srv.addr)
    check(fails(hx.InvalidRequest, "invalid role or secret ID", bad.auth.approle.login,
                vaultsrv.APPROLE_ROLE_ID, "wrong-secret"), "wrong secret_id: 400")
    check(fails(hx.InvalidRequest, "invalid role or secret ID", bad.auth.approle.login,
                "no-such-role", vaultsrv.APPROLE_SECRET_ID), "unknown role_id: 400")
    check(fails(hx.InvalidRequest, "missing secret_id", bad.auth.approle.login,
                vaultsrv.APPROLE_ROLE_ID), "no secret_id: 400 missing secret_id")
    check(fails(hx.InvalidRequest, "missing role_id", bad.write, "auth/approle/login"),
          "no role_id: 400 missing role_id")
    once = srv.ctl("POST", "/approle/secret-id", {"num_uses": 1})
    check(bad.auth.approle.login(once["role_id"], once["secret_id"])["auth"]["client_token"]
          and fails(hx.InvalidRequest, "invalid role or secret ID", bad.auth.approle.login,
                    once["role_id"], once["secret_id"]), "secret_id with num_uses 1: one login")
    short = srv.ctl("POST", "/approle/secret-id", {"ttl": 60})
    srv.config(clock_offset_seconds=120)
    check(fails(hx.InvalidRequest, "invalid role or secret ID", bad.auth.approle.login,
                short["role_id"], short["secret_id"]), "expired secret_id: 400")
    srv.config(clock_offset_seconds=0)

    # Login tokens expire; the next request gets 403 invalid token and a re-login fixes it.
    srv.config(login_token_ttl=30)
    c = hvac.Client(url=srv.addr)
    r = c.auth.approle.login(vaultsrv.APPROLE_ROLE_ID, vaultsrv.APPROLE_SECRET_ID)
    check(r["auth"]["lease_duration"] == 30, "login_token_ttl shortens login tokens")
    srv.config(clock_offset_seconds=31)
    check(fails(hx.Forbidden, INVALID_TOKEN, c.secrets.transit.encrypt_data, "p11kms-derived",
                b64(b"x"), context=CTX), "expired login token: 403 permission denied + invalid "
          "token")
    c.auth.approle.login(vaultsrv.APPROLE_ROLE_ID, vaultsrv.APPROLE_SECRET_ID)
    check(works(c), "re-login gives a working token")
    srv.config(clock_offset_seconds=0, login_token_ttl=None)
    tok = c.token
    r = c.auth.token.renew_self()
    check(r["auth"]["client_token"] == tok and r["auth"]["lease_duration"] == 30,
          "renew-self of a login token: lease back to the token_ttl it was issued with")
    srv.ctl("POST", "/expire-tokens", {})
    check(fails(hx.Forbidden, INVALID_TOKEN, c.auth.token.lookup_self),
          "control expire-tokens: login tokens are dead at once")

    nsc = hvac.Client(url=srv.addr, namespace=vaultsrv.NAMESPACE)
    nsc.auth.approle.login(vaultsrv.NS_APPROLE_ROLE_ID, vaultsrv.NS_APPROLE_SECRET_ID)
    check(works(nsc) and nsc.auth.token.lookup_self()["data"]["policies"] ==
          ["default", "p11kms-ns-app"], "AppRole login inside namespace p11kms-ns")
    check(fails(hx.InvalidRequest, "invalid role or secret ID", hvac.Client(url=srv.addr)
                .auth.approle.login, vaultsrv.NS_APPROLE_ROLE_ID,
                vaultsrv.NS_APPROLE_SECRET_ID), "the namespace's role is unknown in root")


def kubernetes(srv):
    with open(os.path.join(srv.state_dir, "k8s-token"), encoding="ascii") as f:
        jwt = f.read()
    check(jwt == vaultsrv.K8S_JWT and jwt.count(".") == 2, "service-account JWT file written")
    c = hvac.Client(url=srv.addr)
    r = c.auth.kubernetes.login(vaultsrv.K8S_ROLE, jwt)
    m = r["auth"]["metadata"]
    check(login_shape(r, "kubernetes", 3600) and m["role"] == vaultsrv.K8S_ROLE and
          m["service_account_name"] == "p11kms-sa" and
          m["service_account_namespace"] == "p11kms", "Kubernetes login: auth and metadata")
    check(srv.requests("kubernetes-login")[-1]["path"] == "/v1/auth/kubernetes/login" and
          works(c), "... posted to auth/kubernetes/login; the token works")
    bad = hvac.Client(url=srv.addr)
    check(fails(hx.Forbidden, "permission denied", bad.auth.kubernetes.login,
                vaultsrv.K8S_ROLE, jwt[:-4] + "AAAA"), "forged JWT: 403 permission denied")
    check(fails(hx.Forbidden, "service account name not authorized", bad.auth.kubernetes.login,
                vaultsrv.K8S_ROLE, vaultsrv.K8S_OTHER_JWT), "other service account: 403")
    check(fails(hx.InvalidRequest, 'invalid role name "nope"', bad.auth.kubernetes.login,
                "nope", jwt), "unknown role: 400")
    check(fails(hx.InvalidRequest, "missing jwt", bad.auth.kubernetes.login,
                vaultsrv.K8S_ROLE, ""), "empty jwt: 400 missing jwt")
    srv.ctl("POST", "/kubernetes/jwt", {"revoke": True})
    check(fails(hx.Forbidden, "permission denied", bad.auth.kubernetes.login,
                vaultsrv.K8S_ROLE, jwt), "revoked service-account token: 403")
    srv.ctl("POST", "/kubernetes/jwt", {})


def tls(srv):
    ca, other = srv.tls_file("ca.pem"), srv.tls_file("other-ca.pem")
    cert = (srv.tls_file("client.pem"), srv.tls_file("client-key.pem"))
    c = hvac.Client(url=srv.tls_addr, verify=ca)
    check(c.sys.read_seal_status()["sealed"] is False, "HTTPS with VAULT_CACERT-style CA file")
    check(hvac.Client(url=srv.tls_addr, verify=srv.tls_file("capath")).sys
          .read_seal_status()["sealed"] is False, "HTTPS with the capath/ directory")
    check(fails(requests.exceptions.SSLError, None, hvac.Client(url=srv.tls_addr, verify=other)
                .sys.read_seal_status), "HTTPS with the wrong CA: certificate verify failure")
    # requests keeps a pooled TLS connection made without a client certificate and would
    # reuse it, so cert login gets a client of its own (so would any Vault client).
    c = hvac.Client(url=srv.tls_addr, verify=ca)
    r = c.auth.cert.login(cert_pem=cert[0], key_pem=cert[1])
    m = r["auth"]["metadata"]
    check(login_shape(r, "cert", 3600) and m["cert_name"] == vaultsrv.CERT_ROLE and
          m["common_name"] == "p11kms-client" and ":" in m["subject_key_id"],
          "cert login: auth and metadata")
    check(works(c), "... the token works over HTTPS")
    check(srv.counters()["tls_connections"] > 0 and srv.requests("cert-login")[-1]["tls"],
          "TLS connections counted and flagged in the request log")
    r = c.auth.cert.login(name=vaultsrv.CERT_ROLE, cert_pem=cert[0], key_pem=cert[1])
    check(r["auth"]["metadata"]["cert_name"] == vaultsrv.CERT_ROLE, "cert login naming the role")
    wrong = (srv.tls_file("client-wrong-cn.pem"), srv.tls_file("client-wrong-cn-key.pem"))
    check(fails(hx.InvalidRequest, "no chain matching all constraints could be found for this "
                "login certificate", hvac.Client(url=srv.tls_addr, verify=ca).auth.cert.login,
                cert_pem=wrong[0], key_pem=wrong[1]),
          "client certificate with another CN: 400")
    foreign = (srv.tls_file("client-other-ca.pem"), srv.tls_file("client-other-ca-key.pem"))
    check(fails(hx.InvalidRequest, "invalid certificate or no client certificate supplied",
                hvac.Client(url=srv.tls_addr, verify=ca).auth.cert.login,
                cert_pem=foreign[0], key_pem=foreign[1]),
          "client certificate from an untrusted CA: 400")
    s = requests.Session()
    r = s.post(srv.tls_addr + "/v1/auth/cert/login", verify=ca)
    check(r.status_code == 400 and r.json() == {"errors": [
        "client certificate must be supplied"]}, "cert login without a certificate: 400")
    r = s.post(srv.addr + "/v1/auth/cert/login")
    check(r.status_code == 400 and r.json() == {"errors": ["tls connection required"]},
          "cert login over plain HTTP: 400 tls connection required")


def sealed(srv):
    c = client(srv)
    srv.config(sealed=True)
    check(fails(hx.VaultDown, "Vault is sealed", c.secrets.transit.encrypt_data,
                "p11kms-derived", b64(b"s"), context=CTX), "sealed: 503 Vault is sealed")
    check(fails(hx.VaultDown, "Vault is sealed", hvac.Client(url=srv.addr).auth.approle.login,
                vaultsrv.APPROLE_ROLE_ID, vaultsrv.APPROLE_SECRET_ID), "sealed: login 503 too")
    h = c.sys.read_health_status(method="GET")
    check(h.status_code == 503 and h.json()["sealed"] is True, "sealed: sys/health 503")
    check(c.sys.read_seal_status()["sealed"] is True, "sealed: sys/seal-status says so")
    check(c.sys.is_sealed() is True, "hvac is_sealed()")
    srv.config(sealed=False)
    check(works(c), "unsealed: works again")


def faults(srv):
    c = client(srv)
    t = c.secrets.transit
    enc = lambda: t.encrypt_data("p11kms-derived", b64(b"f"), context=CTX)  # noqa: E731
    cases = [("http412", hx.UnexpectedError), ("http429", hx.RateLimitExceeded),
             ("http500", hx.InternalServerError), ("http501", hx.VaultNotInitialized),
             ("http502", hx.BadGateway), ("http503", hx.VaultDown)]
    for kind, exc in cases:
        before = srv.count("encrypt")
        srv.fault("encrypt", kind)
        ok = fails(exc, None, enc)
        check(ok and srv.count("encrypt") - before == 1,
              "%s -> hvac %s, one request (hvac does not retry)" % (kind, exc.__name__))
    srv.fault("encrypt", "http429")
    r = requests.post(srv.addr + "/v1/transit/encrypt/p11kms-derived",
                      headers={"X-Vault-Token": vaultsrv.ROOT_TOKEN},
                      json={"plaintext": b64(b"x"), "context": CTX})
    check(r.status_code == 429 and r.headers.get("Retry-After") == "1" and
          "rate limit quota exceeded" in r.json()["errors"][0], "429 carries Retry-After")
    srv.fault("encrypt", "error", status=400, message="injected")
    check(fails(hx.InvalidRequest, "injected", enc), "error fault: status and message")
    srv.fault("decrypt", "http500")
    check(enc()["data"]["ciphertext"], "a fault queued for decrypt leaves encrypt alone")
    srv.ctl("DELETE", "/faults")
    for kind in ("reset", "drop"):
        srv.fault("encrypt", kind)
        check(fails(requests.exceptions.ConnectionError, None, enc),
              "%s -> requests ConnectionError" % kind)
    # urllib3 1.26 (Debian 12) does not enforce Content-Length: the cut body reaches hvac,
    # which cannot parse it and hands back the raw response; newer urllib3 raises instead.
    srv.fault("encrypt", "truncated")
    cls, answer = raised(enc)
    check((cls is not None and issubclass(cls, requests.exceptions.RequestException)) or
          (cls is None and isinstance(answer, requests.Response) and
           len(answer.content) < int(answer.headers["Content-Length"])),
          "truncated body: never taken for an answer")
    srv.fault("encrypt", "garbage")
    r = enc()
    check(isinstance(r, requests.Response) and r.status_code == 200,
          "garbage 200 body: hvac hands back the raw response (not JSON)")
    srv.fault("encrypt", "delay", delay_ms=50)
    check(enc()["data"]["ciphertext"] and srv.requests("encrypt")[-1]["fault"] == "delay",
          "delay: answered normally after the delay")
    srv.fault("*", "http503", count=2)
    check(fails(hx.VaultDown, None, c.auth.token.lookup_self) and
          fails(hx.VaultDown, None, enc) and enc()["data"], "op * hits any endpoint, count 2")
    srv.config(require_request_header=True)
    check(enc()["data"]["ciphertext"], "require_request_header: hvac sends X-Vault-Request")
    r = requests.post(srv.addr + "/v1/transit/encrypt/p11kms-derived",
                      headers={"X-Vault-Token": vaultsrv.ROOT_TOKEN},
                      json={"plaintext": b64(b"x"), "context": CTX})
    check(r.status_code == 412 and r.json() == {"errors": ["missing 'X-Vault-Request' header"]},
          "require_request_header: a request without it gets 412 (Vault Proxy)")
    srv.config(require_request_header=False)
    s = srv.counters()
    check(s["faults_served"] >= 14 and s["faults"]["http503"] >= 3, "fault counters")


def main():
    with vaultsrv.VaultServer() as srv:
        os.environ.update(srv.client_env())
        approle(srv)
        kubernetes(srv)
        tls(srv)
        sealed(srv)
        faults(srv)
        rc = finish()
        if rc:
            raise SystemExit(rc)
    return 0


if __name__ == "__main__":
    sys.exit(main())
