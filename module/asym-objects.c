/* asym-objects.c - the objects of an asymmetric KMS key: its CKO_PRIVATE_KEY, CKO_PUBLIC_KEY
 * and CKO_CERTIFICATE in the object map, and loading the public half before a read or a search
 * that needs it. */
/*
 * Threads: objects are made under g.lock at C_Initialize. prepare_read/prepare_find take g.lock
 * for the look-up only and load public halves without it (the backend may call the KMS).
 */
#include <stdlib.h>
#include <string.h>
#include "asym-objects.h"
#include "asym.h"
#include "log.h"
#include "object.h"
#include "session.h"
#include "state.h"

static int template_needs_public(const CK_ATTRIBUTE *t, CK_ULONG n)
{
    CK_ULONG i;

    for (i = 0; t != NULL && i < n; i++)
        if (p11kms_asym_attr_from_public(t[i].type))
            return 1;
    return 0;
}

/* Whether o's public half is missing and would serve a read of it. */
static int wants_public(const p11kms_object *o)
{
    return o->asym != NULL &&
           (o->kind == P11KMS_OBJ_PRIVATE_KEY || o->kind == P11KMS_OBJ_PUBLIC_KEY) &&
           !atomic_load_explicit(&o->asym->have_public, memory_order_acquire);
}

CK_RV p11kms_asym_prepare_read(p11kms_session *s, CK_OBJECT_HANDLE h, const CK_ATTRIBUTE *t,
                               CK_ULONG n)
{
    p11kms_asym_key *k = NULL;
    p11kms_object *o = NULL;
    CK_RV rv = CKR_OK;

    if (!template_needs_public(t, n))
        return CKR_OK;
    p11kms_lock();
    if (p11kms_object_get_locked(s, h, &o) == CKR_OK && wants_public(o))
        k = p11kms_asym_key_ref(o->asym);
    p11kms_unlock();
    p11kms_object_put(o);
    if (k != NULL)
        rv = p11kms_asym_public(k);
    p11kms_asym_key_put(k);
    return rv;
}

CK_RV p11kms_asym_prepare_find(p11kms_session *s, const CK_ATTRIBUTE *t, CK_ULONG n)
{
    p11kms_asym_key **keys = NULL;
    size_t it = 0, count = 0, i;
    void *val;
    CK_RV rv = CKR_OK;

    if (!template_needs_public(t, n))
        return CKR_OK;
    p11kms_lock();
    keys = malloc((p11kms_g.objects.n + 1) * sizeof(*keys));
    while (keys != NULL && p11kms_map_next(&p11kms_g.objects, &it, NULL, &val)) {
        p11kms_object *o = val;

        /* the private key object stands for its key (public key objects share it) */
        if (o->kind == P11KMS_OBJ_PRIVATE_KEY && wants_public(o) &&
            p11kms_object_visible_locked(s, o))
            keys[count++] = p11kms_asym_key_ref(o->asym);
    }
    p11kms_unlock();
    if (keys == NULL)
        return CKR_HOST_MEMORY;
    for (i = 0; i < count; i++) {
        if (rv == CKR_OK)
            rv = p11kms_asym_public(keys[i]);
        p11kms_asym_key_put(keys[i]);
    }
    free(keys);
    return rv;
}

/* ---- objects --------------------------------------------------------------------------- */

/* What every object of the key shares: fixed, token, label, id. */
static p11kms_object *new_object(struct p11kms_token *t, p11kms_asym_key *k, int kind)
{
    const p11kms_key_config *kc = k->kcfg;
    p11kms_object *o = p11kms_object_alloc(kind);

    if (o == NULL)
        return NULL;
    o->token = t;
    o->is_token = CK_TRUE;
    o->modifiable = CK_FALSE;
    o->copyable = CK_FALSE;
    o->destroyable = CK_FALSE;
    o->key_type = kind == P11KMS_OBJ_CERTIFICATE ? CK_UNAVAILABLE_INFORMATION : k->type->ckk;
    o->label_len = strlen(kc->label);
    o->label = (uint8_t *)strdup(kc->label);
    o->id = malloc(kc->id_len ? kc->id_len : 1);
    o->asym = p11kms_asym_key_ref(k);
    if (o->label == NULL || o->id == NULL) {
        p11kms_object_free(o);
        return NULL;
    }
    memcpy(o->id, kc->id, kc->id_len);
    o->id_len = kc->id_len;
    return o;
}

static CK_RV insert(p11kms_object *o)
{
    CK_RV rv;

    if (o == NULL)
        return CKR_HOST_MEMORY;
    rv = p11kms_object_insert_locked(o);
    if (rv != CKR_OK)
        p11kms_object_free(o);
    return rv;
}

static CK_RV make_objects(struct p11kms_token *t, p11kms_asym_key *k)
{
    const p11kms_key_config *kc = k->kcfg;
    p11kms_object *o;
    CK_RV rv;

    o = new_object(t, k, P11KMS_OBJ_PRIVATE_KEY);
    if (o != NULL) {
        /* The value never leaves the KMS: sensitive and unextractable from the start. */
        o->kcfg = kc;
        o->is_private = t->has_pin ? CK_TRUE : CK_FALSE;
        o->sensitive = CK_TRUE;
        o->always_sensitive = CK_TRUE;
        o->extractable = CK_FALSE;
        o->never_extractable = CK_TRUE;
        o->sign = (kc->perms & P11KMS_PERM_SIGN) ? CK_TRUE : CK_FALSE;
        o->decrypt = (kc->perms & P11KMS_PERM_DECRYPT) ? CK_TRUE : CK_FALSE;
    }
    rv = insert(o);
    if (rv != CKR_OK)
        return rv;
    o = new_object(t, k, P11KMS_OBJ_PUBLIC_KEY);
    if (o != NULL) {
        o->verify = (kc->perms & P11KMS_PERM_SIGN) ? CK_TRUE : CK_FALSE;
        o->encrypt = (kc->perms & P11KMS_PERM_DECRYPT) ? CK_TRUE : CK_FALSE;
    }
    rv = insert(o);
    if (rv != CKR_OK || k->cert == NULL)
        return rv;
    o = new_object(t, k, P11KMS_OBJ_CERTIFICATE);
    if (o != NULL) {
        o->start_date = k->cert->start;
        o->end_date = k->cert->end;
    }
    return insert(o);
}

CK_RV p11kms_asym_objects_create_locked(struct p11kms_token *t, const p11kms_key_config *kc)
{
    p11kms_asym_key *k = NULL;
    CK_RV rv = p11kms_asym_key_new(kc, &k);

    if (rv == CKR_OK)
        rv = make_objects(t, k);
    p11kms_asym_key_put(k); /* the objects hold theirs */
    return rv;
}
