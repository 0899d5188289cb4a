#!/usr/bin/python3
# test-aws-envelope.py - build and take apart p11kms envelopes (format in module/envelope.h) so
# the AWS CLI can decrypt what p11kms wrapped and p11kms can unwrap what the CLI encrypted.
"""Usage:
  test-aws-envelope.py parse ENVELOPE CIPHERTEXT   write blob 0's KMS ciphertext, print its key_ref
  test-aws-envelope.py build KEY_REF CIPHERTEXT ENVELOPE   an aws (backend 2) envelope"""

import struct
import sys

MAGIC = b"PKMS"
VERSION = 1
AWS = 2


def parse(data):
    if len(data) < 6 or data[:4] != MAGIC or data[4] != VERSION:
        raise ValueError("not a p11kms v1 envelope")
    n, off, blobs = data[5], 6, []
    for _ in range(n):
        backend = data[off]
        (ref_len,) = struct.unpack_from(">H", data, off + 1)
        ref = data[off + 3:off + 3 + ref_len].decode("utf-8")
        off += 3 + ref_len
        version, ct_len = struct.unpack_from(">II", data, off)
        off += 8
        blobs.append((backend, ref, version, data[off:off + ct_len]))
        off += ct_len
    if off != len(data):
        raise ValueError("trailing bytes")
    return blobs


def build(key_ref, ct):
    ref = key_ref.encode("utf-8")
    return (MAGIC + bytes([VERSION, 1, AWS]) + struct.pack(">H", len(ref)) + ref +
            struct.pack(">II", 0, len(ct)) + ct)


def main(argv):
    if len(argv) == 4 and argv[1] == "parse":
        with open(argv[2], "rb") as f:
            backend, ref, _, ct = parse(f.read())[0]
        if backend != AWS:
            raise ValueError("blob 0 is not from the aws backend")
        with open(argv[3], "wb") as f:
            f.write(ct)
        print(ref)
        return 0
    if len(argv) == 5 and argv[1] == "build":
        with open(argv[3], "rb") as f:
            ct = f.read()
        with open(argv[4], "wb") as f:
            f.write(build(argv[2], ct))
        return 0
    sys.stderr.write(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
