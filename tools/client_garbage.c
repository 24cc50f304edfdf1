/* kaigi-client --garbage PPS: while publishing, floods kaigi's media port
 * with datagrams a hostile or broken peer might send, so that tests can
 * check that kaigi drops and counts them without hurting anyone else:
 *   - from the publish socket (an address ICE has validated): SRTP with a
 *     bad tag, STUN checks with a wrong MESSAGE-INTEGRITY, truncated STUN,
 *     and bytes no RFC 7983 range claims;
 *   - from a second socket no check has validated: DTLS and SRTP.
 * Only ever sent to the server's candidate, which the caller made sure is
 * the address the signalling gave us. */
#include <stdio.h>
#include <string.h>

#include "crypto/random.h"
#include "relay/stun.h"
#include "tools/client.h"

#define TICK_MS 10
#define MAX_LEN 240

static void send_from(uv_udp_t *udp, const struct sockaddr_storage *to,
                      const uint8_t *pkt, size_t len, uint64_t *count)
{
    uv_buf_t b = uv_buf_init((char *)pkt, (unsigned)len);
    if (uv_udp_try_send(udp, &b, 1, (const struct sockaddr *)to) > 0)
        (*count)++;
}

/* An RTP header with random fields and a random "ciphertext + tag": the
 * tag cannot verify. With ssrc non-zero the header carries that SSRC (one
 * the SDP announced), so kaigi must reach the tag check to refuse it. */
static size_t bad_srtp(uint8_t *buf, const uint8_t *rnd, uint32_t ssrc)
{
    size_t len = 60 + rnd[0] % 160;
    memcpy(buf, rnd, len);
    buf[0] = 0x80; /* V=2, no padding, extension or CSRC */
    buf[1] = 96;
    if (ssrc) {
        buf[8] = (uint8_t)(ssrc >> 24);
        buf[9] = (uint8_t)(ssrc >> 16);
        buf[10] = (uint8_t)(ssrc >> 8);
        buf[11] = (uint8_t)ssrc;
    }
    return len;
}

static size_t bad_stun(kc_app *app, uint8_t *buf, const uint8_t *rnd)
{
    kc_transport *t = &app->pub_t;
    char username[2 * KG_ICE_UFRAG_LEN + 2];
    snprintf(username, sizeof(username), "%s:%s", t->remote_creds.ufrag,
             t->local.ufrag);
    kg_stun_request req = {
        .username = username,
        .key = rnd + 12, /* not the server's password */
        .keylen = KG_ICE_PWD_LEN,
        .priority = 0x7e0000ff,
        .controlling = true,
        .tiebreaker = 1,
    };
    ssize_t n = kg_stun_write_binding_request(&req, rnd, buf, MAX_LEN);
    return n > 0 ? (size_t)n : 0;
}

static size_t truncated_stun(kc_app *app, uint8_t *buf, const uint8_t *rnd)
{
    size_t n = bad_stun(app, buf, rnd);
    /* Cut inside the attributes: the header's length no longer fits. */
    return n > 24 ? 20 + rnd[1] % (n - 24) + 1 : 0;
}

static size_t unclaimed(uint8_t *buf, const uint8_t *rnd)
{
    size_t len = 1 + rnd[0] % MAX_LEN;
    memcpy(buf, rnd, len);
    buf[0] = 64 + (rnd[1] & 63); /* 64..127: no RFC 7983 range */
    return len;
}

/* One datagram of a kind picked round-robin, so every counter in kaigi
 * gets its share however short the run. */
static void send_one(kc_app *app, const uint8_t *rnd)
{
    kc_garbage *g = &app->garbage;
    kc_transport *t = &app->pub_t;
    uint8_t buf[MAX_LEN + 16];
    size_t len = 0;
    switch (g->next++ % 6) {
    case 0:
        len = bad_srtp(buf, rnd, app->pub.cam.ssrc);
        send_from(&t->udp, &t->remote, buf, len, &g->bad_srtp);
        break;
    case 1:
        if ((len = bad_stun(app, buf, rnd)))
            send_from(&t->udp, &t->remote, buf, len, &g->bad_stun);
        break;
    case 2:
        if ((len = truncated_stun(app, buf, rnd)))
            send_from(&t->udp, &t->remote, buf, len, &g->malformed);
        break;
    case 3:
        len = unclaimed(buf, rnd);
        send_from(&t->udp, &t->remote, buf, len, &g->malformed);
        break;
    case 4: /* a DTLS record header from a stranger */
        len = 13 + rnd[0] % 100;
        memcpy(buf, rnd, len);
        buf[0] = 22;
        buf[1] = 0xfe;
        buf[2] = 0xfd;
        send_from(&g->udp, &t->remote, buf, len, &g->unknown_source);
        break;
    default:
        len = bad_srtp(buf, rnd, 0);
        send_from(&g->udp, &t->remote, buf, len, &g->unknown_source);
        break;
    }
}

static void on_tick(uv_timer_t *timer)
{
    kc_app *app = timer->data;
    kc_garbage *g = &app->garbage;
    if (app->phase != KC_PUBLISHING || !kc_transport_connected(&app->pub_t))
        return;
    /* Rate from elapsed time, not tick count: ticks run late under load. */
    kg_time now = kc_now();
    uint64_t due = (now - g->start) * app->opts.garbage / KG_SEC;
    uint8_t rnd[MAX_LEN + 64];
    for (int i = 0; g->sent < due && i < 1000; i++, g->sent++) {
        if (kg_random_bytes(rnd, sizeof(rnd)) < 0)
            return;
        send_one(app, rnd);
    }
}

int kc_garbage_start(kc_app *app)
{
    kc_garbage *g = &app->garbage;
    if (!app->opts.garbage || g->open)
        return 0;
    if (uv_udp_init(app->loop, &g->udp) < 0)
        return KG_ERR_IO;
    uv_timer_init(app->loop, &g->timer);
    g->open = true;
    g->timer.data = app;
    if (uv_udp_bind(&g->udp, (const struct sockaddr *)&app->bind_addr, 0) < 0)
        return KG_ERR_IO;
    g->start = kc_now();
    uv_timer_start(&g->timer, on_tick, 0, TICK_MS);
    return 0;
}

void kc_garbage_close(kc_app *app)
{
    kc_garbage *g = &app->garbage;
    if (!g->open)
        return;
    g->open = false;
    uv_close((uv_handle_t *)&g->udp, NULL);
    uv_close((uv_handle_t *)&g->timer, NULL);
}
