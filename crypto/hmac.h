/* Keyed hashes used outside crypto/ (STUN MESSAGE-INTEGRITY, cookies). */
#ifndef KG_HMAC_H
#define KG_HMAC_H

#include <stddef.h>
#include <stdint.h>

#define KG_SHA1_LEN 20
#define KG_SHA256_LEN 32

/* HMAC-SHA1 over the concatenation a || b (b may be NULL with blen 0).
 * STUN needs two parts: the header with a patched length, then the body.
 * Returns 0 or KG_ERR_CRYPTO. */
int kg_hmac_sha1(const uint8_t *key, size_t keylen, const uint8_t *a,
                 size_t alen, const uint8_t *b, size_t blen,
                 uint8_t out[KG_SHA1_LEN]);

/* HMAC-SHA256 over a || b. Returns 0 or KG_ERR_CRYPTO. */
int kg_hmac_sha256(const uint8_t *key, size_t keylen, const uint8_t *a,
                   size_t alen, const uint8_t *b, size_t blen,
                   uint8_t out[KG_SHA256_LEN]);

/* SHA-256 of len bytes. Returns 0 or KG_ERR_CRYPTO. */
int kg_sha256(const void *data, size_t len, uint8_t out[KG_SHA256_LEN]);

#endif
