#include "signalling/server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <libwebsockets.h>
#include <uv.h>

#include "codec/err.h"
#include "crypto/tls.h"
#include "signalling/api.h"
#include "signalling/stats.h"

typedef struct out_msg {
    struct out_msg *next;
    size_t len;
    unsigned char data[]; /* LWS_PRE bytes of headroom, then the text */
} out_msg;

/* Per-connection state (lws per_session_data). */
typedef struct conn {
    struct lws *wsi;
    kg_session *session;
    out_msg *head, *tail;
    bool closing;
    char *rx;
    size_t rx_len;
    bool rx_overflow;
    char *http_body; /* HTTP response body waiting for WRITEABLE */
    size_t http_len;
    bool http_close; /* close the connection once that is written */
    /* a POST/PUT waiting for its body */
    enum kg_http_method method;
    char path[128];
    char auth[160];
    char *req_body;
    size_t req_len;
    bool req_too_large;
} conn;

struct kg_server {
    kg_server_config cfg;
    char www[512];
    struct lws_context *ctx;
    kg_sfu *sfu;
    void *ssl_ctx; /* the vhost's OpenSSL SSL_CTX with TLS on, else NULL */
};

/* With TLS on, browsers are told to come back over https only (a year,
 * the usual HSTS lifetime; no includeSubDomains: kaigi does not own the
 * rest of the domain). */
#define HSTS_HEADER "strict-transport-security: max-age=31536000\r\n"

/* The browser client's files (signalling/www): name → MIME type. Only
 * these are served; nothing else on disk is reachable. */
static const struct {
    const char *url;
    const char *file;
    const char *mime;
} www_files[] = {
    {"/", "index.html", "text/html"},
    {"/index.html", "index.html", "text/html"},
    {"/app.js", "app.js", "text/javascript"},
    {"/style.css", "style.css", "text/css"},
};

/* --- sending ------------------------------------------------------- */

static void conn_send(void *c_, const char *text, size_t len)
{
    conn *c = c_;
    if (c->closing)
        return;
    out_msg *m = malloc(sizeof(*m) + LWS_PRE + len);
    if (!m)
        return;
    m->next = NULL;
    m->len = len;
    memcpy(m->data + LWS_PRE, text, len);
    if (c->tail)
        c->tail->next = m;
    else
        c->head = m;
    c->tail = m;
    lws_callback_on_writable(c->wsi);
}

static void conn_close(void *c_)
{
    conn *c = c_;
    c->closing = true;
    lws_callback_on_writable(c->wsi);
}

static const kg_conn_ops conn_ops = {.send = conn_send, .close = conn_close};

static void conn_free_queue(conn *c)
{
    while (c->head) {
        out_msg *m = c->head;
        c->head = m->next;
        free(m);
    }
    c->tail = NULL;
    free(c->rx);
    c->rx = NULL;
    free(c->http_body);
    c->http_body = NULL;
    free(c->req_body);
    c->req_body = NULL;
}

static int ws_writeable(conn *c)
{
    out_msg *m = c->head;
    if (m) {
        c->head = m->next;
        if (!c->head)
            c->tail = NULL;
        int n = lws_write(c->wsi, m->data + LWS_PRE, m->len, LWS_WRITE_TEXT);
        free(m);
        if (n < 0)
            return -1;
        if (c->head || c->closing)
            lws_callback_on_writable(c->wsi);
        return 0;
    }
    if (c->closing) {
        lws_close_reason(c->wsi, LWS_CLOSE_STATUS_NORMAL, NULL, 0);
        return -1;
    }
    return 0;
}

/* Collects fragments into one message; over KG_MAX_MESSAGE the message is
 * refused as a whole. */
static void ws_receive(conn *c, const void *in, size_t len)
{
    if (!c->session)
        return;
    if (!c->rx_overflow) {
        if (c->rx_len + len > KG_MAX_MESSAGE) {
            c->rx_overflow = true;
        } else {
            /* Grown to the message, freed after it: an idle participant
             * holds no receive buffer. */
            char *grown = realloc(c->rx, c->rx_len + len + 1);
            if (!grown) {
                c->rx_overflow = true;
            } else {
                c->rx = grown;
                memcpy(c->rx + c->rx_len, in, len);
                c->rx_len += len;
            }
        }
    }
    if (!lws_is_final_fragment(c->wsi) || lws_remaining_packet_payload(c->wsi))
        return;
    if (c->rx_overflow)
        kg_session_on_message(c->session, "", KG_MAX_MESSAGE + 1);
    else
        kg_session_on_message(c->session, c->rx ? c->rx : "", c->rx_len);
    free(c->rx);
    c->rx = NULL;
    c->rx_len = 0;
    c->rx_overflow = false;
}

/* --- HTTP ------------------------------------------------------------ */

static kg_server *server_of(struct lws *wsi)
{
    return lws_context_user(lws_get_context(wsi));
}

static int http_respond(struct lws *wsi, conn *c, unsigned status,
                        const char *type, const char *body, size_t len)
{
    uint8_t buf[LWS_PRE + 1024];
    uint8_t *start = buf + LWS_PRE, *p = start, *end = buf + sizeof(buf) - 1;
    if (lws_add_http_common_headers(wsi, status, type, len, &p, end))
        return 1;
    static const char csp[] = "default-src 'self'";
    if (lws_add_http_header_by_name(wsi,
                                    (const unsigned char *)
                                    "content-security-policy:",
                                    (const unsigned char *)csp,
                                    (int)strlen(csp), &p, end))
        return 1;
    static const char hsts[] = "max-age=31536000";
    if (server_of(wsi)->ssl_ctx &&
        lws_add_http_header_by_name(wsi,
                                    (const unsigned char *)
                                    "strict-transport-security:",
                                    (const unsigned char *)hsts,
                                    (int)strlen(hsts), &p, end))
        return 1;
    /* One response per request: a second one would overwrite (and leak)
     * the first and answer the connection's next request out of turn. */
    if (c->http_body)
        return 1;
    if (lws_finalize_write_http_header(wsi, start, &p, end))
        return 1;
    c->http_body = malloc(LWS_PRE + len + 1);
    if (!c->http_body)
        return 1;
    memcpy(c->http_body + LWS_PRE, body, len);
    c->http_len = len;
    lws_callback_on_writable(wsi);
    return 0;
}

static enum kg_http_method http_method(struct lws *wsi)
{
    if (lws_hdr_total_length(wsi, WSI_TOKEN_GET_URI) > 0)
        return KG_HTTP_GET;
    if (lws_hdr_total_length(wsi, WSI_TOKEN_POST_URI) > 0)
        return KG_HTTP_POST;
    if (lws_hdr_total_length(wsi, WSI_TOKEN_PUT_URI) > 0)
        return KG_HTTP_PUT;
    if (lws_hdr_total_length(wsi, WSI_TOKEN_DELETE_URI) > 0)
        return KG_HTTP_DELETE;
    return KG_HTTP_OTHER;
}

static int respond_json(struct lws *wsi, conn *c, unsigned status, json_t *j)
{
    if (!j)
        return http_respond(wsi, c, status, "application/json", "", 0);
    char *text = json_dumps(j, JSON_INDENT(2));
    json_decref(j);
    if (!text)
        return 1;
    size_t len = strlen(text);
    text[len] = '\n';
    int rc = http_respond(wsi, c, status, "application/json", text, len + 1);
    free(text);
    return rc;
}

static int api_request(struct lws *wsi, conn *c, kg_server *s)
{
    kg_api_req req = {.method = c->method,
                      .path = c->path,
                      .authorization = c->auth,
                      .body = c->req_body,
                      .body_len = c->req_too_large ? KG_API_MAX_BODY + 1
                                                   : c->req_len,
                      .now = (int64_t)time(NULL)};
    kg_api_resp resp = {0};
    kg_api_meetings(kg_sfu_api(s->sfu), &req, &resp);
    memset(c->auth, 0, sizeof(c->auth));
    /* Answered: a body completion still to come is not a second request.
     * A keep-alive connection reuses c for its next request. */
    c->path[0] = '\0';
    free(c->req_body);
    c->req_body = NULL;
    c->req_len = 0;
    c->req_too_large = false;
    return respond_json(wsi, c, resp.status, resp.body);
}

/* GET /api/rooms..., /metrics: ops statistics (signalling/stats.h). */
static int stats_request(struct lws *wsi, conn *c, kg_server *s,
                         const char *uri)
{
    if (lws_hdr_copy(wsi, c->auth, sizeof(c->auth),
                     WSI_TOKEN_HTTP_AUTHORIZATION) < 0)
        c->auth[0] = '\0';
    kg_api_req req = {.method = c->method,
                      .path = uri,
                      .authorization = c->auth,
                      .now = (int64_t)time(NULL)};
    kg_api_resp resp = {0};
    if (strcmp(uri, "/metrics") == 0) {
        char *text = NULL;
        size_t len = 0;
        kg_stats_metrics(s->sfu, &req, &text, &len, &resp);
        memset(c->auth, 0, sizeof(c->auth));
        if (!text)
            return respond_json(wsi, c, resp.status, resp.body);
        int rc = http_respond(wsi, c, 200, "text/plain; version=0.0.4; "
                              "charset=utf-8", text, len);
        free(text);
        return rc;
    }
    kg_stats_rooms(s->sfu, &req, &resp);
    memset(c->auth, 0, sizeof(c->auth));
    return respond_json(wsi, c, resp.status, resp.body);
}

/* The request's body, from its headers: its Content-Length (0: none),
 * or -1 when it has one of no stated length (chunked, or a POST/PUT
 * without Content-Length), or -2 for a malformed length. */
static long body_length(struct lws *wsi, enum kg_http_method m)
{
    char v[32];
    if (lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_TRANSFER_ENCODING) > 0)
        return -1;
    int n = lws_hdr_copy(wsi, v, sizeof(v), WSI_TOKEN_HTTP_CONTENT_LENGTH);
    if (n <= 0)
        return m == KG_HTTP_POST || m == KG_HTTP_PUT ? -1 : 0;
    char *end;
    long len = strtol(v, &end, 10);
    return *end || end == v || len < 0 ? -2 : len;
}

/* An /api/meetings request: answered once, when its whole body is in
 * (at LWS_CALLBACK_HTTP_BODY_COMPLETION) or now if it has none; 411 and
 * 400 (then the connection closes: the rest of the stream cannot be
 * told from the next request) for a body kaigi cannot delimit. */
static int api_or_wait(struct lws *wsi, conn *c, kg_server *s)
{
    long len = body_length(wsi, c->method);
    if (len < 0) {
        c->path[0] = '\0';
        c->http_close = true;
        return respond_json(
            wsi, c, len == -1 ? 411 : 400,
            json_pack("{s:s, s:s}", "error",
                      len == -1 ? "length_required" : "bad_request",
                      "message",
                      len == -1 ? "a body needs a Content-Length (no chunked "
                                  "encoding)"
                                : "malformed Content-Length"));
    }
    if (len > 0)
        return 0; /* answered at LWS_CALLBACK_HTTP_BODY_COMPLETION */
    return api_request(wsi, c, s);
}

static int http_request(struct lws *wsi, conn *c, kg_server *s,
                        const char *uri)
{
    c->method = http_method(wsi);
    c->path[0] = '\0'; /* set only for a request whose body is awaited */
    for (size_t i = 0; i < KG_ARRAY_LEN(www_files); i++) {
        if (strcmp(uri, www_files[i].url) != 0 || c->method != KG_HTTP_GET)
            continue;
        char path[640];
        snprintf(path, sizeof(path), "%s/%s", s->www, www_files[i].file);
        /* connect-src falls back to default-src 'self', which lets the
         * page open its WebSocket to its own origin only: ws: over http,
         * wss: over https (CSP Level 3 matches 'self' across the
         * upgrade, as Chromium and Firefox do). */
#define PAGE_HEADERS                                                    \
    "content-security-policy: default-src 'self'; "                    \
    "img-src 'self' data: blob:; media-src 'self' blob:\r\n"           \
    "x-content-type-options: nosniff\r\n"                              \
    "referrer-policy: no-referrer\r\n"                                 \
    "cache-control: no-store\r\n"
        static const char headers[] = PAGE_HEADERS;
        static const char headers_tls[] = PAGE_HEADERS HSTS_HEADER;
#undef PAGE_HEADERS
        bool tls = s->ssl_ctx != NULL;
        int n = lws_serve_http_file(wsi, path, www_files[i].mime,
                                    tls ? headers_tls : headers,
                                    (int)(tls ? sizeof(headers_tls)
                                              : sizeof(headers)) - 1);
        if (n < 0 || (n > 0 && lws_http_transaction_completed(wsi)))
            return -1;
        return 0;
    }
    if (strcmp(uri, "/api/stats") == 0 && c->method == KG_HTTP_GET)
        return respond_json(wsi, c, 200, kg_sfu_stats_json(s->sfu));
    if (strcmp(uri, "/metrics") == 0 ||
        (strncmp(uri, "/api/rooms", 10) == 0 &&
         (uri[10] == '\0' || uri[10] == '/')))
        return stats_request(wsi, c, s, uri);
    if (strncmp(uri, "/api/meetings", 13) == 0 &&
        (uri[13] == '\0' || uri[13] == '/') && strlen(uri) < sizeof(c->path)) {
        snprintf(c->path, sizeof(c->path), "%s", uri);
        if (lws_hdr_copy(wsi, c->auth, sizeof(c->auth),
                         WSI_TOKEN_HTTP_AUTHORIZATION) < 0)
            c->auth[0] = '\0';
        return api_or_wait(wsi, c, s);
    }
    return respond_json(wsi, c, 404,
                        json_pack("{s:s, s:s}", "error", "not_found",
                                  "message", "no such endpoint"));
}

static void http_body(conn *c, const void *in, size_t len)
{
    if (c->req_too_large)
        return;
    if (c->req_len + len > KG_API_MAX_BODY) {
        c->req_too_large = true;
        return;
    }
    if (!c->req_body && !(c->req_body = malloc(KG_API_MAX_BODY))) {
        c->req_too_large = true;
        return;
    }
    memcpy(c->req_body + c->req_len, in, len);
    c->req_len += len;
}

static int http_writeable(struct lws *wsi, conn *c)
{
    if (!c->http_body)
        return 0;
    int n = lws_write(wsi, (unsigned char *)c->http_body + LWS_PRE,
                      c->http_len, LWS_WRITE_HTTP_FINAL);
    free(c->http_body);
    c->http_body = NULL;
    if (n < 0 || c->http_close)
        return -1;
    return lws_http_transaction_completed(wsi) ? -1 : 0;
}

/* --- the one protocol ------------------------------------------------ */

static bool uri_is_ws(struct lws *wsi)
{
    char uri[64];
    if (lws_hdr_copy(wsi, uri, sizeof(uri), WSI_TOKEN_GET_URI) < 0)
        return false;
    return strcmp(uri, "/ws") == 0;
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason,
                    void *user, void *in, size_t len)
{
    conn *c = user;
    struct lws_context *ctx = lws_get_context(wsi);
    kg_server *s = ctx ? lws_context_user(ctx) : NULL;

    /* lws made the vhost's SSL_CTX and loaded --tls-cert/--tls-key into
     * it: keep it, SIGHUP loads the renewed files into the same one.
     * Here user is the SSL_CTX, not a conn. */
    if (reason == LWS_CALLBACK_OPENSSL_LOAD_EXTRA_SERVER_VERIFY_CERTS) {
        if (s)
            s->ssl_ctx = user;
        return 0;
    }

    /* lws calls some reasons (CLOSED_HTTP for a connection that closed
     * before sending a request) with no per-connection state: nothing of
     * ours to touch then. */
    if (!c || !s)
        return lws_callback_http_dummy(wsi, reason, user, in, len);

    switch (reason) {
    case LWS_CALLBACK_HTTP:
        return http_request(wsi, c, s, in ? (const char *)in : "");
    case LWS_CALLBACK_HTTP_BODY:
        http_body(c, in, len);
        return 0;
    case LWS_CALLBACK_HTTP_BODY_COMPLETION:
        /* a body sent to anything but /api/meetings was answered already */
        return c->path[0] ? api_request(wsi, c, s) : 0;
    case LWS_CALLBACK_HTTP_WRITEABLE:
        return http_writeable(wsi, c);
    case LWS_CALLBACK_CLOSED_HTTP:
        conn_free_queue(c);
        break;
    case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
        return uri_is_ws(wsi) ? 0 : 1;
    case LWS_CALLBACK_ESTABLISHED: {
        memset(c, 0, sizeof(*c));
        c->wsi = wsi;
        char peer[64] = "";
        lws_get_peer_simple(wsi, peer, sizeof(peer));
        c->session = kg_session_open(s->sfu, c, peer);
        if (!c->session) {
            const char full[] = "{\"type\":\"error\",\"code\":\"busy\","
                                "\"message\":\"too many connections are "
                                "waiting to join; try again\"}";
            conn_send(c, full, sizeof(full) - 1);
            conn_close(c);
        }
        break;
    }
    case LWS_CALLBACK_RECEIVE:
        ws_receive(c, in, len);
        break;
    case LWS_CALLBACK_SERVER_WRITEABLE:
        return ws_writeable(c);
    case LWS_CALLBACK_CLOSED:
        if (c->session)
            kg_session_closed(c->session);
        c->session = NULL;
        conn_free_queue(c);
        break;
    default:
        break;
    }
    return lws_callback_http_dummy(wsi, reason, user, in, len);
}

static const struct lws_protocols protocols[] = {
    {"kaigi-v1", callback, sizeof(conn), 4096, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

/* libwebsockets reports a busy port only in its log; try the bind first
 * so that the operator gets one clear line. */
static int check_port(const char *ip, uint16_t port, char *err, size_t errlen)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    socklen_t sl;
    if (strchr(ip, ':')) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
        a->sin6_family = AF_INET6;
        a->sin6_port = htons(port);
        if (inet_pton(AF_INET6, ip, &a->sin6_addr) != 1)
            goto bad_ip;
        sl = sizeof(*a);
    } else {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;
        a->sin_family = AF_INET;
        a->sin_port = htons(port);
        if (inet_pton(AF_INET, ip, &a->sin_addr) != 1)
            goto bad_ip;
        sl = sizeof(*a);
    }
    int fd = socket(ss.ss_family, SOCK_STREAM, 0);
    if (fd < 0) {
        snprintf(err, errlen, "socket: %s", strerror(errno));
        return KG_ERR_IO;
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    int rc = bind(fd, (struct sockaddr *)&ss, sl);
    int e = errno;
    close(fd);
    if (rc != 0) {
        snprintf(err, errlen, "cannot listen on %s port %u: %s", ip, port,
                 strerror(e));
        return KG_ERR_IO;
    }
    return 0;
bad_ip:
    snprintf(err, errlen, "'%s' is not a numeric IP address", ip);
    return KG_ERR_INVAL;
}

int kg_server_new(kg_server **out, const kg_server_config *cfg, char *err,
                  size_t errlen)
{
    int rc = check_port(cfg->listen_ip, cfg->listen_port, err, errlen);
    if (rc != 0)
        return rc;
    kg_server *s = calloc(1, sizeof(*s));
    if (!s)
        return KG_ERR_NOMEM;
    s->cfg = *cfg;
    snprintf(s->www, sizeof(s->www), "%s", cfg->www_dir ? cfg->www_dir : "");
    s->cfg.sfu.loop = cfg->loop;
    rc = kg_sfu_new(&s->sfu, &s->cfg.sfu, &conn_ops);
    if (rc != 0) {
        snprintf(err, errlen, "cannot start the media worker: %s",
                 rc < 0 && rc > -4096 && rc != KG_ERR_CRYPTO
                     ? uv_strerror(rc)
                     : kg_strerror(rc));
        free(s);
        return rc;
    }
    lws_set_log_level(LLL_ERR | LLL_WARN, NULL);
    struct lws_context_creation_info info;
    memset(&info, 0, sizeof(info));
    void *loops[1] = {cfg->loop};
    info.port = cfg->listen_port;
    info.iface = cfg->listen_ip;
    info.protocols = protocols;
    info.options = LWS_SERVER_OPTION_LIBUV | LWS_SERVER_OPTION_VALIDATE_UTF8 |
                   LWS_SERVER_OPTION_DISABLE_IPV6 * !strchr(cfg->listen_ip, ':');
    info.foreign_loops = loops;
    info.user = s;
    info.pt_serv_buf_size = 8192;
    if (cfg->tls_cert) {
        /* lws would only log why the files are bad: check them first. */
        rc = kg_tls_server_load(NULL, cfg->tls_cert, cfg->tls_key, err,
                                errlen);
        if (rc != 0) {
            kg_sfu_del(s->sfu);
            free(s);
            return rc;
        }
        /* A plain-HTTP request to this port is refused (lws closes it),
         * so no API answer, token or page ever goes out in clear. */
        info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
        info.ssl_cert_filepath = cfg->tls_cert;
        info.ssl_private_key_filepath = cfg->tls_key;
        /* HTTP/1.1 only: the WebSocket is an HTTP/1.1 upgrade, which the
         * clients and every browser do; lws's HTTP/2 is not needed. */
        info.alpn = "http/1.1";
    }
    /* lws clears s->ctx once the context is wholly gone: with a foreign
     * loop that is only after the loop has run its handles' close
     * callbacks (see kg_server_finish). */
    info.pcontext = &s->ctx;
    s->ctx = lws_create_context(&info);
    if (!s->ctx) {
        snprintf(err, errlen, "cannot start the HTTP server on %s port %u",
                 cfg->listen_ip, cfg->listen_port);
        kg_sfu_del(s->sfu);
        free(s);
        return KG_ERR_IO;
    }
    if (cfg->tls_cert && !s->ssl_ctx) {
        /* without it SIGHUP could not reload: refuse to start */
        snprintf(err, errlen, "libwebsockets did not set up TLS");
        *out = s; /* the caller closes it as after a run */
        return KG_ERR_CRYPTO;
    }
    *out = s;
    return 0;
}

int kg_server_reload_tls(kg_server *s, char *err, size_t errlen)
{
    if (!s->ssl_ctx) {
        snprintf(err, errlen, "TLS is off (no --tls-cert)");
        return KG_ERR_INVAL;
    }
    return kg_tls_server_load(s->ssl_ctx, s->cfg.tls_cert, s->cfg.tls_key,
                              err, errlen);
}

void kg_server_close(kg_server *s)
{
    /* Closing the context closes every connection (their sessions leave
     * their rooms) before the workers stop. */
    if (s->ctx)
        lws_context_destroy(s->ctx);
    if (s->sfu)
        kg_sfu_del(s->sfu);
    s->sfu = NULL;
}

struct kg_store *kg_server_store(kg_server *s)
{
    return kg_sfu_store(s->sfu);
}

void kg_server_finish(kg_server *s)
{
    /* The second destroy completes what the drained loop made possible,
     * as lws's foreign-loop examples do; a no-op if lws already did. */
    if (s->ctx)
        lws_context_destroy(s->ctx);
    free(s);
}
