/* Self-signed ECDSA P-256 certificates for DTLS-SRTP and their SHA-256
 * fingerprints (RFC 8122 a=fingerprint). */
#include "crypto/cert_internal.h"

#include <stdlib.h>

#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "codec/err.h"
#include "crypto/hmac.h"
#include "crypto/random.h"

#define CERT_DAYS 30

int kg_cert_fingerprint(X509 *x, char out[KG_DTLS_FINGERPRINT_LEN])
{
    static const char hex[] = "0123456789ABCDEF";
    unsigned char *der = NULL;
    uint8_t md[KG_SHA256_LEN];
    int derlen = i2d_X509(x, &der);
    if (derlen <= 0)
        return KG_ERR_CRYPTO;
    int rc = kg_sha256(der, (size_t)derlen, md);
    OPENSSL_free(der);
    if (rc != 0)
        return rc;
    for (size_t i = 0; i < sizeof(md); i++) {
        out[3 * i] = hex[md[i] >> 4];
        out[3 * i + 1] = hex[md[i] & 0xf];
        out[3 * i + 2] = i + 1 < sizeof(md) ? ':' : '\0';
    }
    return 0;
}

/* A positive random 64-bit serial: RFC 5280 wants it unique per issuer,
 * and every kaigi certificate is its own issuer. */
static int set_random_serial(X509 *x)
{
    uint8_t raw[8];
    if (kg_random_bytes(raw, sizeof(raw)) != 0)
        return -1;
    raw[0] &= 0x7f;
    raw[0] |= 0x01; /* never zero, never a short encoding */
    BIGNUM *bn = BN_bin2bn(raw, sizeof(raw), NULL);
    int ok = bn && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) != NULL;
    BN_free(bn);
    return ok ? 0 : -1;
}

static int set_name(X509 *x)
{
    X509_NAME *name = X509_get_subject_name(x);
    if (!X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                                    (const unsigned char *)"kaigi", -1, -1,
                                    0))
        return -1;
    return X509_set_issuer_name(x, name) ? 0 : -1;
}

static X509 *make_x509(EVP_PKEY *pkey)
{
    X509 *x = X509_new();
    if (!x)
        return NULL;
    /* Valid from a day ago so that a peer with a slow clock accepts it. */
    if (!X509_set_version(x, X509_VERSION_3) || set_random_serial(x) != 0 ||
        !X509_gmtime_adj(X509_getm_notBefore(x), -24L * 3600) ||
        !X509_gmtime_adj(X509_getm_notAfter(x), (long)CERT_DAYS * 24 * 3600) ||
        set_name(x) != 0 || !X509_set_pubkey(x, pkey) ||
        X509_sign(x, pkey, EVP_sha256()) <= 0) {
        X509_free(x);
        return NULL;
    }
    return x;
}

kg_dtls_cert *kg_dtls_cert_new(void)
{
    kg_dtls_cert *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->pkey = EVP_EC_gen("P-256");
    c->x509 = c->pkey ? make_x509(c->pkey) : NULL;
    if (!c->x509 || kg_cert_fingerprint(c->x509, c->fingerprint) != 0) {
        ERR_clear_error();
        kg_dtls_cert_del(c);
        return NULL;
    }
    return c;
}

void kg_dtls_cert_del(kg_dtls_cert *c)
{
    if (!c)
        return;
    X509_free(c->x509);
    EVP_PKEY_free(c->pkey);
    free(c);
}

const char *kg_dtls_cert_fingerprint(const kg_dtls_cert *c)
{
    return c->fingerprint;
}
