/* The HTTP + WebSocket front of kaigi: libwebsockets on the signalling
 * thread's uv loop. GET / (landing page), GET /api/stats (JSON), and the
 * signalling WebSocket at /ws (signalling/PROTOCOL.md).
 */
#ifndef KG_SERVER_H
#define KG_SERVER_H

#include <stdint.h>


#include "signalling/session.h"

struct uv_loop_s; /* libuv's uv_loop_t: only the I/O layer needs uv.h */

typedef struct kg_server kg_server;

typedef struct kg_server_config {
    struct uv_loop_s *loop; /* the signalling thread's libuv loop */
    const char *listen_ip; /* numeric IPv4 or IPv6 */
    uint16_t listen_port;
    const char *www_dir; /* the browser client's files */
    /* HTTPS and WSS instead of HTTP and WS: PEM files, the certificate
     * chain (leaf first) and its private key; NULL for plain HTTP. Kept
     * as given for kg_server_reload_tls. */
    const char *tls_cert;
    const char *tls_key;
    kg_sfu_config sfu; /* loop is filled in by kg_server_new */
} kg_server_config;

/* Checks that the HTTP port can be bound (and, with TLS, that the
 * certificate and key load and match), starts the media worker and the
 * HTTP/WebSocket server. On failure returns a negative code and writes a
 * one-line reason to err; *out is then NULL, except when lws started but
 * did not set up TLS (KG_ERR_CRYPTO): then close it with
 * kg_server_close, run the loop and kg_server_finish. */
int kg_server_new(kg_server **out, const kg_server_config *cfg, char *err,
                  size_t errlen);

/* Loads cfg.tls_cert and cfg.tls_key again (after a renewal): the
 * handshakes that follow present the new certificate, open connections
 * keep theirs. A bad pair leaves the old one in use. Returns 0, or
 * KG_ERR_INVAL (TLS off) / KG_ERR_CRYPTO with one sentence in err. */
int kg_server_reload_tls(kg_server *s, char *err, size_t errlen);

/* Closes every connection and stops the workers (from a callback on the
 * loop is fine). Run the loop until it ends afterwards, then call
 * kg_server_finish. */
void kg_server_close(kg_server *s);

/* The meetings store of this server. */
struct kg_store *kg_server_store(kg_server *s);

/* Frees what is left once the loop has ended. */
void kg_server_finish(kg_server *s);

#endif
