/* cipher-impl.h - what the data-key cipher files share: the operation object, a mechanism's
 * validated setup, and one table of functions per mode (cipher-gcm.c, cipher-block.c,
 * cipher-ctr.c) that cipher.c dispatches to. Only the cipher files include it. */
#ifndef P11KMS_CIPHER_IMPL_H
#define P11KMS_CIPHER_IMPL_H

#include <openssl/evp.h>
#include <openssl/modes.h>
#include "cipher.h"

#define AES_BLOCK 16

/* Rows of the table of fetched EVP ciphers (cipher.c). */
enum { KIND_GCM, KIND_CBC, KIND_ECB, KIND_CTR, KIND_COUNT };
/* IDLE: no operation; FRESH: initialised, no data yet; RUNNING: a multi-part update happened. */
enum { ST_IDLE, ST_FRESH, ST_RUNNING };

typedef struct cipher_mode cipher_mode;

/* A mechanism's parameters, validated, before anything is changed. */
typedef struct cipher_setup {
    int kind; /* the fetched cipher the mode runs on */
    const uint8_t *iv;
    size_t iv_len;
    const uint8_t *aad; /* GCM */
    size_t aad_len;
    size_t tag_len;
    unsigned counter_bits; /* CTR */
} cipher_setup;

struct p11kms_cipher {
    const cipher_mode *mode;
    EVP_CIPHER_CTX *evp;
    const EVP_CIPHER *loaded; /* cipher evp is initialised with; NULL forces a full reset */
    size_t evp_iv_len;        /* GCM IV length currently set in evp */
    uint8_t key[32];          /* the key evp holds (when loaded), and for which direction */
    int key_enc;
    CK_MECHANISM_TYPE mech;
    int encrypt;
    int state;
    size_t held; /* CBC/ECB: bytes OpenSSL holds back; GCM decryption: bytes in buf */
    /* GCM */
    size_t tag_len;
    uint8_t *buf; /* decryption: ciphertext||tag until final */
    size_t buf_cap;
    int long_iv; /* this operation runs through gcm128 */
    EVP_CIPHER_CTX *ecb;
    GCM128_CONTEXT *gcm128;
    /* CTR */
    uint64_t ctr_blocks; /* counter blocks left before the counter bits would wrap (saturated) */
    size_t ctr_tail;     /* unused key-stream bytes of the current counter block */
};

/* Key the operation for c->encrypt with the cipher of s->kind (c->mech etc. are set). */
typedef CK_RV cipher_start_fn(p11kms_cipher *c, const EVP_CIPHER *cipher, const cipher_setup *s,
                              const uint8_t *key);
/* in_len bytes in, *out_len bytes out (update, and the single-part operation). */
typedef CK_RV cipher_data_fn(p11kms_cipher *c, const uint8_t *in, size_t in_len, uint8_t *out,
                             size_t *out_len);

struct cipher_mode {
    CK_MECHANISM_TYPE mech;
    /* Check the mechanism parameter into s; CKR_MECHANISM_PARAM_INVALID. */
    CK_RV (*parse)(const CK_MECHANISM *mech, cipher_setup *s);
    cipher_start_fn *start;
    /* Exact output of update(in_len) / final() / the single-part operation. */
    size_t (*update_len)(const p11kms_cipher *c, size_t in_len);
    size_t (*final_len)(const p11kms_cipher *c);
    size_t (*oneshot_len)(const p11kms_cipher *c, size_t in_len);
    cipher_data_fn *update;
    CK_RV (*final)(p11kms_cipher *c, uint8_t *out, size_t *out_len);
    /* The single-part operation: any check of the whole input comes before any output. */
    cipher_data_fn *oneshot;
};

extern const cipher_mode p11kms_cipher_mode_gcm;
extern const cipher_mode p11kms_cipher_mode_cbc;
extern const cipher_mode p11kms_cipher_mode_cbc_pad;
extern const cipher_mode p11kms_cipher_mode_ecb;
extern const cipher_mode p11kms_cipher_mode_ctr;

/* The fetched implementation of kind for a 16/24/32-byte key; NULL if the provider lacks it. */
const EVP_CIPHER *p11kms_cipher_fetched(int kind, size_t key_len);

/* Key c->evp with cipher, key and iv for c->encrypt. The same cipher re-keys the provider context
 * in place, and the same key for the same direction keeps OpenSSL's key schedule (only the IV
 * changes). aead: iv_len may differ from the cipher's default (GCM). */
CK_RV p11kms_cipher_evp_start(p11kms_cipher *c, const EVP_CIPHER *cipher, const uint8_t *key,
                              const uint8_t *iv, size_t iv_len, int aead);
/* EVP_CipherUpdate over any length (EVP takes int lengths); out NULL feeds GCM AAD. */
int p11kms_cipher_evp_update(EVP_CIPHER_CTX *ctx, const uint8_t *in, size_t len, uint8_t *out,
                             size_t *written);
/* The single-part operation as update then final; on a failed decryption whatever update wrote
 * is wiped (CBC-PAD: the blocks before a bad padding). */
CK_RV p11kms_cipher_parts(p11kms_cipher *c, const uint8_t *in, size_t in_len, uint8_t *out,
                          size_t *out_len);

#endif
