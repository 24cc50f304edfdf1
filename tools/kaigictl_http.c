/* kaigictl's HTTP client on libwebsockets 4.1: the request headers go in
 * at CLIENT_APPEND_HANDSHAKE_HEADER, the body at CLIENT_HTTP_WRITEABLE
 * (announced with lws_client_http_body_pending), the answer comes through
 * lws_http_client_read. */
#include "tools/kaigictl_http.h"

#include <libwebsockets.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "codec/err.h"
#include "crypto/tls.h"

typedef struct req {
    const char *ca; /* --ca, or NULL: trust the system's store */
    const char *auth;
    const char *body;
    size_t body_len;
    bool body_sent;
    int status;
    char *rx;
    size_t rx_len, rx_cap;
    bool done;
    int err;
    char why[160];
} req;

static void fail(req *r, int err, const char *why)
{
    if (r->done)
        return;
    r->done = true;
    r->err = err;
    snprintf(r->why, sizeof r->why, "%s", why);
}

static int append(req *r, const void *in, size_t len)
{
    if (len > KCTL_HTTP_MAX_BODY - r->rx_len) {
        fail(r, KG_ERR_FULL, "the answer is larger than kaigictl reads");
        return -1;
    }
    if (r->rx_len + len + 1 > r->rx_cap) {
        size_t cap = r->rx_cap ? r->rx_cap : 4096;
        while (cap < r->rx_len + len + 1)
            cap *= 2;
        char *n = realloc(r->rx, cap);
        if (!n) {
            fail(r, KG_ERR_NOMEM, "out of memory");
            return -1;
        }
        r->rx = n;
        r->rx_cap = cap;
    }
    memcpy(r->rx + r->rx_len, in, len);
    r->rx_len += len;
    r->rx[r->rx_len] = '\0';
    return 0;
}

static int add_headers(struct lws *wsi, req *r, unsigned char **p,
                       unsigned char *end)
{
    if (r->auth &&
        lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_AUTHORIZATION,
                                     (const unsigned char *)r->auth,
                                     (int)strlen(r->auth), p, end))
        return -1;
    if (lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_ACCEPT,
                                     (const unsigned char *)"application/json",
                                     16, p, end))
        return -1;
    if (!r->body)
        return 0;
    char cl[24];
    int n = snprintf(cl, sizeof cl, "%zu", r->body_len);
    if (lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_CONTENT_TYPE,
                                     (const unsigned char *)"application/json",
                                     16, p, end) ||
        lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH,
                                     (const unsigned char *)cl, n, p, end))
        return -1;
    lws_client_http_body_pending(wsi, 1);
    lws_callback_on_writable(wsi);
    return 0;
}

static int write_body(struct lws *wsi, req *r)
{
    if (r->body_sent)
        return 0;
    unsigned char *buf = malloc(LWS_PRE + r->body_len + 1);
    if (!buf) {
        fail(r, KG_ERR_NOMEM, "out of memory");
        return -1;
    }
    memcpy(buf + LWS_PRE, r->body, r->body_len);
    int n = lws_write(wsi, buf + LWS_PRE, r->body_len, LWS_WRITE_HTTP_FINAL);
    free(buf);
    if (n < (int)r->body_len) {
        fail(r, KG_ERR_IO, "could not send the request body");
        return -1;
    }
    r->body_sent = true;
    lws_client_http_body_pending(wsi, 0);
    return 0;
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason,
                    void *user, void *in, size_t len)
{
    req *r = lws_get_opaque_user_data(wsi);
    switch (reason) {
    case LWS_CALLBACK_OPENSSL_LOAD_EXTRA_CLIENT_VERIFY_CERTS: {
        /* user is the client SSL_CTX, made before any connection (so no
         * opaque data yet): the context's user says whether --ca is
         * the only trust. */
        const req *cr = lws_context_user(lws_get_context(wsi));
        if (cr && !cr->ca)
            kg_tls_client_trust_system(user);
        return 0;
    }
    case LWS_CALLBACK_CLIENT_CONNECTION_ERROR: {
        char why[160];
        /* lws's own words for a refused certificate are an OpenSSL
         * error code: say which check failed instead. */
        if (!kg_tls_verify_failure(lws_get_ssl(wsi), why, sizeof why))
            snprintf(why, sizeof why, "%s",
                     in ? (const char *)in : "no answer");
        if (r)
            fail(r, KG_ERR_IO, why);
        break;
    }
    case LWS_CALLBACK_CLIENT_APPEND_HANDSHAKE_HEADER:
        if (r && add_headers(wsi, r, (unsigned char **)in,
                             *(unsigned char **)in + len)) {
            fail(r, KG_ERR_NOSPACE, "request headers too large");
            return -1;
        }
        break;
    case LWS_CALLBACK_CLIENT_HTTP_WRITEABLE:
        if (r && write_body(wsi, r))
            return -1;
        break;
    case LWS_CALLBACK_ESTABLISHED_CLIENT_HTTP:
        if (r)
            r->status = (int)lws_http_client_http_response(wsi);
        break;
    case LWS_CALLBACK_RECEIVE_CLIENT_HTTP: {
        char buf[LWS_PRE + 4096];
        char *px = buf + LWS_PRE;
        int lenx = (int)sizeof buf - LWS_PRE;
        if (lws_http_client_read(wsi, &px, &lenx) < 0)
            return -1;
        break;
    }
    case LWS_CALLBACK_RECEIVE_CLIENT_HTTP_READ:
        if (r && !r->done && append(r, in, len))
            return -1;
        break;
    case LWS_CALLBACK_COMPLETED_CLIENT_HTTP:
        if (r && !r->done)
            r->done = true;
        lws_cancel_service(lws_get_context(wsi));
        break;
    case LWS_CALLBACK_CLOSED_CLIENT_HTTP:
        if (r)
            fail(r, KG_ERR_IO, "the server closed the connection early");
        lws_cancel_service(lws_get_context(wsi));
        break;
    default:
        break;
    }
    return 0;
}

static const struct lws_protocols protocols[] = {
    {"kaigictl-http", callback, 0, 0, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int kctl_http_request(const kctl_url *url, const char *ca,
                      const char *method, const char *path, const char *auth,
                      const char *body, int timeout_ms, kctl_http_resp *out,
                      char *err, size_t errcap)
{
    memset(out, 0, sizeof *out);
    req r = {.ca = ca,
             .auth = auth,
             .body = body,
             .body_len = body ? strlen(body) : 0};

    lws_set_log_level(0, NULL); /* kaigictl says what went wrong itself */
    struct lws_context_creation_info info;
    memset(&info, 0, sizeof info);
    info.port = CONTEXT_PORT_NO_LISTEN;
    info.protocols = protocols;
    info.gid = -1;
    info.uid = -1;
    info.connect_timeout_secs = (unsigned)(timeout_ms + 999) / 1000;
    info.timeout_secs = info.connect_timeout_secs;
    info.user = &r;
    if (url->tls) {
        info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
        info.client_ssl_ca_filepath = ca;
    }
    struct lws_context *ctx = lws_create_context(&info);
    if (!ctx) {
        snprintf(err, errcap, "%s", "could not start the HTTP client");
        return KG_ERR_NOMEM;
    }

    struct lws_client_connect_info ci;
    memset(&ci, 0, sizeof ci);
    ci.context = ctx;
    ci.address = url->host;
    ci.port = url->port;
    ci.path = path;
    ci.host = url->hostport;
    /* lws 4.1 checks the server's certificate against the Host value with
     * ":port" cut off, which leaves "[::1]" for an IPv6 literal: give it
     * the bare address to match the certificate's IP entry. */
    if (url->tls && strchr(url->host, ':'))
        ci.host = url->host;
    ci.method = method;
    /* lws follows redirects by default and would send the Authorization
     * header along to wherever Location points: a 3xx is an answer. */
    ci.ssl_connection = LCCSCF_HTTP_NO_FOLLOW_REDIRECT;
    /* https://: the chain must verify and name url->host (lws checks
     * both; kaigictl never turns either off). */
    if (url->tls)
        ci.ssl_connection |= LCCSCF_USE_SSL;
    ci.protocol = protocols[0].name;
    ci.opaque_user_data = &r;
    struct lws *wsi = NULL;
    ci.pwsi = &wsi;
    if (!lws_client_connect_via_info(&ci) && !r.done)
        fail(&r, KG_ERR_IO, "could not connect");

    int64_t deadline = now_ms() + timeout_ms;
    while (!r.done) {
        if (now_ms() >= deadline) {
            fail(&r, KG_ERR_TIMEOUT, "no answer in time");
            break;
        }
        if (lws_service(ctx, 100) < 0) {
            fail(&r, KG_ERR_IO, "connection lost");
            break;
        }
    }
    lws_context_destroy(ctx);

    if (r.err) {
        free(r.rx);
        snprintf(err, errcap, "%s", r.why);
        return r.err;
    }
    out->status = r.status;
    out->body = r.rx ? r.rx : calloc(1, 1);
    out->len = r.rx_len;
    if (!out->body) {
        snprintf(err, errcap, "%s", "out of memory");
        return KG_ERR_NOMEM;
    }
    return 0;
}

void kctl_http_resp_free(kctl_http_resp *r)
{
    free(r->body);
    r->body = NULL;
    r->len = 0;
}
