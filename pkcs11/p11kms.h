/* p11kms.h - public vendor definitions of the p11kms PKCS#11 module: mechanisms, attributes
 * and parameter structures for KMS envelope wrapping with an encryption context. */
#ifndef P11KMS_H
#define P11KMS_H

#include "pkcs11-3.0.h"

#ifdef __cplusplus
extern "C" {
#endif

/* All p11kms vendor values live in CK*_VENDOR_DEFINED | 0x504B4D00 ("PKM"). */
#define P11KMS_VENDOR_BASE 0x504B4D00UL

/*
 * CKM_P11KMS_ENVELOPE: with a KMS key object (CKA_P11KMS_BACKEND set),
 *   C_WrapKey/C_UnwrapKey wrap a data key, and C_Encrypt/C_Decrypt protect a small secret
 *   (at most P11KMS_KMS_PLAINTEXT_MAX bytes), by calling the KMS's Encrypt/Decrypt with an
 *   encryption context. The output is a p11kms envelope (format in README.md).
 *   Parameter: NULL (the key's default context from the configuration) or a
 *   CK_P11KMS_ENVELOPE_PARAMS.
 *
 * CKM_P11KMS_ENVELOPE_ENCODED: the same operation, for bindings that can only pass bytes
 *   (PyKCS11, Java): the parameter is the canonical context encoding below. A NULL or empty
 *   parameter means the key's default context.
 *
 * CKM_AES_KEY_WRAP_PAD and CKM_AES_KEY_WRAP_KWP with a KMS key: the same envelope with the
 *   key's default context, so unmodified tools work. A parameter, if given, must be the
 *   default 4-byte (KWP) or 8-byte (KEY_WRAP_PAD) integrity check value.
 */
#define CKM_P11KMS_ENVELOPE (CKM_VENDOR_DEFINED | P11KMS_VENDOR_BASE | 0x01UL)
#define CKM_P11KMS_ENVELOPE_ENCODED (CKM_VENDOR_DEFINED | P11KMS_VENDOR_BASE | 0x02UL)

/*
 * CKM_P11KMS_REWRAP: C_EncryptInit with a KMS key that may both wrap and unwrap, then C_Encrypt
 *   of a wrapped-key envelope (from C_WrapKey with this key) gives the same data key wrapped under
 *   the key's current KMS key(s) and version, bound to the same context. When the envelope is
 *   the key's one current KMS key's (a version rotated in the KMS), the KMS re-encrypts it
 *   itself (AWS ReEncrypt, Vault transit rewrap) and the data key is never in this process;
 *   otherwise (a previous key, several KMS keys, an accepted old context) the module unwraps and
 *   wraps again inside itself. Parameter: as CKM_P11KMS_ENVELOPE_ENCODED (NULL: the key's
 *   default context). Used by "p11kms rewrap".
 */
#define CKM_P11KMS_REWRAP (CKM_VENDOR_DEFINED | P11KMS_VENDOR_BASE | 0x03UL)

/* Read-only attributes of KMS key objects. */
/* UTF-8 backend name: "local", "aws", "gcp", "vault". */
#define CKA_P11KMS_BACKEND (CKA_VENDOR_DEFINED | P11KMS_VENDOR_BASE | 0x01UL)
/* UTF-8 KMS key reference as configured: key ARN or alias, resource name, key name. */
#define CKA_P11KMS_KEY_ID (CKA_VENDOR_DEFINED | P11KMS_VENDOR_BASE | 0x02UL)
/* CK_ULONG: the key version new wraps use, when the module knows it; 0 otherwise. */
#define CKA_P11KMS_KEY_VERSION (CKA_VENDOR_DEFINED | P11KMS_VENDOR_BASE | 0x03UL)
/* Bytes: the key's default encryption context, in the canonical encoding. */
#define CKA_P11KMS_DEFAULT_CONTEXT (CKA_VENDOR_DEFINED | P11KMS_VENDOR_BASE | 0x04UL)

/* One encryption-context entry. Keys and values are UTF-8, not NUL-terminated. */
typedef struct CK_P11KMS_CONTEXT_PAIR {
    CK_UTF8CHAR_PTR pKey;
    CK_ULONG ulKeyLen;
    CK_UTF8CHAR_PTR pValue;
    CK_ULONG ulValueLen;
} CK_P11KMS_CONTEXT_PAIR;
typedef CK_P11KMS_CONTEXT_PAIR *CK_P11KMS_CONTEXT_PAIR_PTR;

#define P11KMS_ENVELOPE_PARAMS_VERSION 1UL

/* flags: also bind the key's configured default context; a pair given here overrides a
 * default pair with the same key. Without it the given pairs are the whole context. */
#define P11KMS_FLAG_MERGE_DEFAULT_CONTEXT 0x00000001UL

typedef struct CK_P11KMS_ENVELOPE_PARAMS {
    CK_ULONG ulVersion; /* P11KMS_ENVELOPE_PARAMS_VERSION */
    CK_P11KMS_CONTEXT_PAIR_PTR pContext;
    CK_ULONG ulContextCount; /* 0: an empty context (not the default one) */
    CK_FLAGS flags;
} CK_P11KMS_ENVELOPE_PARAMS;
typedef CK_P11KMS_ENVELOPE_PARAMS *CK_P11KMS_ENVELOPE_PARAMS_PTR;

/*
 * Canonical context encoding (CKM_P11KMS_ENVELOPE_ENCODED, CKA_P11KMS_DEFAULT_CONTEXT, and what
 * backends without a native map bind as AAD):
 *   u16 count, then count times: u16 key length, key bytes, u16 value length, value bytes;
 *   all integers big-endian; pairs sorted by key bytes (unsigned, shorter prefix first);
 *   keys unique and non-empty; keys and values valid UTF-8.
 * The empty context encodes as the two bytes 00 00.
 */
#define P11KMS_CONTEXT_MAX_PAIRS 64
#define P11KMS_CONTEXT_MAX_ENCODED 8192

/* Largest secret C_Encrypt with a KMS key accepts (the AWS KMS Encrypt limit). */
#define P11KMS_KMS_PLAINTEXT_MAX 4096

#ifdef __cplusplus
}
#endif

#endif /* P11KMS_H */
