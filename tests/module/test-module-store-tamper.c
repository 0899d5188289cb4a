/* test-module-store-tamper.c - stored object files an attacker edited, through the function list:
 * every byte flipped and every length cut, files swapped, copied under another name, sealed parts
 * exchanged, an older version replayed, a destroyed object brought back, a file moved from another
 * token or sealed by another KMS key, an envelope of another purpose pasted in, a link, a FIFO, a
 * directory, a huge file. Each is refused with one log line naming the file, never crashes or
 * hangs, never gives out a value, and the other objects stay usable. */
#include <openssl/evp.h>
#include "tests/module/p11.h"
#include "tests/module/store-files.h"

#define N(t) (sizeof(t) / sizeof((t)[0]))
#define HEADER_LEN 48
#define ATTRS_LEN_AT 44

static char dir_st[400], dir_other[400], dir_foreign[400], logpath[400], conf[400];
static uint8_t orig[SF_FILE_MAX], buf[SF_FILE_MAX], other[SF_FILE_MAX];
static CK_SESSION_HANDLE s;
static CK_OBJECT_HANDLE kms, bystander, bydata;

static void write_config(void)
{
    char text[4096], key[256];
    uint8_t raw[32], b64[64];

    memset(raw, 0x5a, sizeof(raw));
    EVP_EncodeBlock(b64, raw, sizeof(raw));
    snprintf(key, sizeof(key),
             "p11kms-key-file 1\nname 0123456789abcdef0123456789abcdef\nversion 1 %s\n", b64);
    snprintf(dir_st, sizeof(dir_st), "%s/stores/st", p11_tmp());
    snprintf(dir_other, sizeof(dir_other), "%s/stores/other", p11_tmp());
    snprintf(dir_foreign, sizeof(dir_foreign), "%s/stores/foreign", p11_tmp());
    snprintf(logpath, sizeof(logpath), "%s/module.log", p11_tmp());
    snprintf(
        text, sizeof(text),
        "{\"tokens\": [\n"
        " {\"label\": \"st\", \"store\": \"%s\", \"keys\": [\n"
        "  {\"label\": \"kms\", \"backend\": \"local\", \"key_id\": \"insecure-test-key\"}]},\n"
        " {\"label\": \"other\", \"store\": \"%s\", \"keys\": [\n"
        "  {\"label\": \"kms\", \"backend\": \"local\", \"key_id\": \"insecure-test-key\"}]},\n"
        " {\"label\": \"foreign\", \"store\": \"%s\", \"keys\": [\n"
        "  {\"label\": \"kms\", \"backend\": \"local\", \"key_file\": \"%s\"}]}]}\n",
        dir_st, dir_other, dir_foreign, p11_write("foreign.key", key, 0600));
    snprintf(conf, sizeof(conf), "%s", p11_write("tamper.conf", text, 0600));
}

static void start(void)
{
    char env[500];

    p11->C_Finalize(NULL);
    snprintf(env, sizeof(env), "warning,file:%s", logpath);
    setenv("P11KMS_LOG", env, 1);
    if (p11_init_config(conf) != CKR_OK) {
        printf("Bail out! C_Initialize\n");
        exit(1);
    }
    s = p11_open(0);
    kms = p11_find_label(s, "kms");
}

/* Bytes of a file before its sealed parts: header and attributes. */
static long prefix_len(const uint8_t *f)
{
    return HEADER_LEN + ((long)f[ATTRS_LEN_AT] << 24 | (long)f[ATTRS_LEN_AT + 1] << 16 |
                         (long)f[ATTRS_LEN_AT + 2] << 8 | f[ATTRS_LEN_AT + 3]);
}

static int log_count(const char *what)
{
    int n = p11_file_count(logpath, what);
    return n < 0 ? 0 : n;
}

/* A token key (or data object) made in session sess, and the name of its new file in dir. */
static CK_OBJECT_HANDLE made(CK_SESSION_HANDLE sess, const char *dir, const char *label, int data,
                             char *name)
{
    char before[64][SF_NAME], after[64][SF_NAME];
    int nb = sf_list(dir, before, 64), na;
    CK_OBJECT_HANDLE h = CK_INVALID_HANDLE;

    if (nb < 0)
        nb = 0;
    if (data)
        sf_token_data(sess, label, "some data", 9, &h);
    else
        sf_token_key(sess, label, 32, CK_FALSE, CK_TRUE, &h);
    na = sf_list(dir, after, 64);
    snprintf(name, SF_NAME, "%s", sf_new_file(before, nb, after, na > 0 ? na : 0));
    return h;
}

/* The bystanders' handles (new ones when their files came back). */
static void refind(void)
{
    bystander = p11_find_label(s, "bystander");
    bydata = p11_find_label(s, "bydata");
}

/* Whether the bystanders still work: a key that encrypts and a data object that reads. */
static int bystanders_fine(void)
{
    uint8_t pt[16] = {0}, ct[64], v[32];
    CK_ULONG ctl = sizeof(ct);
    CK_ATTRIBUTE a = {CKA_VALUE, v, sizeof(v)};

    return sf_gcm(s, 1, bystander, pt, sizeof(pt), ct, &ctl) == CKR_OK &&
           p11->C_GetAttributeValue(s, bydata, &a, 1) == CKR_OK && a.ulValueLen == 9;
}

/* Every object s finds that is not a bystander: used (an unseal), which must fail; afterwards
 * no such object is left. 1 when so. */
static int refused_on_use(void)
{
    CK_OBJECT_HANDLE h[64];
    CK_ULONG n = 0, i;
    CK_MECHANISM m = {CKM_AES_ECB, NULL, 0};
    uint8_t v[64];
    CK_ATTRIBUTE a = {CKA_VALUE, v, sizeof(v)};
    int fine = 1;

    if (p11->C_FindObjectsInit(s, NULL, 0) != CKR_OK)
        return 0;
    p11->C_FindObjects(s, h, 64, &n);
    p11->C_FindObjectsFinal(s);
    for (i = 0; i < n; i++) {
        if (h[i] == kms || h[i] == bystander || h[i] == bydata)
            continue;
        /* The value must not come out, by attribute or by use. */
        a.ulValueLen = sizeof(v);
        if (p11->C_GetAttributeValue(s, h[i], &a, 1) == CKR_OK)
            fine = 0;
        if (p11->C_EncryptInit(s, &m, h[i]) == CKR_OK) {
            fine = 0;
            p11v3->C_SessionCancel(s, CKF_ENCRYPT);
        }
    }
    if (!fine || p11_count(s) != 3)
        diag("refused_on_use: a value came out (%d) or %lu objects are left", !fine,
             (unsigned long)p11_count(s));
    return fine && p11_count(s) == 3;
}

/* Write bytes as file name of dir; then a find; the refusal shows as one log line naming it and
 * no usable object. */
static int one_refusal(const char *dir, const char *name, const uint8_t *bytes, size_t len)
{
    int before = log_count(name);

    if (sf_write(sf_path(dir, name), bytes, len) != 0)
        return 0;
    return refused_on_use() && log_count(name) - before == 1;
}

static void test_every_byte(const char *name, long len)
{
    long i, bad_flip = -1, bad_cut = -1;

    for (i = 0; i < len; i++) {
        memcpy(buf, orig, (size_t)len);
        buf[i] ^= 0x01;
        if (!one_refusal(dir_st, name, buf, (size_t)len) && bad_flip < 0)
            bad_flip = i;
    }
    if (bad_flip >= 0)
        diag("the first byte whose flip was not refused: %ld", bad_flip);
    ok(bad_flip < 0, "every one of the file's bytes flipped: refused, one line each");
    for (i = 0; i < len; i++)
        if (!one_refusal(dir_st, name, orig, (size_t)i) && bad_cut < 0)
            bad_cut = i;
    if (bad_cut >= 0)
        diag("the first length not refused: %ld", bad_cut);
    ok(bad_cut < 0, "the file cut at every length: refused, one line each");
    memcpy(buf, orig, (size_t)len);
    buf[len] = 0;
    ok(one_refusal(dir_st, name, buf, (size_t)len + 1), "a byte appended: refused");
    ok(bystanders_fine(), "the other objects work throughout");
}

static void test_tampering(void)
{
    char vname[SF_NAME], bname[SF_NAME], dname[SF_NAME], extra[SF_NAME], fname[SF_NAME];
    CK_OBJECT_HANDLE victim, fh;
    CK_SESSION_HANDLE fs;
    uint8_t value[32], again[32];
    CK_ULONG vl = sizeof(value), al = sizeof(again);
    long len, blen, alen, blen2;
    int before;

    start();
    victim = made(s, dir_st, "victim", 0, vname);
    bystander = made(s, dir_st, "bystander", 0, bname);
    bydata = made(s, dir_st, "bydata", 1, dname);
    ok(vname[0] && bname[0] && dname[0], "three objects, three files");
    ok(p11_value(s, victim, value, &vl), "the victim's value");
    len = sf_read(sf_path(dir_st, vname), orig, sizeof(orig));
    blen = sf_read(sf_path(dir_st, bname), other, sizeof(other));
    ok(len > HEADER_LEN && blen > HEADER_LEN, "the files read");

    /* A new instance: nothing verified yet, so every check below is the file's. */
    start();
    refind();
    ok(bystanders_fine(), "the bystanders work");
    test_every_byte(vname, len);

    /* Swapped: the two files under each other's names. Each names another object than its file
     * name says, so both are refused, and the bystander leaves while its file is wrong. */
    before = log_count(bname);
    ok(sf_write(sf_path(dir_st, bname), orig, (size_t)len) == 0 &&
           sf_write(sf_path(dir_st, vname), other, (size_t)blen) == 0,
       "the victim's and the bystander's files swapped");
    ok(p11_count(s) == 2 && log_count(bname) - before == 1, "both refused: the bystander left");
    ok(sf_write(sf_path(dir_st, bname), other, (size_t)blen) == 0, "the bystander's file back");
    refind();
    ok(bystanders_fine(), "and the bystander with it");
    /* The victim's attributes with the bystander's sealed key and value. */
    alen = prefix_len(orig);
    blen2 = prefix_len(other);
    memcpy(buf, orig, (size_t)alen);
    memcpy(buf + alen, other + blen2, (size_t)(blen - blen2));
    ok(one_refusal(dir_st, vname, buf, (size_t)(alen + blen - blen2)),
       "its attributes with another object's sealed key and value: refused by the KMS");
    /* A copy under a new name. */
    snprintf(extra, sizeof(extra), "0123456789abcdef0123456789abcdef.obj");
    ok(one_refusal(dir_st, extra, other, (size_t)blen), "a copy of a file under another name: "
                                                        "refused");
    unlink(sf_path(dir_st, extra));

    /* The original again: accepted, the same value. */
    ok(sf_write(sf_path(dir_st, vname), orig, (size_t)len) == 0, "the victim's file restored");
    victim = p11_find_label(s, "victim");
    ok(victim != CK_INVALID_HANDLE && p11_value(s, victim, again, &al) &&
           memcmp(value, again, sizeof(value)) == 0,
       "and the victim is back with its value");
    ok(bystanders_fine(), "the bystanders work");
    is_rv(p11->C_DestroyObject(s, victim), CKR_OK, "the victim destroyed");

    /* From another token's store: the token is bound (same KMS key, so the KMS refuses). */
    fs = p11_open(1);
    fh = made(fs, dir_other, "elsewhere", 0, fname);
    ok(fh != CK_INVALID_HANDLE && fname[0], "an object on another token");
    alen = sf_read(sf_path(dir_other, fname), buf, sizeof(buf));
    ok(one_refusal(dir_st, fname, buf, (size_t)alen), "its file moved into this store: refused");
    unlink(sf_path(dir_st, fname));
    /* Sealed by another KMS key. */
    fs = p11_open(2);
    fh = made(fs, dir_foreign, "foreign", 0, fname);
    ok(fh != CK_INVALID_HANDLE && fname[0], "an object sealed by another KMS key");
    alen = sf_read(sf_path(dir_foreign, fname), buf, sizeof(buf));
    before = log_count("does not have");
    ok(one_refusal(dir_st, fname, buf, (size_t)alen), "planted here: refused");
    is_num(log_count("does not have") - before, 1,
           "before any KMS call: a key this token "
           "does not have");
    unlink(sf_path(dir_st, fname));
    ok(bystanders_fine(), "the bystanders work");
}

/* An envelope of another purpose pasted in as the sealed key, and a stored object's sealed key
 * given to C_UnwrapKey and C_Decrypt. */
static void test_purposes(void)
{
    char name[SF_NAME];
    CK_OBJECT_HANDLE k = made(s, dir_st, "purpose", 0, name), dk = p11_data_key(s, 32);
    CK_MECHANISM env = {CKM_P11KMS_ENVELOPE, NULL, 0};
    uint8_t wrapped[4096], out[256];
    CK_ULONG wl, ol = sizeof(out);
    long len, alen, elen;
    uint32_t want;
    CK_OBJECT_HANDLE u;
    P11_UNWRAP_TEMPLATE(ut);

    ok(k != CK_INVALID_HANDLE, "a stored key");
    len = sf_read(sf_path(dir_st, name), orig, sizeof(orig));
    alen = prefix_len(orig);
    elen = (long)orig[alen] << 24 | (long)orig[alen + 1] << 16 | (long)orig[alen + 2] << 8 |
           orig[alen + 3];
    ok(elen > 0 && alen + 4 + elen < len && orig[alen + 4 + 5] == 3,
       "its sealed key: an envelope of purpose 3");
    is_rv(p11->C_UnwrapKey(s, &env, kms, orig + alen + 4, (CK_ULONG)elen, ut, N(ut), &u),
          CKR_WRAPPED_KEY_INVALID, "C_UnwrapKey refuses a stored object's sealed key");
    is_rv(p11_crypt(s, 0, &env, kms, orig + alen + 4, (CK_ULONG)elen, out, &ol),
          CKR_ENCRYPTED_DATA_INVALID, "so does C_Decrypt");
    /* A wrapped-key envelope of the same length family put in the sealed key's place. */
    is_rv(p11_wrap_default(s, kms, dk, wrapped, sizeof(wrapped), &wl), CKR_OK,
          "a C_WrapKey "
          "envelope");
    memcpy(buf, orig, (size_t)(alen + 4));
    want = (uint32_t)wl;
    buf[alen] = (uint8_t)(want >> 24);
    buf[alen + 1] = (uint8_t)(want >> 16);
    buf[alen + 2] = (uint8_t)(want >> 8);
    buf[alen + 3] = (uint8_t)want;
    memcpy(buf + alen + 4, wrapped, wl);
    memcpy(buf + alen + 4 + wl, orig + alen + 4 + elen, (size_t)(len - alen - 4 - elen));
    start();
    refind();
    ok(one_refusal(dir_st, name, buf, (size_t)(len - elen + (long)wl)),
       "a wrapped-key envelope as the sealed key: refused (its purpose)");
    unlink(sf_path(dir_st, name));
}

/* Replays: an older version after a set, a destroyed object's file, in this process. */
static void test_replay(void)
{
    char name[SF_NAME], name2[SF_NAME];
    CK_OBJECT_HANDLE d = made(s, dir_st, "replayed", 1, name), d2;
    CK_ATTRIBUTE newval = {CKA_VALUE, "second!!!", 9};
    uint8_t v[32];
    CK_ATTRIBUTE rd = {CKA_VALUE, v, sizeof(v)};
    long len = sf_read(sf_path(dir_st, name), orig, sizeof(orig)), len2;

    is_rv(p11->C_SetAttributeValue(s, d, &newval, 1), CKR_OK, "a set: generation 2");
    ok(one_refusal(dir_st, name, orig, (size_t)len), "generation 1 written back: refused");
    rd.ulValueLen = sizeof(v);
    ok(p11->C_GetAttributeValue(s, d, &rd, 1) != CKR_OK, "the old value never comes out");
    d2 = made(s, dir_st, "destroyed", 1, name2);
    len2 = sf_read(sf_path(dir_st, name2), buf, sizeof(buf));
    is_rv(p11->C_DestroyObject(s, d2), CKR_OK, "destroy an object");
    ok(one_refusal(dir_st, name2, buf, (size_t)len2), "its file written back: refused");
    /* The documented limit: a new process has no memory of generations (docs/store.md). */
    start();
    refind();
    is_num(sf_count_label(s, "replayed"), 1,
           "a new process takes the older file (a backup "
           "restored)");
    unlink(sf_path(dir_st, name));
    unlink(sf_path(dir_st, name2));
}

/* Things in the directory that are no object file, or no regular file. */
static void test_strange_files(void)
{
    char name[SF_NAME] = "00000000000000000000000000000001.obj";
    char path[600], bname[SF_NAME];
    char listing[64][SF_NAME];
    int before, fd, n;

    n = sf_list(dir_st, listing, 64);
    snprintf(bname, sizeof(bname), "%s", n > 0 ? listing[0] : "");
    snprintf(path, sizeof(path), "%s", sf_path(dir_st, name));

    before = log_count(name);
    ok(symlink(sf_path(dir_st, bname), path) == 0, "a symbolic link to an object file");
    ok(refused_on_use() && log_count(name) - before == 1 && log_count("symbolic link") > 0,
       "refused, never followed");
    unlink(path);
    before = log_count(name);
    ok(mkfifo(path, 0600) == 0, "a FIFO");
    ok(refused_on_use() && log_count(name) - before == 1, "refused without blocking");
    unlink(path);
    before = log_count(name);
    ok(mkdir(path, 0700) == 0, "a directory");
    ok(refused_on_use() && log_count(name) - before == 1, "refused");
    rmdir(path);
    before = log_count(name);
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ok(fd >= 0 && ftruncate(fd, (off_t)1 << 30) == 0, "a 1 GiB file");
    if (fd >= 0)
        close(fd);
    ok(refused_on_use() && log_count(name) - before == 1, "refused before it is read");
    unlink(path);

    before = log_count("refused");
    p11_write("stores/st/README", "not an object", 0600);
    p11_write("stores/st/.0123.obj.tmp.1.abcd", "a writer's temporary file", 0600);
    p11_write("stores/st/ABCDEF0123456789ABCDEF0123456789.obj", "upper case", 0600);
    ok(refused_on_use() && log_count("refused") == before,
       "other names (a note, a temporary file, upper case) are left alone, silently");
    ok(bystanders_fine(), "the bystanders work");
}

int main(void)
{
    test_start();
    p11_load();
    write_config();
    test_tampering();
    test_purposes();
    test_replay();
    test_strange_files();
    p11->C_Finalize(NULL);
    return test_exit_code();
}
