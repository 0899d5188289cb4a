/* outfile.h - output that appears whole or not at all: a temporary file beside OUT, renamed
 * over it only after everything was written and synced; removed on failure and on signals. */
#ifndef P11KMS_TOOL_OUTFILE_H
#define P11KMS_TOOL_OUTFILE_H

#include <stdint.h>
#include <sys/types.h>

typedef struct tool_out {
    int fd;
    int direct; /* stdout, or an existing device/pipe: written in place, nothing to rename */
    int force;
    mode_t mode;
    char *path;
    char *tmp;
} tool_out;

/* Open OUT ("-": stdout). An existing regular OUT is replaced only with force. mode is what
 * the file gets at commit. Reports and returns -1 on failure. */
int tool_out_open(tool_out *o, const char *path, int force, mode_t mode);
/* Sync and move the finished file into place. Reports and returns -1 on failure (the
 * temporary file is removed). */
int tool_out_commit(tool_out *o);
/* Remove the temporary file; safe to call after commit or on a never-opened tool_out. */
void tool_out_abort(tool_out *o);
/* Refuse early (before any KMS call) when OUT exists and may not be replaced. */
int tool_out_check(const char *path, int force);

#endif
