#!/bin/sh
# vault-bench.sh - `make bench`: p11kms wrap+unwrap vs a bare libcurl keep-alive loop against the
# loopback Vault test server (started and stopped by vault-env.sh, with the root test token in
# VAULT_TOKEN). VAULT_BENCH_PAIRS sets the number of wrap+unwrap pairs per thread (default 500).
. "$top_srcdir/tests/backends/vault/vault-env.sh"
P11KMS_LOG=${P11KMS_LOG:-error}
export P11KMS_LOG
"$top_builddir/bench/vault-bench" "${VAULT_BENCH_PAIRS:-500}"
