/* gcp-crc32c.c - CRC32C for Cloud KMS's integrity fields: the CPU's CRC32C instruction when it
 * has one, else a slicing-by-8 table (both built here, the choice made once). The table and the
 * choice are set up once under pthread_once and only read afterwards: no lock on the hot path. */
#include <pthread.h>
#include <string.h>
#include "gcp-crc32c.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <nmmintrin.h>
#define HAVE_HW 1
#define HW_NAME "sse4.2"
#elif defined(__aarch64__) && (defined(__GNUC__) || defined(__clang__))
#include <arm_acle.h>
#include <sys/auxv.h>
#ifndef HWCAP_CRC32
#define HWCAP_CRC32 (1 << 7)
#endif
#define HAVE_HW 1
#define HW_NAME "armv8-crc"
#else
#define HAVE_HW 0
#define HW_NAME "table"
#endif

#define POLY 0x82F63B78u

static uint32_t table[8][256];
static int hw_usable;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void setup(void)
{
    uint32_t c;
    int i, j;

    for (i = 0; i < 256; i++) {
        c = (uint32_t)i;
        for (j = 0; j < 8; j++)
            c = (c & 1) ? (c >> 1) ^ POLY : c >> 1;
        table[0][i] = c;
    }
    for (i = 0; i < 256; i++)
        for (j = 1; j < 8; j++)
            table[j][i] = (table[j - 1][i] >> 8) ^ table[0][table[j - 1][i] & 0xff];
#if HAVE_HW && defined(__x86_64__)
    __builtin_cpu_init();
    hw_usable = __builtin_cpu_supports("sse4.2");
#elif HAVE_HW && defined(__aarch64__)
    hw_usable = (getauxval(AT_HWCAP) & HWCAP_CRC32) != 0;
#endif
}

static uint32_t table_update(uint32_t crc, const uint8_t *p, size_t n)
{
    uint64_t w;

    while (n > 0 && ((uintptr_t)p & 7) != 0) {
        crc = table[0][(crc ^ *p++) & 0xff] ^ (crc >> 8);
        n--;
    }
    while (n >= 8) {
        memcpy(&w, p, 8);
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
        w = __builtin_bswap64(w);
#endif
        w ^= crc;
        crc = table[7][w & 0xff] ^ table[6][(w >> 8) & 0xff] ^ table[5][(w >> 16) & 0xff] ^
              table[4][(w >> 24) & 0xff] ^ table[3][(w >> 32) & 0xff] ^ table[2][(w >> 40) & 0xff] ^
              table[1][(w >> 48) & 0xff] ^ table[0][w >> 56];
        p += 8;
        n -= 8;
    }
    while (n-- > 0)
        crc = table[0][(crc ^ *p++) & 0xff] ^ (crc >> 8);
    return crc;
}

#if HAVE_HW && defined(__x86_64__)
__attribute__((target("sse4.2"))) static uint32_t hw_update(uint32_t crc, const uint8_t *p,
                                                            size_t n)
{
    uint64_t c = crc, w;

    while (n > 0 && ((uintptr_t)p & 7) != 0) {
        c = _mm_crc32_u8((uint32_t)c, *p++);
        n--;
    }
    while (n >= 8) {
        memcpy(&w, p, 8);
        c = _mm_crc32_u64(c, w);
        p += 8;
        n -= 8;
    }
    while (n-- > 0)
        c = _mm_crc32_u8((uint32_t)c, *p++);
    return (uint32_t)c;
}
#elif HAVE_HW && defined(__aarch64__)
__attribute__((target("+crc"))) static uint32_t hw_update(uint32_t crc, const uint8_t *p, size_t n)
{
    uint64_t w;

    while (n > 0 && ((uintptr_t)p & 7) != 0) {
        crc = __crc32cb(crc, *p++);
        n--;
    }
    while (n >= 8) {
        memcpy(&w, p, 8);
        crc = __crc32cd(crc, w);
        p += 8;
        n -= 8;
    }
    while (n-- > 0)
        crc = __crc32cb(crc, *p++);
    return crc;
}
#endif

uint32_t p11kms_gcp_crc32c_table(const void *p, size_t n)
{
    pthread_once(&once, setup);
    return table_update(0xFFFFFFFFu, p, n) ^ 0xFFFFFFFFu;
}

int p11kms_gcp_crc32c_hw(const void *p, size_t n, uint32_t *out)
{
    pthread_once(&once, setup);
#if HAVE_HW
    if (hw_usable) {
        *out = hw_update(0xFFFFFFFFu, p, n) ^ 0xFFFFFFFFu;
        return 0;
    }
#endif
    (void)p;
    (void)n;
    (void)out;
    return -1;
}

uint32_t p11kms_gcp_crc32c(const void *p, size_t n)
{
    uint32_t crc;

    if (p11kms_gcp_crc32c_hw(p, n, &crc) == 0)
        return crc;
    return p11kms_gcp_crc32c_table(p, n);
}

const char *p11kms_gcp_crc32c_impl(void)
{
    pthread_once(&once, setup);
    return hw_usable ? HW_NAME : "table";
}
