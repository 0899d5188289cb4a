#!/bin/sh
# test-http.sh - the libcurl transport against a loopback HTTP/HTTPS server with throwaway
# certificates: keep-alive across calls and threads, TLS verification, bounds, timeouts, policy.
py=${PYTHON3:-/usr/bin/python3}
command -v openssl >/dev/null 2>&1 || { echo "# SKIP: no openssl command"; exit 77; }
dir=$(mktemp -d "${TMPDIR:-/tmp}/p11kms-http.XXXXXX") || exit 99
pid=
cleanup() {
    rc=$?
    [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    rm -rf "$dir"
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

cert() { # name CN
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
        -subj "/CN=$2" -addext "subjectAltName=DNS:$2" -keyout "$dir/$1.key" \
        -out "$dir/$1.pem" >/dev/null 2>&1 || exit 99
}
cert server localhost
cert other localhost

"$py" "$top_srcdir/tests/net/test-http-server.py" --dir "$dir" --cert "$dir/server.pem" \
    --key "$dir/server.key" </dev/null >"$dir/server.log" 2>&1 &
pid=$!
i=0
while [ ! -s "$dir/ports" ]; do # startup wait, not a timed assertion
    kill -0 "$pid" 2>/dev/null || { cat "$dir/server.log"; exit 99; }
    i=$((i + 1)); [ $i -gt 600 ] && exit 99
    sleep 0.1
done
read -r TEST_HTTP_PORT TEST_HTTPS_PORT <"$dir/ports"
TEST_CA=$dir/server.pem
TEST_OTHER_CA=$dir/other.pem
export TEST_HTTP_PORT TEST_HTTPS_PORT TEST_CA TEST_OTHER_CA
${P11KMS_TEST_WRAPPER:-} "$top_builddir/tests/net/test-http"
