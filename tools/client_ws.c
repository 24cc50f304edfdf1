/* WebSocket client for kaigi-client on a foreign libuv loop. */
#include "tools/client_ws.h"

#include <libwebsockets.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/tls.h"

/* The protocol allows 65,536-byte messages; anything longer is a broken
 * server, and the client stops listening to it. */
#define MAX_MESSAGE 65536

typedef struct out_msg {
    struct out_msg *next;
    size_t len;
    unsigned char data[]; /* LWS_PRE bytes of headroom, then the text */
} out_msg;

struct kc_ws {
    struct lws_context *ctx;
    struct lws *wsi;
    kc_ws_handler h;
    bool open;
    bool closing;
    bool closed_reported;
    bool dead; /* context destroyed: callbacks still in flight are ignored */
    void *loops[1];
    out_msg *head, *tail;
    char *rx;
    size_t rx_len;
    bool rx_overflow;
    char host[256];
    char path[512];
    char iface[64]; /* numeric local address, "" for any */
    char ca[512]; /* --ca: the only CA trusted; "" for the system's */
    int port;
    bool tls; /* wss:// */
};

int kc_ws_parse_url(const char *url, char *host, size_t host_cap, int *port,
                    char *path, size_t path_cap)
{
    bool tls = strncmp(url, "wss://", 6) == 0;
    if (!tls && strncmp(url, "ws://", 5) != 0)
        return -1;
    const char *p = url + (tls ? 6 : 5), *end;
    if (*p == '[') { /* IPv6 literal */
        end = strchr(p, ']');
        if (!end)
            return -1;
        p++;
    } else {
        end = p + strcspn(p, ":/");
    }
    size_t hl = (size_t)(end - p);
    if (hl == 0 || hl >= host_cap)
        return -1;
    memcpy(host, p, hl);
    host[hl] = '\0';
    p = end + (*end == ']');
    *port = tls ? 443 : 80;
    if (*p == ':') {
        char *e;
        long v = strtol(p + 1, &e, 10);
        if (e == p + 1 || v < 1 || v > 65535)
            return -1;
        *port = (int)v;
        p = e;
    }
    if (*p == '\0')
        p = "/";
    if (*p != '/' || strlen(p) >= path_cap)
        return -1;
    strcpy(path, p);
    return 0;
}

static void report_closed(kc_ws *ws, const char *why)
{
    ws->open = false;
    ws->wsi = NULL;
    if (ws->closed_reported)
        return;
    ws->closed_reported = true;
    ws->h.on_event(ws->h.user, KC_WS_CLOSED, why ? why : "");
}

/* Accumulates fragments until the final one of a message. */
static void on_receive(kc_ws *ws, struct lws *wsi, const void *in, size_t len)
{
    if (!ws->rx_overflow && ws->rx_len + len <= MAX_MESSAGE) {
        memcpy(ws->rx + ws->rx_len, in, len);
        ws->rx_len += len;
    } else {
        ws->rx_overflow = true;
    }
    if (!lws_is_final_fragment(wsi) || lws_remaining_packet_payload(wsi))
        return;
    if (ws->rx_overflow)
        fprintf(stderr, "kaigi-client: dropped a signalling message over "
                        "%d bytes\n", MAX_MESSAGE);
    else {
        ws->rx[ws->rx_len] = '\0';
        ws->h.on_message(ws->h.user, ws->rx, ws->rx_len);
    }
    ws->rx_len = 0;
    ws->rx_overflow = false;
}

/* Writes one queued message per writable callback, as lws requires. */
static int on_writable(kc_ws *ws, struct lws *wsi)
{
    out_msg *m = ws->head;
    if (m) {
        ws->head = m->next;
        if (!ws->head)
            ws->tail = NULL;
        int n = lws_write(wsi, m->data + LWS_PRE, m->len, LWS_WRITE_TEXT);
        free(m);
        if (n < 0)
            return -1;
    }
    if (ws->head) {
        lws_callback_on_writable(wsi);
        return 0;
    }
    if (ws->closing) {
        lws_close_reason(wsi, LWS_CLOSE_STATUS_NORMAL, NULL, 0);
        return -1;
    }
    return 0;
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason,
                    void *user, void *in, size_t len)
{
    (void)user;
    struct lws_context *ctx = lws_get_context(wsi);
    kc_ws *ws = ctx ? lws_context_user(ctx) : NULL;
    if (!ws || ws->dead)
        return lws_callback_http_dummy(wsi, reason, user, in, len);
    switch (reason) {
    case LWS_CALLBACK_OPENSSL_LOAD_EXTRA_CLIENT_VERIFY_CERTS:
        /* user is the client SSL_CTX. lws itself trusts only --ca
         * (client_ssl_ca_filepath); without it, the system's store. */
        if (!ws->ca[0] && kg_tls_client_trust_system(user) != 0)
            fprintf(stderr, "kaigi-client: cannot read the system's "
                            "trusted certificates\n");
        return 0;
    case LWS_CALLBACK_CLIENT_ESTABLISHED:
        ws->open = true;
        ws->h.on_event(ws->h.user, KC_WS_OPEN, "");
        if (ws->head || ws->closing)
            lws_callback_on_writable(wsi);
        return 0;
    case LWS_CALLBACK_CLIENT_RECEIVE:
        on_receive(ws, wsi, in, len);
        return 0;
    case LWS_CALLBACK_CLIENT_WRITEABLE:
        return on_writable(ws, wsi);
    case LWS_CALLBACK_CLIENT_CONNECTION_ERROR: {
        /* lws's own words for a refused certificate are an OpenSSL
         * error code: say which check failed instead. */
        char why[200];
        if (kg_tls_verify_failure(lws_get_ssl(wsi), why, sizeof why))
            report_closed(ws, why);
        else
            report_closed(ws, in ? (const char *)in : "connection error");
        return 0;
    }
    case LWS_CALLBACK_CLIENT_CLOSED:
        report_closed(ws, "closed");
        return 0;
    case LWS_CALLBACK_WSI_DESTROY:
        if (wsi == ws->wsi)
            report_closed(ws, "closed");
        return 0;
    default:
        return lws_callback_http_dummy(wsi, reason, user, in, len);
    }
}

static const struct lws_protocols protocols[] = {
    {"kaigi-client", callback, 0, MAX_MESSAGE, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

static int connect_ws(kc_ws *ws)
{
    struct lws_client_connect_info cc;
    memset(&cc, 0, sizeof(cc));
    cc.context = ws->ctx;
    cc.address = ws->host;
    cc.port = ws->port;
    cc.path = ws->path;
    cc.host = ws->host;
    cc.origin = ws->host;
    cc.ietf_version_or_minus_one = -1;
    cc.local_protocol_name = protocols[0].name;
    cc.pwsi = &ws->wsi;
    /* wss://: the server's chain must verify against the trusted CAs and
     * name the host we asked for (lws checks both unless told not to). */
    if (ws->tls)
        cc.ssl_connection = LCCSCF_USE_SSL;
    /* lws binds the socket to iface before connecting; a numeric address
     * is taken as is when no interface has that name. */
    if (ws->iface[0])
        cc.iface = ws->iface;
    return lws_client_connect_via_info(&cc) ? 0 : -1;
}

kc_ws *kc_ws_new(uv_loop_t *loop, const char *url, const char *bind_ip,
                 const char *ca_file, const kc_ws_handler *h)
{
    kc_ws *ws = calloc(1, sizeof(*ws));
    if (!ws || !(ws->rx = malloc(MAX_MESSAGE + 1))) {
        free(ws);
        return NULL;
    }
    ws->h = *h;
    if (kc_ws_parse_url(url, ws->host, sizeof(ws->host), &ws->port, ws->path,
                        sizeof(ws->path)) < 0) {
        fprintf(stderr, "kaigi-client: --server must be "
                        "ws[s]://host:port/path, got '%s'\n", url);
        goto fail;
    }
    ws->tls = strncmp(url, "wss://", 6) == 0;
    if (ca_file && strlen(ca_file) >= sizeof(ws->ca)) {
        fprintf(stderr, "kaigi-client: --ca path too long\n");
        goto fail;
    }
    snprintf(ws->ca, sizeof(ws->ca), "%s", ca_file ? ca_file : "");
    if (bind_ip && strlen(bind_ip) >= sizeof(ws->iface)) {
        fprintf(stderr, "kaigi-client: bad local address '%s'\n", bind_ip);
        goto fail;
    }
    snprintf(ws->iface, sizeof(ws->iface), "%s", bind_ip ? bind_ip : "");
    lws_set_log_level(LLL_ERR, NULL);
    ws->loops[0] = loop;
    struct lws_context_creation_info info;
    memset(&info, 0, sizeof(info));
    info.port = CONTEXT_PORT_NO_LISTEN;
    info.protocols = protocols;
    info.options = LWS_SERVER_OPTION_LIBUV;
    if (ws->tls) {
        info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
        if (ws->ca[0])
            info.client_ssl_ca_filepath = ws->ca;
    }
    info.foreign_loops = ws->loops;
    info.user = ws;
    /* lws clears ws->ctx once the context is wholly gone: with a foreign
     * loop that is only after the loop has run its handles' close
     * callbacks. */
    info.pcontext = &ws->ctx;
    ws->ctx = lws_create_context(&info);
    if (!ws->ctx) {
        fprintf(stderr, "kaigi-client: cannot create the WebSocket context\n");
        goto fail;
    }
    if (connect_ws(ws) < 0) {
        /* lws reports most connect failures through CONNECTION_ERROR;
         * this one happened before any callback could. */
        fprintf(stderr, "kaigi-client: cannot connect to %s\n", url);
        kc_ws_del(ws);
        kc_ws_free(ws);
        return NULL;
    }
    return ws;
fail:
    free(ws->rx);
    free(ws);
    return NULL;
}

int kc_ws_send(kc_ws *ws, const char *text)
{
    if (!ws || !ws->open || ws->closing)
        return -1;
    size_t len = strlen(text);
    out_msg *m = malloc(sizeof(*m) + LWS_PRE + len);
    if (!m)
        return -1;
    m->next = NULL;
    m->len = len;
    memcpy(m->data + LWS_PRE, text, len);
    if (ws->tail)
        ws->tail->next = m;
    else
        ws->head = m;
    ws->tail = m;
    lws_callback_on_writable(ws->wsi);
    return 0;
}

void kc_ws_close(kc_ws *ws)
{
    if (!ws || ws->closing)
        return;
    ws->closing = true;
    if (ws->wsi && ws->open)
        lws_callback_on_writable(ws->wsi);
}

void kc_ws_del(kc_ws *ws)
{
    if (!ws || ws->dead)
        return;
    /* Reports nothing more: the owner is tearing down. */
    ws->closed_reported = true;
    ws->dead = true;
    if (ws->ctx)
        lws_context_destroy(ws->ctx);
}

void kc_ws_free(kc_ws *ws)
{
    if (!ws)
        return;
    /* The second call finishes a destruction the loop has made possible
     * (as lws's foreign-loop examples do); a no-op if lws already did. */
    if (ws->ctx)
        lws_context_destroy(ws->ctx);
    while (ws->head) {
        out_msg *m = ws->head;
        ws->head = m->next;
        free(m);
    }
    free(ws->rx);
    free(ws);
}
