/* attack-store.c - someone who can write the token's store directory (and holds a session) tries
 * to get a stored key out or weaken it: attributes edited on disk to make a sensitive key
 * readable or an unextractable one wrappable, two objects' files swapped (whole, or attributes of
 * one with the sealed key of the other), an older file replayed after a set, a file moved from
 * another token's store, a file sealed by another KMS key planted, a store's sealed key handed to
 * C_UnwrapKey and C_Decrypt, a wrapped key pasted in as a sealed key, a symbolic link, a FIFO and
 * a huge file. Each is refused with one log line; the other objects stay usable. Runs on the
 * local backend and against the loopback AWS KMS test server. */
#include <fcntl.h>
#include <openssl/evp.h>
#include "tests/attacks/attack.h"
#include "tests/module/store-files.h"

static char logpath[320], dir2[320];
static uint8_t f1[SF_FILE_MAX], f2[SF_FILE_MAX], mix[SF_FILE_MAX];
static CK_SESSION_HANDLE s;
static CK_OBJECT_HANDLE kms;

static void start(const char *conf)
{
    char env[400];

    p11->C_Finalize(NULL);
    snprintf(env, sizeof(env), "warning,file:%s", logpath);
    setenv("P11KMS_LOG", env, 1);
    if ((conf != NULL ? p11_init_config(conf) : attack_init(NULL, NULL)) != CKR_OK) {
        printf("Bail out! C_Initialize\n");
        exit(1);
    }
    s = p11_open(0);
    kms = p11_find_label(s, "kms");
}

static int log_count(const char *what)
{
    int n = p11_file_count(logpath, what);
    return n < 0 ? 0 : n;
}

/* A token key (sensitivity as given) and the name of its file in dir. */
static CK_OBJECT_HANDLE key_file(const char *dir, const char *label, CK_BBOOL sensitive,
                                 CK_BBOOL extractable, char *name)
{
    char before[64][SF_NAME], after[64][SF_NAME];
    int nb = sf_list(dir, before, 64), na;
    CK_OBJECT_HANDLE h = CK_INVALID_HANDLE;

    sf_token_key(s, label, 32, sensitive, extractable, &h);
    na = sf_list(dir, after, 64);
    snprintf(name, SF_NAME, "%s", sf_new_file(before, nb < 0 ? 0 : nb, after, na < 0 ? 0 : na));
    return h;
}

/* The attacker's goals with object label: its value read, or wrapped out by the KMS key. 1 when
 * every attempt fails. */
static int nothing_out(const char *label)
{
    CK_OBJECT_HANDLE h = p11_find_label(s, label);
    uint8_t env[4096];
    CK_ULONG len;
    int refused = 1;

    if (h == CK_INVALID_HANDLE)
        return 1;
    if (attack_value_readable(s, h))
        refused = 0;
    h = p11_find_label(s, label);
    if (h != CK_INVALID_HANDLE && p11_wrap_default(s, kms, h, env, sizeof(env), &len) == CKR_OK)
        refused = 0;
    return refused && p11_find_label(s, label) == CK_INVALID_HANDLE;
}

/* The plain key still works: it encrypts. */
static int bystander_fine(void)
{
    uint8_t pt[16] = {0}, ct[64];
    CK_ULONG n = sizeof(ct);

    return sf_gcm(s, 1, p11_find_label(s, "bystander"), pt, sizeof(pt), ct, &n) == CKR_OK;
}

static void edit_attributes(void)
{
    char name[SF_NAME], by[SF_NAME];
    long len, at;
    int before;

    start(NULL);
    ok(key_file(attack_store_dir(), "secret", CK_TRUE, CK_FALSE, name) != CK_INVALID_HANDLE &&
           name[0],
       "a sensitive, unextractable token key");
    ok(key_file(attack_store_dir(), "bystander", CK_FALSE, CK_TRUE, by) != CK_INVALID_HANDLE,
       "a bystander key");
    len = sf_read(sf_path(attack_store_dir(), name), f1, sizeof(f1));
    start(NULL); /* a new process: nothing verified yet */

    memcpy(mix, f1, (size_t)len);
    at = sf_attr_at(mix, len, CKA_SENSITIVE);
    ok(at > 0 && mix[at] == 1, "CKA_SENSITIVE found in the file");
    mix[at] = 0;
    at = sf_attr_at(mix, len, CKA_EXTRACTABLE);
    mix[at] = 1;
    before = log_count(name);
    sf_write(sf_path(attack_store_dir(), name), mix, (size_t)len);
    ok(nothing_out("secret"), "sensitive and extractable edited on disk: no value, no wrap, and "
                              "the object is gone");
    is_num(log_count(name) - before, 1, "one log line names the file");

    memcpy(mix, f1, (size_t)len);
    mix[sf_attr_at(mix, len, CKA_EXTRACTABLE)] = 1;
    sf_write(sf_path(attack_store_dir(), name), mix, (size_t)len);
    ok(nothing_out("secret"), "extractable alone edited: C_WrapKey refused");

    memcpy(mix, f1, (size_t)len);
    mix[sf_attr_at(mix, len, CKA_DECRYPT)] ^= 1;
    mix[sf_attr_at(mix, len, CKA_WRAP)] = 1;
    sf_write(sf_path(attack_store_dir(), name), mix, (size_t)len);
    ok(nothing_out("secret"), "wrap with decrypt edited in: refused before any use");
    ok(bystander_fine(), "the bystander works");
    unlink(sf_path(attack_store_dir(), name));
}

static void swap_files(void)
{
    char a[SF_NAME], b[SF_NAME];
    long la, lb, pa, pb;

    start(NULL);
    key_file(attack_store_dir(), "guarded", CK_TRUE, CK_FALSE, a);
    key_file(attack_store_dir(), "open", CK_FALSE, CK_TRUE, b);
    la = sf_read(sf_path(attack_store_dir(), a), f1, sizeof(f1));
    lb = sf_read(sf_path(attack_store_dir(), b), f2, sizeof(f2));
    start(NULL);
    /* The guarded key's file under the open key's name: the open key's handle would read it. */
    sf_write(sf_path(attack_store_dir(), b), f1, (size_t)la);
    sf_write(sf_path(attack_store_dir(), a), f2, (size_t)lb);
    ok(nothing_out("open") && nothing_out("guarded"), "the two files swapped: both refused");
    /* The open key's attributes with the guarded key's sealed key and value. */
    pa = sf_prefix_len(f1);
    pb = sf_prefix_len(f2);
    memcpy(mix, f2, (size_t)pb);
    memcpy(mix + pb, f1 + pa, (size_t)(la - pa));
    sf_write(sf_path(attack_store_dir(), b), mix, (size_t)(pb + la - pa));
    sf_write(sf_path(attack_store_dir(), a), f1, (size_t)la);
    ok(nothing_out("open"), "readable attributes with a sensitive key's sealed parts: refused "
                            "by the KMS");
    unlink(sf_path(attack_store_dir(), b));
    ok(p11_find_label(s, "guarded") != CK_INVALID_HANDLE, "the guarded key's own file still works");
    ok(!attack_value_readable(s, p11_find_label(s, "guarded")), "and stays sensitive");
    unlink(sf_path(attack_store_dir(), a));
}

static void replay_after_set(void)
{
    char name[SF_NAME];
    CK_OBJECT_HANDLE h;
    long len;

    start(NULL);
    h = key_file(attack_store_dir(), "hardened", CK_FALSE, CK_TRUE, name);
    len = sf_read(sf_path(attack_store_dir(), name), f1, sizeof(f1));
    is_rv(p11_set_bool(s, h, CKA_EXTRACTABLE, CK_FALSE), CKR_OK, "made unextractable");
    is_rv(p11_set_bool(s, h, CKA_SENSITIVE, CK_TRUE), CKR_OK, "and sensitive");
    sf_write(sf_path(attack_store_dir(), name), f1, (size_t)len);
    ok(nothing_out("hardened"), "the older file written back: refused, the key stays out");
    unlink(sf_path(attack_store_dir(), name));
}

/* A configuration of two tokens, or of the attack token with another KMS key only. */
static const char *config_two_tokens(void)
{
    static char text[4096];
    char key[512], backends[600];

    attack_key_members(key, sizeof(key));
    attack_backends_member(backends, sizeof(backends));
    snprintf(dir2, sizeof(dir2), "%s/store2", p11_tmp());
    snprintf(text, sizeof(text),
             "{%s\"tokens\": [{\"label\": \"attack\", \"store\": \"%s\", \"keys\": [{\"label\": "
             "\"kms\", %s}]},\n {\"label\": \"second\", \"store\": \"%s\", \"keys\": "
             "[{\"label\": \"kms\", %s}]}]}\n",
             backends, attack_store_dir(), key, dir2, key);
    return p11_write("two.conf", text, 0600);
}

static void moved_from_other_token(void)
{
    CK_SESSION_HANDLE s2;
    CK_OBJECT_HANDLE h;
    char before[64][SF_NAME], after[64][SF_NAME], name[SF_NAME];
    int nb, na;
    long len;

    start(config_two_tokens());
    s2 = p11_open(1);
    nb = sf_list(dir2, before, 64);
    ok(sf_token_key(s2, "theirs", 32, CK_FALSE, CK_TRUE, &h) == CKR_OK, "a key on another token");
    na = sf_list(dir2, after, 64);
    snprintf(name, sizeof(name), "%s", sf_new_file(before, nb < 0 ? 0 : nb, after, na));
    len = sf_read(sf_path(dir2, name), f1, sizeof(f1));
    sf_write(sf_path(attack_store_dir(), name), f1, (size_t)len);
    ok(nothing_out("theirs"), "its file moved into this token's store: refused (the token is "
                              "bound, same KMS key)");
    unlink(sf_path(attack_store_dir(), name));
}

static void sealed_by_another_key(void)
{
    static char text[4096];
    char key[600], other[600], backends[600], name[SF_NAME], before[64][SF_NAME],
        after[64][SF_NAME];
    uint8_t raw[32], b64[64];
    CK_OBJECT_HANDLE h;
    int nb, na, count;
    long len;

    if (strcmp(attack_backend(), "aws") == 0) {
        snprintf(other, sizeof(other),
                 "\"backend\": \"aws\", \"key_id\": \"arn:aws:kms:us-east-1:111122223333:key/%s\"",
                 getenv("P11KMS_AWS_OTHER_KEY_ID"));
    } else {
        memset(raw, 0x77, sizeof(raw));
        EVP_EncodeBlock(b64, raw, sizeof(raw));
        snprintf(text, sizeof(text),
                 "p11kms-key-file 1\nname 0123456789abcdef0123456789abcdef\nversion 1 %s\n", b64);
        snprintf(other, sizeof(other), "\"backend\": \"local\", \"key_file\": \"%s\"",
                 p11_write("other.key", text, 0600));
    }
    attack_key_members(key, sizeof(key));
    attack_backends_member(backends, sizeof(backends));
    snprintf(dir2, sizeof(dir2), "%s/store-other-key", p11_tmp());
    snprintf(text, sizeof(text),
             "{%s\"tokens\": [{\"label\": \"attack\", \"store\": \"%s\", \"keys\": [{\"label\": "
             "\"kms\", %s}]}]}\n",
             backends, dir2, other);
    start(p11_write("other-key.conf", text, 0600));
    nb = sf_list(dir2, before, 64);
    ok(sf_token_key(s, "planted", 32, CK_FALSE, CK_TRUE, &h) == CKR_OK,
       "a key sealed by another KMS key, same token label");
    na = sf_list(dir2, after, 64);
    snprintf(name, sizeof(name), "%s", sf_new_file(before, nb < 0 ? 0 : nb, after, na));
    len = sf_read(sf_path(dir2, name), f1, sizeof(f1));
    start(NULL);
    sf_write(sf_path(attack_store_dir(), name), f1, (size_t)len);
    count = log_count("does not have");
    ok(nothing_out("planted"), "planted in the store: refused");
    is_num(log_count("does not have") - count, 1, "before any KMS call");
    unlink(sf_path(attack_store_dir(), name));
}

static void envelopes_elsewhere(void)
{
    char name[SF_NAME];
    CK_MECHANISM env = {CKM_P11KMS_ENVELOPE, NULL, 0};
    CK_OBJECT_HANDLE h, u, dk;
    uint8_t out[256], wrapped[4096];
    CK_ULONG ol = sizeof(out), wl;
    long len, p, el;
    P11_UNWRAP_TEMPLATE(ut);

    start(NULL);
    h = key_file(attack_store_dir(), "sealed", CK_TRUE, CK_FALSE, name);
    len = sf_read(sf_path(attack_store_dir(), name), f1, sizeof(f1));
    p = sf_prefix_len(f1);
    el = (long)sf_u32(f1 + p);
    ok(h != CK_INVALID_HANDLE && el > 0 && p + 4 + el < len, "a stored key's sealed file key");
    is_rv(p11->C_UnwrapKey(s, &env, kms, f1 + p + 4, (CK_ULONG)el, ut, 4, &u),
          CKR_WRAPPED_KEY_INVALID, "C_UnwrapKey refuses it (its purpose: stored object)");
    is_rv(p11_crypt(s, 0, &env, kms, f1 + p + 4, (CK_ULONG)el, out, &ol),
          CKR_ENCRYPTED_DATA_INVALID, "C_Decrypt refuses it");
    dk = p11_data_key(s, 32);
    is_rv(p11_wrap_default(s, kms, dk, wrapped, sizeof(wrapped), &wl), CKR_OK, "a wrapped key");
    memcpy(mix, f1, (size_t)p);
    mix[p] = (uint8_t)(wl >> 24);
    mix[p + 1] = (uint8_t)(wl >> 16);
    mix[p + 2] = (uint8_t)(wl >> 8);
    mix[p + 3] = (uint8_t)wl;
    memcpy(mix + p + 4, wrapped, wl);
    memcpy(mix + p + 4 + wl, f1 + p + 4 + el, (size_t)(len - p - 4 - el));
    start(NULL);
    sf_write(sf_path(attack_store_dir(), name), mix, (size_t)(len - el + (long)wl));
    ok(nothing_out("sealed"), "a C_WrapKey envelope as the sealed key: refused");
    unlink(sf_path(attack_store_dir(), name));
}

static void strange_files(void)
{
    const char *name = "ffffffffffffffffffffffffffffffff.obj";
    char by[SF_NAME];
    int fd, before;

    start(NULL);
    ok(bystander_fine(), "the bystander works");
    ok(sf_list(attack_store_dir(), (char(*)[SF_NAME])by, 1) == 1, "its file");
    before = log_count(name);
    ok(symlink(sf_path(attack_store_dir(), by), sf_path(attack_store_dir(), name)) == 0,
       "a symbolic link to it under another name");
    is_num(p11_count(s), 4, "refused: the three KMS keys and the bystander, once");
    unlink(sf_path(attack_store_dir(), name));
    ok(mkfifo(sf_path(attack_store_dir(), name), 0600) == 0, "a FIFO");
    is_num(p11_count(s), 4, "refused without blocking");
    unlink(sf_path(attack_store_dir(), name));
    fd = open(sf_path(attack_store_dir(), name), O_WRONLY | O_CREAT, 0600);
    ok(fd >= 0 && ftruncate(fd, (off_t)4 << 30) == 0, "a 4 GiB file");
    close(fd);
    is_num(p11_count(s), 4, "refused without reading it");
    unlink(sf_path(attack_store_dir(), name));
    is_num(log_count(name) - before, 3, "one log line each");
    ok(bystander_fine(), "the bystander works");
}

int main(void)
{
    test_start();
    p11_load();
    snprintf(logpath, sizeof(logpath), "%s/module.log", p11_tmp());
    edit_attributes();
    swap_files();
    replay_after_set();
    moved_from_other_token();
    sealed_by_another_key();
    envelopes_elsewhere();
    strange_files();
    is_rv(p11->C_Finalize(NULL), CKR_OK, "C_Finalize");
    return test_exit_code();
}
