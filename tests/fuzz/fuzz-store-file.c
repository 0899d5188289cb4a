/* fuzz-store-file.c - fuzz target for the object store's file parser (module/store-file.c): a
 * file that parses assembles back to exactly its bytes, and attributes that decode encode back to
 * exactly the file's authenticated prefix (one encoding per object: nothing an attacker could vary
 * without changing what the KMS context and the GCM tag cover). */
#include <string.h>
#include "object.h"
#include "store-file.h"
#include "store-seal.h"
#include "tests/fuzz/fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    p11kms_store_file f;
    p11kms_buf again = {0}, prefix = {0};
    p11kms_object *o = NULL;
    const char *defect = NULL;
    uint8_t backend;
    uint32_t version;
    char ref[64];

    fuzz_quiet_log();
    if (p11kms_store_file_parse(data, size, &f, &defect) != CKR_OK) {
        FUZZ_ASSERT(defect != NULL);
        return 0;
    }
    FUZZ_ASSERT(f.prefix == data && f.prefix_len >= P11KMS_STORE_HEADER_LEN && f.generation > 0);
    FUZZ_ASSERT(f.value_len <= P11KMS_STORE_VALUE_MAX && size <= P11KMS_STORE_FILE_MAX);
    FUZZ_ASSERT(memcmp(f.id, data + P11KMS_STORE_ID_OFFSET, P11KMS_STORE_ID_LEN) == 0);
    FUZZ_ASSERT(p11kms_store_file_assemble(f.prefix, f.prefix_len, f.envelope, f.envelope_len, f.iv,
                                           f.ct, f.value_len, f.tag, &again) == CKR_OK);
    FUZZ_ASSERT(again.len == size && memcmp(again.data, data, size) == 0);
    p11kms_buf_free(&again);
    /* The sealed key is read without a KMS call (p11kms store list). */
    (void)p11kms_store_sealed_by(&f, &backend, &version, ref, sizeof(ref), NULL);
    if (p11kms_store_attrs_decode(&f, &o, &defect) != CKR_OK) {
        FUZZ_ASSERT(defect != NULL);
        return 0;
    }
    FUZZ_ASSERT(o->is_token && o->value == NULL && o->value_len == f.value_len);
    FUZZ_ASSERT(p11kms_store_prefix_encode(o, f.id, f.generation, &prefix) == CKR_OK);
    FUZZ_ASSERT(prefix.len == f.prefix_len && memcmp(prefix.data, f.prefix, f.prefix_len) == 0);
    p11kms_buf_free(&prefix);
    p11kms_object_free(o);
    return 0;
}
