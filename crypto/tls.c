#include "crypto/tls.h"

#include <stdio.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "codec/err.h"

/* The first queued OpenSSL reason, for the operator; clears the queue. */
static void openssl_reason(char *err, size_t errlen, const char *what,
                           const char *file)
{
    unsigned long e = ERR_peek_last_error();
    const char *why = e ? ERR_reason_error_string(e) : NULL;
    snprintf(err, errlen, "%s %s: %s", what, file, why ? why : "unreadable");
    ERR_clear_error();
}

/* Loads the pair into ctx. Returns 0 or KG_ERR_CRYPTO with err set. */
static int load_pair(SSL_CTX *ctx, const char *cert_file,
                     const char *key_file, char *err, size_t errlen)
{
    if (SSL_CTX_use_certificate_chain_file(ctx, cert_file) != 1) {
        openssl_reason(err, errlen, "cannot load the certificate", cert_file);
        return KG_ERR_CRYPTO;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, key_file, SSL_FILETYPE_PEM) != 1) {
        openssl_reason(err, errlen, "cannot load the private key", key_file);
        return KG_ERR_CRYPTO;
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
        snprintf(err, errlen, "the private key %s does not match the "
                 "certificate %s", key_file, cert_file);
        ERR_clear_error();
        return KG_ERR_CRYPTO;
    }
    return 0;
}

int kg_tls_server_load(void *ssl_ctx, const char *cert_file,
                       const char *key_file, char *err, size_t errlen)
{
    /* A renewal may be caught half-written: try the files on a scratch
     * context so that the live one never holds a cert without its key. */
    SSL_CTX *scratch = SSL_CTX_new(TLS_server_method());
    if (!scratch) {
        snprintf(err, errlen, "out of memory");
        return KG_ERR_CRYPTO;
    }
    int rc = load_pair(scratch, cert_file, key_file, err, errlen);
    SSL_CTX_free(scratch);
    if (rc != 0 || !ssl_ctx)
        return rc;
    return load_pair(ssl_ctx, cert_file, key_file, err, errlen);
}

int kg_tls_client_trust_system(void *ssl_ctx)
{
    if (SSL_CTX_set_default_verify_paths(ssl_ctx) != 1) {
        ERR_clear_error();
        return KG_ERR_CRYPTO;
    }
    return 0;
}

int kg_tls_verify_failure(const void *ssl, char *buf, size_t cap)
{
    if (!ssl)
        return 0;
    long v = SSL_get_verify_result(ssl);
    if (v == X509_V_OK)
        return 0;
    snprintf(buf, cap, "the server's certificate is not trusted: %s",
             X509_verify_cert_error_string(v));
    return 1;
}
