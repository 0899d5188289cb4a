/* asym-codec.h - the byte formats around asymmetric signatures: recognising a PKCS#1 v1.5
 * DigestInfo, ECDSA signatures between DER (what KMSs and OpenSSL give) and PKCS#11's r || s,
 * and fitting an ECDSA input to the digest length a curve's KMS signs. Bounded and fuzzable
 * (tests/fuzz/fuzz-asym.c); no state, no locks. */
#ifndef P11KMS_ASYM_CODEC_H
#define P11KMS_ASYM_CODEC_H

#include <stddef.h>
#include <stdint.h>

/* The signing algorithm of a DER DigestInfo of SHA-256, SHA-384 or SHA-512 (RFC 8017 9.2,
 * with the NULL parameters), exactly: P11KMS_SIG_RSA_PKCS1_SHA* with *digest pointing at the
 * hash inside in. 0 for anything else (another hash, another encoding, a wrong length). */
int p11kms_digestinfo_parse(const uint8_t *in, size_t len, const uint8_t **digest);
/* The DigestInfo prefix of an RSA PKCS#1 algorithm, or NULL. */
const uint8_t *p11kms_digestinfo_prefix(int alg, size_t *len);

/* A strict DER Ecdsa-Sig-Value (SEQUENCE of two positive INTEGERs in minimal form) into r || s,
 * each n bytes big-endian (out holds 2n). 0, or -1 for anything else: not DER, trailing bytes,
 * r or s zero, negative or longer than n bytes. */
int p11kms_ecdsa_der_to_raw(const uint8_t *der, size_t len, size_t n, uint8_t *out);
/* r || s (raw_len = 2n bytes) into a malloc'd DER Ecdsa-Sig-Value. 0, or -1 (length, memory). */
int p11kms_ecdsa_raw_to_der(const uint8_t *raw, size_t raw_len, uint8_t **der, size_t *der_len);

/* An ECDSA input of len bytes as the want-byte digest the KMS signs for the curve, giving the
 * same signature: ECDSA uses the leftmost order-size bits of its input, so a longer input is
 * cut to its first want bytes (want is the order size for P-256, P-384 and secp256k1), and a
 * shorter one is padded with leading zeros (the same integer). -1 when len is 0 or more than
 * 64, or when cutting would change the value for the curve (order_bits > 8 * want). */
int p11kms_ecdsa_fit_digest(const uint8_t *in, size_t len, size_t want, unsigned order_bits,
                            uint8_t *out);

#endif
