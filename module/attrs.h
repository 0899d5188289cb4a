/* attrs.h - attribute rules applied: templates of C_CreateObject, C_GenerateKey, C_UnwrapKey,
 * C_CopyObject and C_SetAttributeValue through one function and one table (attr-rules.h),
 * matching, wrappability. */
#ifndef P11KMS_ATTRS_H
#define P11KMS_ATTRS_H

#include "pkcs11/p11kms.h"
#include "object.h"

/* Where a template comes from: each allows different attributes (P11KMS_AF_*). */
enum p11kms_key_origin {
    P11KMS_FROM_CREATE,   /* C_CreateObject */
    P11KMS_FROM_GENERATE, /* C_GenerateKey */
    P11KMS_FROM_UNWRAP,   /* C_UnwrapKey: value from the wrapped key */
    P11KMS_FROM_COPY,     /* C_CopyObject: a changed copy */
    P11KMS_FROM_SET,      /* C_SetAttributeValue: a changed object */
};

const CK_ATTRIBUTE *p11kms_attr_find(const CK_ATTRIBUTE *t, CK_ULONG n, CK_ATTRIBUTE_TYPE type);

/*
 * Apply template t to o, all or nothing is the caller's part (o is private to the caller: a
 * fresh object, a clone for copy, a staged clone for set). For the creating origins o comes from
 * p11kms_object_alloc with what the module contributes already set: key type implied by the
 * mechanism, CKA_LOCAL and CKA_KEY_GEN_MECHANISM for generated keys. `forced` is the unwrapping
 * key's CKA_UNWRAP_TEMPLATE (P11KMS_FROM_UNWRAP) or NULL: its attributes are applied to o and a
 * template that contradicts them is CKR_TEMPLATE_INCONSISTENT. *value_len (may be NULL) gets
 * CKA_VALUE_LEN for GENERATE and UNWRAP (0: not given).
 * Errors, in template order then whole-object checks: CKR_ATTRIBUTE_TYPE_INVALID (unknown),
 * CKR_TEMPLATE_INCONSISTENT (not an attribute of this object, two values for one attribute,
 * not allowed at creation, or inconsistent with the rest, such as wrap together with decrypt),
 * CKR_ATTRIBUTE_VALUE_INVALID, CKR_ATTRIBUTE_READ_ONLY (module-set, one-way, or not changeable),
 * CKR_TEMPLATE_INCOMPLETE, CKR_HOST_MEMORY. Takes no lock.
 */
CK_RV p11kms_attrs_apply(p11kms_object *o, int origin, const CK_ATTRIBUTE *t, CK_ULONG n,
                         const p11kms_attr_template *forced, size_t *value_len);
/* Whether key may be wrapped by wrapping: CKR_KEY_HANDLE_INVALID (not a key),
 * CKR_KEY_UNEXTRACTABLE (CKA_EXTRACTABLE false, or a KMS key), CKR_KEY_NOT_WRAPPABLE
 * (CKA_WRAP_WITH_TRUSTED and the wrapping key not trusted, or the wrapping key's
 * CKA_WRAP_TEMPLATE not matched). g.lock held. */
CK_RV p11kms_attrs_wrappable_locked(const p11kms_object *wrapping, const p11kms_object *key);

/* Check a value length against a key type: 16/24/32 for AES, 1..P11KMS_DATA_KEY_MAX generic. */
int p11kms_key_len_ok(CK_KEY_TYPE type, size_t len);

/* Whether o has every attribute of t with the same value (secret ones never match). */
int p11kms_object_matches_locked(const p11kms_object *o, const CK_ATTRIBUTE *t, CK_ULONG n);

#endif
