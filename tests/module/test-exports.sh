#!/bin/sh
# test-exports.sh - the module exports PKCS#11 entry points and nothing else (no leaked
# helpers, no libcurl/OpenSSL symbols that could shadow another library's).
set -eu
so=${P11KMS_TEST_MODULE:-.libs/p11kms.so}
syms=$(nm -D --defined-only "$so" | awk '{print $3}' | sort)
bad=$(printf '%s\n' "$syms" | grep -v '^C_' || true)
if [ -n "$bad" ]; then
    echo "exported symbols that are not C_*:"; echo "$bad"; exit 1
fi
for need in C_GetFunctionList C_GetInterfaceList C_GetInterface C_Initialize C_WrapKey C_UnwrapKey; do
    printf '%s\n' "$syms" | grep -qx "$need" || { echo "missing export: $need"; exit 1; }
done
echo "$(printf '%s\n' "$syms" | wc -l) exported symbols, all C_*"
