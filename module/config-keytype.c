/* config-keytype.c - what a key's "type" means for the rest of its configuration: default
 * permissions, which permissions and fields each kind of key takes. No state, no locks. */
#include <stdio.h>
#include "config.h"

CK_RV p11kms_config_key_kind(p11kms_key_config *kc, int backend_asym, const char *backend,
                             char *err, size_t err_len)
{
    const p11kms_key_type_info *t = p11kms_key_type_get(kc->key_type);

    if (t == NULL) {
        snprintf(err, err_len, "unknown key type");
        return CKR_ARGUMENTS_BAD;
    }
    if (!p11kms_key_type_is_asym(kc->key_type)) {
        if (kc->perms == 0)
            kc->perms = P11KMS_PERM_ALL;
        if (kc->perms & P11KMS_PERM_SIGN) {
            snprintf(err, err_len,
                     "permissions: \"sign\" needs an asymmetric key type "
                     "(\"type\": \"ec-p256\", \"rsa-3072\", ...)");
            return CKR_ARGUMENTS_BAD;
        }
        if (kc->certificate != NULL) {
            snprintf(err, err_len, "certificate: only asymmetric keys have certificates");
            return CKR_ARGUMENTS_BAD;
        }
        return CKR_OK;
    }
    if (!backend_asym) {
        snprintf(err, err_len, "type: backend %s has no asymmetric keys", backend);
        return CKR_ARGUMENTS_BAD;
    }
    if (kc->perms == 0)
        kc->perms = P11KMS_PERM_SIGN;
    if (kc->perms & ~(P11KMS_PERM_SIGN | P11KMS_PERM_DECRYPT)) {
        snprintf(err, err_len, "permissions: a %s key may only \"sign\" and \"decrypt\"", t->name);
        return CKR_ARGUMENTS_BAD;
    }
    if (t->ckk == CKK_EC && (kc->perms & P11KMS_PERM_DECRYPT)) {
        snprintf(err, err_len, "permissions: an EC key cannot \"decrypt\"");
        return CKR_ARGUMENTS_BAD;
    }
    /* Envelope settings mean nothing to a key that signs and decrypts in the KMS. */
    if (kc->context != NULL && kc->context->n > 0) {
        snprintf(err, err_len, "context: only envelope (aes) keys bind a context");
        return CKR_ARGUMENTS_BAD;
    }
    if (kc->wrap_template.n > 0 || kc->unwrap_template.n > 0 || kc->decrypt_v1_envelopes ||
        kc->unwrap_cache.max_age_s > 0) {
        snprintf(err, err_len,
                 "wrap_template, unwrap_template, decrypt_v1_envelopes and unwrap_cache are "
                 "settings of envelope (aes) keys");
        return CKR_ARGUMENTS_BAD;
    }
    return CKR_OK;
}
