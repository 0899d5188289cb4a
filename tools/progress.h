/* progress.h - a one-line progress bar on stderr, shown only when stderr is a terminal and the
 * input is large and of known size. */
#ifndef P11KMS_TOOL_PROGRESS_H
#define P11KMS_TOOL_PROGRESS_H

#include <stdint.h>

/* Inputs smaller than this finish too fast for a bar to help. */
#define TOOL_PROGRESS_MIN_BYTES (64u * 1024u * 1024u)

typedef struct tool_progress {
    int enabled;
    uint64_t total;
    uint64_t last_ms;
    uint64_t start_ms;
    int last_pct;
    const char *what;
} tool_progress;

/* mode: 1 force on (if stderr is a terminal), 0 off, -1 automatic by size. */
void tool_progress_start(tool_progress *p, const char *what, uint64_t total, int mode);
void tool_progress_update(tool_progress *p, uint64_t done);
/* Erase the bar (the final result is the command's own output or error line). */
void tool_progress_end(tool_progress *p);

#endif
