/* gcp-crc32c.h - CRC32C (Castagnoli), the checksum Cloud KMS puts on every field it protects:
 * the CPU's instruction where it has one (SSE4.2 on x86-64, the ARMv8 CRC extension on AArch64),
 * chosen once at run time, and a portable table otherwise. */
#ifndef P11KMS_GCP_CRC32C_H
#define P11KMS_GCP_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* CRC32C of n bytes (reflected polynomial 0x82F63B78, initial and final value 0xFFFFFFFF):
 * "123456789" gives 0xE3069283. The fastest implementation this CPU has. Thread-safe. */
uint32_t p11kms_gcp_crc32c(const void *p, size_t n);

/* The same through the portable table (slicing by 8), on any CPU. */
uint32_t p11kms_gcp_crc32c_table(const void *p, size_t n);
/* Through the CPU instruction: 0 and *out set, or -1 when this CPU (or build) has none. */
int p11kms_gcp_crc32c_hw(const void *p, size_t n, uint32_t *out);
/* What p11kms_gcp_crc32c uses: "sse4.2", "armv8-crc" or "table". */
const char *p11kms_gcp_crc32c_impl(void);

#endif
