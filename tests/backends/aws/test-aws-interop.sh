#!/bin/sh
# test-aws-interop.sh - interop both ways with Debian's AWS CLI against the loopback test server:
# a data key p11kms wrapped is decrypted by `aws kms decrypt` from the envelope's ciphertext,
# and a ciphertext `aws kms encrypt` made is unwrapped by p11kms once placed in an envelope.
AWS_CLI=${AWS_CLI:-/usr/bin/aws}
if [ ! -x "$AWS_CLI" ] || ! "$AWS_CLI" --version 2>&1 | grep -q '^aws-cli/2\.'; then
    echo "# SKIP: AWS CLI v2 not found at $AWS_CLI (Debian: awscli)"
    exit 77
fi
. "$top_srcdir/tests/backends/aws/aws-env.sh"

work=$P11KMS_AWS_STATE_DIR/interop
mkdir -p "$work" || exit 99
py=${PYTHON3:-/usr/bin/python3}
envtool="$py $top_srcdir/tests/backends/aws/test-aws-envelope.py"
p11="${P11KMS_TEST_WRAPPER:-} $top_builddir/tests/backends/aws/test-aws-p11"
n=0
failures=0
check() {
    n=$((n + 1))
    if [ "$2" = yes ]; then echo "ok $n - $1"; else echo "not ok $n - $1"; failures=$((failures + 1)); fi
}
kms() {
    "$AWS_CLI" --endpoint-url "$P11KMS_AWS_ENDPOINT" --output text kms "$@" 2>"$work/err"
}

cat >"$work/p11kms.json" <<JSON
{"tokens": [{"label": "aws", "keys": [
  {"label": "k", "backend": "aws", "key_id": "$P11KMS_AWS_KEY_ARN",
   "endpoint": "$P11KMS_AWS_ENDPOINT"}]}]}
JSON
chmod 600 "$work/p11kms.json"
P11KMS_CONFIG=$work/p11kms.json
export P11KMS_CONFIG
unset KMS_KEY_ID

# p11kms wraps, the AWS CLI decrypts: with the reserved pair p11kms binds (envelope version 2)
hex=$($p11 wrap "$work/env.bin" purpose=interop id=7)
check "p11kms wraps a data key with a context" "$([ ${#hex} -eq 64 ] && echo yes)"
read -r ref version purpose <<EOF2
$($envtool parse "$work/env.bin" "$work/ct.bin")
EOF2
check "the envelope names the key ARN" "$([ "$ref" = "$P11KMS_AWS_KEY_ARN" ] && echo yes)"
check "the envelope is version 2 and says it holds a wrapped key" \
    "$([ "$version" = 2 ] && [ "$purpose" = 1 ] && echo yes)"
got=$(kms decrypt --ciphertext-blob "fileb://$work/ct.bin" --key-id "$ref" \
    --encryption-context id=7,purpose=interop,p11kms:purpose=wrapped-key --query Plaintext |
    base64 -d | od -An -tx1 | tr -d ' \n')
check "aws kms decrypt with the same context and p11kms:purpose=wrapped-key returns the data key" \
    "$([ -n "$got" ] && [ "$got" = "$hex" ] && echo yes)"
if kms decrypt --ciphertext-blob "fileb://$work/ct.bin" --encryption-context id=7,purpose=interop \
        >/dev/null; then r=no; else r=yes; fi
check "without the reserved pair the KMS refuses it" "$r"
if kms decrypt --ciphertext-blob "fileb://$work/ct.bin" \
        --encryption-context id=7,purpose=interop,p11kms:purpose=data >/dev/null; then
    r=no
else
    r=yes
fi
check "as data the KMS refuses it" "$r"
if kms decrypt --ciphertext-blob "fileb://$work/ct.bin" --encryption-context id=8,purpose=interop \
        >/dev/null; then r=no; else r=yes; fi
check "aws kms decrypt with another context fails" "$r"
check "with InvalidCiphertextException" "$(grep -q InvalidCiphertextException "$work/err" && echo yes)"

# the AWS CLI encrypts, p11kms unwraps: a version-1 envelope (the plain context) ...
head -c 32 /dev/urandom >"$work/key.bin"
want=$(od -An -tx1 "$work/key.bin" | tr -d ' \n')
kms encrypt --key-id "$P11KMS_AWS_ALIAS" --plaintext "fileb://$work/key.bin" \
    --encryption-context tenant=t1,purpose=interop --query '[CiphertextBlob,KeyId]' >"$work/enc.txt"
check "aws kms encrypt with a context" "$([ -s "$work/enc.txt" ] && echo yes)"
read -r ct64 keyid <"$work/enc.txt"
printf '%s' "$ct64" | base64 -d >"$work/cli-ct.bin"
$envtool build "$keyid" "$work/cli-ct.bin" "$work/cli-env.bin"
got=$($p11 unwrap "$work/cli-env.bin" purpose=interop tenant=t1)
check "p11kms unwraps it as a version-1 envelope with the same context" \
    "$([ "$got" = "$want" ] && echo yes)"
got=$($p11 unwrap "$work/cli-env.bin" purpose=interop tenant=t2)
check "and refuses another context (CKR_WRAPPED_KEY_INVALID)" "$([ "$got" = 0x110 ] && echo yes)"
$envtool build "$keyid" "$work/cli-ct.bin" "$work/cli-env2.bin" 1
got=$($p11 unwrap "$work/cli-env2.bin" purpose=interop tenant=t1)
check "the same ciphertext labelled version 2 is refused: it lacks the reserved pair" \
    "$([ "$got" = 0x110 ] && echo yes)"
# ... and a version-2 envelope, the reserved pair given to the CLI
kms encrypt --key-id "$P11KMS_AWS_ALIAS" --plaintext "fileb://$work/key.bin" \
    --encryption-context tenant=t1,purpose=interop,p11kms:purpose=wrapped-key \
    --query '[CiphertextBlob,KeyId]' >"$work/enc2.txt"
read -r ct64 keyid <"$work/enc2.txt"
printf '%s' "$ct64" | base64 -d >"$work/cli-ct2.bin"
$envtool build "$keyid" "$work/cli-ct2.bin" "$work/cli-env3.bin" 1
got=$($p11 unwrap "$work/cli-env3.bin" purpose=interop tenant=t1)
check "p11kms unwraps a version-2 envelope the CLI made with p11kms:purpose=wrapped-key" \
    "$([ "$got" = "$want" ] && echo yes)"
$envtool build "$keyid" "$work/cli-ct2.bin" "$work/cli-env4.bin" 2
got=$($p11 unwrap "$work/cli-env4.bin" purpose=interop tenant=t1)
check "labelled data, C_UnwrapKey refuses it (CKR_WRAPPED_KEY_INVALID)" \
    "$([ "$got" = 0x110 ] && echo yes)"

echo "1..$n"
[ "$failures" -eq 0 ]
