/* attrs.h - attribute rules coded once: reading object attributes with the specification's
 * error precedence, template parsing for new data keys, changes, and template matching. */
#ifndef P11KMS_ATTRS_H
#define P11KMS_ATTRS_H

#include "pkcs11/p11kms.h"
#include "object.h"

struct p11kms_session;

#define P11KMS_DATA_KEY_MAX 512 /* bytes of a generic secret data key */

/* How a data key comes to be: each allows different template attributes. */
enum p11kms_key_origin {
    P11KMS_FROM_CREATE,   /* C_CreateObject: CKA_VALUE given */
    P11KMS_FROM_GENERATE, /* C_GenerateKey: CKA_VALUE_LEN given or implied */
    P11KMS_FROM_UNWRAP,   /* C_UnwrapKey: value from the envelope */
    P11KMS_FROM_COPY,     /* C_CopyObject: a changed copy */
};

const CK_ATTRIBUTE *p11kms_attr_find(const CK_ATTRIBUTE *t, CK_ULONG n, CK_ATTRIBUTE_TYPE type);

/*
 * Fill a new data-key object o (already holding defaults or, for a copy, the source's values)
 * from a template. key_type_hint is the type implied by the mechanism (CK_UNAVAILABLE_INFORMATION
 * if none). For GENERATE, *value_len gets the requested length; for CREATE the value is copied.
 * Checks session rights (read-only session and token objects, login and private objects).
 * Errors: CKR_TEMPLATE_INCOMPLETE, CKR_TEMPLATE_INCONSISTENT, CKR_ATTRIBUTE_VALUE_INVALID,
 * CKR_ATTRIBUTE_TYPE_INVALID, CKR_ATTRIBUTE_READ_ONLY, CKR_SESSION_READ_ONLY,
 * CKR_USER_NOT_LOGGED_IN; a bad key length is CKR_ATTRIBUTE_VALUE_INVALID.
 */
CK_RV p11kms_attrs_apply_template(struct p11kms_session *s, p11kms_object *o, int origin,
                                  CK_KEY_TYPE key_type_hint, const CK_ATTRIBUTE *t, CK_ULONG n,
                                  size_t *value_len);
/* Check a value length against a key type: 16/24/32 for AES, 1..P11KMS_DATA_KEY_MAX generic. */
int p11kms_key_len_ok(CK_KEY_TYPE type, size_t len);

CK_RV p11kms_get_attribute_value(struct p11kms_session *s, CK_OBJECT_HANDLE h,
                                 CK_ATTRIBUTE_PTR t, CK_ULONG n);
CK_RV p11kms_set_attribute_value(struct p11kms_session *s, CK_OBJECT_HANDLE h,
                                 CK_ATTRIBUTE_PTR t, CK_ULONG n);
/* Whether o has every attribute of t with the same value (sensitive ones never match). */
int p11kms_object_matches_locked(const p11kms_object *o, const CK_ATTRIBUTE *t, CK_ULONG n);

#endif
