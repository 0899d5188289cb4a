#!/bin/sh
# test-server-node-kms.sh - @google-cloud/kms (pinned in node/package-lock.json, REST fallback)
# and google-auth-library against the loopback Google Cloud KMS server. The packages are
# installed with `npm ci` into the build tree (the source tree may be read-only); exit 77 when
# node/npm are missing or the registry cannot be reached.
set -u
: "${top_srcdir:?}" "${top_builddir:?}"
src=$top_srcdir/tests/backends/gcp/node
dir=$top_builddir/tests/backends/gcp/node

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    echo "# SKIP: node and npm are needed (Debian: nodejs npm)"
    exit 77
fi
major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if [ "$major" -lt 18 ]; then
    echo "# SKIP: node $major is too old for @google-cloud/kms 5.7.0 (needs >= 18)"
    exit 77
fi

mkdir -p "$dir" || exit 99
in_tree=false
[ "$src" -ef "$dir" ] && in_tree=true
# The installed tree is reused while its lock file is the source's.
if ! cmp -s "$src/package-lock.json" "$dir/node_modules/.p11kms-lock" 2>/dev/null; then
    rm -rf "$dir/node_modules"
    $in_tree || cp "$src/package.json" "$src/package-lock.json" "$dir/" || exit 99
    echo "# npm ci in $dir"
    if ! (cd "$dir" && npm ci --no-audit --no-fund --ignore-scripts >npm-ci.log 2>&1); then
        sed 's/^/# /' "$dir/npm-ci.log" | tail -n 20
        rm -rf "$dir/node_modules"
        echo "# SKIP: npm ci failed (no registry access?)"
        exit 77
    fi
    cp "$src/package-lock.json" "$dir/node_modules/.p11kms-lock" || exit 99
fi
$in_tree || cp "$src/test-kms-client.js" "$dir/" || exit 99

. "$top_srcdir/tests/backends/gcp/gcp-env.sh"

# HOME without a gcloud well-known file (the metadata test depends on ADC finding none); the
# server's test CA trusted for the HTTPS test.
mkdir -p "$P11KMS_GCP_STATE_DIR/home"
HOME=$P11KMS_GCP_STATE_DIR/home NODE_EXTRA_CA_CERTS=$P11KMS_GCP_CA \
    node "$dir/test-kms-client.js"
