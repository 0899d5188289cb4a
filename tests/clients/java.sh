#!/bin/sh
# java.sh - Java against the built module: tests/clients/java/P11kmsJava.java, compiled here into
# the build tree, through the JDK's SunPKCS11 provider (KeyGenerator, Cipher AES/GCM and AES/CBC
# checked against SunJCE, KeyStore - secret key entries stored in one JVM, used in another -,
# AES/KWP key wrapping) and its low-level wrapper (the vendor
# envelope with a context). Each step runs in its own JVM, as separate programs would; what one
# wraps, another unwraps. Skips (77) without java and javac.
. "$top_srcdir/tests/clients/common.sh"
clients_init java
# JAVA_HOME picks another JDK than the one on the PATH (Debian's openjdk-17 in CI).
[ -n "${JAVA_HOME:-}" ] && PATH="$JAVA_HOME/bin:$PATH"
clients_need java javac
java -version 2>&1 | sed -n '1s/^/# /p'

case "${LD_PRELOAD:-}" in
*libasan*)
    # The JVM handles SIGSEGV itself (null checks, safepoints): the preloaded ASan runtime
    # (clients_sanitizers) must leave that signal to it.
    ASAN_OPTIONS="$ASAN_OPTIONS:handle_segv=0:allow_user_segv_handler=1"
    export ASAN_OPTIONS
    ;;
esac

classes="$top_builddir/tests/clients/java-classes"
exports="--add-modules jdk.crypto.cryptoki --add-exports jdk.crypto.cryptoki/sun.security.pkcs11.wrapper=ALL-UNNAMED"
rm -rf "$classes"
mkdir -p "$classes" || exit 99
# shellcheck disable=SC2086
check "javac compiles the test program" \
    javac -Xlint:-options -d "$classes" $exports "$top_srcdir/tests/clients/java/P11kmsJava.java" ||
    clients_done
clients_config

# sunpkcs11_config FILE SLOT-INDEX [ATTRIBUTES]: a SunPKCS11 configuration for the module.
sunpkcs11_config() {
    {
        echo "name = p11kms-$(basename "$1" .cfg)"
        echo "library = $MODULE"
        echo "slotListIndex = $2"
        [ -n "${3:-}" ] && printf '%s\n' "$3"
    } >"$1"
}
# Generated and unwrapped AES keys readable, so SunJCE can be given the same key bytes.
readable='attributes(*, CKO_SECRET_KEY, CKK_AES) = {
  CKA_SENSITIVE = false
  CKA_EXTRACTABLE = true
}'
sunpkcs11_config "$T/readable.cfg" 0 "$readable"
sunpkcs11_config "$T/plain.cfg" 0
sunpkcs11_config "$T/pin.cfg" 1

# step NAME ARGS...: run one step in a new JVM; each of its "ok - "/"FAIL - " lines counts.
step() {
    name=$1
    # shellcheck disable=SC2086
    java $exports -cp "$classes" P11kmsJava "$@" >"$T/out" 2>&1
    rc=$?
    while IFS= read -r line; do
        case "$line" in
            "ok - "*) pass "${line#ok - }" ;;
            "FAIL - "*) fail "${line#FAIL - }" ;;
            "skip - "*) echo "# SKIP: ${line#skip - }" ;;
            *) echo "#   $line" ;;
        esac
    done <"$T/out"
    if [ $rc -ne 0 ] && ! grep -q '^FAIL - ' "$T/out"; then
        fail "java step $name exited with $rc"
    fi
}

step cipher "$T/readable.cfg"
step sensitive "$T/plain.cfg"
step keystore "$T/plain.cfg" "$P11KMS_TEST_KEY"
step keystore "$T/pin.cfg" guarded "$P11KMS_TEST_PIN"
step keystore-store "$T/plain.cfg" java-entry "$T"
step keystore-load "$T/plain.cfg" java-entry "$T"
objects=$(ls "$XDG_DATA_HOME/p11kms/$P11KMS_TEST_TOKEN" 2>/dev/null | grep -c '\.obj$')
if [ "$objects" -ge 2 ]; then pass "the KeyStore entries are files in the token's store"; else
    fail "the token's store holds $objects object files"; fi
step kwp-wrap "$T/readable.cfg" "$P11KMS_TEST_KEY" "$T"
step kwp-unwrap "$T/readable.cfg" "$P11KMS_TEST_KEY" "$T"
header="$top_srcdir/pkcs11/p11kms.h"
step envelope-wrap "$MODULE" "$header" "$P11KMS_TEST_TOKEN" "$P11KMS_TEST_KEY" "$T" \
    purpose=java "$P11KMS_TEST_CONTEXT_KEY=$P11KMS_TEST_CONTEXT_VALUE"
step envelope-unwrap "$MODULE" "$header" "$P11KMS_TEST_TOKEN" "$P11KMS_TEST_KEY" "$T" \
    purpose=java "$P11KMS_TEST_CONTEXT_KEY=$P11KMS_TEST_CONTEXT_VALUE"
clients_done
