/* kaigi-client's media transports: the I/O around kg_client_peer. This
 * file owns the UDP sockets and their timers; all protocol work happens in
 * the sans-IO peer. */
#include <stdio.h>
#include <string.h>

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

static void send_raw(kc_transport *t, const uint8_t *pkt, size_t len)
{
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

static void on_recv(uv_udp_t *udp, ssize_t nread, const uv_buf_t *buf,
                    const struct sockaddr *addr, unsigned flags)
{
    kc_transport *t = udp->data;
    if (nread > 0 && !t->app->joined) /* cannot happen: no socket yet */
        t->app->meeting.media_while_waiting++;
    if (nread <= 0 || !addr || !t->peer || (flags & UV_UDP_PARTIAL))
        return;
    /* One candidate pair: anything not from the server's address is noise. */
    if (!same_addr(addr, &t->remote))
        return;
    uint8_t *pkt = (uint8_t *)buf->base;
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
    uv_udp_recv_stop(&t->udp);
    uv_close((uv_handle_t *)&t->udp, NULL);
    uv_close((uv_handle_t *)&t->timer, NULL);
}
