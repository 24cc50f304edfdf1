/* kaigi-bench --ceiling: the same traffic as a kaigi run through a bare
 * forwarding loop with no rooms, signalling, ICE or DTLS. One thread does
 * recvmmsg -> SRTP unprotect -> per receiver copy + SRTP protect ->
 * sendmmsg, with sessions made from fixed test keys (AEAD_AES_256_GCM).
 * The synthetic clients run on the calling thread: each protects its
 * packets before sending them to the loop's socket and unprotects what
 * comes back. The loop thread's CPU time per forwarded packet is the
 * machine's practical floor for what kaigi does per packet; its delay
 * (kernel receive timestamp to sendmmsg, per copy, timed as kaigi's
 * worker times it) the floor for what kaigi adds. */
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "bench/bench.h"
#include "codec/bytes.h"
#include "crypto/srtp.h"
#include "relay/delay.h"

#define BATCH_IN 64
#define BATCH_OUT 512
#define SSRC_BASE 0x10000u

typedef struct cclient {
    int fd;
    struct sockaddr_in addr;
    unsigned room;
    kb_source src;
    kg_srtp *srtp; /* the client's side: protect out, unprotect in */
    kb_rx rx;
    uint64_t unprotect_fail;
} cclient;

typedef struct ceiling {
    const kb_ceiling_plan *plan;
    unsigned n;
    cclient *c;
    kg_srtp **fwd; /* the loop's side, one per client */
    int fd;
    struct sockaddr_in addr;
    atomic_bool stop;
    atomic_uint_fast64_t forwarded, unprotect_fail;
    /* the loop's buffers */
    uint8_t in[BATCH_IN][KB_BUF];
    uint8_t out[BATCH_OUT][KB_BUF];
    struct mmsghdr in_msgs[BATCH_IN], out_msgs[BATCH_OUT];
    struct iovec in_iov[BATCH_IN], out_iov[BATCH_OUT];
    union {
        struct cmsghdr align;
        uint8_t buf[CMSG_SPACE(sizeof(struct timespec))];
    } in_ctl[BATCH_IN];
    int64_t stamp;              /* of the datagram being forwarded, 0: none */
    int64_t out_stamp[BATCH_OUT];
    size_t n_out;
    /* The loop's delay over the window [ws, we), read after it stops. */
    kg_time ws, we;
    bool in_window;
    kg_delay_hist delay;
} ceiling;

/* Fixed test keys: each client i has its own sending key and the loop
 * its own sending key toward i; side 0 is the client, 1 the loop. */
static void test_keys(unsigned i, int side, kg_srtp_keys *k)
{
    uint8_t ck[KG_SRTP_MAX_KEY], fk[KG_SRTP_MAX_KEY];
    uint8_t cs[KG_SRTP_MAX_SALT], fs[KG_SRTP_MAX_SALT];
    for (int b = 0; b < KG_SRTP_MAX_KEY; b++) {
        ck[b] = (uint8_t)(i * 31 + (unsigned)b + 1);
        fk[b] = (uint8_t)(i * 17 + (unsigned)b + 101);
    }
    for (int b = 0; b < KG_SRTP_MAX_SALT; b++) {
        cs[b] = (uint8_t)(i * 13 + (unsigned)b + 51);
        fs[b] = (uint8_t)(i * 7 + (unsigned)b + 151);
    }
    memset(k, 0, sizeof(*k));
    k->profile = KG_SRTP_AEAD_AES_256_GCM;
    k->key_len = 32;
    k->salt_len = 12;
    memcpy(k->local_key, side == 0 ? ck : fk, KG_SRTP_MAX_KEY);
    memcpy(k->remote_key, side == 0 ? fk : ck, KG_SRTP_MAX_KEY);
    memcpy(k->local_salt, side == 0 ? cs : fs, KG_SRTP_MAX_SALT);
    memcpy(k->remote_salt, side == 0 ? fs : cs, KG_SRTP_MAX_SALT);
}

static int udp_socket(struct sockaddr_in *addr, int rcvbuf)
{
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    memset(addr, 0, sizeof(*addr));
    addr->sin_family = AF_INET;
    addr->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(*addr);
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &rcvbuf, sizeof(rcvbuf));
    if (bind(fd, (struct sockaddr *)addr, sizeof(*addr)) < 0 ||
        getsockname(fd, (struct sockaddr *)addr, &len) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* --- the loop ---------------------------------------------------------- */

static void flush_out(ceiling *g)
{
    size_t done = 0;
    /* Bounded: each round sends at least one or gives up. */
    while (done < g->n_out) {
        int n = sendmmsg(g->fd, g->out_msgs + done,
                         (unsigned)(g->n_out - done), 0);
        if (n <= 0) {
            if (n < 0 && errno == EINTR)
                continue;
            break; /* a full buffer drops, as a network would */
        }
        done += (size_t)n;
    }
    atomic_fetch_add_explicit(&g->forwarded, done, memory_order_relaxed);
    int64_t now = g->in_window ? kg_delay_clock() : 0;
    for (size_t i = 0; now && i < done; i++)
        if (g->out_stamp[i])
            kg_delay_hist_add(&g->delay, now - g->out_stamp[i]);
    g->n_out = 0;
}

static void forward_one(ceiling *g, uint8_t *pkt, size_t len)
{
    if (len < KB_HDR)
        return;
    uint32_t ssrc = kg_rd32(pkt + 8);
    unsigned s = (ssrc - SSRC_BASE) / 2;
    if (ssrc < SSRC_BASE || s >= g->n)
        return;
    if (kg_srtp_unprotect(g->fwd[s], pkt, &len) != 0) {
        atomic_fetch_add_explicit(&g->unprotect_fail, 1, memory_order_relaxed);
        return;
    }
    unsigned P = g->plan->participants, room = s / P;
    for (unsigned r = room * P; r < room * P + P; r++) {
        if (r == s)
            continue;
        if (g->n_out == BATCH_OUT)
            flush_out(g);
        uint8_t *o = g->out[g->n_out];
        /* As kaigi does: a copy per receiver, protected with its session. */
        memcpy(o, pkt, len);
        size_t olen = len;
        if (kg_srtp_protect(g->fwd[r], o, &olen, KB_BUF) != 0)
            continue;
        g->out_stamp[g->n_out] = g->stamp;
        g->out_iov[g->n_out].iov_len = olen;
        g->out_msgs[g->n_out].msg_hdr.msg_name = &g->c[r].addr;
        g->out_msgs[g->n_out].msg_hdr.msg_namelen = sizeof(g->c[r].addr);
        g->n_out++;
    }
}

static void *loop_main(void *arg)
{
    ceiling *g = arg;
    for (int i = 0; i < BATCH_IN; i++) {
        g->in_iov[i].iov_base = g->in[i];
        g->in_iov[i].iov_len = KB_BUF;
        g->in_msgs[i].msg_hdr.msg_iov = &g->in_iov[i];
        g->in_msgs[i].msg_hdr.msg_iovlen = 1;
        g->in_msgs[i].msg_hdr.msg_control = g->in_ctl[i].buf;
    }
    for (int i = 0; i < BATCH_OUT; i++) {
        g->out_iov[i].iov_base = g->out[i];
        g->out_msgs[i].msg_hdr.msg_iov = &g->out_iov[i];
        g->out_msgs[i].msg_hdr.msg_iovlen = 1;
    }
    while (!atomic_load_explicit(&g->stop, memory_order_relaxed)) {
        /* SO_RCVTIMEO bounds the wait, so stop is seen within 50 ms. */
        for (int i = 0; i < BATCH_IN; i++)
            g->in_msgs[i].msg_hdr.msg_controllen = sizeof(g->in_ctl[i]);
        int n = recvmmsg(g->fd, g->in_msgs, BATCH_IN, MSG_WAITFORONE, NULL);
        if (n <= 0)
            continue;
        kg_time now = kb_now();
        g->in_window = now >= g->ws && now < g->we;
        for (int i = 0; i < n; i++) {
            g->stamp = kg_delay_rx_stamp(&g->in_msgs[i].msg_hdr);
            forward_one(g, g->in[i], g->in_msgs[i].msg_len);
        }
        if (g->n_out)
            flush_out(g);
    }
    return NULL;
}

/* --- the clients --------------------------------------------------------*/

static void client_recv(cclient *c, kg_time now)
{
    uint8_t buf[KB_BUF];
    /* Bounded per wakeup, like the loop: one socket cannot starve the
     * others. */
    for (int i = 0; i < 64; i++) {
        ssize_t n = recv(c->fd, buf, sizeof(buf), MSG_DONTWAIT);
        if (n <= 0)
            return;
        size_t len = (size_t)n;
        if (kg_srtp_unprotect(c->srtp, buf, &len) != 0) {
            c->unprotect_fail++;
            continue;
        }
        kb_rx_packet(&c->rx, buf, len, (size_t)n, now);
    }
}

static kg_time clients_send(ceiling *g, kg_time now, const kb_ceiling_plan *p,
                            kg_time ws, kg_time we, kb_result *r)
{
    (void)p;
    uint8_t buf[KB_BUF];
    memset(buf, 0x5a, sizeof(buf));
    kg_time next = now + 5 * KG_MS;
    for (unsigned i = 0; i < g->n; i++) {
        cclient *c = &g->c[i];
        size_t len;
        now = kb_now(); /* the send time is when the packet leaves */
        if (now >= ws && now < we)
            kb_source_lateness(&c->src, now, &r->send_late);
        for (int k = 0; k < 256 && (len = kb_source_next(&c->src, now, buf)); k++) {
            if (kg_srtp_protect(c->srtp, buf, &len, sizeof(buf)) != 0)
                continue;
            ssize_t n = sendto(c->fd, buf, len, MSG_DONTWAIT,
                               (struct sockaddr *)&g->addr, sizeof(g->addr));
            if (n > 0 && now >= ws && now < we) {
                r->sent_packets++;
                r->sent_bytes += (uint64_t)n;
            }
        }
        kg_time due = kb_source_due(&c->src);
        if (due < next)
            next = due;
    }
    return next;
}

static double clock_s(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int setup(ceiling *g, const kb_ceiling_plan *plan, kg_time start,
                 kg_time ws, kg_time we, kb_hist *lat)
{
    g->plan = plan;
    g->n = plan->rooms * plan->participants;
    g->c = calloc(g->n, sizeof(*g->c));
    g->fwd = calloc(g->n, sizeof(*g->fwd));
    if (!g->c || !g->fwd)
        return KG_ERR_NOMEM;
    for (unsigned i = 0; i < g->n; i++)
        g->c[i].fd = -1;
    g->fd = udp_socket(&g->addr, 4 << 20);
    if (g->fd < 0)
        return KG_ERR_IO;
    struct timeval tv = {0, 50000};
    setsockopt(g->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    int on = 1;
    setsockopt(g->fd, SOL_SOCKET, SO_TIMESTAMPNS, &on, sizeof(on));
    for (unsigned i = 0; i < g->n; i++) {
        cclient *c = &g->c[i];
        kg_srtp_keys kc, kf;
        test_keys(i, 0, &kc);
        test_keys(i, 1, &kf);
        c->srtp = kg_srtp_new(&kc);
        g->fwd[i] = kg_srtp_new(&kf);
        kg_srtp_keys_wipe(&kc);
        kg_srtp_keys_wipe(&kf);
        c->fd = udp_socket(&c->addr, 1 << 20);
        if (!c->srtp || !g->fwd[i] || c->fd < 0)
            return KG_ERR_IO;
        c->room = i / plan->participants;
        kb_source_init(&c->src, i, SSRC_BASE + 2 * i, SSRC_BASE + 2 * i + 1,
                       plan->video_kbps, start, plan->sync_keys);
        kb_rx_init(&c->rx, ws, we, lat);
    }
    return 0;
}

static void teardown(ceiling *g)
{
    for (unsigned i = 0; g->c && i < g->n; i++) {
        if (g->c[i].fd >= 0)
            close(g->c[i].fd);
        kg_srtp_del(g->c[i].srtp);
        kg_srtp_del(g->fwd[i]);
    }
    if (g->fd >= 0)
        close(g->fd);
    free(g->c);
    free(g->fwd);
}

/* Runs the clients on this thread until we + KB_DRAIN, sampling the
 * loop thread's CPU clock at the window's edges. */
static void drive(ceiling *g, clockid_t loop_clock, kg_time ws, kg_time we,
                  kb_ceiling_result *out)
{
    int ep = epoll_create1(EPOLL_CLOEXEC);
    for (unsigned i = 0; ep >= 0 && i < g->n; i++) {
        struct epoll_event ev = {.events = EPOLLIN, .data.u32 = i};
        epoll_ctl(ep, EPOLL_CTL_ADD, g->c[i].fd, &ev);
    }
    bool in_window = false;
    double loop0 = 0, self0 = 0;
    uint64_t fwd0 = 0;
    kg_time end = we + KB_DRAIN;
    for (kg_time now = kb_now(); now < end; now = kb_now()) {
        if (!in_window && now >= ws) {
            in_window = true;
            loop0 = clock_s(loop_clock);
            self0 = clock_s(CLOCK_THREAD_CPUTIME_ID);
            fwd0 = atomic_load(&g->forwarded);
        }
        if (in_window && now >= we && out->loop_cpu_s == 0) {
            out->loop_cpu_s = clock_s(loop_clock) - loop0;
            out->r.cpu_s = clock_s(CLOCK_THREAD_CPUTIME_ID) - self0;
            out->forwarded = atomic_load(&g->forwarded) - fwd0;
            if (out->loop_cpu_s <= 0)
                out->loop_cpu_s = 1e-9;
        }
        kg_time next = clients_send(g, now, g->plan, ws, we, &out->r);
        now = kb_now();
        /* To the nanosecond, as the kaigi run's clients send. */
        kg_time wait = next > now ? next - now : 0;
        struct timespec ts = {(time_t)(wait / KG_SEC), (long)(wait % KG_SEC)};
        struct epoll_event evs[64];
        int n = ep >= 0 ? epoll_pwait2(ep, evs, 64, &ts, NULL) : 0;
        now = kb_now();
        for (int i = 0; i < n; i++)
            client_recv(&g->c[evs[i].data.u32], now);
    }
    if (ep >= 0)
        close(ep);
}

int kb_ceiling_run(const kb_ceiling_plan *plan, kb_ceiling_result *out)
{
    memset(out, 0, sizeof(*out));
    ceiling *g = calloc(1, sizeof(*g));
    kb_hist *lat = calloc(1, sizeof(*lat));
    if (!g || !lat) {
        free(g);
        free(lat);
        return KG_ERR_NOMEM;
    }
    g->fd = -1;
    kg_time start = kb_now() + 50 * KG_MS;
    kg_time ws = start + (kg_time)(plan->warmup_s * 1e9);
    kg_time we = ws + (kg_time)(plan->duration_s * 1e9);
    g->ws = ws;
    g->we = we;
    int rc = setup(g, plan, start, ws, we, lat);
    pthread_t th;
    clockid_t loop_clock;
    if (rc == 0 && pthread_create(&th, NULL, loop_main, g) != 0)
        rc = KG_ERR_IO;
    if (rc == 0) {
        if (pthread_getcpuclockid(th, &loop_clock) != 0)
            loop_clock = CLOCK_PROCESS_CPUTIME_ID;
        drive(g, loop_clock, ws, we, out);
        atomic_store(&g->stop, true);
        pthread_join(th, NULL);
        out->r.clients = out->r.connected = g->n;
        out->r.window_s = plan->duration_s;
        out->loop_unprotect_fail = atomic_load(&g->unprotect_fail);
        for (unsigned i = 0; i < g->n; i++) {
            cclient *c = &g->c[i];
            out->r.rx_packets += c->rx.packets;
            out->r.rx_bytes += c->rx.bytes;
            out->r.bad_payload += c->rx.bad_payload;
            out->r.unprotect_fail += c->unprotect_fail;
            kb_rx_loss(&c->rx, &out->r.expected, &out->r.received);
            if (out->r.n_join < KB_MAX_CLIENTS)
                out->r.join_ms[out->r.n_join++] =
                    c->rx.first_media ? (double)(c->rx.first_media - start) / 1e6
                                      : -1;
        }
        out->r.unprotect_fail += out->loop_unprotect_fail;
        kb_hist_merge(&out->r.lat, lat);
        out->delay = g->delay;
    }
    teardown(g);
    free(g);
    free(lat);
    return rc;
}
