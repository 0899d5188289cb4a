#!/usr/bin/python3
# test-aws-envelope.py - build and take apart p11kms envelopes (format in docs/envelope.md) so
# the AWS CLI can decrypt what p11kms wrapped and p11kms can unwrap what the CLI encrypted.
"""Usage:
  test-aws-envelope.py parse ENVELOPE CIPHERTEXT
        write blob 0's KMS ciphertext, print "KEY_REF VERSION PURPOSE" (purpose 0 for v1)
  test-aws-envelope.py build KEY_REF CIPHERTEXT ENVELOPE [PURPOSE]
        an aws (backend 2) envelope: version 1 without PURPOSE, else version 2 with it
        (1 wrapped key, 2 data)"""

import struct
import sys

MAGIC = b"PKMS"
AWS = 2


def parse(data):
    if len(data) < 6 or data[:4] != MAGIC or data[4] not in (1, 2):
        raise ValueError("not a p11kms v1/v2 envelope")
    version, off, purpose = data[4], 5, 0
    if version == 2:
        purpose, off = data[5], 6
        if purpose not in (1, 2):
            raise ValueError("unknown purpose %d" % purpose)
    n, off, blobs = data[off], off + 1, []
    for _ in range(n):
        backend = data[off]
        (ref_len,) = struct.unpack_from(">H", data, off + 1)
        ref = data[off + 3:off + 3 + ref_len].decode("utf-8")
        off += 3 + ref_len
        key_version, ct_len = struct.unpack_from(">II", data, off)
        off += 8
        blobs.append((backend, ref, key_version, data[off:off + ct_len]))
        off += ct_len
    if off != len(data):
        raise ValueError("trailing bytes")
    return version, purpose, blobs


def build(key_ref, ct, purpose=None):
    ref = key_ref.encode("utf-8")
    header = MAGIC + (bytes([1]) if purpose is None else bytes([2, purpose]))
    return (header + bytes([1, AWS]) + struct.pack(">H", len(ref)) + ref +
            struct.pack(">II", 0, len(ct)) + ct)


def main(argv):
    if len(argv) == 4 and argv[1] == "parse":
        with open(argv[2], "rb") as f:
            version, purpose, blobs = parse(f.read())
        backend, ref, _, ct = blobs[0]
        if backend != AWS:
            raise ValueError("blob 0 is not from the aws backend")
        with open(argv[3], "wb") as f:
            f.write(ct)
        print(ref, version, purpose)
        return 0
    if len(argv) in (5, 6) and argv[1] == "build":
        with open(argv[3], "rb") as f:
            ct = f.read()
        with open(argv[4], "wb") as f:
            f.write(build(argv[2], ct, int(argv[5]) if len(argv) == 6 else None))
        return 0
    sys.stderr.write(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
