/* test-local-backend.c - the local KMS backend: the AAD format against an independent AES-GCM,
 * round trips with contexts, every refusal, rotation picked up live, threads at once. */
#include <dirent.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "tests/test.h"
#include "module/codec.h"
#include "tests/unit/logcap.h"
#include "tests/unit/tmpdir.h"
#include "module/backend.h"
#include "module/backends/local/keyfile.h"
#include "module/backends/local/local.h"

/* A key configuration as config.c would build it. */
typedef struct test_kc {
    p11kms_key_config kc;
    p11kms_option opt;
} test_kc;

static const p11kms_key_config *make_kc(test_kc *t, const char *key_id, const char *key_file)
{
    memset(t, 0, sizeof(*t));
    t->kc.label = (char *)"test";
    t->kc.backend = (char *)"local";
    t->kc.key_id = (char *)key_id;
    t->kc.origin = (char *)"test.conf tokens[0].keys[0]";
    if (key_file != NULL) {
        t->opt.name = (char *)"key_file";
        t->opt.value = (char *)key_file;
        t->kc.options = &t->opt;
        t->kc.n_options = 1;
    }
    return &t->kc;
}

static p11kms_backend *open_key(const char *key_file)
{
    test_kc t;
    p11kms_backend *be = NULL;

    if (p11kms_backend_new(make_kc(&t, key_file, key_file), &be) != CKR_OK)
        return NULL;
    return be;
}

static p11kms_context *ctx_of(const char *k1, const char *v1, const char *k2, const char *v2)
{
    p11kms_context *c = NULL;

    if (p11kms_context_new(&c) != CKR_OK)
        exit(99);
    if (k1 != NULL && p11kms_context_add(c, k1, strlen(k1), v1, strlen(v1), 0) != CKR_OK)
        exit(99);
    if (k2 != NULL && p11kms_context_add(c, k2, strlen(k2), v2, strlen(v2), 0) != CKR_OK)
        exit(99);
    return c;
}

/* Round trip; returns the decrypt rv, and checks the plaintext when it is CKR_OK. */
static CK_RV round_trip(p11kms_backend *enc_be, const p11kms_context *enc_ctx,
                        p11kms_backend *dec_be, const p11kms_context *dec_ctx, uint32_t *version)
{
    static const uint8_t pt[32] = "a data key of thirty-two bytes!";
    p11kms_kms_blob blob;
    p11kms_buf out = {NULL, 0};
    CK_RV rv = enc_be->ops->encrypt(enc_be, enc_ctx, pt, sizeof(pt), &blob);

    if (rv != CKR_OK)
        return rv;
    if (version != NULL)
        *version = blob.key_version;
    rv = dec_be->ops->decrypt(dec_be, dec_ctx, &blob, &out);
    if (rv == CKR_OK && (out.len != sizeof(pt) || memcmp(out.data, pt, sizeof(pt)) != 0))
        rv = CKR_GENERAL_ERROR;
    p11kms_buf_wipe(&out);
    p11kms_kms_blob_clear(&blob);
    return rv;
}

static void test_builtin_key(void)
{
    /* Made with python3-cryptography: AES-256-GCM, key SHA-256("p11kms insecure test key v1"),
     * IV 00..0b, AAD "p11kms-local-v1" 0011 "insecure-test-key" 00000001 and the encoding of
     * {purpose: test}. */
    static const char kat[] =
        "000102030405060708090a0b20437bf81150749f746a35a50998a865955ffeeaeebd47"
        "e87b26db3f18a227b14615d060e553c51f14e1401b0284cc87";
    test_kc t;
    p11kms_backend *be = NULL;
    p11kms_context *ctx = ctx_of("purpose", "test", NULL, NULL);
    p11kms_context *other = ctx_of("purpose", "tesT", NULL, NULL);
    uint8_t ct[128];
    p11kms_kms_blob blob = {P11KMS_LOCAL_ENVELOPE_ID, (char *)"insecure-test-key", 1, ct, 0};
    p11kms_buf pt = {NULL, 0};
    const char *log;

    logcap_take();
    is_rv(p11kms_backend_new(make_kc(&t, "insecure-test-key", NULL), &be), CKR_OK,
          "built-in test key");
    log = logcap_take();
    ok(logcap_count(log, "warning") == 1 && strstr(log, "insecure") != NULL &&
           strstr(log, "tokens[0].keys[0]") != NULL,
       "a warning that it is insecure, naming the configuration");
    if (be == NULL)
        return;
    ok(p11kms_hex_decode(kat, ct, sizeof(ct), &blob.ct_len) == 0, "vector");
    is_rv(be->ops->decrypt(be, ctx, &blob, &pt), CKR_OK, "decrypts an independently made blob");
    ok(pt.len == 32 && memcmp(pt.data, "0123456789abcdef0123456789abcdef", 32) == 0,
       "the AAD layout is the documented one");
    p11kms_buf_wipe(&pt);
    is_rv(be->ops->decrypt(be, other, &blob, &pt), CKR_ENCRYPTED_DATA_INVALID,
          "one changed context byte refused");
    ok(pt.data == NULL && pt.len == 0, "nothing released");
    is_num(be->ops->current_version(be), 1, "version 1");
    is_rv(round_trip(be, ctx, be, ctx, NULL), CKR_OK, "round trip");
    p11kms_backend_free(be);
    p11kms_context_free(ctx);
    p11kms_context_free(other);

    is_rv(p11kms_backend_new(make_kc(&t, "my-key", NULL), &be), CKR_ARGUMENTS_BAD,
          "another key_id without key_file refused");
    log = logcap_take();
    ok(strstr(log, "key_file") != NULL && strstr(log, "tokens[0].keys[0]") != NULL,
       "the error names key_file and the origin");
    is_rv(p11kms_backend_new(make_kc(&t, NULL, NULL), &be), CKR_ARGUMENTS_BAD, "no key at all");
    ok(be == NULL, "no instance");
    is_rv(p11kms_backend_new(make_kc(&t, "x", path_of("missing.key")), &be), CKR_ARGUMENTS_BAD,
          "missing key file");
    log = logcap_take();
    ok(strstr(log, "missing.key") != NULL && strstr(log, "tokens[0].keys[0]") != NULL,
       "named with the origin");
    logcap_take();
}

static void test_key_file(void)
{
    const char *p = path_of("a.key"), *q = path_of("b.key");
    p11kms_backend *a, *a2, *b;
    p11kms_keyfile *kf = NULL;
    p11kms_context *ctx = ctx_of("tenant", "t1", "purpose", "db"), *empty = ctx_of(0, 0, 0, 0);
    p11kms_context *wrong = ctx_of("tenant", "t2", "purpose", "db");
    p11kms_context *fewer = ctx_of("tenant", "t1", NULL, NULL);
    p11kms_context *more = ctx_of("tenant", "t1", "purpose", "db");
    static const uint8_t pt[16] = "sixteen bytes!!";
    char ref[64], *text = NULL;
    p11kms_kms_blob blob, copy;
    p11kms_buf out = {NULL, 0};
    size_t i;
    int refused = 1;

    p11kms_context_add(more, "x", 1, "y", 1, 0);
    if (p11kms_keyfile_create(p) != CKR_OK || p11kms_keyfile_create(q) != CKR_OK ||
        p11kms_keyfile_load(p, &kf) != CKR_OK) {
        ok(0, "key files");
        return;
    }
    a = open_key(p);
    a2 = open_key(p);
    b = open_key(q);
    ok(a != NULL && a2 != NULL && b != NULL, "instances over key files");
    if (a == NULL || a2 == NULL || b == NULL)
        return;
    snprintf(ref, sizeof(ref), "local:%s", kf->name);
    is_rv(a->ops->encrypt(a, ctx, pt, sizeof(pt), &blob), CKR_OK, "encrypt");
    ok(blob.backend_id == P11KMS_LOCAL_ENVELOPE_ID && strcmp(blob.key_ref, ref) == 0 &&
           blob.key_version == 1 && blob.ct_len == 12 + 16 + 16,
       "blob: backend, key_ref local:<name>, version, IV||ct||tag");
    is_num(a->ops->blob_bound(a, sizeof(pt)), strlen(blob.key_ref) + blob.ct_len,
           "blob_bound is exact");
    ok(a->ops->owns(a, &blob) && a2->ops->owns(a2, &blob) && !b->ops->owns(b, &blob),
       "owns: same key yes, other key no");
    is_rv(a2->ops->decrypt(a2, ctx, &blob, &out), CKR_OK, "another instance of the key decrypts");
    ok(out.len == sizeof(pt) && memcmp(out.data, pt, sizeof(pt)) == 0, "plaintext back");
    p11kms_buf_wipe(&out);
    is_rv(a->ops->decrypt(a, wrong, &blob, &out), CKR_ENCRYPTED_DATA_INVALID, "wrong value");
    is_rv(a->ops->decrypt(a, fewer, &blob, &out), CKR_ENCRYPTED_DATA_INVALID, "missing pair");
    is_rv(a->ops->decrypt(a, more, &blob, &out), CKR_ENCRYPTED_DATA_INVALID, "extra pair");
    is_rv(a->ops->decrypt(a, empty, &blob, &out), CKR_ENCRYPTED_DATA_INVALID, "empty context");
    is_rv(a->ops->decrypt(a, NULL, &blob, &out), CKR_ENCRYPTED_DATA_INVALID, "no context");
    for (i = 0; i < blob.ct_len; i++) {
        blob.ct[i] ^= 0x01;
        refused &= a->ops->decrypt(a, ctx, &blob, &out) == CKR_ENCRYPTED_DATA_INVALID;
        blob.ct[i] ^= 0x01;
    }
    ok(refused && out.data == NULL, "every flipped IV, ciphertext or tag bit refused");
    copy = blob;
    copy.key_version = 2;
    is_rv(a->ops->decrypt(a, ctx, &copy, &out), CKR_ENCRYPTED_DATA_INVALID, "unknown version");
    {
        const char *log = logcap_take();
        ok(strstr(log, ref) != NULL && strstr(log, "version 2") != NULL,
           "the warning names key_ref and version");
        ok(strstr(log, "sixteen") == NULL, "and no data");
    }
    copy.key_version = 0;
    is_rv(a->ops->decrypt(a, ctx, &copy, &out), CKR_ENCRYPTED_DATA_INVALID, "version 0");
    copy = blob;
    copy.ct_len = 27;
    is_rv(a->ops->decrypt(a, ctx, &copy, &out), CKR_ENCRYPTED_DATA_INVALID, "too short");
    copy = blob;
    copy.backend_id = p11kms_backend_find("aws")->envelope_id;
    ok(!a->ops->owns(a, &copy), "another backend's blob is not ours");
    is_rv(a->ops->decrypt(a, ctx, &copy, &out), CKR_ENCRYPTED_DATA_INVALID, "and refused");
    is_rv(b->ops->decrypt(b, ctx, &blob, &out), CKR_ENCRYPTED_DATA_INVALID, "other key refused");
    p11kms_kms_blob_clear(&blob);
    is_rv(round_trip(a, empty, a, empty, NULL), CKR_OK, "empty context round trip");
    is_rv(round_trip(a, ctx, b, ctx, NULL), CKR_ENCRYPTED_DATA_INVALID, "a's blob under b");

    /* Plaintext size limit: the blob must fit an envelope. */
    {
        size_t max = P11KMS_BLOB_CT_MAX - 28;
        uint8_t *big = calloc(1, max + 1);
        is_rv(a->ops->encrypt(a, ctx, big, max, &blob), CKR_OK, "largest plaintext");
        is_num(blob.ct_len, P11KMS_BLOB_CT_MAX, "fills the blob limit");
        p11kms_kms_blob_clear(&blob);
        is_rv(a->ops->encrypt(a, ctx, big, max + 1, &blob), CKR_DATA_LEN_RANGE, "one byte more");
        ok(blob.ct == NULL && blob.key_ref == NULL, "no blob on failure");
        free(big);
    }

    is_rv(a->ops->describe(a, &text), CKR_OK, "describe");
    ok(text != NULL && strstr(text, ref) != NULL && strstr(text, p) != NULL &&
           strstr(text, "versions: 1") != NULL,
       "names key_ref, file and versions");
    {
        /* The key never appears, in hex or base64 form. */
        char hex[65];
        for (i = 0; i < 32; i++)
            snprintf(hex + 2 * i, 3, "%02x", kf->versions[0].key[i]);
        ok(text != NULL && strstr(text, hex) == NULL && strstr(text, "version 1 ") == NULL,
           "and no key material");
    }
    free(text);
    logcap_take();
    p11kms_keyfile_free(kf);
    p11kms_backend_free(a);
    p11kms_backend_free(a2);
    p11kms_backend_free(b);
    p11kms_context_free(ctx);
    p11kms_context_free(empty);
    p11kms_context_free(wrong);
    p11kms_context_free(fewer);
    p11kms_context_free(more);
}

static void test_reencrypt(void)
{
    p11kms_backend *a = open_key(path_of("a.key")), *b = open_key(path_of("b.key"));
    p11kms_context *c1 = ctx_of("k", "1", NULL, NULL), *c2 = ctx_of("k", "2", NULL, NULL);
    static const uint8_t pt[8] = "8 bytes";
    p11kms_kms_blob in, out;
    p11kms_buf got = {NULL, 0};

    if (a == NULL || b == NULL || a->ops->encrypt(a, c1, pt, sizeof(pt), &in) != CKR_OK) {
        ok(0, "setup for reencrypt");
        return;
    }
    is_rv(a->ops->reencrypt(a, c1, &in, b, c2, &out), CKR_OK, "re-encrypt a -> b");
    ok(b->ops->owns(b, &out), "the result is b's");
    is_rv(b->ops->decrypt(b, c2, &out, &got), CKR_OK, "b decrypts with the new context");
    ok(got.len == sizeof(pt) && memcmp(got.data, pt, sizeof(pt)) == 0, "same plaintext");
    p11kms_buf_wipe(&got);
    is_rv(b->ops->decrypt(b, c1, &out, &got), CKR_ENCRYPTED_DATA_INVALID, "not the old context");
    p11kms_kms_blob_clear(&out);
    is_rv(a->ops->reencrypt(a, c2, &in, b, c2, &out), CKR_ENCRYPTED_DATA_INVALID,
          "re-encrypt with a wrong source context refused");
    ok(out.ct == NULL, "no result");
    p11kms_kms_blob_clear(&in);
    p11kms_backend_free(a);
    p11kms_backend_free(b);
    p11kms_context_free(c1);
    p11kms_context_free(c2);
    logcap_take();
}

/* Another process rotates the file (what `p11kms keygen --rotate` does). It is forked once at
 * the start, while this process has one thread: a child forked later, beside running threads,
 * could inherit a lock one of them holds (OpenSSL's random generator, malloc) and hang. */
static int rot_req[2] = {-1, -1}, rot_resp[2] = {-1, -1};

static void start_rotator(void)
{
    char path[512];
    size_t n = 0;
    uint32_t v;

    if (pipe(rot_req) != 0 || pipe(rot_resp) != 0) {
        perror("pipe");
        exit(99);
    }
    if (fork() != 0) {
        close(rot_req[0]);
        close(rot_resp[1]);
        return;
    }
    close(rot_req[1]);
    close(rot_resp[0]);
    /* One path per line; answers '1' for a new version, '0' for a failure; ends at EOF. */
    while (read(rot_req[0], path + n, 1) == 1) {
        if (path[n] != '\n' && n + 1 < sizeof(path)) {
            n++;
            continue;
        }
        path[n] = '\0';
        n = 0;
        if (write(rot_resp[1], p11kms_keyfile_add_version(path, &v) == CKR_OK ? "1" : "0", 1) != 1)
            break;
    }
    _exit(0);
}

static int rotate_elsewhere(const char *path)
{
    char line[512], answer = '0';
    int n = snprintf(line, sizeof(line), "%s\n", path);

    if (write(rot_req[1], line, (size_t)n) != n || read(rot_resp[0], &answer, 1) != 1)
        return 0;
    return answer == '1';
}

static void nap_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

    nanosleep(&ts, NULL);
}

static void test_rotation(void)
{
    const char *p = path_of("rot.key");
    p11kms_backend *running, *fresh = NULL;
    p11kms_context *ctx = ctx_of("app", "x", NULL, NULL);
    static const uint8_t pt[4] = "abc";
    p11kms_kms_blob v1, v2;
    p11kms_buf out = {NULL, 0};
    uint32_t version = 0;
    int tries;

    if (p11kms_keyfile_create(p) != CKR_OK || (running = open_key(p)) == NULL) {
        ok(0, "setup for rotation");
        return;
    }
    is_rv(running->ops->encrypt(running, ctx, pt, sizeof(pt), &v1), CKR_OK, "v1 blob");
    ok(rotate_elsewhere(p), "another process adds version 2");
    fresh = open_key(p);
    ok(fresh != NULL && fresh->ops->current_version(fresh) == 2, "a new instance starts at 2");
    if (fresh == NULL)
        return;
    is_rv(fresh->ops->encrypt(fresh, ctx, pt, sizeof(pt), &v2), CKR_OK, "v2 blob");
    is_num(v2.key_version, 2, "made with version 2");
    /* The running instance has never seen version 2: decrypt reloads the file. */
    is_rv(running->ops->decrypt(running, ctx, &v2, &out), CKR_OK,
          "the running instance decrypts a version-2 blob");
    p11kms_buf_wipe(&out);
    is_num(running->ops->current_version(running), 2, "and now encrypts with version 2");
    is_rv(round_trip(running, ctx, running, ctx, &version), CKR_OK, "round trip after reload");
    is_num(version, 2, "under version 2");
    is_rv(running->ops->decrypt(running, ctx, &v1, &out), CKR_OK, "version 1 still decrypts");
    p11kms_buf_wipe(&out);
    p11kms_kms_blob_clear(&v1);
    p11kms_kms_blob_clear(&v2);

    /* Encrypt alone notices a rotation: the file is looked at about once a second. */
    ok(rotate_elsewhere(p), "another process adds version 3");
    for (tries = 0; tries < 200 && version != 3; tries++) {
        if (round_trip(running, ctx, running, ctx, &version) != CKR_OK)
            break;
        if (version != 3)
            nap_ms(50);
    }
    is_num(version, 3, "encryption moves to version 3 without a restart");
    logcap_take();

    /* A replacement by another key's file is not taken. A blob of an unknown version makes
     * the instance look at the file at once. */
    {
        const char *other = path_of("other.key");
        p11kms_kms_blob probe;

        p11kms_keyfile_create(other);
        ok(rename(other, p) == 0, "the file is replaced by another key's file");
        running->ops->encrypt(running, ctx, pt, sizeof(pt), &probe);
        probe.key_version = 99;
        is_rv(running->ops->decrypt(running, ctx, &probe, &out), CKR_ENCRYPTED_DATA_INVALID,
              "version 99 is nowhere");
        p11kms_kms_blob_clear(&probe);
        is_rv(round_trip(running, ctx, running, ctx, &version), CKR_OK, "still works");
        is_num(version, 3, "with the loaded versions");
        ok(strstr(logcap_take(), "holds another key") != NULL, "and says why");
        /* A new instance over the replaced file is that other key. */
        p11kms_backend *third = open_key(p);
        ok(third != NULL && third->ops->blob_bound(third, 1) == fresh->ops->blob_bound(fresh, 1),
           "a new instance opens the other key");
        if (third != NULL)
            is_rv(round_trip(running, ctx, third, ctx, NULL), CKR_ENCRYPTED_DATA_INVALID,
                  "which cannot decrypt the running instance's blobs");
        p11kms_backend_free(third);
    }
    p11kms_backend_free(running);
    p11kms_backend_free(fresh);
    p11kms_context_free(ctx);
}

/* A forked child must not draw the IVs its parent will use (the per-thread IV buffer). */
static void test_fork_iv(void)
{
    p11kms_backend *be = open_key(path_of("a.key"));
    p11kms_context *ctx = ctx_of(NULL, NULL, NULL, NULL);
    uint8_t child_iv[12] = {0}, parent_iv[12] = {1};
    p11kms_kms_blob b;
    int fds[2], status;
    pid_t pid;

    if (be == NULL || pipe(fds) != 0 || be->ops->encrypt(be, ctx, child_iv, 1, &b) != CKR_OK) {
        ok(0, "setup for the fork test");
        return;
    }
    p11kms_kms_blob_clear(&b);
    pid = fork();
    if (pid == 0) {
        if (be->ops->encrypt(be, ctx, child_iv, 1, &b) != CKR_OK || write(fds[1], b.ct, 12) != 12)
            _exit(1);
        _exit(0);
    }
    if (be->ops->encrypt(be, ctx, parent_iv, 1, &b) == CKR_OK)
        memcpy(parent_iv, b.ct, 12);
    p11kms_kms_blob_clear(&b);
    ok(read(fds[0], child_iv, 12) == 12 && waitpid(pid, &status, 0) == pid, "child encrypted");
    ok(memcmp(child_iv, parent_iv, 12) != 0, "parent and child drew different IVs");
    close(fds[0]);
    close(fds[1]);
    p11kms_context_free(ctx);
    p11kms_backend_free(be);
}

/* Many threads encrypting and decrypting at once while the key rotates underneath. */
enum { THREADS = 4, ROUNDS = 3000 };

struct worker {
    p11kms_backend *be;
    int id;
    int failures;
    uint32_t max_version;
};

static void *work(void *arg)
{
    struct worker *w = arg;
    char val[16];
    int i;

    for (i = 0; i < ROUNDS; i++) {
        uint32_t v = 0;
        snprintf(val, sizeof(val), "%d-%d", w->id, i);
        p11kms_context *c = ctx_of("worker", val, NULL, NULL);
        if (round_trip(w->be, c, w->be, c, &v) != CKR_OK)
            w->failures++;
        if (v > w->max_version)
            w->max_version = v;
        p11kms_context_free(c);
    }
    return NULL;
}

/* Decrypt in be a blob a fresh instance made with the file's newest version. */
static CK_RV handover(p11kms_backend *be, const char *path)
{
    p11kms_backend *fresh = open_key(path);
    CK_RV rv = fresh != NULL ? round_trip(fresh, NULL, be, NULL, NULL) : CKR_GENERAL_ERROR;

    p11kms_backend_free(fresh);
    return rv;
}

static void test_threads(void)
{
    const char *p = path_of("threads.key");
    struct worker w[THREADS];
    pthread_t th[THREADS];
    p11kms_backend *be;
    int i, failures = 0, rotations = 0;
    uint32_t seen = 0;

    if (p11kms_keyfile_create(p) != CKR_OK || (be = open_key(p)) == NULL) {
        ok(0, "setup for threads");
        return;
    }
    for (i = 0; i < THREADS; i++) {
        w[i] = (struct worker){be, i, 0, 0};
        pthread_create(&th[i], NULL, work, &w[i]);
    }
    /* Each rotation is pushed into the shared instance at once (a blob of the new version),
     * so reloads swap the key set while the workers run. */
    for (i = 0; i < 3; i++) {
        if (rotate_elsewhere(p) && handover(be, p) == CKR_OK)
            rotations++;
    }
    for (i = 0; i < THREADS; i++) {
        pthread_join(th[i], NULL);
        failures += w[i].failures;
        if (w[i].max_version > seen)
            seen = w[i].max_version;
    }
    is_num(rotations, 3, "three rotations taken in meanwhile");
    is_num(be->ops->current_version(be), 4, "the instance is at version 4");
    is_num(failures, 0, "4 threads x 3000 round trips with distinct contexts, no failure");
    ok(seen >= 1 && seen <= 4, "versions used stay within the file's");
    p11kms_backend_free(be);
    logcap_take();
}

int main(void)
{
    test_start();
    snprintf(dir, sizeof(dir), "%s", "/tmp/p11kms-local-XXXXXX");
    if (mkdtemp(dir) == NULL) {
        perror("mkdtemp");
        return 99;
    }
    atexit(remove_dir);
    logcap_start(P11KMS_LOG_WARNING);
    start_rotator();
    test_builtin_key();
    test_key_file();
    test_reencrypt();
    test_rotation();
    test_fork_iv();
    test_threads();
    return test_exit_code();
}
