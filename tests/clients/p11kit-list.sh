#!/bin/sh
# p11kit-list.sh - `make install DESTDIR=...`, then p11-kit list-modules loads the installed
# .module file (as a user module config in a private HOME) and shows p11kms and its token.
#
# With DESTDIR the installed .module's relative "module: p11kms.so" would resolve in the real
# p11-kit module directory, where nothing is installed: the user config copy names the staged
# .so by its absolute path and keeps every other line of the installed file as it is.
# p11-kit ignores user configuration in a program running as root, so as root (CI) p11-kit
# runs as nobody, and everything it reads is made readable to it.
. "$top_srcdir/tests/clients/common.sh"
clients_init p11kit-list
MAKE=${MAKE:-make}
clients_need p11-kit "${MAKE%% *}"

# A make of its own: the parent's MAKEFLAGS (jobserver, -w) do not apply to it.
submake() {
    env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL $MAKE -C "$top_builddir" "$@"
}

dest=$T/dest
check "make install DESTDIR" submake install DESTDIR="$dest"
# The directories may be expressed through ${libdir} or ${datadir}: let make expand them.
expand() {
    submake -s --no-print-directory -f Makefile -f - print-var \
        VAR="$1" <<'EOF'
print-var:
	@echo $($(VAR))
EOF
}
moddir=$(expand p11_module_path)
confdir=$(expand p11_module_configs)
so=$dest$moddir/p11kms.so
modfile=$dest$confdir/p11kms.module

if [ -f "$so" ]; then pass "p11kms.so installed in p11-kit's module directory ($moddir)"; else
    fail "no $so after make install"; fi
if [ -f "$modfile" ]; then pass "p11kms.module installed in p11-kit's config directory"; else
    fail "no $modfile after make install"; fi
[ -f "$so" ] && [ -f "$modfile" ] || clients_done

if grep -q '^module: *p11kms.so *$' "$modfile" || grep -q "^module: *$moddir/p11kms.so *\$" \
    "$modfile"; then
    pass "the .module file names p11kms.so"
else
    fail "the .module file does not name p11kms.so"
    sed 's/^/#   /' "$modfile"
fi

HOME=$T/home
XDG_CONFIG_HOME=$HOME/.config
export HOME XDG_CONFIG_HOME
mkdir -p "$XDG_CONFIG_HOME/pkcs11/modules"
sed "s|^module:.*|module: $so|" "$modfile" >"$XDG_CONFIG_HOME/pkcs11/modules/p11kms.module"
KMS_KEY_ID=insecure-test-key
export KMS_KEY_ID

as_user=
if [ "$(id -u)" -eq 0 ]; then
    clients_need setpriv
    chmod -R a+rX "$T"
    as_user="setpriv --reuid=nobody --regid=nogroup --clear-groups"
fi
check "p11-kit list-modules" $as_user p11-kit list-modules

# The p11kms entry: its header line through the line before the next module.
awk '/^[^ \t]/ { mod = $1 } mod == "p11kms:"' "$T/out" >"$T/entry"
if grep -qF "p11kms: $so" "$T/entry"; then
    pass "p11-kit lists the p11kms module from the installed file"
else
    fail "p11-kit does not list p11kms with $so"
    sed 's/^/#   /' "$T/out" | head -n 60
fi
if grep -q "library-description: p11kms" "$T/entry"; then
    pass "p11-kit loaded the installed library"
else
    fail "no library description from the installed p11kms.so"
fi
if grep -q "^    token: p11kms$" "$T/entry"; then
    pass "the p11kms module shows its token p11kms"
else
    fail "no token p11kms under the p11kms module"
    sed 's/^/#   /' "$T/entry"
fi

clients_done
