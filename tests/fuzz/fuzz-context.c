/* fuzz-context.c - fuzz target for encryption contexts. The first byte picks the entry point:
 * canonical decode (must re-encode to the input), "k=v" text, or CK_P11KMS_ENVELOPE_PARAMS
 * pairs cut from the input (the merged result must hold every given pair). */
#include <string.h>
#include "context.h"
#include "tests/fuzz/fuzz.h"

static void fuzz_decode(const uint8_t *data, size_t size)
{
    p11kms_context *c = NULL;
    CK_MECHANISM m = {CKM_P11KMS_ENVELOPE_ENCODED, (CK_VOID_PTR)data, size};
    uint8_t *enc = NULL;
    size_t len = 0;

    if (p11kms_context_from_mechanism(&m, NULL, &c) != CKR_OK)
        return;
    if (size > 0) {
        FUZZ_ASSERT(p11kms_context_encode(c, &enc, &len) == CKR_OK);
        FUZZ_ASSERT(len == size && memcmp(enc, data, size) == 0);
        free(enc);
    }
    p11kms_context_free(c);
}

static void fuzz_text(const uint8_t *data, size_t size)
{
    p11kms_context *c = NULL;
    char *text = malloc(size + 1);

    FUZZ_ASSERT(text != NULL);
    memcpy(text, data, size);
    text[size] = '\0';
    if (p11kms_context_parse_text(text, &c) == CKR_OK)
        FUZZ_ASSERT(p11kms_context_encoded_len(c) <= P11KMS_CONTEXT_MAX_ENCODED);
    p11kms_context_free(c);
    free(text);
}

/* Input: flags byte, then pairs as [klen u8][key][vlen u8][value] while bytes last. */
static void fuzz_params(const uint8_t *data, size_t size)
{
    static const char *const dkv[] = {"app", "billing", "a", ""};
    CK_P11KMS_CONTEXT_PAIR pairs[80];
    CK_P11KMS_ENVELOPE_PARAMS p = {P11KMS_ENVELOPE_PARAMS_VERSION, pairs, 0, 0};
    CK_MECHANISM m = {CKM_P11KMS_ENVELOPE, &p, sizeof(p)};
    p11kms_context *deflt = NULL, *c = NULL;
    size_t off = 1, i, kl, vl;

    if (size < 1)
        return;
    p.flags = data[0] & 0x3; /* bit 1 is unknown and must be refused */
    while (p.ulContextCount < 80 && size - off >= 2) {
        kl = data[off++];
        if (size - off < kl + 1)
            break;
        pairs[p.ulContextCount].pKey = (CK_UTF8CHAR_PTR)(data + off);
        pairs[p.ulContextCount].ulKeyLen = kl;
        off += kl;
        vl = data[off++];
        if (size - off < vl)
            break;
        pairs[p.ulContextCount].pValue = (CK_UTF8CHAR_PTR)(data + off);
        pairs[p.ulContextCount].ulValueLen = vl;
        off += vl;
        p.ulContextCount++;
    }
    FUZZ_ASSERT(p11kms_context_new(&deflt) == CKR_OK);
    for (i = 0; i < 2; i++)
        p11kms_context_add(deflt, dkv[2 * i], strlen(dkv[2 * i]), dkv[2 * i + 1],
                           strlen(dkv[2 * i + 1]), 0);
    if (p11kms_context_from_mechanism(&m, deflt, &c) == CKR_OK) {
        FUZZ_ASSERT((p.flags & 2) == 0);
        for (i = 0; i < p.ulContextCount; i++) {
            char *k = malloc(pairs[i].ulKeyLen + 1);
            const char *v;
            memcpy(k, pairs[i].pKey, pairs[i].ulKeyLen);
            k[pairs[i].ulKeyLen] = '\0';
            v = p11kms_context_get(c, k);
            FUZZ_ASSERT(v != NULL && strlen(v) == pairs[i].ulValueLen &&
                        memcmp(v, pairs[i].pValue, pairs[i].ulValueLen) == 0);
            free(k);
        }
        FUZZ_ASSERT(c->n == p.ulContextCount || (p.flags & P11KMS_FLAG_MERGE_DEFAULT_CONTEXT));
    }
    p11kms_context_free(c);
    p11kms_context_free(deflt);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_quiet_log();
    if (size == 0)
        return 0;
    switch (data[0] % 3) {
    case 0:
        fuzz_decode(data + 1, size - 1);
        break;
    case 1:
        fuzz_text(data + 1, size - 1);
        break;
    default:
        fuzz_params(data + 1, size - 1);
        break;
    }
    return 0;
}
