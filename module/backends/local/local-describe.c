/* local-describe.c - what the local backend says about itself: its options, the KMS_KEY_ID forms
 * of quick mode, the rules between key_id and key_file, and what doctor checks of a key file.
 * No state, no locks. */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
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
