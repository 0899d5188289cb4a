/* find.c - C_FindObjectsInit/C_FindObjects/C_FindObjectsFinal: the matching handles are
 * collected at init (under g.lock) and handed out in handle order. */
#include <stdlib.h>
#include "asym-objects.h"
#include "attrs.h"
#include "object.h"
#include "ops.h"
#include "state.h"
#include "store.h"

static int cmp_handle(const void *a, const void *b)
{
    CK_OBJECT_HANDLE x = *(const CK_OBJECT_HANDLE *)a, y = *(const CK_OBJECT_HANDLE *)b;
    return x < y ? -1 : x > y;
}

CK_RV p11kms_find_init(p11kms_session *s, CK_ATTRIBUTE_PTR t, CK_ULONG n)
{
    CK_RV rv = CKR_OK;
    size_t it = 0;
    void *val;
    CK_OBJECT_HANDLE *h;

    if (s->find.active)
        return CKR_OPERATION_ACTIVE;
    /* Store: what other processes created or destroyed since the last look (no KMS call). */
    rv = p11kms_store_prepare_find(s, t, n);
    if (rv != CKR_OK)
        return rv;
    /* Matching a public key's value needs it: asked of the KMS here, without g.lock. */
    rv = p11kms_asym_prepare_find(s, t, n);
    if (rv != CKR_OK)
        return rv;
    p11kms_lock();
    h = malloc((p11kms_g.objects.n + 1) * sizeof(*h));
    if (h == NULL) {
        rv = CKR_HOST_MEMORY;
    } else {
        size_t k = 0;
        while (p11kms_map_next(&p11kms_g.objects, &it, NULL, &val)) {
            p11kms_object *o = val;
            if (p11kms_object_visible_locked(s, o) && p11kms_object_matches_locked(o, t, n))
                h[k++] = o->handle;
        }
        qsort(h, k, sizeof(*h), cmp_handle);
        s->find.handles = h;
        s->find.n = k;
        s->find.pos = 0;
        s->find.active = 1;
    }
    p11kms_unlock();
    return rv;
}

CK_RV p11kms_find(p11kms_session *s, CK_OBJECT_HANDLE_PTR out, CK_ULONG max, CK_ULONG_PTR count)
{
    CK_ULONG k = 0;

    if (!s->find.active)
        return CKR_OPERATION_NOT_INITIALIZED;
    while (k < max && s->find.pos < s->find.n)
        out[k++] = s->find.handles[s->find.pos++];
    *count = k;
    return CKR_OK;
}

CK_RV p11kms_find_final(p11kms_session *s)
{
    if (!s->find.active)
        return CKR_OPERATION_NOT_INITIALIZED;
    free(s->find.handles);
    s->find.handles = NULL;
    s->find.n = s->find.pos = 0;
    s->find.active = 0;
    return CKR_OK;
}
