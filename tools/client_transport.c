/* kaigi-client's media transports: the I/O around kg_client_peer. This
 * file owns the UDP sockets (or, with --tcp, the TCP connections, RFC 4571
 * framed) and their timers; all protocol work happens in the sans-IO
 * peer, which sees the same packets either way. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tools/frame_send.h"
#include "tools/client.h"

/* One receive buffer for the loop: every datagram is consumed before the
 * next read, so the two sockets can share it. */
static uint8_t rx_buf[KC_PKT_CAP + 512];

/* Datagrams written per service call, so that one transport cannot keep
 * the loop to itself. The timer brings it back for the rest. */
#define MAX_SEND_BURST 32

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)h;
    (void)suggested;
    *buf = uv_buf_init((char *)rx_buf, sizeof(rx_buf));
}

static bool same_addr(const struct sockaddr *a, const struct sockaddr_storage *b)
{
    if (a->sa_family != b->ss_family)
        return false;
    if (a->sa_family == AF_INET) {
        const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;
        return x->sin_port == y->sin_port &&
               x->sin_addr.s_addr == y->sin_addr.s_addr;
    }
    const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)b;
    return x->sin6_port == y->sin6_port &&
           memcmp(&x->sin6_addr, &y->sin6_addr, 16) == 0;
}

/* What our own queue may hold for a slow connection before packets are
 * dropped, as a full UDP socket would drop them. */
#define TCP_QUEUE_MAX (1 << 20)

/* One packet behind its 2-byte length; never blocks. */
static void tcp_send(kc_transport *t, const uint8_t *pkt, size_t len)
{
    if (!t->tcp_up)
        return;
    int rc = kc_frame_send((uv_stream_t *)&t->tcp_h, pkt, len,
                           TCP_QUEUE_MAX);
    if (rc == 0)
        t->bytes_out += len;
    else if (rc == KG_ERR_FULL)
        t->tcp_dropped++;
}

static void send_raw(kc_transport *t, const uint8_t *pkt, size_t len)
{
    if (t->tcp) {
        tcp_send(t, pkt, len);
        return;
    }
    uv_buf_t b = uv_buf_init((char *)pkt, (unsigned)len);
    /* UDP: a full socket buffer drops the datagram, as the network would. */
    int rc = uv_udp_try_send(&t->udp, &b, 1, (const struct sockaddr *)&t->remote);
    if (rc > 0)
        t->bytes_out += len;
}

static void on_timer(uv_timer_t *timer);

/* Sends what the peer has to send, notices state changes, and re-arms
 * the timer for the peer's next deadline. */
static void service(kc_transport *t)
{
    if (!t->peer)
        return;
    uint8_t buf[KC_PKT_CAP + 512];
    kg_time now = kc_now();
    for (int i = 0; i < MAX_SEND_BURST; i++) {
        ssize_t n = kg_client_peer_poll(t->peer, now, buf, sizeof(buf));
        if (n <= 0) {
            if (n < 0)
                fprintf(stderr, "kaigi-client: %s transport: %s\n", t->label,
                        kg_strerror((int)n));
            break;
        }
        send_raw(t, buf, (size_t)n);
    }
    enum kg_client_peer_state st = kg_client_peer_state(t->peer);
    if (st != t->last_state) {
        t->last_state = st;
        if (st == KG_CLIENT_PEER_CONNECTED) {
            t->profile = kg_client_peer_profile(t->peer);
            snprintf(t->cipher, sizeof(t->cipher), "%s",
                     kg_client_peer_cipher(t->peer));
            snprintf(t->version, sizeof(t->version), "%s",
                     kg_client_peer_version(t->peer));
        }
        kc_on_transport_state(t->app, t);
    }
    if (!t->handles_open || uv_is_closing((uv_handle_t *)&t->timer))
        return;
    kg_time dl = kg_client_peer_deadline(t->peer);
    if (dl == KG_TIME_NEVER) {
        uv_timer_stop(&t->timer);
        return;
    }
    /* Round up: libuv timers have millisecond resolution, and waking a
     * little early would only spin. */
    uint64_t ms = dl > now ? (dl - now + KG_MS - 1) / KG_MS : 0;
    uv_timer_start(&t->timer, on_timer, ms, 0);
}

static void on_timer(uv_timer_t *timer)
{
    service(timer->data);
}

/* One packet from kaigi, from the UDP socket or off the TCP stream. */
static void deliver(kc_transport *t, uint8_t *pkt, size_t nread)
{
    if (t == &t->app->sub_t && kc_nack_recv_drop(t->app, pkt, (size_t)nread))
        return;
    kg_time now = kc_now();
    size_t out_len = 0;
    int rc = kg_client_peer_recv(t->peer, pkt, (size_t)nread, now, &out_len);
    if (rc == KG_CLIENT_PEER_RTP && t->on_rtp)
        t->on_rtp(t, pkt, out_len, now);
    else if (rc == KG_CLIENT_PEER_RTCP && t->on_rtcp)
        t->on_rtcp(t, pkt, out_len, now);
    service(t);
}

static void on_recv(uv_udp_t *udp, ssize_t nread, const uv_buf_t *buf,
                    const struct sockaddr *addr, unsigned flags)
{
    kc_transport *t = udp->data;
    if (nread > 0 && !t->app->joined) /* cannot happen: no socket yet */
        t->app->meeting.media_while_waiting++;
    if (nread <= 0 || !addr || !t->peer || (flags & UV_UDP_PARTIAL) || t->tcp)
        return;
    /* One candidate pair: anything not from the server's address is noise. */
    if (!same_addr(addr, &t->remote))
        return;
    deliver(t, (uint8_t *)buf->base, (size_t)nread);
}

static bool tcp_packet(void *arg, uint8_t *pkt, size_t n)
{
    kc_transport *t = arg;
    deliver(t, pkt, n);
    return t->peer != NULL;
}

static void on_tcp_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    kc_transport *t = s->data;
    if (nread < 0) {
        fprintf(stderr, "kaigi-client: %s transport: TCP %s\n", t->label,
                uv_strerror((int)nread));
        uv_read_stop(s);
        t->tcp_up = false;
        return;
    }
    int rc = t->peer ? kc_frame_recv(&t->rx, (uint8_t *)buf->base,
                                     (size_t)nread, tcp_packet, t)
                     : 0;
    if (rc < 0) {
        fprintf(stderr, "kaigi-client: %s transport: bad framing: %s\n",
                t->label, kg_strerror(rc));
        uv_read_stop(s);
        t->tcp_up = false;
    }
}

/* --tcp-stall: this receiver stops reading; kaigi's send buffer for it
 * fills and kaigi must drop rather than wait. */
static void on_stall(uv_timer_t *timer)
{
    kc_transport *t = timer->data;
    if (!t->tcp_up)
        return;
    fprintf(stderr, "kaigi-client: %s transport: no longer reading (--tcp-stall)\n",
            t->label);
    t->stalled = true;
    uv_read_stop((uv_stream_t *)&t->tcp_h);
}

static void on_tcp_connect(uv_connect_t *req, int status)
{
    kc_transport *t = req->data;
    if (status < 0) {
        fprintf(stderr, "kaigi-client: %s transport: TCP connect: %s\n",
                t->label, uv_strerror(status));
        return;
    }
    if (!t->handles_open)
        return;
    t->tcp_up = true;
    uv_tcp_nodelay(&t->tcp_h, 1);
    uv_read_start((uv_stream_t *)&t->tcp_h, on_alloc, on_tcp_read);
    if (t->app->opts.tcp_stall > 0 && t == &t->app->sub_t)
        uv_timer_start(&t->stall_timer, on_stall,
                       (uint64_t)(t->app->opts.tcp_stall * 1000), 0);
    service(t);
}

/* --tcp: connects from the transport's local address (its port chosen
 * by the kernel) to kaigi's passive candidate. */
static int tcp_start(kc_transport *t)
{
    kg_framer_init(&t->rx);
    if (uv_tcp_init(t->app->loop, &t->tcp_h) < 0)
        return KG_ERR_IO;
    uv_timer_init(t->app->loop, &t->stall_timer);
    t->tcp_open = true;
    t->tcp_h.data = t;
    t->stall_timer.data = t;
    t->tcp_conn.data = t;
    struct sockaddr_storage local = t->local_addr;
    if (local.ss_family == AF_INET6)
        ((struct sockaddr_in6 *)&local)->sin6_port = 0;
    else
        ((struct sockaddr_in *)&local)->sin_port = 0;
    if (uv_tcp_bind(&t->tcp_h, (const struct sockaddr *)&local, 0) < 0)
        return KG_ERR_IO;
    if (t->app->opts.tcp_stall > 0 && t == &t->app->sub_t) {
        /* a small window, so that kaigi's side fills soon */
        int size = 16 * 1024;
        uv_recv_buffer_size((uv_handle_t *)&t->tcp_h, &size);
    }
    if (uv_tcp_connect(&t->tcp_conn, &t->tcp_h,
                       (const struct sockaddr *)&t->remote,
                       on_tcp_connect) < 0)
        return KG_ERR_IO;
    return 0;
}

int kc_transport_open(kc_app *app, kc_transport *t, const char *label,
                      const struct sockaddr *bind_addr)
{
    t->app = app;
    t->label = label;
    if (!app->joined) /* cannot happen: see on_joined() */
        app->meeting.transports_while_waiting++;
    int rc = kg_ice_creds_random(&t->local);
    if (rc < 0)
        return rc;
    if (uv_udp_init(app->loop, &t->udp) < 0)
        return KG_ERR_IO;
    uv_timer_init(app->loop, &t->timer);
    t->handles_open = true;
    t->udp.data = t;
    t->timer.data = t;
    if (uv_udp_bind(&t->udp, bind_addr, 0) < 0)
        return KG_ERR_IO;
    /* Room for a few seconds of video: a client starved of CPU (a loaded
     * test machine) should lose time, not packets. */
    int size = 4 << 20;
    uv_recv_buffer_size((uv_handle_t *)&t->udp, &size);
    int len = sizeof(t->local_addr);
    if (uv_udp_getsockname(&t->udp, (struct sockaddr *)&t->local_addr, &len) < 0)
        return KG_ERR_IO;
    if (uv_udp_recv_start(&t->udp, on_alloc, on_recv) < 0)
        return KG_ERR_IO;
    return 0;
}

int kc_transport_start(kc_transport *t, const kg_ice_creds *remote,
                       const char *remote_fp, const char *ip, uint16_t port)
{
    if (t->peer)
        return KG_ERR_STATE;
    memset(&t->remote, 0, sizeof(t->remote));
    if (uv_ip4_addr(ip, port, (struct sockaddr_in *)&t->remote) < 0 &&
        uv_ip6_addr(ip, port, (struct sockaddr_in6 *)&t->remote) < 0)
        return KG_ERR_INVAL;
    if (t->remote.ss_family != t->local_addr.ss_family)
        return KG_ERR_UNSUPPORTED;
    t->remote_creds = *remote;
    t->peer = kg_client_peer_new(t->app->dtls_ctx, &t->local, remote,
                                 remote_fp, kc_now());
    if (!t->peer)
        return KG_ERR_NOMEM;
    t->last_state = KG_CLIENT_PEER_ICE;
    if (t->tcp) {
        int rc = tcp_start(t);
        if (rc < 0)
            return rc;
    }
    service(t);
    return 0;
}

static ssize_t send_media(kc_transport *t, uint8_t *pkt, size_t len,
                          size_t cap, bool rtcp)
{
    if (!t->peer || !t->handles_open)
        return KG_ERR_STATE;
    ssize_t n = rtcp ? kg_client_peer_send_rtcp(t->peer, pkt, len, cap)
                     : kg_client_peer_send_rtp(t->peer, pkt, len, cap);
    if (n > 0)
        send_raw(t, pkt, (size_t)n);
    return n;
}

ssize_t kc_transport_send_rtp(kc_transport *t, uint8_t *pkt, size_t len,
                              size_t cap)
{
    return send_media(t, pkt, len, cap, false);
}

ssize_t kc_transport_send_rtcp(kc_transport *t, uint8_t *pkt, size_t len,
                               size_t cap)
{
    return send_media(t, pkt, len, cap, true);
}

bool kc_transport_connected(const kc_transport *t)
{
    return t->peer && kg_client_peer_state(t->peer) == KG_CLIENT_PEER_CONNECTED;
}

void kc_transport_close(kc_transport *t)
{
    if (!t->handles_open)
        return;
    if (t->peer) {
        /* close_notify tells kaigi at once instead of waiting for consent
         * to lapse; the state change it causes is not news to anyone. */
        kg_client_peer_close(t->peer);
        t->last_state = KG_CLIENT_PEER_CLOSED;
        uint8_t buf[KC_PKT_CAP];
        ssize_t n;
        for (int i = 0; i < 4 && (n = kg_client_peer_poll(t->peer, kc_now(),
                                                          buf, sizeof(buf))) > 0;
             i++)
            send_raw(t, buf, (size_t)n);
    }
    t->handles_open = false;
    if (t->tcp_open) {
        t->tcp_up = false;
        uv_close((uv_handle_t *)&t->tcp_h, NULL);
        uv_close((uv_handle_t *)&t->stall_timer, NULL);
    }
    uv_udp_recv_stop(&t->udp);
    uv_close((uv_handle_t *)&t->udp, NULL);
    uv_close((uv_handle_t *)&t->timer, NULL);
}
