/* keys.c - the secret keys a token shows, their attributes (with the p11kms vendor ones that
 * mark KMS keys), and choosing one key by label, by RFC 7512 URI, or as the only usable one. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <p11-kit/uri.h>
#include "p11.h"

#define MAX_KEYS_PER_TOKEN 65536

CK_RV tool_attr_alloc(tool_p11 *p, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE h, CK_ATTRIBUTE_TYPE type,
                      uint8_t **out, size_t *out_len)
{
    CK_ATTRIBUTE a = {type, NULL, 0};
    CK_RV rv;

    *out = NULL;
    *out_len = 0;
    rv = p->f->C_GetAttributeValue(s, h, &a, 1);
    if (rv != CKR_OK)
        return rv;
    if (a.ulValueLen == CK_UNAVAILABLE_INFORMATION || a.ulValueLen > 1024 * 1024)
        return CKR_ATTRIBUTE_TYPE_INVALID;
    a.pValue = malloc(a.ulValueLen + 1);
    if (a.pValue == NULL)
        return CKR_HOST_MEMORY;
    rv = p->f->C_GetAttributeValue(s, h, &a, 1);
    if (rv != CKR_OK) {
        free(a.pValue);
        return rv;
    }
    ((uint8_t *)a.pValue)[a.ulValueLen] = 0;
    *out = a.pValue;
    *out_len = a.ulValueLen;
    return CKR_OK;
}

static int read_key(tool_p11 *p, tool_slot *s, CK_OBJECT_HANDLE h, tool_key *k)
{
    CK_ATTRIBUTE fixed[] = {
        {CKA_KEY_TYPE, &k->key_type, sizeof(k->key_type)},
        {CKA_WRAP, &k->wrap, sizeof(k->wrap)},
        {CKA_UNWRAP, &k->unwrap, sizeof(k->unwrap)},
        {CKA_ENCRYPT, &k->encrypt, sizeof(k->encrypt)},
        {CKA_DECRYPT, &k->decrypt, sizeof(k->decrypt)},
        {CKA_EXTRACTABLE, &k->extractable, sizeof(k->extractable)},
    };
    CK_ULONG version = 0;
    CK_ATTRIBUTE ver = {CKA_P11KMS_KEY_VERSION, &version, sizeof(version)};
    uint8_t *v;
    size_t len, i;

    memset(k, 0, sizeof(*k));
    k->slot = s;
    k->handle = h;
    k->key_type = CKK_VENDOR_DEFINED;
    /* Every attribute is filled or marked unavailable, whatever the call returns. */
    p->f->C_GetAttributeValue(s->session, h, fixed, sizeof(fixed) / sizeof(fixed[0]));
    for (i = 1; i < sizeof(fixed) / sizeof(fixed[0]); i++)
        if (fixed[i].ulValueLen != sizeof(CK_BBOOL))
            *(CK_BBOOL *)fixed[i].pValue = CK_FALSE;
    if (fixed[0].ulValueLen != sizeof(CK_KEY_TYPE))
        k->key_type = CKK_VENDOR_DEFINED;

    if (tool_attr_alloc(p, s->session, h, CKA_LABEL, &v, &len) == CKR_OK)
        k->label = (char *)v;
    else
        k->label = strdup("");
    if (tool_attr_alloc(p, s->session, h, CKA_ID, &k->id, &k->id_len) != CKR_OK) {
        k->id = NULL;
        k->id_len = 0;
    }
    if (tool_attr_alloc(p, s->session, h, CKA_P11KMS_BACKEND, &v, &len) == CKR_OK) {
        k->is_kms = 1;
        k->backend = (char *)v;
        if (tool_attr_alloc(p, s->session, h, CKA_P11KMS_KEY_ID, &v, &len) == CKR_OK)
            k->kms_key_id = (char *)v;
        if (p->f->C_GetAttributeValue(s->session, h, &ver, 1) == CKR_OK &&
            ver.ulValueLen == sizeof(version))
            k->version = version;
        if (tool_attr_alloc(p, s->session, h, CKA_P11KMS_DEFAULT_CONTEXT, &k->default_ctx,
                            &k->default_ctx_len) != CKR_OK)
            k->default_ctx = NULL;
    }
    return k->label != NULL ? 0 : -1;
}

int tool_p11_keys_load(tool_p11 *p, tool_slot *s)
{
    CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
    CK_ATTRIBUTE tmpl = {CKA_CLASS, &cls, sizeof(cls)};
    CK_OBJECT_HANDLE handles[64];
    CK_ULONG n, i;
    size_t found = 0;
    tool_key *grown;
    CK_RV rv;
    int ret = -1;

    rv = p->f->C_FindObjectsInit(s->session, &tmpl, 1);
    if (rv != CKR_OK) {
        tool_err("cannot search token \"%s\": %s", s->label, tool_rv_text(rv));
        return -1;
    }
    for (;;) {
        rv = p->f->C_FindObjects(s->session, handles, 64, &n);
        if (rv != CKR_OK) {
            tool_err("cannot search token \"%s\": %s", s->label, tool_rv_text(rv));
            goto out;
        }
        if (n == 0)
            break;
        if (found + n > MAX_KEYS_PER_TOKEN) {
            tool_err("token \"%s\" holds too many keys", s->label);
            goto out;
        }
        grown = realloc(p->keys, (p->n_keys + n) * sizeof(*p->keys));
        if (grown == NULL) {
            tool_err("out of memory");
            goto out;
        }
        p->keys = grown;
        for (i = 0; i < n; i++) {
            if (read_key(p, s, handles[i], &p->keys[p->n_keys]) != 0) {
                tool_err("out of memory");
                goto out;
            }
            p->n_keys++;
        }
        found += n;
    }
    ret = 0;
out:
    p->f->C_FindObjectsFinal(s->session);
    return ret;
}

int tool_key_usable(const tool_key *k, unsigned need)
{
    if (!k->is_kms && k->key_type != CKK_AES)
        return 0;
    if ((need & TOOL_NEED_WRAP) && !k->wrap)
        return 0;
    if ((need & TOOL_NEED_UNWRAP) && !k->unwrap)
        return 0;
    return 1;
}

const char *tool_key_name(const tool_key *k)
{
    static char buf[160];
    size_t i, off;

    if (k->label[0] != 0) {
        snprintf(buf, sizeof(buf), "\"%.100s\" on token \"%s\"", k->label, k->slot->label);
        return buf;
    }
    off = (size_t)snprintf(buf, sizeof(buf), "id=");
    for (i = 0; i < k->id_len && off + 3 < 60; i++)
        off += (size_t)snprintf(buf + off, sizeof(buf) - off, "%02x", k->id[i]);
    snprintf(buf + off, sizeof(buf) - off, " on token \"%s\"", k->slot->label);
    return buf;
}

static int uri_matches(P11KitUri *uri, const tool_key *k)
{
    CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
    CK_ATTRIBUTE attrs[] = {
        {CKA_CLASS, &cls, sizeof(cls)},
        {CKA_LABEL, k->label, strlen(k->label)},
        {CKA_ID, k->id, k->id_len},
    };

    return p11_kit_uri_match_token_info(uri, &k->slot->info) &&
           p11_kit_uri_match_attributes(uri, attrs, 3);
}

static void list_names(tool_key **keys, size_t n, char *buf, size_t size)
{
    size_t i, off = 0;

    buf[0] = 0;
    for (i = 0; i < n && off + 1 < size; i++)
        off +=
            (size_t)snprintf(buf + off, size - off, "%s%s", i ? ", " : "", tool_key_name(keys[i]));
}

static const char *login_hint(const tool_p11 *p)
{
    size_t i;

    for (i = 0; i < p->n_slots; i++)
        if (p->slots[i].login_missing)
            return " (a token needs a login: give its PIN with --pin-file or P11KMS_PIN)";
    return "";
}

int tool_key_select(tool_p11 *p, const char *spec, unsigned need, tool_key **out)
{
    P11KitUri *uri = NULL;
    tool_key **match = NULL, **usable = NULL;
    size_t n_match = 0, n_usable = 0, n_kms = 0, i;
    const char *what = need & TOOL_NEED_WRAP ? "wrap" : "unwrap";
    char names[512];
    int r, ret = -1;

    *out = NULL;
    match = calloc(p->n_keys + 1, sizeof(*match));
    usable = calloc(p->n_keys + 1, sizeof(*usable));
    if (match == NULL || usable == NULL) {
        tool_err("out of memory");
        goto out;
    }
    if (spec != NULL && strncmp(spec, "pkcs11:", 7) == 0) {
        uri = p11_kit_uri_new();
        r = uri ? p11_kit_uri_parse(spec, P11_KIT_URI_FOR_ANY, uri) : P11_KIT_URI_NO_MEMORY;
        if (r != P11_KIT_URI_OK) {
            tool_err("--key: not a valid pkcs11: URI: %s", p11_kit_uri_message(r));
            goto out;
        }
    }
    for (i = 0; i < p->n_keys; i++) {
        tool_key *k = &p->keys[i];

        if (uri != NULL ? !uri_matches(uri, k) : spec != NULL && strcmp(spec, k->label) != 0)
            continue;
        match[n_match++] = k;
        if (tool_key_usable(k, need)) {
            usable[n_usable++] = k;
            n_kms += k->is_kms ? 1 : 0;
        }
    }
    /* Without --key, KMS keys are what the user means; plain AES keys are the fallback. */
    if (spec == NULL && n_kms > 0 && n_kms < n_usable) {
        size_t j = 0;

        for (i = 0; i < n_usable; i++)
            if (usable[i]->is_kms)
                usable[j++] = usable[i];
        n_usable = j;
    }
    if (n_usable == 1) {
        *out = usable[0];
        ret = 0;
    } else if (n_usable > 1) {
        list_names(usable, n_usable, names, sizeof(names));
        if (spec == NULL)
            tool_err("several keys can %s: %s; choose one with --key", what, names);
        else
            tool_err("--key %s matches several keys: %s; use a pkcs11: URI with token= and id=",
                     spec, names);
    } else if (n_match > 0) {
        tool_err("key %s cannot %s data keys (CKA_%s is false, or not an AES or KMS key)",
                 tool_key_name(match[0]), what, need & TOOL_NEED_WRAP ? "WRAP" : "UNWRAP");
    } else if (spec != NULL) {
        tool_err("no key matches --key %s%s", spec, login_hint(p));
    } else {
        tool_err("no key can %s data keys%s", what, login_hint(p));
    }
out:
    if (uri != NULL)
        p11_kit_uri_free(uri);
    free(match);
    free(usable);
    return ret;
}

char *tool_key_uri(const tool_p11 *p, const tool_key *k)
{
    P11KitUri *uri = p11_kit_uri_new();
    CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
    CK_ATTRIBUTE label = {CKA_LABEL, k->label, strlen(k->label)};
    CK_ATTRIBUTE id = {CKA_ID, k->id, k->id_len};
    CK_ATTRIBUTE type = {CKA_CLASS, &cls, sizeof(cls)};
    CK_TOKEN_INFO *ti;
    char *text = NULL;

    if (uri == NULL)
        return NULL;
    ti = p11_kit_uri_get_token_info(uri);
    memcpy(ti->label, k->slot->info.label, sizeof(ti->label));
    memcpy(ti->manufacturerID, k->slot->info.manufacturerID, sizeof(ti->manufacturerID));
    memcpy(ti->model, k->slot->info.model, sizeof(ti->model));
    memcpy(ti->serialNumber, k->slot->info.serialNumber, sizeof(ti->serialNumber));
    if (k->label[0] != 0)
        p11_kit_uri_set_attribute(uri, &label);
    if (k->id_len > 0)
        p11_kit_uri_set_attribute(uri, &id);
    p11_kit_uri_set_attribute(uri, &type);
    if (p11_kit_uri_format(uri, P11_KIT_URI_FOR_OBJECT_ON_TOKEN, &text) != P11_KIT_URI_OK)
        text = NULL;
    p11_kit_uri_free(uri);
    return text;
}
