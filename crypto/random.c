#include "crypto/random.h"

#include <stdio.h>
#include <stdlib.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "codec/err.h"

int kg_random_bytes(void *buf, size_t len)
{
    if (len == 0)
        return 0;
    if (len > INT32_MAX)
        return KG_ERR_INVAL;
    return RAND_bytes(buf, (int)len) == 1 ? 0 : KG_ERR_CRYPTO;
}

uint32_t kg_random_u32(void)
{
    uint32_t v;
    if (kg_random_bytes(&v, sizeof(v)) != 0) {
        fprintf(stderr, "kaigi: CSPRNG failure, cannot continue\n");
        abort();
    }
    return v;
}

/* Rejection sampling over bytes: accept b < limit where limit is the
 * largest multiple of n that fits in a byte, so every symbol is equally
 * likely. */
static int random_from_alphabet(char *out, size_t len, const char *alpha,
                                unsigned n)
{
    unsigned limit = 256 - (256 % n);
    size_t i = 0;
    uint8_t pool[64];
    while (i < len) {
        if (kg_random_bytes(pool, sizeof(pool)) != 0)
            return KG_ERR_CRYPTO;
        for (size_t j = 0; j < sizeof(pool) && i < len; j++) {
            if (pool[j] < limit)
                out[i++] = alpha[pool[j] % n];
        }
    }
    out[len] = '\0';
    return 0;
}

int kg_random_alnum(char *out, size_t len)
{
    static const char alpha[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    return random_from_alphabet(out, len, alpha, 62);
}

int kg_random_digits(char *out, size_t len)
{
    return random_from_alphabet(out, len, "0123456789", 10);
}

bool kg_ct_equal(const void *a, const void *b, size_t len)
{
    return CRYPTO_memcmp(a, b, len) == 0;
}
