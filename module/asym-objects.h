/* asym-objects.h - the objects of asymmetric KMS keys (asym.h) in the object map, and loading
 * their public half before the attribute reads and searches that need it. */
#ifndef P11KMS_ASYM_OBJECTS_H
#define P11KMS_ASYM_OBJECTS_H

#include "pkcs11/p11kms.h"
#include "config.h"

struct p11kms_token;
struct p11kms_session;

/* Make the objects of one configured asymmetric key on token t: the key (p11kms_asym_key_new)
 * and its private key, public key and certificate objects in the object map. g.lock held
 * (C_Initialize). CKR_ARGUMENTS_BAD (logged: an unreadable certificate, or one of another key
 * type), CKR_HOST_MEMORY. */
CK_RV p11kms_asym_objects_create_locked(struct p11kms_token *t, const p11kms_key_config *kc);

/* Before C_GetAttributeValue of object h / C_FindObjectsInit on the session's token: when the
 * template names an attribute that comes from the public key (CKA_MODULUS,
 * CKA_PUBLIC_EXPONENT, CKA_EC_POINT, CKA_PUBLIC_KEY_INFO), load the public half of the
 * asymmetric keys concerned. Takes g.lock for the look-up only. The load's error, or CKR_OK
 * (also for a handle that names nothing: the caller reports that). */
CK_RV p11kms_asym_prepare_read(struct p11kms_session *s, CK_OBJECT_HANDLE h, const CK_ATTRIBUTE *t,
                               CK_ULONG n);
CK_RV p11kms_asym_prepare_find(struct p11kms_session *s, const CK_ATTRIBUTE *t, CK_ULONG n);

#endif
