/* outfile.c - atomic output files. The path of the one temporary file in flight is kept where a
 * signal handler can unlink it, so ^C never leaves a half-written file behind. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* renameat2, mkostemp */
#endif
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "outfile.h"
#include "tool.h"

static char pending_tmp[4096];
static volatile sig_atomic_t pending_set;

static void on_signal(int sig)
{
    if (pending_set)
        unlink(pending_tmp);
    signal(sig, SIG_DFL);
    raise(sig);
}

static void guard(const char *tmp)
{
    struct sigaction sa;
    static const int sigs[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT};
    size_t i;

    snprintf(pending_tmp, sizeof(pending_tmp), "%s", tmp);
    pending_set = 1;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
        sigaction(sigs[i], &sa, NULL);
}

static void unguard(void)
{
    pending_set = 0;
}

int tool_out_check(const char *path, int force)
{
    struct stat st;

    if (strcmp(path, "-") == 0 || force || stat(path, &st) != 0 || !S_ISREG(st.st_mode))
        return 0;
    tool_err("%s exists; use --force to replace it", path);
    return -1;
}

int tool_out_open(tool_out *o, const char *path, int force, mode_t mode)
{
    struct stat st;
    char *dir = NULL, *base = NULL;
    size_t len;

    memset(o, 0, sizeof(*o));
    o->fd = -1;
    o->force = force;
    o->mode = mode;
    if (strcmp(path, "-") == 0) {
        o->direct = 1;
        o->fd = STDOUT_FILENO;
        return 0;
    }
    if (stat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
        o->fd = open(path, O_WRONLY | O_CLOEXEC);
        if (o->fd < 0) {
            tool_err("cannot open %s: %s", path, strerror(errno));
            return -1;
        }
        o->direct = 1;
        return 0;
    }
    if (tool_out_check(path, force) != 0)
        return -1;
    o->path = strdup(path);
    dir = strdup(path);
    base = strdup(path);
    len = strlen(path) + 32;
    o->tmp = malloc(len);
    if (o->path == NULL || dir == NULL || base == NULL || o->tmp == NULL)
        goto nomem;
    /* Beside OUT, so the rename stays within one file system. */
    snprintf(o->tmp, len, "%s/.%s.p11kms-XXXXXX", dirname(dir), basename(base));
    free(dir);
    free(base);
    o->fd = mkostemp(o->tmp, O_CLOEXEC);
    if (o->fd < 0) {
        tool_err("cannot create a file beside %s: %s", path, strerror(errno));
        free(o->tmp);
        o->tmp = NULL;
        return -1;
    }
    guard(o->tmp);
    return 0;
nomem:
    free(dir);
    free(base);
    free(o->tmp);
    o->tmp = NULL;
    free(o->path);
    o->path = NULL;
    tool_err("out of memory");
    return -1;
}

static void sync_dir(const char *path)
{
    char *copy = strdup(path);
    int fd;

    if (copy == NULL)
        return;
    fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
    free(copy);
}

int tool_out_commit(tool_out *o)
{
    if (o->direct)
        return 0;
    if (fchmod(o->fd, o->mode) != 0 || fsync(o->fd) != 0) {
        tool_err("cannot finish %s: %s", o->path, strerror(errno));
        goto fail;
    }
    if (close(o->fd) != 0) {
        o->fd = -1;
        tool_err("cannot finish %s: %s", o->path, strerror(errno));
        goto fail;
    }
    o->fd = -1;
    if (o->force) {
        if (rename(o->tmp, o->path) != 0) {
            tool_err("cannot create %s: %s", o->path, strerror(errno));
            goto fail;
        }
    } else if (renameat2(AT_FDCWD, o->tmp, AT_FDCWD, o->path, RENAME_NOREPLACE) != 0) {
        /* A file system without RENAME_NOREPLACE: link() also refuses to replace. */
        if (errno != EINVAL || link(o->tmp, o->path) != 0) {
            if (errno == EEXIST)
                tool_err("%s appeared meanwhile; use --force to replace it", o->path);
            else
                tool_err("cannot create %s: %s", o->path, strerror(errno));
            goto fail;
        }
        unlink(o->tmp);
    }
    unguard();
    sync_dir(o->path);
    free(o->tmp);
    o->tmp = NULL;
    free(o->path);
    o->path = NULL;
    return 0;
fail:
    tool_out_abort(o);
    return -1;
}

void tool_out_abort(tool_out *o)
{
    if (o->tmp != NULL) {
        unlink(o->tmp);
        unguard();
        free(o->tmp);
        o->tmp = NULL;
    }
    if (!o->direct && o->fd >= 0)
        close(o->fd);
    o->fd = -1;
    free(o->path);
    o->path = NULL;
}
