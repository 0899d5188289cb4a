/* bench.h - what the benchmark driver's commands share (bench.c): the options, the module's
 * function list, checked calls that end the run on failure, and a timed run of worker threads. */
#ifndef P11KMS_BENCH_H
#define P11KMS_BENCH_H

#include <pthread.h>
#include <stdatomic.h>
#include "pkcs11/p11kms.h"

#define MAX_THREADS 64
#define MAX_CONTEXT 8
#define WRAPPED_MAX 16384
#define GCM_IV_LEN 12
#define GCM_TAG_LEN 16

struct options {
    const char *module;
    const char *token;
    const char *pin;
    const char *key_label;
    CK_MECHANISM_TYPE mech;
    CK_P11KMS_CONTEXT_PAIR context[MAX_CONTEXT];
    int threads;
    double seconds;
    size_t size;
    long cycles;
    long sample;
    int runs;
    long expect_keys;
    const char *pubkey; /* ecsign: the reference public key (PEM), or NULL */
};

extern struct options opt;
extern CK_FUNCTION_LIST_PTR p11;
extern atomic_int stop_flag; /* set when a timed run's time is up */

/* End the run with a message (a benchmark that skipped failed calls would report fiction). */
__attribute__((format(printf, 1, 2), noreturn)) void die(const char *fmt, ...);
void check(CK_RV rv, const char *what);
double now(void);
double cpu_seconds(void);
void sleep_seconds(double sec);
/* Load and initialise the module, select --token, open the main session and log in with --pin;
 * finish closes it and finalises. */
CK_SESSION_HANDLE start(void);
void finish(CK_SESSION_HANDLE s);
CK_SESSION_HANDLE open_session(void);

/* One thread of a timed run: its work counted in count, after waiting on barrier (set up and
 * warmed first), until stop_flag. */
struct worker {
    pthread_t thread;
    pthread_barrier_t *barrier;
    CK_OBJECT_HANDLE key, pub;
    long count;
};
typedef struct timed {
    long count;
    double seconds;
    double cpus; /* CPUs the process kept busy meanwhile */
} timed;
/* --threads workers running fn for --seconds. */
timed timed_run(void *(*fn)(void *), CK_OBJECT_HANDLE key, CK_OBJECT_HANDLE pub);

/* bench-sign.c */
void cmd_ecsign(void);

#endif
