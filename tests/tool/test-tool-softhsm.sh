#!/bin/bash
# test-tool-softhsm.sh - the tool with another PKCS#11 module: SoftHSM2 and a non-extractable
# AES key that may wrap. Files round-trip (CKM_AES_KEY_WRAP_PAD, the context bound by the file's
# AEAD), the login PIN comes from --pin-file or the URI, and a context is refused for blobs.
. "$top_srcdir/tests/tool/common.sh"

SOFTHSM=""
for lib in /usr/lib/softhsm/libsofthsm2.so /usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so \
    /usr/local/lib/softhsm/libsofthsm2.so; do
    [ -f "$lib" ] && SOFTHSM="$lib" && break
done
if [ -z "$SOFTHSM" ] || ! command -v softhsm2-util >/dev/null || ! command -v pkcs11-tool >/dev/null; then
    echo "SKIP: SoftHSM2 or pkcs11-tool not installed"
    exit 77
fi
export SOFTHSM2_CONF="$WORK/softhsm2.conf"
mkdir "$WORK/tokens"
printf 'directories.tokendir = %s\nobjectstore.backend = file\n' "$WORK/tokens" >"$SOFTHSM2_CONF"
softhsm2-util --init-token --free --label tooltest --pin 1234 --so-pin 5678 >/dev/null || exit 99
pkcs11-tool --module "$SOFTHSM" --token-label tooltest --login --pin 1234 --keygen \
    --key-type AES:32 --label wrapkey --id 01 --usage-wrap >/dev/null 2>&1 || exit 99
printf '1234\n' >"$WORK/pin"
export P11KMS_MODULE="$SOFTHSM"

head -c 100000 /dev/urandom >"$WORK/plain"
refuse "without a PIN nothing can be done" "$TOOL" encrypt "$WORK/plain" "$WORK/x.enc"
said "login required"
check "encrypt with SoftHSM" "$TOOL" encrypt --pin-file "$WORK/pin" --context app=hsm "$WORK/plain" "$WORK/plain.enc"
check "  ...the header says AES key wrap" sh -c "'$TOOL' inspect '$WORK/plain.enc' | grep -q 'CKM_AES_KEY_WRAP_PAD'"
check "decrypt with SoftHSM" sh -c "'$TOOL' decrypt --pin-file '$WORK/pin' '$WORK/plain.enc' - | cmp - '$WORK/plain'"
check "PIN from the key URI" sh -c "'$TOOL' decrypt --key 'pkcs11:token=tooltest;object=wrapkey?pin-value=1234' '$WORK/plain.enc' - | cmp - '$WORK/plain'"
check "PIN from the environment" sh -c "P11KMS_PIN=1234 '$TOOL' decrypt '$WORK/plain.enc' - | cmp - '$WORK/plain'"
refuse "a wrong PIN" "$TOOL" decrypt --key 'pkcs11:token=tooltest;object=wrapkey?pin-value=0000' "$WORK/plain.enc" "$WORK/out"
said "CKR_PIN_INCORRECT"
refuse "a required context the file lacks" env P11KMS_PIN=1234 "$TOOL" decrypt --context app=other "$WORK/plain.enc" "$WORK/out"
# The context is bound by the file's AEAD: changing it in the header breaks every chunk.
$PYTHON3 -c "
import sys; d = bytearray(open(sys.argv[1], 'rb').read()); i = d.index(b'hsm'); d[i] = ord('H')
open(sys.argv[2], 'wb').write(d)" "$WORK/plain.enc" "$WORK/ctx.enc"
refuse "a changed context in the header" env P11KMS_PIN=1234 "$TOOL" decrypt "$WORK/ctx.enc" "$WORK/out"
said "does not verify"
check "wrap and unwrap a blob" sh -c "P11KMS_PIN=1234 '$TOOL' wrap >'$WORK/w' && test \"\$(P11KMS_PIN=1234 '$TOOL' unwrap \$(sed -n 's/^wrapped_key=//p' '$WORK/w'))\" = \"\$(sed -n 's/^data_key=//p' '$WORK/w')\""
refuse "a context for a blob with a plain AES key" env P11KMS_PIN=1234 "$TOOL" wrap --context a=b
said "cannot bind an encryption context"
check "list shows the AES key" sh -c "P11KMS_PIN=1234 '$TOOL' list | grep -q 'AES, not extractable'"
only_files "$WORK" softhsm2.conf tokens pin plain plain.enc ctx.enc w refuse.out refuse.err
finish
