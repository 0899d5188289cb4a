# test-server-wire.py - the loopback Vault server at the byte level, where clients hide things:
# exact error bodies and headers, keep-alive, TLS server name and client certificates, batch
# answers, Go base64 offsets, faults on the socket, the request log, the control API, restarts.
"""Raw HTTP checks of tests/servers/vault_server.py (what the C backend will parse)."""

import base64
import http.client
import importlib.util
import json
import os
import socket
import ssl
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.environ.get("top_srcdir") or os.path.dirname(os.path.dirname(os.path.dirname(HERE)))
sys.path.insert(0, os.path.join(TOP, "tests", "servers"))

if importlib.util.find_spec("cryptography") is None:
    print("# SKIP: %s cannot import cryptography (Debian: python3-cryptography)"
          % sys.executable)
    sys.exit(77)

import vaultsrv  # noqa: E402
from vault_util import B64Error, go_b64decode  # noqa: E402

n = 0
failures = 0
ROOT = {"X-Vault-Token": vaultsrv.ROOT_TOKEN}


def check(cond, what):
    global n, failures
    n += 1
    if cond:
        print("ok %d - %s" % (n, what))
    else:
        failures += 1
        print("not ok %d - %s" % (n, what))
    return cond


def b64(data):
    return base64.b64encode(data).decode()


class Conn:
    """One keep-alive connection; call() answers (status, headers, raw body)."""

    def __init__(self, srv, tls_context=None, server_hostname=None):
        if tls_context is None:
            self.c = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=60)
        else:
            self.c = http.client.HTTPSConnection("127.0.0.1", srv.tls_port, timeout=60,
                                                 context=tls_context)
            if server_hostname:
                self.c.host = server_hostname       # SNI and certificate name to check
                self.c._tunnel_host = None
                self.c.sock = tls_context.wrap_socket(
                    socket.create_connection(("127.0.0.1", srv.tls_port), 60),
                    server_hostname=server_hostname)

    def call(self, method, path, body=None, headers=None, raw=None):
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None
                                            else None)
        self.c.request(method, path, body=data, headers=headers or {})
        r = self.c.getresponse()
        return r.status, r.headers, r.read()

    def close(self):
        self.c.close()


def jbody(raw):
    return json.loads(raw.decode())


def errors_of(raw):
    return jbody(raw).get("errors")


def wire_format(srv):
    c = Conn(srv)
    st, h, raw = c.call("POST", "/v1/transit/encrypt/p11kms-derived",
                        {"plaintext": b64(b"w"), "context": b64(b"c")}, ROOT)
    check(st == 200 and h["Content-Type"] == "application/json" and
          h["Cache-Control"] == "no-store" and int(h["Content-Length"]) == len(raw) and
          raw.endswith(b"}\n") and "Server" not in h, "200: JSON, no-store, Content-Length, "
          "trailing newline (Go's json.Encoder), no Server header")
    check(list(jbody(raw)) == ["request_id", "lease_id", "renewable", "lease_duration", "data",
                               "wrap_info", "warnings", "auth", "mount_type"],
          "envelope fields in Vault's order")
    st, h, raw = c.call("POST", "/v1/transit/decrypt/p11kms-derived",
                        {"ciphertext": "vault:v1:AAAA", "context": b64(b"c")}, ROOT)
    check(st == 400 and raw == b'{"errors":["invalid ciphertext length"]}\n',
          "400 body is exactly {\"errors\":[...]} plus newline, no request_id")
    st, h, raw = c.call("GET", "/v1/transit/keys/none", headers=ROOT)
    check(st == 404 and raw == b'{"errors":[]}\n', "missing key: 404 {\"errors\":[]}")
    st, h, raw = c.call("GET", "/v1/transit/keys/p11kms-plain")
    check(st == 403 and raw == b'{"errors":["permission denied"]}\n', "no token: 403 exact body")
    st, h, raw = c.call("POST", "/v1/transit/encrypt/p11kms-derived", raw=b"{not json",
                        headers=ROOT)
    check(st == 400 and errors_of(raw)[0].startswith("failed to parse JSON input: "),
          "malformed JSON: 400 failed to parse JSON input")
    st, h, raw = c.call("POST", "/v1/transit/encrypt/p11kms-derived", raw=b"[1]", headers=ROOT)
    check(st == 400 and "cannot unmarshal array into Go value" in errors_of(raw)[0],
          "JSON array body: 400 as Go's decoder words it")
    st, h, raw = c.call("GET", "/v1/transit/encrypt/p11kms-derived", headers=ROOT)
    check(st == 405 and errors_of(raw) == ["1 error occurred:\n\t* unsupported operation\n\n"],
          "GET on encrypt: 405 unsupported operation")
    st, h, raw = c.call("POST", "/v1/transit/frobnicate/x", {}, ROOT)
    check(st == 404 and errors_of(raw) == ["1 error occurred:\n\t* unsupported path\n\n"],
          "unknown transit path: 404 unsupported path")
    st, h, raw = c.call("PUT", "/v1/transit/encrypt/p11kms-derived",
                        {"plaintext": b64(b"w"), "context": b64(b"c")}, ROOT)
    check(st == 200, "PUT is a synonym of POST")
    st, h, raw = c.call("LIST", "/v1/transit/keys", headers=ROOT)
    keys = jbody(raw)["data"]["keys"]
    st2, _, raw2 = c.call("GET", "/v1/transit/keys?list=true", headers=ROOT)
    check(st == 200 and "p11kms-derived" in keys and st2 == 200 and
          jbody(raw2)["data"]["keys"] == keys, "LIST and GET ?list=true list the keys")
    st, h, raw = c.call("HEAD", "/v1/sys/health")
    check(st == 200 and raw == b"" and int(h["Content-Length"]) > 0, "HEAD sys/health")
    st, h, raw = c.call("GET", "/v1/sys/health?activecode=204")
    check(st == 204 and raw == b"" and "Content-Length" not in h,
          "sys/health?activecode=204: 204 without a body")
    st, h, raw = c.call("GET", "/nowhere")
    check(st == 404 and raw == b"404 page not found\n", "outside /v1: Go's plain 404")
    conns = {e["conn"] for e in srv.requests()[-10:]}
    check(len(conns) == 1, "one keep-alive connection for all of the above")
    c.close()


def base64_offsets():
    cases = [("YWJj", b"abc"), ("YQ==", b"a"), ("YWI=", b"ab"), ("YW\nJj", b"abc"), ("", b"")]
    check(all(go_b64decode(s) == out for s, out in cases), "Go base64: valid inputs")
    bad = [("abc", 0), ("abcde", 4), ("ab!d", 2), ("a===", 1), ("ab=", 3), ("ab=c", 2),
           ("YQ==YQ==", 4), ("YWJj=", 4)]
    got = []
    for s, off in bad:
        try:
            go_b64decode(s)
            got.append((s, None))
        except B64Error as e:
            got.append((s, e.offset))
    check(got == bad, "Go base64: error offsets as encoding/base64 reports them (%s)" % got)


def batches(srv):
    c = Conn(srv)
    items = [{"plaintext": b64(b"one"), "context": b64(b"c1"), "reference": "r1"},
             {"plaintext": b64(b"two"), "context": b64(b"c2")}]
    st, _, raw = c.call("POST", "/v1/transit/encrypt/p11kms-derived", {"batch_input": items},
                        ROOT)
    res = jbody(raw)["data"]["batch_results"]
    check(st == 200 and [r["reference"] for r in res] == ["r1", ""] and
          all(r["key_version"] == 1 for r in res), "batch encrypt: results in order")
    dec = [{"ciphertext": res[0]["ciphertext"], "context": b64(b"c1")},
           {"ciphertext": res[1]["ciphertext"], "context": b64(b"bad")}]
    st, _, raw = c.call("POST", "/v1/transit/decrypt/p11kms-derived", {"batch_input": dec},
                        ROOT)
    res = jbody(raw)["data"]["batch_results"]
    check(st == 400 and res[0]["plaintext"] == b64(b"one") and
          res[1]["error"] == "cipher: message authentication failed",
          "batch decrypt with a failed item: 400 with the full envelope")
    st, _, raw = c.call("POST", "/v1/transit/decrypt/p11kms-derived",
                        {"batch_input": dec, "partial_failure_response_code": 207}, ROOT)
    check(st == 207, "partial_failure_response_code 207")
    st, _, raw = c.call("POST", "/v1/transit/encrypt/p11kms-derived", {"batch_input": [
        {"plaintext": b64(b"x"), "context": b64(b"c")}, {"plaintext": b64(b"y")}]}, ROOT)
    check(st == 400 and errors_of(raw) == ["context should be set either in all the request "
                                           "blocks or in none"], "batch: context in all or none")
    c.close()


def tls(srv):
    ctx = ssl.create_default_context(cafile=srv.tls_file("ca.pem"))
    c = Conn(srv, ctx, vaultsrv.SERVER_NAME)
    st, _, _ = c.call("GET", "/v1/sys/seal-status")
    check(st == 200, "TLS with server name vault.p11kms.test (VAULT_TLS_SERVER_NAME)")
    c.close()
    try:
        Conn(srv, ctx, "wrong.p11kms.test").call("GET", "/v1/sys/seal-status")
        ok = False
    except ssl.SSLCertVerificationError:
        ok = True
    check(ok, "TLS with a server name the certificate lacks: verification fails")
    ctx.load_cert_chain(srv.tls_file("client.pem"), srv.tls_file("client-key.pem"))
    c = Conn(srv, ctx)
    st, _, raw = c.call("POST", "/v1/auth/cert/login", {})
    token = jbody(raw)["auth"]["client_token"]
    st2, _, raw2 = c.call("GET", "/v1/auth/token/lookup-self", headers={"X-Vault-Token": token})
    check(st == 200 and st2 == 200 and jbody(raw2)["data"]["path"] == "auth/cert/login",
          "cert login and a call with its token on the same TLS connection")
    c.close()
    s = socket.create_connection(("127.0.0.1", srv.tls_port), 10)
    s.sendall(b"GET /v1/sys/health HTTP/1.1\r\nHost: x\r\n\r\n")
    data = s.recv(100)
    s.close()
    check(not data.startswith(b"HTTP/1.1 200"), "plain HTTP to the TLS port gets no answer")


def faults(srv):
    for kind in ("reset", "drop", "truncated"):
        srv.fault("decrypt", kind)
        c = Conn(srv)
        try:
            st, h, raw = c.call("POST", "/v1/transit/decrypt/p11kms-plain",
                                {"ciphertext": "vault:v1:AAAA"}, ROOT)
            outcome = "answered %d, %d of %s bytes" % (st, len(raw), h["Content-Length"])
            if kind == "truncated" and len(raw) < int(h["Content-Length"]):
                outcome = "truncated"
        except http.client.IncompleteRead:
            outcome = "truncated"
        except http.client.RemoteDisconnected:     # a ConnectionResetError subclass: first
            outcome = "drop"
        except ConnectionResetError:
            outcome = "reset"
        c.close()
        check(outcome == kind, "%s fault at the socket (%s)" % (kind, outcome))
    srv.fault("encrypt", "garbage", status=500)
    st, h, raw = Conn(srv).call("POST", "/v1/transit/encrypt/p11kms-plain",
                                {"plaintext": ""}, ROOT)
    check(st == 500 and h["Content-Type"] == "application/json" and raw.startswith(b"\x00"),
          "garbage with a chosen status")
    e = [x for x in srv.requests("decrypt") if x["fault"]]
    check([x["fault"] for x in e[-3:]] == ["reset", "drop", "truncated"] and
          e[-1]["status"] == 400 and e[-2]["status"] == 0, "faults in the request log")


def request_log(srv):
    c = Conn(srv)
    secret_pt = b64(b"very secret plaintext")
    c.call("POST", "/v1/transit/encrypt/p11kms-derived",
           {"plaintext": secret_pt, "context": b64(b"logged ctx")},
           {"X-Vault-Token": vaultsrv.APP_TOKEN, "X-Vault-Request": "true",
            "X-Vault-Namespace": "", "User-Agent": "p11kms-wire/1"})
    e = srv.requests("encrypt")[-1]
    dump = json.dumps(srv.requests()) + srv.log()
    check(e["context"] == b64(b"logged ctx") and e["fields"] == ["context", "plaintext"] and
          e["x_vault_request"] == "true" and e["user_agent"] == "p11kms-wire/1" and
          e["key_version"] == 1 and e["request_id"], "request log entry: what a test asserts")
    check(secret_pt not in dump and vaultsrv.APP_TOKEN not in dump and
          vaultsrv.ROOT_TOKEN not in dump, "no plaintext and no token in the log or request log")
    c.close()


def control(srv):
    bad = [("POST", "/faults", {"op": "nope", "kind": "http500"}),
           ("POST", "/faults", {"op": "encrypt", "kind": "nope"}),
           ("POST", "/faults", {"op": "encrypt", "kind": "delay"}),
           ("POST", "/config", {"associated_data": "maybe"}),
           ("POST", "/config", {"nope": 1}),
           ("POST", "/keys", {"name": "p11kms-derived"}),
           ("POST", "/tokens", {"namespace": "no-such-ns"})]
    refused = 0
    for method, path, body in bad:
        try:
            srv.ctl(method, path, body)
        except vaultsrv.ControlError:
            refused += 1
    check(refused == len(bad), "control API refuses bad input (%d/%d)" % (refused, len(bad)))
    srv.ctl("POST", "/namespaces", {"path": "p11kms-ns/extra"})
    srv.ctl("POST", "/mounts", {"namespace": "p11kms-ns/extra", "path": "kms/transit"})
    srv.ctl("POST", "/keys", {"namespace": "p11kms-ns/extra", "mount": "kms/transit",
                              "name": "deep", "versions": 3, "min_decryption_version": 2})
    st, _, raw = Conn(srv).call("GET", "/v1/p11kms-ns/extra/kms/transit/keys/deep",
                                headers=ROOT)
    d = jbody(raw)["data"]
    check(st == 200 and d["latest_version"] == 3 and sorted(d["keys"]) == ["2", "3"],
          "namespace, nested mount and key made through the control API")
    srv.ctl("POST", "/policies", {"name": "p11kms-app", "rules": [
        {"path": "transit/encrypt/*", "capabilities": ["update"]}]})
    st, _, _ = Conn(srv).call("POST", "/v1/transit/decrypt/p11kms-plain",
                              {"ciphertext": "vault:v1:AAAA"},
                              {"X-Vault-Token": vaultsrv.APP_TOKEN})
    check(st == 403, "policy replaced through the control API")
    srv.reset(state=True)
    st, _, _ = Conn(srv).call("POST", "/v1/transit/decrypt/p11kms-plain",
                              {"ciphertext": "vault:v1:AAAA"},
                              {"X-Vault-Token": vaultsrv.APP_TOKEN})
    check(st == 400, "reset with state restores the preloaded policies")


def restart():
    with vaultsrv.VaultServer() as first:
        state = first.state_dir
        c = Conn(first)
        c.call("POST", "/v1/transit/keys/survivor", {"derived": True}, ROOT)
        _, _, raw = c.call("POST", "/v1/transit/encrypt/survivor",
                           {"plaintext": b64(b"kept"), "context": b64(b"c")}, ROOT)
        ct = jbody(raw)["data"]["ciphertext"]
        _, _, raw = c.call("POST", "/v1/transit/encrypt/p11kms-derived",
                           {"plaintext": b64(b"fixed"), "context": b64(b"c")}, ROOT)
        ct_fixed = jbody(raw)["data"]["ciphertext"]
        c.close()
        with open(first.tls_file("ca.pem"), "rb") as f:
            ca = f.read()
        first.stop(keep_log=True)
        second = vaultsrv.VaultServer(state_dir=state).start()
        try:
            c = Conn(second)
            _, _, raw = c.call("POST", "/v1/transit/decrypt/survivor",
                               {"ciphertext": ct, "context": b64(b"c")}, ROOT)
            _, _, raw2 = c.call("POST", "/v1/transit/decrypt/p11kms-derived",
                                {"ciphertext": ct_fixed, "context": b64(b"c")}, ROOT)
            with open(second.tls_file("ca.pem"), "rb") as f:
                same_ca = f.read() == ca
            check(jbody(raw)["data"]["plaintext"] == b64(b"kept") and
                  jbody(raw2)["data"]["plaintext"] == b64(b"fixed") and same_ca,
                  "restart on the same state dir: keys and the CA survive")
            c.close()
        finally:
            second.stop()
            first.state_dir = state


def main():
    base64_offsets()
    with vaultsrv.VaultServer() as srv:
        wire_format(srv)
        batches(srv)
        tls(srv)
        faults(srv)
        request_log(srv)
        control(srv)
    restart()
    print("1..%d" % n)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
