#!/bin/bash
# test-tool-roundtrip.sh - encrypt and decrypt through the built module in quick mode (the
# built-in local test key): empty, small and multi-chunk files, stdin/stdout, contexts, OUT
# handling (never replaced without --force, no temporary files left).
. "$top_srcdir/tests/tool/common.sh"
export KMS_KEY_ID=insecure-test-key
D="$WORK/d"
mkdir "$D"

: >"$D/empty"
printf 'hello, world\n' >"$D/small"
head -c 1024 /dev/urandom >"$D/one-chunk"
head -c 5000 /dev/urandom >"$D/five-chunks"
head -c $((3 * 1024 * 1024 + 17)) /dev/urandom >"$D/multi"
head -c $((2 * 1024 * 1024)) /dev/urandom >"$D/two-mib"

for f in empty small one-chunk five-chunks multi; do
    check "$f: encrypt" "$TOOL" encrypt --chunk-size 1K --context app=test --context "file=$f" "$D/$f" "$D/$f.enc"
    check "$f: decrypt" "$TOOL" decrypt "$D/$f.enc" "$D/$f.out"
    check "$f: round trip is exact" cmp "$D/$f" "$D/$f.out"
    rm -f "$D/$f.out"
done
check "an empty file still has a header and a final chunk" test "$(stat -c %s "$D/empty.enc")" -gt 16
check "default chunk size round trip" sh -c "'$TOOL' encrypt '$D/multi' '$D/multi.enc2' && '$TOOL' decrypt '$D/multi.enc2' - | cmp - '$D/multi'"
# A regular file is read by the workers at chunk offsets (pread):
# inputs ending exactly at a chunk, and a body after a header read from stdin.
check "exactly two default chunks round trip" sh -c "'$TOOL' encrypt '$D/two-mib' '$D/two-mib.enc' && '$TOOL' decrypt '$D/two-mib.enc' - | cmp - '$D/two-mib'"
check "  ...and from stdin redirected from the file" sh -c "'$TOOL' decrypt - - < '$D/two-mib.enc' | cmp - '$D/two-mib'"
check "exactly 32 chunks of 64 KiB" sh -c "'$TOOL' encrypt --chunk-size 64K '$D/two-mib' - > '$D/two-mib.64k' && '$TOOL' decrypt - - < '$D/two-mib.64k' | cmp - '$D/two-mib'"
check "several chunks from stdin redirected from a file" sh -c "'$TOOL' encrypt - - < '$D/multi' | '$TOOL' decrypt - - | cmp - '$D/multi'"
rm -f "$D/two-mib.enc" "$D/two-mib.64k" "$D/two-mib"
check "two encryptions of one file differ (fresh data key and nonce)" sh -c "! cmp -s '$D/multi.enc' '$D/multi.enc2'"

# stdin and stdout
check "stdin to stdout and back" sh -c "cat '$D/multi' | '$TOOL' encrypt --context via=pipe - - | '$TOOL' decrypt - - | cmp - '$D/multi'"
check "stdin to a file" sh -c "'$TOOL' encrypt - '$D/piped.enc' < '$D/small'"
check "  ...decrypts from stdin to stdout" sh -c "'$TOOL' decrypt - - < '$D/piped.enc' | cmp - '$D/small'"

# the context: stored in the header, required pairs checked
check "decrypt with the right required context" "$TOOL" decrypt --context app=test --context file=small "$D/small.enc" "$D/small.ctx"
check "  ...is exact" cmp "$D/small" "$D/small.ctx"
"$TOOL" inspect "$D/small.enc" >"$WORK/inspect" 2>&1
check "inspect shows the context" grep -q "^context: *app=test, file=small" "$WORK/inspect"
check "inspect shows the KMS key and version" grep -q "^kms key: *local insecure-test-key, version 1" "$WORK/inspect"
check "inspect shows the envelope version and what it holds" grep -q "^envelope: *version 2, purpose wrapped key$" "$WORK/inspect"

# OUT handling
refuse "an existing OUT is not replaced" "$TOOL" encrypt "$D/small" "$D/small.enc"
said "use --force"
check "  ...and is unchanged" "$TOOL" decrypt "$D/small.enc" "$D/small.again"
check "--force replaces OUT" "$TOOL" encrypt --force "$D/five-chunks" "$D/small.enc"
check "  ...with the new content" sh -c "'$TOOL' decrypt '$D/small.enc' - | cmp - '$D/five-chunks'"
check "decrypted files are private (0600)" test "$(stat -c %a "$D/small.again")" = 600
refuse "a missing input" "$TOOL" encrypt "$D/nope" "$D/nope.enc"
said "cannot open"
refuse "a directory as input" "$TOOL" encrypt "$D" "$D/dir.enc"
refuse "not an encrypted file" "$TOOL" decrypt "$D/small" "$D/small.plain"
said "not a p11kms encrypted file"
check "writing to /dev/null in place" "$TOOL" encrypt "$D/small" /dev/null
refuse "no key matches --key" "$TOOL" encrypt --key nosuchkey "$D/small" "$D/x.enc"
said "no key matches"
check "--key by label" "$TOOL" encrypt --key default "$D/small" "$D/bylabel.enc"
uri=$("$TOOL" list | sed -n 's/^ *uri: *//p' | head -n 1)
check "--key by the URI list prints" "$TOOL" encrypt --key "$uri" "$D/small" "$D/byuri.enc"
check "  ...decrypts with --key URI" sh -c "'$TOOL' decrypt --key '$uri' '$D/byuri.enc' - | cmp - '$D/small'"
# Interrupted: the temporary file beside OUT is removed by the signal handler.
mkfifo "$WORK/fifo"
(head -c 300000 /dev/urandom; exec sleep 60) >"$WORK/fifo" &
feeder=$!
"$TOOL" encrypt "$WORK/fifo" "$D/interrupted.enc" &
tool=$!
for i in $(seq 200); do
    ls -A "$D" | grep -q '^\.interrupted\.enc\.p11kms-' && break
    sleep 0.1
done
check "while encrypting, a temporary file sits beside OUT" sh -c "ls -A '$D' | grep -q '^\.interrupted\.enc\.p11kms-'"
kill -TERM "$tool"
wait "$tool"
check "  ...SIGTERM ends the tool" test $? -eq 143
kill "$feeder" 2>/dev/null
wait "$feeder" 2>/dev/null
check "  ...and leaves neither OUT nor the temporary file" sh -c "! ls -A '$D' | grep -q interrupted"

rm -f "$D/small.again" "$D/small.ctx"
only_files "$D" empty small one-chunk five-chunks multi empty.enc small.enc one-chunk.enc \
    five-chunks.enc multi.enc multi.enc2 piped.enc bylabel.enc byuri.enc
finish
