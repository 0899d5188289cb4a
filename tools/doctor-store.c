/* doctor-store.c - "p11kms doctor" on the token object stores: where each token keeps its
 * objects, which key seals them, whether the directory can be made, read and written, and that
 * every file parses as the module would read it; --deep also opens each one (one KMS Decrypt). */
#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "doctor.h"
#include "store-seal.h"
#include "tool-store.h"
#include "tool.h"

typedef struct walk {
    doctor *d;
    int deep;
    unsigned objects, refused, temp, opened, unopened;
} walk;

static int check_entry(tool_store *st, tool_store_entry *e, void *arg)
{
    walk *w = arg;
    p11kms_buf value = {0};
    const char *why = NULL;
    int asked = 0;
    CK_RV rv;

    if (e->is_temp) {
        w->temp++;
        return 0;
    }
    if (!e->is_object)
        return 0;
    if (e->why != NULL) {
        w->refused++;
        doctor_step(w->d, DOCTOR_FAIL, "token \"%s\": %s/%s is refused: %s", st->tc->label, st->dir,
                    e->name, e->why);
        return 0;
    }
    w->objects++;
    if (!w->deep)
        return 0;
    rv = p11kms_store_open(st->readers, st->n_readers, st->tc->label, &e->f, &value, &asked, NULL,
                           &why);
    p11kms_buf_wipe(&value);
    if (rv == CKR_OK) {
        w->opened++;
        return 0;
    }
    w->unopened++;
    doctor_step(w->d, DOCTOR_FAIL, "token \"%s\": %s/%s does not open: %s", st->tc->label, st->dir,
                e->name, why != NULL ? why : tool_rv_text(rv));
    return 0;
}

/* The directory does not exist yet: can it be made at the first token object? */
static void check_parent(doctor *d, const tool_store *st)
{
    char path[4096];
    struct stat sb;

    snprintf(path, sizeof(path), "%s", st->dir);
    while (strcmp(path, "/") != 0 && stat(path, &sb) != 0)
        snprintf(path, sizeof(path), "%s", dirname(path));
    if (S_ISDIR(sb.st_mode) && access(path, W_OK | X_OK) == 0)
        doctor_step(d, DOCTOR_OK,
                    "token \"%s\": store %s does not exist yet; it is made (mode 0700) at the "
                    "first token object",
                    st->tc->label, st->dir);
    else
        doctor_step(d, DOCTOR_FAIL,
                    "token \"%s\": store %s cannot be made: %s is not a directory this process "
                    "may write; the first token object would fail (set \"store\")",
                    st->tc->label, st->dir, path);
}

static void check_token(doctor *d, const p11kms_token_config *tc, int deep)
{
    tool_store st;
    walk w;
    struct stat sb;
    int missing = 0;

    memset(&w, 0, sizeof(w));
    w.d = d;
    w.deep = deep;
    if (tool_store_open(tc, deep, &st) != 0) {
        doctor_step(d, DOCTOR_FAIL, "token \"%s\": its store cannot be checked (see above)",
                    tc->label);
        goto out;
    }
    if (st.dir == NULL) {
        doctor_step(d, tc->store_off ? DOCTOR_OK : DOCTOR_WARN,
                    "token \"%s\": keeps no token objects (CKA_TOKEN true is refused): %s",
                    tc->label, st.why);
        goto out;
    }
    if (st.storage < 0)
        doctor_step(d, DOCTOR_WARN, "token \"%s\": token objects will be refused: %s", tc->label,
                    st.why_no_key);
    else
        doctor_step(d, DOCTOR_OK, "token \"%s\": key \"%s\" seals its token objects", tc->label,
                    tc->keys[st.storage].label);
    if (stat(st.dir, &sb) != 0) {
        check_parent(d, &st);
        goto out;
    }
    if (!S_ISDIR(sb.st_mode)) {
        doctor_step(d, DOCTOR_FAIL, "token \"%s\": store %s is not a directory", tc->label, st.dir);
        goto out;
    }
    if (access(st.dir, R_OK | W_OK | X_OK) != 0)
        doctor_step(d, DOCTOR_FAIL,
                    "token \"%s\": store %s cannot be read and written by this process: %s",
                    tc->label, st.dir, strerror(errno));
    if (sb.st_mode & 022)
        doctor_step(d, DOCTOR_WARN,
                    "token \"%s\": store %s (mode %04o) is writable by group or others: they "
                    "could remove or replace files (never forge one); chmod go-w it unless "
                    "several accounts share it",
                    tc->label, st.dir, (unsigned)(sb.st_mode & 07777));
    if (tool_store_walk(&st, check_entry, &w, &missing) < 0) {
        doctor_step(d, DOCTOR_FAIL, "token \"%s\": store %s cannot be listed", tc->label, st.dir);
        goto out;
    }
    if (w.temp > 0)
        doctor_step(d, DOCTOR_WARN,
                    "token \"%s\": %u temporary file%s in %s, left by interrupted writes if no "
                    "process is writing now; remove them then",
                    tc->label, w.temp, w.temp == 1 ? "" : "s", st.dir);
    doctor_step(d, w.refused > 0 ? DOCTOR_FAIL : DOCTOR_OK,
                "token \"%s\": store %s: %u object%s parse%s%s", tc->label, st.dir, w.objects,
                w.objects == 1 ? "" : "s", w.objects == 1 ? "s" : "",
                w.refused > 0 ? ", some refused (above)" : "");
    if (deep)
        doctor_step(d, w.unopened > 0 ? DOCTOR_FAIL : DOCTOR_OK,
                    "token \"%s\": %u of %u object%s open with the token's keys (--deep)",
                    tc->label, w.opened, w.objects, w.objects == 1 ? "" : "s");
out:
    tool_store_close(&st);
}

void doctor_store(doctor *d, const p11kms_config *cfg, int deep)
{
    size_t t;

    for (t = 0; t < cfg->n_tokens; t++)
        check_token(d, &cfg->tokens[t], deep);
}
