/* mech.h - the mechanisms the module offers, with their key sizes and flags, in one table.
 * Both C_GetMechanism* and the operation code ask this table what is allowed. */
#ifndef P11KMS_MECH_H
#define P11KMS_MECH_H

#include "pkcs11/p11kms.h"

CK_RV p11kms_get_mechanism_list(CK_SLOT_ID slot, CK_MECHANISM_TYPE_PTR list, CK_ULONG_PTR count);
CK_RV p11kms_get_mechanism_info(CK_SLOT_ID slot, CK_MECHANISM_TYPE type, CK_MECHANISM_INFO_PTR info);
/* Whether type is one of ours and allows the CKF_ENCRYPT/DECRYPT/WRAP/UNWRAP/GENERATE flag. */
int p11kms_mech_allows(CK_MECHANISM_TYPE type, CK_FLAGS flag);
/* The mechanisms that send data to the KMS (vendor envelope, and AES key wrap with a KMS key). */
int p11kms_mech_is_envelope(CK_MECHANISM_TYPE type);

#endif
