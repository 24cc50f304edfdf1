#include "crypto/seal.h"

#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "codec/err.h"
#include "crypto/random.h"

int kg_seal(const uint8_t key[KG_SEAL_KEY_LEN], const void *plaintext,
            size_t len, uint8_t *out, size_t cap)
{
    if (!key || !out || (len && !plaintext))
        return KG_ERR_INVAL;
    if (len > KG_SEAL_MAX)
        return KG_ERR_INVAL;
    if (cap < len + KG_SEAL_OVERHEAD)
        return KG_ERR_NOSPACE;

    int rc = KG_ERR_CRYPTO;
    int outl = 0, finl = 0;
    uint8_t *nonce = out;
    uint8_t *ct = out + KG_SEAL_NONCE_LEN;
    uint8_t *tag = ct + len;
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    if (!ctx || kg_random_bytes(nonce, KG_SEAL_NONCE_LEN) != 0)
        goto out;
    /* 12 bytes is GCM's default IV length: no SET_IVLEN needed. */
    if (EVP_EncryptInit_ex2(ctx, EVP_aes_256_gcm(), key, nonce, NULL) != 1)
        goto out;
    if (len && EVP_EncryptUpdate(ctx, ct, &outl, plaintext, (int)len) != 1)
        goto out;
    if (EVP_EncryptFinal_ex(ctx, ct + outl, &finl) != 1)
        goto out;
    if ((size_t)(outl + finl) != len)
        goto out;
    if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, KG_SEAL_TAG_LEN,
                            tag) != 1)
        goto out;
    rc = (int)(len + KG_SEAL_OVERHEAD);
out:
    EVP_CIPHER_CTX_free(ctx);
    if (rc < 0)
        OPENSSL_cleanse(out, len + KG_SEAL_OVERHEAD);
    return rc;
}

int kg_open(const uint8_t key[KG_SEAL_KEY_LEN], const uint8_t *in,
            size_t len, uint8_t *out, size_t cap)
{
    if (!key || !in || !out)
        return KG_ERR_INVAL;
    if (len < KG_SEAL_OVERHEAD)
        return KG_ERR_TRUNC;
    size_t ptlen = len - KG_SEAL_OVERHEAD;
    if (ptlen > KG_SEAL_MAX)
        return KG_ERR_INVAL;
    if (cap < ptlen)
        return KG_ERR_NOSPACE;

    int rc = KG_ERR_CRYPTO;
    int outl = 0, finl = 0;
    const uint8_t *nonce = in;
    const uint8_t *ct = in + KG_SEAL_NONCE_LEN;
    uint8_t tag[KG_SEAL_TAG_LEN];
    memcpy(tag, ct + ptlen, sizeof(tag));
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    if (!ctx)
        goto out;
    if (EVP_DecryptInit_ex2(ctx, EVP_aes_256_gcm(), key, nonce, NULL) != 1)
        goto out;
    if (ptlen && EVP_DecryptUpdate(ctx, out, &outl, ct, (int)ptlen) != 1)
        goto out;
    if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, KG_SEAL_TAG_LEN,
                            tag) != 1)
        goto out;
    /* DecryptFinal is where GCM checks the tag; nothing written before
     * it may be trusted, so a failure wipes it. */
    if (EVP_DecryptFinal_ex(ctx, out + outl, &finl) != 1) {
        rc = KG_ERR_AUTH;
        goto out;
    }
    if ((size_t)(outl + finl) != ptlen)
        goto out;
    rc = (int)ptlen;
out:
    EVP_CIPHER_CTX_free(ctx);
    if (rc < 0)
        OPENSSL_cleanse(out, ptlen);
    return rc;
}
