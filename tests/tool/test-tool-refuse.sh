#!/bin/bash
# test-tool-refuse.sh - decrypt refuses a wrong context, a tampered header or chunk, and
# truncated, reordered, dropped or appended chunks, with one error line and nothing written.
. "$top_srcdir/tests/tool/common.sh"
export KMS_KEY_ID=insecure-test-key
D="$WORK/d"
O="$WORK/out"
mkdir "$D" "$O"

head -c 4000 /dev/urandom >"$D/plain"
"$TOOL" encrypt --chunk-size 1K --context app=a --context env=prod "$D/plain" "$D/good" || exit 99
# Layout: header (its length is the u32 at offset 12), then 4 chunks of 1024+16 bytes, the
# last 928+16.
hlen=$($PYTHON3 -c "import struct,sys; print(struct.unpack('>I', open(sys.argv[1],'rb').read()[12:16])[0])" "$D/good")
rec=1040
edit() { # edit OUT PYTHON-EXPRESSION-ON-d (bytearray of the good file)
    $PYTHON3 - "$D/good" "$D/$1" "$hlen" "$rec" "$2" <<'PY'
import sys
d = bytearray(open(sys.argv[1], 'rb').read())
h, r = int(sys.argv[3]), int(sys.argv[4])
chunk = lambda i: d[h + i * r:h + (i + 1) * r]
exec(sys.argv[5])
open(sys.argv[2], 'wb').write(d)
PY
}

try() { # try NAME: decrypt D/NAME into O/NAME.out and expect refusal with nothing written
    refuse "$1" "$TOOL" decrypt "$D/$1" "$O/$1.out"
}

check "the good file decrypts" sh -c "'$TOOL' decrypt '$D/good' - | cmp - '$D/plain'"

refuse "a wrong required context is refused" "$TOOL" decrypt --context app=b "$D/good" "$O/wrong.out"
said "wrong encryption context"
refuse "a missing required pair is refused" "$TOOL" decrypt --context tenant=x "$D/good" "$O/wrong.out"
said "has no \"tenant\""

# The context in the header changed (same length): the KMS refuses the data key.
edit ctx "i = d.index(b'prod'); d[i:i+4] = b'test'"
try ctx
said "CKR_WRAPPED_KEY_INVALID"
# The key label (a hint) changed: the data key still unwraps, but every chunk binds the header.
edit label "i = d.index(b'default'); d[i] = ord('D')"
try label
said "does not verify"
edit chunkbit "d[h + r + 100] ^= 1"
try chunkbit
said "chunk 1 does not verify"
edit tagbit "d[-1] ^= 0x80"
try tagbit
edit truncated "del d[h + 3 * r:]"
try truncated
said "last chunk"
edit cut1 "del d[-1:]"
try cut1
edit headeronly "del d[h:]"
try headeronly
said "truncated"
edit inheader "del d[h - 5:]"
try inheader
said "truncated"
edit dropped "del d[h + r:h + 2 * r]"
try dropped
edit swapped "a, b = bytes(chunk(1)), bytes(chunk(2)); d[h + r:h + 2 * r] = b; d[h + 2 * r:h + 3 * r] = a"
try swapped
edit appended "d += chunk(0)"
try appended
edit onebyte "d += b'\\0'"
try onebyte
edit prefix "d[21] ^= 1"
try prefix
edit version "d[8] = 9"
try version
said "version"

only_files "$O"
# The input pipe stays open after a damaged chunk: the tool stops at once, it does not wait for
# more input (timeout only guards against a hang).
mkfifo "$WORK/fifo"
(cat "$D/chunkbit"; exec sleep 30) >"$WORK/fifo" &
feeder=$!
timeout 20 "$TOOL" decrypt - "$O/pipe.out" <"$WORK/fifo" 2>"$WORK/err"
check "a failure stops the tool while its input pipe is still open" test $? -eq 1
kill "$feeder" 2>/dev/null
wait "$feeder" 2>/dev/null
only_files "$O"
# Streaming to stdout: at most the verified chunk before the damage is written, then the failure.
"$TOOL" decrypt "$D/chunkbit" - >"$WORK/partial" 2>"$WORK/err"
rc=$?
check "decrypt to stdout of a damaged file fails" test "$rc" -eq 1
n=$(stat -c %s "$WORK/partial")
check "  ...having written no more than the chunk before the damage ($n bytes)" test "$n" -le 1024
check "  ...and only verified plaintext" cmp -n "$n" "$WORK/partial" "$D/plain"
finish
