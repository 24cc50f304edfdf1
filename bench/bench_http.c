/* A minimal HTTP/1.1 client on libuv for Janus's REST API. See
 * bench_http.h. */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "bench/bench_http.h"
#include "codec/err.h"

typedef struct http_req {
    uv_tcp_t tcp;
    uv_connect_t conn;
    uv_write_t wr;
    uv_timer_t timer;
    char *out;
    size_t out_len;
    char *in;
    size_t in_len, in_cap;
    kb_http_cb cb;
    void *user;
    bool done;
    int open_handles;
} http_req;

/* --- parsing -------------------------------------------------------- */

/* Finds header name (case-insensitive) in the header block [h, end):
 * returns its value's start (spaces skipped) and length in *vlen, or
 * NULL. */
static const char *header(const char *h, const char *end, const char *name,
                          size_t *vlen)
{
    size_t n = strlen(name);
    for (const char *line = h; line < end;) {
        const char *eol = memchr(line, '\n', (size_t)(end - line));
        if (!eol)
            eol = end;
        if ((size_t)(eol - line) > n && strncasecmp(line, name, n) == 0 &&
            line[n] == ':') {
            const char *v = line + n + 1;
            while (v < eol && (*v == ' ' || *v == '\t'))
                v++;
            const char *ve = eol;
            while (ve > v && (ve[-1] == '\r' || ve[-1] == ' '))
                ve--;
            *vlen = (size_t)(ve - v);
            return v;
        }
        line = eol + 1;
    }
    return NULL;
}

/* De-chunks [b, b + len) in place; returns the body length or an error. */
static ssize_t dechunk(char *b, size_t len)
{
    size_t in = 0, out = 0;
    for (;;) {
        size_t size = 0, digits = 0;
        while (in < len && isxdigit((unsigned char)b[in])) {
            if (size > (KB_HTTP_MAX_RESPONSE >> 4))
                return KG_ERR_MALFORMED;
            char ch = (char)tolower((unsigned char)b[in]);
            size = size * 16 + (size_t)(ch <= '9' ? ch - '0' : ch - 'a' + 10);
            in++;
            digits++;
        }
        if (!digits)
            return KG_ERR_MALFORMED;
        /* Chunk extensions up to the line end are ignored. */
        char *eol = memchr(b + in, '\n', len - in);
        if (!eol)
            return KG_ERR_TRUNC;
        in = (size_t)(eol - b) + 1;
        if (size == 0)
            return (ssize_t)out;
        if (len - in < size + 2)
            return KG_ERR_TRUNC;
        memmove(b + out, b + in, size);
        out += size;
        in += size;
        if (b[in] == '\r')
            in++;
        if (in >= len || b[in] != '\n')
            return KG_ERR_MALFORMED;
        in++;
    }
}

int kb_http_parse_response(char *buf, size_t len, int *status,
                           size_t *body_off, size_t *body_len)
{
    if (len < 12 || memcmp(buf, "HTTP/1.", 7) != 0 || buf[8] != ' ' ||
        !isdigit((unsigned char)buf[9]) || !isdigit((unsigned char)buf[10]) ||
        !isdigit((unsigned char)buf[11]))
        return len < 12 ? KG_ERR_TRUNC : KG_ERR_MALFORMED;
    *status = (buf[9] - '0') * 100 + (buf[10] - '0') * 10 + (buf[11] - '0');
    const char *hend = NULL;
    for (size_t i = 0; i + 1 < len && !hend; i++) {
        if (buf[i] == '\n' && buf[i + 1] == '\n')
            hend = buf + i + 2;
        else if (i + 3 < len && memcmp(buf + i, "\r\n\r\n", 4) == 0)
            hend = buf + i + 4;
    }
    if (!hend)
        return KG_ERR_TRUNC;
    size_t off = (size_t)(hend - buf), blen = len - off, vlen = 0;
    const char *v = header(buf, hend, "Transfer-Encoding", &vlen);
    if (v && vlen == 7 && strncasecmp(v, "chunked", 7) == 0) {
        ssize_t n = dechunk(buf + off, blen);
        if (n < 0)
            return (int)n;
        blen = (size_t)n;
    } else if ((v = header(buf, hend, "Content-Length", &vlen))) {
        char num[24];
        if (vlen == 0 || vlen >= sizeof(num))
            return KG_ERR_MALFORMED;
        memcpy(num, v, vlen);
        num[vlen] = '\0';
        char *e;
        errno = 0;
        unsigned long long cl = strtoull(num, &e, 10);
        if (*e || !isdigit((unsigned char)num[0]) || errno == ERANGE)
            return KG_ERR_MALFORMED;
        if (cl > blen)
            return KG_ERR_TRUNC;
        blen = (size_t)cl;
    }
    *body_off = off;
    *body_len = blen;
    return 0;
}

int kb_http_parse_url(const char *url, struct sockaddr_in *addr, char *path,
                      size_t path_cap)
{
    static const char scheme[] = "http://";
    if (strncmp(url, scheme, sizeof(scheme) - 1) != 0)
        return KG_ERR_INVAL;
    const char *host = url + sizeof(scheme) - 1;
    const char *colon = strchr(host, ':');
    if (!colon || colon - host >= 16)
        return KG_ERR_INVAL;
    char ip[16];
    memcpy(ip, host, (size_t)(colon - host));
    ip[colon - host] = '\0';
    char *e;
    unsigned long port = strtoul(colon + 1, &e, 10);
    if (e == colon + 1 || port == 0 || port > 65535 || (*e && *e != '/'))
        return KG_ERR_INVAL;
    memset(addr, 0, sizeof(*addr));
    if (uv_ip4_addr(ip, (int)port, addr) != 0)
        return KG_ERR_INVAL;
    size_t plen = strlen(e);
    while (plen && e[plen - 1] == '/')
        plen--;
    if (plen >= path_cap)
        return KG_ERR_INVAL;
    memcpy(path, e, plen);
    path[plen] = '\0';
    return 0;
}

/* --- the request ---------------------------------------------------- */

static void on_closed(uv_handle_t *h)
{
    http_req *r = h->data;
    if (--r->open_handles == 0) {
        free(r->out);
        free(r->in);
        free(r);
    }
}

/* Reports once, then closes both handles. */
static void finish(http_req *r, int status)
{
    if (r->done)
        return;
    r->done = true;
    if (status >= 0) {
        size_t off = 0, blen = 0;
        int rc = kb_http_parse_response(r->in, r->in_len, &status, &off, &blen);
        if (rc < 0) {
            r->cb(r->user, rc, NULL, 0);
        } else {
            r->in[off + blen] = '\0'; /* in_cap keeps a spare byte */
            r->cb(r->user, status, r->in + off, blen);
        }
    } else {
        r->cb(r->user, status, NULL, 0);
    }
    uv_close((uv_handle_t *)&r->tcp, on_closed);
    uv_close((uv_handle_t *)&r->timer, on_closed);
}

static void on_timeout(uv_timer_t *t)
{
    finish(t->data, KG_ERR_TIMEOUT);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    http_req *r = h->data;
    (void)suggested;
    if (r->in_cap - r->in_len < 4097 && r->in_cap <= KB_HTTP_MAX_RESPONSE) {
        size_t cap = r->in_cap ? r->in_cap * 2 : 16384;
        char *p = realloc(r->in, cap + 1);
        if (p) {
            r->in = p;
            r->in_cap = cap;
        }
    }
    size_t room = r->in_cap > r->in_len ? r->in_cap - r->in_len : 0;
    *buf = uv_buf_init(r->in ? r->in + r->in_len : NULL, (unsigned)room);
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    http_req *r = s->data;
    (void)buf;
    if (n > 0) {
        r->in_len += (size_t)n;
        if (r->in_len >= KB_HTTP_MAX_RESPONSE)
            finish(r, KG_ERR_TRUNC);
    } else if (n == UV_EOF) {
        finish(r, r->in_len ? 0 : KG_ERR_IO);
    } else if (n < 0 || !buf->base) {
        finish(r, n < 0 ? KG_ERR_IO : KG_ERR_NOMEM);
    }
}

static void on_written(uv_write_t *w, int status)
{
    http_req *r = w->data;
    if (status < 0)
        finish(r, KG_ERR_IO);
}

static void on_connect(uv_connect_t *c, int status)
{
    http_req *r = c->data;
    if (r->done)
        return;
    if (status < 0) {
        finish(r, KG_ERR_IO);
        return;
    }
    uv_buf_t b = uv_buf_init(r->out, (unsigned)r->out_len);
    r->wr.data = r;
    if (uv_write(&r->wr, (uv_stream_t *)&r->tcp, &b, 1, on_written) < 0 ||
        uv_read_start((uv_stream_t *)&r->tcp, on_alloc, on_read) < 0)
        finish(r, KG_ERR_IO);
}

int kb_http_request(uv_loop_t *loop, const struct sockaddr_in *addr,
                    const char *method, const char *path, const char *body,
                    unsigned timeout_ms, kb_http_cb cb, void *user)
{
    http_req *r = calloc(1, sizeof(*r));
    if (!r)
        return KG_ERR_NOMEM;
    size_t blen = body ? strlen(body) : 0;
    size_t cap = blen + strlen(method) + strlen(path) + 256;
    r->out = malloc(cap);
    if (!r->out) {
        free(r);
        return KG_ERR_NOMEM;
    }
    char ip[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &addr->sin_addr, ip, sizeof(ip));
    int n = snprintf(r->out, cap,
                     "%s %s HTTP/1.1\r\nHost: %s:%u\r\nConnection: close\r\n"
                     "Content-Type: application/json\r\n"
                     "Content-Length: %zu\r\n\r\n",
                     method, path, ip, (unsigned)ntohs(addr->sin_port), blen);
    if (n < 0 || (size_t)n + blen >= cap) {
        free(r->out);
        free(r);
        return KG_ERR_NOMEM;
    }
    if (blen)
        memcpy(r->out + n, body, blen);
    r->out_len = (size_t)n + blen;
    r->cb = cb;
    r->user = user;
    uv_tcp_init(loop, &r->tcp);
    uv_timer_init(loop, &r->timer);
    r->tcp.data = r;
    r->timer.data = r;
    r->conn.data = r;
    r->open_handles = 2;
    uv_timer_start(&r->timer, on_timeout, timeout_ms, 0);
    if (uv_tcp_connect(&r->conn, &r->tcp, (const struct sockaddr *)addr,
                       on_connect) < 0) {
        /* No callback: the caller learns it from the return value. */
        r->done = true;
        uv_close((uv_handle_t *)&r->tcp, on_closed);
        uv_close((uv_handle_t *)&r->timer, on_closed);
        return KG_ERR_IO;
    }
    return 0;
}
