/* object-ops.c - the object management calls: C_CreateObject (data objects here, keys through
 * keygen.c), C_CopyObject, C_DestroyObject, C_GetObjectSize, C_GetAttributeValue and
 * C_SetAttributeValue. Objects are looked up and changed under g.lock; templates go through the
 * attribute rules (attrs.c) on copies private to the call, so a change is all or nothing. */
#include <string.h>
#include "asym-objects.h"
#include "attr-rules.h"
#include "attrs.h"
#include "log.h"
#include "object.h"
#include "ops.h"
#include "state.h"
#include "store.h"

static CK_RV data_object_new(p11kms_session *s, CK_ATTRIBUTE_PTR t, CK_ULONG n,
                             CK_OBJECT_HANDLE_PTR out)
{
    CK_RV rv = CKR_GENERAL_ERROR;
    p11kms_object *o = p11kms_object_alloc(P11KMS_OBJ_DATA);

    if (o == NULL)
        return CKR_HOST_MEMORY;
    rv = p11kms_attrs_apply(o, P11KMS_FROM_CREATE, t, n, NULL, NULL);
    if (rv == CKR_OK)
        rv = p11kms_store_add_new(s, o, out);
    if (rv == CKR_OK)
        o = NULL;
    p11kms_object_free(o);
    return rv;
}

CK_RV p11kms_create_object(p11kms_session *s, CK_ATTRIBUTE_PTR t, CK_ULONG n,
                           CK_OBJECT_HANDLE_PTR out)
{
    const CK_ATTRIBUTE *a = p11kms_attr_find(t, n, CKA_CLASS);
    CK_OBJECT_CLASS cls;

    /* The class decides which rules the rest of the template meets. */
    if (a == NULL)
        return CKR_TEMPLATE_INCOMPLETE;
    if (a->pValue == NULL || a->ulValueLen != sizeof(cls))
        return CKR_ATTRIBUTE_VALUE_INVALID;
    memcpy(&cls, a->pValue, sizeof(cls));
    if (cls == CKO_DATA)
        return data_object_new(s, t, n, out);
    if (cls != CKO_SECRET_KEY) {
        LOG_W("C_CreateObject: class 0x%lx is not offered: this token holds secret keys and data "
              "objects",
              (unsigned long)cls);
        return CKR_TEMPLATE_INCONSISTENT;
    }
    return p11kms_data_key_new(s, P11KMS_FROM_CREATE, CK_UNAVAILABLE_INFORMATION, t, n, out);
}

CK_RV p11kms_copy_object(p11kms_session *s, CK_OBJECT_HANDLE h, CK_ATTRIBUTE_PTR tmpl,
                         CK_ULONG count, CK_OBJECT_HANDLE_PTR out)
{
    CK_RV rv = CKR_GENERAL_ERROR;
    p11kms_object *src = NULL, *o = NULL;

    /* Store: a copy takes the value, so a stored source is unsealed first. */
    rv = p11kms_store_use(s, h, P11KMS_USE_VALUE);
    if (rv != CKR_OK)
        return rv;
    p11kms_lock();
    rv = p11kms_object_get_locked(s, h, &src);
    if (rv == CKR_OK && (p11kms_object_kind_fixed(src->kind) || !src->copyable))
        rv = CKR_ACTION_PROHIBITED;
    else if (rv == CKR_OK && !p11kms_object_value_ready(src))
        rv = CKR_GENERAL_ERROR;
    if (rv == CKR_OK) {
        o = p11kms_object_clone_locked(src);
        if (o == NULL)
            rv = CKR_HOST_MEMORY;
    }
    p11kms_unlock();
    if (rv != CKR_OK)
        goto out;
    rv = p11kms_attrs_apply(o, P11KMS_FROM_COPY, tmpl, count, NULL, NULL);
    if (rv != CKR_OK)
        goto out;
    rv = p11kms_store_add_new(s, o, out);
    if (rv == CKR_OK)
        o = NULL;
out:
    p11kms_object_free(o);
    p11kms_object_put(src);
    return rv;
}

CK_RV p11kms_destroy_object(p11kms_session *s, CK_OBJECT_HANDLE h)
{
    CK_RV rv = CKR_GENERAL_ERROR;
    p11kms_object *o = NULL;

    /* Store: an object another process destroyed is gone here too. */
    rv = p11kms_store_use(s, h, P11KMS_USE_ATTRS);
    if (rv != CKR_OK)
        return rv;
    p11kms_lock();
    rv = p11kms_object_get_locked(s, h, &o);
    if (rv != CKR_OK)
        goto out;
    if (p11kms_object_kind_fixed(o->kind) || !o->destroyable) {
        rv = CKR_ACTION_PROHIBITED;
        goto out;
    }
    if (o->is_token && !(s->flags & CKF_RW_SESSION)) {
        rv = CKR_SESSION_READ_ONLY;
        goto out;
    }
    if (o->stored != NULL) {
        /* Store: its file goes first, outside g.lock. */
        p11kms_unlock();
        rv = p11kms_store_remove(o, h);
        p11kms_lock();
        goto out;
    }
    p11kms_object_put(p11kms_map_del(&p11kms_g.objects, h));
    rv = CKR_OK;
out:
    p11kms_object_put(o);
    p11kms_unlock();
    return rv;
}

CK_RV p11kms_get_object_size(p11kms_session *s, CK_OBJECT_HANDLE h, CK_ULONG_PTR size)
{
    CK_RV rv;
    p11kms_object *o = NULL;

    rv = p11kms_store_use(s, h, P11KMS_USE_ATTRS);
    if (rv != CKR_OK)
        return rv;
    p11kms_lock();
    rv = p11kms_object_get_locked(s, h, &o);
    if (rv == CKR_OK)
        *size = sizeof(*o) + o->label_len + o->id_len + o->value_len + o->application_len +
                o->object_id_len + o->default_context_len;
    p11kms_object_put(o);
    p11kms_unlock();
    return rv;
}

CK_RV p11kms_get_attribute_value(p11kms_session *s, CK_OBJECT_HANDLE h, CK_ATTRIBUTE_PTR t,
                                 CK_ULONG n)
{
    CK_RV rv = CKR_GENERAL_ERROR;
    p11kms_object *o = NULL;
    int sensitive = 0, invalid = 0, small = 0;
    unsigned how;
    CK_ULONG i;

    /* Store: follow the object's file; a CKA_VALUE read unseals what it would reveal. */
    how =
        t != NULL && p11kms_attr_find(t, n, CKA_VALUE) != NULL ? P11KMS_USE_READ : P11KMS_USE_ATTRS;
    rv = p11kms_store_use(s, h, how);
    if (rv != CKR_OK)
        return rv;
    /* An asymmetric KMS key's public half comes from the KMS, without g.lock. */
    rv = p11kms_asym_prepare_read(s, h, t, n);
    if (rv != CKR_OK)
        return rv;
    p11kms_lock();
    rv = p11kms_object_get_locked(s, h, &o);
    if (rv != CKR_OK)
        goto out;
    /* Every attribute is processed; the result reports the most serious problem, in the order
     * the specification gives: sensitive, then invalid type, then buffer too small. */
    for (i = 0; i < n; i++) {
        p11kms_attr_val v;
        int r = p11kms_attr_read(o, t[i].type, &v);

        if (r == P11KMS_VAL_SECRET) {
            t[i].ulValueLen = CK_UNAVAILABLE_INFORMATION;
            sensitive = 1;
        } else if (r == P11KMS_VAL_ABSENT) {
            t[i].ulValueLen = CK_UNAVAILABLE_INFORMATION;
            invalid = 1;
        } else if (v.tmpl != NULL) {
            if (p11kms_template_get(v.tmpl, &t[i]) != CKR_OK)
                small = 1;
        } else if (t[i].pValue == NULL) {
            t[i].ulValueLen = v.len;
        } else if (t[i].ulValueLen < v.len) {
            t[i].ulValueLen = CK_UNAVAILABLE_INFORMATION;
            small = 1;
        } else {
            if (v.len)
                memcpy(t[i].pValue, v.p, v.len);
            t[i].ulValueLen = v.len;
        }
    }
    rv = sensitive ? CKR_ATTRIBUTE_SENSITIVE
         : invalid ? CKR_ATTRIBUTE_TYPE_INVALID
         : small   ? CKR_BUFFER_TOO_SMALL
                   : CKR_OK;
out:
    if (o != NULL)
        p11kms_object_put(o);
    p11kms_unlock();
    return rv;
}

/* C_SetAttributeValue's checks, and the template applied to a copy of the object (all or
 * nothing: the copy replaces the object's attributes only when every entry was accepted).
 * g.lock held. */
static CK_RV stage_locked(p11kms_session *s, CK_OBJECT_HANDLE h, const CK_ATTRIBUTE *t, CK_ULONG n,
                          p11kms_object **o, p11kms_object **staged)
{
    CK_RV rv = p11kms_object_get_locked(s, h, o);

    if (rv != CKR_OK)
        return rv;
    if (!(*o)->modifiable || p11kms_object_kind_fixed((*o)->kind))
        return CKR_ACTION_PROHIBITED;
    if ((*o)->is_token && !(s->flags & CKF_RW_SESSION))
        return CKR_SESSION_READ_ONLY;
    *staged = p11kms_object_clone_locked(*o);
    if (*staged == NULL)
        return CKR_HOST_MEMORY;
    return p11kms_attrs_apply(*staged, P11KMS_FROM_SET, t, n, NULL, NULL);
}

CK_RV p11kms_set_attribute_value(p11kms_session *s, CK_OBJECT_HANDLE h, CK_ATTRIBUTE_PTR t,
                                 CK_ULONG n)
{
    CK_RV rv = CKR_GENERAL_ERROR;
    p11kms_object *o = NULL, *staged = NULL;
    p11kms_store_guard guard;

    /* Store: a stored object changes under the store's writers' lock, from its current file. */
    rv = p11kms_store_write_begin(s, h, &guard);
    if (rv != CKR_OK)
        goto out;
    p11kms_lock();
    rv = stage_locked(s, h, t, n, &o, &staged);
    if (rv == CKR_OK && o->stored == NULL)
        p11kms_object_commit_locked(o, staged);
    p11kms_unlock();
    if (rv == CKR_OK && o->stored != NULL) {
        /* The new file first (a KMS call, outside g.lock; the writers' lock keeps other setters
         * out), then the object. */
        rv = p11kms_store_rewrite(&guard, o, staged);
        if (rv == CKR_OK) {
            p11kms_lock();
            p11kms_object_commit_locked(o, staged);
            p11kms_unlock();
        }
    }
out:
    p11kms_object_free(staged);
    p11kms_object_put(o);
    p11kms_store_write_end(&guard);
    return rv;
}
