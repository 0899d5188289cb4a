/* gcp-keyname.c - which Cloud KMS resource a configured key names: a CryptoKey for an envelope
 * key (Cloud KMS encrypts with its primary version), one CryptoKeyVersion for an asymmetric key
 * (key_id ".../cryptoKeyVersions/N", or the CryptoKey and "key_version"). No state, no locks. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "gcp-backend.h"
#include "gcp-client.h"
#include "keytype.h"
#include "log.h"

#define VERSION_INFIX "/cryptoKeyVersions/"

/* A version number as Cloud KMS writes it: 1 to 10 digits, no leading zero, within 32 bits. */
static int number_ok(const char *v)
{
    size_t n = strspn(v, "0123456789");

    return n > 0 && n <= 10 && v[n] == 0 && v[0] != '0' && strtoull(v, NULL, 10) <= 0xFFFFFFFFull;
}

/* The version part of key_id (after VERSION_INFIX), or NULL; *key_len the CryptoKey part. */
static const char *version_in(const char *key_id, size_t *key_len)
{
    const char *at = strstr(key_id, VERSION_INFIX);

    *key_len = at != NULL ? (size_t)(at - key_id) : strlen(key_id);
    return at != NULL ? at + strlen(VERSION_INFIX) : NULL;
}

CK_RV p11kms_gcp_check_key(p11kms_key_config *kc, char *err, size_t err_len)
{
    const char *kv = p11kms_key_config_option(kc, "key_version"), *in_id;
    size_t key_len = 0;

    if (kc->key_id == NULL) {
        snprintf(err, err_len, "key_id (the CryptoKey name) is required");
        return CKR_ARGUMENTS_BAD;
    }
    in_id = version_in(kc->key_id, &key_len);
    if (!p11kms_key_type_is_asym(kc->key_type)) {
        if (kv != NULL || in_id != NULL) {
            snprintf(err, err_len,
                     "an envelope (aes) key names a CryptoKey, whose primary version Cloud KMS "
                     "encrypts with: no key_version, no .../cryptoKeyVersions/N");
            return CKR_ARGUMENTS_BAD;
        }
        return CKR_OK;
    }
    if (kc->key_type == P11KMS_KT_EC_P521) {
        snprintf(err, err_len,
                 "type: Cloud KMS has no ec-p521 keys (EC_SIGN_P256_SHA256, "
                 "EC_SIGN_P384_SHA384 and EC_SIGN_SECP256K1_SHA256 it has)");
        return CKR_ARGUMENTS_BAD;
    }
    if ((in_id == NULL) == (kv == NULL)) {
        snprintf(err, err_len,
                 "an asymmetric Cloud KMS key is one CryptoKeyVersion: key_id "
                 "projects/.../cryptoKeys/K/cryptoKeyVersions/N, or the CryptoKey and "
                 "\"key_version\": \"N\" (one of the two)");
        return CKR_ARGUMENTS_BAD;
    }
    if (!number_ok(in_id != NULL ? in_id : kv)) {
        snprintf(err, err_len, "the CryptoKeyVersion number \"%s\" is not one (1 to 4294967295)",
                 in_id != NULL ? in_id : kv);
        return CKR_ARGUMENTS_BAD;
    }
    return CKR_OK;
}

CK_RV p11kms_gcp_key_names(const p11kms_key_config *kc, char **key, char **version)
{
    const char *kv = p11kms_key_config_option(kc, "key_version"), *in_id = NULL;
    size_t key_len = 0, n;
    int asym = p11kms_key_type_is_asym(kc->key_type);

    *key = *version = NULL;
    if (kc->key_id != NULL)
        in_id = version_in(kc->key_id, &key_len);
    if (kc->key_id == NULL || (!asym && (in_id != NULL || kv != NULL)) ||
        (asym && ((in_id == NULL) == (kv == NULL) || !number_ok(in_id != NULL ? in_id : kv)))) {
        LOG_E("%s: key_id \"%s\" is not a %s", kc->origin, kc->key_id ? kc->key_id : "",
              asym ? "CryptoKeyVersion (projects/P/locations/L/keyRings/R/cryptoKeys/K/"
                     "cryptoKeyVersions/N, or the CryptoKey and key_version)"
                   : "CryptoKey name (projects/P/locations/L/keyRings/R/cryptoKeys/K, ids of "
                     "[A-Za-z0-9._:-])");
        return CKR_ARGUMENTS_BAD;
    }
    *key = strndup(kc->key_id, key_len);
    if (*key == NULL)
        return CKR_HOST_MEMORY;
    if (!p11kms_gcp_key_name_ok(*key, 1)) {
        LOG_E("%s: key_id \"%s\" is not a CryptoKey name "
              "(projects/P/locations/L/keyRings/R/cryptoKeys/K, ids of [A-Za-z0-9._:-])",
              kc->origin, kc->key_id);
        free(*key);
        *key = NULL;
        return CKR_ARGUMENTS_BAD;
    }
    if (!asym)
        return CKR_OK;
    n = key_len + strlen(VERSION_INFIX) + strlen(in_id != NULL ? in_id : kv) + 1;
    *version = malloc(n);
    if (*version == NULL) {
        free(*key);
        *key = NULL;
        return CKR_HOST_MEMORY;
    }
    snprintf(*version, n, "%s%s%s", *key, VERSION_INFIX, in_id != NULL ? in_id : kv);
    return CKR_OK;
}
