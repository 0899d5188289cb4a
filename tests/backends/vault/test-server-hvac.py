# test-server-hvac.py - hvac (Debian python3-hvac, an independent Vault client) against the
# loopback Vault server: transit (keys, versions, rewrap, datakey, associated_data), mounts,
# namespaces, tokens and policies - the answers a real Vault gives. Auth methods, TLS, sealed
# mode and faults are in test-server-hvac-auth.py.
"""hvac fidelity test of tests/servers/vault_server.py (transit side); 77 without hvac."""

import base64
import hashlib
import os
import sys
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from hvac_common import (AUTH_FAILED, ERR_TOO_OLD, MISSING_CONTEXT, ENVELOPE, AESGCM, HKDF,  # noqa
                         b64, check, client, fails, finish, hashes, hvac, hx, requests,
                         vaultsrv)


def transit_basics(srv):
    c = client(srv)
    t = c.secrets.transit
    r = t.read_key("p11kms-derived")
    d = r["data"]
    check(list(r) == ENVELOPE and str(uuid.UUID(r["request_id"])) == r["request_id"] and
          r["lease_id"] == "" and r["renewable"] is False and r["lease_duration"] == 0 and
          r["wrap_info"] is None and r["warnings"] is None and r["auth"] is None and
          r["mount_type"] == "transit", "response envelope has Vault's fields and types")
    check(d["derived"] is True and d["type"] == "aes256-gcm96" and d["latest_version"] == 1 and
          d["min_decryption_version"] == 1 and d["min_encryption_version"] == 0 and
          list(d["keys"]) == ["1"] and isinstance(d["keys"]["1"], int) and
          d["supports_encryption"] and d["supports_decryption"] and
          d["supports_derivation"] and not d["supports_signing"] and
          d["kdf"] == "hkdf_sha256", "read key: derived aes256-gcm96 key, version map, flags")
    check(t.read_key("p11kms-plain")["data"]["derived"] is False and
          "kdf" not in t.read_key("p11kms-plain")["data"], "read key: p11kms-plain not derived")
    check(fails(hx.InvalidPath, None, t.read_key, "no-such-key"), "read unknown key: 404")

    pt = bytes(range(256)) * 2
    ctx = b"p11kms-context\x00\x01"
    r = t.encrypt_data("p11kms-derived", b64(pt), context=b64(ctx))
    ct = r["data"]["ciphertext"]
    check(ct.startswith("vault:v1:") and r["data"]["key_version"] == 1,
          "encrypt derived: vault:v1: ciphertext and key_version 1")
    check(base64.b64decode(t.decrypt_data("p11kms-derived", ct, context=b64(ctx))
                           ["data"]["plaintext"]) == pt, "decrypt with the same context")
    # The ciphertext is HKDF-SHA256(version key, info=context) + AES-256-GCM, nonce first, as
    # keysutil builds it: open it here with the preloaded key's secret.
    secret = hashlib.sha256(b"p11kms vault test key||transit|p11kms-derived|1").digest()
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=ctx).derive(secret)
    raw = base64.b64decode(ct[len("vault:v1:"):])
    check(AESGCM(derived).decrypt(raw[:12], raw[12:], None) == pt,
          "ciphertext = nonce(12) || AES-GCM under HKDF-SHA256(key, info=context)")
    check(fails(hx.InvalidRequest, AUTH_FAILED, t.decrypt_data, "p11kms-derived", ct,
                context=b64(b"other context")), "decrypt with another context: 400 " + AUTH_FAILED)
    check(fails(hx.InvalidRequest, MISSING_CONTEXT, t.decrypt_data, "p11kms-derived", ct),
          "decrypt without context on a derived key: 400 missing 'context'")
    check(fails(hx.InvalidRequest, MISSING_CONTEXT, t.encrypt_data, "p11kms-derived", b64(pt)),
          "encrypt without context on a derived key: 400 missing 'context'")
    empty = t.encrypt_data("p11kms-derived", "", context=b64(ctx))["data"]["ciphertext"]
    check(t.decrypt_data("p11kms-derived", empty, context=b64(ctx))["data"]["plaintext"] == "",
          "empty plaintext round trip")

    # Non-derived keys ignore context: it binds nothing.
    r = t.encrypt_data("p11kms-plain", b64(b"abc"), context=b64(b"ignored"))
    check(t.decrypt_data("p11kms-plain", r["data"]["ciphertext"])["data"]["plaintext"] ==
          b64(b"abc"), "non-derived key: context is ignored (decrypts without it)")

    tampered = ct[:-6] + ("A" if ct[-6] != "A" else "B") + ct[-5:]
    cases = [("nonsense", "invalid ciphertext: no prefix"),
             ("vault:v1", "invalid ciphertext: wrong number of fields"),
             ("vault:vX:AAAA", "invalid ciphertext: version number could not be decoded"),
             ("vault:v9:AAAA", "invalid ciphertext: version is too new"),
             ("vault:v1:***", "invalid ciphertext: could not decode base64"),
             ("vault:v1:AAAA", "invalid ciphertext length"),
             (tampered, AUTH_FAILED)]
    for bad, msg in cases:
        check(fails(hx.InvalidRequest, msg, t.decrypt_data, "p11kms-derived", bad,
                    context=b64(ctx)), "decrypt %r: 400 %s" % (bad[:16], msg))
    check(fails(hx.InvalidRequest, "illegal base64 data at input byte 3", t.encrypt_data,
                "p11kms-derived", "abc!", context=b64(ctx)),
          "plaintext not base64: 400 Go's 'illegal base64 data at input byte N'")
    check(fails(hx.InvalidRequest, "missing ciphertext to decrypt", t.decrypt_data,
                "p11kms-derived", "", context=b64(ctx)), "empty ciphertext: 400")
    check(fails(hx.InvalidRequest, "missing plaintext to encrypt", c.write,
                "transit/encrypt/p11kms-derived", context=b64(ctx)), "no plaintext: 400")
    check(fails(hx.InvalidRequest, "encryption key not found", t.decrypt_data, "no-such-key",
                ct), "decrypt under an unknown key: 400 encryption key not found")
    check(fails(hx.InvalidRequest, "requested version for encryption is higher than the latest "
                "key version", t.encrypt_data, "p11kms-derived", b64(pt), context=b64(ctx),
                key_version=7), "encrypt with key_version > latest: 400")
    check(fails(hx.Forbidden, None, client(srv, vaultsrv.APP_TOKEN).secrets.transit
                .encrypt_data, "hvac-upserted", b64(pt), context=b64(ctx)),
          "encrypt to a missing key without create capability: 403")
    t.encrypt_data("hvac-upserted", b64(pt), context=b64(ctx))
    check(t.read_key("hvac-upserted")["data"]["derived"] is True,
          "root encrypt to a missing key creates it, derived because context was given")
    r = c.write("transit/encrypt/p11kms-derived", plaintext=b64(b"x"), context=b64(ctx),
                bogus="1")
    check(r["warnings"] == ["Endpoint ignored these unrecognized parameters: [bogus]"],
          "unknown request field: warning as Vault 1.10+ gives it")


def associated_data(srv):
    c = client(srv)
    t = c.secrets.transit
    ad, other = b64(b"p11kms|aad"), b64(b"p11kms|other")
    r = c.write("transit/encrypt/p11kms-plain", plaintext=b64(b"secret"), associated_data=ad)
    ct = r["data"]["ciphertext"]
    check(r["warnings"] is None, "associated_data accepted on a non-derived key (Vault 1.13+)")
    check(c.write("transit/decrypt/p11kms-plain", ciphertext=ct, associated_data=ad)
          ["data"]["plaintext"] == b64(b"secret"), "decrypt with the same associated_data")
    check(fails(hx.InvalidRequest, AUTH_FAILED, c.write, "transit/decrypt/p11kms-plain",
                ciphertext=ct, associated_data=other), "decrypt with other associated_data: 400")
    check(fails(hx.InvalidRequest, AUTH_FAILED, t.decrypt_data, "p11kms-plain", ct),
          "decrypt without associated_data: 400")
    ctx = b64(b"ctx")
    ct2 = c.write("transit/encrypt/p11kms-derived", plaintext=b64(b"s"), context=ctx,
                  associated_data=ad)["data"]["ciphertext"]
    check(fails(hx.InvalidRequest, AUTH_FAILED, t.decrypt_data, "p11kms-derived", ct2,
                context=ctx), "derived key + associated_data: both must match")
    check(fails(hx.InternalServerError, None, c.write, "transit/encrypt/p11kms-plain",
                plaintext=b64(b"s"), associated_data="not base64!"),
          "associated_data not base64: 500 (Vault decodes it as an internal error)")
    check(fails(hx.InvalidRequest, AUTH_FAILED, c.write, "transit/rewrap/p11kms-plain",
                ciphertext=ct, associated_data=ad),
          "rewrap cannot open an associated_data ciphertext (rewrap has no associated_data)")

    srv.config(associated_data="warn", version="1.12.0")
    r = c.write("transit/encrypt/p11kms-plain", plaintext=b64(b"secret"), associated_data=ad)
    check(r["warnings"] == ["Endpoint ignored these unrecognized parameters: "
                            "[associated_data]"],
          "Vault 1.10-1.12 mode: associated_data ignored with a warning")
    check(c.write("transit/decrypt/p11kms-plain", ciphertext=r["data"]["ciphertext"],
                  associated_data=other)["data"]["plaintext"] == b64(b"secret"),
          "... and the ciphertext opens with any associated_data: nothing was bound")
    check(c.sys.read_health_status(method="GET")["version"] == "1.12.0",
          "sys/health reports the emulated version")
    srv.config(associated_data="silent")
    r = c.write("transit/encrypt/p11kms-plain", plaintext=b64(b"secret"), associated_data=ad)
    check(r["warnings"] is None and t.decrypt_data("p11kms-plain", r["data"]["ciphertext"])
          ["data"]["plaintext"] == b64(b"secret"),
          "Vault <= 1.9 mode: associated_data ignored silently")
    srv.config(associated_data="supported", key_version_in_response=False,
               version="1.17.6+ent")
    r = t.encrypt_data("p11kms-plain", b64(b"s"))
    check("key_version" not in r["data"], "key_version omitted (Vault < 1.5 mode)")
    srv.config(key_version_in_response=True)


def versions(srv):
    c = client(srv)
    t = c.secrets.transit
    r = t.create_key("hvac-rot", derived=True)
    check(isinstance(r, dict) and r["data"]["derived"] is True and r["data"]["latest_version"]
          == 1, "create key: 200 with the key description")
    ctx = b64(b"rot-ctx")
    v1 = t.encrypt_data("hvac-rot", b64(b"data"), context=ctx)["data"]["ciphertext"]
    r = t.rotate_key("hvac-rot")
    check(r["data"]["latest_version"] == 2 and sorted(r["data"]["keys"]) == ["1", "2"],
          "rotate: latest_version 2")
    v2 = t.encrypt_data("hvac-rot", b64(b"data"), context=ctx)
    check(v2["data"]["ciphertext"].startswith("vault:v2:") and v2["data"]["key_version"] == 2,
          "encrypt after rotate uses version 2")
    check(t.decrypt_data("hvac-rot", v1, context=ctx)["data"]["plaintext"] == b64(b"data"),
          "version 1 ciphertext still decrypts")
    rw = t.rewrap_data("hvac-rot", v1, context=ctx)["data"]
    check(rw["ciphertext"].startswith("vault:v2:") and rw["key_version"] == 2 and
          t.decrypt_data("hvac-rot", rw["ciphertext"], context=ctx)["data"]["plaintext"] ==
          b64(b"data"), "rewrap moves v1 to v2 without returning the plaintext")
    check("plaintext" not in rw, "rewrap answer has no plaintext")
    check(fails(hx.InvalidRequest, AUTH_FAILED, t.rewrap_data, "hvac-rot", v1,
                context=b64(b"other")), "rewrap with a wrong context: 400")
    rw1 = t.rewrap_data("hvac-rot", v2["data"]["ciphertext"], context=ctx, key_version=1)
    check(rw1["data"]["ciphertext"].startswith("vault:v1:"), "rewrap with key_version 1")
    r = t.update_key_configuration("hvac-rot", min_decryption_version=2)
    check(r["data"]["min_decryption_version"] == 2 and list(r["data"]["keys"]) == ["2"],
          "config min_decryption_version 2: version 1 leaves the keys map")
    check(fails(hx.InvalidRequest, ERR_TOO_OLD, t.decrypt_data, "hvac-rot", v1, context=ctx),
          "decrypt v1 below min_decryption_version: 400 too old")
    check(fails(hx.InvalidRequest, ERR_TOO_OLD, t.rewrap_data, "hvac-rot", v1, context=ctx),
          "rewrap v1 below min_decryption_version: 400 too old")
    check(fails(hx.InvalidRequest, "no such key version", t.encrypt_data, "hvac-rot",
                b64(b"d"), context=ctx, key_version=1), "encrypt with an archived version: 400")
    check(fails(hx.InvalidRequest, "cannot set min decryption version of 3, latest key version "
                "is 2", t.update_key_configuration, "hvac-rot", min_decryption_version=3),
          "min_decryption_version above latest: 400")
    t.update_key_configuration("hvac-rot", min_encryption_version=2)
    check(fails(hx.InvalidRequest, "requested version for encryption is less than the minimum "
                "encryption key version", t.encrypt_data, "hvac-rot", b64(b"d"), context=ctx,
                key_version=1), "encrypt below min_encryption_version: 400")
    check(fails(hx.InvalidRequest, "no existing key named nope could be found",
                t.update_key_configuration, "nope", min_decryption_version=1),
          "config of an unknown key: 400")
    old = srv.ctl("POST", "/ciphertext", {"name": "p11kms-rotated", "version": 1,
                                          "plaintext": b64(b"x"), "context": ctx})
    check(fails(hx.InvalidRequest, ERR_TOO_OLD, t.decrypt_data, "p11kms-rotated",
                old["ciphertext"], context=ctx), "preloaded p11kms-rotated refuses version 1")
    d = t.read_key("p11kms-rotated")["data"]
    check(d["latest_version"] == 3 and d["min_decryption_version"] == 2 and
          sorted(d["keys"]) == ["2", "3"], "p11kms-rotated: versions 2..3 listed")


def datakeys(srv):
    t = client(srv).secrets.transit
    ctx = b64(b"dk")
    r = t.generate_data_key("p11kms-derived", "plaintext", context=ctx)["data"]
    plain = base64.b64decode(r["plaintext"])
    check(len(plain) == 32 and r["key_version"] == 1 and
          t.decrypt_data("p11kms-derived", r["ciphertext"], context=ctx)["data"]["plaintext"]
          == r["plaintext"], "datakey/plaintext: 32 bytes, ciphertext opens to them")
    r = t.generate_data_key("p11kms-derived", "wrapped", context=ctx, bits=512)["data"]
    check("plaintext" not in r and len(base64.b64decode(t.decrypt_data(
        "p11kms-derived", r["ciphertext"], context=ctx)["data"]["plaintext"])) == 64,
        "datakey/wrapped bits=512: no plaintext, 64 bytes inside")
    r = t.generate_data_key("p11kms-plain", "plaintext", bits=128)["data"]
    check(len(base64.b64decode(r["plaintext"])) == 16, "datakey bits=128")
    c = client(srv)
    check(fails(hx.InvalidRequest, "Invalid path, must be 'plaintext' or 'wrapped'", c.write,
                "transit/datakey/bogus/p11kms-plain"), "datakey/bogus: 400")
    check(fails(hx.InvalidRequest, "invalid bit length", c.write,
                "transit/datakey/plaintext/p11kms-plain", bits=100), "bits=100: 400")
    check(fails(hx.InvalidRequest, MISSING_CONTEXT, t.generate_data_key, "p11kms-derived",
                "plaintext"), "datakey on a derived key without context: 400")


def mounts_and_namespaces(srv):
    t = client(srv).secrets.transit
    ctx = b64(b"m")
    ct = t.encrypt_data("p11kms-derived", b64(b"m"), context=ctx,
                        mount_point="p11kms-transit")["data"]["ciphertext"]
    check(t.decrypt_data("p11kms-derived", ct, context=ctx, mount_point="p11kms-transit")
          ["data"]["plaintext"] == b64(b"m"), "custom mount p11kms-transit round trip")
    check(fails(hx.InvalidRequest, AUTH_FAILED, t.decrypt_data, "p11kms-derived", ct,
                context=ctx), "same key name under another mount is another key")
    ns = client(srv, vaultsrv.NS_TOKEN, namespace=vaultsrv.NAMESPACE).secrets.transit
    ct = ns.encrypt_data("p11kms-derived", b64(b"n"), context=ctx)["data"]["ciphertext"]
    e = srv.requests("encrypt")[-1]
    check(e["x_vault_namespace"] == vaultsrv.NAMESPACE and e["namespace"] == vaultsrv.NAMESPACE,
          "X-Vault-Namespace sent by hvac and resolved")
    prefixed = client(srv, vaultsrv.NS_TOKEN).secrets.transit
    check(prefixed.decrypt_data("p11kms-derived", ct, context=ctx,
                                mount_point=vaultsrv.NAMESPACE + "/transit")
          ["data"]["plaintext"] == b64(b"n"), "namespace as a path prefix = the header form")
    check(fails(hx.InvalidRequest, AUTH_FAILED, t.decrypt_data, "p11kms-derived", ct,
                context=ctx), "a namespace's key is not the root namespace's key")
    child = client(srv, vaultsrv.NS_TOKEN, namespace=vaultsrv.CHILD_NAMESPACE).secrets.transit
    ct = child.encrypt_data("p11kms-derived", b64(b"c"), context=ctx)["data"]["ciphertext"]
    check(ns.decrypt_data("p11kms-derived", ct, context=ctx, mount_point="team/transit")
          ["data"]["plaintext"] == b64(b"c"), "nested namespace: header + path prefix combine")
    check(fails(hx.Forbidden, "1 error occurred:\n\t* permission denied\n\n",
                client(srv, vaultsrv.NS_TOKEN).secrets.transit.encrypt_data,
                "p11kms-derived", b64(b"x"), context=ctx),
          "namespace token outside its namespace: 403")
    check(client(srv).read("nothere/foo") is None and
          srv.requests()[-1]["error"] == 'no handler for route "nothere/foo". route entry '
          'not found.', "unmounted path: 404 no handler for route (hvac read() gives None)")


def tokens(srv):
    ctx = b64(b"t")
    app = client(srv, vaultsrv.APP_TOKEN).secrets.transit
    ct = app.encrypt_data("p11kms-derived", b64(b"a"), context=ctx)["data"]["ciphertext"]
    check(app.decrypt_data("p11kms-derived", ct, context=ctx)["data"]["plaintext"] == b64(b"a"),
          "app token: encrypt and decrypt")
    enc = client(srv, vaultsrv.ENCRYPT_TOKEN).secrets.transit
    dec = client(srv, vaultsrv.DECRYPT_TOKEN).secrets.transit
    denied = "1 error occurred:\n\t* permission denied\n\n"
    check(enc.encrypt_data("p11kms-derived", b64(b"a"), context=ctx) and
          fails(hx.Forbidden, denied, enc.decrypt_data, "p11kms-derived", ct, context=ctx),
          "encrypt-only policy: encrypt yes, decrypt 403")
    check(dec.decrypt_data("p11kms-derived", ct, context=ctx) and
          fails(hx.Forbidden, denied, dec.encrypt_data, "p11kms-derived", b64(b"a"),
                context=ctx), "decrypt-only policy: decrypt yes, encrypt 403")
    ct = app.encrypt_data("p11kms-encrypt-only", b64(b"a"), context=ctx)["data"]["ciphertext"]
    check(fails(hx.Forbidden, denied, app.decrypt_data, "p11kms-encrypt-only", ct, context=ctx),
          "key p11kms-encrypt-only: the app policy denies decrypt")
    check(fails(hx.Forbidden, "permission denied", hvac.Client(url=srv.addr, token="")
                .secrets.transit.encrypt_data, "p11kms-derived", b64(b"a"), context=ctx),
          "no token: 403 permission denied")
    check(fails(hx.Forbidden, "2 errors occurred:\n\t* permission denied\n\t* invalid token\n\n",
                client(srv, "hvs.bogus").secrets.transit.encrypt_data, "p11kms-derived",
                b64(b"a"), context=ctx), "unknown token: 403 permission denied + invalid token")
    e = srv.requests("encrypt")[-1]
    check(e["token"] and "bogus" not in e["token"] and e["token_source"] == "x-vault-token" and
          e["x_vault_request"] == "true", "request log: token fingerprint only, X-Vault-Request")
    s = requests.Session()
    r = s.post(srv.addr + "/v1/transit/encrypt/p11kms-derived",
               headers={"Authorization": "Bearer " + vaultsrv.APP_TOKEN},
               json={"plaintext": b64(b"b"), "context": ctx})
    check(r.status_code == 200 and srv.requests("encrypt")[-1]["token_source"] == "bearer",
          "Authorization: Bearer token accepted")

    c = client(srv, vaultsrv.APP_TOKEN)
    d = c.auth.token.lookup_self()["data"]
    check(d["id"] == vaultsrv.APP_TOKEN and d["policies"] == ["default", "p11kms-app"] and
          d["renewable"] is True and 0 < d["ttl"] <= 768 * 3600 and d["type"] == "service" and
          d["expire_time"].endswith("Z"), "lookup-self of the app token")
    d = client(srv).auth.token.lookup_self()["data"]
    check(d["policies"] == ["root"] and d["ttl"] == 0 and d["expire_time"] is None and
          d["path"] == "auth/token/root", "lookup-self of the root token")
    check(fails(hx.InvalidRequest, "invalid lease ID", client(srv).auth.token.renew_self),
          "renew-self of the root token: 400 invalid lease ID")
    t = srv.ctl("POST", "/tokens", {"policies": ["p11kms-app"], "ttl": 60,
                                    "explicit_max_ttl": 120})
    r = client(srv, t["token"]).auth.token.renew_self(increment="1h")
    check(r["auth"]["client_token"] == t["token"] and 0 < r["auth"]["lease_duration"] <= 120
          and r["warnings"] and r["warnings"][0].startswith('TTL of "1h0m0s" exceeded the '
                                                           'effective max_ttl of "'),
          "renew-self beyond explicit max TTL: capped, with Vault's warning")
    t = srv.ctl("POST", "/tokens", {"policies": ["p11kms-app"], "ttl": 60})
    r = client(srv, t["token"]).auth.token.renew_self(increment=30)
    check(r["auth"]["lease_duration"] == 30 and r["auth"]["renewable"] is True and
          r["warnings"] is None, "renew-self increment 30 s")
    nr = srv.ctl("POST", "/tokens", {"policies": ["p11kms-app"], "renewable": False})
    check(fails(hx.InvalidRequest, "lease is not renewable",
                client(srv, nr["token"]).auth.token.renew_self), "non-renewable token: 400")
    once = srv.ctl("POST", "/tokens", {"policies": ["p11kms-app"], "num_uses": 2})
    oc = client(srv, once["token"]).secrets.transit
    oc.encrypt_data("p11kms-derived", b64(b"u"), context=ctx)
    oc.encrypt_data("p11kms-derived", b64(b"u"), context=ctx)
    check(fails(hx.Forbidden, None, oc.encrypt_data, "p11kms-derived", b64(b"u"), context=ctx),
          "num_uses 2: the third request is refused")
    rv = srv.ctl("POST", "/tokens", {"policies": ["p11kms-app"]})
    client(srv, rv["token"]).auth.token.revoke_self()
    check(fails(hx.Forbidden, None, client(srv, rv["token"]).auth.token.lookup_self),
          "revoke-self: the token is gone")


def main():
    with vaultsrv.VaultServer() as srv:
        os.environ.update(srv.client_env())
        transit_basics(srv)
        associated_data(srv)
        versions(srv)
        datakeys(srv)
        mounts_and_namespaces(srv)
        tokens(srv)
        rc = finish()
        if rc:
            raise SystemExit(rc)
    return 0


if __name__ == "__main__":
    sys.exit(main())
