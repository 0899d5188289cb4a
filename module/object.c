/* object.c - object lifetime: allocation, copies, the handle map, visibility, a session's rights
 * over an object, reference counts. The map and the objects' attributes are protected by g.lock;
 * refs are atomic. */
#include <stdlib.h>
#include <string.h>
#include "asym.h"
#include "object.h"
#include "session.h"
#include "state.h"

void p11kms_stored_free(p11kms_stored *sd)
{
    if (sd == NULL)
        return;
    p11kms_object_free(sd->pending);
    free(sd);
}

p11kms_object *p11kms_object_alloc(int kind)
{
    p11kms_object *o = calloc(1, sizeof(*o));

    if (o == NULL)
        return NULL;
    o->kind = kind;
    switch (kind) {
    case P11KMS_OBJ_DATA:
        o->cls = CKO_DATA;
        break;
    case P11KMS_OBJ_PRIVATE_KEY:
        o->cls = CKO_PRIVATE_KEY;
        break;
    case P11KMS_OBJ_PUBLIC_KEY:
        o->cls = CKO_PUBLIC_KEY;
        break;
    case P11KMS_OBJ_CERTIFICATE:
        o->cls = CKO_CERTIFICATE;
        break;
    default:
        o->cls = CKO_SECRET_KEY;
        break;
    }
    o->key_type = CK_UNAVAILABLE_INFORMATION;
    o->key_gen_mechanism = CK_UNAVAILABLE_INFORMATION;
    o->modifiable = CK_TRUE;
    o->copyable = CK_TRUE;
    o->destroyable = CK_TRUE;
    if (kind != P11KMS_OBJ_DATA_KEY && kind != P11KMS_OBJ_KMS_KEY)
        return o; /* the asymmetric objects get theirs from asym-objects.c; data objects none */
    /* Key defaults: usable for bulk encryption, wrappable by a KMS key, value not readable
     * unless the template says CKA_SENSITIVE false. */
    o->sensitive = CK_TRUE;
    o->extractable = CK_TRUE;
    o->encrypt = CK_TRUE;
    o->decrypt = CK_TRUE;
    return o;
}

void p11kms_object_free(p11kms_object *o)
{
    if (o == NULL)
        return;
    p11kms_secure_free(o->value, o->value_len);
    free(o->label);
    free(o->id);
    free(o->application);
    free(o->object_id);
    free(o->default_context);
    p11kms_stored_free(o->stored);
    /* KMS key objects own their key set (backend instances); asymmetric ones share their
     * key's. */
    p11kms_keyset_free(o->keyset);
    p11kms_asym_key_put(o->asym);
    free(o);
}

/* A copy of len bytes, or NULL for none; 0 on success. */
static int dup_bytes(uint8_t **dst, const uint8_t *src, size_t len)
{
    *dst = NULL;
    if (src == NULL)
        return 0;
    *dst = malloc(len ? len : 1);
    if (*dst == NULL)
        return -1;
    if (len)
        memcpy(*dst, src, len);
    return 0;
}

p11kms_object *p11kms_object_clone_locked(const p11kms_object *src)
{
    p11kms_object *o = malloc(sizeof(*o));

    if (o == NULL)
        return NULL;
    *o = *src;
    /* Nothing is shared: not in the map, no backend, not stored, its own copies of every byte
     * string. */
    o->handle = 0;
    o->refs = 0;
    o->stored = NULL;
    o->keyset = NULL;
    o->asym = NULL;
    o->kcfg = NULL;
    o->default_context = NULL;
    o->default_context_len = 0;
    if (dup_bytes(&o->label, src->label, src->label_len) != 0 ||
        dup_bytes(&o->id, src->id, src->id_len) != 0 ||
        dup_bytes(&o->value, src->value, src->value_len) != 0 ||
        dup_bytes(&o->application, src->application, src->application_len) != 0 ||
        dup_bytes(&o->object_id, src->object_id, src->object_id_len) != 0) {
        /* The fields not yet copied still point into src. */
        if (o->label == src->label)
            o->label = NULL;
        if (o->id == src->id)
            o->id = NULL;
        if (o->value == src->value)
            o->value = NULL;
        if (o->application == src->application)
            o->application = NULL;
        if (o->object_id == src->object_id)
            o->object_id = NULL;
        p11kms_object_free(o);
        return NULL;
    }
    return o;
}

#define SWAP_BYTES(a, b, f)                                                                        \
    do {                                                                                           \
        uint8_t *p_ = (a)->f;                                                                      \
        size_t n_ = (a)->f##_len;                                                                  \
        (a)->f = (b)->f;                                                                           \
        (a)->f##_len = (b)->f##_len;                                                               \
        (b)->f = p_;                                                                               \
        (b)->f##_len = n_;                                                                         \
    } while (0)

void p11kms_object_commit_locked(p11kms_object *o, p11kms_object *staged)
{
    /* Field by field: refs and the map belong to other threads too. */
    SWAP_BYTES(o, staged, label);
    SWAP_BYTES(o, staged, id);
    SWAP_BYTES(o, staged, value);
    SWAP_BYTES(o, staged, application);
    SWAP_BYTES(o, staged, object_id);
    o->is_token = staged->is_token;
    o->is_private = staged->is_private;
    o->modifiable = staged->modifiable;
    o->copyable = staged->copyable;
    o->destroyable = staged->destroyable;
    o->sensitive = staged->sensitive;
    o->always_sensitive = staged->always_sensitive;
    o->extractable = staged->extractable;
    o->never_extractable = staged->never_extractable;
    o->encrypt = staged->encrypt;
    o->decrypt = staged->decrypt;
    o->wrap = staged->wrap;
    o->unwrap = staged->unwrap;
    o->sign = staged->sign;
    o->verify = staged->verify;
    o->derive = staged->derive;
    o->wrap_with_trusted = staged->wrap_with_trusted;
    o->start_date = staged->start_date;
    o->end_date = staged->end_date;
    o->usage_history = staged->usage_history;
}

CK_RV p11kms_object_insert_locked(p11kms_object *o)
{
    /* A session object whose session was closed meanwhile (by another thread's
     * C_CloseSession or C_CloseAllSessions) would outlive it: nobody would destroy it. */
    if (!o->is_token && p11kms_map_get(&p11kms_g.sessions, o->session) == NULL)
        return CKR_SESSION_CLOSED;
    o->handle = p11kms_new_handle_locked();
    o->refs = 1;
    if (p11kms_map_put(&p11kms_g.objects, o->handle, o) != 0)
        return CKR_HOST_MEMORY;
    return CKR_OK;
}

CK_RV p11kms_object_insert_as_locked(p11kms_object *o, CK_OBJECT_HANDLE h)
{
    o->handle = h;
    o->refs = 1;
    if (p11kms_map_put(&p11kms_g.objects, h, o) != 0)
        return CKR_HOST_MEMORY;
    return CKR_OK;
}

/* Session objects belong to the application, not to the session that made them (PKCS#11
 * 2.40 section 4.4): every session on the token sees them, until their session closes. */
int p11kms_object_visible_locked(const p11kms_session *s, const p11kms_object *o)
{
    if (o->token != s->token)
        return 0;
    if (o->is_private && s->token->has_pin && !p11kms_session_logged_in_locked(s))
        return 0;
    return 1;
}

CK_RV p11kms_object_get_locked(p11kms_session *s, CK_OBJECT_HANDLE h, p11kms_object **out)
{
    p11kms_object *o = p11kms_map_get(&p11kms_g.objects, h);

    *out = NULL;
    if (o == NULL || !p11kms_object_visible_locked(s, o))
        return CKR_OBJECT_HANDLE_INVALID;
    __atomic_add_fetch(&o->refs, 1, __ATOMIC_RELAXED);
    *out = o;
    return CKR_OK;
}

/* References are atomic so that releasing one needs no lock: the map's own reference is
 * dropped only after the object left the map, so nobody can take a new one at zero. */
void p11kms_object_put(p11kms_object *o)
{
    if (o != NULL && __atomic_sub_fetch(&o->refs, 1, __ATOMIC_ACQ_REL) == 0)
        p11kms_object_free(o);
}

void p11kms_objects_drop_session_locked(CK_SESSION_HANDLE h)
{
    size_t it = 0, n = 0, i;
    CK_ULONG key;
    void *val;
    CK_OBJECT_HANDLE *gone;

    gone = malloc((p11kms_g.objects.n + 1) * sizeof(*gone));
    while (p11kms_map_next(&p11kms_g.objects, &it, &key, &val)) {
        p11kms_object *o = val;
        if (!o->is_token && o->session == h) {
            if (gone != NULL)
                gone[n++] = key;
        }
    }
    /* The map cannot change while it is being walked: collect, then delete. */
    for (i = 0; i < n; i++)
        p11kms_object_put(p11kms_map_del(&p11kms_g.objects, gone[i]));
    free(gone);
}

CK_RV p11kms_object_rights_locked(const p11kms_session *s, const p11kms_object *o)
{
    if (o->is_token && !(s->flags & CKF_RW_SESSION))
        return CKR_SESSION_READ_ONLY;
    if (o->is_private && s->token->has_pin && !p11kms_session_logged_in_locked(s))
        return CKR_USER_NOT_LOGGED_IN;
    return CKR_OK;
}

CK_RV p11kms_object_add_new(p11kms_session *s, p11kms_object *o, CK_OBJECT_HANDLE_PTR out)
{
    CK_RV rv;

    /* Token objects are the object store's (p11kms_store_add_new): never kept here alone. */
    if (o->is_token)
        return CKR_GENERAL_ERROR;
    o->token = s->token;
    o->session = s->handle;
    p11kms_lock();
    rv = p11kms_object_rights_locked(s, o);
    if (rv == CKR_OK)
        rv = p11kms_object_insert_locked(o);
    if (rv == CKR_OK)
        *out = o->handle;
    p11kms_unlock();
    return rv;
}
