/* fuzz-config.c - fuzz target for the JSON configuration parser: any input is either refused
 * or gives a configuration that keeps the documented bounds. */
#include <string.h>
#include "config-load.h"
#include "tests/fuzz/fuzz.h"

static void check_key(const p11kms_key_config *kc)
{
    size_t i;

    FUZZ_ASSERT(kc->label != NULL && kc->backend != NULL && kc->key_id != NULL);
    FUZZ_ASSERT(strlen(kc->key_id) >= 1 && strlen(kc->key_id) <= 2048);
    FUZZ_ASSERT(kc->perms != 0 && (kc->perms & ~P11KMS_PERM_ALL) == 0);
    FUZZ_ASSERT(kc->context != NULL && kc->id_len >= 1 && kc->id_len <= P11KMS_ID_MAX);
    FUZZ_ASSERT(kc->origin != NULL);
    for (i = 0; i < kc->n_options; i++)
        FUZZ_ASSERT(p11kms_key_config_option(kc, kc->options[i].name) == kc->options[i].value);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    p11kms_config *cfg = NULL;
    size_t i, j;

    fuzz_quiet_log();
    if (p11kms_config_parse((const char *)data, size, "fuzz", &cfg) != CKR_OK) {
        FUZZ_ASSERT(cfg == NULL);
        return 0;
    }
    FUZZ_ASSERT(cfg->n_tokens <= P11KMS_MAX_TOKENS);
    for (i = 0; i < cfg->n_tokens; i++) {
        const p11kms_token_config *tc = &cfg->tokens[i];

        FUZZ_ASSERT(tc->label != NULL && strlen(tc->label) <= P11KMS_LABEL_MAX);
        FUZZ_ASSERT(tc->n_keys <= P11KMS_MAX_KEYS_PER_TOKEN);
        for (j = 0; j < tc->n_keys; j++)
            check_key(&tc->keys[j]);
    }
    p11kms_config_free(cfg);
    return 0;
}
