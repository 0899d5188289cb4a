/* slot.h - one slot per configured token (the token type is state.h's): building the tokens and
 * their KMS key objects at C_Initialize, and the slot, token and library information calls. */
#ifndef P11KMS_SLOT_H
#define P11KMS_SLOT_H

#include "pkcs11/p11kms.h"

CK_RV p11kms_tokens_create(void); /* from p11kms_g.config: tokens and their KMS key objects */
void p11kms_tokens_destroy(void);

CK_RV p11kms_get_slot_list(CK_BBOOL present, CK_SLOT_ID_PTR list, CK_ULONG_PTR count);
CK_RV p11kms_get_slot_info(CK_SLOT_ID id, CK_SLOT_INFO_PTR info);
CK_RV p11kms_get_token_info(CK_SLOT_ID id, CK_TOKEN_INFO_PTR info);
CK_RV p11kms_get_info(CK_INFO_PTR info);

#endif
