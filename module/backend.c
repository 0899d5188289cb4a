/* backend.c - the registry of KMS backends and the one place a key configuration becomes a
 * backend instance. The list is fixed at build time: adding a backend is its folder under
 * module/backends/ and one line in P11KMS_BACKENDS. No state, no locks. */
#include <string.h>
#include "backend.h"
#include "log.h"

/* Every known backend, in the order quick mode tries their key references. Each folder
 * defines p11kms_backend_<name>_ops. */
#define P11KMS_BACKENDS(X)                                                                         \
    X(local)                                                                                       \
    X(aws)                                                                                         \
    X(gcp)                                                                                         \
    X(vault)

#define DECLARE(n) extern const p11kms_backend_ops p11kms_backend_##n##_ops;
#define ENTRY(n) &p11kms_backend_##n##_ops,
P11KMS_BACKENDS(DECLARE)
static const p11kms_backend_ops *const backends[] = {P11KMS_BACKENDS(ENTRY) NULL};

const p11kms_backend_ops *p11kms_backend_at(size_t i)
{
    return i < sizeof(backends) / sizeof(backends[0]) ? backends[i] : NULL;
}

const p11kms_backend_ops *p11kms_backend_find(const char *name)
{
    size_t i;

    if (name == NULL)
        return NULL;
    for (i = 0; backends[i] != NULL; i++)
        if (strcmp(backends[i]->name, name) == 0)
            return backends[i]->create != NULL ? backends[i] : NULL;
    return NULL;
}

const p11kms_backend_ops *p11kms_backend_find_id(uint8_t id)
{
    size_t i;

    for (i = 0; backends[i] != NULL; i++)
        if (backends[i]->envelope_id == id)
            return backends[i];
    return NULL;
}

const p11kms_backend_ops *p11kms_backend_quick(const char *value, p11kms_quick_key *out)
{
    size_t i;

    memset(out, 0, sizeof(*out));
    for (i = 0; backends[i] != NULL; i++)
        if (backends[i]->quick != NULL && backends[i]->quick(value, out))
            return backends[i];
    memset(out, 0, sizeof(*out));
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
