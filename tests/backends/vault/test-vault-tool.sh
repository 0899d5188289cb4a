#!/bin/sh
# test-vault-tool.sh - the p11kms tool with KMS_KEY_ID=vault/NAME, VAULT_ADDR and VAULT_TOKEN
# (quick mode, Vault's own setup) against the loopback Vault test server: encrypt/decrypt,
# wrap/unwrap, rewrap after a rotation, the token helper file ~/.vault-token, doctor's report
# and hints, and VAULT_SKIP_VERIFY refused.
. "$top_srcdir/tests/backends/vault/vault-env.sh"
. "$top_srcdir/tests/tool/common.sh"
# common.sh's EXIT trap replaces vault-env.sh's: it stops the server through a hook
cleanup_hooks="p11kms_vault_stop"
export KMS_KEY_ID=vault/p11kms-derived
out=$WORK/out
b64_field() { sed -n "s/^$1=//p" "$2"; }

head -c 200000 /dev/urandom >"$WORK/in" || exit 99
if "$TOOL" encrypt --context app=billing "$WORK/in" "$WORK/enc" 2>"$out.err" &&
    "$TOOL" decrypt "$WORK/enc" "$WORK/dec" 2>>"$out.err" && cmp -s "$WORK/in" "$WORK/dec"; then
    ok "encrypt and decrypt a file with KMS_KEY_ID=vault/p11kms-derived"
else
    not_ok "encrypt and decrypt a file with KMS_KEY_ID=vault/p11kms-derived"
    sed 's/^/# /' "$out.err"
fi
"$TOOL" inspect "$WORK/enc" >"$out" 2>&1
if grep -q "transit/p11kms-derived" "$out"; then
    ok "the file header names the Vault key"
else
    not_ok "the file header names the Vault key"; sed 's/^/# /' "$out"
fi
if "$TOOL" decrypt --context app=other "$WORK/enc" "$WORK/dec2" 2>/dev/null; then
    not_ok "decrypt --context app=other is refused"
else
    ok "decrypt --context app=other is refused"
fi

"$TOOL" wrap --context app=billing >"$WORK/w" 2>"$out.err" || { not_ok "wrap"; sed 's/^/# /' "$out.err"; }
dk=$(b64_field data_key "$WORK/w")
blob=$(b64_field wrapped_key "$WORK/w")
[ -n "$dk" ] && [ -n "$blob" ] && ok "wrap prints data_key and wrapped_key" ||
    not_ok "wrap prints data_key and wrapped_key"
got=$("$TOOL" unwrap --context app=billing "$blob" 2>"$out.err")
[ "$got" = "$dk" ] && ok "unwrap gives the data key back" || not_ok "unwrap gives the data key back"
if "$TOOL" unwrap --context app=other "$blob" >/dev/null 2>&1; then
    not_ok "unwrap with another context is refused (Vault binds it)"
else
    ok "unwrap with another context is refused (Vault binds it)"
fi

curl -sS --noproxy '*' -f -X POST -H "X-Vault-Token: $P11KMS_VAULT_ROOT_TOKEN" \
    "$P11KMS_VAULT_ADDR/v1/transit/keys/p11kms-derived/rotate" >/dev/null ||
    { echo "Bail out! cannot rotate the key"; exit 99; }
vault_requests() { # OP: how many OP requests the server has answered
    p11kms_vault_ctl GET /counters | "$PYTHON3" -c \
        'import json,sys; print(json.load(sys.stdin)["requests"].get(sys.argv[1], 0))' "$1"
}
rewraps0=$(vault_requests rewrap) && decrypts0=$(vault_requests decrypt) ||
    { echo "Bail out! cannot read the server's counters"; exit 99; }
new=$("$TOOL" rewrap --context app=billing "$blob" 2>"$out.err")
if [ "$(vault_requests rewrap)" = $((rewraps0 + 1)) ] &&
    [ "$(vault_requests decrypt)" = "$decrypts0" ]; then
    ok "rewrap is one transit/rewrap call: the data key never leaves Vault (no decrypt)"
else
    not_ok "rewrap is one transit/rewrap call: the data key never leaves Vault (no decrypt)"
    echo "# rewrap $rewraps0 -> $(vault_requests rewrap), decrypt $decrypts0 -> $(vault_requests decrypt)"
fi
if [ -n "$new" ] && "$TOOL" inspect --blob "$new" 2>&1 | grep -q "version 2" &&
    "$TOOL" inspect --blob "$blob" 2>&1 | grep -q "version 1"; then
    ok "rewrap after a rotation: the blob moves from key version 1 to 2"
else
    not_ok "rewrap after a rotation: the blob moves from key version 1 to 2"
    sed 's/^/# /' "$out.err"; "$TOOL" inspect --blob "$new" 2>&1 | sed 's/^/# /'
fi
got=$("$TOOL" unwrap --context app=billing "$new" 2>/dev/null)
[ "$got" = "$dk" ] && ok "the rewrapped blob gives the same data key" ||
    not_ok "the rewrapped blob gives the same data key"

# The token helper file, when VAULT_TOKEN is not set (Vault's clients' order).
mkdir -p "$WORK/home" && printf '%s\n' "$P11KMS_VAULT_APP_TOKEN" >"$WORK/home/.vault-token" &&
    chmod 600 "$WORK/home/.vault-token"
got=$(env -u VAULT_TOKEN HOME="$WORK/home" "$TOOL" unwrap --context app=billing "$new" 2>"$out.err")
[ "$got" = "$dk" ] && ok "~/.vault-token is used without VAULT_TOKEN" ||
    { not_ok "~/.vault-token is used without VAULT_TOKEN"; sed 's/^/# /' "$out.err"; }
env -u VAULT_TOKEN HOME="$WORK/home" "$TOOL" doctor >"$out" 2>&1
grep -q "Vault token from $WORK/home/.vault-token" "$out" &&
    ok "doctor names the token file" || { not_ok "doctor names the token file"; sed 's/^/# /' "$out"; }
mkdir -p "$WORK/empty"
if env -u VAULT_TOKEN HOME="$WORK/empty" "$TOOL" doctor >"$out" 2>&1; then
    not_ok "doctor fails without any Vault token"
else
    grep -q "no Vault token: set VAULT_TOKEN" "$out" && ok "doctor fails without any Vault token, saying how to give one" ||
        { not_ok "doctor says how to give a token"; sed 's/^/# /' "$out"; }
fi

# TLS is always verified.
if VAULT_SKIP_VERIFY=true P11KMS_LOG=info "$TOOL" wrap >"$out" 2>&1; then
    not_ok "VAULT_SKIP_VERIFY=true is refused"
else
    grep -q "VAULT_SKIP_VERIFY=true is refused" "$out" && ok "VAULT_SKIP_VERIFY=true is refused, saying so" ||
        { not_ok "VAULT_SKIP_VERIFY is refused, saying so"; sed 's/^/# /' "$out"; }
fi
VAULT_SKIP_VERIFY=false "$TOOL" wrap >/dev/null 2>&1 && ok "VAULT_SKIP_VERIFY=false is fine" ||
    not_ok "VAULT_SKIP_VERIFY=false is fine"
# https with the test CA through VAULT_CACERT, and without it the certificate is refused.
got=$(VAULT_ADDR=$P11KMS_VAULT_TLS_ADDR VAULT_CACERT=$P11KMS_VAULT_CACERT \
    "$TOOL" unwrap --context app=billing "$new" 2>"$out.err")
[ "$got" = "$dk" ] && ok "https with VAULT_CACERT" || { not_ok "https with VAULT_CACERT"; sed 's/^/# /' "$out.err"; }
if VAULT_ADDR=$P11KMS_VAULT_TLS_ADDR VAULT_CACERT=$P11KMS_VAULT_OTHER_CA \
    "$TOOL" unwrap --context app=billing "$new" >/dev/null 2>&1; then
    not_ok "a server certificate from a CA not trusted is refused"
else
    ok "a server certificate from a CA not trusted is refused"
fi
got=$(VAULT_ADDR=$P11KMS_VAULT_TLS_ADDR VAULT_CAPATH=$P11KMS_VAULT_CAPATH \
    VAULT_TLS_SERVER_NAME=$P11KMS_VAULT_SERVER_NAME \
    "$TOOL" unwrap --context app=billing "$new" 2>"$out.err")
[ "$got" = "$dk" ] && ok "https with VAULT_CAPATH and VAULT_TLS_SERVER_NAME" ||
    { not_ok "https with VAULT_CAPATH and VAULT_TLS_SERVER_NAME"; sed 's/^/# /' "$out.err"; }
if VAULT_ADDR=$P11KMS_VAULT_TLS_ADDR VAULT_CACERT=$P11KMS_VAULT_CACERT \
    VAULT_TLS_SERVER_NAME=other.p11kms.test \
    "$TOOL" unwrap --context app=billing "$new" >/dev/null 2>&1; then
    not_ok "a server name the certificate does not carry is refused"
else
    ok "a server name the certificate does not carry is refused"
fi
if VAULT_ADDR=http://192.0.2.1:8200 "$TOOL" wrap >"$out" 2>&1; then
    not_ok "plain http to a host that is not loopback is refused"
else
    ok "plain http to a host that is not loopback is refused"
fi
finish
