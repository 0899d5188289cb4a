#!/bin/sh
# gcp-bench.sh - `make bench`: p11kms wrap+unwrap vs a bare libcurl keep-alive loop against the
# loopback Cloud KMS test server (started and stopped by gcp-env.sh). GCP_BENCH_PAIRS sets the
# number of wrap+unwrap pairs per thread (default 500).
. "$top_srcdir/tests/backends/gcp/gcp-env.sh"
P11KMS_LOG=${P11KMS_LOG:-error}
export P11KMS_LOG
"$top_builddir/bench/gcp-bench" "${GCP_BENCH_PAIRS:-500}"
