#include "relay/worker_internal.h"

/* --- worker processes --------------------------------------------------
 *
 * Debian's libsrtp2 is built on NSS, whose AES-GCM takes process-wide
 * locks on every packet: worker threads serialise on them, worker
 * processes do not (bench/RESULTS.md). So by default each worker is a
 * child process running exactly the loop a worker thread runs. It is
 * forked (not exec'd) from the signalling process before that one serves
 * anything, keeps only its socketpair end and stdio, and dies with its
 * parent. NSS is first initialised in the child (libsrtp2 initialises it
 * at the first SRTP session), as NSS requires. Keys are made and stay in
 * the child. */

/* One message the socketpair did not take yet. */
typedef struct wmsg_q {
    struct wmsg_q *next;
    size_t len;
    uint8_t data[];
} wmsg_q;

/* Messages kept for a busy peer at the most: a worker that stops taking
 * commands for this long is as good as dead. */
#define OUTQ_MAX 100000

static void poll_events(kg_worker *w, uv_poll_cb cb)
{
    int ev = UV_READABLE | UV_DISCONNECT | (w->outq ? UV_WRITABLE : 0);
    uv_poll_start(&w->poll, ev, cb);
}

/* Sends a (+ b) as one message without blocking. If the socket is full,
 * or earlier messages still wait, a message that must arrive is queued
 * (and the poll asked for writability); one that may be dropped is
 * not. Returns 0 (sent or queued), KG_ERR_AGAIN (dropped), KG_ERR_FULL,
 * KG_ERR_NOMEM or KG_ERR_CLOSED. */
static int send_or_queue(kg_worker *w, const void *a, size_t alen,
                         const void *b, size_t blen, bool must,
                         uv_poll_cb cb)
{
    if (!w->outq) {
        struct iovec iov[2] = {{(void *)a, alen}, {(void *)b, blen}};
        struct msghdr m = {.msg_iov = iov, .msg_iovlen = blen ? 2 : 1};
        ssize_t n;
        while ((n = sendmsg(w->fd, &m, MSG_NOSIGNAL | MSG_DONTWAIT)) < 0 &&
               errno == EINTR)
            ;
        if (n >= 0)
            return 0;
        if (errno != EAGAIN)
            return KG_ERR_CLOSED;
    }
    if (!must)
        return KG_ERR_AGAIN;
    if (w->n_outq >= OUTQ_MAX)
        return KG_ERR_FULL;
    wmsg_q *q = malloc(sizeof(*q) + alen + blen);
    if (!q)
        return KG_ERR_NOMEM;
    q->next = NULL;
    q->len = alen + blen;
    memcpy(q->data, a, alen);
    if (blen)
        memcpy(q->data + alen, b, blen);
    if (w->outq_tail)
        w->outq_tail->next = q;
    else
        w->outq = q;
    w->outq_tail = q;
    w->n_outq++;
    poll_events(w, cb);
    return 0;
}

/* Wipes (commands carry ICE passwords) and frees a queued message. */
static void outq_pop(kg_worker *w)
{
    wmsg_q *q = w->outq;
    w->outq = q->next;
    if (!w->outq)
        w->outq_tail = NULL;
    w->n_outq--;
    memset(q->data, 0, q->len);
    free(q);
}

/* On writability: sends what waits, in order, as far as the socket
 * takes it. */
static void outq_flush(kg_worker *w, uv_poll_cb cb)
{
    while (w->outq) {
        ssize_t n = send(w->fd, w->outq->data, w->outq->len,
                         MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            break;
        outq_pop(w); /* sent, or the peer is gone: EOF tells */
    }
    poll_events(w, cb);
}

static void outq_clear(kg_worker *w)
{
    while (w->outq)
        outq_pop(w);
}

static void on_parent_msg(uv_poll_t *h, int status, int events);

/* Child: one message up. Events and the chunks of a snapshot must arrive
 * and are queued when the socket is full (a snapshot is only started on
 * an empty queue); counters are dropped instead (the next ones are a
 * second away). The worker never blocks on its parent. */
int wk_child_send(kg_worker *w, uint32_t type, uint32_t offset,
                  uint32_t count, uint32_t total, const void *body,
                  size_t len)
{
    wmsg_hdr h = {.type = type, .offset = offset, .count = count,
                  .total = total};
    bool must = type != WMSG_STATS;
    return send_or_queue(w, &h, sizeof(h), body, len, must, on_parent_msg);
}

/* Child: commands from the parent. End of file means stop. */
static void on_parent_msg(uv_poll_t *h, int status, int events)
{
    kg_worker *w = h->data;
    if (status == 0 && (events & UV_WRITABLE))
        outq_flush(w, on_parent_msg);
    /* A bounded batch per wakeup; poll calls again for the rest. */
    for (int i = 0; status == 0; i++) {
        if (i == 64)
            return;
        kg_worker_cmd c;
        ssize_t n = recv(w->fd, &c, sizeof(c), MSG_DONTWAIT);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            return;
        if (n == (ssize_t)sizeof(c)) {
            c.next = NULL;
            wk_run_cmd(w, &c);
            /* Commands carry ICE passwords: wipe the copy. */
            memset(&c, 0, sizeof(c));
            continue;
        }
        if (n > 0) {
            fprintf(stderr, "kaigi: worker %u: bad command size %zd\n",
                    w->cfg.index, n);
            continue;
        }
        break; /* 0: the parent closed its end, or an error */
    }
    outq_clear(w);
    uv_close((uv_handle_t *)&w->poll, wk_close_cb);
    wk_worker_shutdown(w);
}

static void child_main(kg_worker *w, int fd, pid_t parent)
{
    /* Die with the parent; if it is already gone, do not start. */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent)
        _exit(1);
    /* Nothing of the parent's (its listening socket, the store) stays
     * open here: the socketpair end becomes fd 3, the rest is closed. */
    if (fd != 3) {
        if (dup2(fd, 3) < 0)
            _exit(1);
    }
    close_range(4, ~0u, 0);
    w->fd = 3;
    w->proc = true;
    signal(SIGINT, SIG_IGN); /* the parent stops its workers */
    signal(SIGPIPE, SIG_IGN);
    wmsg_started st = {.rc = wk_worker_setup(w)};
    if (st.rc == 0) {
        socklen_t len = sizeof(st.addr);
        getsockname(w->udp_fd, (struct sockaddr *)&st.addr, &len);
        len = sizeof(st.tcp_addr);
        if (w->tcp_fd >= 0)
            getsockname(w->tcp_fd, (struct sockaddr *)&st.tcp_addr, &len);
    }
    /* The first message, on an empty socket: a plain blocking send. */
    wmsg_hdr h = {.type = WMSG_STARTED, .count = 1, .total = 1};
    struct iovec iov[2] = {{&h, sizeof(h)}, {&st, sizeof(st)}};
    struct msghdr m = {.msg_iov = iov, .msg_iovlen = 2};
    if (sendmsg(w->fd, &m, MSG_NOSIGNAL) < 0 || st.rc != 0)
        _exit(1);
    uv_poll_init(&w->loop, &w->poll, w->fd);
    w->poll.data = w;
    uv_poll_start(&w->poll, UV_READABLE | UV_DISCONNECT, on_parent_msg);
    uv_run(&w->loop, UV_RUN_DEFAULT);
    wk_worker_teardown(w);
    /* _exit: no atexit handlers or stdio buffers of the parent's. */
    _exit(0);
}

/* Parent: one message from the child. */
static void parent_msg(kg_worker *w, const uint8_t *m, size_t n)
{
    wmsg_hdr h;
    if (n < sizeof(h))
        return;
    memcpy(&h, m, sizeof(h));
    const uint8_t *body = m + sizeof(h);
    size_t len = n - sizeof(h);
    if (h.type == WMSG_EVENT && len == sizeof(kg_worker_event)) {
        kg_worker_event ev;
        memcpy(&ev, body, sizeof(ev));
        ev.next = NULL;
        if (w->cfg.on_event)
            w->cfg.on_event(w->cfg.user, &ev);
    } else if (h.type == WMSG_STATS && len == sizeof(kg_worker_stats)) {
        pthread_mutex_lock(&w->lock);
        memcpy(&w->snapshot, body, sizeof(w->snapshot));
        pthread_mutex_unlock(&w->lock);
    } else if (h.type == WMSG_PARTS &&
               len == h.count * sizeof(kg_part_stats) &&
               h.count <= PARTS_PER_MSG && h.offset <= h.total &&
               h.count <= h.total - h.offset) {
        if (h.offset == 0) {
            free(w->rx_parts);
            w->rx_parts = h.total ? malloc(h.total * sizeof(kg_part_stats))
                                  : NULL;
            w->rx_total = h.total;
        }
        if (h.total != w->rx_total || (h.total && !w->rx_parts))
            return; /* not the snapshot begun, or out of memory: the older
                       one stays */
        if (h.count)
            memcpy(w->rx_parts + h.offset, body, len);
        if (h.offset + h.count == h.total) {
            pthread_mutex_lock(&w->lock);
            kg_part_stats *old = w->part_snap;
            w->part_snap = w->rx_parts;
            w->n_part_snap = h.total;
            pthread_mutex_unlock(&w->lock);
            free(old);
            w->rx_parts = NULL;
        }
    }
}

void wk_on_child_msg(uv_poll_t *p, int status, int events)
{
    kg_worker *w = p->data;
    if (status == 0 && (events & UV_WRITABLE))
        outq_flush(w, wk_on_child_msg);
    for (int i = 0; status == 0; i++) {
        if (i == 256)
            return; /* a bounded batch per wakeup */
        ssize_t n = recv(w->fd, w->msg, WMSG_MAX, MSG_DONTWAIT);
        if (n > 0) {
            parent_msg(w, w->msg, (size_t)n);
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            return;
        break;
    }
    if (w->stopping)
        return;
    /* A worker that died took its rooms' transports and keys with it;
     * signalling cannot repair that. Stop, loudly, for the supervisor
     * to restart kaigi. */
    fprintf(stderr, "kaigi: media worker %u (pid %d) exited; stopping\n",
            w->cfg.index, (int)w->pid);
    exit(EXIT_FAILURE);
}

/* Waits up to 10 s for the child's first message. */
static int wait_started(kg_worker *w)
{
    struct pollfd pfd = {.fd = w->fd, .events = POLLIN};
    int r;
    while ((r = poll(&pfd, 1, 10000)) < 0 && errno == EINTR)
        ;
    if (r <= 0)
        return KG_ERR_TIMEOUT;
    uint8_t m[sizeof(wmsg_hdr) + sizeof(wmsg_started)];
    ssize_t n = recv(w->fd, m, sizeof(m), 0);
    wmsg_hdr h;
    wmsg_started st;
    if (n != (ssize_t)sizeof(m))
        return KG_ERR_IO;
    memcpy(&h, m, sizeof(h));
    memcpy(&st, m + sizeof(h), sizeof(st));
    if (h.type != WMSG_STARTED)
        return KG_ERR_IO;
    w->local = st.addr;
    w->tcp_local = st.tcp_addr;
    return st.rc;
}

int wk_start_process(kg_worker *w)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
        return KG_ERR_IO;
    int size = 1 << 20;
    setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
    setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
    w->msg = malloc(WMSG_MAX);
    if (!w->msg) {
        close(sv[0]);
        close(sv[1]);
        return KG_ERR_NOMEM;
    }
    pid_t parent = getpid();
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        close(sv[0]);
        close(sv[1]);
        free(w->msg);
        return KG_ERR_IO;
    }
    if (pid == 0) {
        close(sv[0]);
        child_main(w, sv[1], parent); /* does not return */
    }
    close(sv[1]);
    w->fd = sv[0];
    w->pid = pid;
    int rc = wait_started(w);
    if (rc != 0) {
        close(w->fd);
        waitpid(pid, NULL, 0);
        free(w->msg);
        return rc;
    }
    fcntl(w->fd, F_SETFL, fcntl(w->fd, F_GETFL) | O_NONBLOCK);
    uv_poll_init(w->cfg.signal_loop, &w->poll, w->fd);
    w->poll.data = w;
    uv_poll_start(&w->poll, UV_READABLE | UV_DISCONNECT, wk_on_child_msg);
    return 0;
}

static void proc_closed(uv_handle_t *h)
{
    kg_worker *w = h->data;
    outq_clear(w);
    close(w->fd);
    free(w->msg);
    free(w->rx_parts);
    free(w->part_snap);
    pthread_mutex_destroy(&w->lock);
    free(w);
}

/* Parent: closing our end tells the child to stop; it leaves every
 * participant (wiping keys) and exits. */
void wk_stop_process(kg_worker *w)
{
    w->stopping = true;
    uv_poll_stop(&w->poll);
    shutdown(w->fd, SHUT_RDWR);
    while (waitpid(w->pid, NULL, 0) < 0 && errno == EINTR)
        ;
    uv_close((uv_handle_t *)&w->poll, proc_closed);
}

/* Parent: a command down to the child, never blocking the signalling
 * loop: what the socket cannot take now waits in order for writability.
 * A dead child is reported by wk_on_child_msg. */
int wk_post_process(kg_worker *w, const kg_worker_cmd *cmd)
{
    return send_or_queue(w, cmd, sizeof(*cmd), NULL, 0, true,
                         wk_on_child_msg);
}
