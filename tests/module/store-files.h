/* store-files.h - for tests of the object store: the object files of a store directory, their
 * bytes, and the objects a session finds. Include after tests/module/p11.h. */
#ifndef P11KMS_TEST_STORE_FILES_H
#define P11KMS_TEST_STORE_FILES_H

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#define SF_NAME 40  /* "<32 hex>.obj" and the NUL */
#define SF_MAX 1024 /* object files a listing holds */
#define SF_FILE_MAX (256 * 1024)

static int sf_cmp(const void *a, const void *b)
{
    return strcmp(a, b);
}

/* The object files of dir ("<32 hex>.obj"), sorted; how many (-1: no directory). */
static inline int sf_list(const char *dir, char names[][SF_NAME], int max)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;

    if (d == NULL)
        return -1;
    while ((e = readdir(d)) != NULL && n < max) {
        size_t len = strlen(e->d_name);
        if (len == 36 && strcmp(e->d_name + 32, ".obj") == 0 &&
            strspn(e->d_name, "0123456789abcdef") == 32)
            snprintf(names[n++], SF_NAME, "%s", e->d_name);
    }
    closedir(d);
    qsort(names, (size_t)n, SF_NAME, sf_cmp);
    return n;
}

/* Entries of dir that are writers' temporary files (a leading dot and ".tmp."). */
static inline int sf_temp_files(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;

    if (d == NULL)
        return 0;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] == '.' && strstr(e->d_name, ".tmp.") != NULL)
            n++;
    closedir(d);
    return n;
}

/* The one file of `after` that `before` lacks ("" when not exactly one). */
static inline const char *sf_new_file(char before[][SF_NAME], int nb, char after[][SF_NAME], int na)
{
    static char found[SF_NAME];
    int i, j, n = 0;

    found[0] = '\0';
    for (i = 0; i < na; i++) {
        for (j = 0; j < nb && strcmp(after[i], before[j]) != 0; j++)
            ;
        if (j == nb) {
            memcpy(found, after[i], SF_NAME);
            found[SF_NAME - 1] = '\0';
            n++;
        }
    }
    if (n != 1)
        found[0] = '\0';
    return found;
}

static inline const char *sf_path(const char *dir, const char *name)
{
    static char p[4][600];
    static int i;

    i = (i + 1) % 4;
    snprintf(p[i], sizeof(p[i]), "%s/%s", dir, name);
    return p[i];
}

/* The bytes of a file into buf (cap bytes); its length, -1 on failure. */
static inline long sf_read(const char *path, uint8_t *buf, size_t cap)
{
    FILE *f = fopen(path, "rb");
    size_t n;

    if (f == NULL)
        return -1;
    n = fread(buf, 1, cap, f);
    fclose(f);
    return (long)n;
}

/* Replace a file's bytes the way an attacker with write access would (a new inode, as an
 * editor or cp to a new name and mv do). 0 on success. */
static inline int sf_write(const char *path, const uint8_t *buf, size_t len)
{
    char tmp[700];
    FILE *f;

    snprintf(tmp, sizeof(tmp), "%s.attacker", path);
    f = fopen(tmp, "wb");
    if (f == NULL)
        return -1;
    if (len > 0 && fwrite(buf, 1, len, f) != len) {
        fclose(f);
        return -1;
    }
    if (fclose(f) != 0)
        return -1;
    return rename(tmp, path);
}

/* Offsets in an object file (docs/store.md): the attributes start at 48, their length is the u32
 * at 44; each is u32 type, u32 length, value. */
#define SF_HEADER 48

static inline uint32_t sf_u32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Bytes before the sealed parts: header and attributes. */
static inline long sf_prefix_len(const uint8_t *f)
{
    return SF_HEADER + (long)sf_u32(f + 44);
}

/* Offset of attribute type's value in file f (len bytes), or -1. */
static inline long sf_attr_at(const uint8_t *f, long len, CK_ATTRIBUTE_TYPE type)
{
    long at = SF_HEADER, end = sf_prefix_len(f);

    if (len < SF_HEADER || end > len)
        return -1;
    while (at + 8 <= end) {
        if (sf_u32(f + at) == type)
            return at + 8;
        at += 8 + (long)sf_u32(f + at + 4);
    }
    return -1;
}

/* How many objects with this label s finds. */
static inline CK_ULONG sf_count_label(CK_SESSION_HANDLE s, const char *label)
{
    CK_ATTRIBUTE t = {CKA_LABEL, (void *)label, strlen(label)};
    CK_OBJECT_HANDLE h[16];
    CK_ULONG n = 0;

    if (p11->C_FindObjectsInit(s, &t, 1) != CKR_OK)
        return (CK_ULONG)-1;
    p11->C_FindObjects(s, h, 16, &n);
    p11->C_FindObjectsFinal(s);
    return n;
}

/* A token data key: AES, len bytes, with the given sensitivity and label. */
static inline CK_RV sf_token_key(CK_SESSION_HANDLE s, const char *label, CK_ULONG len,
                                 CK_BBOOL sensitive, CK_BBOOL extractable, CK_OBJECT_HANDLE *h)
{
    CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
    CK_KEY_TYPE kt = CKK_AES;
    CK_BBOOL yes = CK_TRUE;
    CK_ATTRIBUTE t[] = {
        {CKA_CLASS, &cls, sizeof(cls)},
        {CKA_KEY_TYPE, &kt, sizeof(kt)},
        {CKA_VALUE_LEN, &len, sizeof(len)},
        {CKA_TOKEN, &yes, sizeof(yes)},
        {CKA_SENSITIVE, &sensitive, sizeof(sensitive)},
        {CKA_EXTRACTABLE, &extractable, sizeof(extractable)},
        {CKA_LABEL, (void *)label, strlen(label)},
    };
    CK_MECHANISM m = {CKM_AES_KEY_GEN, NULL, 0};

    *h = CK_INVALID_HANDLE;
    return p11->C_GenerateKey(s, &m, t, sizeof(t) / sizeof(t[0]), h);
}

/* A token data object with a value. */
static inline CK_RV sf_token_data(CK_SESSION_HANDLE s, const char *label, const void *value,
                                  CK_ULONG len, CK_OBJECT_HANDLE *h)
{
    CK_OBJECT_CLASS cls = CKO_DATA;
    CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
    CK_ATTRIBUTE t[] = {
        {CKA_CLASS, &cls, sizeof(cls)},  {CKA_TOKEN, &yes, sizeof(yes)},
        {CKA_PRIVATE, &no, sizeof(no)},  {CKA_LABEL, (void *)label, strlen(label)},
        {CKA_VALUE, (void *)value, len},
    };

    *h = CK_INVALID_HANDLE;
    return p11->C_CreateObject(s, t, sizeof(t) / sizeof(t[0]), h);
}

/* AES-GCM encrypt (or decrypt) with key h and a fixed IV; CKR of the operation. */
static inline CK_RV sf_gcm(CK_SESSION_HANDLE s, int encrypt, CK_OBJECT_HANDLE h, const uint8_t *in,
                           CK_ULONG len, uint8_t *out, CK_ULONG *out_len)
{
    static uint8_t iv[12] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
    CK_GCM_PARAMS gp = {iv, sizeof(iv), 96, NULL, 0, 128};
    CK_MECHANISM m = {CKM_AES_GCM, &gp, sizeof(gp)};

    return p11_crypt(s, encrypt, &m, h, in, len, out, out_len);
}

#endif
