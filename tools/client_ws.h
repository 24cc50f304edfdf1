/* kaigi-client's signalling socket: a libwebsockets client running on the
 * caller's libuv loop (a foreign loop, so one loop drives both the
 * WebSocket and the media sockets). Text messages only; fragments are
 * reassembled; outgoing messages are queued and written when lws says the
 * socket is writable. */
#ifndef KC_WS_H
#define KC_WS_H

#include <stddef.h>
#include <uv.h>

typedef struct kc_ws kc_ws;

enum kc_ws_event {
    KC_WS_OPEN = 0,   /* handshake done, messages may be sent */
    KC_WS_CLOSED = 1, /* closed by either side, or connect failed */
};

typedef struct kc_ws_handler {
    void *user;
    /* One whole text message (NUL-terminated as a convenience). Called from
     * inside lws: do not call kc_ws_del from here. */
    void (*on_message)(void *user, const char *text, size_t len);
    /* detail: a reason for KC_WS_CLOSED, may be "". Same restriction. */
    void (*on_event)(void *user, enum kc_ws_event ev, const char *detail);
} kc_ws_handler;

/* Splits "ws://host:port/path" or "wss://..." (port defaults to 80 or
 * 443, path to "/"; IPv6
 * hosts in brackets). host and path receive NUL-terminated copies.
 * Returns 0, or -1 for an unsupported or malformed URL. */
int kc_ws_parse_url(const char *url, char *host, size_t host_cap, int *port,
                    char *path, size_t path_cap);

/* Creates the lws context on loop and starts connecting to url, from
 * the numeric local address bind_ip (NULL: any). A wss:// server must
 * present a certificate for its host name that chains to ca_file (PEM),
 * or with ca_file NULL to the system's trusted CAs; a failed check
 * closes with the reason in KC_WS_CLOSED's detail. Returns NULL with a
 * message on stderr if the URL or the context is bad. */
kc_ws *kc_ws_new(uv_loop_t *loop, const char *url, const char *bind_ip,
                 const char *ca_file, const kc_ws_handler *h);

/* Queues a text message (copied). Returns 0, or -1 when the socket is not
 * open or memory ran out. */
int kc_ws_send(kc_ws *ws, const char *text);

/* Asks for a clean close once the queued messages are written. The
 * KC_WS_CLOSED event follows. */
void kc_ws_close(kc_ws *ws);

/* Destroys the lws context. Must be called from a libuv callback, not from
 * inside an lws callback; the loop must then keep running until lws has
 * closed its handles. Idempotent. */
void kc_ws_del(kc_ws *ws);

/* Finishes the context's destruction and frees ws: after kc_ws_del, once
 * the loop has run out (lws may run callbacks while its handles close),
 * and before uv_loop_close; run the loop once more afterwards. */
void kc_ws_free(kc_ws *ws);

#endif
