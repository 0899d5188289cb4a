/* ops.h - the operations behind the session entry points, one family per file: login.c,
 * object-ops.c, find.c, keygen.c, crypt.c, sign.c, wrap.c, random.c. Each runs with its session
 * acquired (p11kms_session_acquire) and takes g.lock only for short table work. */
#ifndef P11KMS_OPS_H
#define P11KMS_OPS_H

#include "pkcs11/p11kms.h"
#include "session.h"

struct p11kms_object;

/* login.c */
/* CKF_USER_PIN_COUNT_LOW / _FINAL_TRY / _LOCKED as the wrong-PIN count stands. g.lock held. */
CK_FLAGS p11kms_token_pin_flags_locked(const p11kms_token *t);
CK_RV p11kms_login(p11kms_session *s, CK_USER_TYPE user, CK_UTF8CHAR_PTR pin, CK_ULONG pin_len);
CK_RV p11kms_logout(p11kms_session *s);

/* object-ops.c: object management */
CK_RV p11kms_create_object(p11kms_session *s, CK_ATTRIBUTE_PTR t, CK_ULONG n,
                           CK_OBJECT_HANDLE_PTR out);
CK_RV p11kms_copy_object(p11kms_session *s, CK_OBJECT_HANDLE h, CK_ATTRIBUTE_PTR tmpl,
                         CK_ULONG count, CK_OBJECT_HANDLE_PTR out);
CK_RV p11kms_destroy_object(p11kms_session *s, CK_OBJECT_HANDLE h);
CK_RV p11kms_get_object_size(p11kms_session *s, CK_OBJECT_HANDLE h, CK_ULONG_PTR size);
CK_RV p11kms_get_attribute_value(p11kms_session *s, CK_OBJECT_HANDLE h, CK_ATTRIBUTE_PTR t,
                                 CK_ULONG n);
CK_RV p11kms_set_attribute_value(p11kms_session *s, CK_OBJECT_HANDLE h, CK_ATTRIBUTE_PTR t,
                                 CK_ULONG n);

/* find.c */
CK_RV p11kms_find_init(p11kms_session *s, CK_ATTRIBUTE_PTR t, CK_ULONG n);
CK_RV p11kms_find(p11kms_session *s, CK_OBJECT_HANDLE_PTR out, CK_ULONG max, CK_ULONG_PTR count);
CK_RV p11kms_find_final(p11kms_session *s);

/* keygen.c: data keys */
CK_RV p11kms_generate_key(p11kms_session *s, CK_MECHANISM_PTR mech, CK_ATTRIBUTE_PTR t, CK_ULONG n,
                          CK_OBJECT_HANDLE_PTR out);
/* Make a data-key object from a template: P11KMS_FROM_GENERATE (a random value of
 * CKA_VALUE_LEN bytes) or P11KMS_FROM_CREATE (CKA_VALUE). */
CK_RV p11kms_data_key_new(p11kms_session *s, int origin, CK_MECHANISM_TYPE mech, CK_ATTRIBUTE_PTR t,
                          CK_ULONG n, CK_OBJECT_HANDLE_PTR out);
/* C_UnwrapKey in two steps, so a bad template costs no KMS or cipher work and the template is
 * applied once: stage builds and checks the new key from the template (the rules, unwrapper's
 * CKA_UNWRAP_TEMPLATE, the session's rights); commit gives it the unwrapped value (copied) and
 * inserts it. Clear whatever commit did not take. */
typedef struct p11kms_unwrap_staged {
    struct p11kms_object *o;
    size_t want; /* CKA_VALUE_LEN asked for, 0 if none */
} p11kms_unwrap_staged;
/* `unwrapper` is the unwrapping key (referenced by the caller), whose CKA_UNWRAP_TEMPLATE the new
 * key gets. */
CK_RV p11kms_unwrap_stage(p11kms_session *s, const struct p11kms_object *unwrapper,
                          CK_ATTRIBUTE_PTR t, CK_ULONG n, p11kms_unwrap_staged *st);
CK_RV p11kms_unwrap_commit(p11kms_session *s, p11kms_unwrap_staged *st, const uint8_t *value,
                           size_t value_len, CK_OBJECT_HANDLE_PTR out);
void p11kms_unwrap_staged_clear(p11kms_unwrap_staged *st);

/* crypt.c: C_Encrypt* / C_Decrypt* with data keys (cipher) and KMS keys (envelope) */
CK_RV p11kms_crypt_init(p11kms_session *s, int encrypt, CK_MECHANISM_PTR mech,
                        CK_OBJECT_HANDLE key);
CK_RV p11kms_crypt_oneshot(p11kms_session *s, int encrypt, CK_BYTE_PTR in, CK_ULONG in_len,
                           CK_BYTE_PTR out, CK_ULONG_PTR out_len);
CK_RV p11kms_crypt_update(p11kms_session *s, int encrypt, CK_BYTE_PTR in, CK_ULONG in_len,
                          CK_BYTE_PTR out, CK_ULONG_PTR out_len);
CK_RV p11kms_crypt_final(p11kms_session *s, int encrypt, CK_BYTE_PTR out, CK_ULONG_PTR out_len);

/* sign.c: C_Sign* / C_Verify* for the mechanism families of sign.h (sign = 1: the signing
 * operation, 0: the verifying one) */
CK_RV p11kms_sign_init(p11kms_session *s, int sign, CK_MECHANISM_PTR mech, CK_OBJECT_HANDLE key);
CK_RV p11kms_sign(p11kms_session *s, CK_BYTE_PTR data, CK_ULONG len, CK_BYTE_PTR sig,
                  CK_ULONG_PTR sig_len);
CK_RV p11kms_sign_update(p11kms_session *s, int sign, CK_BYTE_PTR part, CK_ULONG len);
CK_RV p11kms_sign_final(p11kms_session *s, CK_BYTE_PTR sig, CK_ULONG_PTR sig_len);
CK_RV p11kms_verify(p11kms_session *s, CK_BYTE_PTR data, CK_ULONG len, CK_BYTE_PTR sig,
                    CK_ULONG sig_len);
CK_RV p11kms_verify_final(p11kms_session *s, CK_BYTE_PTR sig, CK_ULONG sig_len);

/* wrap.c: C_WrapKey/C_UnwrapKey with KMS keys (envelopes); AES key wrap with data keys goes
 * to keywrap.c */
CK_RV p11kms_wrap_key(p11kms_session *s, CK_MECHANISM_PTR mech, CK_OBJECT_HANDLE wrapping_key,
                      CK_OBJECT_HANDLE key, CK_BYTE_PTR out, CK_ULONG_PTR out_len);
CK_RV p11kms_unwrap_key(p11kms_session *s, CK_MECHANISM_PTR mech, CK_OBJECT_HANDLE unwrapping_key,
                        CK_BYTE_PTR in, CK_ULONG in_len, CK_ATTRIBUTE_PTR t, CK_ULONG n,
                        CK_OBJECT_HANDLE_PTR out);

/* random.c */
CK_RV p11kms_generate_random(CK_BYTE_PTR out, CK_ULONG len);

#endif
