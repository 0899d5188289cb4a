/* local-describe.c - what the local backend says about itself: its options, the KMS_KEY_ID forms
 * of quick mode, the rules between key_id and key_file, and what doctor checks of a key file.
 * No state, no locks. */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <openssl/evp.h>
#include "keyfile.h"
#include "local.h"

#define QUICK_PREFIX "local:"

const char *const p11kms_local_options[] = {"key_file", NULL};
const char p11kms_local_quick_forms[] = P11KMS_LOCAL_TEST_KEY_ID ", " QUICK_PREFIX "/path/key-file";

int p11kms_local_quick(const char *value, p11kms_quick_key *out)
{
    size_t n = strlen(QUICK_PREFIX);

    if (strcmp(value, P11KMS_LOCAL_TEST_KEY_ID) == 0) {
        out->key_id = value;
        return 1;
    }
    if (strncmp(value, QUICK_PREFIX, n) == 0 && value[n] != '\0') {
        out->key_id = value + n;
        out->option = "key_file";
        out->option_value = value + n;
        return 1;
    }
    return 0;
}

CK_RV p11kms_local_check_key(p11kms_key_config *kc, char *err, size_t err_len)
{
    const char *key_file = p11kms_key_config_option(kc, "key_file");

    if (p11kms_key_type_is_asym(kc->key_type) && key_file == NULL) {
        snprintf(err, err_len,
                 "an asymmetric local key needs key_file (a PEM private key: "
                 "p11kms keygen --type)");
        return CKR_ARGUMENTS_BAD;
    }
    if (kc->key_id == NULL && key_file != NULL) {
        kc->key_id = strdup(key_file);
        if (kc->key_id == NULL)
            return CKR_HOST_MEMORY;
    }
    if (kc->key_id == NULL) {
        snprintf(err, err_len, "key_id is required (or key_file)");
        return CKR_ARGUMENTS_BAD;
    }
    if (key_file == NULL && strcmp(kc->key_id, P11KMS_LOCAL_TEST_KEY_ID) != 0) {
        snprintf(err, err_len, "a local key without key_file must have key_id \"%s\"",
                 P11KMS_LOCAL_TEST_KEY_ID);
        return CKR_ARGUMENTS_BAD;
    }
    return CKR_OK;
}

static void private_doctor(const p11kms_key_config *kc, const char *key_file,
                           p11kms_doctor_step step, void *ctx)
{
    EVP_PKEY *pk = NULL;
    struct stat st;

    if (p11kms_keyfile_private_load(key_file, kc->key_type, &pk) == CKR_OK &&
        stat(key_file, &st) == 0)
        step(ctx, P11KMS_DOCTOR_OK, "private key file %s: mode %04o, a %s key", key_file,
             (unsigned)(st.st_mode & 07777), p11kms_key_type_get(kc->key_type)->name);
    else
        step(ctx, P11KMS_DOCTOR_FAIL, "private key file %s is unusable (the line above says why)",
             key_file);
    EVP_PKEY_free(pk);
}

void p11kms_local_doctor(const p11kms_key_config *kc, p11kms_doctor_step step, void *ctx)
{
    const char *key_file = p11kms_key_config_option(kc, "key_file");
    p11kms_keyfile *kf = NULL;
    struct stat st;

    if (key_file == NULL) {
        step(ctx, P11KMS_DOCTOR_WARN,
             "the built-in insecure test key: anyone can unwrap what it wraps");
        return;
    }
    if (p11kms_key_type_is_asym(kc->key_type)) {
        private_doctor(kc, key_file, step, ctx);
        return;
    }
    /* the module's own loader, with its checks (mode, format) and error lines */
    if (p11kms_keyfile_load(key_file, &kf) == CKR_OK && stat(key_file, &st) == 0)
        step(ctx, P11KMS_DOCTOR_OK, "key file %s: mode %04o, %zu version%s, newest %u", key_file,
             (unsigned)(st.st_mode & 07777), kf->n, kf->n == 1 ? "" : "s",
             (unsigned)p11kms_keyfile_newest(kf)->version);
    else
        step(ctx, P11KMS_DOCTOR_FAIL, "key file %s is unusable (the line above says why)",
             key_file);
    p11kms_keyfile_free(kf);
}
