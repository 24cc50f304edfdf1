#include "crypto/hmac.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "codec/err.h"

static int hmac2(const EVP_MD *md, const uint8_t *key, size_t keylen,
                 const uint8_t *a, size_t alen, const uint8_t *b,
                 size_t blen, uint8_t *out)
{
    /* HMAC_CTX is deprecated in 3.0 but EVP_MAC costs a fetch per call;
     * the one-shot HMAC() cannot take two parts, so use EVP_MAC with the
     * digest name. */
    int rc = KG_ERR_CRYPTO;
    EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    EVP_MAC_CTX *ctx = mac ? EVP_MAC_CTX_new(mac) : NULL;
    OSSL_PARAM params[2];
    size_t outl = 0;
    params[0] = OSSL_PARAM_construct_utf8_string(
        "digest", (char *)EVP_MD_get0_name(md), 0);
    params[1] = OSSL_PARAM_construct_end();
    if (!ctx || !EVP_MAC_init(ctx, key, keylen, params))
        goto out;
    if (alen && !EVP_MAC_update(ctx, a, alen))
        goto out;
    if (blen && !EVP_MAC_update(ctx, b, blen))
        goto out;
    if (!EVP_MAC_final(ctx, out, &outl, (size_t)EVP_MD_get_size(md)))
        goto out;
    rc = 0;
out:
    EVP_MAC_CTX_free(ctx);
    EVP_MAC_free(mac);
    return rc;
}

int kg_hmac_sha1(const uint8_t *key, size_t keylen, const uint8_t *a,
                 size_t alen, const uint8_t *b, size_t blen,
                 uint8_t out[KG_SHA1_LEN])
{
    return hmac2(EVP_sha1(), key, keylen, a, alen, b, blen, out);
}

int kg_hmac_sha256(const uint8_t *key, size_t keylen, const uint8_t *a,
                   size_t alen, const uint8_t *b, size_t blen,
                   uint8_t out[KG_SHA256_LEN])
{
    return hmac2(EVP_sha256(), key, keylen, a, alen, b, blen, out);
}

int kg_sha256(const void *data, size_t len, uint8_t out[KG_SHA256_LEN])
{
    unsigned int outl = 0;
    return EVP_Digest(data, len, out, &outl, EVP_sha256(), NULL) == 1
               ? 0
               : KG_ERR_CRYPTO;
}
