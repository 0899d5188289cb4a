#!/bin/sh
# test-server-node-vault.sh - node-vault (npm; an independent Vault client in JavaScript) against
# the loopback Vault server. node-vault is installed with `npm ci` from the committed lockfile
# into the build directory (the source tree may be read-only). Exit 77 without node and npm.

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    echo "# SKIP: node and npm are needed (Debian: nodejs npm)"
    exit 77
fi
src=$top_srcdir/tests/backends/vault/node
work=${top_builddir:-.}/tests/backends/vault/node-install
mkdir -p "$work" || exit 99
# Reinstall only when the lockfile changed: the stamp holds the lockfile it was installed from.
if ! cmp -s "$src/package-lock.json" "$work/.installed-lock" || [ ! -d "$work/node_modules" ]
then
    cp "$src/package.json" "$src/package-lock.json" "$work/" || exit 99
    chmod u+w "$work/package.json" "$work/package-lock.json"
    if ! (cd "$work" && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error \
            >npm-ci.log 2>&1); then
        echo "# SKIP: npm ci of node-vault failed (no registry access?):"
        sed 's/^/#   /' "$work/npm-ci.log" | tail -n 20
        exit 77
    fi
    cp "$src/package-lock.json" "$work/.installed-lock" || exit 99
fi
. "$top_srcdir/tests/backends/vault/vault-env.sh"
NODE_PATH=$(cd "$work" && pwd)/node_modules
export NODE_PATH
node "$src/test-node-vault.js"
