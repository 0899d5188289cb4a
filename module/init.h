/* init.h - the module's lifecycle: C_Initialize builds the global state (state.h) from the
 * configuration, C_Finalize waits for the calls inside and tears it down; a forked child
 * abandons what it inherited and builds its own. */
#ifndef P11KMS_INIT_H
#define P11KMS_INIT_H

#include "pkcs11/p11kms.h"

CK_RV p11kms_initialize(CK_VOID_PTR init_args);
CK_RV p11kms_finalize(CK_VOID_PTR reserved);

#endif
