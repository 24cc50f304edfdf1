/* The media worker's control plane, as a thread and as a child process:
 * commands go down in order and in bulk, snapshots and the bound address
 * come back, a taken UDP port is reported to the caller, and stopping
 * leaves no thread, process or handle behind. The packet path is covered
 * by the end-to-end tests. */
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_process_takes_bulk_commands),
        cmocka_unit_test(test_process_port_in_use),
        cmocka_unit_test(test_thread_takes_bulk_commands),
        cmocka_unit_test(test_thread_port_in_use),
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
