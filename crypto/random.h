/* Secrets: OpenSSL's CSPRNG and constant-time comparison.
 * Every secret kaigi makes (ICE passwords, tokens, PINs, SSRC salts) comes
 * from here. */
#ifndef KG_RANDOM_H
#define KG_RANDOM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Fills buf with len bytes from RAND_bytes. Returns 0 or KG_ERR_CRYPTO. */
int kg_random_bytes(void *buf, size_t len);

/* Returns a uniformly random 32-bit value; aborts if the CSPRNG fails
 * (a server without randomness must not go on). */
uint32_t kg_random_u32(void);

/* Writes len random characters from [A-Za-z0-9] plus a NUL into out
 * (out must hold len + 1 bytes), without modulo bias.
 * Returns 0 or KG_ERR_CRYPTO. */
int kg_random_alnum(char *out, size_t len);

/* Writes len random decimal digits plus a NUL into out, without modulo
 * bias. Returns 0 or KG_ERR_CRYPTO. */
int kg_random_digits(char *out, size_t len);

/* Constant-time equality of two len-byte buffers (CRYPTO_memcmp). */
bool kg_ct_equal(const void *a, const void *b, size_t len);

#endif
