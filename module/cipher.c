/* cipher.c - the data-key cipher operation: mechanism dispatch to the mode files (cipher-gcm.c,
 * cipher-block.c, cipher-ctr.c), the operation's states, and the OpenSSL plumbing they share. */
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
#include "cipher-impl.h"
#include "fork.h"

#define GCM_DEFAULT_IV_LEN 12
/* EVP takes int lengths: longer inputs go in pieces. */
#define EVP_CHUNK (1u << 30)

static const cipher_mode *const modes[] = {
    &p11kms_cipher_mode_gcm, &p11kms_cipher_mode_cbc_pad, &p11kms_cipher_mode_cbc,
    &p11kms_cipher_mode_ecb, &p11kms_cipher_mode_ctr,
};
#define N_MODES (sizeof(modes) / sizeof(modes[0]))

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
        {"AES-128-CTR", "AES-192-CTR", "AES-256-CTR"},
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

const EVP_CIPHER *p11kms_cipher_fetched(int kind, size_t key_len)
{
    fetch_ciphers();
    return fetched[kind][key_len / 8 - 2];
}

const EVP_CIPHER *p11kms_cipher_fetched_aes256gcm(void)
{
    return p11kms_cipher_fetched(KIND_GCM, 32);
}

static const cipher_mode *mode_of(CK_MECHANISM_TYPE mech)
{
    size_t i;

    for (i = 0; i < N_MODES; i++)
        if (modes[i]->mech == mech)
            return modes[i];
    return NULL;
}

int p11kms_cipher_supports(CK_MECHANISM_TYPE mech)
{
    return mode_of(mech) != NULL;
}

int p11kms_cipher_evp_update(EVP_CIPHER_CTX *ctx, const uint8_t *in, size_t len, uint8_t *out,
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

CK_RV p11kms_cipher_evp_start(p11kms_cipher *c, const EVP_CIPHER *cipher, const uint8_t *key,
                              const uint8_t *iv, size_t iv_len, int aead)
{
    /* Same cipher: re-key the provider context in place. A new cipher resets evp, which puts
     * the GCM IV length back to its default. */
    const EVP_CIPHER *fresh = c->loaded == cipher ? NULL : cipher;
    size_t iv_now = fresh != NULL ? GCM_DEFAULT_IV_LEN : c->evp_iv_len;
    size_t key_len = (size_t)EVP_CIPHER_get_key_length(cipher);
    /* The same key for the same direction (C_EncryptInit after C_Encrypt): keep OpenSSL's key
     * schedule, only the IV changes. AES decryption schedules differ. */
    const uint8_t *k =
        fresh == NULL && c->key_enc == c->encrypt && CRYPTO_memcmp(c->key, key, key_len) == 0 ? NULL
                                                                                              : key;
    int ok;

    c->loaded = NULL;
    if (!aead || iv_len == iv_now) {
        ok = EVP_CipherInit_ex2(c->evp, fresh, k, iv, c->encrypt, NULL);
    } else {
        ok = EVP_CipherInit_ex2(c->evp, fresh, k, NULL, c->encrypt, NULL) &&
             EVP_CIPHER_CTX_ctrl(c->evp, EVP_CTRL_AEAD_SET_IVLEN, (int)iv_len, NULL) > 0 &&
             EVP_CipherInit_ex2(c->evp, NULL, NULL, iv, c->encrypt, NULL);
    }
    if (!ok)
        return CKR_GENERAL_ERROR;
    if (k != NULL) {
        memcpy(c->key, key, key_len);
        c->key_enc = c->encrypt;
    }
    if (aead)
        c->evp_iv_len = iv_len;
    c->loaded = cipher;
    return CKR_OK;
}

CK_RV p11kms_cipher_reinit(p11kms_cipher *c, const CK_MECHANISM *mech, int encrypt,
                           const uint8_t *key, size_t key_len)
{
    CK_RV rv = CKR_GENERAL_ERROR;
    const cipher_mode *mode = mech != NULL ? mode_of(mech->mechanism) : NULL;
    const EVP_CIPHER *cipher;
    cipher_setup s;

    c->state = ST_IDLE;
    memset(&s, 0, sizeof(s));
    if (mode == NULL) {
        rv = CKR_MECHANISM_INVALID;
        goto out;
    }
    rv = mode->parse(mech, &s);
    if (rv != CKR_OK)
        goto out;
    if (key == NULL || (key_len != 16 && key_len != 24 && key_len != 32)) {
        rv = CKR_KEY_SIZE_RANGE;
        goto out;
    }
    cipher = p11kms_cipher_fetched(s.kind, key_len);
    if (cipher == NULL) {
        rv = CKR_GENERAL_ERROR;
        goto out;
    }
    c->mode = mode;
    c->mech = mech->mechanism;
    c->encrypt = encrypt ? 1 : 0;
    c->tag_len = s.tag_len;
    c->held = 0;
    rv = mode->start(c, cipher, &s, key);
    if (rv == CKR_OK)
        c->state = ST_FRESH;
out:
    if (rv != CKR_OK) {
        c->loaded = NULL;
        ERR_clear_error();
    }
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

size_t p11kms_cipher_update_len(const p11kms_cipher *c, size_t in_len)
{
    return c->state == ST_IDLE ? 0 : c->mode->update_len(c, in_len);
}

size_t p11kms_cipher_final_len(const p11kms_cipher *c)
{
    return c->state == ST_IDLE ? 0 : c->mode->final_len(c);
}

size_t p11kms_cipher_oneshot_len(const p11kms_cipher *c, size_t in_len)
{
    return c->state == ST_IDLE ? 0 : c->mode->oneshot_len(c, in_len);
}

CK_RV p11kms_cipher_parts(p11kms_cipher *c, const uint8_t *in, size_t in_len, uint8_t *out,
                          size_t *out_len)
{
    size_t n1 = 0, n2 = 0;
    CK_RV rv = c->mode->update(c, in, in_len, out, &n1);

    if (rv == CKR_OK)
        rv = c->mode->final(c, out != NULL ? out + n1 : NULL, &n2);
    if (rv != CKR_OK && !c->encrypt && n1 > 0)
        OPENSSL_cleanse(out, n1);
    if (rv == CKR_OK)
        *out_len = n1 + n2;
    return rv;
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
    rv = c->mode->update(c, in, in_len, out, out_len);
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
    rv = c->mode->final(c, out, out_len);
    end_op(c, rv);
    return rv;
}

CK_RV p11kms_cipher_oneshot(p11kms_cipher *c, const uint8_t *in, size_t in_len, uint8_t *out,
                            size_t *out_len)
{
    CK_RV rv = CKR_OPERATION_NOT_INITIALIZED;
    size_t n = 0;

    *out_len = 0;
    if (c->state == ST_IDLE)
        return rv;
    if (c->state != ST_FRESH)
        rv = CKR_OPERATION_ACTIVE;
    else
        rv = c->mode->oneshot(c, in, in_len, out, &n);
    if (rv == CKR_OK)
        *out_len = n;
    end_op(c, rv);
    return rv;
}
