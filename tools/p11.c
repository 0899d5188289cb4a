/* p11.c - loading a PKCS#11 module (C_GetInterface, else C_GetFunctionList), initialising it,
 * and one session per token, logged in when a PIN is available. */
/* Only the main thread calls the module, so nothing here locks. */
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>
#include <p11-kit/uri.h>
#include "p11.h"

#define PIN_MAX 256

/* Load and C_Initialize. */
static int load(const char *module, tool_p11 **out)
{
    CK_C_INITIALIZE_ARGS args = {NULL, NULL, NULL, NULL, CKF_OS_LOCKING_OK, NULL};
    CK_C_GetInterface get_interface;
    CK_C_GetFunctionList get_list;
    CK_INTERFACE_PTR iface = NULL;
    tool_p11 *p;
    CK_RV rv;

    *out = NULL;
    p = calloc(1, sizeof(*p));
    if (p == NULL) {
        tool_err("out of memory");
        return -1;
    }
    p->dl = dlopen(module, RTLD_NOW | RTLD_LOCAL);
    if (p->dl == NULL) {
        tool_err("cannot load the PKCS#11 module: %s", dlerror()); /* it names the file */
        goto fail;
    }
    /* PKCS#11 3.0 modules offer interfaces; the 2.x function list is the fallback. Both lists
     * begin with the same 2.x functions, which are all the tool calls. */
    get_interface = (CK_C_GetInterface)dlsym(p->dl, "C_GetInterface");
    if (get_interface != NULL &&
        get_interface((CK_UTF8CHAR_PTR) "PKCS 11", NULL, &iface, 0) == CKR_OK && iface != NULL)
        p->f = (CK_FUNCTION_LIST *)iface->pFunctionList;
    if (p->f == NULL) {
        get_list = (CK_C_GetFunctionList)dlsym(p->dl, "C_GetFunctionList");
        if (get_list == NULL || get_list(&p->f) != CKR_OK || p->f == NULL) {
            tool_err("%s is not a PKCS#11 module (no C_GetInterface or C_GetFunctionList)", module);
            goto fail;
        }
    }
    rv = p->f->C_Initialize(&args);
    if (rv != CKR_OK && rv != CKR_CRYPTOKI_ALREADY_INITIALIZED) {
        tool_err("cannot initialise the PKCS#11 module %s: %s%s", module, tool_rv_text(rv),
                 rv == CKR_ARGUMENTS_BAD ? "; 'p11kms doctor' checks the configuration" : "");
        goto fail;
    }
    p->initialized = rv == CKR_OK;
    if (p->f->C_GetInfo(&p->info) != CKR_OK)
        memset(&p->info, 0, sizeof(p->info));
    *out = p;
    return 0;
fail:
    tool_p11_close(p);
    return -1;
}

static void free_key(tool_key *k)
{
    free(k->label);
    free(k->id);
    free(k->backend);
    free(k->kms_key_id);
    free(k->default_ctx);
}

void tool_p11_close(tool_p11 *p)
{
    size_t i;

    if (p == NULL)
        return;
    for (i = 0; i < p->n_keys; i++)
        free_key(&p->keys[i]);
    free(p->keys);
    if (p->f != NULL) {
        for (i = 0; i < p->n_slots; i++) {
            if (p->slots[i].logged_in)
                p->f->C_Logout(p->slots[i].session);
            p->f->C_CloseSession(p->slots[i].session);
        }
        if (p->initialized)
            p->f->C_Finalize(NULL);
    }
    free(p->slots);
    /* The module stays mapped: the tool exits right after, and unmapping it would orphan what
     * it keeps for the process's lifetime (OpenSSL objects it fetched once). */
    free(p);
}

/* A token label or URI given with --token, or the token part of a key URI. */
static int token_matches(P11KitUri *uri, const char *label, const tool_slot *s)
{
    if (uri != NULL)
        return p11_kit_uri_match_token_info(uri, (CK_TOKEN_INFO *)&s->info);
    return label == NULL || strcmp(label, s->label) == 0;
}

static void trim_label(char *dst, const CK_UTF8CHAR *src, size_t n)
{
    memcpy(dst, src, n);
    dst[n] = 0;
    while (n > 0 && dst[n - 1] == ' ')
        dst[--n] = 0;
}

/* The first line of a file, without its newline; a secret. */
static char *read_pin_file(const char *path)
{
    char buf[PIN_MAX + 2], *nl, *pin = NULL;
    FILE *f;

    if (strncmp(path, "file:", 5) == 0)
        path += 5;
    f = fopen(path, "r");
    if (f == NULL) {
        tool_err("cannot read the PIN file %s: %s", path, strerror(errno));
        return NULL;
    }
    if (fgets(buf, sizeof(buf), f) == NULL)
        buf[0] = 0;
    fclose(f);
    nl = strpbrk(buf, "\r\n");
    if (nl != NULL)
        *nl = 0;
    if (strlen(buf) > PIN_MAX)
        tool_err("the PIN in %s is longer than %d bytes", path, PIN_MAX);
    else
        pin = strdup(buf);
    OPENSSL_cleanse(buf, sizeof(buf));
    return pin;
}

/* A PIN the URI carries: pin-value, else the file pin-source names. 1 found, 0 none, -1 error. */
static int uri_pin(P11KitUri *uri, char **pin)
{
    const char *v;

    if (uri == NULL)
        return 0;
    if ((v = p11_kit_uri_get_pin_value(uri)) != NULL)
        *pin = strdup(v);
    else if ((v = p11_kit_uri_get_pin_source(uri)) != NULL)
        *pin = read_pin_file(v);
    else
        return 0;
    return *pin != NULL ? 1 : -1;
}

/* PIN sources, first found wins: the key URI, the token URI, --pin-file, $P11KMS_PIN.
 * *pin is NULL when none is given; -1 when a given source cannot be read. */
static int find_pin(const tool_common *c, P11KitUri *key_uri, P11KitUri *token_uri, char **pin)
{
    const char *v;
    int r;

    *pin = NULL;
    if ((r = uri_pin(key_uri, pin)) != 0 || (r = uri_pin(token_uri, pin)) != 0)
        return r > 0 ? 0 : -1;
    if (c->pin_file != NULL) {
        *pin = read_pin_file(c->pin_file);
        return *pin != NULL ? 0 : -1;
    }
    if ((v = getenv("P11KMS_PIN")) != NULL) {
        *pin = strdup(v);
        return *pin != NULL ? 0 : -1;
    }
    return 0;
}

static P11KitUri *parse_uri(const char *text, const char *what)
{
    P11KitUri *uri = p11_kit_uri_new();
    int r;

    if (uri == NULL) {
        tool_err("out of memory");
        return NULL;
    }
    r = p11_kit_uri_parse(text, P11_KIT_URI_FOR_ANY, uri);
    if (r != P11_KIT_URI_OK) {
        tool_err("%s: not a valid pkcs11: URI: %s", what, p11_kit_uri_message(r));
        p11_kit_uri_free(uri);
        return NULL;
    }
    return uri;
}

static int is_uri(const char *s)
{
    return s != NULL && strncmp(s, "pkcs11:", 7) == 0;
}

static int open_slot(tool_p11 *p, tool_slot *s, const char *pin)
{
    CK_RV rv;

    rv = p->f->C_OpenSession(s->id, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &s->session);
    if (rv == CKR_TOKEN_WRITE_PROTECTED)
        rv = p->f->C_OpenSession(s->id, CKF_SERIAL_SESSION, NULL, NULL, &s->session);
    if (rv != CKR_OK) {
        tool_err("cannot open a session on token \"%s\": %s", s->label, tool_rv_text(rv));
        return -1;
    }
    if (!(s->info.flags & CKF_LOGIN_REQUIRED))
        return 0;
    if (pin == NULL) {
        s->login_missing = 1;
        return 0;
    }
    rv = p->f->C_Login(s->session, CKU_USER, (CK_UTF8CHAR_PTR)pin, (CK_ULONG)strlen(pin));
    if (rv != CKR_OK && rv != CKR_USER_ALREADY_LOGGED_IN) {
        tool_err("cannot log in to token \"%s\": %s", s->label, tool_rv_text(rv));
        return -1;
    }
    s->logged_in = rv == CKR_OK;
    return 0;
}

int tool_p11_open(const tool_common *c, const char *key_spec, tool_p11 **out)
{
    P11KitUri *token_uri = NULL, *key_uri = NULL;
    CK_SLOT_ID *ids = NULL;
    CK_ULONG n = 0, i;
    CK_RV rv;
    tool_p11 *p = NULL;
    char *pin = NULL;
    int ret = -1;

    *out = NULL;
    if (is_uri(c->token) && (token_uri = parse_uri(c->token, "--token")) == NULL)
        goto out;
    if (is_uri(key_spec) && (key_uri = parse_uri(key_spec, "--key")) == NULL)
        goto out;
    if (find_pin(c, key_uri, token_uri, &pin) != 0)
        goto out;
    if (load(c->module, &p) != 0)
        goto out;

    rv = p->f->C_GetSlotList(CK_TRUE, NULL, &n);
    if (rv == CKR_OK && n > 0) {
        ids = calloc(n, sizeof(*ids));
        p->slots = calloc(n, sizeof(*p->slots));
        if (ids == NULL || p->slots == NULL) {
            tool_err("out of memory");
            goto out;
        }
        rv = p->f->C_GetSlotList(CK_TRUE, ids, &n);
    }
    if (rv != CKR_OK) {
        tool_err("cannot list the module's slots: %s", tool_rv_text(rv));
        goto out;
    }
    for (i = 0; i < n; i++) {
        tool_slot *s = &p->slots[p->n_slots];

        s->id = ids[i];
        if (p->f->C_GetTokenInfo(ids[i], &s->info) != CKR_OK)
            continue;
        /* A free slot (SoftHSM's, say) shows an uninitialised token nobody can open. */
        if (!(s->info.flags & CKF_TOKEN_INITIALIZED))
            continue;
        trim_label(s->label, s->info.label, sizeof(s->info.label));
        if (!token_matches(token_uri, is_uri(c->token) ? NULL : c->token, s))
            continue;
        if (key_uri != NULL && !p11_kit_uri_match_token_info(key_uri, &s->info))
            continue;
        if (open_slot(p, s, pin) != 0)
            goto out;
        p->n_slots++;
        if (tool_p11_keys_load(p, s) != 0)
            goto out;
    }
    if (p->n_slots == 0) {
        if (c->token != NULL)
            tool_err("no token matches --token %s", c->token);
        else
            tool_err("the module %s has no token: is it configured (P11KMS_CONFIG, KMS_KEY_ID)? "
                     "'p11kms doctor' checks",
                     c->module);
        goto out;
    }
    *out = p;
    p = NULL;
    ret = 0;
out:
    tool_p11_close(p);
    free(ids);
    if (pin != NULL) {
        OPENSSL_cleanse(pin, strlen(pin));
        free(pin);
    }
    if (token_uri != NULL)
        p11_kit_uri_free(token_uri);
    if (key_uri != NULL)
        p11_kit_uri_free(key_uri);
    return ret;
}
