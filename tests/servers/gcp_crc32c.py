# gcp_crc32c.py - CRC32C (Castagnoli, reflected polynomial 0x82F63B78) for the Google Cloud KMS
# test server: the checksum Cloud KMS puts in its *Crc32c fields. Table-driven, stdlib only.
"""crc32c(data) -> int; VECTORS holds the known answers the server checks itself against."""

POLY = 0x82F63B78


def _table():
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ POLY if c & 1 else c >> 1
        table.append(c)
    return tuple(table)


TABLE = _table()


def crc32c(data, crc=0):
    """CRC32C of data (bytes-like), continuing from crc (0 for a fresh checksum)."""
    c = crc ^ 0xFFFFFFFF
    for b in bytes(data):
        c = TABLE[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


# Known answers: the common check value, and RFC 3720 (iSCSI) appendix B.4.
VECTORS = (
    (b"123456789", 0xE3069283),
    (b"", 0x00000000),
    (bytes(32), 0x8A9136AA),
    (b"\xff" * 32, 0x62A8AB43),
    (bytes(range(32)), 0x46DD794E),
    (bytes(range(31, -1, -1)), 0x113FDB5C),
    (bytes.fromhex("01c00000" "00000000" "00000000" "00000000"
                   "14000000" "00000400" "00000014" "00000018"
                   "28000000" "00000000" "02000000" "00000000"), 0xD9963A56),
)


def self_test():
    """Raise AssertionError when the table disagrees with a known answer."""
    for data, want in VECTORS:
        got = crc32c(data)
        if got != want:
            raise AssertionError("CRC32C(%r...) = %#010x, expected %#010x"
                                 % (data[:12], got, want))
