#!/bin/sh
# test-layers.sh - the shape in STYLE.md, checked on the source tree and the built objects.
# Includes and calls run one way, core -> backends -> net: module/net/ (what every remote
# backend shares) uses only its own files and the leaf utilities; a backend never reaches into
# sessions, objects or other core state, nor into another backend; only the registry and a
# backend's own folder know the backend; only net/http-curl*.c include curl. The core files
# include and call each other without loops, but for object <-> session. Generic code names no
# vendor in its identifiers. The call rules read the objects of a build (nm); run from make
# check they are there (top_builddir), run by hand without a build those rules are skipped.
: "${top_srcdir:=$(cd "$(dirname "$0")/.." && pwd)}"
top_srcdir=$(cd "$top_srcdir" && pwd)
: "${top_builddir:=$top_srcdir}"
top_builddir=$(cd "$top_builddir" && pwd)
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

LEAVES='log.h|secmem.h|util.h|codec.h|utf8.h|fork.h|kms-report.h|keytype.h|pkcs11/p11kms.h|pkcs11/pkcs11-3.0.h'
# The same leaves as core concepts (a concept: x.c with x.h), for the call rules.
LEAF_CONCEPTS='log secmem util codec utf8 fork kms-report keytype'
# What a backend may use of the core besides the leaves.
BACKEND_USES='config context envelope cipher backend'

bad=$(includes module/net/*.c module/net/*.h |
    grep -Ev ": (($LEAVES)|(http|http-curl-url|json|sbuf|clock|retry|settings|call|tokcache|tokshare)\.h)\$")
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
    grep 'backends/' | grep -v '^tools/cmd-keygen.c: backends/local/keyfile.h$' |
    grep -v '^tools/s3.c: backends/aws/aws-service.h$')
report "outside its folder nothing includes a backend (keygen writes local key files; the tool's S3 client reuses the AWS service client)" "$bad"

bad=$(grep -l '#include <curl/' $(git ls-files 'module/*.c' 'module/*.h' 'tools/*.c' 2>/dev/null ||
    find module tools -name '*.[ch]') | grep -v '^module/net/http-curl\(-url\)\?\.c$')
report "only module/net/http-curl.c and http-curl-url.c include curl" "$bad"

# ---- the core: no loops but object <-> session -----------------------------------------------
# concept FILE: the core concept a file belongs to: x.c and x.h are x; cipher-*.c and
# cipher-impl.h are parts of cipher, sign-*.c (the mechanism families) of sign.
concept() {
    b=${1##*/}
    b=${b%.[ch]}
    b=${b%.o}
    case $b in
    cipher-*) echo cipher ;;
    sign-*) echo sign ;;
    *) echo "$b" ;;
    esac
}

# loops < EDGES: every pair of concepts that reach each other ("a b", a < b), from "from to"
# lines; the closure is computed in full (a few dozen concepts).
loops() {
    awk '
        { if ($1 != $2) { e[$1, $2] = 1 } n[$1] = 1; n[$2] = 1 }
        END {
            for (k in n) for (i in n) if ((i, k) in e) for (j in n) if ((k, j) in e) e[i, j] = 1
            for (i in n) for (j in n) if (i < j && (i, j) in e && (j, i) in e) print i, j
        }' | sort
}

core_includes() {
    for f in module/*.c module/*.h; do
        from=$(concept "$f")
        sed -n 's/^#include "\([^"/]*\)".*/\1/p' "$f" | while read -r h; do
            [ -f "module/$h" ] && echo "$from $(concept "$h")"
        done
    done
}
bad=$(core_includes | loops | grep -v '^object session$')
report "core includes run one way (loops only between object and session)" "$bad"

bad=$(grep -l '#include "\(net\|backends\)/' module/*.c module/*.h)
report "the core includes nothing of module/net/ or module/backends/ (backend.h is the boundary)" \
    "$bad"

objdir() { # objdir SRCDIR: where libtool put the objects of SRCDIR's sources
    if [ -d "$top_builddir/$1/.libs" ]; then echo "$top_builddir/$1/.libs"; fi
}
core_objs=$(objdir module)
if [ -z "$core_objs" ] || ! command -v nm >/dev/null 2>&1; then
    echo "ok $((n + 1)) - # SKIP call rules: no objects in $top_builddir (build first) or no nm"
    n=$((n + 1))
else
    # symbols.txt: "layer concept symbol" for every p11kms_ symbol an object defines;
    # uses.txt: "layer concept symbol" for every one it uses. Layers: core, net, backend:NAME.
    work=$(mktemp -d "${TMPDIR:-/tmp}/p11kms-layers.XXXXXX")
    trap 'rm -rf "$work"' EXIT
    for o in "$core_objs"/*.o "$(objdir module/net)"/*.o "$top_builddir"/module/backends/*/.libs/*.o; do
        [ -f "$o" ] || continue
        case $o in
        */module/net/*) layer=net ;;
        */module/backends/*) layer=backend:$(echo "$o" | sed 's|.*/module/backends/\([^/]*\)/.*|\1|') ;;
        *) layer=core ;;
        esac
        # only objects of this tree's sources (a stale object of a removed file is not ours)
        src=${o%.o}.c
        src=module/${src#"$top_builddir"/module/}
        src=$(echo "$src" | sed 's|/\.libs/|/|')
        [ -f "$src" ] || continue
        c=$(concept "$o")
        nm -g --defined-only "$o" | awk -v l="$layer" -v c="$c" '$NF ~ /^p11kms_/ { print l, c, $NF }' >>"$work/symbols.txt"
        nm -u "$o" | awk -v l="$layer" -v c="$c" '$NF ~ /^p11kms_/ { print l, c, $NF }' >>"$work/uses.txt"
    done
    # edges.txt: "from-layer from-concept to-layer to-concept symbol"
    awk 'NR == FNR { def[$3] = $1 " " $2; next } ($3 in def) { print $1, $2, def[$3], $3 }' \
        "$work/symbols.txt" "$work/uses.txt" >"$work/edges.txt"

    bad=$(awk '$1 == "core" && $3 == "core" { print $2, $4 }' "$work/edges.txt" | loops |
        grep -v '^object session$')
    report "core calls run one way (loops only between object and session)" "$bad"

    bad=$(awk '$1 == "core" && $3 == "net"' "$work/edges.txt")
    report "the core calls nothing in module/net/ (only backends do)" "$bad"

    bad=$(awk '$1 == "core" && $3 ~ /^backend:/ && $2 != "backend"' "$work/edges.txt")
    report "the core reaches a backend only through the registry (backend.c)" "$bad"

    bad=$(awk -v leaves="$LEAF_CONCEPTS" 'BEGIN { split(leaves, a, " "); for (i in a) ok[a[i]] = 1 }
        $1 == "net" && $3 != "net" && !($3 == "core" && ($4 in ok))' "$work/edges.txt")
    report "module/net/ calls only itself and the leaves ($LEAF_CONCEPTS)" "$bad"

    bad=$(awk -v leaves="$LEAF_CONCEPTS $BACKEND_USES" '
        BEGIN { split(leaves, a, " "); for (i in a) ok[a[i]] = 1 }
        $1 ~ /^backend:/ && !($3 == $1 || $3 == "net" || ($3 == "core" && ($4 in ok)))' \
        "$work/edges.txt")
    report "a backend calls itself, module/net/ and of the core only the leaves and $BACKEND_USES" \
        "$bad"
fi

# identifiers, not comments: strip /* ... */ and string literals roughly, then look for vendors;
# the registry (backend.c) is the one core file that names the backends
bad=$(for f in module/net/*.c module/net/*.h $(ls module/*.c module/*.h | grep -v '^module/backend\.c$'); do
    sed -e 's|/\*.*\*/||g' -e '/^ *\*/d' -e '/^ *\/\*/d' -e 's/"[^"]*"//g' "$f" |
        grep -inE '(aws|amz|gcp|google|vault)' | sed "s|^|$f:|"
done)
report "generic code (the core but the registry, module/net/) names no vendor" "$bad"

echo "1..$n"
[ "$failures" -eq 0 ]
