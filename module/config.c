/* config.c - the configuration's typed structs (config.h): backend options by name, and freeing
 * a configuration with its secrets wiped. Reading one: config-load.c, config-doc.c,
 * config-key.c. No shared state. */
#include <stdlib.h>
#include <string.h>
#include "config.h"
#include "secmem.h"

const char *p11kms_key_config_option(const p11kms_key_config *kc, const char *name)
{
    size_t i;

    for (i = 0; i < kc->n_options; i++)
        if (strcmp(kc->options[i].name, name) == 0)
            return kc->options[i].value;
    return NULL;
}

void p11kms_key_config_set_token(p11kms_key_config *kc, const char *token)
{
    size_t i;

    kc->token = token;
    for (i = 0; i < kc->n_kms; i++)
        kc->kms[i].token = token;
    for (i = 0; i < kc->n_previous; i++)
        kc->previous[i].token = token;
}

static void key_config_clear(p11kms_key_config *kc)
{
    size_t i;

    for (i = 0; i < kc->n_kms; i++)
        key_config_clear(&kc->kms[i]);
    free(kc->kms);
    for (i = 0; i < kc->n_previous; i++)
        key_config_clear(&kc->previous[i]);
    free(kc->previous);
    for (i = 0; i < kc->n_accepted_contexts; i++)
        p11kms_context_free(kc->accepted_contexts[i]);
    free(kc->accepted_contexts);

    free(kc->label);
    free(kc->backend);
    free(kc->key_id);
    free(kc->certificate);
    p11kms_context_free(kc->context);
    for (i = 0; i < kc->n_options; i++) {
        free(kc->options[i].name);
        /* Options may carry credentials (a Vault token, say): wipe them all. */
        p11kms_secure_free_str(kc->options[i].value);
    }
    free(kc->options);
    free(kc->origin);
}

void p11kms_config_free(p11kms_config *c)
{
    size_t i, j;

    if (c == NULL)
        return;
    for (i = 0; i < c->n_tokens; i++) {
        p11kms_token_config *tc = &c->tokens[i];

        free(tc->label);
        free(tc->store);
        free(tc->storage_key);
        p11kms_secure_free_str(tc->pin);
        for (j = 0; j < tc->n_keys; j++)
            key_config_clear(&tc->keys[j]);
        free(tc->keys);
    }
    free(c->tokens);
    free(c->path);
    free(c->log_destination);
    free(c->kill_switch_dir);
    free(c->audit_destination);
    free(c);
}
