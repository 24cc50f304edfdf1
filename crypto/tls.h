/* TLS for the HTTP/WebSocket front (HTTPS, WSS) and its clients.
 * libwebsockets owns the TLS connections; these helpers only act on the
 * OpenSSL SSL_CTX that lws hands out in its LOAD_EXTRA_*_VERIFY_CERTS
 * callbacks, passed here as void * so that no caller includes
 * OpenSSL headers. */
#ifndef KG_TLS_H
#define KG_TLS_H

#include <stddef.h>

/* Loads the PEM certificate chain cert_file (leaf first, as ACME clients
 * write fullchain.pem) and the PEM private key key_file into the server
 * SSL_CTX ssl_ctx. Both are loaded and checked against each other in a
 * scratch context first, so a missing, half-written or mismatched pair
 * leaves ssl_ctx as it was. Connections already open keep the certificate
 * they were made with; the handshakes that follow use the new one.
 * With ssl_ctx NULL only checks the files. Returns 0, or KG_ERR_CRYPTO
 * with one sentence in err (never key bytes). */
int kg_tls_server_load(void *ssl_ctx, const char *cert_file,
                       const char *key_file, char *err, size_t errlen);

/* Makes the client SSL_CTX ssl_ctx trust the system's certificate store
 * (OpenSSL's default paths: Debian's /etc/ssl/certs). Returns 0 or
 * KG_ERR_CRYPTO. */
int kg_tls_client_trust_system(void *ssl_ctx);

/* After a failed handshake on the client connection ssl (an OpenSSL SSL
 * as void *, NULL allowed): if the server's certificate did not verify,
 * writes "the server's certificate is not trusted: REASON" (OpenSSL's
 * words: "unable to get local issuer certificate", "hostname mismatch")
 * into buf and returns 1; otherwise returns 0 and leaves buf alone. */
int kg_tls_verify_failure(const void *ssl, char *buf, size_t cap);

#endif
