/* ICE-TCP for a media worker (RFC 6544, passive host candidate): the
 * listening socket and its connections. This is I/O only: each
 * connection's bytes go through an RFC 4571 framer (relay/framing.h) and
 * the packets into the same demux, ICE, DTLS and SRTP code as UDP
 * datagrams (wk_handle_stun_tcp, wk_on_packet). A connection is bound to
 * a transport the way a UDP address is, by a valid STUN check with its
 * credentials; before that it holds only its framer, has
 * TCP_AUTH_DEADLINE to send one, and at most TCP_UNAUTH_MAX such
 * connections exist per worker. Sending never blocks: each connection
 * has a bounded ring, flushed with the UDP batch; what does not fit is
 * dropped and counted, as a full UDP socket would drop it. */
#include "relay/worker_internal.h"

#include <netinet/in.h>
#include <netinet/tcp.h>

static void on_conn(uv_poll_t *h, int status, int events);

/* --- the send ring ------------------------------------------------------ */

static void ring_put(wtcp *c, const uint8_t *p, size_t n)
{
    size_t tail = (c->tx_head + c->tx_len) % TCP_TXQ;
    size_t first = TCP_TXQ - tail < n ? TCP_TXQ - tail : n;
    memcpy(c->txq + tail, p, first);
    memcpy(c->txq, p + first, n - first);
    c->tx_len += n;
}

static void mark_dirty(kg_worker *w, wtcp *c)
{
    if (c->dirty)
        return;
    c->dirty = true;
    c->dprev = NULL;
    c->dnext = w->tcp_dirty;
    if (w->tcp_dirty)
        w->tcp_dirty->dprev = c;
    w->tcp_dirty = c;
}

static void unmark_dirty(kg_worker *w, wtcp *c)
{
    if (!c->dirty)
        return;
    if (c->dprev)
        c->dprev->dnext = c->dnext;
    else
        w->tcp_dirty = c->dnext;
    if (c->dnext)
        c->dnext->dprev = c->dprev;
    c->dirty = false;
    c->dprev = c->dnext = NULL;
}

/* Queues one packet behind its RFC 4571 length. False (counted) when the
 * ring has no room for all of it: packets are never cut. */
bool wk_tcp_queue(kg_worker *w, wtcp *c, const uint8_t *pkt, size_t len)
{
    uint8_t hdr[KG_FRAME_HDR];
    if (c->closing || !c->txq || kg_frame_header(hdr, len) != 0 ||
        TCP_TXQ - c->tx_len < len + KG_FRAME_HDR) {
        w->st.tcp_tx_dropped++;
        return false;
    }
    ring_put(c, hdr, sizeof(hdr));
    ring_put(c, pkt, len);
    w->st.tx_datagrams++;
    w->st.tx_bytes += len;
    mark_dirty(w, c);
    return true;
}

static void set_poll(wtcp *c, bool want_write)
{
    if (c->closing || c->want_write == want_write)
        return;
    c->want_write = want_write;
    uv_poll_start(&c->poll, UV_READABLE | (want_write ? UV_WRITABLE : 0),
                  on_conn);
}

/* Writes as much of the ring as the socket takes now. Returns false when
 * the connection failed (and was closed). */
static bool flush_conn(kg_worker *w, wtcp *c)
{
    while (c->tx_len > 0) {
        size_t first = TCP_TXQ - c->tx_head;
        if (first > c->tx_len)
            first = c->tx_len;
        struct iovec iov[2] = {{c->txq + c->tx_head, first},
                               {c->txq, c->tx_len - first}};
        struct msghdr m = {.msg_iov = iov,
                           .msg_iovlen = c->tx_len > first ? 2 : 1};
        ssize_t n = sendmsg(c->fd, &m, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            set_poll(c, true);
            return true;
        }
        if (n <= 0) {
            w->st.tx_errors++;
            wk_tcp_conn_close(w, c);
            return false;
        }
        c->tx_head = (c->tx_head + (size_t)n) % TCP_TXQ;
        c->tx_len -= (size_t)n;
    }
    c->tx_head = 0;
    set_poll(c, false);
    return true;
}

/* With the UDP batch: one sendmsg per connection that has news. */
void wk_tcp_flush_all(kg_worker *w)
{
    while (w->tcp_dirty) {
        wtcp *c = w->tcp_dirty;
        unmark_dirty(w, c);
        flush_conn(w, c);
    }
}

/* --- binding to transports ----------------------------------------------- */

void wk_tcp_authenticate(kg_worker *w, wtcp *c, wtransport *t)
{
    if (c->t)
        return;
    c->txq = malloc(TCP_TXQ);
    if (!c->txq) { /* nothing can be sent on it: useless */
        wk_tcp_conn_close(w, c);
        return;
    }
    c->t = t;
    w->tcp_unauth--;
}

/* ICE selected connection c for t: media to t goes on it from now on. */
void wk_tcp_select(kg_worker *w, wtcp *c, wtransport *t)
{
    if (c->closing || c->t != t || t->tcp == c)
        return;
    if (t->tcp) {
        wtcp *old = t->tcp;
        t->tcp = NULL;
        wk_tcp_conn_close(w, old);
    } else if (t->has_addr) {
        uint8_t key[KG_MAP_KEY_MAX];
        size_t klen = kg_map_addr_key((const struct sockaddr *)&t->addr, key);
        if (klen && kg_map_get(&w->by_addr, key, klen) == t)
            kg_map_del(&w->by_addr, key, klen);
    }
    t->tcp = c;
    t->addr = c->peer;
    t->has_addr = true;
}

/* t is going away: close every connection authenticated for it. */
void wk_tcp_forget_transport(kg_worker *w, wtransport *t)
{
    wtcp *c = w->tcp_conns;
    while (c) {
        wtcp *next = c->next;
        if (c->t == t)
            wk_tcp_conn_close(w, c);
        c = next;
    }
    t->tcp = NULL;
}

/* --- connections ---------------------------------------------------------- */

static void conn_closed(uv_handle_t *h)
{
    wtcp *c = h->data;
    close(c->fd);
    free(c->txq);
    free(c);
}

void wk_tcp_conn_close(kg_worker *w, wtcp *c)
{
    if (c->closing)
        return;
    c->closing = true;
    if (c->t && c->t->tcp == c) {
        /* its transport has no path until a check selects another */
        c->t->tcp = NULL;
        c->t->has_addr = false;
    }
    if (!c->t)
        w->tcp_unauth--;
    c->t = NULL;
    unmark_dirty(w, c);
    if (c->prev)
        c->prev->next = c->next;
    else
        w->tcp_conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    w->st.tcp_open--;
    uv_close((uv_handle_t *)&c->poll, conn_closed);
}

/* One packet off the stream. Before a valid check only STUN is taken;
 * anything else is not ICE-TCP and ends the connection. */
static void conn_packet(kg_worker *w, wtcp *c, uint8_t *pkt, size_t len,
                        int64_t stamp, kg_time now)
{
    w->st.rx_datagrams++;
    w->st.rx_bytes += len;
    if (pkt[0] <= 3) {
        wk_handle_stun_tcp(w, c, pkt, len, now);
        return;
    }
    if (!c->t) {
        w->st.unknown_source++;
        w->st.tcp_bad_stream++;
        wk_tcp_conn_close(w, c);
        return;
    }
    wk_on_packet(w, c->t, pkt, len, stamp, now);
}

/* One read per wakeup (at most the worker's receive buffer), so a busy
 * connection cannot keep the others waiting; the poll comes back. */
static void conn_read(kg_worker *w, wtcp *c)
{
    uint8_t *buf = &w->rx[0][0];
    ssize_t n;
    while ((n = recv(c->fd, buf, sizeof(w->rx), MSG_DONTWAIT)) < 0 &&
           errno == EINTR)
        ;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        return;
    if (n <= 0) { /* closed by the client, or reset */
        wk_tcp_conn_close(w, c);
        return;
    }
    kg_time now = wk_worker_now();
    int64_t stamp = kg_delay_clock();
    size_t off = 0;
    while (off < (size_t)n && !c->closing) {
        size_t used, plen;
        uint8_t *pkt;
        int rc = kg_framer_feed(&c->rx, buf + off, (size_t)n - off, &used,
                                &pkt, &plen);
        off += used;
        if (rc < 0) {
            w->st.malformed++;
            w->st.tcp_bad_stream++;
            wk_tcp_conn_close(w, c);
            break;
        }
        if (rc == 0)
            break;
        conn_packet(w, c, pkt, plen, stamp, now);
    }
    wk_tx_flush(w);
}

static void on_conn(uv_poll_t *h, int status, int events)
{
    wtcp *c = h->data;
    kg_worker *w = c->w;
    if (c->closing)
        return;
    if (status < 0) {
        wk_tcp_conn_close(w, c);
        return;
    }
    if ((events & UV_WRITABLE) && !flush_conn(w, c))
        return;
    if (events & UV_READABLE)
        conn_read(w, c);
}

static void accept_one(kg_worker *w, int fd, const struct sockaddr_storage *a)
{
    w->st.tcp_accepted++;
    if (w->tcp_unauth >= TCP_UNAUTH_MAX) {
        w->st.tcp_refused++;
        close(fd);
        return;
    }
    wtcp *c = calloc(1, sizeof(*c));
    if (!c || uv_poll_init_socket(&w->loop, &c->poll, fd) != 0) {
        free(c);
        close(fd);
        return;
    }
    /* A fixed, modest kernel buffer (no autotuning to megabytes): with
     * the ring it bounds what a slow reader can hold up. */
    int size = TCP_SNDBUF, on = 1;
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
    c->w = w;
    c->fd = fd;
    c->peer = *a;
    c->poll.data = c;
    c->deadline = wk_worker_now() + TCP_AUTH_DEADLINE;
    kg_framer_init(&c->rx);
    c->next = w->tcp_conns;
    if (w->tcp_conns)
        w->tcp_conns->prev = c;
    w->tcp_conns = c;
    w->tcp_unauth++;
    w->st.tcp_open++;
    uv_poll_start(&c->poll, UV_READABLE, on_conn);
}

static void on_listen(uv_poll_t *h, int status, int events)
{
    kg_worker *w = h->data;
    (void)events;
    if (status < 0)
        return;
    for (int i = 0; i < TCP_ACCEPT_BATCH; i++) {
        struct sockaddr_storage a;
        socklen_t alen = sizeof(a);
        memset(&a, 0, sizeof(a));
        int fd = accept4(w->tcp_fd, (struct sockaddr *)&a, &alen,
                         SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            break; /* EAGAIN, or out of descriptors: next wakeup */
        }
        accept_one(w, fd, &a);
    }
}

/* Closes connections that sent no valid check in time. */
void wk_tcp_tick(kg_worker *w, kg_time now)
{
    if (w->tcp_unauth == 0)
        return;
    wtcp *c = w->tcp_conns;
    while (c) {
        wtcp *next = c->next;
        if (!c->t && now >= c->deadline) {
            w->st.tcp_timeouts++;
            wk_tcp_conn_close(w, c);
        }
        c = next;
    }
}

static int listen_on(const struct sockaddr *a)
{
    int fd = socket(a->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
                    0);
    if (fd < 0)
        return -errno;
    int on = 1;
    /* [::] listens dual-stack, as the UDP socket on [::] receives */
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
    socklen_t alen = a->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                              : sizeof(struct sockaddr_in);
    if (bind(fd, a, alen) < 0 || listen(fd, 128) < 0) {
        int e = errno;
        close(fd);
        return -e;
    }
    return fd;
}

static void set_port(struct sockaddr_storage *a, uint16_t port)
{
    if (a->ss_family == AF_INET6)
        ((struct sockaddr_in6 *)a)->sin6_port = htons(port);
    else
        ((struct sockaddr_in *)a)->sin_port = htons(port);
}

/* The listener, on the UDP socket's address. Returns 0 or -errno. */
int wk_tcp_open(kg_worker *w)
{
    if (w->cfg.tcp_port == 0)
        return 0;
    struct sockaddr_storage a;
    socklen_t alen = sizeof(a);
    if (getsockname(w->udp_fd, (struct sockaddr *)&a, &alen) < 0)
        return -errno;
    uint16_t udp_port = a.ss_family == AF_INET6
                            ? ntohs(((struct sockaddr_in6 *)&a)->sin6_port)
                            : ntohs(((struct sockaddr_in *)&a)->sin_port);
    bool same = w->cfg.tcp_port == KG_TCP_SAME_PORT;
    set_port(&a, same ? udp_port : (uint16_t)w->cfg.tcp_port);
    int fd = listen_on((struct sockaddr *)&a);
    const struct sockaddr *req = w->cfg.udp_addr;
    uint16_t req_port = req->sa_family == AF_INET6
                            ? ((const struct sockaddr_in6 *)req)->sin6_port
                            : ((const struct sockaddr_in *)req)->sin_port;
    if (fd == -EADDRINUSE && same && req_port == 0) {
        set_port(&a, 0);
        fd = listen_on((struct sockaddr *)&a);
    }
    if (fd < 0)
        return fd;
    int rc = uv_poll_init_socket(&w->loop, &w->tcp_poll, fd);
    if (rc < 0) {
        close(fd);
        return rc;
    }
    w->tcp_fd = fd;
    w->tcp_poll.data = w;
    uv_poll_start(&w->tcp_poll, UV_READABLE, on_listen);
    return 0;
}

void wk_tcp_close_all(kg_worker *w)
{
    while (w->tcp_conns)
        wk_tcp_conn_close(w, w->tcp_conns);
    if (w->tcp_fd >= 0) {
        uv_close((uv_handle_t *)&w->tcp_poll, wk_close_cb);
        close(w->tcp_fd);
        w->tcp_fd = -1;
    }
}
