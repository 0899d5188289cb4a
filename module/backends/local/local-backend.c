/* local-backend.c - the "local" KMS backend: AES-256-GCM under the versions of a key file (or
 * the built-in insecure test key), binding key, version and context as AAD; rotation is live.
 * Asymmetric keys (a PEM private key file) sign and decrypt in local-asym.c. */
/*
 * Shared state: the fetched cipher (set once) is global, the IV buffer is per thread (see
 * random_iv). Per instance (a forked child never uses its parent's instances, so these locks
 * need no fork handler: see fork.h):
 *  - `lock` (rwlock) protects `kf`, the key versions in use. Encrypt and decrypt copy one key
 *    under the read lock and run AES after releasing it; a reload swaps `kf` under the write
 *    lock, so readers never wait for file I/O.
 *  - `reload_lock` (mutex) serialises reloads and protects `seen`, the identity (device, inode,
 *    size, mtime) of the file last loaded. Only its holder replaces `kf`.
 *  - `next_check` (atomic) lets one caller per second stat the file on the encrypt path.
 *  - `pool` holds idle EVP_CIPHER_CTXs, taken and returned with atomic exchanges, so calls
 *    neither allocate one nor contend on a lock for it.
 *  - `pkey` (asymmetric instances only; then kf is NULL) is read-only after create.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include "backend.h"
#include "cipher.h"
#include "fork.h"
#include "keyfile.h"
#include "local.h"
#include "log.h"

#define IV_LEN 12
#define TAG_LEN 16
#define AAD_LABEL "p11kms-local-v1"
#define TEST_KEY_ID P11KMS_LOCAL_TEST_KEY_ID
#define TEST_KEY_SEED "p11kms insecure test key v1"
#define REF_PREFIX "local:"
#define CHECK_INTERVAL_NS 1000000000LL
#define POOL_SLOTS 8 /* a power of two */

typedef struct file_id {
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime;
} file_id;

typedef struct pool_slot {
    _Alignas(64) _Atomic(EVP_CIPHER_CTX *) ctx;
} pool_slot;

typedef struct local_backend {
    p11kms_backend base;
    pool_slot pool[POOL_SLOTS];
    char *key_ref;
    char *path; /* NULL: the built-in test key */
    /* AAD_LABEL || u16 len(key_ref) || key_ref: what every AAD starts with. */
    uint8_t *aad;
    size_t aad_prefix_len;
    pthread_rwlock_t lock;
    p11kms_keyfile *kf;
    pthread_mutex_t reload_lock;
    file_id seen;
    int seen_valid;
    _Atomic long long next_check;
    EVP_PKEY *pkey; /* an asymmetric key's private key; NULL for envelope keys */
} local_backend;

static long long now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Each thread starts at its own slot, so threads rarely touch each other's cache lines. */
static unsigned slot_hint(void)
{
    uint64_t h = (uint64_t)pthread_self() * 0x9E3779B97F4A7C15ull;

    return (unsigned)(h >> 40) & (POOL_SLOTS - 1);
}

/* An idle context already set up for AES-256-GCM (*fresh = 0), or a new one. */
static EVP_CIPHER_CTX *pool_take(local_backend *lb, int *fresh)
{
    unsigned start = slot_hint(), i;
    EVP_CIPHER_CTX *c;

    for (i = 0; i < POOL_SLOTS; i++) {
        pool_slot *s = &lb->pool[(start + i) & (POOL_SLOTS - 1)];

        if (atomic_load_explicit(&s->ctx, memory_order_relaxed) == NULL)
            continue;
        c = atomic_exchange_explicit(&s->ctx, NULL, memory_order_acquire);
        if (c != NULL) {
            *fresh = 0;
            return c;
        }
    }
    *fresh = 1;
    return EVP_CIPHER_CTX_new();
}

static void pool_put(local_backend *lb, EVP_CIPHER_CTX *c)
{
    unsigned start = slot_hint(), i;

    for (i = 0; i < POOL_SLOTS; i++) {
        EVP_CIPHER_CTX *expected = NULL;
        pool_slot *s = &lb->pool[(start + i) & (POOL_SLOTS - 1)];

        if (atomic_compare_exchange_strong_explicit(&s->ctx, &expected, c, memory_order_release,
                                                    memory_order_relaxed))
            return;
    }
    EVP_CIPHER_CTX_free(c);
}

/*
 * Random IVs come from a per-thread buffer refilled by RAND_bytes: OpenSSL 3.0 takes global
 * locks on every RAND_bytes call, which serialised wraps running in parallel. Each byte is used
 * once. The buffer records the fork generation it was filled in, so a child never uses bytes
 * its parent also holds (getpid per call would cost a system call). When forks cannot be
 * watched, every IV comes straight from RAND_bytes.
 */
#define IV_CACHE (IV_LEN * 85)
static __thread struct iv_cache {
    uint8_t bytes[IV_CACHE];
    size_t used;
    unsigned generation; /* 0 at thread start: refill first */
} iv_cache;
static int random_iv(uint8_t iv[IV_LEN])
{
    struct iv_cache *c = &iv_cache;
    unsigned generation = p11kms_fork_generation();

    if (generation == 0)
        return RAND_bytes(iv, IV_LEN) == 1;
    if (c->generation != generation || c->used + IV_LEN > IV_CACHE) {
        if (RAND_bytes(c->bytes, IV_CACHE) != 1)
            return 0;
        c->used = 0;
        c->generation = generation;
    }
    memcpy(iv, c->bytes + c->used, IV_LEN);
    c->used += IV_LEN;
    return 1;
}

static void put_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

enum { GCM_OK = 1, GCM_AUTH_FAILED = 0, GCM_ERROR = -1 };

/*
 * One AES-256-GCM pass: AAD = AAD_LABEL || u16 len(key_ref) || key_ref || u32 version ||
 * context encoding. Encrypting writes the tag to `tag`; decrypting checks it.
 */
static int gcm_run(local_backend *lb, int enc, const uint8_t *key, uint32_t version,
                   const uint8_t *ctx_enc, size_t ctx_len, const uint8_t *iv, const uint8_t *in,
                   size_t len, uint8_t *out, uint8_t *tag)
{
    uint8_t aad[64 + P11KMS_KEY_REF_MAX];
    EVP_CIPHER_CTX *c;
    int fresh, n = 0, fin = 0, ret = GCM_ERROR;

    const EVP_CIPHER *aes256gcm = p11kms_cipher_fetched_aes256gcm();

    if (aes256gcm == NULL || (c = pool_take(lb, &fresh)) == NULL)
        return GCM_ERROR;
    memcpy(aad, lb->aad, lb->aad_prefix_len);
    put_u32(aad + lb->aad_prefix_len, version);
    if (EVP_CipherInit_ex2(c, fresh ? aes256gcm : NULL, key, iv, enc, NULL) != 1 ||
        EVP_CipherUpdate(c, NULL, &n, aad, (int)lb->aad_prefix_len + 4) != 1 ||
        EVP_CipherUpdate(c, NULL, &n, ctx_enc, (int)ctx_len) != 1 ||
        (!enc && EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_SET_TAG, TAG_LEN, tag) <= 0) ||
        (len > 0 && EVP_CipherUpdate(c, out, &n, in, (int)len) != 1))
        goto out;
    if (EVP_CipherFinal_ex(c, out + n, &fin) != 1) {
        ret = enc ? GCM_ERROR : GCM_AUTH_FAILED;
        goto out;
    }
    if (enc && EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_GET_TAG, TAG_LEN, tag) <= 0)
        goto out;
    ret = GCM_OK;
out:
    /* A context that failed for another reason than the tag is not trusted again. */
    if (ret == GCM_ERROR)
        EVP_CIPHER_CTX_free(c);
    else
        pool_put(lb, c);
    if (ret != GCM_OK)
        ERR_clear_error(); /* leave nothing in the application's OpenSSL error queue */
    return ret;
}

static int same_file(const file_id *a, const file_id *b)
{
    return a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
           a->mtime.tv_sec == b->mtime.tv_sec && a->mtime.tv_nsec == b->mtime.tv_nsec;
}

static void file_id_of(const struct stat *st, file_id *id)
{
    id->dev = st->st_dev;
    id->ino = st->st_ino;
    id->size = st->st_size;
    id->mtime = st->st_mtim;
}

/* A rotation may add and retire versions, never change a key or the file's identity. */
static int may_replace(const local_backend *lb, const p11kms_keyfile *kf)
{
    const p11kms_keyfile_version *old;
    size_t i;

    if (strcmp(kf->name, lb->kf->name) != 0) {
        LOG_E("%s: %s now holds another key (local:%s); keeping the loaded versions", lb->key_ref,
              lb->path, kf->name);
        return 0;
    }
    for (i = 0; i < kf->n; i++) {
        old = p11kms_keyfile_get(lb->kf, kf->versions[i].version);
        if (old != NULL && CRYPTO_memcmp(old->key, kf->versions[i].key, sizeof(old->key)) != 0) {
            LOG_E("%s: %s changed the key of version %u; keeping the loaded versions", lb->key_ref,
                  lb->path, (unsigned)old->version);
            return 0;
        }
    }
    return 1;
}

/* Reload the key file if it is not the one last loaded: at most one load per change (a failed
 * load is not retried until the file changes again). */
static void reload_if_changed(local_backend *lb)
{
    p11kms_keyfile *kf = NULL, *old;
    struct stat st;
    file_id id;

    pthread_mutex_lock(&lb->reload_lock);
    if (stat(lb->path, &st) != 0) {
        if (lb->seen_valid)
            LOG_W("%s: %s is gone; keeping the loaded versions", lb->key_ref, lb->path);
        lb->seen_valid = 0;
        goto out;
    }
    file_id_of(&st, &id);
    if (lb->seen_valid && same_file(&id, &lb->seen))
        goto out;
    /* Recorded before the load (stat first): a change during the load is seen next time. */
    lb->seen = id;
    lb->seen_valid = 1;
    if (p11kms_keyfile_load(lb->path, &kf) != CKR_OK) {
        LOG_W("%s: %s changed but cannot be loaded; keeping the loaded versions", lb->key_ref,
              lb->path);
        goto out;
    }
    if (!may_replace(lb, kf))
        goto out;
    pthread_rwlock_wrlock(&lb->lock);
    old = lb->kf;
    lb->kf = kf;
    pthread_rwlock_unlock(&lb->lock);
    kf = old;
    LOG_I("%s: reloaded %s, newest version %u", lb->key_ref, lb->path,
          (unsigned)p11kms_keyfile_newest(lb->kf)->version);
out:
    pthread_mutex_unlock(&lb->reload_lock);
    p11kms_keyfile_free(kf);
}

/* On the encrypt path: look at the file at most once per second (one caller does). */
static void check_file(local_backend *lb)
{
    long long now, next;

    if (lb->path == NULL)
        return;
    now = now_ns();
    next = atomic_load_explicit(&lb->next_check, memory_order_relaxed);
    if (now < next ||
        !atomic_compare_exchange_strong(&lb->next_check, &next, now + CHECK_INTERVAL_NS))
        return;
    reload_if_changed(lb);
}

/* Copy one version's key (version 0: the newest) out of the lock. 0 when absent. */
static int copy_key(local_backend *lb, uint32_t version, uint8_t key[P11KMS_KEYFILE_KEY_LEN],
                    uint32_t *got)
{
    const p11kms_keyfile_version *v;

    pthread_rwlock_rdlock(&lb->lock);
    v = version == 0 ? p11kms_keyfile_newest(lb->kf) : p11kms_keyfile_get(lb->kf, version);
    if (v != NULL) {
        memcpy(key, v->key, P11KMS_KEYFILE_KEY_LEN);
        *got = v->version;
    }
    pthread_rwlock_unlock(&lb->lock);
    return v != NULL;
}

/* A version's key. An unknown version may come from a rotation by another process: reload and
 * look again, even when this call loaded nothing (another thread may just have). */
static int find_key(local_backend *lb, uint32_t version, uint8_t key[P11KMS_KEYFILE_KEY_LEN])
{
    uint32_t got;

    if (copy_key(lb, version, key, &got))
        return 1;
    if (lb->path == NULL)
        return 0;
    reload_if_changed(lb);
    return copy_key(lb, version, key, &got);
}

/* The canonical context encoding bound as AAD; NULL counts as the empty context. */
static CK_RV encode_context(const p11kms_context *ctx, uint8_t **enc, size_t *len)
{
    static const uint8_t empty[2] = {0, 0};

    if (ctx != NULL)
        return p11kms_context_encode(ctx, enc, len);
    *enc = malloc(sizeof(empty));
    if (*enc == NULL)
        return CKR_HOST_MEMORY;
    memcpy(*enc, empty, sizeof(empty));
    *len = sizeof(empty);
    return CKR_OK;
}

/* An asymmetric instance asked for envelope work: a bug in the caller. */
static CK_RV envelope_refused(const local_backend *lb)
{
    LOG_E("%s: an asymmetric key makes no envelopes", lb->key_ref);
    return CKR_GENERAL_ERROR;
}

static CK_RV local_encrypt(p11kms_backend *be, const p11kms_context *ctx, const uint8_t *pt,
                           size_t pt_len, p11kms_kms_blob *out)
{
    local_backend *lb = (local_backend *)be;
    CK_RV rv = CKR_GENERAL_ERROR;
    uint8_t key[P11KMS_KEYFILE_KEY_LEN], *ctx_enc = NULL;
    size_t ctx_len = 0;
    uint32_t version = 0;

    memset(out, 0, sizeof(*out));
    if (lb->pkey != NULL) /* read-only after create; kf is replaced under the lock */
        return envelope_refused(lb);
    if (pt_len > P11KMS_BLOB_CT_MAX - IV_LEN - TAG_LEN) {
        LOG_E("%s: %zu bytes are more than the local backend encrypts", lb->key_ref, pt_len);
        return CKR_DATA_LEN_RANGE;
    }
    check_file(lb);
    if (!copy_key(lb, 0, key, &version))
        goto out;
    rv = encode_context(ctx, &ctx_enc, &ctx_len);
    if (rv != CKR_OK)
        goto out;
    rv = CKR_HOST_MEMORY;
    out->ct_len = IV_LEN + pt_len + TAG_LEN;
    out->ct = malloc(out->ct_len);
    out->key_ref = strdup(lb->key_ref);
    if (out->ct == NULL || out->key_ref == NULL)
        goto out;
    rv = CKR_GENERAL_ERROR;
    if (!random_iv(out->ct)) {
        LOG_E("%s: the random generator failed", lb->key_ref);
        goto out;
    }
    if (gcm_run(lb, 1, key, version, ctx_enc, ctx_len, out->ct, pt, pt_len, out->ct + IV_LEN,
                out->ct + IV_LEN + pt_len) != GCM_OK) {
        LOG_E("%s: AES-GCM encryption failed", lb->key_ref);
        goto out;
    }
    out->backend_id = P11KMS_LOCAL_ENVELOPE_ID;
    out->key_version = version;
    rv = CKR_OK;
out:
    if (rv != CKR_OK)
        p11kms_kms_blob_clear(out);
    OPENSSL_cleanse(key, sizeof(key));
    free(ctx_enc);
    return rv;
}

static int local_owns(p11kms_backend *be, const p11kms_kms_blob *in)
{
    local_backend *lb = (local_backend *)be;

    return in->backend_id == P11KMS_LOCAL_ENVELOPE_ID && in->key_ref != NULL &&
           strcmp(in->key_ref, lb->key_ref) == 0;
}

static CK_RV local_decrypt(p11kms_backend *be, const p11kms_context *ctx, const p11kms_kms_blob *in,
                           p11kms_buf *pt)
{
    local_backend *lb = (local_backend *)be;
    CK_RV rv = CKR_ENCRYPTED_DATA_INVALID;
    uint8_t key[P11KMS_KEYFILE_KEY_LEN], *ctx_enc = NULL, *data = NULL;
    size_t ctx_len = 0, len = 0;
    uint32_t version = 0;
    int r;

    if (lb->pkey != NULL) /* read-only after create; kf is replaced under the lock */
        return envelope_refused(lb);
    if (!local_owns(be, in) || in->key_version == 0 || in->ct_len < IV_LEN + TAG_LEN ||
        in->ct_len > P11KMS_BLOB_CT_MAX) {
        LOG_W("%s: ciphertext for %s version %u is not one of this key's", lb->key_ref,
              in->key_ref != NULL ? in->key_ref : "(none)", (unsigned)in->key_version);
        return rv;
    }
    version = in->key_version;
    if (!find_key(lb, version, key)) {
        LOG_W("%s: no key version %u in %s", lb->key_ref, (unsigned)version,
              lb->path != NULL ? lb->path : "the built-in test key");
        return rv;
    }
    rv = encode_context(ctx, &ctx_enc, &ctx_len);
    if (rv != CKR_OK)
        goto out;
    len = in->ct_len - IV_LEN - TAG_LEN;
    data = malloc(len ? len : 1);
    if (data == NULL) {
        rv = CKR_HOST_MEMORY;
        goto out;
    }
    r = gcm_run(lb, 0, key, version, ctx_enc, ctx_len, in->ct, in->ct + IV_LEN, len, data,
                in->ct + IV_LEN + len);
    if (r != GCM_OK) {
        rv = r == GCM_AUTH_FAILED ? CKR_ENCRYPTED_DATA_INVALID : CKR_GENERAL_ERROR;
        LOG_W("%s version %u: %s", lb->key_ref, (unsigned)version,
              r == GCM_AUTH_FAILED ? "ciphertext refused (wrong context, tampered or another key)"
                                   : "AES-GCM decryption failed");
        goto out;
    }
    pt->data = data;
    pt->len = len;
    data = NULL;
    rv = CKR_OK;
out:
    p11kms_secure_free(data, len);
    OPENSSL_cleanse(key, sizeof(key));
    free(ctx_enc);
    return rv;
}

static size_t local_blob_bound(p11kms_backend *be, size_t pt_len)
{
    return strlen(((local_backend *)be)->key_ref) + IV_LEN + pt_len + TAG_LEN;
}

static uint32_t local_current_version(p11kms_backend *be)
{
    local_backend *lb = (local_backend *)be;
    uint32_t version;

    if (lb->pkey != NULL)
        return 0;
    check_file(lb);
    pthread_rwlock_rdlock(&lb->lock);
    version = p11kms_keyfile_newest(lb->kf)->version;
    pthread_rwlock_unlock(&lb->lock);
    return version;
}

/* Local to local: the plaintext exists here anyway, so decrypt, encrypt, and wipe it. */
static CK_RV local_reencrypt(p11kms_backend *src, const p11kms_context *src_ctx,
                             const p11kms_kms_blob *in, p11kms_backend *dst,
                             const p11kms_context *dst_ctx, p11kms_kms_blob *out)
{
    p11kms_buf pt = {NULL, 0};
    CK_RV rv;

    if (dst->ops != &p11kms_backend_local_ops)
        return CKR_FUNCTION_NOT_SUPPORTED; /* local to local only (backend.h) */
    rv = local_decrypt(src, src_ctx, in, &pt);
    if (rv == CKR_OK)
        rv = local_encrypt(dst, dst_ctx, pt.data, pt.len, out);
    p11kms_buf_wipe(&pt);
    return rv;
}

static CK_RV local_describe(p11kms_backend *be, char **text)
{
    local_backend *lb = (local_backend *)be;
    char *buf = NULL;
    size_t len = 0, i;
    FILE *f;

    *text = NULL;
    f = open_memstream(&buf, &len);
    if (f == NULL)
        return CKR_HOST_MEMORY;
    fprintf(f, "backend: local\nkey_ref: %s\nkey file: %s\n", lb->key_ref,
            lb->path != NULL ? lb->path : "(built-in insecure test key, for tests only)");
    if (lb->pkey != NULL) {
        fprintf(f, "private key: %d-bit %s\n", EVP_PKEY_get_bits(lb->pkey),
                EVP_PKEY_get_base_id(lb->pkey) == EVP_PKEY_EC ? "EC" : "RSA");
        goto done;
    }
    pthread_rwlock_rdlock(&lb->lock);
    fprintf(f, "versions:");
    for (i = 0; i < lb->kf->n; i++)
        fprintf(f, "%s %u", i ? "," : "", (unsigned)lb->kf->versions[i].version);
    fprintf(f, "\ncurrent version: %u\n", (unsigned)p11kms_keyfile_newest(lb->kf)->version);
    pthread_rwlock_unlock(&lb->lock);
done:
    if (fclose(f) != 0) {
        free(buf);
        return CKR_HOST_MEMORY;
    }
    *text = buf;
    return CKR_OK;
}

static void local_destroy(p11kms_backend *be)
{
    local_backend *lb = (local_backend *)be;
    size_t i;

    if (lb == NULL)
        return;
    for (i = 0; i < POOL_SLOTS; i++)
        EVP_CIPHER_CTX_free(atomic_load(&lb->pool[i].ctx));
    p11kms_keyfile_free(lb->kf);
    EVP_PKEY_free(lb->pkey);
    pthread_rwlock_destroy(&lb->lock);
    pthread_mutex_destroy(&lb->reload_lock);
    free(lb->key_ref);
    free(lb->path);
    free(lb->aad);
    free(lb);
}

/* The built-in key: SHA-256 of a public string, so every build and test agrees on it. */
static CK_RV test_keyfile(p11kms_keyfile **out)
{
    p11kms_keyfile *kf = calloc(1, sizeof(*kf));

    *out = NULL;
    if (kf == NULL || (kf->versions = calloc(1, sizeof(*kf->versions))) == NULL) {
        free(kf);
        return CKR_HOST_MEMORY;
    }
    kf->n = 1;
    kf->versions[0].version = 1;
    if (EVP_Digest(TEST_KEY_SEED, strlen(TEST_KEY_SEED), kf->versions[0].key, NULL, EVP_sha256(),
                   NULL) != 1) {
        p11kms_keyfile_free(kf);
        return CKR_GENERAL_ERROR;
    }
    *out = kf;
    return CKR_OK;
}

static CK_RV set_key_ref(local_backend *lb, const char *ref)
{
    size_t n = strlen(ref), label = strlen(AAD_LABEL);

    lb->key_ref = strdup(ref);
    lb->aad = malloc(label + 2 + n);
    if (lb->key_ref == NULL || lb->aad == NULL)
        return CKR_HOST_MEMORY;
    memcpy(lb->aad, AAD_LABEL, label);
    lb->aad[label] = (uint8_t)(n >> 8);
    lb->aad[label + 1] = (uint8_t)n;
    memcpy(lb->aad + label + 2, ref, n);
    lb->aad_prefix_len = label + 2 + n;
    return CKR_OK;
}

static CK_RV local_create(const p11kms_key_config *kc, p11kms_backend **out)
{
    const char *key_file = p11kms_key_config_option(kc, "key_file");
    CK_RV rv = CKR_ARGUMENTS_BAD;
    local_backend *lb = NULL;
    char ref[sizeof(REF_PREFIX) + sizeof(lb->kf->name)];
    struct stat st;
    void *mem = NULL;

    *out = NULL;
    if (key_file == NULL && (p11kms_key_type_is_asym(kc->key_type) || kc->key_id == NULL ||
                             strcmp(kc->key_id, TEST_KEY_ID) != 0)) {
        LOG_E("%s: a local key needs key_file (or key_id \"%s\")", kc->origin, TEST_KEY_ID);
        return rv;
    }
    if (posix_memalign(&mem, 64, sizeof(*lb)) != 0)
        return CKR_HOST_MEMORY;
    lb = memset(mem, 0, sizeof(*lb));
    lb->base.ops = &p11kms_backend_local_ops;
    pthread_rwlock_init(&lb->lock, NULL);
    pthread_mutex_init(&lb->reload_lock, NULL);
    if (key_file == NULL) {
        LOG_W("%s: using the built-in insecure test key: anyone can unwrap what it wraps; "
              "for tests only",
              kc->origin);
        rv = test_keyfile(&lb->kf);
        if (rv == CKR_OK)
            rv = set_key_ref(lb, TEST_KEY_ID);
        goto out;
    }
    lb->path = strdup(key_file);
    if (lb->path == NULL) {
        rv = CKR_HOST_MEMORY;
        goto out;
    }
    if (p11kms_key_type_is_asym(kc->key_type)) {
        rv = p11kms_keyfile_private_load(key_file, kc->key_type, &lb->pkey);
        if (rv != CKR_OK)
            LOG_E("%s: cannot use the private key file %s", kc->origin, key_file);
        else
            rv = set_key_ref(lb, key_file);
        goto out;
    }
    /* Identity first, then content: a change in between is picked up by the next check. */
    lb->next_check = now_ns() + CHECK_INTERVAL_NS;
    if (stat(key_file, &st) == 0) {
        file_id_of(&st, &lb->seen);
        lb->seen_valid = 1;
    }
    rv = p11kms_keyfile_load(key_file, &lb->kf);
    if (rv != CKR_OK) {
        LOG_E("%s: cannot use the local key file %s", kc->origin, key_file);
        goto out;
    }
    snprintf(ref, sizeof(ref), REF_PREFIX "%s", lb->kf->name);
    rv = set_key_ref(lb, ref);
out:
    if (rv != CKR_OK) {
        local_destroy(&lb->base);
        return rv;
    }
    if (lb->kf != NULL)
        LOG_D("%s: local key %s, newest version %u", kc->origin, lb->key_ref,
              (unsigned)p11kms_keyfile_newest(lb->kf)->version);
    *out = &lb->base;
    return CKR_OK;
}

static CK_RV local_public_key(p11kms_backend *be, p11kms_buf *spki)
{
    local_backend *lb = (local_backend *)be;

    return lb->pkey != NULL ? p11kms_local_public_key(lb->pkey, spki) : CKR_GENERAL_ERROR;
}

static CK_RV local_sign_digest(p11kms_backend *be, int alg, const uint8_t *digest,
                               size_t digest_len, p11kms_buf *sig)
{
    local_backend *lb = (local_backend *)be;

    if (lb->pkey == NULL)
        return CKR_GENERAL_ERROR;
    return p11kms_local_sign(lb->pkey, lb->key_ref, alg, digest, digest_len, sig);
}

static CK_RV local_asym_decrypt(p11kms_backend *be, int alg, const uint8_t *ct, size_t ct_len,
                                p11kms_buf *pt)
{
    local_backend *lb = (local_backend *)be;

    if (lb->pkey == NULL)
        return CKR_GENERAL_ERROR;
    return p11kms_local_oaep_decrypt(lb->pkey, lb->key_ref, alg, ct, ct_len, pt);
}

const p11kms_backend_ops p11kms_backend_local_ops = {
    .name = "local",
    .envelope_id = P11KMS_LOCAL_ENVELOPE_ID,
    .options = p11kms_local_options,
    .quick_forms = p11kms_local_quick_forms,
    .quick = p11kms_local_quick,
    .check_key = p11kms_local_check_key,
    .doctor = p11kms_local_doctor,
    .create = local_create,
    .destroy = local_destroy,
    .encrypt = local_encrypt,
    .decrypt = local_decrypt,
    .owns = local_owns,
    .blob_bound = local_blob_bound,
    .current_version = local_current_version,
    .reencrypt = local_reencrypt,
    .describe = local_describe,
    .public_key = local_public_key,
    .sign_digest = local_sign_digest,
    .asym_decrypt = local_asym_decrypt,
};
