#!/bin/bash
# test-tool-help.sh - every command answers --help with its manual text on stdout and status 0;
# usage errors give status 2 and point at --help.
. "$top_srcdir/tests/tool/common.sh"

for cmd in encrypt decrypt wrap unwrap rewrap list keygen doctor inspect store kill-switch s3; do
    "$TOOL" "$cmd" --help >"$WORK/help.out" 2>"$WORK/help.err"
    rc=$?
    if [ "$rc" -eq 0 ] && grep -q "^SYNOPSIS" "$WORK/help.out" && grep -q "^    p11kms $cmd" "$WORK/help.out" &&
        [ ! -s "$WORK/help.err" ]; then
        ok "$cmd --help"
    else
        not_ok "$cmd --help (status $rc)"
    fi
done
check "p11kms --help lists every command" sh -c "'$TOOL' --help | grep -c '^    [a-z]' | grep -qx 12"
"$TOOL" >/dev/null 2>&1
[ $? -eq 2 ] && ok "no command: status 2" || not_ok "no command: status 2"
"$TOOL" frobnicate >/dev/null 2>&1
[ $? -eq 2 ] && ok "unknown command: status 2" || not_ok "unknown command: status 2"
"$TOOL" encrypt --frob a b 2>"$WORK/err" >/dev/null
[ $? -eq 2 ] && grep -q "p11kms encrypt --help" "$WORK/err" && ok "unknown option: status 2 and a pointer to --help" || not_ok "unknown option"
"$TOOL" decrypt onlyone 2>"$WORK/err" >/dev/null
[ $? -eq 2 ] && ok "missing OUT: status 2" || not_ok "missing OUT: status 2"
"$TOOL" encrypt --chunk-size 12 a b 2>/dev/null >/dev/null
[ $? -eq 2 ] && ok "chunk size out of range: status 2" || not_ok "chunk size out of range"
if command -v man >/dev/null 2>&1; then
    check "the man page renders" sh -c "MANWIDTH=80 man -l '$top_srcdir/tools/p11kms.1' 2>/dev/null | grep -q 'rewrap'"
fi
finish
