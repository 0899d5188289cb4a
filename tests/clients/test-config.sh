# test-config.sh - writes the p11kms configurations and local key files the client tests and
# the benchmark use (sourced; defines functions only). Files get the modes the module demands.

# The token and keys of the client test configuration, for the scripts' assertions.
P11KMS_TEST_TOKEN=p11kms-test
P11KMS_TEST_PIN_TOKEN=p11kms-pin
P11KMS_TEST_PIN=8642
P11KMS_TEST_KEY=default
P11KMS_TEST_KEY_ID=c1a0
P11KMS_TEST_CONTEXT_KEY=app
P11KMS_TEST_CONTEXT_VALUE=p11kms-clients

# p11kms_test_keyfile PATH: a new local key file (format in module/backends/local/local.md) with two
# versions, so the newest-version rule is exercised by every wrap.
p11kms_test_keyfile() {
    (
        umask 077
        name=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
        {
            echo "# p11kms test key file"
            echo "p11kms-key-file 1"
            echo "name $name"
            echo "version 1 $(head -c 32 /dev/urandom | base64)"
            echo "version 2 $(head -c 32 /dev/urandom | base64)"
        } >"$1"
    )
    chmod 600 "$1"
}

# p11kms_test_config PATH KEYFILE: the client test configuration. Token p11kms-test has a
# full key with a default context (from a key file), which also seals its stored objects, a
# wrap-only and a decrypt-only key; token p11kms-pin needs a user PIN. Stored objects go to the
# default place, $XDG_DATA_HOME/p11kms/<token> (common.sh points it into the test's directory).
p11kms_test_config() {
    (
        umask 077
        cat >"$1" <<EOF
{
  "tokens": [
    {
      "label": "$P11KMS_TEST_TOKEN",
      "storage_key": "$P11KMS_TEST_KEY",
      "keys": [
        {
          "label": "$P11KMS_TEST_KEY",
          "backend": "local",
          "key_file": "$2",
          "id": "$P11KMS_TEST_KEY_ID",
          "context": { "$P11KMS_TEST_CONTEXT_KEY": "$P11KMS_TEST_CONTEXT_VALUE" }
        },
        {
          "label": "wrap-only",
          "backend": "local",
          "key_file": "$2",
          "id": "c1a1",
          "permissions": ["wrap"]
        },
        {
          "label": "decrypt-only",
          "backend": "local",
          "key_id": "insecure-test-key",
          "id": "c1a2",
          "permissions": ["decrypt"]
        }
      ]
    },
    {
      "label": "$P11KMS_TEST_PIN_TOKEN",
      "pin": "$P11KMS_TEST_PIN",
      "keys": [
        { "label": "guarded", "backend": "local", "key_id": "insecure-test-key", "id": "c1b0" }
      ]
    }
  ]
}
EOF
    )
    chmod 600 "$1"
}

# p11kms_bench_config PATH KEYFILE N: token "bench" with N local keys on one key file; the first
# is labelled "kek", the others key-2 ... key-N.
p11kms_bench_config() {
    (
        umask 077
        awk -v keyfile="$2" -v n="$3" 'BEGIN {
            print "{\n  \"tokens\": [\n    {\n      \"label\": \"bench\",\n      \"keys\": ["
            for (i = 1; i <= n; i++)
                printf "        { \"label\": \"%s\", \"backend\": \"local\", " \
                    "\"key_file\": \"%s\" }%s\n", i == 1 ? "kek" : "key-" i, keyfile,
                    i < n ? "," : ""
            print "      ]\n    }\n  ]\n}"
        }' >"$1"
    )
    chmod 600 "$1"
}
