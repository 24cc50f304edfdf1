/* At-rest encryption of small secrets (the meetings store's PINs):
 * AES-256-GCM with a fresh random 96-bit nonce per call.
 *
 * Sealed format: nonce (12) || ciphertext (len) || tag (16). Random
 * nonces are safe for far more than the 2^32 seals per key that GCM
 * allows with them; the store seals one PIN per meeting.
 */
#ifndef KG_SEAL_H
#define KG_SEAL_H

#include <stddef.h>
#include <stdint.h>

#define KG_SEAL_KEY_LEN 32
#define KG_SEAL_NONCE_LEN 12
#define KG_SEAL_TAG_LEN 16
#define KG_SEAL_OVERHEAD (KG_SEAL_NONCE_LEN + KG_SEAL_TAG_LEN)
#define KG_SEAL_MAX 65536 /* largest plaintext accepted */

/* Seals len bytes of plaintext (len <= KG_SEAL_MAX) under key into out.
 * Returns the sealed length (len + KG_SEAL_OVERHEAD), KG_ERR_NOSPACE
 * (cap too small; out untouched), KG_ERR_INVAL (len too big),
 * KG_ERR_CRYPTO. */
int kg_seal(const uint8_t key[KG_SEAL_KEY_LEN], const void *plaintext,
            size_t len, uint8_t *out, size_t cap);

/* Opens a sealed buffer into out. Returns the plaintext length,
 * KG_ERR_TRUNC (len < KG_SEAL_OVERHEAD), KG_ERR_INVAL (too big),
 * KG_ERR_NOSPACE (cap < len - KG_SEAL_OVERHEAD), KG_ERR_AUTH (the tag
 * does not check: wrong key or altered bytes; out is zeroed),
 * KG_ERR_CRYPTO. */
int kg_open(const uint8_t key[KG_SEAL_KEY_LEN], const uint8_t *in,
            size_t len, uint8_t *out, size_t cap);

#endif
