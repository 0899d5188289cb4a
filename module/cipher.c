/* cipher.c - AES-GCM, AES-CBC-PAD and AES-CBC with session data keys through OpenSSL EVP,
 * single and multi-part, with every output length known before any state changes. */
/*
 * Threads: a p11kms_cipher belongs to one session operation and its caller serialises use. The
 * only shared state is the table of fetched EVP_CIPHERs, filled once under fetch_lock (which
 * has a fork handler) and read-only afterwards (fetching per call costs a locked method-store
 * lookup).
 *
 * Hot path (C_EncryptInit + C_Encrypt on one session): reinit keeps the EVP_CIPHER_CTX and,
 * when the cipher is unchanged, passes a NULL cipher to EVP so OpenSSL reuses the existing
 * provider context instead of freeing and allocating a new one; when the key and direction are
 * unchanged too, only the IV is set, exactly as a raw EVP caller would.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/modes.h>
#include "cipher.h"
#include "fork.h"

#define AES_BLOCK 16
#define GCM_DEFAULT_IV_LEN 12
/* PKCS#11 allows GCM IVs of any length; we take 1..256 bytes. OpenSSL's GCM provider stops at
 * 128, so longer IVs run through CRYPTO_gcm128 over an AES-ECB block function (slow, rare). */
#define GCM_EVP_IV_MAX 128
#define GCM_IV_MAX 256
/* Ciphertext a GCM decryption buffers until final can check the tag. */
#define GCM_DECRYPT_MAX (64u * 1024u * 1024u)
/* A decryption buffer larger than this is released when the operation object is reused. */
#define GCM_KEEP_BUF (1u * 1024u * 1024u)
/* EVP takes int lengths: longer inputs go in pieces. */
#define EVP_CHUNK (1u << 30)

/* The GCM parameters of PKCS#11 2.40 drafts (and the implementations that followed them),
 * without ulIvBits; told apart from CK_GCM_PARAMS by ulParameterLen. */
typedef struct gcm_params_old {
    CK_BYTE_PTR pIv;
    CK_ULONG ulIvLen;
    CK_BYTE_PTR pAAD;
    CK_ULONG ulAADLen;
    CK_ULONG ulTagBits;
} gcm_params_old;

enum { KIND_GCM, KIND_CBC, KIND_ECB, KIND_COUNT };
enum { ST_IDLE, ST_FRESH, ST_RUNNING };

/* A mechanism's parameters, validated, before anything is changed. */
typedef struct setup {
    int kind;
    const uint8_t *iv;
    size_t iv_len;
    const uint8_t *aad;
    size_t aad_len;
    size_t tag_len;
} setup;

struct p11kms_cipher {
    EVP_CIPHER_CTX *evp;
    const EVP_CIPHER *loaded; /* cipher evp is initialised with; NULL forces a full reset */
    size_t evp_iv_len;        /* GCM IV length currently set in evp */
    uint8_t key[32];          /* the key evp holds (when loaded), and for which direction */
    int key_enc;
    CK_MECHANISM_TYPE mech;
    int encrypt;
    int state;
    size_t tag_len;
    size_t held;  /* CBC: bytes OpenSSL holds back; GCM decryption: bytes in buf */
    uint8_t *buf; /* GCM decryption: ciphertext||tag until final */
    size_t buf_cap;
    int long_iv; /* this GCM operation runs through gcm128 */
    EVP_CIPHER_CTX *ecb;
    GCM128_CONTEXT *gcm128;
};

/* Fetched on first use and released by p11kms_cipher_global_free at C_Finalize, so a module
 * that is unloaded after C_Finalize leaves nothing behind. fetch_lock guards the table's
 * (re)filling; readers check `fetched_ok` first. */
static EVP_CIPHER *fetched[KIND_COUNT][3];
static _Atomic int fetched_ok;
static pthread_mutex_t fetch_lock = PTHREAD_MUTEX_INITIALIZER;

/* A child inherits the table whole: fetch_lock is taken before fork(). */
static void fetch_fork_lock(void)
{
    pthread_mutex_lock(&fetch_lock);
}

static void fetch_fork_unlock(void)
{
    pthread_mutex_unlock(&fetch_lock);
}

static p11kms_fork_handler fetch_fork = {.rank = P11KMS_FORK_RANK_CIPHER,
                                         .prepare = fetch_fork_lock,
                                         .parent = fetch_fork_unlock,
                                         .child = fetch_fork_unlock};

__attribute__((constructor)) static void fetch_fork_register(void)
{
    p11kms_fork_register(&fetch_fork);
}

static void fetch_ciphers(void)
{
    static const char *const names[KIND_COUNT][3] = {
        {"AES-128-GCM", "AES-192-GCM", "AES-256-GCM"},
        {"AES-128-CBC", "AES-192-CBC", "AES-256-CBC"},
        {"AES-128-ECB", "AES-192-ECB", "AES-256-ECB"},
    };
    int i, j;

    if (atomic_load_explicit(&fetched_ok, memory_order_acquire))
        return;
    OPENSSL_init_crypto(0, NULL); /* not under fetch_lock on first use (fork.h) */
    pthread_mutex_lock(&fetch_lock);
    if (!atomic_load_explicit(&fetched_ok, memory_order_relaxed)) {
        for (i = 0; i < KIND_COUNT; i++)
            for (j = 0; j < 3; j++)
                fetched[i][j] = EVP_CIPHER_fetch(NULL, names[i][j], NULL);
        atomic_store_explicit(&fetched_ok, 1, memory_order_release);
    }
    pthread_mutex_unlock(&fetch_lock);
}

void p11kms_cipher_global_free(void)
{
    int i, j;

    pthread_mutex_lock(&fetch_lock);
    for (i = 0; i < KIND_COUNT; i++)
        for (j = 0; j < 3; j++) {
            EVP_CIPHER_free(fetched[i][j]);
            fetched[i][j] = NULL;
        }
    atomic_store_explicit(&fetched_ok, 0, memory_order_release);
    pthread_mutex_unlock(&fetch_lock);
}

/* NULL when the provider lacks the cipher; key_len is already known to be 16, 24 or 32. */
static const EVP_CIPHER *cipher_for(int kind, size_t key_len)
{
    fetch_ciphers();
    return fetched[kind][key_len / 8 - 2];
}

const EVP_CIPHER *p11kms_cipher_fetched_aes256gcm(void)
{
    return cipher_for(KIND_GCM, 32);
}

int p11kms_cipher_supports(CK_MECHANISM_TYPE mech)
{
    return mech == CKM_AES_GCM || mech == CKM_AES_CBC_PAD || mech == CKM_AES_CBC;
}

static CK_RV parse_gcm(const CK_MECHANISM *mech, setup *s)
{
    CK_ULONG tag_bits;

    if (mech->pParameter == NULL)
        return CKR_MECHANISM_PARAM_INVALID;
    if (mech->ulParameterLen == sizeof(CK_GCM_PARAMS)) {
        const CK_GCM_PARAMS *p = mech->pParameter;

        s->iv = p->pIv;
        s->iv_len = p->ulIvLen;
        s->aad = p->pAAD;
        s->aad_len = p->ulAADLen;
        tag_bits = p->ulTagBits;
    } else if (mech->ulParameterLen == sizeof(gcm_params_old)) {
        const gcm_params_old *p = mech->pParameter;

        s->iv = p->pIv;
        s->iv_len = p->ulIvLen;
        s->aad = p->pAAD;
        s->aad_len = p->ulAADLen;
        tag_bits = p->ulTagBits;
    } else {
        return CKR_MECHANISM_PARAM_INVALID;
    }
    /* ulIvBits is ignored, as PKCS#11 2.40 says: ulIvLen is the length. */
    if (s->iv == NULL || s->iv_len < 1 || s->iv_len > GCM_IV_MAX)
        return CKR_MECHANISM_PARAM_INVALID;
    if (s->aad == NULL && s->aad_len != 0)
        return CKR_MECHANISM_PARAM_INVALID;
    switch (tag_bits) {
    case 32:
    case 64:
    case 96:
    case 104:
    case 112:
    case 120:
    case 128:
        break;
    default:
        return CKR_MECHANISM_PARAM_INVALID;
    }
    s->tag_len = tag_bits / 8;
    s->kind = KIND_GCM;
    return CKR_OK;
}

static CK_RV parse_mechanism(const CK_MECHANISM *mech, setup *s)
{
    memset(s, 0, sizeof(*s));
    if (mech == NULL || !p11kms_cipher_supports(mech->mechanism))
        return CKR_MECHANISM_INVALID;
    if (mech->mechanism == CKM_AES_GCM)
        return parse_gcm(mech, s);
    if (mech->pParameter == NULL || mech->ulParameterLen != AES_BLOCK)
        return CKR_MECHANISM_PARAM_INVALID;
    s->kind = KIND_CBC;
    s->iv = mech->pParameter;
    s->iv_len = AES_BLOCK;
    return CKR_OK;
}

/* out NULL feeds GCM additional data. */
static int evp_update(EVP_CIPHER_CTX *ctx, const uint8_t *in, size_t len, uint8_t *out,
                      size_t *written)
{
    size_t done = 0, total = 0;

    while (done < len) {
        int n, step = (int)(len - done > EVP_CHUNK ? EVP_CHUNK : len - done);

        if (EVP_CipherUpdate(ctx, out != NULL ? out + total : NULL, &n, in + done, step) != 1)
            return 0;
        done += (size_t)step;
        total += (size_t)n;
    }
    *written = total;
    return 1;
}

static CK_RV start_evp(p11kms_cipher *c, const EVP_CIPHER *cipher, const setup *s,
                       const uint8_t *key, int encrypt)
{
    /* Same cipher: re-key the provider context in place. A new cipher resets evp, which puts
     * the GCM IV length back to its default. */
    const EVP_CIPHER *fresh = c->loaded == cipher ? NULL : cipher;
    size_t iv_now = fresh != NULL ? GCM_DEFAULT_IV_LEN : c->evp_iv_len;
    size_t n, key_len = (size_t)EVP_CIPHER_get_key_length(cipher);
    /* The same key for the same direction (C_EncryptInit after C_Encrypt): keep OpenSSL's key
     * schedule and GCM table, only the IV changes. AES decryption schedules differ. */
    const uint8_t *k =
        fresh == NULL && c->key_enc == encrypt && CRYPTO_memcmp(c->key, key, key_len) == 0 ? NULL
                                                                                           : key;
    int ok;

    c->loaded = NULL;
    if (s->kind != KIND_GCM || s->iv_len == iv_now) {
        ok = EVP_CipherInit_ex2(c->evp, fresh, k, s->iv, encrypt, NULL);
    } else {
        ok = EVP_CipherInit_ex2(c->evp, fresh, k, NULL, encrypt, NULL) &&
             EVP_CIPHER_CTX_ctrl(c->evp, EVP_CTRL_AEAD_SET_IVLEN, (int)s->iv_len, NULL) > 0 &&
             EVP_CipherInit_ex2(c->evp, NULL, NULL, s->iv, encrypt, NULL);
    }
    if (!ok)
        return CKR_GENERAL_ERROR;
    if (k != NULL) {
        memcpy(c->key, key, key_len);
        c->key_enc = encrypt;
    }
    if (s->kind == KIND_GCM) {
        c->evp_iv_len = s->iv_len;
        if (s->aad_len > 0 && !evp_update(c->evp, s->aad, s->aad_len, NULL, &n))
            return CKR_GENERAL_ERROR;
    } else if (EVP_CIPHER_CTX_set_padding(c->evp, c->mech == CKM_AES_CBC_PAD) != 1) {
        return CKR_GENERAL_ERROR;
    }
    c->loaded = cipher;
    return CKR_OK;
}

/* gcm128's block function: one AES block through the keyed, unpadded ECB context. */
static void ecb_block(const unsigned char in[16], unsigned char out[16], const void *key)
{
    int n;

    (void)EVP_EncryptUpdate((EVP_CIPHER_CTX *)key, out, &n, in, AES_BLOCK);
}

static CK_RV start_long_iv(p11kms_cipher *c, const EVP_CIPHER *ecb, const setup *s,
                           const uint8_t *key)
{
    if (c->ecb == NULL && (c->ecb = EVP_CIPHER_CTX_new()) == NULL)
        return CKR_HOST_MEMORY;
    if (EVP_EncryptInit_ex2(c->ecb, ecb, key, NULL, NULL) != 1 ||
        EVP_CIPHER_CTX_set_padding(c->ecb, 0) != 1)
        return CKR_GENERAL_ERROR;
    if (c->gcm128 == NULL) {
        c->gcm128 = CRYPTO_gcm128_new(c->ecb, ecb_block);
        if (c->gcm128 == NULL)
            return CKR_HOST_MEMORY;
    } else {
        CRYPTO_gcm128_init(c->gcm128, c->ecb, ecb_block);
    }
    CRYPTO_gcm128_setiv(c->gcm128, s->iv, s->iv_len);
    if (s->aad_len > 0 && CRYPTO_gcm128_aad(c->gcm128, s->aad, s->aad_len) != 0)
        return CKR_MECHANISM_PARAM_INVALID;
    return CKR_OK;
}

CK_RV p11kms_cipher_reinit(p11kms_cipher *c, const CK_MECHANISM *mech, int encrypt,
                           const uint8_t *key, size_t key_len)
{
    CK_RV rv = CKR_GENERAL_ERROR;
    const EVP_CIPHER *cipher;
    setup s;

    c->state = ST_IDLE;
    rv = parse_mechanism(mech, &s);
    if (rv != CKR_OK)
        goto out;
    if (key == NULL || (key_len != 16 && key_len != 24 && key_len != 32)) {
        rv = CKR_KEY_SIZE_RANGE;
        goto out;
    }
    c->long_iv = s.kind == KIND_GCM && s.iv_len > GCM_EVP_IV_MAX;
    cipher = cipher_for(c->long_iv ? KIND_ECB : s.kind, key_len);
    if (cipher == NULL) {
        rv = CKR_GENERAL_ERROR;
        goto out;
    }
    c->mech = mech->mechanism;
    c->encrypt = encrypt ? 1 : 0;
    c->tag_len = s.tag_len;
    c->held = 0;
    if (c->buf_cap > GCM_KEEP_BUF) {
        free(c->buf);
        c->buf = NULL;
        c->buf_cap = 0;
    }
    rv = c->long_iv ? start_long_iv(c, cipher, &s, key) : start_evp(c, cipher, &s, key, c->encrypt);
    if (rv == CKR_OK)
        c->state = ST_FRESH;
out:
    if (rv != CKR_OK)
        ERR_clear_error();
    return rv;
}

CK_RV p11kms_cipher_init(p11kms_cipher **out, const CK_MECHANISM *mech, int encrypt,
                         const uint8_t *key, size_t key_len)
{
    CK_RV rv = CKR_HOST_MEMORY;
    p11kms_cipher *c;

    *out = NULL;
    c = calloc(1, sizeof(*c));
    if (c == NULL)
        goto out;
    c->evp = EVP_CIPHER_CTX_new();
    if (c->evp == NULL)
        goto out;
    rv = p11kms_cipher_reinit(c, mech, encrypt, key, key_len);
    if (rv != CKR_OK)
        goto out;
    *out = c;
    c = NULL;
out:
    p11kms_cipher_free(c);
    return rv;
}

void p11kms_cipher_free(p11kms_cipher *c)
{
    if (c == NULL)
        return;
    /* EVP_CIPHER_CTX_free and CRYPTO_gcm128_release wipe the key schedules. */
    EVP_CIPHER_CTX_free(c->evp);
    EVP_CIPHER_CTX_free(c->ecb);
    OPENSSL_cleanse(c->key, sizeof(c->key));
    CRYPTO_gcm128_release(c->gcm128);
    free(c->buf);
    free(c);
}

/* Bytes OpenSSL keeps back after `total` bytes of CBC input: the partial block and, when
 * decrypting with padding, a last whole block that may turn out to be the padding. */
static size_t cbc_held(const p11kms_cipher *c, size_t total)
{
    size_t rem = total % AES_BLOCK;

    if (rem == 0 && total > 0 && c->mech == CKM_AES_CBC_PAD && !c->encrypt)
        return AES_BLOCK;
    return rem;
}

size_t p11kms_cipher_update_len(const p11kms_cipher *c, size_t in_len)
{
    size_t total;

    if (c->state == ST_IDLE)
        return 0;
    if (c->mech == CKM_AES_GCM)
        return c->encrypt ? in_len : 0;
    total = c->held + in_len;
    return total - cbc_held(c, total);
}

size_t p11kms_cipher_final_len(const p11kms_cipher *c)
{
    if (c->state == ST_IDLE)
        return 0;
    if (c->mech == CKM_AES_GCM) {
        if (c->encrypt)
            return c->tag_len;
        return c->held >= c->tag_len ? c->held - c->tag_len : 0;
    }
    if (c->mech == CKM_AES_CBC)
        return 0;
    if (c->encrypt)
        return AES_BLOCK; /* the held partial block plus its padding */
    /* The padding (1..16 bytes) is only known after decrypting the last block. */
    return c->held == AES_BLOCK ? AES_BLOCK - 1 : 0;
}

size_t p11kms_cipher_oneshot_len(const p11kms_cipher *c, size_t in_len)
{
    if (c->state == ST_IDLE)
        return 0;
    if (c->mech == CKM_AES_GCM) {
        if (c->encrypt)
            return in_len + c->tag_len;
        return in_len >= c->tag_len ? in_len - c->tag_len : 0;
    }
    if (c->mech == CKM_AES_CBC)
        return in_len;
    if (c->encrypt)
        return (in_len / AES_BLOCK + 1) * AES_BLOCK;
    return in_len >= AES_BLOCK ? in_len - 1 : 0;
}

/* GCM data through whichever engine this operation uses; writes exactly len bytes. */
static int gcm_crypt(p11kms_cipher *c, const uint8_t *in, size_t len, uint8_t *out)
{
    size_t n;

    if (len == 0)
        return 1;
    if (c->long_iv) {
        if (c->encrypt)
            return CRYPTO_gcm128_encrypt(c->gcm128, in, out, len) == 0;
        return CRYPTO_gcm128_decrypt(c->gcm128, in, out, len) == 0;
    }
    return evp_update(c->evp, in, len, out, &n) && n == len;
}

static int gcm_tag_get(p11kms_cipher *c, uint8_t *tag)
{
    uint8_t none[AES_BLOCK];
    int n;

    if (c->long_iv) {
        CRYPTO_gcm128_tag(c->gcm128, tag, c->tag_len);
        return 1;
    }
    return EVP_EncryptFinal_ex(c->evp, none, &n) == 1 && n == 0 &&
           EVP_CIPHER_CTX_ctrl(c->evp, EVP_CTRL_AEAD_GET_TAG, (int)c->tag_len, tag) > 0;
}

/* Constant-time comparison, in OpenSSL either way. */
static int gcm_tag_check(p11kms_cipher *c, const uint8_t *tag)
{
    uint8_t none[AES_BLOCK];
    int n;

    if (c->long_iv)
        return CRYPTO_gcm128_finish(c->gcm128, tag, c->tag_len) == 0;
    return EVP_CIPHER_CTX_ctrl(c->evp, EVP_CTRL_AEAD_SET_TAG, (int)c->tag_len, (void *)tag) > 0 &&
           EVP_DecryptFinal_ex(c->evp, none, &n) == 1 && n == 0;
}

/* Decrypt ciphertext||tag. The plaintext is written to out before the tag can be checked, so a
 * failed check wipes it: nothing unauthenticated is released. */
static CK_RV gcm_open(p11kms_cipher *c, const uint8_t *in, size_t len, uint8_t *out,
                      size_t *out_len)
{
    size_t n;

    if (len < c->tag_len)
        return CKR_ENCRYPTED_DATA_LEN_RANGE;
    n = len - c->tag_len;
    if (!gcm_crypt(c, in, n, out))
        return CKR_GENERAL_ERROR;
    if (!gcm_tag_check(c, in + n)) {
        OPENSSL_cleanse(out, n);
        return CKR_ENCRYPTED_DATA_INVALID;
    }
    *out_len = n;
    return CKR_OK;
}

static CK_RV gcm_buffer(p11kms_cipher *c, const uint8_t *in, size_t len)
{
    size_t cap;
    uint8_t *p;

    if (len > GCM_DECRYPT_MAX - c->held)
        return CKR_ENCRYPTED_DATA_LEN_RANGE;
    if (c->held + len > c->buf_cap) {
        cap = c->buf_cap < 4096 ? 4096 : c->buf_cap;
        while (cap < c->held + len)
            cap *= 2;
        if (cap > GCM_DECRYPT_MAX)
            cap = GCM_DECRYPT_MAX;
        /* Ciphertext is not secret: realloc may leave copies behind. */
        p = realloc(c->buf, cap);
        if (p == NULL)
            return CKR_HOST_MEMORY;
        c->buf = p;
        c->buf_cap = cap;
    }
    if (len > 0)
        memcpy(c->buf + c->held, in, len);
    c->held += len;
    return CKR_OK;
}

static CK_RV do_update(p11kms_cipher *c, const uint8_t *in, size_t in_len, uint8_t *out,
                       size_t *out_len)
{
    size_t want = p11kms_cipher_update_len(c, in_len), n = 0;

    if (c->mech == CKM_AES_GCM && !c->encrypt)
        return gcm_buffer(c, in, in_len);
    if (c->mech == CKM_AES_GCM) {
        if (!gcm_crypt(c, in, in_len, out))
            return CKR_GENERAL_ERROR;
    } else if (in_len > 0) {
        if (!evp_update(c->evp, in, in_len, out, &n) || n != want)
            return CKR_GENERAL_ERROR;
        c->held = cbc_held(c, c->held + in_len);
    }
    *out_len = want;
    return CKR_OK;
}

static CK_RV cbc_final(p11kms_cipher *c, uint8_t *out, size_t *out_len)
{
    uint8_t none[AES_BLOCK];
    int n;

    if (c->mech == CKM_AES_CBC && c->held != 0)
        return c->encrypt ? CKR_DATA_LEN_RANGE : CKR_ENCRYPTED_DATA_LEN_RANGE;
    if (c->mech == CKM_AES_CBC_PAD && !c->encrypt && c->held != AES_BLOCK)
        return CKR_ENCRYPTED_DATA_LEN_RANGE;
    if (EVP_CipherFinal_ex(c->evp, out != NULL ? out : none, &n) != 1)
        return c->encrypt ? CKR_GENERAL_ERROR : CKR_ENCRYPTED_DATA_INVALID;
    if ((size_t)n > p11kms_cipher_final_len(c))
        return CKR_GENERAL_ERROR;
    *out_len = (size_t)n;
    return CKR_OK;
}

static CK_RV do_final(p11kms_cipher *c, uint8_t *out, size_t *out_len)
{
    if (c->mech != CKM_AES_GCM)
        return cbc_final(c, out, out_len);
    if (!c->encrypt)
        return gcm_open(c, c->buf, c->held, out, out_len);
    if (!gcm_tag_get(c, out))
        return CKR_GENERAL_ERROR;
    *out_len = c->tag_len;
    return CKR_OK;
}

/* The operation is over: the next one needs reinit. After an error evp is reset in full. */
static void end_op(p11kms_cipher *c, CK_RV rv)
{
    c->state = ST_IDLE;
    c->held = 0;
    if (rv != CKR_OK) {
        c->loaded = NULL;
        ERR_clear_error();
    }
}

CK_RV p11kms_cipher_update(p11kms_cipher *c, const uint8_t *in, size_t in_len, uint8_t *out,
                           size_t *out_len)
{
    CK_RV rv = CKR_OPERATION_NOT_INITIALIZED;

    *out_len = 0;
    if (c->state == ST_IDLE)
        return rv;
    c->state = ST_RUNNING;
    rv = do_update(c, in, in_len, out, out_len);
    if (rv != CKR_OK)
        end_op(c, rv);
    return rv;
}

CK_RV p11kms_cipher_final(p11kms_cipher *c, uint8_t *out, size_t *out_len)
{
    CK_RV rv = CKR_OPERATION_NOT_INITIALIZED;

    *out_len = 0;
    if (c->state == ST_IDLE)
        return rv;
    rv = do_final(c, out, out_len);
    end_op(c, rv);
    return rv;
}

CK_RV p11kms_cipher_oneshot(p11kms_cipher *c, const uint8_t *in, size_t in_len, uint8_t *out,
                            size_t *out_len)
{
    CK_RV rv = CKR_OPERATION_NOT_INITIALIZED;
    size_t n1 = 0, n2 = 0;

    *out_len = 0;
    if (c->state == ST_IDLE)
        return rv;
    if (c->state != ST_FRESH) {
        rv = CKR_OPERATION_ACTIVE;
        goto out;
    }
    if (c->mech == CKM_AES_GCM && !c->encrypt) {
        rv = gcm_open(c, in, in_len, out, &n1);
        goto out;
    }
    /* Length errors before any output, so no plaintext is written for a bad input. */
    if (c->mech != CKM_AES_GCM && in_len % AES_BLOCK != 0 &&
        (c->mech == CKM_AES_CBC || !c->encrypt)) {
        rv = c->encrypt ? CKR_DATA_LEN_RANGE : CKR_ENCRYPTED_DATA_LEN_RANGE;
        goto out;
    }
    rv = do_update(c, in, in_len, out, &n1);
    if (rv == CKR_OK)
        rv = do_final(c, out != NULL ? out + n1 : NULL, &n2);
    if (rv != CKR_OK && !c->encrypt && n1 > 0)
        OPENSSL_cleanse(out, n1); /* CBC-PAD: blocks before a bad padding */
out:
    if (rv == CKR_OK)
        *out_len = n1 + n2;
    end_op(c, rv);
    return rv;
}
