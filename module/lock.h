/* lock.h - mutexes as the application asked for them at C_Initialize: OS locks (pthread) when
 * CKF_OS_LOCKING_OK or no callbacks were given, otherwise the application's four callbacks. */
#ifndef P11KMS_LOCK_H
#define P11KMS_LOCK_H

#include "pkcs11/p11kms.h"

/* Validate the C_Initialize arguments' locking fields and choose the implementation. */
CK_RV p11kms_lock_setup(const CK_C_INITIALIZE_ARGS *args);
CK_RV p11kms_mutex_new(void **m);
void p11kms_mutex_free(void *m);
void p11kms_mutex_lock(void *m);
void p11kms_mutex_unlock(void *m);

#endif
