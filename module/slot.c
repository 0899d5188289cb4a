/* slot.c - slots and tokens built from the configuration at C_Initialize, each token's KMS key
 * objects (asymmetric ones: asym-objects.c), and the slot/token/library information calls. Token
 * identity is immutable; session counts and login state are under g.lock. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include "asym-objects.h"
#include "config.h"
#include "log.h"
#include "object.h"
#include "ops.h"
#include "slot.h"
#include "state.h"
#include "store-index.h"
#include "store.h"
#include "util.h"

#define P11KMS_MANUFACTURER "p11kms"
#define P11KMS_VERSION_MAJOR 0
#define P11KMS_VERSION_MINOR 1

static CK_RV make_kms_key(p11kms_token *t, const p11kms_key_config *kc)
{
    CK_RV rv = CKR_GENERAL_ERROR;
    p11kms_object *o = p11kms_object_alloc(P11KMS_OBJ_KMS_KEY);

    if (o == NULL)
        return CKR_HOST_MEMORY;
    o->token = t;
    o->kcfg = kc;
    o->key_type = CKK_AES;
    o->is_token = CK_TRUE;
    o->is_private = t->has_pin ? CK_TRUE : CK_FALSE;
    o->modifiable = CK_FALSE;
    o->copyable = CK_FALSE;
    o->destroyable = CK_FALSE;
    o->sensitive = CK_TRUE;
    o->always_sensitive = CK_TRUE;
    o->extractable = CK_FALSE;
    o->never_extractable = CK_TRUE;
    o->wrap = (kc->perms & P11KMS_PERM_WRAP) ? CK_TRUE : CK_FALSE;
    o->unwrap = (kc->perms & P11KMS_PERM_UNWRAP) ? CK_TRUE : CK_FALSE;
    o->encrypt = (kc->perms & P11KMS_PERM_ENCRYPT) ? CK_TRUE : CK_FALSE;
    o->decrypt = (kc->perms & P11KMS_PERM_DECRYPT) ? CK_TRUE : CK_FALSE;
    o->wrap_tmpl = kc->wrap_template;
    o->unwrap_tmpl = kc->unwrap_template;
    o->label_len = strlen(kc->label);
    o->label = (uint8_t *)strdup(kc->label);
    o->id = malloc(kc->id_len ? kc->id_len : 1);
    if (o->label == NULL || o->id == NULL) {
        rv = CKR_HOST_MEMORY;
        goto out;
    }
    memcpy(o->id, kc->id, kc->id_len);
    o->id_len = kc->id_len;
    rv = p11kms_context_encode(kc->context, &o->default_context, &o->default_context_len);
    if (rv != CKR_OK)
        goto out;
    rv = p11kms_keyset_new(kc, &o->keyset);
    if (rv != CKR_OK)
        goto out;
    rv = p11kms_object_insert_locked(o);
    if (rv == CKR_OK) {
        t->keys[t->n_keys++] = o;
        o = NULL;
    }
out:
    p11kms_object_free(o);
    return rv;
}

CK_RV p11kms_tokens_create(void)
{
    CK_RV rv = CKR_OK;
    const p11kms_config *c = p11kms_g.config;
    size_t i, k;

    if (c->n_tokens == 0)
        return CKR_OK;
    p11kms_g.tokens = calloc(c->n_tokens, sizeof(*p11kms_g.tokens));
    if (p11kms_g.tokens == NULL)
        return CKR_HOST_MEMORY;
    p11kms_g.n_tokens = c->n_tokens;
    for (i = 0; i < c->n_tokens && rv == CKR_OK; i++) {
        p11kms_token *t = &p11kms_g.tokens[i];
        const p11kms_token_config *tc = &c->tokens[i];
        uint8_t digest[SHA256_DIGEST_LENGTH];

        t->slot_id = i;
        t->cfg = tc;
        SHA256((const unsigned char *)tc->label, strlen(tc->label), digest);
        for (k = 0; k < 8; k++)
            snprintf(t->serial + 2 * k, 3, "%02x", digest[k]);
        if (tc->pin != NULL) {
            t->has_pin = 1;
            SHA256((const unsigned char *)tc->pin, strlen(tc->pin), t->pin_hash);
        }
        t->keys = calloc(tc->n_keys + 1, sizeof(*t->keys));
        if (t->keys == NULL)
            rv = CKR_HOST_MEMORY;
        for (k = 0; k < tc->n_keys && rv == CKR_OK; k++)
            rv = p11kms_key_type_is_asym(tc->keys[k].key_type)
                     ? p11kms_asym_objects_create_locked(t, &tc->keys[k])
                     : make_kms_key(t, &tc->keys[k]);
        /* The store reads no file and creates none here (store.h). */
        if (rv == CKR_OK)
            rv = p11kms_store_new(t, &t->store);
    }
    return rv;
}

void p11kms_tokens_destroy(void)
{
    size_t it = 0, i;
    void *val;

    while (p11kms_map_next(&p11kms_g.objects, &it, NULL, &val))
        p11kms_object_put(val);
    p11kms_map_clear(&p11kms_g.objects);
    for (i = 0; i < p11kms_g.n_tokens; i++) {
        p11kms_store_free(p11kms_g.tokens[i].store);
        free(p11kms_g.tokens[i].keys);
    }
    free(p11kms_g.tokens);
    p11kms_g.tokens = NULL;
    p11kms_g.n_tokens = 0;
}

CK_RV p11kms_get_slot_list(CK_BBOOL present, CK_SLOT_ID_PTR list, CK_ULONG_PTR count)
{
    CK_ULONG i, n = p11kms_g.n_tokens;

    (void)present; /* every slot always holds its token */
    if (list == NULL) {
        *count = n;
        return CKR_OK;
    }
    if (*count < n) {
        *count = n;
        return CKR_BUFFER_TOO_SMALL;
    }
    for (i = 0; i < n; i++)
        list[i] = p11kms_g.tokens[i].slot_id;
    *count = n;
    return CKR_OK;
}

CK_RV p11kms_get_slot_info(CK_SLOT_ID id, CK_SLOT_INFO_PTR info)
{
    p11kms_token *t = p11kms_token_get(id);
    char desc[80];

    if (t == NULL)
        return CKR_SLOT_ID_INVALID;
    memset(info, 0, sizeof(*info));
    snprintf(desc, sizeof(desc), "p11kms KMS token %s", t->cfg->label);
    p11kms_pad(info->slotDescription, sizeof(info->slotDescription), desc);
    p11kms_pad(info->manufacturerID, sizeof(info->manufacturerID), P11KMS_MANUFACTURER);
    info->flags = CKF_TOKEN_PRESENT;
    info->hardwareVersion.major = P11KMS_VERSION_MAJOR;
    info->hardwareVersion.minor = P11KMS_VERSION_MINOR;
    info->firmwareVersion = info->hardwareVersion;
    return CKR_OK;
}

CK_RV p11kms_get_token_info(CK_SLOT_ID id, CK_TOKEN_INFO_PTR info)
{
    p11kms_token *t = p11kms_token_get(id);

    if (t == NULL)
        return CKR_SLOT_ID_INVALID;
    memset(info, 0, sizeof(*info));
    p11kms_pad(info->label, sizeof(info->label), t->cfg->label);
    p11kms_pad(info->manufacturerID, sizeof(info->manufacturerID), P11KMS_MANUFACTURER);
    p11kms_pad(info->model, sizeof(info->model), "KMS envelope");
    p11kms_pad(info->serialNumber, sizeof(info->serialNumber), t->serial);
    info->flags = CKF_RNG | CKF_TOKEN_INITIALIZED;
    if (t->has_pin)
        info->flags |= CKF_LOGIN_REQUIRED | CKF_USER_PIN_INITIALIZED;
    info->ulMaxSessionCount = CK_EFFECTIVELY_INFINITE;
    info->ulMaxRwSessionCount = CK_EFFECTIVELY_INFINITE;
    p11kms_lock();
    info->ulSessionCount = t->n_sessions;
    info->ulRwSessionCount = t->n_rw_sessions;
    info->flags |= p11kms_token_pin_flags_locked(t);
    p11kms_unlock();
    info->ulMaxPinLen = t->has_pin ? P11KMS_PIN_MAX : 0;
    info->ulMinPinLen = t->has_pin ? 1 : 0;
    info->ulTotalPublicMemory = CK_UNAVAILABLE_INFORMATION;
    info->ulFreePublicMemory = CK_UNAVAILABLE_INFORMATION;
    info->ulTotalPrivateMemory = CK_UNAVAILABLE_INFORMATION;
    info->ulFreePrivateMemory = CK_UNAVAILABLE_INFORMATION;
    info->hardwareVersion.major = P11KMS_VERSION_MAJOR;
    info->hardwareVersion.minor = P11KMS_VERSION_MINOR;
    info->firmwareVersion = info->hardwareVersion;
    p11kms_pad(info->utcTime, sizeof(info->utcTime), "");
    return CKR_OK;
}

CK_RV p11kms_get_info(CK_INFO_PTR info)
{
    memset(info, 0, sizeof(*info));
    info->cryptokiVersion.major = 2;
    info->cryptokiVersion.minor = 40;
    p11kms_pad(info->manufacturerID, sizeof(info->manufacturerID), P11KMS_MANUFACTURER);
    p11kms_pad(info->libraryDescription, sizeof(info->libraryDescription),
               "p11kms cloud KMS envelope module");
    info->libraryVersion.major = P11KMS_VERSION_MAJOR;
    info->libraryVersion.minor = P11KMS_VERSION_MINOR;
    return CKR_OK;
}
