#!/bin/sh
# java-asym.sh - Java's SunPKCS11 with asymmetric local keys (tests/clients/java/P11kmsAsym.java,
# compiled here into the build tree): KeyStore entries, Signature SHA256withECDSA and SHA256withRSA
# through the module, verified by the JDK's own providers. Skips (77) without java and javac.
. "$top_srcdir/tests/clients/common.sh"
clients_init java-asym
[ -n "${JAVA_HOME:-}" ] && PATH="$JAVA_HOME/bin:$PATH"
clients_need java javac openssl
. "$top_srcdir/tests/clients/asym-common.sh"
case "${LD_PRELOAD:-}" in
*libasan*)
    # the JVM handles SIGSEGV itself (see java.sh)
    ASAN_OPTIONS="$ASAN_OPTIONS:handle_segv=0:allow_user_segv_handler=1"
    export ASAN_OPTIONS
    ;;
esac
classes="$top_builddir/tests/clients/java-asym-classes"
rm -rf "$classes"
mkdir -p "$classes" || exit 99
check "javac compiles P11kmsAsym.java" javac -Xlint:-options -d "$classes" \
    "$top_srcdir/tests/clients/java/P11kmsAsym.java" || clients_done
asym_config
printf 'name = p11kms-asym\nlibrary = %s\nslotListIndex = 0\n' "$MODULE" >"$T/sunpkcs11.cfg"
java -cp "$classes" P11kmsAsym "$T/sunpkcs11.cfg" >"$T/out" 2>&1
rc=$?
while IFS= read -r line; do
    case "$line" in
    "ok - "*) pass "${line#ok - }" ;;
    "FAIL - "*) fail "${line#FAIL - }" ;;
    esac
done <"$T/out"
if [ $rc -ne 0 ]; then
    fail "P11kmsAsym exited with $rc"
    sed 's/^/#   /' "$T/out" | head -n 30
fi
rm -rf "$classes"
clients_done
