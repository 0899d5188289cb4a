/* test-module-store-procs.c - two processes share one store at once: each creates 200 token
 * objects and destroys every other one while the other does the same (finds in between follow
 * the directory as it changes). Afterwards a third process finds exactly the survivors, each
 * with its value; no file is half-written, none is left over, nothing is lost. Then two
 * processes change one object at once, each another attribute: the writers' lock serialises the
 * read-modify-writes, so neither change is lost and every change is one generation. */
#include <signal.h>
#include <sys/wait.h>
#include "tests/module/p11.h"
#include "tests/module/store-files.h"

#define PER_WORKER 200
#define WORKERS 2
#define SETS 25 /* changes each setter makes */

static char dir[400], conf[400], logpath[400];

static CK_RV init(void)
{
    char env[500];

    snprintf(env, sizeof(env), "warning,file:%s", logpath);
    setenv("P11KMS_LOG", env, 1);
    return p11_init_config(conf);
}

/* The start barrier: each worker says it is ready on this pipe (on every path, before it
 * waits), and the parent lets them go only when all are. */
static int ready_w = -1;

static void ready(void)
{
    if (ready_w >= 0 && write(ready_w, "r", 1) != 1)
        fprintf(stderr, "# a worker could not say it is ready\n");
}

/* One worker: its objects w<id>-<i>, the even ones destroyed as soon as the next one exists. */
static int worker(int id, int go)
{
    CK_SESSION_HANDLE s;
    CK_OBJECT_HANDLE h[PER_WORKER];
    char label[32], byte;
    int i, failures = 0;

    if (init() != CKR_OK) {
        ready();
        return 2;
    }
    s = p11_open(0);
    /* Both start together. */
    ready();
    if (read(go, &byte, 1) != 1)
        return 3;
    for (i = 0; i < PER_WORKER; i++) {
        snprintf(label, sizeof(label), "w%d-%d", id, i);
        if (sf_token_data(s, label, label, strlen(label), &h[i]) != CKR_OK)
            failures++;
        if (i % 2 == 1 && p11->C_DestroyObject(s, h[i - 1]) != CKR_OK)
            failures++;
        if (i % 10 == 0 && p11_count(s) == (CK_ULONG)-1)
            failures++;
    }
    p11->C_Finalize(NULL);
    return failures > 0 ? 1 : 0;
}

/* One setter: the shared object's label (setter 0) or CKA_APPLICATION (setter 1), SETS times. */
static int setter(int id, int go)
{
    CK_SESSION_HANDLE s;
    CK_OBJECT_HANDLE h;
    CK_ATTRIBUTE a;
    char text[32], byte;
    int i, failures = 0;
    CK_RV rv;

    if (init() != CKR_OK) {
        fprintf(stderr, "# setter %d: C_Initialize failed\n", id);
        ready();
        return 2;
    }
    s = p11_open(0);
    h = p11_find_label(s, "shared"); /* found before either changes it; the handle stays */
    ready();                         /* no change starts before both have looked */
    if (h == CK_INVALID_HANDLE) {
        fprintf(stderr, "# setter %d: the object \"shared\" not found\n", id);
        return 3;
    }
    if (read(go, &byte, 1) != 1)
        return 3;
    for (i = 0; i < SETS; i++) {
        snprintf(text, sizeof(text), "%c-%d", id == 0 ? 'a' : 'b', i);
        a.type = id == 0 ? CKA_LABEL : CKA_APPLICATION;
        a.pValue = text;
        a.ulValueLen = strlen(text);
        rv = p11->C_SetAttributeValue(s, h, &a, 1);
        if (rv != CKR_OK) {
            fprintf(stderr, "# setter %d: change %d: C_SetAttributeValue 0x%lx\n", id, i,
                    (unsigned long)rv);
            failures++;
        }
    }
    p11->C_Finalize(NULL);
    return failures > 0 ? 1 : 0;
}

/* Run worker fn in WORKERS processes that start together; 1 when each exited 0. */
static int run_workers(int (*fn)(int, int), const char *what)
{
    int go[2], rd[2], w, status, fine = 1;
    pid_t pids[WORKERS];
    char byte;

    if (pipe(go) != 0)
        return 0;
    if (pipe(rd) != 0) {
        close(go[0]);
        close(go[1]);
        return 0;
    }
    fflush(stdout);
    for (w = 0; w < WORKERS; w++) {
        pids[w] = fork();
        if (pids[w] == 0) {
            close(go[1]);
            close(rd[0]);
            ready_w = rd[1];
            _exit(fn(w, go[0]));
        }
    }
    close(go[0]);
    close(rd[1]);
    for (w = 0; w < WORKERS; w++)
        if (read(rd[0], &byte, 1) != 1)
            fine = 0;
    close(rd[0]);
    for (w = 0; w < WORKERS; w++)
        if (write(go[1], "g", 1) != 1)
            fine = 0;
    close(go[1]);
    for (w = 0; w < WORKERS; w++) {
        is_num(waitpid(pids[w], &status, 0), pids[w], "a worker finished");
        ok(WIFEXITED(status) && WEXITSTATUS(status) == 0, what);
        fine = fine && WIFEXITED(status) && WEXITSTATUS(status) == 0;
    }
    return fine;
}

/* Two processes change one stored object at once. */
static void concurrent_setters(void)
{
    char before[PER_WORKER * WORKERS + 8][SF_NAME], after[PER_WORKER * WORKERS + 8][SF_NAME];
    char name[SF_NAME], app[32];
    uint8_t file[SF_FILE_MAX];
    CK_ATTRIBUTE rd = {CKA_APPLICATION, app, sizeof(app)};
    CK_SESSION_HANDLE s;
    CK_OBJECT_HANDLE h;
    uint64_t gen = 0;
    long len;
    int nb, na, i, refused = p11_file_count(logpath, "refused");

    nb = sf_list(dir, before, (int)(sizeof(before) / sizeof(before[0])));
    is_rv(init(), CKR_OK, "setters: the object");
    s = p11_open(0);
    is_rv(sf_token_data(s, "shared", "v", 1, &h), CKR_OK, "a token data object \"shared\"");
    p11->C_Finalize(NULL);
    na = sf_list(dir, after, (int)(sizeof(after) / sizeof(after[0])));
    snprintf(name, sizeof(name), "%s", sf_new_file(before, nb < 0 ? 0 : nb, after, na));

    run_workers(setter, "it changed its attribute 25 times, every call fine");
    is_rv(init(), CKR_OK, "a third process");
    s = p11_open(0);
    h = p11_find_label(s, "a-24");
    ok(h != CK_INVALID_HANDLE, "the first setter's last label is there");
    rd.ulValueLen = sizeof(app);
    ok(h != CK_INVALID_HANDLE && p11->C_GetAttributeValue(s, h, &rd, 1) == CKR_OK &&
           rd.ulValueLen == 4 && memcmp(app, "b-24", 4) == 0,
       "and so is the second's last CKA_APPLICATION: no change was lost");
    len = sf_read(sf_path(dir, name), file, sizeof(file));
    for (i = 0; len > 36 && i < 8; i++)
        gen = gen << 8 | file[28 + i];
    is_num((long)gen, 1 + 2 * SETS, "each change one generation of the file: none written over");
    is_num(p11_file_count(logpath, "refused") - refused, 0, "no file was refused");
    p11->C_Finalize(NULL);
}

int main(void)
{
    char text[1024], label[32], value[32], names[PER_WORKER * WORKERS + 8][SF_NAME];
    int i, w, bad = 0;
    CK_SESSION_HANDLE s;
    CK_OBJECT_HANDLE h;
    CK_ATTRIBUTE rd = {CKA_VALUE, value, sizeof(value)};

    test_start();
    p11_load();
    snprintf(dir, sizeof(dir), "%s/shared-store", p11_tmp());
    snprintf(logpath, sizeof(logpath), "%s/module.log", p11_tmp());
    snprintf(text, sizeof(text),
             "{\"tokens\": [{\"label\": \"shared\", \"store\": \"%s\", \"keys\": [{\"label\": "
             "\"kms\", \"backend\": \"local\", \"key_id\": \"insecure-test-key\"}]}]}\n",
             dir);
    snprintf(conf, sizeof(conf), "%s", p11_write("shared.conf", text, 0600));
    run_workers(worker, "it created 200 objects and destroyed 100, every call fine");

    is_num(sf_list(dir, names, (int)(sizeof(names) / sizeof(names[0]))), PER_WORKER * WORKERS / 2,
           "exactly the survivors' files are there");
    is_num(sf_temp_files(dir), 0, "no temporary file is left");
    is_rv(init(), CKR_OK, "a third process");
    s = p11_open(0);
    is_num(p11_count(s), 1 + PER_WORKER * WORKERS / 2, "finds the KMS key and every survivor");
    for (w = 0; w < WORKERS; w++)
        for (i = 0; i < PER_WORKER; i++) {
            snprintf(label, sizeof(label), "w%d-%d", w, i);
            h = p11_find_label(s, label);
            if (i % 2 == 0) {
                if (h != CK_INVALID_HANDLE)
                    bad++; /* destroyed, yet found */
                continue;
            }
            rd.ulValueLen = sizeof(value);
            if (h == CK_INVALID_HANDLE || p11->C_GetAttributeValue(s, h, &rd, 1) != CKR_OK ||
                rd.ulValueLen != strlen(label) || memcmp(value, label, rd.ulValueLen) != 0)
                bad++;
        }
    is_num(bad, 0, "each survivor with its own value, no destroyed one back");
    is_num(p11_file_count(logpath, "refused"), 0, "no file was refused: none half-written");
    p11->C_Finalize(NULL);
    concurrent_setters();
    return test_exit_code();
}
