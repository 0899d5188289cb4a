/* test-store-file.c - the object store's pieces below the module: the file layout byte by byte,
 * the attribute encoding round trip, names, the default directory, sealing and opening with the
 * local backend (identity, token and attributes bound; another key refused; rewrap), and the
 * safe reads and atomic writes of store-io.c. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <openssl/evp.h>
#include "tests/test.h"
#include "tests/unit/tmpdir.h"
#include "module/attr-rules.h"
#include "module/backend.h"
#include "module/keyset.h"
#include "module/store-file.h"
#include "module/store-io.h"
#include "module/store-seal.h"

static const uint8_t id[P11KMS_STORE_ID_LEN] = {0, 1, 2,  3,  4,  5,  6,  7,
                                                8, 9, 10, 11, 12, 13, 14, 15};

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* A 32-byte AES data key as C_GenerateKey would leave it. */
static p11kms_object *make_key(void)
{
    p11kms_object *o = p11kms_object_alloc(P11KMS_OBJ_DATA_KEY);

    o->key_type = CKK_AES;
    o->is_token = CK_TRUE;
    o->local = CK_TRUE;
    o->key_gen_mechanism = CKM_AES_KEY_GEN;
    o->usage_history = P11KMS_USED_ENCRYPT | P11KMS_USED_DECRYPT;
    o->label = (uint8_t *)strdup("key");
    o->label_len = 3;
    o->value = malloc(32);
    memset(o->value, 0x42, 32);
    o->value_len = 32;
    return o;
}

static void test_layout(void)
{
    p11kms_object *o = make_key(), *back = NULL;
    p11kms_buf prefix = {0};
    p11kms_store_file f;
    const char *defect = NULL;
    uint8_t file[1024], iv[12] = {0}, tag[16] = {0};
    p11kms_buf whole = {0};

    is_rv(p11kms_store_prefix_encode(o, id, 7, &prefix), CKR_OK, "encode the prefix");
    is_mem(prefix.data, "\x89PKMSO\r\n", 8, "magic");
    ok(prefix.data[8] == 1 && prefix.data[9] == P11KMS_STORE_KIND_SECRET_KEY &&
           prefix.data[10] == 0 && prefix.data[11] == 0,
       "version 1, kind 1 (secret key), flags 0");
    is_mem(prefix.data + 12, id, 16, "the object id at offset 12");
    ok(be32(prefix.data + 28) == 0 && be32(prefix.data + 32) == 7, "generation 7, u64");
    is_num(be32(prefix.data + 36), 32, "value length");
    is_num(be32(prefix.data + 40), P11KMS_USED_ENCRYPT | P11KMS_USED_DECRYPT, "usage history");
    is_num(be32(prefix.data + 44), prefix.len - 48, "attribute length");
    ok(be32(prefix.data + 48) == CKA_CLASS && be32(prefix.data + 52) == 8 &&
           be32(prefix.data + 56) == 0 && be32(prefix.data + 60) == CKO_SECRET_KEY,
       "the first attribute: CKA_CLASS, 8 bytes, big-endian");
    ok(be32(prefix.data + 64) == CKA_TOKEN && be32(prefix.data + 68) == 1 && prefix.data[72] == 1,
       "the second: CKA_TOKEN, one byte, true");

    is_rv(p11kms_store_file_assemble(prefix.data, prefix.len, (const uint8_t *)"E", 1, iv, o->value,
                                     32, tag, &whole),
          CKR_OK, "assemble a file");
    ok(whole.len == prefix.len + 4 + 1 + 12 + 32 + 16, "prefix, envelope length and bytes, IV, "
                                                       "value, tag");
    is_rv(p11kms_store_file_parse(whole.data, whole.len, &f, &defect), CKR_OK, "it parses");
    ok(f.generation == 7 && f.value_len == 32 && f.envelope_len == 1 && f.prefix_len == prefix.len,
       "fields as written");
    is_rv(p11kms_store_attrs_decode(&f, &back, &defect), CKR_OK, "the attributes decode");
    ok(back != NULL && back->key_type == CKK_AES && back->local && back->label_len == 3 &&
           memcmp(back->label, "key", 3) == 0 && back->value == NULL && back->value_len == 32,
       "into a key without its value");
    p11kms_object_free(back);
    memcpy(file, whole.data, whole.len);
    file[whole.len] = 0;
    is_rv(p11kms_store_file_parse(file, whole.len + 1, &f, &defect), CKR_DEVICE_ERROR,
          "a trailing byte refused");
    ok(defect != NULL && strcmp(defect, "trailing bytes") == 0, "named");
    file[9] = 9;
    is_rv(p11kms_store_file_parse(file, whole.len, &f, &defect), CKR_DEVICE_ERROR,
          "an unknown kind refused");
    memcpy(file, whole.data, whole.len);
    file[72] = 2;
    p11kms_store_file_parse(file, whole.len, &f, &defect);
    is_rv(p11kms_store_attrs_decode(&f, &back, &defect), CKR_DEVICE_ERROR,
          "a boolean of 2 refused");
    memcpy(file, whole.data, whole.len);
    file[43] |= P11KMS_USED_WRAP; /* usage history: wrap with decrypt */
    p11kms_store_file_parse(file, whole.len, &f, &defect);
    is_rv(p11kms_store_attrs_decode(&f, &back, &defect), CKR_DEVICE_ERROR,
          "a history of wrap and decrypt refused");
    p11kms_buf_free(&whole);
    p11kms_buf_free(&prefix);
    p11kms_object_free(o);
}

static void test_names(void)
{
    char name[P11KMS_STORE_NAME_LEN + 1];
    uint8_t back[P11KMS_STORE_ID_LEN];

    p11kms_store_file_name(id, name);
    ok(strcmp(name, "000102030405060708090a0b0c0d0e0f.obj") == 0, "32 hex digits and .obj");
    ok(p11kms_store_name_id(name, back) && memcmp(back, id, sizeof(id)) == 0, "and back");
    ok(!p11kms_store_name_id("000102030405060708090A0B0C0D0E0F.obj", back), "upper case: no");
    ok(!p11kms_store_name_id("000102030405060708090a0b0c0d0e0f.ob", back), "another suffix: no");
    ok(!p11kms_store_name_id(".000102030405060708090a0b0c0d0e0f.obj.tmp.1.ab", back),
       "a temporary file: no");
    ok(p11kms_store_is_temp(".000102030405060708090a0b0c0d0e0f.obj.tmp.1.ab"),
       "which is a temporary file");
}

static void test_dir_for(void)
{
    p11kms_token_config tc;
    const char *why = NULL;
    char *d;

    memset(&tc, 0, sizeof(tc));
    tc.label = (char *)".hid/den é";
    setenv("XDG_DATA_HOME", "/xdg", 1);
    setenv("HOME", "/home/u", 1);
    d = p11kms_store_dir_for(&tc, &why);
    ok(d != NULL && strcmp(d, "/xdg/p11kms/%2Ehid%2Fden%20%C3%A9") == 0,
       "$XDG_DATA_HOME/p11kms/<label>, the label percent-encoded");
    free(d);
    setenv("XDG_DATA_HOME", "relative", 1);
    tc.label = (char *)"tok.en-1_x";
    d = p11kms_store_dir_for(&tc, &why);
    ok(d != NULL && strcmp(d, "/home/u/.local/share/p11kms/tok.en-1_x") == 0,
       "a relative $XDG_DATA_HOME is ignored: $HOME/.local/share");
    free(d);
    unsetenv("HOME");
    d = p11kms_store_dir_for(&tc, &why);
    ok(d == NULL && why != NULL, "no home at all: none, with a reason");
    tc.store = (char *)"/srv/store";
    d = p11kms_store_dir_for(&tc, &why);
    ok(d != NULL && strcmp(d, "/srv/store") == 0, "\"store\" wins");
    free(d);
    tc.store_off = 1;
    d = p11kms_store_dir_for(&tc, &why);
    ok(d == NULL && strstr(why, "false") != NULL, "\"store\": false: none");
}

/* A key set of one local KMS key. */
static p11kms_keyset *local_backend(p11kms_key_config *kc, p11kms_option *opt, const char *file)
{
    p11kms_keyset *be = NULL;

    memset(kc, 0, sizeof(*kc));
    kc->label = (char *)"k";
    kc->backend = (char *)"local";
    kc->key_id = (char *)(file != NULL ? file : "insecure-test-key");
    kc->origin = (char *)"test";
    kc->perms = P11KMS_PERM_ALL;
    if (file != NULL) {
        opt->name = (char *)"key_file";
        opt->value = (char *)file;
        kc->options = opt;
        kc->n_options = 1;
    }
    if (p11kms_keyset_new(kc, &be) != CKR_OK)
        return NULL;
    return be;
}

static void test_seal(void)
{
    p11kms_key_config kca, kcb;
    p11kms_option opt;
    p11kms_keyset *a = local_backend(&kca, NULL, NULL), *b, *keys[2];
    p11kms_object *o = make_key();
    p11kms_buf file = {0}, value = {0}, moved = {0};
    p11kms_store_file f, g;
    const char *defect, *why;
    uint8_t raw[32], b64[64], flipped[2048];
    char text[256], ref[64];
    uint8_t backend;
    uint32_t version;
    int asked;
    FILE *kf;

    memset(raw, 7, sizeof(raw));
    EVP_EncodeBlock(b64, raw, sizeof(raw));
    snprintf(text, sizeof(text), "p11kms-key-file 1\nname %032d\nversion 3 %s\n", 1, b64);
    kf = fopen(path_of("other.key"), "w");
    fputs(text, kf);
    fclose(kf);
    chmod(path_of("other.key"), 0600);
    b = local_backend(&kcb, &opt, path_of("other.key"));
    ok(a != NULL && b != NULL, "two local KMS keys");

    is_rv(p11kms_store_seal(a, "tok", o, id, 1, &file), CKR_OK, "seal a key (one KMS Encrypt)");
    is_rv(p11kms_store_file_parse(file.data, file.len, &f, &defect), CKR_OK, "the file parses");
    ok(memmem(file.data, file.len, o->value, 32) == NULL, "the value is nowhere in the clear");
    keys[0] = a;
    is_rv(p11kms_store_open(keys, 1, "tok", &f, &value, &asked, NULL, &why), CKR_OK,
          "open it (one KMS Decrypt)");
    ok(asked && value.len == 32 && memcmp(value.data, o->value, 32) == 0, "the value");
    p11kms_buf_wipe(&value);
    is_rv(p11kms_store_open(keys, 1, "other-token", &f, &value, &asked, NULL, &why),
          CKR_ENCRYPTED_DATA_INVALID, "another token's name: refused");
    ok(asked && strstr(why, "KMS refused") != NULL, "by the KMS");
    keys[0] = b;
    is_rv(p11kms_store_open(keys, 1, "tok", &f, &value, &asked, NULL, &why),
          CKR_ENCRYPTED_DATA_INVALID, "another KMS key: refused");
    ok(!asked && strstr(why, "does not have") != NULL, "before asking any KMS");
    memcpy(flipped, file.data, file.len);
    flipped[file.len - 20] ^= 1; /* in the GCM ciphertext */
    p11kms_store_file_parse(flipped, file.len, &g, &defect);
    keys[0] = a;
    is_rv(p11kms_store_open(keys, 1, "tok", &g, &value, &asked, NULL, &why),
          CKR_ENCRYPTED_DATA_INVALID, "a changed sealed value: refused");
    ok(strstr(why, "GCM") != NULL, "by the GCM tag");

    ok(p11kms_store_sealed_by(&f, &backend, &version, ref, sizeof(ref), NULL) == 0 &&
           backend == p11kms_backend_find("local")->envelope_id &&
           strcmp(ref, "insecure-test-key") == 0,
       "who sealed it, without a KMS call");
    is_rv(p11kms_store_reseal(keys, 1, b, "tok", &f, &moved, &why), CKR_OK,
          "rewrap to another key");
    is_rv(p11kms_store_file_parse(moved.data, moved.len, &g, &defect), CKR_OK, "it parses");
    ok(g.prefix_len == f.prefix_len && memcmp(g.prefix, f.prefix, f.prefix_len) == 0 &&
           memcmp(g.ct, f.ct, 32) == 0,
       "attributes and sealed value unchanged");
    ok(p11kms_store_sealed_by(&g, &backend, &version, ref, sizeof(ref), NULL) == 0 && version == 3,
       "now sealed by the other key's version 3");
    keys[0] = a;
    keys[1] = b;
    is_rv(p11kms_store_open(keys, 2, "tok", &g, &value, &asked, NULL, &why), CKR_OK,
          "a token with both keys opens it");
    ok(value.len == 32 && memcmp(value.data, o->value, 32) == 0, "the same value");
    p11kms_buf_wipe(&value);
    is_rv(p11kms_store_open(keys, 1, "tok", &g, &value, &asked, NULL, &why),
          CKR_ENCRYPTED_DATA_INVALID, "the old key alone does not");
    p11kms_buf_free(&moved);
    p11kms_buf_free(&file);
    p11kms_object_free(o);
    p11kms_keyset_free(a);
    p11kms_keyset_free(b);
}

static void test_io(void)
{
    p11kms_store_stamp st, again;
    p11kms_buf out = {0};
    const char *why = NULL;
    char where[600];
    struct stat sb;
    char path[300];
    int fd = p11kms_store_dir_open(dir);

    ok(fd >= 0, "open the directory");
    is_num(p11kms_store_write(fd, "a.obj", (const uint8_t *)"hello", 5, &st), 0, "write a file");
    is_num(p11kms_store_read(fd, "a.obj", &out, &again, &why), 0, "read it back");
    ok(out.len == 5 && memcmp(out.data, "hello", 5) == 0, "the bytes");
    ok(p11kms_store_stamp_equal(&st, &again), "the stamp the writer recorded is the file's");
    ok(stat(path_of("a.obj"), &sb) == 0 && (sb.st_mode & 0777) == 0600, "mode 0600");
    p11kms_buf_free(&out);
    ok(symlink(path_of("a.obj"), path_of("link.obj")) == 0, "a link to it");
    is_num(p11kms_store_read(fd, "link.obj", &out, &again, &why), -EINVAL, "a link: refused");
    ok(why != NULL && strstr(why, "symbolic link") != NULL, "named");
    ok(mkfifo(path_of("fifo.obj"), 0600) == 0, "a FIFO");
    is_num(p11kms_store_read(fd, "fifo.obj", &out, &again, &why), -EINVAL,
           "a FIFO: refused without blocking");
    is_num(p11kms_store_read(fd, "none.obj", &out, &again, &why), -ENOENT, "none: ENOENT");
    snprintf(path, sizeof(path), "%s/x/y/z", dir);
    is_num(p11kms_store_mkdir(path, where, sizeof(where)), 0, "mkdir with parents");
    ok(stat(path, &sb) == 0 && (sb.st_mode & 0777) == 0700, "mode 0700");
    rmdir(path);
    rmdir(path_of("x/y"));
    rmdir(path_of("x"));
    snprintf(path, sizeof(path), "%s/a.obj/sub", dir);
    ok(p11kms_store_mkdir(path, where, sizeof(where)) == -ENOTDIR && strstr(where, "a.obj") != NULL,
       "a file in the way: ENOTDIR, naming it");
    is_rv(p11kms_store_errno_rv(-ENOSPC), CKR_DEVICE_MEMORY, "a full disk: CKR_DEVICE_MEMORY");
    is_rv(p11kms_store_errno_rv(-EACCES), CKR_DEVICE_ERROR, "else CKR_DEVICE_ERROR");
    unlink(path_of("link.obj"));
    unlink(path_of("fifo.obj"));
    close(fd);
}

int main(void)
{
    test_start();
    strcpy(dir, "/tmp/p11kms-store-XXXXXX");
    if (mkdtemp(dir) == NULL)
        return 99;
    atexit(remove_dir);
    test_layout();
    test_names();
    test_dir_for();
    test_seal();
    test_io();
    return test_exit_code();
}
