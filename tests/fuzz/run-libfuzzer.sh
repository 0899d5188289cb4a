#!/bin/sh
# run-libfuzzer.sh - optional coverage-guided fuzzing: builds the core library and the fuzz
# targets with clang's libFuzzer plus ASan/UBSan in a scratch tree, and runs each target.
#
# usage: tests/fuzz/run-libfuzzer.sh [-t SECONDS] [-j JOBS] [-m] [TARGET...]
#   TARGET   aws-creds, aws-ini, aws-json, config, context, envelope, keyfile, gcp-answers,
#            gcp-creds, vault-json (default: all)
#   -t       seconds per target (default 60)
#   -j       parallel fuzzing jobs per target (default 1)
#   -m       afterwards merge new coverage-increasing inputs into tests/fuzz/corpus/TARGET
# Environment: CC (default clang), P11KMS_FUZZ_WORK (scratch directory, kept; default a new
# temporary directory). Exit 77 when clang or libFuzzer is missing, 1 when a target crashed
# (the input is saved as WORK/crash-TARGET-*; replay it with tests/fuzz/fuzz-TARGET FILE).
set -eu

srcdir=$(cd "$(dirname "$0")/../.." && pwd)
secs=60
jobs=1
merge=0
while getopts t:j:m opt; do
    case $opt in
    t) secs=$OPTARG ;;
    j) jobs=$OPTARG ;;
    m) merge=1 ;;
    *) sed -n '5,12p' "$0"; exit 2 ;;
    esac
done
shift $((OPTIND - 1))
targets=${*:-aws-creds aws-ini aws-json config context envelope keyfile gcp-answers gcp-creds vault-json store-file}
CC=${CC:-clang}

if ! command -v "$CC" >/dev/null 2>&1; then
    echo "run-libfuzzer: $CC not found; skipping" >&2
    exit 77
fi
work=${P11KMS_FUZZ_WORK:-$(mktemp -d /tmp/p11kms-libfuzzer.XXXXXX)}
mkdir -p "$work/build"
printf 'int LLVMFuzzerTestOneInput(const unsigned char *d, unsigned long n) { return 0; }\n' \
    >"$work/probe.c"
if ! "$CC" -fsanitize=fuzzer "$work/probe.c" -o "$work/probe" >/dev/null 2>&1; then
    echo "run-libfuzzer: $CC cannot link -fsanitize=fuzzer; skipping" >&2
    exit 77
fi

san="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer"
if [ ! -x "$srcdir/configure" ]; then
    (cd "$srcdir" && ./bootstrap)
fi
cd "$work/build"
if [ ! -f Makefile ]; then
    "$srcdir/configure" -q CC="$CC" CFLAGS="-g -O1 -fsanitize=fuzzer-no-link $san"
fi
make -s libp11kms-core.la

libs="$(pkg-config --libs json-c libcurl libcrypto) -lpthread -lm"
cflags="-g -O1 -D_GNU_SOURCE -I$srcdir -I$srcdir/module $(pkg-config --cflags p11-kit-1 json-c)"
status=0
for t in $targets; do
    src="$srcdir/tests/fuzz/fuzz-$t.c"
    [ -f "$src" ] || { echo "run-libfuzzer: no target $t" >&2; exit 2; }
    # shellcheck disable=SC2086
    "$CC" $cflags -fsanitize=fuzzer $san "$src" .libs/libp11kms-core.a $libs -o "$work/fuzz-$t"
    mkdir -p "$work/corpus-$t"
    par=""
    [ "$jobs" -gt 1 ] && par="-jobs=$jobs -workers=$jobs"
    dict=""
    [ -f "$srcdir/tests/fuzz/$t.dict" ] && dict="-dict=$srcdir/tests/fuzz/$t.dict"
    echo "== fuzz-$t for ${secs}s (corpus $work/corpus-$t)"
    # shellcheck disable=SC2086
    if ! "$work/fuzz-$t" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 -artifact_prefix="$work/crash-$t-" $par $dict \
        "$work/corpus-$t" "$srcdir/tests/fuzz/corpus/$t" >"$work/fuzz-$t.log" 2>&1; then
        echo "fuzz-$t FAILED; see $work/fuzz-$t.log and $work/crash-$t-*" >&2
        tail -n 40 "$work/fuzz-$t.log" >&2
        status=1
        continue
    fi
    grep -E '^#[0-9]+ +DONE|stat::number_of_executed_units' "$work/fuzz-$t.log" | tail -n 2
    if [ "$merge" = 1 ]; then
        "$work/fuzz-$t" -merge=1 "$srcdir/tests/fuzz/corpus/$t" "$work/corpus-$t" \
            >>"$work/fuzz-$t.log" 2>&1
        echo "merged into tests/fuzz/corpus/$t: $(ls "$srcdir/tests/fuzz/corpus/$t" | wc -l) seeds"
    fi
done
echo "work directory: $work"
exit $status
