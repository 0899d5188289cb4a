#!/bin/sh
# aws-bench.sh - `make bench`: p11kms wrap+unwrap, and CKM_ECDSA signatures with an ECC_NIST_P256
# key, each vs a bare libcurl keep-alive loop sending the same requests to the loopback AWS KMS
# test server (started and stopped by aws-env.sh). AWS_BENCH_PAIRS sets the number of wrap+unwrap
# pairs, and of signatures, per thread (default 500).
. "$top_srcdir/tests/backends/aws/aws-env.sh"
P11KMS_LOG=${P11KMS_LOG:-error}
export P11KMS_LOG
# the server logs every request; keep its log quiet so it measures requests, not logging
"$top_builddir/bench/aws-bench" "${AWS_BENCH_PAIRS:-500}"
