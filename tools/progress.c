/* progress.c - the progress bar: redrawn in place with '\r' at most five times a second, so it
 * costs nothing measurable on the streaming path. Single-threaded (the writer calls it). */
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "progress.h"

#define BAR_WIDTH 30

static uint64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void tool_progress_start(tool_progress *p, const char *what, uint64_t total, int mode)
{
    memset(p, 0, sizeof(*p));
    p->what = what;
    p->total = total;
    p->last_pct = -1;
    if (mode == 0 || total == 0 || !isatty(STDERR_FILENO))
        return;
    if (mode < 0 && total < TOOL_PROGRESS_MIN_BYTES)
        return;
    p->enabled = 1;
    p->start_ms = now_ms();
}

void tool_progress_update(tool_progress *p, uint64_t done)
{
    char bar[BAR_WIDTH + 1];
    uint64_t t, elapsed;
    double mib_s;
    int pct, fill;

    if (!p->enabled)
        return;
    if (done > p->total)
        done = p->total;
    pct = (int)(done * 100 / p->total);
    t = now_ms();
    if (pct == p->last_pct || (t - p->last_ms < 200 && pct != 100))
        return;
    p->last_pct = pct;
    p->last_ms = t;
    fill = pct * BAR_WIDTH / 100;
    memset(bar, '#', (size_t)fill);
    memset(bar + fill, '.', (size_t)(BAR_WIDTH - fill));
    bar[BAR_WIDTH] = 0;
    elapsed = t - p->start_ms;
    mib_s = elapsed ? (double)done / 1048576.0 / ((double)elapsed / 1000.0) : 0.0;
    fprintf(stderr, "\r%s [%s] %3d%% %8.1f MiB/s", p->what, bar, pct, mib_s);
    fflush(stderr);
}

void tool_progress_end(tool_progress *p)
{
    if (!p->enabled)
        return;
    /* Clear the line so the next message starts clean. */
    fprintf(stderr, "\r%*s\r", BAR_WIDTH + 40, "");
    fflush(stderr);
    p->enabled = 0;
}
