/* format.h - the p11kms encrypted file format (docs/file-format.md): a versioned header that
 * carries the wrapped data key and the context, then AES-256-GCM chunks bound to the header. */
#ifndef P11KMS_TOOL_FORMAT_H
#define P11KMS_TOOL_FORMAT_H

#include <stddef.h>
#include <stdint.h>
#include <openssl/evp.h>

#define TOOL_FF_MAGIC "\x89PKMSF\r\n"
#define TOOL_FF_MAGIC_LEN 8
#define TOOL_FF_VERSION 1
#define TOOL_FF_ALG_AES256GCM_CHUNKED 1
/* How the data key in the header is wrapped: CKM_P11KMS_ENVELOPE (a p11kms envelope, the context
 * bound by the KMS), or CKM_AES_KEY_WRAP_PAD (RFC 5649) with another module's AES key. */
#define TOOL_FF_WRAP_ENVELOPE 1
#define TOOL_FF_WRAP_AES_KWP 2

#define TOOL_FF_FIXED_LEN 28 /* magic .. reserved byte, before the variable fields */
#define TOOL_FF_HEADER_MAX (256u * 1024u)
#define TOOL_FF_CHUNK_MIN 1024u
#define TOOL_FF_CHUNK_MAX (4u * 1024u * 1024u)
#define TOOL_FF_CHUNK_DEFAULT (1024u * 1024u)
#define TOOL_FF_TAG_LEN 16
#define TOOL_FF_NONCE_LEN 12
#define TOOL_FF_PREFIX_LEN 7
#define TOOL_FF_HASH_LEN 32
#define TOOL_FF_KEY_LEN 32
#define TOOL_FF_LABEL_MAX 255
#define TOOL_FF_ID_MAX 255
/* Chunk indexes are 32-bit in the nonce. */
#define TOOL_FF_MAX_CHUNKS 0xffffffffULL

/* A parsed or to-be-written header. Variable fields point into owned heap copies. */
typedef struct tool_ff_header {
    uint8_t wrap_method;
    uint32_t chunk_size;
    uint8_t prefix[TOOL_FF_PREFIX_LEN];
    char *key_label; /* hint for choosing the unwrapping key; may be "" */
    uint8_t *key_id;
    size_t key_id_len;
    uint8_t *context; /* canonical context encoding */
    size_t context_len;
    uint8_t *wrapped; /* the wrapped data key */
    size_t wrapped_len;
    /* Filled by encode and parse: SHA-256 of the header bytes, bound into every chunk. */
    uint8_t hash[TOOL_FF_HASH_LEN];
} tool_ff_header;

void tool_ff_header_clear(tool_ff_header *h);

/* Encode h (fills h->hash); *out malloc'd. -1 when a field breaks a bound. */
int tool_ff_header_encode(tool_ff_header *h, uint8_t **out, size_t *out_len);
/* The total header length from its first TOOL_FF_FIXED_LEN bytes, after checking magic,
 * version, algorithm and bounds; 0 for anything else, with a reason in *why. */
size_t tool_ff_header_len(const uint8_t *fixed, const char **why);
/* Parse a complete header (exactly its length); 0 or -1 with a reason in *why. */
int tool_ff_header_parse(const uint8_t *in, size_t len, tool_ff_header *h, const char **why);

/* Per-thread chunk cipher: the key is set once; each chunk only changes the nonce. */
typedef struct tool_ff_cipher {
    EVP_CIPHER_CTX *ctx;
    int encrypt;
    uint8_t prefix[TOOL_FF_PREFIX_LEN];
    uint8_t hash[TOOL_FF_HASH_LEN];
} tool_ff_cipher;

int tool_ff_cipher_init(tool_ff_cipher *c, const tool_ff_header *h, const uint8_t *key,
                        int encrypt);
void tool_ff_cipher_free(tool_ff_cipher *c);
/* Encrypt buf[0..len) in place and append the tag: buf must hold len + TOOL_FF_TAG_LEN. */
int tool_ff_seal(tool_ff_cipher *c, uint64_t index, int final, uint8_t *buf, size_t len);
/* Verify and decrypt a chunk of len bytes (ciphertext and tag) in place; *pt_len gets the
 * plaintext length. -1 when the tag does not verify: nothing in buf may be used then. */
int tool_ff_open(tool_ff_cipher *c, uint64_t index, int final, uint8_t *buf, size_t len,
                 size_t *pt_len);

#endif
