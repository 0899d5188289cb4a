/* object.c - object lifetime: allocation, the handle map, visibility, reference counts, and
 * C_DestroyObject/C_CopyObject/C_GetObjectSize. The map and refs are protected by g.lock. */
#include <stdlib.h>
#include <string.h>
#include "attrs.h"
#include "init.h"
#include "log.h"
#include "object.h"
#include "session.h"
#include "slot.h"

p11kms_object *p11kms_object_alloc(int kind)
{
    p11kms_object *o = calloc(1, sizeof(*o));

    if (o == NULL)
        return NULL;
    o->kind = kind;
    o->cls = CKO_SECRET_KEY;
    o->key_type = CK_UNAVAILABLE_INFORMATION;
    o->key_gen_mechanism = CK_UNAVAILABLE_INFORMATION;
    /* Data key defaults: usable for bulk encryption, wrappable by a KMS key, value not readable
     * unless the template says CKA_SENSITIVE false. */
    o->modifiable = CK_TRUE;
    o->copyable = CK_TRUE;
    o->destroyable = CK_TRUE;
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
    free(o->default_context);
    /* KMS key objects own their backend instance. */
    p11kms_backend_free(o->backend);
    free(o);
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

CK_RV p11kms_destroy_object(p11kms_session *s, CK_OBJECT_HANDLE h)
{
    CK_RV rv = CKR_GENERAL_ERROR;
    p11kms_object *o = NULL;

    p11kms_lock();
    rv = p11kms_object_get_locked(s, h, &o);
    if (rv != CKR_OK)
        goto out;
    if (o->kind == P11KMS_OBJ_KMS_KEY || !o->destroyable) {
        rv = CKR_ACTION_PROHIBITED;
        goto out;
    }
    if (o->is_token && !(s->flags & CKF_RW_SESSION)) {
        rv = CKR_SESSION_READ_ONLY;
        goto out;
    }
    p11kms_object_put(p11kms_map_del(&p11kms_g.objects, h));
    rv = CKR_OK;
out:
    p11kms_object_put(o);
    p11kms_unlock();
    return rv;
}

CK_RV p11kms_copy_object(p11kms_session *s, CK_OBJECT_HANDLE h, CK_ATTRIBUTE_PTR tmpl,
                         CK_ULONG count, CK_OBJECT_HANDLE_PTR out)
{
    CK_RV rv = CKR_GENERAL_ERROR;
    p11kms_object *src = NULL, *o = NULL;

    p11kms_lock();
    rv = p11kms_object_get_locked(s, h, &src);
    if (rv == CKR_OK && (src->kind == P11KMS_OBJ_KMS_KEY || !src->copyable))
        rv = CKR_ACTION_PROHIBITED;
    if (rv == CKR_OK) {
        o = p11kms_object_alloc(P11KMS_OBJ_DATA_KEY);
        if (o == NULL)
            rv = CKR_HOST_MEMORY;
    }
    if (rv == CKR_OK) {
        *o = *src;
        o->label = NULL;
        o->id = NULL;
        o->value = malloc(src->value_len);
        o->label = malloc(src->label_len + 1);
        o->id = malloc(src->id_len + 1);
        if (o->value == NULL || o->label == NULL || o->id == NULL) {
            rv = CKR_HOST_MEMORY;
        } else {
            memcpy(o->value, src->value, src->value_len);
            if (src->label_len)
                memcpy(o->label, src->label, src->label_len);
            if (src->id_len)
                memcpy(o->id, src->id, src->id_len);
        }
    }
    p11kms_unlock();
    if (rv != CKR_OK)
        goto out;
    o->refs = 0;
    o->session = s->handle;
    rv = p11kms_attrs_apply_template(s, o, P11KMS_FROM_COPY, CK_UNAVAILABLE_INFORMATION, tmpl,
                                     count, NULL);
    if (rv != CKR_OK)
        goto out;
    p11kms_lock();
    rv = p11kms_object_insert_locked(o);
    if (rv == CKR_OK)
        *out = o->handle;
    p11kms_unlock();
    if (rv == CKR_OK)
        o = NULL;
out:
    if (o != NULL) {
        o->backend = NULL;
        p11kms_object_free(o);
    }
    p11kms_object_put(src);
    return rv;
}

CK_RV p11kms_get_object_size(p11kms_session *s, CK_OBJECT_HANDLE h, CK_ULONG_PTR size)
{
    CK_RV rv;
    p11kms_object *o = NULL;

    p11kms_lock();
    rv = p11kms_object_get_locked(s, h, &o);
    if (rv == CKR_OK)
        *size = sizeof(*o) + o->label_len + o->id_len + o->value_len + o->default_context_len;
    p11kms_object_put(o);
    p11kms_unlock();
    return rv;
}
