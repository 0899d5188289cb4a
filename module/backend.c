/* backend.c - the registry of KMS backends and the one place a key configuration becomes a
 * backend instance. The table is fixed at build time; backends register by adding a line. */
#include <string.h>
#include "backend.h"
#include "log.h"

extern const p11kms_backend_ops p11kms_backend_aws_ops;

static const p11kms_backend_ops *const backends[] = {
    &p11kms_backend_local_ops,
    &p11kms_backend_aws_ops,
    NULL,
};

const p11kms_backend_ops *p11kms_backend_find(const char *name)
{
    size_t i;

    if (name == NULL)
        return NULL;
    for (i = 0; backends[i] != NULL; i++)
        if (strcmp(backends[i]->name, name) == 0)
            return backends[i];
    return NULL;
}

const p11kms_backend_ops *p11kms_backend_find_id(uint8_t id)
{
    size_t i;

    for (i = 0; backends[i] != NULL; i++)
        if (backends[i]->id == id)
            return backends[i];
    return NULL;
}

CK_RV p11kms_backend_new(const p11kms_key_config *kc, p11kms_backend **out)
{
    const p11kms_backend_ops *ops = p11kms_backend_find(kc->backend);
    CK_RV rv;

    *out = NULL;
    if (ops == NULL) {
        LOG_E("%s: backend \"%s\" is not available in this build", kc->origin, kc->backend);
        return CKR_ARGUMENTS_BAD;
    }
    rv = ops->create(kc, out);
    if (rv == CKR_OK)
        (*out)->kc = kc;
    return rv;
}

void p11kms_backend_free(p11kms_backend *be)
{
    if (be != NULL)
        be->ops->destroy(be);
}
