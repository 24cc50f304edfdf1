/* Private to crypto/: the certificate object behind kg_dtls_cert, shared
 * by cert.c (which makes it) and dtls.c (which loads it into an SSL_CTX
 * and fingerprints the peer's). Nothing outside crypto/ includes this. */
#ifndef KG_CERT_INTERNAL_H
#define KG_CERT_INTERNAL_H

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "crypto/dtls.h"

struct kg_dtls_cert {
    X509 *x509;
    EVP_PKEY *pkey;
    char fingerprint[KG_DTLS_FINGERPRINT_LEN];
};

/* Writes the SHA-256 fingerprint of x's DER encoding as "AB:CD:..."
 * (95 characters and a NUL). Returns 0 or KG_ERR_CRYPTO. */
int kg_cert_fingerprint(X509 *x, char out[KG_DTLS_FINGERPRINT_LEN]);

#endif
