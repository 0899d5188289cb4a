/* test-module-store.c - the object store through the function list: token objects survive
 * C_Finalize and are seen by other processes (created, changed, destroyed there); C_Initialize
 * touches no file; set, copy, unwrap and destroy reach the files; the configuration's choices
 * (no store, several keys, a storage key that may not wrap, an unwritable directory, the default
 * place); finds on a value; private objects. Refusals of edited files: test-module-store-tamper.c.
 */
#include <signal.h>
#include <sys/wait.h>
#include <openssl/evp.h>
#include "tests/module/p11.h"
#include "tests/module/store-files.h"

static char dir_st[400], dir_other[400], logpath[400], conf_main[400];

#define N(t) (sizeof(t) / sizeof((t)[0]))

static void write_configs(void)
{
    char text[4096];

    snprintf(dir_st, sizeof(dir_st), "%s/stores/st", p11_tmp());
    snprintf(dir_other, sizeof(dir_other), "%s/stores/other", p11_tmp());
    snprintf(logpath, sizeof(logpath), "%s/module.log", p11_tmp());
    snprintf(
        text, sizeof(text),
        "{\"tokens\": [\n"
        " {\"label\": \"st\", \"store\": \"%s\", \"keys\": [\n"
        "  {\"label\": \"kms\", \"backend\": \"local\", \"key_id\": \"insecure-test-key\"}]},\n"
        " {\"label\": \"other\", \"store\": \"%s\", \"keys\": [\n"
        "  {\"label\": \"kms\", \"backend\": \"local\", \"key_id\": \"insecure-test-key\"}]},\n"
        " {\"label\": \"pin\", \"pin\": \"1234\", \"store\": \"%s/stores/pin\", \"keys\": [\n"
        "  {\"label\": \"kms\", \"backend\": \"local\", \"key_id\": \"insecure-test-key\"}]}]}\n",
        dir_st, dir_other, p11_tmp());
    snprintf(conf_main, sizeof(conf_main), "%s", p11_write("main.conf", text, 0600));
}

static CK_RV init_with(const char *conf)
{
    char env[500];

    snprintf(env, sizeof(env), "warning,file:%s", logpath);
    setenv("P11KMS_LOG", env, 1);
    return p11_init_config(conf);
}

static void reinit(void)
{
    p11->C_Finalize(NULL);
    if (init_with(conf_main) != CKR_OK) {
        printf("Bail out! C_Initialize failed\n");
        exit(1);
    }
}

static CK_OBJECT_HANDLE find_one(CK_SESSION_HANDLE s, const char *label)
{
    return p11_find_label(s, label);
}

static int log_count(const char *what)
{
    int n = p11_file_count(logpath, what);
    return n < 0 ? 0 : n;
}

static CK_ULONG get_ulong(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE h, CK_ATTRIBUTE_TYPE type)
{
    CK_ULONG v = 0xdead;
    CK_ATTRIBUTE a = {type, &v, sizeof(v)};

    return p11->C_GetAttributeValue(s, h, &a, 1) == CKR_OK ? v : 0xdead;
}

static int get_bool(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE h, CK_ATTRIBUTE_TYPE type)
{
    CK_BBOOL b = 2;
    CK_ATTRIBUTE a = {type, &b, sizeof(b)};

    return p11->C_GetAttributeValue(s, h, &a, 1) == CKR_OK ? b : -1;
}

/* ---- persistence ---------------------------------------------------------------------------- */

static void test_persist(void)
{
    struct stat sb;
    char names[8][SF_NAME];
    CK_SESSION_HANDLE s;
    CK_OBJECT_HANDLE k, d, k2, d2;
    uint8_t v1[32], v2[32], ct[64], pt[64], back[64];
    CK_ULONG l1 = 32, l2 = 32, ctl = sizeof(ct), backl = sizeof(back);
    char data[16];
    CK_ATTRIBUTE rd = {CKA_VALUE, data, sizeof(data)};

    is_rv(init_with(conf_main), CKR_OK, "C_Initialize");
    ok(stat(dir_st, &sb) != 0 && errno == ENOENT, "C_Initialize creates no store directory");
    s = p11_open(0);
    is_num(p11_count(s), 1, "a new store: only the KMS key");
    ok(stat(dir_st, &sb) != 0 && errno == ENOENT, "nor does a find");

    is_rv(sf_token_key(s, "k1", 32, CK_FALSE, CK_TRUE, &k), CKR_OK, "a token key");
    ok(stat(dir_st, &sb) == 0 && S_ISDIR(sb.st_mode) && (sb.st_mode & 0777) == 0700,
       "the first token object makes the directory, mode 0700");
    is_num(sf_list(dir_st, names, 8), 1, "one object file");
    ok(stat(sf_path(dir_st, names[0]), &sb) == 0 && (sb.st_mode & 0777) == 0600,
       "the file is mode 0600");
    is_rv(sf_token_data(s, "d1", "hello", 5, &d), CKR_OK, "a token data object");
    is_num(sf_list(dir_st, names, 8), 2, "two object files");
    is_num(sf_temp_files(dir_st), 0, "no temporary file left behind");
    ok(p11_value(s, k, v1, &l1) && l1 == 32, "the key's value");
    memset(pt, 7, sizeof(pt));
    is_rv(sf_gcm(s, 1, k, pt, 32, ct, &ctl), CKR_OK, "encrypt with it");

    reinit();
    s = p11_open(0);
    is_num(p11_count(s), 3, "after C_Finalize and C_Initialize: the KMS key and both objects");
    k2 = find_one(s, "k1");
    d2 = find_one(s, "d1");
    ok(k2 != CK_INVALID_HANDLE && d2 != CK_INVALID_HANDLE, "found by label");
    is_num(get_bool(s, k2, CKA_TOKEN), CK_TRUE, "CKA_TOKEN");
    is_num(get_bool(s, k2, CKA_SENSITIVE), CK_FALSE, "CKA_SENSITIVE as made");
    is_num(get_bool(s, k2, CKA_LOCAL), CK_TRUE, "CKA_LOCAL");
    is_num(get_ulong(s, k2, CKA_KEY_GEN_MECHANISM), CKM_AES_KEY_GEN, "CKA_KEY_GEN_MECHANISM");
    is_num(get_ulong(s, k2, CKA_VALUE_LEN), 32, "CKA_VALUE_LEN before the value is unsealed");
    is_rv(sf_gcm(s, 0, k2, ct, ctl, back, &backl), CKR_OK, "decrypt in the new instance");
    ok(backl == 32 && memcmp(back, pt, 32) == 0, "what the old one encrypted");
    ok(p11_value(s, k2, v2, &l2) && l2 == 32 && memcmp(v1, v2, 32) == 0, "the same value");
    is_rv(p11->C_GetAttributeValue(s, d2, &rd, 1), CKR_OK, "the data object's value");
    ok(rd.ulValueLen == 5 && memcmp(data, "hello", 5) == 0, "as written");
    p11->C_CloseSession(s);
}

static void test_changes(void)
{
    CK_SESSION_HANDLE s = p11_open(0);
    CK_OBJECT_HANDLE k, kms, sk, c, u, w;
    CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
    CK_ATTRIBUTE relabel = {CKA_LABEL, "k1b", 3};
    CK_ATTRIBUTE to_token[] = {{CKA_TOKEN, &yes, 1}, {CKA_LABEL, "copied", 6}};
    CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
    CK_KEY_TYPE kt = CKK_AES;
    CK_ATTRIBUTE ut[] = {{CKA_CLASS, &cls, sizeof(cls)}, {CKA_KEY_TYPE, &kt, sizeof(kt)},
                         {CKA_TOKEN, &yes, 1},           {CKA_SENSITIVE, &no, 1},
                         {CKA_EXTRACTABLE, &yes, 1},     {CKA_LABEL, "unwrapped", 9}};
    CK_ATTRIBUTE decrypt_on = {CKA_DECRYPT, &yes, 1};
    uint8_t env[4096], a[32], b[32];
    CK_ULONG envl, la = 32, lb = 32;
    char names[16][SF_NAME];
    int before;

    k = find_one(s, "k1");
    kms = find_one(s, "kms");
    is_rv(p11->C_SetAttributeValue(s, k, &relabel, 1), CKR_OK, "relabel a stored key");
    sk = p11_data_key(s, 32);
    is_rv(p11->C_CopyObject(s, sk, to_token, 2, &c), CKR_OK, "copy a session key to the token");
    is_rv(p11_wrap_default(s, kms, sk, env, sizeof(env), &envl), CKR_OK, "wrap a session key");
    is_rv(p11_unwrap_default(s, kms, env, envl, ut, N(ut), &u), CKR_OK, "unwrap it as a token key");
    ok(p11_value(s, sk, a, &la), "the session key's value");
    is_rv(sf_token_key(s, "kek", 32, CK_TRUE, CK_FALSE, &w), CKR_OK, "a key for wrapping");
    is_rv(p11_set_bool(s, w, CKA_WRAP, CK_TRUE), CKR_TEMPLATE_INCONSISTENT,
          "it decrypts, so it may never wrap (usage history)");
    before = sf_list(dir_st, names, 16);

    reinit();
    s = p11_open(0);
    ok(find_one(s, "k1b") != CK_INVALID_HANDLE && find_one(s, "k1") == CK_INVALID_HANDLE,
       "the new label persisted");
    c = find_one(s, "copied");
    u = find_one(s, "unwrapped");
    ok(c != CK_INVALID_HANDLE && u != CK_INVALID_HANDLE,
       "the copy and the unwrapped key persisted");
    ok(p11_value(s, c, b, &lb) && memcmp(a, b, 32) == 0, "the copy holds the session key's value");
    lb = 32;
    ok(p11_value(s, u, b, &lb) && memcmp(a, b, 32) == 0, "so does the unwrapped key");
    w = find_one(s, "kek");
    is_rv(p11_set_bool(s, w, CKA_DECRYPT, CK_FALSE), CKR_OK, "turn decrypt off");
    is_rv(p11_set_bool(s, w, CKA_WRAP, CK_TRUE), CKR_TEMPLATE_INCONSISTENT,
          "the usage history persisted: still no wrap");
    is_rv(p11->C_SetAttributeValue(s, w, &decrypt_on, 1), CKR_OK, "decrypt on again");
    is_rv(p11_set_bool(s, find_one(s, "k1b"), CKA_SENSITIVE, CK_TRUE), CKR_OK,
          "make k1b sensitive");
    is_rv(p11->C_DestroyObject(s, c), CKR_OK, "destroy the copy");
    is_num(sf_list(dir_st, names, 16), before - 1, "its file is gone");

    reinit();
    s = p11_open(0);
    ok(find_one(s, "copied") == CK_INVALID_HANDLE, "the destroyed copy stays gone");
    la = sizeof(a);
    ok(!p11_value(s, find_one(s, "k1b"), a, &la), "k1b's sensitivity persisted");
    is_num(get_bool(s, find_one(s, "k1b"), CKA_ALWAYS_SENSITIVE), CK_FALSE,
           "and it was not always sensitive");
    p11->C_CloseSession(s);
}

/* ---- other processes ------------------------------------------------------------------------ */

/* Run fn in a forked child that initialises the module itself; its exit status (0: fine). */
static int in_child(void (*fn)(void))
{
    pid_t pid;
    int status = 0;

    fflush(stdout);
    pid = fork();
    if (pid == 0) {
        /* A forked child is not initialised: it gets its own module state, never the parent's
         * objects or unsealed values. */
        if (p11->C_GetInfo != NULL) {
            CK_SESSION_HANDLE none;
            if (p11->C_OpenSession(0, CKF_SERIAL_SESSION, NULL, NULL, &none) !=
                CKR_CRYPTOKI_NOT_INITIALIZED)
                _exit(3);
        }
        if (init_with(conf_main) != CKR_OK)
            _exit(2);
        fn();
        p11->C_Finalize(NULL);
        _exit(0);
    }
    if (pid < 0 || waitpid(pid, &status, 0) != pid)
        return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static void child_create(void)
{
    CK_SESSION_HANDLE s = p11_open(0);
    CK_OBJECT_HANDLE h;

    if (sf_token_key(s, "from-child", 32, CK_TRUE, CK_FALSE, &h) != CKR_OK)
        _exit(1);
}

static void child_relabel(void)
{
    CK_SESSION_HANDLE s = p11_open(0);
    CK_ATTRIBUTE a = {CKA_LABEL, "renamed-by-child", 16};

    if (p11->C_SetAttributeValue(s, find_one(s, "from-child"), &a, 1) != CKR_OK)
        _exit(1);
}

static void child_destroy(void)
{
    CK_SESSION_HANDLE s = p11_open(0);

    if (p11->C_DestroyObject(s, find_one(s, "renamed-by-child")) != CKR_OK)
        _exit(1);
}

static void test_processes(void)
{
    CK_SESSION_HANDLE s = p11_open(0);
    CK_OBJECT_HANDLE h;
    uint8_t pt[32], ct[64];
    CK_ULONG ctl = sizeof(ct);
    char label[32];
    CK_ATTRIBUTE a = {CKA_LABEL, label, sizeof(label)};

    memset(pt, 3, sizeof(pt));
    is_num(sf_count_label(s, "from-child"), 0, "not there yet");
    is_num(in_child(child_create), 0, "another process creates a token key");
    is_num(sf_count_label(s, "from-child"), 1, "this process finds it (the directory changed)");
    h = find_one(s, "from-child");
    is_rv(sf_gcm(s, 1, h, pt, 32, ct, &ctl), CKR_OK, "and uses it");
    is_num(in_child(child_relabel), 0, "the other process relabels it");
    is_num(sf_count_label(s, "renamed-by-child"), 1, "found under the new label");
    is_num(sf_count_label(s, "from-child"), 0, "not under the old one");
    is_rv(p11->C_GetAttributeValue(s, h, &a, 1), CKR_OK, "the same handle");
    ok(a.ulValueLen == 16 && memcmp(label, "renamed-by-child", 16) == 0,
       "shows the new label (the new file verified)");
    is_num(in_child(child_destroy), 0, "the other process destroys it");
    is_rv(p11->C_EncryptInit(s, &(CK_MECHANISM){CKM_AES_ECB, NULL, 0}, h), CKR_KEY_HANDLE_INVALID,
          "its handle is invalid here now");
    is_num(sf_count_label(s, "renamed-by-child"), 0, "and finds no longer show it");
    p11->C_CloseSession(s);
}

/* ---- finds, private objects ------------------------------------------------------------------ */

static void test_find_value(void)
{
    CK_SESSION_HANDLE s = p11_open(0);
    CK_OBJECT_HANDLE h, found[4];
    CK_OBJECT_CLASS cls = CKO_DATA;
    CK_ATTRIBUTE want[] = {{CKA_CLASS, &cls, sizeof(cls)}, {CKA_VALUE, "match-me", 8}};
    CK_ATTRIBUTE miss[] = {{CKA_CLASS, &cls, sizeof(cls)}, {CKA_VALUE, "no-match", 8}};
    CK_ULONG n = 0;

    is_rv(sf_token_data(s, "dv", "match-me", 8, &h), CKR_OK, "a data object");
    reinit();
    s = p11_open(0);
    is_rv(p11->C_FindObjectsInit(s, want, 2), CKR_OK, "a find on the sealed value");
    p11->C_FindObjects(s, found, 4, &n);
    p11->C_FindObjectsFinal(s);
    is_num(n, 1, "matches it (unsealed to compare)");
    is_rv(p11->C_FindObjectsInit(s, miss, 2), CKR_OK, "another value");
    n = 9;
    p11->C_FindObjects(s, found, 4, &n);
    p11->C_FindObjectsFinal(s);
    is_num(n, 0, "matches nothing");
    p11->C_CloseSession(s);
}

static void test_private(void)
{
    CK_SESSION_HANDLE s = p11_open(2);
    CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
    CK_KEY_TYPE kt = CKK_AES;
    CK_ULONG len = 16;
    CK_BBOOL yes = CK_TRUE;
    CK_ATTRIBUTE t[] = {{CKA_CLASS, &cls, sizeof(cls)},
                        {CKA_KEY_TYPE, &kt, sizeof(kt)},
                        {CKA_VALUE_LEN, &len, sizeof(len)},
                        {CKA_TOKEN, &yes, 1},
                        {CKA_PRIVATE, &yes, 1},
                        {CKA_LABEL, "private-key", 11}};
    CK_MECHANISM m = {CKM_AES_KEY_GEN, NULL, 0};
    CK_OBJECT_HANDLE h;

    is_rv(p11->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR) "1234", 4), CKR_OK, "login");
    is_rv(p11->C_GenerateKey(s, &m, t, N(t), &h), CKR_OK, "a private token key");
    reinit();
    s = p11_open(2);
    is_num(sf_count_label(s, "private-key"), 0, "not seen without a login");
    is_rv(p11->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR) "1234", 4), CKR_OK, "login");
    is_num(sf_count_label(s, "private-key"), 1, "seen after it");
    p11->C_CloseSession(s);
}

/* ---- configuration -------------------------------------------------------------------------- */

/* C_Initialize with one token from `token_json`, a session key and a token key attempt; the
 * token key's CK_RV. */
static CK_RV token_key_with(const char *token_json, const char *name)
{
    char text[2048];
    CK_SESSION_HANDLE s;
    CK_OBJECT_HANDLE h;
    CK_RV rv;

    p11->C_Finalize(NULL);
    snprintf(text, sizeof(text), "{\"tokens\": [%s]}\n", token_json);
    rv = init_with(p11_write(name, text, 0600));
    if (rv != CKR_OK)
        return 0xbad;
    s = p11_open(0);
    if (p11_data_key(s, 16) == CK_INVALID_HANDLE)
        return 0xbad1;
    rv = sf_token_key(s, "t", 16, CK_TRUE, CK_FALSE, &h);
    p11->C_CloseSession(s);
    return rv;
}

#define KEY_JSON(label)                                                                            \
    "{\"label\": \"" label "\", \"backend\": \"local\", \"key_id\": \"insecure-test-key\"}"

static void test_config(void)
{
    char text[2048], bad[512], path[600];
    struct stat sb;
    int before;

    before = log_count("\"store\": false");
    is_rv(token_key_with("{\"label\": \"off\", \"store\": false, \"keys\": [" KEY_JSON("k") "]}",
                         "off.conf"),
          CKR_TEMPLATE_INCONSISTENT, "\"store\": false: a token key is refused");
    is_num(log_count("\"store\": false") - before, 1, "with one line saying why");

    snprintf(text, sizeof(text),
             "{\"label\": \"two\", \"store\": \"%s/stores/two\", \"keys\": [" KEY_JSON(
                 "a") ", " KEY_JSON("b") "]}",
             p11_tmp());
    before = log_count("storage_key");
    is_rv(token_key_with(text, "two.conf"), CKR_TEMPLATE_INCONSISTENT,
          "two keys and no storage_key: refused");
    is_num(log_count("storage_key") - before, 1, "the line names the field");
    snprintf(path, sizeof(path), "%s/stores/two", p11_tmp());
    ok(stat(path, &sb) != 0, "and nothing was created");

    snprintf(text, sizeof(text),
             "{\"label\": \"two\", \"store\": \"%s/stores/two\", \"storage_key\": \"b\", "
             "\"keys\": [" KEY_JSON("a") ", " KEY_JSON("b") "]}",
             p11_tmp());
    is_rv(token_key_with(text, "two-b.conf"), CKR_OK, "with storage_key it is kept");

    snprintf(text, sizeof(text),
             "{\"label\": \"ro\", \"store\": \"%s/stores/ro\", \"keys\": [{\"label\": \"k\", "
             "\"backend\": \"local\", \"key_id\": \"insecure-test-key\", \"permissions\": "
             "[\"unwrap\", \"decrypt\"]}]}",
             p11_tmp());
    before = log_count("wrap permission");
    is_rv(token_key_with(text, "ro.conf"), CKR_TEMPLATE_INCONSISTENT,
          "a storage key without the wrap permission: refused");
    is_num(log_count("wrap permission") - before, 1, "with one line");

    /* A directory that cannot be made: a regular file where a parent should be (so it fails for
     * root too). C_Initialize says nothing; the first token object does. */
    p11_write("afile", "x", 0600);
    snprintf(text, sizeof(text),
             "{\"label\": \"nodir\", \"store\": \"%s/afile/store\", \"keys\": [" KEY_JSON("k") "]}",
             p11_tmp());
    before = log_count("cannot be created");
    is_rv(token_key_with(text, "nodir.conf"), CKR_DEVICE_ERROR,
          "an impossible directory: CKR_DEVICE_ERROR at the first token object");
    is_num(log_count("cannot be created") - before, 1, "one line naming the directory");
    if (geteuid() != 0) {
        snprintf(path, sizeof(path), "%s/locked", p11_tmp());
        mkdir(path, 0500);
        snprintf(text, sizeof(text),
                 "{\"label\": \"locked\", \"store\": \"%s/store\", \"keys\": [" KEY_JSON("k") "]}",
                 path);
        is_rv(token_key_with(text, "locked.conf"), CKR_DEVICE_ERROR,
              "a parent without write permission: CKR_DEVICE_ERROR");
    } else {
        test_skip("running as root: a directory without write permission is writable");
    }

    /* Refused at C_Initialize: the configuration itself is wrong. */
    p11->C_Finalize(NULL);
    is_rv(
        init_with(p11_write("bad1.conf",
                            "{\"tokens\": [{\"label\": \"x\", \"storage_key\": \"nope\", \"keys\": "
                            "[" KEY_JSON("k") "]}]}",
                            0600)),
        CKR_ARGUMENTS_BAD, "storage_key naming no key of the token");
    is_rv(init_with(p11_write("bad2.conf",
                              "{\"tokens\": [{\"label\": \"x\", \"store\": \"relative/dir\"}]}",
                              0600)),
          CKR_ARGUMENTS_BAD, "a relative store path");
    is_rv(init_with(
              p11_write("bad3.conf", "{\"tokens\": [{\"label\": \"x\", \"store\": true}]}", 0600)),
          CKR_ARGUMENTS_BAD, "\"store\": true");

    /* The default place. */
    is_rv(token_key_with("{\"label\": \"a/b c\", \"keys\": [" KEY_JSON("k") "]}", "dflt.conf"),
          CKR_OK, "no \"store\": the per-user default");
    snprintf(path, sizeof(path), "%s/data/p11kms/a%%2Fb%%20c", p11_tmp());
    is_num(sf_list(path, (char(*)[SF_NAME])bad, 1), 1,
           "under $XDG_DATA_HOME/p11kms/<label>, the label percent-encoded");
    p11->C_Finalize(NULL);
    p11_clean_env();
    setenv("KMS_KEY_ID", "insecure-test-key", 1);
    unsetenv("XDG_DATA_HOME");
    snprintf(path, sizeof(path), "%s/home", p11_tmp());
    setenv("HOME", path, 1);
    is_rv(p11->C_Initialize(NULL), CKR_OK, "quick mode, no $XDG_DATA_HOME");
    {
        CK_SESSION_HANDLE s = p11_open(0);
        CK_OBJECT_HANDLE h;
        is_rv(sf_token_key(s, "q", 16, CK_TRUE, CK_FALSE, &h), CKR_OK, "a token key");
    }
    snprintf(path, sizeof(path), "%s/home/.local/share/p11kms/p11kms", p11_tmp());
    is_num(sf_list(path, (char(*)[SF_NAME])bad, 1), 1, "under $HOME/.local/share/p11kms/p11kms");
    p11->C_Finalize(NULL);
}

int main(void)
{
    test_start();
    p11_load();
    write_configs();
    test_persist();
    test_changes();
    test_processes();
    test_find_value();
    test_private();
    test_config();
    return test_exit_code();
}
