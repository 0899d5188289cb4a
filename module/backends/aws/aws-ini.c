/* aws-ini.c - bounded reader for ~/.aws/credentials and ~/.aws/config (fuzzable: the parser
 * takes bytes, never a path). No state beyond the returned object; values wiped on free. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "aws-ini.h"
#include "log.h"
#include "secmem.h"

typedef struct ini_entry {
    size_t section; /* index into sections */
    char *key;
    char *value;
    size_t len; /* of value, up to its first NUL: continuations append there */
    size_t cap; /* bytes allocated for value */
} ini_entry;

struct p11kms_aws_ini {
    char **sections;
    size_t n_sections;
    size_t cap_sections;
    ini_entry *entries;
    size_t n;
    size_t cap;
};

static int is_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v';
}

static void trim(const char **s, const char **e)
{
    while (*s < *e && is_ws(**s))
        (*s)++;
    while (*e > *s && is_ws((*e)[-1]))
        (*e)--;
}

static char *dup_range(const char *s, const char *e)
{
    char *p = malloc((size_t)(e - s) + 1);

    if (p != NULL) {
        memcpy(p, s, (size_t)(e - s));
        p[e - s] = 0;
    }
    return p;
}

/* Section name with whitespace runs collapsed, so "[profile   dev]" finds "profile dev". */
static char *section_name(const char *s, const char *e)
{
    char *p = malloc((size_t)(e - s) + 1);
    size_t o = 0;
    int space = 0;

    if (p == NULL)
        return NULL;
    for (; s < e; s++) {
        if (is_ws(*s)) {
            space = 1;
            continue;
        }
        if (space && o > 0)
            p[o++] = ' ';
        space = 0;
        p[o++] = *s;
    }
    p[o] = 0;
    return p;
}

static CK_RV add_section(p11kms_aws_ini *ini, const char *s, const char *e, size_t *idx)
{
    char *name = section_name(s, e), **grown;
    size_t i;

    if (name == NULL)
        return CKR_HOST_MEMORY;
    for (i = 0; i < ini->n_sections; i++) {
        if (strcmp(ini->sections[i], name) == 0) {
            free(name);
            *idx = i;
            return CKR_OK;
        }
    }
    if (ini->n_sections >= P11KMS_AWS_INI_MAX_ENTRIES) {
        free(name);
        return CKR_ARGUMENTS_BAD;
    }
    if (ini->n_sections == ini->cap_sections) {
        size_t cap = ini->cap_sections ? ini->cap_sections * 2 : 8;

        grown = realloc(ini->sections, cap * sizeof(*grown));
        if (grown == NULL) {
            free(name);
            return CKR_HOST_MEMORY;
        }
        ini->sections = grown;
        ini->cap_sections = cap;
    }
    ini->sections[ini->n_sections] = name;
    *idx = ini->n_sections++;
    return CKR_OK;
}

static CK_RV add_entry(p11kms_aws_ini *ini, size_t section, const char *ks, const char *ke,
                       const char *vs, const char *ve)
{
    ini_entry *grown, *en;
    char *p;

    if (ini->n >= P11KMS_AWS_INI_MAX_ENTRIES)
        return CKR_ARGUMENTS_BAD;
    if ((size_t)(ve - vs) > P11KMS_AWS_INI_MAX_VALUE)
        return CKR_ARGUMENTS_BAD;
    if (ini->n == ini->cap) {
        size_t cap = ini->cap ? ini->cap * 2 : 16;

        /* entries hold pointers only, so realloc leaves no secret behind */
        grown = realloc(ini->entries, cap * sizeof(*grown));
        if (grown == NULL)
            return CKR_HOST_MEMORY;
        ini->entries = grown;
        ini->cap = cap;
    }
    en = &ini->entries[ini->n];
    en->section = section;
    en->key = dup_range(ks, ke);
    en->value = dup_range(vs, ve);
    if (en->key == NULL || en->value == NULL) {
        free(en->key);
        p11kms_secure_free(en->value, (size_t)(ve - vs) + 1);
        return CKR_HOST_MEMORY;
    }
    en->len = strlen(en->value);
    en->cap = (size_t)(ve - vs) + 1;
    for (p = en->key; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    ini->n++;
    return CKR_OK;
}

/* An indented line continues the previous value (configparser joins with a newline). The
 * value grows geometrically, so a long run of continuation lines costs linear time; a value
 * may hold secrets, so the old copy is wiped rather than realloc'd. */
static CK_RV continue_entry(p11kms_aws_ini *ini, const char *s, const char *e)
{
    ini_entry *en = &ini->entries[ini->n - 1];
    const char *nul = memchr(s, 0, (size_t)(e - s));
    size_t add = (size_t)((nul != NULL ? nul : e) - s), need, cap;
    char *v;

    if (add > P11KMS_AWS_INI_MAX_VALUE || en->len + 1 + add > P11KMS_AWS_INI_MAX_VALUE)
        return CKR_ARGUMENTS_BAD;
    need = en->len + 1 + add + 1;
    if (need > en->cap) {
        cap = en->cap * 2 > need ? en->cap * 2 : need;
        if (cap > P11KMS_AWS_INI_MAX_VALUE + 1)
            cap = P11KMS_AWS_INI_MAX_VALUE + 1;
        v = malloc(cap);
        if (v == NULL)
            return CKR_HOST_MEMORY;
        memcpy(v, en->value, en->len);
        p11kms_secure_free(en->value, en->cap);
        en->value = v;
        en->cap = cap;
    }
    en->value[en->len] = '\n';
    memcpy(en->value + en->len + 1, s, add);
    en->len += 1 + add;
    en->value[en->len] = 0;
    return CKR_OK;
}

/* The parser; on CKR_ARGUMENTS_BAD *why names the bound and *line where it was crossed. */
static CK_RV parse(const char *text, size_t len, p11kms_aws_ini **out, const char **why,
                   size_t *line)
{
    CK_RV rv = CKR_OK;
    p11kms_aws_ini *ini;
    const char *p = text, *end = text + len, *eol, *s, *e, *delim, *q;
    size_t section = 0;
    int have_section = 0, last_was_entry = 0;

    *out = NULL;
    *why = "is too large";
    *line = 0;
    if (len > P11KMS_AWS_INI_MAX_BYTES)
        return CKR_ARGUMENTS_BAD;
    ini = calloc(1, sizeof(*ini));
    if (ini == NULL)
        return CKR_HOST_MEMORY;
    for (; p < end && rv == CKR_OK; p = eol + 1) {
        (*line)++;
        eol = memchr(p, '\n', (size_t)(end - p));
        if (eol == NULL)
            eol = end;
        s = p;
        e = eol;
        trim(&s, &e);
        if (s == e || *s == '#' || *s == ';') {
            /* blank lines end a continuation, comments do not (configparser) */
            if (s == e)
                last_was_entry = 0;
        } else if (is_ws(*p) && last_was_entry && have_section) {
            *why = "holds a value that is too long";
            rv = continue_entry(ini, s, e);
        } else if (*s == '[') {
            q = memchr(s, ']', (size_t)(e - s));
            last_was_entry = 0;
            if (q != NULL && q > s + 1) {
                const char *ns = s + 1, *ne = q;

                trim(&ns, &ne);
                if (ns < ne) {
                    *why = "has too many sections";
                    rv = add_section(ini, ns, ne, &section);
                    have_section = 1;
                }
            }
        } else {
            delim = NULL;
            for (q = s; q < e; q++)
                if (*q == '=' || *q == ':') {
                    delim = q;
                    break;
                }
            last_was_entry = 0;
            if (delim != NULL && delim > s && have_section) {
                const char *ks = s, *ke = delim, *vs = delim + 1, *ve = e;

                trim(&ks, &ke);
                trim(&vs, &ve);
                if (ks < ke) {
                    *why = ini->n >= P11KMS_AWS_INI_MAX_ENTRIES ? "has too many entries"
                                                                : "holds a value that is too long";
                    rv = add_entry(ini, section, ks, ke, vs, ve);
                    last_was_entry = 1;
                }
            }
        }
        if (eol == end)
            break;
    }
    if (rv != CKR_OK) {
        p11kms_aws_ini_free(ini);
        return rv;
    }
    *out = ini;
    return CKR_OK;
}

CK_RV p11kms_aws_ini_parse(const char *text, size_t len, p11kms_aws_ini **out)
{
    const char *why;
    size_t line;

    return parse(text, len, out, &why, &line);
}

CK_RV p11kms_aws_ini_load(const char *path, p11kms_aws_ini **out)
{
    CK_RV rv = CKR_ARGUMENTS_BAD;
    struct stat st;
    char *buf = NULL;
    const char *why;
    size_t got = 0, line;
    ssize_t n;
    int fd;

    *out = NULL;
    memset(&st, 0, sizeof(st));
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT || errno == ENOTDIR)
            return CKR_OK;
        LOG_E("aws: cannot read %s: %s", path, strerror(errno));
        return CKR_ARGUMENTS_BAD;
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
        (unsigned long long)st.st_size > P11KMS_AWS_INI_MAX_BYTES) {
        LOG_E("aws: %s is not a regular file of at most %u bytes", path, P11KMS_AWS_INI_MAX_BYTES);
        goto out;
    }
    buf = malloc((size_t)st.st_size + 1);
    if (buf == NULL) {
        rv = CKR_HOST_MEMORY;
        goto out;
    }
    while (got < (size_t)st.st_size) {
        n = read(fd, buf + got, (size_t)st.st_size - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    rv = parse(buf, got, out, &why, &line);
    if (rv == CKR_ARGUMENTS_BAD)
        LOG_E("aws: %s %s (line %zu; at most %u sections, %u entries, %u bytes a value)", path, why,
              line, P11KMS_AWS_INI_MAX_ENTRIES, P11KMS_AWS_INI_MAX_ENTRIES,
              P11KMS_AWS_INI_MAX_VALUE);
out:
    p11kms_secure_free(buf, (size_t)st.st_size + 1);
    close(fd);
    return rv;
}

const char *p11kms_aws_ini_get(const p11kms_aws_ini *ini, const char *section, const char *key)
{
    size_t i;

    if (ini == NULL)
        return NULL;
    for (i = ini->n; i-- > 0;) {
        const ini_entry *en = &ini->entries[i];

        if (strcmp(en->key, key) == 0 && strcmp(ini->sections[en->section], section) == 0)
            return en->value;
    }
    return NULL;
}

int p11kms_aws_ini_has_section(const p11kms_aws_ini *ini, const char *section)
{
    size_t i;

    if (ini == NULL)
        return 0;
    for (i = 0; i < ini->n_sections; i++)
        if (strcmp(ini->sections[i], section) == 0)
            return 1;
    return 0;
}

void p11kms_aws_ini_free(p11kms_aws_ini *ini)
{
    size_t i;

    if (ini == NULL)
        return;
    for (i = 0; i < ini->n; i++) {
        free(ini->entries[i].key);
        p11kms_secure_free(ini->entries[i].value, ini->entries[i].cap);
    }
    for (i = 0; i < ini->n_sections; i++)
        free(ini->sections[i]);
    free(ini->entries);
    free(ini->sections);
    free(ini);
}
