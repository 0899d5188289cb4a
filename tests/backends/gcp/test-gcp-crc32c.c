/* test-gcp-crc32c.c - CRC32C as Cloud KMS computes it: the known answers (the check value and
 * RFC 3720 appendix B.4), and the CPU instruction and the portable table agreeing on random
 * inputs of every length and alignment. */
#include <openssl/rand.h>
#include "tests/test.h"
#include "module/backends/gcp/gcp-crc32c.h"

static const uint8_t iscsi_read[48] = {
    0x01, 0xc0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x14, 0x00, 0x00, 0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00, 0x18,
    0x28, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
};

/* Every implementation this CPU has gives want for p. */
static void known(const void *p, size_t n, uint32_t want, const char *what)
{
    uint32_t hw = 0;
    int have = p11kms_gcp_crc32c_hw(p, n, &hw) == 0;
    char line[160];

    snprintf(line, sizeof(line), "%s = 0x%08lX", what, (unsigned long)want);
    ok(p11kms_gcp_crc32c(p, n) == want && p11kms_gcp_crc32c_table(p, n) == want &&
           (!have || hw == want),
       line);
}

int main(void)
{
    uint8_t buf[4096 + 16], seq[32];
    uint32_t hw;
    size_t i, n, off;
    int agree = 1, have;

    test_start();
    diag("CRC32C implementation: %s", p11kms_gcp_crc32c_impl());
    known("123456789", 9, 0xE3069283u, "CRC32C(\"123456789\") (the check value)");
    known("", 0, 0, "CRC32C of nothing (Cloud KMS's value for an empty AAD)");
    memset(seq, 0, sizeof(seq));
    known(seq, 32, 0x8A9136AAu, "RFC 3720 B.4: 32 bytes of zeros");
    memset(seq, 0xff, sizeof(seq));
    known(seq, 32, 0x62A8AB43u, "RFC 3720 B.4: 32 bytes of 0xff");
    for (i = 0; i < 32; i++)
        seq[i] = (uint8_t)i;
    known(seq, 32, 0x46DD794Eu, "RFC 3720 B.4: 32 incrementing bytes");
    for (i = 0; i < 32; i++)
        seq[i] = (uint8_t)(31 - i);
    known(seq, 32, 0x113FDB5Cu, "RFC 3720 B.4: 32 decrementing bytes");
    known(iscsi_read, sizeof(iscsi_read), 0xD9963A56u, "RFC 3720 B.4: an iSCSI read command PDU");

    have = p11kms_gcp_crc32c_hw("", 0, &hw) == 0;
#if defined(__x86_64__) || defined(__aarch64__)
    ok(have, "this x86-64 / AArch64 CPU has a CRC32C instruction and it is used");
#endif
    if (!have) {
        test_skip("no CRC32C instruction: the table is the only implementation");
        return test_exit_code();
    }
    /* random data at every alignment and every length up to 300, then long buffers */
    if (RAND_bytes(buf, sizeof(buf)) != 1) {
        printf("Bail out! RAND_bytes\n");
        return 1;
    }
    for (off = 0; off < 8; off++)
        for (n = 0; n <= 300; n++)
            if (p11kms_gcp_crc32c_hw(buf + off, n, &hw) != 0 ||
                hw != p11kms_gcp_crc32c_table(buf + off, n))
                agree = 0;
    for (i = 0; i < 200; i++) {
        if (RAND_bytes(buf, sizeof(buf)) != 1)
            break;
        off = buf[0] % 16;
        n = ((size_t)buf[1] << 8 | buf[2]) % (sizeof(buf) - off);
        if (p11kms_gcp_crc32c_hw(buf + off, n, &hw) != 0 ||
            hw != p11kms_gcp_crc32c_table(buf + off, n))
            agree = 0;
    }
    ok(agree, "the instruction and the table agree on random data of every alignment and length");
    return test_exit_code();
}
