/* test-module-store-procs.c - two processes share one store at once: each creates 200 token
 * objects and destroys every other one while the other does the same (finds in between follow
 * the directory as it changes). Afterwards a third process finds exactly the survivors, each
 * with its value; no file is half-written, none is left over, nothing is lost. */
#include <signal.h>
#include <sys/wait.h>
#include "tests/module/p11.h"
#include "tests/module/store-files.h"

#define PER_WORKER 200
#define WORKERS 2

static char dir[400], conf[400], logpath[400];

static CK_RV init(void)
{
    char env[500];

    snprintf(env, sizeof(env), "warning,file:%s", logpath);
    setenv("P11KMS_LOG", env, 1);
    return p11_init_config(conf);
}

/* One worker: its objects w<id>-<i>, the even ones destroyed as soon as the next one exists. */
static int worker(int id, int go)
{
    CK_SESSION_HANDLE s;
    CK_OBJECT_HANDLE h[PER_WORKER];
    char label[32], byte;
    int i, failures = 0;

    if (init() != CKR_OK)
        return 2;
    s = p11_open(0);
    /* Both start together. */
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

int main(void)
{
    char text[1024], label[32], value[32], names[PER_WORKER * WORKERS + 8][SF_NAME];
    int go[2], i, w, status, bad = 0;
    pid_t pids[WORKERS];
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
    if (pipe(go) != 0)
        return 99;
    fflush(stdout);
    for (w = 0; w < WORKERS; w++) {
        pids[w] = fork();
        if (pids[w] == 0) {
            close(go[1]);
            _exit(worker(w, go[0]));
        }
    }
    close(go[0]);
    for (w = 0; w < WORKERS; w++)
        if (write(go[1], "g", 1) != 1)
            return 99;
    close(go[1]);
    for (w = 0; w < WORKERS; w++) {
        is_num(waitpid(pids[w], &status, 0), pids[w], "a worker finished");
        ok(WIFEXITED(status) && WEXITSTATUS(status) == 0,
           "it created 200 objects and destroyed 100, every call fine");
    }

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
    return test_exit_code();
}
