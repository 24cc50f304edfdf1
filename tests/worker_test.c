/* The media worker's control plane, as a thread and as a child process:
 * commands go down in order and in bulk, snapshots and the bound address
 * come back, a taken UDP port is reported to the caller, and stopping
 * leaves no thread, process or handle behind. One case runs a client
 * peer over ICE-TCP (RFC 4571 framing) to a connected transport; the rest
 * of the packet path is covered by the end-to-end tests. */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <cmocka.h>
#include <uv.h>

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "relay/client_peer.h"
#include "relay/framing.h"
#include "relay/worker.h"

static kg_dtls_cert *g_cert;

static struct sockaddr_in loopback(uint16_t port)
{
    struct sockaddr_in a;
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return a;
}

static kg_worker_config config(uv_loop_t *loop, const struct sockaddr_in *a,
                               bool process)
{
    kg_worker_config c = {.udp_addr = (const struct sockaddr *)a,
                          .cert = g_cert,
                          .signal_loop = loop,
                          .process = process};
    return c;
}

typedef struct waiter {
    kg_worker *w;
    size_t want;
    size_t got;
    uv_timer_t timer;
} waiter;

static void on_poll(uv_timer_t *t)
{
    waiter *wt = t->data;
    kg_part_stats *parts;
    size_t n;
    assert_int_equal(kg_worker_get_parts(wt->w, &parts, &n), 0);
    /* every participant is in the snapshot, each exactly once */
    size_t real = 0;
    for (size_t i = 0; i < n; i++)
        real += parts[i].participant != 0;
    free(parts);
    wt->got = real;
    if (real >= wt->want)
        uv_stop(t->loop);
}

static void on_deadline(uv_timer_t *t)
{
    uv_stop(t->loop);
}

/* Posts n JOINs at once (far more than a worker takes per wakeup, and
 * for a worker process more than its socket holds) and
 * waits, with a deadline, for a snapshot that lists all of them. */
static void joins_come_back(bool process)
{
    uv_loop_t loop;
    assert_int_equal(uv_loop_init(&loop), 0);
    struct sockaddr_in a = loopback(0);
    kg_worker_config cfg = config(&loop, &a, process);
    kg_worker *w = NULL;
    assert_int_equal(kg_worker_start(&w, &cfg), 0);

    struct sockaddr_storage bound;
    assert_int_equal(kg_worker_local_addr(w, &bound), 0);
    assert_int_equal(bound.ss_family, AF_INET);
    assert_int_not_equal(((struct sockaddr_in *)&bound)->sin_port, 0);

    const size_t n = 3000; /* about 2 MB of commands: more than a socket buffer */
    for (size_t i = 0; i < n; i++) {
        kg_worker_cmd c = {.type = KG_CMD_JOIN,
                           .participant = i + 1,
                           .room = 1 + i % 7};
        assert_int_equal(kg_worker_post(w, &c), 0);
    }
    waiter wt = {.w = w, .want = n};
    uv_timer_init(&loop, &wt.timer);
    wt.timer.data = &wt;
    uv_timer_start(&wt.timer, on_poll, 50, 50);
    uv_timer_t deadline;
    uv_timer_init(&loop, &deadline);
    uv_timer_start(&deadline, on_deadline, 5000, 0);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(wt.got, n);

    kg_worker_stats st;
    kg_worker_get_stats(w, &st);
    assert_int_equal(st.participants, n);
    assert_int_equal(st.rooms, 7);

    uv_close((uv_handle_t *)&wt.timer, NULL);
    uv_close((uv_handle_t *)&deadline, NULL);
    kg_worker_stop(w);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&loop), 0);
    if (process) /* the child was reaped by stop: no child is left */
        assert_int_equal(waitpid(-1, NULL, WNOHANG), -1);
}

static void test_thread_takes_bulk_commands(void **state)
{
    (void)state;
    joins_come_back(false);
}

static void test_process_takes_bulk_commands(void **state)
{
    (void)state;
    joins_come_back(true);
}

/* A port already taken is the caller's error, in both modes. */
static void port_in_use(bool process)
{
    uv_loop_t loop;
    assert_int_equal(uv_loop_init(&loop), 0);
    struct sockaddr_in a = loopback(0);
    kg_worker_config cfg = config(&loop, &a, false);
    kg_worker *first = NULL;
    assert_int_equal(kg_worker_start(&first, &cfg), 0);
    struct sockaddr_storage bound;
    assert_int_equal(kg_worker_local_addr(first, &bound), 0);
    struct sockaddr_in taken = *(struct sockaddr_in *)&bound;
    kg_worker_config cfg2 = config(&loop, &taken, process);
    kg_worker *second = NULL;
    assert_int_equal(kg_worker_start(&second, &cfg2), UV_EADDRINUSE);
    assert_null(second);
    kg_worker_stop(first);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&loop), 0);
    if (process)
        assert_int_equal(waitpid(-1, NULL, WNOHANG), -1);
}

static void test_thread_port_in_use(void **state)
{
    (void)state;
    port_in_use(false);
}

static void test_process_port_in_use(void **state)
{
    (void)state;
    port_in_use(true);
}

/* Sends one packet behind its 2-byte length on a blocking socket. */
static void send_framed(int fd, const uint8_t *pkt, size_t len)
{
    uint8_t buf[KG_FRAME_HDR + 2048];
    assert_true(len <= 2048);
    assert_int_equal(kg_frame_header(buf, len), 0);
    memcpy(buf + KG_FRAME_HDR, pkt, len);
    assert_int_equal(send(fd, buf, len + KG_FRAME_HDR, MSG_NOSIGNAL),
                     (ssize_t)(len + KG_FRAME_HDR));
}

static int tcp_connect(uint16_t port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in a = loopback(port);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    return fd;
}

/* The protocol of the worker's transport in its snapshot, or -1. */
static int snapshot_proto(kg_worker *w)
{
    kg_part_stats *parts;
    size_t n;
    int proto = -1;
    assert_int_equal(kg_worker_get_parts(w, &parts, &n), 0);
    for (size_t i = 0; i < n; i++)
        if (parts[i].participant == 1)
            proto = parts[i].proto[KG_ROLE_PUBLISH];
    free(parts);
    return proto;
}

/* Sends the client peer's next connectivity check (a nomination: the
 * client's checks carry USE-CANDIDATE), due at its deadline, over UDP
 * (udp >= 0) or framed on the TCP connection tcp; then runs the worker
 * until its snapshot says want or ms pass. Returns the protocol seen. */
static int check_via(kg_worker *w, uv_loop_t *loop, kg_client_peer *cp,
                     int udp, int tcp, uint16_t port, int want, int ms)
{
    uint8_t out[2048];
    ssize_t n = kg_client_peer_poll(cp, kg_client_peer_deadline(cp), out,
                                    sizeof(out));
    assert_true(n > 0);
    if (udp >= 0) {
        struct sockaddr_in a = loopback(port);
        assert_int_equal(sendto(udp, out, (size_t)n, 0, (struct sockaddr *)&a,
                                sizeof(a)),
                         n);
    } else {
        send_framed(tcp, out, (size_t)n);
    }
    int proto = -1;
    uint64_t end = uv_hrtime() + (uint64_t)ms * KG_MS;
    while (uv_hrtime() < end && (proto = snapshot_proto(w)) != want) {
        uv_run(loop, UV_RUN_NOWAIT);
        usleep(20 * 1000);
    }
    return proto;
}

/* ICE-TCP on a worker thread: the listener takes the UDP port's number;
 * junk before STUN is closed; a client peer (the sans-IO one kaigi-client
 * uses) gets through ICE and DTLS over one framed TCP connection, and
 * the snapshot says the transport runs on TCP. */
static void test_thread_tcp_client_peer(void **state)
{
    (void)state;
    uv_loop_t loop;
    assert_int_equal(uv_loop_init(&loop), 0);
    struct sockaddr_in a = loopback(0);
    kg_worker_config cfg = config(&loop, &a, false);
    cfg.tcp_port = KG_TCP_SAME_PORT;
    kg_worker *w = NULL;
    assert_int_equal(kg_worker_start(&w, &cfg), 0);
    struct sockaddr_storage u, t;
    assert_int_equal(kg_worker_local_addr(w, &u), 0);
    assert_int_equal(kg_worker_tcp_addr(w, &t), 0);
    assert_int_equal(t.ss_family, AF_INET);
    uint16_t port = ntohs(((struct sockaddr_in *)&t)->sin_port);
    assert_int_equal(port, ntohs(((struct sockaddr_in *)&u)->sin_port));

    /* junk: an HTTP request is closed by the worker */
    int junk = tcp_connect(port);
    const char req[] = "GET / HTTP/1.1\r\n\r\n";
    assert_int_equal(send(junk, req, sizeof(req) - 1, 0), sizeof(req) - 1);
    struct pollfd jp = {.fd = junk, .events = POLLIN};
    assert_int_equal(poll(&jp, 1, 5000), 1);
    char sink[16];
    assert_true(recv(junk, sink, sizeof(sink), 0) <= 0);
    close(junk);

    kg_dtls_cert *ccert = kg_dtls_cert_new();
    kg_dtls_ctx *cctx = kg_dtls_ctx_new(ccert, KG_DTLS_CLIENT, 0);
    assert_non_null(cctx);
    kg_ice_creds server, client;
    assert_int_equal(kg_ice_creds_random(&server), 0);
    assert_int_equal(kg_ice_creds_random(&client), 0);
    kg_worker_cmd join = {.type = KG_CMD_JOIN, .participant = 1, .room = 1};
    assert_int_equal(kg_worker_post(w, &join), 0);
    kg_worker_cmd tc = {.type = KG_CMD_TRANSPORT, .participant = 1,
                        .role = KG_ROLE_PUBLISH, .local = server};
    snprintf(tc.remote_ufrag, sizeof(tc.remote_ufrag), "%s", client.ufrag);
    snprintf(tc.remote_fp, sizeof(tc.remote_fp), "%s",
             kg_dtls_cert_fingerprint(ccert));
    assert_int_equal(kg_worker_post(w, &tc), 0);
    uv_run(&loop, UV_RUN_NOWAIT);
    usleep(100 * 1000); /* the commands reach the worker thread */

    kg_client_peer *cp = kg_client_peer_new(
        cctx, &client, &server, kg_dtls_cert_fingerprint(g_cert), uv_hrtime());
    assert_non_null(cp);
    int fd = tcp_connect(port);
    kg_framer fr;
    kg_framer_init(&fr);
    uint8_t out[2048], in[4096];
    int proto = -1;
    uint64_t end = uv_hrtime() + 10 * KG_SEC;
    while (uv_hrtime() < end) {
        ssize_t n;
        while ((n = kg_client_peer_poll(cp, uv_hrtime(), out, sizeof(out))) > 0)
            send_framed(fd, out, (size_t)n);
        struct pollfd pf = {.fd = fd, .events = POLLIN};
        if (poll(&pf, 1, 20) == 1) {
            ssize_t got = recv(fd, in, sizeof(in), 0);
            assert_true(got > 0);
            size_t off = 0;
            while (off < (size_t)got) {
                size_t used, plen, out_len;
                uint8_t *pkt;
                int rc = kg_framer_feed(&fr, in + off, (size_t)got - off,
                                        &used, &pkt, &plen);
                assert_true(rc >= 0);
                off += used;
                if (rc == 1)
                    kg_client_peer_recv(cp, pkt, plen, uv_hrtime(), &out_len);
            }
        }
        uv_run(&loop, UV_RUN_NOWAIT);
        if (kg_client_peer_state(cp) == KG_CLIENT_PEER_CONNECTED &&
            (proto = snapshot_proto(w)) == KG_PROTO_TCP)
            break;
    }
    assert_int_equal(kg_client_peer_state(cp), KG_CLIENT_PEER_CONNECTED);
    assert_int_equal(kg_client_peer_profile(cp), KG_SRTP_AEAD_AES_256_GCM);
    assert_int_equal(proto, KG_PROTO_TCP);
    kg_worker_stats st;
    kg_worker_get_stats(w, &st);
    assert_true(st.tcp_accepted >= 2);
    assert_true(st.tcp_bad_stream >= 1);

    /* A nomination over UDP moves the transport to UDP; one over TCP
     * after it does not take it back: UDP's candidate has the higher
     * priority (RFC 8445 8.1.1), and a client that nominates both keeps
     * sending on UDP (Firefox did, and its DTLS was then dropped). */
    int udp = socket(AF_INET, SOCK_DGRAM, 0);
    assert_true(udp >= 0);
    assert_int_equal(check_via(w, &loop, cp, udp, -1, port, KG_PROTO_UDP,
                               5000),
                     KG_PROTO_UDP);
    /* (moving to UDP closed the old connection: a new one nominates) */
    int fd2 = tcp_connect(port);
    assert_int_equal(check_via(w, &loop, cp, -1, fd2, port, KG_PROTO_TCP,
                               2500),
                     KG_PROTO_UDP);
    kg_worker_get_stats(w, &st);
    assert_true(st.tcp_accepted >= 3);
    close(fd2);
    close(udp);

    close(fd);
    kg_client_peer_del(cp);
    kg_dtls_ctx_del(cctx);
    kg_dtls_cert_del(ccert);
    kg_worker_stop(w);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&loop), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_process_takes_bulk_commands),
        cmocka_unit_test(test_process_port_in_use),
        cmocka_unit_test(test_thread_takes_bulk_commands),
        cmocka_unit_test(test_thread_port_in_use),
        cmocka_unit_test(test_thread_tcp_client_peer),
    };
    /* Process workers must be forked before this process makes any SRTP
     * session or thread: the process tests run first. */
    g_cert = kg_dtls_cert_new();
    if (!g_cert)
        return 1;
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    kg_dtls_cert_del(g_cert);
    return rc;
}
