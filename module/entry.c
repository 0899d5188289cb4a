/* entry.c - every PKCS#11 entry point, each a one-line shell over the shared path in entry.h,
 * and the function lists: 3.0 through C_GetInterface, 2.40 through C_GetFunctionList. */
#include <string.h>
#include "entry.h"
#include "init.h"
#include "mech.h"
#include "ops.h"
#include "slot.h"

/* Only these symbols leave the module (module/p11kms.map); the rest is hidden. */
#pragma GCC visibility push(default)

CK_RV C_Initialize(CK_VOID_PTR pInitArgs)
{
    return entry_done(__func__, p11kms_initialize(pInitArgs));
}

CK_RV C_Finalize(CK_VOID_PTR pReserved)
{
    return entry_done(__func__, p11kms_finalize(pReserved));
}

CK_RV C_GetInfo(CK_INFO_PTR pInfo)
{
    ENTRY_MODULE(pInfo != NULL, p11kms_get_info(pInfo));
}

CK_RV C_GetSlotList(CK_BBOOL tokenPresent, CK_SLOT_ID_PTR pSlotList, CK_ULONG_PTR pulCount)
{
    ENTRY_MODULE(pulCount != NULL, p11kms_get_slot_list(tokenPresent, pSlotList, pulCount));
}

CK_RV C_GetSlotInfo(CK_SLOT_ID slotID, CK_SLOT_INFO_PTR pInfo)
{
    ENTRY_MODULE(pInfo != NULL, p11kms_get_slot_info(slotID, pInfo));
}

CK_RV C_GetTokenInfo(CK_SLOT_ID slotID, CK_TOKEN_INFO_PTR pInfo)
{
    ENTRY_MODULE(pInfo != NULL, p11kms_get_token_info(slotID, pInfo));
}

CK_RV C_GetMechanismList(CK_SLOT_ID slotID, CK_MECHANISM_TYPE_PTR pMechanismList,
                         CK_ULONG_PTR pulCount)
{
    ENTRY_MODULE(pulCount != NULL, p11kms_get_mechanism_list(slotID, pMechanismList, pulCount));
}

CK_RV C_GetMechanismInfo(CK_SLOT_ID slotID, CK_MECHANISM_TYPE type, CK_MECHANISM_INFO_PTR pInfo)
{
    ENTRY_MODULE(pInfo != NULL, p11kms_get_mechanism_info(slotID, type, pInfo));
}

CK_RV C_InitToken(CK_SLOT_ID slotID, CK_UTF8CHAR_PTR pPin, CK_ULONG ulPinLen,
                  CK_UTF8CHAR_PTR pLabel)
{
    ENTRY_UNSUPPORTED(CKR_FUNCTION_NOT_SUPPORTED); /* tokens come from the configuration */
}

CK_RV C_InitPIN(CK_SESSION_HANDLE hSession, CK_UTF8CHAR_PTR pPin, CK_ULONG ulPinLen)
{
    ENTRY_UNSUPPORTED(CKR_FUNCTION_NOT_SUPPORTED); /* PINs come from the configuration */
}

CK_RV C_SetPIN(CK_SESSION_HANDLE hSession, CK_UTF8CHAR_PTR pOldPin, CK_ULONG ulOldLen,
               CK_UTF8CHAR_PTR pNewPin, CK_ULONG ulNewLen)
{
    ENTRY_UNSUPPORTED(CKR_FUNCTION_NOT_SUPPORTED);
}

CK_RV C_OpenSession(CK_SLOT_ID slotID, CK_FLAGS flags, CK_VOID_PTR pApplication, CK_NOTIFY Notify,
                    CK_SESSION_HANDLE_PTR phSession)
{
    ENTRY_MODULE(phSession != NULL, p11kms_open_session(slotID, flags, phSession));
}

CK_RV C_CloseSession(CK_SESSION_HANDLE hSession)
{
    ENTRY_SESSION(hSession, 1, p11kms_close_session(s));
}

CK_RV C_CloseAllSessions(CK_SLOT_ID slotID)
{
    ENTRY_MODULE(1, p11kms_close_all_sessions(slotID));
}

CK_RV C_GetSessionInfo(CK_SESSION_HANDLE hSession, CK_SESSION_INFO_PTR pInfo)
{
    ENTRY_SESSION(hSession, pInfo != NULL, p11kms_get_session_info(s, pInfo));
}

CK_RV C_GetOperationState(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pOperationState,
                          CK_ULONG_PTR pulOperationStateLen)
{
    ENTRY_UNSUPPORTED(CKR_FUNCTION_NOT_SUPPORTED);
}

CK_RV C_SetOperationState(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pOperationState,
                          CK_ULONG ulOperationStateLen, CK_OBJECT_HANDLE hEncryptionKey,
                          CK_OBJECT_HANDLE hAuthenticationKey)
{
    ENTRY_UNSUPPORTED(CKR_FUNCTION_NOT_SUPPORTED);
}

CK_RV C_Login(CK_SESSION_HANDLE hSession, CK_USER_TYPE userType, CK_UTF8CHAR_PTR pPin,
              CK_ULONG ulPinLen)
{
    ENTRY_SESSION(hSession, pPin != NULL || ulPinLen == 0,
                  p11kms_login(s, userType, pPin, ulPinLen));
}

CK_RV C_Logout(CK_SESSION_HANDLE hSession)
{
    ENTRY_SESSION(hSession, 1, p11kms_logout(s));
}

CK_RV C_CreateObject(CK_SESSION_HANDLE hSession, CK_ATTRIBUTE_PTR pTemplate, CK_ULONG ulCount,
                     CK_OBJECT_HANDLE_PTR phObject)
{
    ENTRY_SESSION(hSession, (pTemplate != NULL || ulCount == 0) && phObject != NULL,
                  p11kms_create_object(s, pTemplate, ulCount, phObject));
}

CK_RV C_CopyObject(CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE hObject, CK_ATTRIBUTE_PTR pTemplate,
                   CK_ULONG ulCount, CK_OBJECT_HANDLE_PTR phNewObject)
{
    ENTRY_SESSION(hSession, (pTemplate != NULL || ulCount == 0) && phNewObject != NULL,
                  p11kms_copy_object(s, hObject, pTemplate, ulCount, phNewObject));
}

CK_RV C_DestroyObject(CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE hObject)
{
    ENTRY_SESSION(hSession, 1, p11kms_destroy_object(s, hObject));
}

CK_RV C_GetObjectSize(CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE hObject, CK_ULONG_PTR pulSize)
{
    ENTRY_SESSION(hSession, pulSize != NULL, p11kms_get_object_size(s, hObject, pulSize));
}

CK_RV C_GetAttributeValue(CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE hObject,
                          CK_ATTRIBUTE_PTR pTemplate, CK_ULONG ulCount)
{
    ENTRY_SESSION(hSession, pTemplate != NULL || ulCount == 0,
                  p11kms_get_attribute_value(s, hObject, pTemplate, ulCount));
}

CK_RV C_SetAttributeValue(CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE hObject,
                          CK_ATTRIBUTE_PTR pTemplate, CK_ULONG ulCount)
{
    ENTRY_SESSION(hSession, pTemplate != NULL || ulCount == 0,
                  p11kms_set_attribute_value(s, hObject, pTemplate, ulCount));
}

CK_RV C_FindObjectsInit(CK_SESSION_HANDLE hSession, CK_ATTRIBUTE_PTR pTemplate, CK_ULONG ulCount)
{
    ENTRY_SESSION(hSession, pTemplate != NULL || ulCount == 0,
                  p11kms_find_init(s, pTemplate, ulCount));
}

CK_RV C_FindObjects(CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE_PTR phObject,
                    CK_ULONG ulMaxObjectCount, CK_ULONG_PTR pulObjectCount)
{
    ENTRY_SESSION(hSession, (phObject != NULL || ulMaxObjectCount == 0) && pulObjectCount != NULL,
                  p11kms_find(s, phObject, ulMaxObjectCount, pulObjectCount));
}

CK_RV C_FindObjectsFinal(CK_SESSION_HANDLE hSession)
{
    ENTRY_SESSION(hSession, 1, p11kms_find_final(s));
}

CK_RV C_EncryptInit(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism, CK_OBJECT_HANDLE hKey)
{
    ENTRY_SESSION(hSession, pMechanism != NULL, p11kms_crypt_init(s, 1, pMechanism, hKey));
}

CK_RV C_Encrypt(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pData, CK_ULONG ulDataLen,
                CK_BYTE_PTR pEncryptedData, CK_ULONG_PTR pulEncryptedDataLen)
{
    ENTRY_SESSION(hSession, (pData != NULL || ulDataLen == 0) && pulEncryptedDataLen != NULL,
                  p11kms_crypt_oneshot(s, 1, pData, ulDataLen, pEncryptedData,
                                       pulEncryptedDataLen));
}

CK_RV C_EncryptUpdate(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pPart, CK_ULONG ulPartLen,
                      CK_BYTE_PTR pEncryptedPart, CK_ULONG_PTR pulEncryptedPartLen)
{
    ENTRY_SESSION(hSession, (pPart != NULL || ulPartLen == 0) && pulEncryptedPartLen != NULL,
                  p11kms_crypt_update(s, 1, pPart, ulPartLen, pEncryptedPart,
                                      pulEncryptedPartLen));
}

CK_RV C_EncryptFinal(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pLastEncryptedPart,
                     CK_ULONG_PTR pulLastEncryptedPartLen)
{
    ENTRY_SESSION(hSession, pulLastEncryptedPartLen != NULL,
                  p11kms_crypt_final(s, 1, pLastEncryptedPart, pulLastEncryptedPartLen));
}

CK_RV C_DecryptInit(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism, CK_OBJECT_HANDLE hKey)
{
    ENTRY_SESSION(hSession, pMechanism != NULL, p11kms_crypt_init(s, 0, pMechanism, hKey));
}

CK_RV C_Decrypt(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pEncryptedData, CK_ULONG ulEncryptedDataLen,
                CK_BYTE_PTR pData, CK_ULONG_PTR pulDataLen)
{
    ENTRY_SESSION(hSession, (pEncryptedData != NULL || ulEncryptedDataLen == 0) && pulDataLen != NULL,
                  p11kms_crypt_oneshot(s, 0, pEncryptedData, ulEncryptedDataLen, pData,
                                       pulDataLen));
}

CK_RV C_DecryptUpdate(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pEncryptedPart,
                      CK_ULONG ulEncryptedPartLen, CK_BYTE_PTR pPart, CK_ULONG_PTR pulPartLen)
{
    ENTRY_SESSION(hSession, (pEncryptedPart != NULL || ulEncryptedPartLen == 0) && pulPartLen != NULL,
                  p11kms_crypt_update(s, 0, pEncryptedPart, ulEncryptedPartLen, pPart,
                                      pulPartLen));
}

CK_RV C_DecryptFinal(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pLastPart, CK_ULONG_PTR pulLastPartLen)
{
    ENTRY_SESSION(hSession, pulLastPartLen != NULL,
                  p11kms_crypt_final(s, 0, pLastPart, pulLastPartLen));
}

CK_RV C_DigestInit(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism)
{
    ENTRY_UNSUPPORTED(CKR_FUNCTION_NOT_SUPPORTED);
}

CK_RV C_Digest(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pData, CK_ULONG ulDataLen,
               CK_BYTE_PTR pDigest, CK_ULONG_PTR pulDigestLen)
{
    ENTRY_UNSUPPORTED(CKR_FUNCTION_NOT_SUPPORTED);
}

CK_RV C_DigestUpdate(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pPart, CK_ULONG ulPartLen)
{
    ENTRY_UNSUPPORTED(CKR_FUNCTION_NOT_SUPPORTED);
}

CK_RV C_DigestKey(CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE hKey)
{
    ENTRY_UNSUPPORTED(CKR_FUNCTION_NOT_SUPPORTED);
}

CK_RV C_DigestFinal(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pDigest, CK_ULONG_PTR pulDigestLen)
{
    ENTRY_UNSUPPORTED(CKR_FUNCTION_NOT_SUPPORTED);
}

CK_RV C_SignInit(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism, CK_OBJECT_HANDLE hKey)
{
    ENTRY_SESSION(hSession, pMechanism != NULL, p11kms_sign_init(s, 1, pMechanism, hKey));
}

CK_RV C_Sign(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pData, CK_ULONG ulDataLen,
             CK_BYTE_PTR pSignature, CK_ULONG_PTR pulSignatureLen)
{
    ENTRY_SESSION(hSession, (pData != NULL || ulDataLen == 0) && pulSignatureLen != NULL,
                  p11kms_sign(s, pData, ulDataLen, pSignature, pulSignatureLen));
}

CK_RV C_SignUpdate(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pPart, CK_ULONG ulPartLen)
{
    ENTRY_SESSION(hSession, pPart != NULL || ulPartLen == 0,
                  p11kms_sign_update(s, 1, pPart, ulPartLen));
}

CK_RV C_SignFinal(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pSignature, CK_ULONG_PTR pulSignatureLen)
{
    ENTRY_SESSION(hSession, pulSignatureLen != NULL,
                  p11kms_sign_final(s, pSignature, pulSignatureLen));
}

CK_RV C_SignRecoverInit(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism,
                        CK_OBJECT_HANDLE hKey)
{
    ENTRY_UNSUPPORTED(CKR_FUNCTION_NOT_SUPPORTED);
}

CK_RV C_SignRecover(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pData, CK_ULONG ulDataLen,
                    CK_BYTE_PTR pSignature, CK_ULONG_PTR pulSignatureLen)
{
    ENTRY_UNSUPPORTED(CKR_FUNCTION_NOT_SUPPORTED);
}

CK_RV C_VerifyInit(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism, CK_OBJECT_HANDLE hKey)
{
    ENTRY_SESSION(hSession, pMechanism != NULL, p11kms_sign_init(s, 0, pMechanism, hKey));
}

CK_RV C_Verify(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pData, CK_ULONG ulDataLen,
               CK_BYTE_PTR pSignature, CK_ULONG ulSignatureLen)
{
    ENTRY_SESSION(hSession,
                  (pData != NULL || ulDataLen == 0) && (pSignature != NULL || ulSignatureLen == 0),
                  p11kms_verify(s, pData, ulDataLen, pSignature, ulSignatureLen));
}

CK_RV C_VerifyUpdate(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pPart, CK_ULONG ulPartLen)
{
    ENTRY_SESSION(hSession, pPart != NULL || ulPartLen == 0,
                  p11kms_sign_update(s, 0, pPart, ulPartLen));
}

CK_RV C_VerifyFinal(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pSignature, CK_ULONG ulSignatureLen)
{
    ENTRY_SESSION(hSession, pSignature != NULL || ulSignatureLen == 0,
                  p11kms_verify_final(s, pSignature, ulSignatureLen));
}

CK_RV C_VerifyRecoverInit(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism,
                          CK_OBJECT_HANDLE hKey)
{
    ENTRY_UNSUPPORTED(CKR_FUNCTION_NOT_SUPPORTED);
}

CK_RV C_VerifyRecover(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pSignature, CK_ULONG ulSignatureLen,
                      CK_BYTE_PTR pData, CK_ULONG_PTR pulDataLen)
{
    ENTRY_UNSUPPORTED(CKR_FUNCTION_NOT_SUPPORTED);
}

CK_RV C_DigestEncryptUpdate(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pPart, CK_ULONG ulPartLen,
                            CK_BYTE_PTR pEncryptedPart, CK_ULONG_PTR pulEncryptedPartLen)
{
    ENTRY_UNSUPPORTED(CKR_FUNCTION_NOT_SUPPORTED);
}

CK_RV C_DecryptDigestUpdate(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pEncryptedPart,
                            CK_ULONG ulEncryptedPartLen, CK_BYTE_PTR pPart, CK_ULONG_PTR pulPartLen)
{
    ENTRY_UNSUPPORTED(CKR_FUNCTION_NOT_SUPPORTED);
}

CK_RV C_SignEncryptUpdate(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pPart, CK_ULONG ulPartLen,
                          CK_BYTE_PTR pEncryptedPart, CK_ULONG_PTR pulEncryptedPartLen)
{
    ENTRY_UNSUPPORTED(CKR_FUNCTION_NOT_SUPPORTED);
}

CK_RV C_DecryptVerifyUpdate(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pEncryptedPart,
                            CK_ULONG ulEncryptedPartLen, CK_BYTE_PTR pPart, CK_ULONG_PTR pulPartLen)
{
    ENTRY_UNSUPPORTED(CKR_FUNCTION_NOT_SUPPORTED);
}

CK_RV C_GenerateKey(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism,
                    CK_ATTRIBUTE_PTR pTemplate, CK_ULONG ulCount, CK_OBJECT_HANDLE_PTR phKey)
{
    ENTRY_SESSION(hSession,
                  pMechanism != NULL && phKey != NULL && (pTemplate != NULL || ulCount == 0),
                  p11kms_generate_key(s, pMechanism, pTemplate, ulCount, phKey));
}

CK_RV C_GenerateKeyPair(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism,
                        CK_ATTRIBUTE_PTR pPublicKeyTemplate, CK_ULONG ulPublicKeyAttributeCount,
                        CK_ATTRIBUTE_PTR pPrivateKeyTemplate, CK_ULONG ulPrivateKeyAttributeCount,
                        CK_OBJECT_HANDLE_PTR phPublicKey, CK_OBJECT_HANDLE_PTR phPrivateKey)
{
    ENTRY_UNSUPPORTED(CKR_FUNCTION_NOT_SUPPORTED);
}

CK_RV C_WrapKey(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism,
                CK_OBJECT_HANDLE hWrappingKey, CK_OBJECT_HANDLE hKey, CK_BYTE_PTR pWrappedKey,
                CK_ULONG_PTR pulWrappedKeyLen)
{
    ENTRY_SESSION(hSession, pMechanism != NULL && pulWrappedKeyLen != NULL,
                  p11kms_wrap_key(s, pMechanism, hWrappingKey, hKey, pWrappedKey,
                                  pulWrappedKeyLen));
}

CK_RV C_UnwrapKey(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism,
                  CK_OBJECT_HANDLE hUnwrappingKey, CK_BYTE_PTR pWrappedKey,
                  CK_ULONG ulWrappedKeyLen, CK_ATTRIBUTE_PTR pTemplate,
                  CK_ULONG ulAttributeCount, CK_OBJECT_HANDLE_PTR phKey)
{
    ENTRY_SESSION(hSession,
                  pMechanism != NULL && pWrappedKey != NULL && phKey != NULL &&
                      (pTemplate != NULL || ulAttributeCount == 0),
                  p11kms_unwrap_key(s, pMechanism, hUnwrappingKey, pWrappedKey, ulWrappedKeyLen,
                                    pTemplate, ulAttributeCount, phKey));
}

CK_RV C_DeriveKey(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism,
                  CK_OBJECT_HANDLE hBaseKey, CK_ATTRIBUTE_PTR pTemplate,
                  CK_ULONG ulAttributeCount, CK_OBJECT_HANDLE_PTR phKey)
{
    ENTRY_UNSUPPORTED(CKR_FUNCTION_NOT_SUPPORTED);
}

CK_RV C_SeedRandom(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pSeed, CK_ULONG ulSeedLen)
{
    /* OpenSSL's DRBG seeds itself from the operating system. */
    ENTRY_SESSION(hSession, pSeed != NULL || ulSeedLen == 0, CKR_RANDOM_SEED_NOT_SUPPORTED);
}

CK_RV C_GenerateRandom(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pRandomData, CK_ULONG ulRandomLen)
{
    ENTRY_SESSION(hSession, pRandomData != NULL || ulRandomLen == 0,
                  p11kms_generate_random(pRandomData, ulRandomLen));
}

CK_RV C_GetFunctionStatus(CK_SESSION_HANDLE hSession)
{
    ENTRY_UNSUPPORTED(CKR_FUNCTION_NOT_PARALLEL); /* the legacy answer the spec prescribes */
}

CK_RV C_CancelFunction(CK_SESSION_HANDLE hSession)
{
    ENTRY_UNSUPPORTED(CKR_FUNCTION_NOT_PARALLEL);
}

CK_RV C_WaitForSlotEvent(CK_FLAGS flags, CK_SLOT_ID_PTR pSlot, CK_VOID_PTR pReserved)
{
    ENTRY_UNSUPPORTED(CKR_FUNCTION_NOT_SUPPORTED); /* slots never change */
}

/* PKCS#11 3.0 additions */

CK_RV C_LoginUser(CK_SESSION_HANDLE hSession, CK_USER_TYPE userType, CK_UTF8CHAR_PTR pPin,
                  CK_ULONG ulPinLen, CK_UTF8CHAR_PTR pUsername, CK_ULONG ulUsernameLen)
{
    /* Tokens have one user and no user names. */
    ENTRY_SESSION(hSession, (pPin != NULL || ulPinLen == 0) && ulUsernameLen == 0,
                  p11kms_login(s, userType, pPin, ulPinLen));
}

CK_RV C_SessionCancel(CK_SESSION_HANDLE hSession, CK_FLAGS flags)
{
    ENTRY_SESSION(hSession, 1, p11kms_session_cancel(s, flags));
}

#define MESSAGE_UNSUPPORTED ENTRY_UNSUPPORTED(CKR_FUNCTION_NOT_SUPPORTED)

CK_RV C_MessageEncryptInit(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism,
                           CK_OBJECT_HANDLE hKey)
{
    MESSAGE_UNSUPPORTED;
}

CK_RV C_EncryptMessage(CK_SESSION_HANDLE hSession, CK_VOID_PTR pParameter, CK_ULONG ulParameterLen,
                       CK_BYTE_PTR pAssociatedData, CK_ULONG ulAssociatedDataLen,
                       CK_BYTE_PTR pPlaintext, CK_ULONG ulPlaintextLen, CK_BYTE_PTR pCiphertext,
                       CK_ULONG_PTR pulCiphertextLen)
{
    MESSAGE_UNSUPPORTED;
}

CK_RV C_EncryptMessageBegin(CK_SESSION_HANDLE hSession, CK_VOID_PTR pParameter,
                            CK_ULONG ulParameterLen, CK_BYTE_PTR pAssociatedData,
                            CK_ULONG ulAssociatedDataLen)
{
    MESSAGE_UNSUPPORTED;
}

CK_RV C_EncryptMessageNext(CK_SESSION_HANDLE hSession, CK_VOID_PTR pParameter,
                           CK_ULONG ulParameterLen, CK_BYTE_PTR pPlaintextPart,
                           CK_ULONG ulPlaintextPartLen, CK_BYTE_PTR pCiphertextPart,
                           CK_ULONG_PTR pulCiphertextPartLen, CK_FLAGS flags)
{
    MESSAGE_UNSUPPORTED;
}

CK_RV C_MessageEncryptFinal(CK_SESSION_HANDLE hSession)
{
    MESSAGE_UNSUPPORTED;
}

CK_RV C_MessageDecryptInit(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism,
                           CK_OBJECT_HANDLE hKey)
{
    MESSAGE_UNSUPPORTED;
}

CK_RV C_DecryptMessage(CK_SESSION_HANDLE hSession, CK_VOID_PTR pParameter, CK_ULONG ulParameterLen,
                       CK_BYTE_PTR pAssociatedData, CK_ULONG ulAssociatedDataLen,
                       CK_BYTE_PTR pCiphertext, CK_ULONG ulCiphertextLen, CK_BYTE_PTR pPlaintext,
                       CK_ULONG_PTR pulPlaintextLen)
{
    MESSAGE_UNSUPPORTED;
}

CK_RV C_DecryptMessageBegin(CK_SESSION_HANDLE hSession, CK_VOID_PTR pParameter,
                            CK_ULONG ulParameterLen, CK_BYTE_PTR pAssociatedData,
                            CK_ULONG ulAssociatedDataLen)
{
    MESSAGE_UNSUPPORTED;
}

CK_RV C_DecryptMessageNext(CK_SESSION_HANDLE hSession, CK_VOID_PTR pParameter,
                           CK_ULONG ulParameterLen, CK_BYTE_PTR pCiphertextPart,
                           CK_ULONG ulCiphertextPartLen, CK_BYTE_PTR pPlaintextPart,
                           CK_ULONG_PTR pulPlaintextPartLen, CK_FLAGS flags)
{
    MESSAGE_UNSUPPORTED;
}

CK_RV C_MessageDecryptFinal(CK_SESSION_HANDLE hSession)
{
    MESSAGE_UNSUPPORTED;
}

CK_RV C_MessageSignInit(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism,
                        CK_OBJECT_HANDLE hKey)
{
    MESSAGE_UNSUPPORTED;
}

CK_RV C_SignMessage(CK_SESSION_HANDLE hSession, CK_VOID_PTR pParameter, CK_ULONG ulParameterLen,
                    CK_BYTE_PTR pData, CK_ULONG ulDataLen, CK_BYTE_PTR pSignature,
                    CK_ULONG_PTR pulSignatureLen)
{
    MESSAGE_UNSUPPORTED;
}

CK_RV C_SignMessageBegin(CK_SESSION_HANDLE hSession, CK_VOID_PTR pParameter,
                         CK_ULONG ulParameterLen)
{
    MESSAGE_UNSUPPORTED;
}

CK_RV C_SignMessageNext(CK_SESSION_HANDLE hSession, CK_VOID_PTR pParameter, CK_ULONG ulParameterLen,
                        CK_BYTE_PTR pData, CK_ULONG ulDataLen, CK_BYTE_PTR pSignature,
                        CK_ULONG_PTR pulSignatureLen)
{
    MESSAGE_UNSUPPORTED;
}

CK_RV C_MessageSignFinal(CK_SESSION_HANDLE hSession)
{
    MESSAGE_UNSUPPORTED;
}

CK_RV C_MessageVerifyInit(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism,
                          CK_OBJECT_HANDLE hKey)
{
    MESSAGE_UNSUPPORTED;
}

CK_RV C_VerifyMessage(CK_SESSION_HANDLE hSession, CK_VOID_PTR pParameter, CK_ULONG ulParameterLen,
                      CK_BYTE_PTR pData, CK_ULONG ulDataLen, CK_BYTE_PTR pSignature,
                      CK_ULONG ulSignatureLen)
{
    MESSAGE_UNSUPPORTED;
}

CK_RV C_VerifyMessageBegin(CK_SESSION_HANDLE hSession, CK_VOID_PTR pParameter,
                           CK_ULONG ulParameterLen)
{
    MESSAGE_UNSUPPORTED;
}

CK_RV C_VerifyMessageNext(CK_SESSION_HANDLE hSession, CK_VOID_PTR pParameter,
                          CK_ULONG ulParameterLen, CK_BYTE_PTR pData, CK_ULONG ulDataLen,
                          CK_BYTE_PTR pSignature, CK_ULONG ulSignatureLen)
{
    MESSAGE_UNSUPPORTED;
}

CK_RV C_MessageVerifyFinal(CK_SESSION_HANDLE hSession)
{
    MESSAGE_UNSUPPORTED;
}

#pragma GCC visibility pop

/* C_GetInfo as seen through the 3.0 interface reports 3.0. */
static CK_RV get_info_3_0(CK_INFO_PTR pInfo)
{
    CK_RV rv = C_GetInfo(pInfo);
    if (rv == CKR_OK) {
        pInfo->cryptokiVersion.major = 3;
        pInfo->cryptokiVersion.minor = 0;
    }
    return rv;
}

#define FUNCTIONS_2_40(get_info)                                                                   \
    C_Initialize, C_Finalize, get_info, C_GetFunctionList, C_GetSlotList, C_GetSlotInfo,          \
        C_GetTokenInfo, C_GetMechanismList, C_GetMechanismInfo, C_InitToken, C_InitPIN, C_SetPIN,  \
        C_OpenSession, C_CloseSession, C_CloseAllSessions, C_GetSessionInfo,                       \
        C_GetOperationState, C_SetOperationState, C_Login, C_Logout, C_CreateObject,               \
        C_CopyObject, C_DestroyObject, C_GetObjectSize, C_GetAttributeValue,                       \
        C_SetAttributeValue, C_FindObjectsInit, C_FindObjects, C_FindObjectsFinal,                 \
        C_EncryptInit, C_Encrypt, C_EncryptUpdate, C_EncryptFinal, C_DecryptInit, C_Decrypt,       \
        C_DecryptUpdate, C_DecryptFinal, C_DigestInit, C_Digest, C_DigestUpdate, C_DigestKey,      \
        C_DigestFinal, C_SignInit, C_Sign, C_SignUpdate, C_SignFinal, C_SignRecoverInit,           \
        C_SignRecover, C_VerifyInit, C_Verify, C_VerifyUpdate, C_VerifyFinal,                      \
        C_VerifyRecoverInit, C_VerifyRecover, C_DigestEncryptUpdate, C_DecryptDigestUpdate,        \
        C_SignEncryptUpdate, C_DecryptVerifyUpdate, C_GenerateKey, C_GenerateKeyPair, C_WrapKey,   \
        C_UnwrapKey, C_DeriveKey, C_SeedRandom, C_GenerateRandom, C_GetFunctionStatus,             \
        C_CancelFunction, C_WaitForSlotEvent

static CK_FUNCTION_LIST functions_2_40 = {{2, 40}, FUNCTIONS_2_40(C_GetInfo)};

static CK_FUNCTION_LIST_3_0 functions_3_0 = {
    {3, 0},
    FUNCTIONS_2_40(get_info_3_0),
    C_GetInterfaceList,
    C_GetInterface,
    C_LoginUser,
    C_SessionCancel,
    C_MessageEncryptInit,
    C_EncryptMessage,
    C_EncryptMessageBegin,
    C_EncryptMessageNext,
    C_MessageEncryptFinal,
    C_MessageDecryptInit,
    C_DecryptMessage,
    C_DecryptMessageBegin,
    C_DecryptMessageNext,
    C_MessageDecryptFinal,
    C_MessageSignInit,
    C_SignMessage,
    C_SignMessageBegin,
    C_SignMessageNext,
    C_MessageSignFinal,
    C_MessageVerifyInit,
    C_VerifyMessage,
    C_VerifyMessageBegin,
    C_VerifyMessageNext,
    C_MessageVerifyFinal,
};

static CK_INTERFACE interfaces[] = {
    {(CK_CHAR *)"PKCS 11", &functions_3_0, 0},
    {(CK_CHAR *)"PKCS 11", &functions_2_40, 0},
};
#define N_INTERFACES (sizeof(interfaces) / sizeof(interfaces[0]))

#pragma GCC visibility push(default)

CK_RV C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR ppFunctionList)
{
    if (ppFunctionList == NULL)
        return CKR_ARGUMENTS_BAD;
    *ppFunctionList = &functions_2_40;
    return CKR_OK;
}

CK_RV C_GetInterfaceList(CK_INTERFACE_PTR pInterfacesList, CK_ULONG_PTR pulCount)
{
    CK_ULONG i;

    if (pulCount == NULL)
        return CKR_ARGUMENTS_BAD;
    if (pInterfacesList == NULL) {
        *pulCount = N_INTERFACES;
        return CKR_OK;
    }
    if (*pulCount < N_INTERFACES) {
        *pulCount = N_INTERFACES;
        return CKR_BUFFER_TOO_SMALL;
    }
    for (i = 0; i < N_INTERFACES; i++)
        pInterfacesList[i] = interfaces[i];
    *pulCount = N_INTERFACES;
    return CKR_OK;
}

CK_RV C_GetInterface(CK_UTF8CHAR_PTR pInterfaceName, CK_VERSION_PTR pVersion,
                     CK_INTERFACE_PTR_PTR ppInterface, CK_FLAGS flags)
{
    size_t i;

    if (ppInterface == NULL)
        return CKR_ARGUMENTS_BAD;
    for (i = 0; i < N_INTERFACES; i++) {
        const CK_VERSION *v = interfaces[i].pFunctionList;
        if (pInterfaceName != NULL &&
            strcmp((const char *)pInterfaceName, (const char *)interfaces[i].pInterfaceName) != 0)
            continue;
        if (pVersion != NULL && (pVersion->major != v->major || pVersion->minor != v->minor))
            continue;
        if ((interfaces[i].flags & flags) != flags)
            continue;
        *ppInterface = &interfaces[i];
        return CKR_OK;
    }
    return CKR_ARGUMENTS_BAD;
}

#pragma GCC visibility pop
