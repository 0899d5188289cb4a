/* test-net-tokcache.c - the credential and token cache every remote backend shares: values
 * checked and wiped, refresh ahead of expiry by the two margins, a failed refresh keeping what
 * still works, a lease handed to the hook for renewal, one refresh in flight for all threads,
 * and a cache a forked child must not use. */
#include <pthread.h>
#include <sys/wait.h>
#include <unistd.h>
#include "tests/test.h"
#include "tests/unit/logcap.h"
#include "module/net/clock.h"
#include "module/net/tokcache.h"

#define ADVISORY 300
#define MANDATORY 60

typedef struct source {
    int fetches;
    long lifetime;     /* seconds the next token lives; 0: does not expire */
    CK_RV fail;        /* CKR_OK, or what the next fetches return */
    int saw_current;   /* the hook was given the cached token */
    int renewable;     /* what the fetched tokens say */
    unsigned sleep_ms; /* a slow endpoint */
    long refresh_in;   /* the fetched tokens' refresh_at, seconds from now; 0: none */
    char last_current[32];
    pthread_mutex_t lock;
} source;

static CK_RV fetch(void *ctx, const p11kms_cred *current, uint64_t deadline_ms, p11kms_cred *out)
{
    source *s = ctx;
    char tok[32];
    CK_RV rv;
    int n;

    (void)deadline_ms;
    if (s->sleep_ms)
        usleep(s->sleep_ms * 1000u);
    pthread_mutex_lock(&s->lock);
    n = ++s->fetches;
    s->saw_current = current != NULL;
    snprintf(s->last_current, sizeof(s->last_current), "%s",
             current != NULL && current->token ? current->token : "");
    pthread_mutex_unlock(&s->lock);
    if (s->fail != CKR_OK)
        return s->fail;
    snprintf(tok, sizeof(tok), "token-%d", n);
    rv = p11kms_cred_set(out, NULL, NULL, tok, s->lifetime ? time(NULL) + s->lifetime : 0,
                         "test source");
    out->renewable = s->renewable;
    out->refresh_at = s->refresh_in ? time(NULL) + s->refresh_in : 0;
    return rv;
}

static void test_cred(void)
{
    p11kms_cred c, d;

    is_rv(p11kms_cred_set(&c, "AKID", "secret", "tok", 5, "src"), CKR_OK, "id, secret, token");
    ok(strcmp(c.id, "AKID") == 0 && strcmp(c.secret, "secret") == 0 &&
           strcmp(c.token, "tok") == 0 && c.expires == 5 && strcmp(c.source, "src") == 0,
       "copied");
    c.renewable = 1;
    is_rv(p11kms_cred_copy(&c, &d), CKR_OK, "copy");
    ok(strcmp(d.token, "tok") == 0 && d.renewable == 1, "a copy keeps every field");
    p11kms_cred_clear(&c);
    p11kms_cred_clear(&d);
    ok(c.id == NULL && c.secret == NULL && c.token == NULL && c.expires == 0, "clear resets");
    is_rv(p11kms_cred_set(&c, NULL, NULL, "bearer", 0, "src"), CKR_OK, "a bearer token alone");
    ok(c.id == NULL && c.secret == NULL, "leaves the rest NULL");
    p11kms_cred_clear(&c);
    is_rv(p11kms_cred_set(&c, "AKID", "", "", 0, "src"), CKR_GENERAL_ERROR,
          "neither secret nor token is no credentials");
    is_rv(p11kms_cred_set(&c, NULL, NULL, "to\r\nken", 0, "src"), CKR_GENERAL_ERROR,
          "a line break is refused (it would end up in a header)");
    is_rv(p11kms_cred_set(&c, "A\x7f", "s", NULL, 0, "src"), CKR_GENERAL_ERROR,
          "DEL is refused too");
}

/* refresh_at: a lease renewed at a point of its life before the margins (Vault's two thirds). */
static void test_refresh_at(void)
{
    source s = {0};
    p11kms_tokcache c;
    p11kms_cred cr, cp;
    uint64_t dl = p11kms_net_now_ms() + 5000;

    pthread_mutex_init(&s.lock, NULL);
    p11kms_tokcache_init(&c, "test", "token", ADVISORY, MANDATORY, fetch, &s);
    s.lifetime = 3600;
    s.renewable = 1;
    s.refresh_in = 1000;
    p11kms_tokcache_get(&c, dl, &cr);
    p11kms_cred_clear(&cr);
    is_rv(p11kms_tokcache_get(&c, dl, &cr), CKR_OK, "a token whose refresh point is ahead");
    ok(strcmp(cr.token, "token-1") == 0 && s.fetches == 1, "is served from the cache");
    is_rv(p11kms_cred_copy(&cr, &cp), CKR_OK, "copied");
    ok(cp.refresh_at == cr.refresh_at && cr.refresh_at > time(NULL), "a copy keeps refresh_at");
    p11kms_cred_clear(&cp);
    p11kms_cred_clear(&cr);
    p11kms_tokcache_invalidate(&c);
    s.refresh_in = -1; /* already due, although far from the margins */
    p11kms_tokcache_get(&c, dl, &cr);
    p11kms_cred_clear(&cr);
    s.refresh_in = 1000;
    is_rv(p11kms_tokcache_get(&c, dl, &cr), CKR_OK, "past its refresh point, an hour left");
    ok(strcmp(cr.token, "token-3") == 0 && s.fetches == 3,
       "is refreshed on the next get (not only inside the advisory margin)");
    ok(s.saw_current && strcmp(s.last_current, "token-2") == 0,
       "with the cached token handed to the hook to renew");
    p11kms_cred_clear(&cr);
    p11kms_tokcache_destroy(&c);
    pthread_mutex_destroy(&s.lock);
}

static void test_margins(void)
{
    source s = {0};
    p11kms_tokcache c;
    p11kms_cred cr;
    uint64_t dl = p11kms_net_now_ms() + 5000;

    pthread_mutex_init(&s.lock, NULL);
    p11kms_tokcache_init(&c, "test", "token", ADVISORY, MANDATORY, fetch, &s);
    s.lifetime = 3600;
    is_rv(p11kms_tokcache_get(&c, dl, &cr), CKR_OK, "first get fetches");
    ok(strcmp(cr.token, "token-1") == 0 && s.fetches == 1 && !s.saw_current,
       "token-1, with nothing cached to renew");
    p11kms_cred_clear(&cr);
    is_rv(p11kms_tokcache_get(&c, dl, &cr), CKR_OK, "second get");
    ok(strcmp(cr.token, "token-1") == 0 && p11kms_tokcache_fetches(&c) == 1, "from the cache");
    p11kms_cred_clear(&cr);

    /* past the advisory margin: refreshed, and the hook sees what is cached */
    p11kms_tokcache_invalidate(&c);
    s.lifetime = ADVISORY - 10;
    s.renewable = 1;
    p11kms_tokcache_get(&c, dl, &cr);
    p11kms_cred_clear(&cr);
    is_rv(p11kms_tokcache_get(&c, dl, &cr), CKR_OK, "a token inside the advisory margin");
    ok(strcmp(cr.token, "token-3") == 0 && s.fetches == 3, "is refreshed on the next get");
    ok(s.saw_current && strcmp(s.last_current, "token-2") == 0 && cr.renewable == 1,
       "and the hook is given the cached one (a lease it may renew)");
    p11kms_cred_clear(&cr);

    /* a failed refresh keeps serving what has not expired */
    s.fail = CKR_DEVICE_ERROR;
    logcap_take();
    is_rv(p11kms_tokcache_get(&c, dl, &cr), CKR_OK, "refresh fails, the cached token serves");
    ok(strcmp(cr.token, "token-3") == 0 && s.fetches == 4, "token-3, after trying");
    ok(strstr(logcap_take(), "test: refreshing the token failed") != NULL, "with a warning");
    p11kms_cred_clear(&cr);

    /* nothing left: the failure is the caller's */
    p11kms_tokcache_invalidate(&c);
    is_rv(p11kms_tokcache_get(&c, dl, &cr), CKR_DEVICE_ERROR, "nothing cached, refresh fails");
    ok(cr.token == NULL, "and nothing is handed out");

    /* a token that arrives expired is refused; one that never expires is kept for good */
    s.fail = CKR_OK;
    s.lifetime = -5;
    is_rv(p11kms_tokcache_get(&c, dl, &cr), CKR_DEVICE_ERROR, "a token expired on arrival");
    s.lifetime = 0;
    is_rv(p11kms_tokcache_get(&c, dl, &cr), CKR_OK, "a token without expiry");
    p11kms_cred_clear(&cr);
    s.fetches = 0;
    is_rv(p11kms_tokcache_get(&c, dl, &cr), CKR_OK, "is kept");
    is_num(s.fetches, 0, "without another fetch");
    p11kms_cred_clear(&cr);

    /* inside the mandatory margin every get refreshes */
    p11kms_tokcache_invalidate(&c);
    s.lifetime = MANDATORY - 10;
    s.fetches = 0;
    logcap_take();
    p11kms_tokcache_get(&c, dl, &cr);
    p11kms_cred_clear(&cr);
    p11kms_tokcache_get(&c, dl, &cr);
    p11kms_cred_clear(&cr);
    is_num(s.fetches, 2, "short-lived tokens are fetched on every get");
    ok(strstr(logcap_take(), "refreshed on every call") != NULL, "and that is said");
    p11kms_tokcache_destroy(&c);
    pthread_mutex_destroy(&s.lock);
}

typedef struct racer {
    p11kms_tokcache *c;
    CK_RV rv;
    char token[32];
} racer;

static void *race(void *arg)
{
    racer *r = arg;
    p11kms_cred cr;

    r->rv = p11kms_tokcache_get(r->c, p11kms_net_now_ms() + 10000, &cr);
    if (r->rv == CKR_OK)
        snprintf(r->token, sizeof(r->token), "%s", cr.token);
    p11kms_cred_clear(&cr);
    return NULL;
}

/* Eight threads asking at once while the endpoint is slow: one fetch, the same token for all. */
static void test_one_refresh(void)
{
    source s = {0};
    p11kms_tokcache c;
    pthread_t t[8];
    racer r[8];
    int i, same = 1, started = 0;

    pthread_mutex_init(&s.lock, NULL);
    s.lifetime = 3600;
    s.sleep_ms = 200;
    p11kms_tokcache_init(&c, "test", "token", ADVISORY, MANDATORY, fetch, &s);
    for (i = 0; i < 8; i++) {
        r[i].c = &c;
        r[i].rv = CKR_GENERAL_ERROR;
        if (pthread_create(&t[i], NULL, race, &r[i]) == 0)
            started++;
    }
    for (i = 0; i < started; i++)
        pthread_join(t[i], NULL);
    for (i = 0; i < started; i++)
        same &= r[i].rv == CKR_OK && strcmp(r[i].token, "token-1") == 0;
    ok(started == 8 && same, "every thread got the one token");
    is_num(s.fetches, 1, "fetched once");
    p11kms_tokcache_destroy(&c);
    pthread_mutex_destroy(&s.lock);
}

/* A forked child must not touch a cache it inherited (its lock may be held for good): whoever
 * keeps caches finds them by p11kms_tokcache_current and makes its own. */
static void test_fork(void)
{
    source s = {0};
    p11kms_tokcache c;
    int status = -1;
    pid_t pid;

    pthread_mutex_init(&s.lock, NULL);
    p11kms_tokcache_init(&c, "test", "token", ADVISORY, MANDATORY, fetch, &s);
    ok(p11kms_tokcache_current(&c), "a cache is current in the process that made it");
    fflush(stdout);
    pid = fork();
    if (pid == 0)
        _exit(p11kms_tokcache_current(&c) ? 1 : 0);
    ok(pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0,
       "a forked child sees its inherited cache as not current");
    ok(p11kms_tokcache_current(&c), "the parent's stays current");
    p11kms_tokcache_destroy(&c);
    pthread_mutex_destroy(&s.lock);
}

int main(void)
{
    test_start();
    logcap_start(P11KMS_LOG_WARNING);
    test_cred();
    test_margins();
    test_refresh_at();
    test_one_refresh();
    test_fork();
    return test_exit_code();
}
