#!/bin/sh
# openssl-tls.sh - asymmetric local keys through OpenSSL's PKCS#11 engine (libp11,
# libengine-pkcs11-openssl): "openssl pkeyutl -sign" with a pkcs11: URI (checked by OpenSSL
# with the key file's public key), "openssl req -x509" making a certificate with the key,
# "openssl s_server" completing TLS 1.3 and TLS 1.2 handshakes with curl (ECDSA P-256 and
# RSA-PSS), and nginx serving HTTPS with "ssl_certificate_key engine:pkcs11:...". Servers listen
# on 127.0.0.1, free ports, and are stopped at the end, also on failure.
. "$top_srcdir/tests/clients/common.sh"
clients_init openssl-tls
clients_need openssl curl python3
. "$top_srcdir/tests/clients/asym-common.sh"

if ! asym_engine; then
    echo "SKIP: the PKCS#11 engine ($ENGINE, Debian libengine-pkcs11-openssl) is not installed"
    exit 77
fi
asym_config

SERVER_PIDS=""
stop_servers() {
    for pid in $SERVER_PIDS; do
        kill "$pid" 2>/dev/null
    done
    for pid in $SERVER_PIDS; do
        wait "$pid" 2>/dev/null
    done
    SERVER_PIDS=""
}
trap 'stop_servers; clients_cleanup' EXIT

# The engine, loaded from a configuration that names the module.
OPENSSL_CONF=$ENGINE_CONF
export OPENSSL_CONF
EC_URI="pkcs11:token=tls;object=ec;type=private"
RSA_URI="pkcs11:token=tls;object=rsa;type=private"

printf 'to be signed %s\n' "$(date)" >"$T/data"
openssl dgst -sha256 -binary "$T/data" >"$T/data.sha256"
check "openssl pkeyutl -sign -engine pkcs11 (ECDSA P-256)" openssl pkeyutl -engine pkcs11 \
    -keyform engine -inkey "$EC_URI" -sign -in "$T/data.sha256" -out "$T/ec.sig"
check "  ...openssl verifies it with the key file's public key" openssl pkeyutl -verify -pubin \
    -inkey "$T/ec.pub" -in "$T/data.sha256" -sigfile "$T/ec.sig"
check "openssl pkeyutl -sign -engine pkcs11 (RSA PKCS#1 v1.5 SHA-256)" openssl pkeyutl \
    -engine pkcs11 -keyform engine -inkey "$RSA_URI" -sign -pkeyopt digest:sha256 \
    -in "$T/data.sha256" -out "$T/rsa.sig"
check "  ...openssl verifies it" openssl pkeyutl -verify -pubin -inkey "$T/rsa.pub" \
    -pkeyopt digest:sha256 -in "$T/data.sha256" -sigfile "$T/rsa.sig"

# certificates made with the KMS key
for k in ec rsa; do
    uri=$EC_URI
    [ $k = rsa ] && uri=$RSA_URI
    check "openssl req -x509 -engine pkcs11 ($k)" openssl req -new -x509 -engine pkcs11 \
        -keyform engine -key "$uri" -subj "/CN=localhost" -days 2 -sha256 \
        -addext "subjectAltName=DNS:localhost" -out "$T/$k-srv.crt"
    openssl x509 -in "$T/$k-srv.crt" -noout -pubkey >"$T/$k-srv.pub" 2>/dev/null
    openssl pkey -pubin -in "$T/$k.pub" >"$T/$k-ref.pub" 2>/dev/null
    same_file "  ...the certificate holds the key's public key" "$T/$k-srv.pub" "$T/$k-ref.pub"
    check "  ...and its self-signature verifies" openssl verify -CAfile "$T/$k-srv.crt" \
        "$T/$k-srv.crt"
done

# fetch DESCRIPTION PORT CACERT CURL-OPTIONS...: curl the server, which must answer
fetch() {
    desc=$1
    port=$2
    ca=$3
    shift 3
    # curl never loads the module: without the sanitizer runtimes (under them, glibc's locale
    # lock hangs, as p11tool.sh explains)
    check "$desc" env -u LD_PRELOAD curl -sS --max-time 20 --cacert "$ca" --resolve "localhost:$port:127.0.0.1" \
        "$@" -o "$T/page" "https://localhost:$port/"
}

# s_server with each key: TLS 1.3 and 1.2 (with the RSA key TLS 1.3 signs with RSA-PSS only)
for k in ec rsa; do
    uri=$EC_URI
    [ $k = rsa ] && uri=$RSA_URI
    port=$(asym_port)
    openssl s_server -engine pkcs11 -keyform engine -key "$uri" -cert "$T/$k-srv.crt" \
        -accept "127.0.0.1:$port" -www -quiet >"$T/s_server-$k.log" 2>&1 &
    SERVER_PIDS="$SERVER_PIDS $!"
    if ! asym_wait_port "$port"; then
        fail "openssl s_server ($k) did not start"
        sed 's/^/#   /' "$T/s_server-$k.log" | head -20
        continue
    fi
    fetch "curl TLS 1.3 to s_server with the $k key" "$port" "$T/$k-srv.crt" --tlsv1.3
    if grep -q "TLSv1.3" "$T/page"; then pass "  ...negotiated TLSv1.3"; else fail "  ...not TLS 1.3"; fi
    fetch "curl TLS 1.2 to s_server with the $k key" "$port" "$T/$k-srv.crt" --tlsv1.2 \
        --tls-max 1.2
    if grep -q "TLSv1.2" "$T/page"; then pass "  ...negotiated TLSv1.2"; else fail "  ...not TLS 1.2"; fi
    stop_servers
done

# nginx, the key named by an engine URI
if command -v nginx >/dev/null 2>&1; then
    port=$(asym_port)
    mkdir -p "$T/nginx/logs" "$T/nginx/html"
    echo "served with a KMS key" >"$T/nginx/html/index.html"
    user=""
    [ "$(id -u)" -eq 0 ] && user="user root;"
    cat >"$T/nginx/nginx.conf" <<EOF
$user
daemon off;
worker_processes 1;
pid $T/nginx/nginx.pid;
error_log $T/nginx/logs/error.log warn;
env OPENSSL_CONF;
env P11KMS_CONFIG;
env P11KMS_LOG;
ssl_engine pkcs11;
events { worker_connections 16; }
http {
    access_log off;
    client_body_temp_path $T/nginx/tmp;
    proxy_temp_path $T/nginx/tmp;
    fastcgi_temp_path $T/nginx/tmp;
    uwsgi_temp_path $T/nginx/tmp;
    scgi_temp_path $T/nginx/tmp;
    server {
        listen 127.0.0.1:$port ssl;
        server_name localhost;
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_certificate $T/ec-srv.crt;
        ssl_certificate_key "engine:pkcs11:$EC_URI";
        root $T/nginx/html;
    }
}
EOF
    mkdir -p "$T/nginx/tmp"
    nginx -p "$T/nginx" -c "$T/nginx/nginx.conf" -e "$T/nginx/logs/error.log" >"$T/nginx.log" 2>&1 &
    SERVER_PIDS="$SERVER_PIDS $!"
    if asym_wait_port "$port"; then
        fetch "curl --cacert to nginx with ssl_certificate_key engine:pkcs11" "$port" \
            "$T/ec-srv.crt" --tlsv1.3
        if grep -q "served with a KMS key" "$T/page"; then pass "  ...the page"; else fail "  ...the page"; fi
        fetch "curl TLS 1.2 to nginx" "$port" "$T/ec-srv.crt" --tlsv1.2 --tls-max 1.2
    else
        fail "nginx did not start"
        sed 's/^/#   /' "$T/nginx.log" "$T/nginx/logs/error.log" 2>/dev/null | head -20
    fi
    stop_servers
else
    echo "# nginx not installed: its checks skipped"
fi
clients_done
