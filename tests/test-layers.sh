#!/bin/sh
# test-layers.sh - the include rules of the shape in STYLE.md, checked on the source tree:
# module/net/ (what every remote backend shares) includes only its own headers and the leaf
# utilities; a backend never reaches into sessions, objects or other core state; only the
# registry and a backend's own folder know the backend; only net/http-curl.c includes curl; and
# the generic code names no vendor in its identifiers.
: "${top_srcdir:=$(cd "$(dirname "$0")/.." && pwd)}"
cd "$top_srcdir" || exit 99
n=0
failures=0
report() { # report DESCRIPTION OFFENDING-LINES
    n=$((n + 1))
    if [ -z "$2" ]; then
        echo "ok $n - $1"
    else
        echo "not ok $n - $1"
        printf '%s\n' "$2" | sed 's/^/#   /'
        failures=$((failures + 1))
    fi
}
# quoted includes of FILES, as "file: header"
includes() {
    grep -H '^#include "' "$@" 2>/dev/null | sed 's/:#include "\([^"]*\)".*/: \1/'
}

LEAVES='log.h|secmem.h|util.h|codec.h|utf8.h|fork.h|keytype.h|pkcs11/p11kms.h|pkcs11/pkcs11-3.0.h'

bad=$(includes module/net/*.c module/net/*.h |
    grep -Ev ": (($LEAVES)|(http|json|sbuf|clock|retry|settings|call|tokcache)\.h)\$")
report "module/net/ includes only its own headers and the leaves ($LEAVES)" "$bad"

bad=$(includes module/backends/*/*.c module/backends/*/*.h |
    grep -Ev ": (($LEAVES)|backend\.h|config\.h|context\.h|envelope\.h|cipher\.h|net/[a-z]+\.h|[a-z0-9-]+\.h)\$")
report "backends include backend.h, the configuration, context, envelope and cipher, net/ and the leaves" "$bad"
bad=$(includes module/backends/*/*.c module/backends/*/*.h |
    grep -E ": (session|object|attrs|slot|init|entry|lock|find|mech|wrap|ops)\.h\$")
report "no backend includes session, object or other core state" "$bad"
# a backend's own headers are named in its own folder
bad=$(for d in module/backends/*/; do
    includes "$d"*.c "$d"*.h | grep -Ev ": (($LEAVES)|backend\.h|config\.h|context\.h|envelope\.h|cipher\.h|net/[a-z]+\.h)\$" |
        while IFS=': ' read -r file hdr; do [ -f "$d$hdr" ] || echo "$file: $hdr"; done
done)
report "a backend's other includes are its own headers" "$bad"

bad=$(includes module/*.c module/*.h module/net/*.c module/net/*.h tools/*.c tools/*.h |
    grep 'backends/' | grep -v '^tools/cmd-keygen.c: backends/local/keyfile.h$')
report "outside its folder nothing includes a backend (keygen writes local key files)" "$bad"

bad=$(grep -l '#include <curl/' $(git ls-files 'module/*.c' 'module/*.h' 'tools/*.c' 2>/dev/null ||
    find module tools -name '*.[ch]') | grep -v '^module/net/http-curl.c$')
report "only module/net/http-curl.c includes curl" "$bad"

# identifiers, not comments: strip /* ... */ and string literals roughly, then look for vendors
bad=$(for f in module/net/*.c module/net/*.h module/codec.c module/codec.h; do
    sed -e 's|/\*.*\*/||g' -e '/^ *\*/d' -e '/^ *\/\*/d' -e 's/"[^"]*"//g' "$f" |
        grep -inE '(aws|amz|gcp|google|vault)' | sed "s|^|$f:|"
done)
report "the shared code names no vendor" "$bad"

echo "1..$n"
[ "$failures" -eq 0 ]
