#!/bin/bash
# test-gcp-tool.sh - the p11kms tool in quick mode with KMS_KEY_ID=projects/.../cryptoKeys/K and
# Application Default Credentials, exactly the Google setup of a user, against the loopback
# Cloud KMS test server: encrypt/decrypt, wrap/unwrap, a wrong context refused by Cloud KMS,
# inspect showing the version, rewrap after a primary rotation, doctor, and no secret in any
# output.
. "$top_srcdir/tests/backends/gcp/gcp-env.sh"
. "$top_srcdir/tests/tool/common.sh"
# common.sh's EXIT trap replaces gcp-env.sh's: stop the server there too.
cleanup_hooks="p11kms_gcp_stop"
TOOL_RUN=${P11KMS_TEST_WRAPPER:-}

export KMS_KEY_ID=$P11KMS_GCP_ROTATED_KEY
export CLOUDSDK_API_ENDPOINT_OVERRIDES_CLOUDKMS=$P11KMS_GCP_ENDPOINT/
D="$WORK/d"
mkdir "$D"
head -c 100000 /dev/urandom >"$D/data"

check "encrypt under KMS_KEY_ID=projects/... (ADC: the service-account key file)" \
    $TOOL_RUN "$TOOL" encrypt --context app=test "$D/data" "$D/data.enc"
check "  ...decrypts" $TOOL_RUN "$TOOL" decrypt "$D/data.enc" "$D/data.out"
check "  ...exactly" cmp "$D/data" "$D/data.out"
"$TOOL" inspect "$D/data.enc" >"$WORK/inspect" 2>&1
check "inspect names the CryptoKey and the primary version (2) that encrypted" \
    grep -q "^kms key: *gcp $P11KMS_GCP_ROTATED_KEY, version 2" "$WORK/inspect"
refuse "decrypt with another required context" "$TOOL" decrypt --context app=other \
    "$D/data.enc" "$D/data.bad"

eval "$("$TOOL" wrap --context tenant=a)"
check "wrap prints a data key and a wrapped key" test -n "$data_key" -a -n "$wrapped_key"
check "unwrap gives the data key back" \
    sh -c "'$TOOL' unwrap --context tenant=a '$wrapped_key' | grep -qxF '$data_key'"
refuse "unwrap with a wrong context (Cloud KMS refuses the AAD)" \
    "$TOOL" unwrap --context tenant=b "$wrapped_key"
said "CKR_WRAPPED_KEY_INVALID"
"$TOOL" inspect --blob "$wrapped_key" >"$WORK/inspect-blob" 2>&1
check "the wrapped key records version 2" grep -q "version 2" "$WORK/inspect-blob"

# rotation: the primary moves to version 1; rewrap moves the blob there
p11kms_gcp_ctl POST /primary "{\"key\": \"$P11KMS_GCP_ROTATED_KEY\", \"version\": 1}" >/dev/null
new=$("$TOOL" rewrap --context tenant=a "$wrapped_key")
check "rewrap after the primary rotated" test -n "$new"
"$TOOL" inspect --blob "$new" >"$WORK/inspect-new" 2>&1
check "  ...the new blob records version 1" grep -q "version 1" "$WORK/inspect-new"
check "  ...and unwraps to the same data key" \
    sh -c "'$TOOL' unwrap --context tenant=a '$new' | grep -qxF '$data_key'"
p11kms_gcp_ctl POST /state \
    "{\"version\": \"$P11KMS_GCP_ROTATED_KEY/cryptoKeyVersions/2\", \"state\": \"DISABLED\"}" \
    >/dev/null
refuse "the old blob after its version is disabled" "$TOOL" unwrap --context tenant=a "$wrapped_key"
said "CKR_KEY_FUNCTION_NOT_PERMITTED"
check "  ...the rewrapped one still unwraps" \
    sh -c "'$TOOL' unwrap --context tenant=a '$new' | grep -qxF '$data_key'"

# doctor: where the key and credentials are, and a round trip, without showing secrets
$TOOL_RUN "$TOOL" doctor >"$WORK/doctor.out" 2>"$WORK/doctor.err"
check "doctor passes" test $? -eq 0
check "  ...names the endpoint and where it came from" \
    grep -q "Cloud KMS endpoint $P11KMS_GCP_ENDPOINT.*CLOUDSDK_API_ENDPOINT_OVERRIDES_CLOUDKMS" \
    "$WORK/doctor.out"
check "  ...names the credential source" \
    grep -q "service account .*GOOGLE_APPLICATION_CREDENTIALS" "$WORK/doctor.out"
check "  ...says which IAM roles wrapping and unwrapping need" \
    grep -q "cryptoKeyEncrypter on the key, unwrapping roles/cloudkms.cryptoKeyDecrypter" \
    "$WORK/doctor.out"
check "  ...wraps and unwraps through the module" \
    grep -q '^ok .*unwrap gives the same key back' "$WORK/doctor.out"
check "  ...and shows no private key or token" \
    sh -c "! grep -q 'PRIVATE KEY\|ya29\|Bearer' '$WORK/doctor.out' '$WORK/doctor.err'"

# doctor without credentials anywhere: a FAIL line and a hint
(
    unset GOOGLE_APPLICATION_CREDENTIALS
    export METADATA_SERVER_DETECTION=none
    "$TOOL" doctor >"$WORK/nocreds.out" 2>"$WORK/nocreds.err"
    echo $? >"$WORK/nocreds.rc"
)
check "doctor without credentials fails" grep -qx 1 "$WORK/nocreds.rc"
check "  ...saying how to get them" grep -qi "gcloud auth application-default login" \
    "$WORK/nocreds.out"
finish
