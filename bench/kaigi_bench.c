/* kaigi-bench: R rooms x P participants of synthetic clients on the real
 * client stack (ICE, DTLS, SRTP AEAD_AES_256_GCM) against a kaigi it
 * starts (--kaigi) or targets (--server, --pid), measured over a steady
 * window after a warm-up; and --ceiling, the same traffic through a bare
 * recvmmsg -> unprotect -> protect -> sendmmsg loop. Only 127.0.0.1. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <getopt.h>
#include <math.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench/bench.h"
#include "bench/bench_http.h"
#include "relay/delay.h"

#define MAX_PROCESSES 16
#define BOTTLENECK_PCT 85.0
#define WATCHDOG_SLACK_S 30
#define KAIGI_START_TIMEOUT (10 * KG_SEC)

typedef struct opts {
    const char *kaigi;
    const char *server;
    const char *ca; /* --ca: PEM CA for a wss:// --server */
    const char *janus; /* --janus: Janus VideoRoom's REST API URL */
    const char *media_ip; /* --media-ip: the clients' UDP address */
    long pid;
    unsigned rooms, participants, processes, video_kbps;
    double duration, warmup;
    bool json, ceiling, sync_keys;
    bool tcp; /* --tcp: the clients' media over ICE-TCP */
    double max_loss, max_p99; /* < 0: no threshold */
} opts;

/* What the watchdog must stop. */
static volatile pid_t g_kaigi = -1;
static volatile pid_t g_children[MAX_PROCESSES];
static char g_data_dir[256];

static void on_alarm(int sig)
{
    (void)sig;
    static const char msg[] = "kaigi-bench: watchdog: the run took too long\n";
    if (write(2, msg, sizeof(msg) - 1) < 0) {
        /* nothing more to do */
    }
    for (int i = 0; i < MAX_PROCESSES; i++)
        if (g_children[i] > 0)
            kill(g_children[i], SIGKILL);
    if (g_kaigi > 0)
        kill(g_kaigi, SIGKILL);
    _exit(3);
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: kaigi-bench [--kaigi PATH | --server ws://127.0.0.1:PORT/ws "
            "--pid PID]\n"
            "                   --rooms R --participants P [--duration S] "
            "[--warmup S]\n"
            "                   [--video-kbps K] [--processes N] [--json] "
            "[--max-loss PCT]\n"
            "                   [--max-p99-ms MS] [--ceiling] "
            "[--sync-keyframes]\n"
            "       kaigi-bench --janus http://127.0.0.1:PORT/janus --pid PID "
            "[same options]\n"
            "\n"
            "  --ca FILE          with --server wss://127.0.0.1:PORT/ws: "
            "trust only this\n"
            "                     PEM CA (default: the system's)\n"
            "  --kaigi PATH       start this kaigi on free 127.0.0.1 ports "
            "(--open-rooms,\n"
            "                     a temporary --data) and stop it at the end\n"
            "  --server URL       target a running kaigi started with "
            "--open-rooms\n"
            "  --janus URL        target a running Janus VideoRoom instead "
            "(its REST API;\n"
            "                     rooms 1000.. are created; bench/janus-compare "
            "runs both)\n"
            "  --pid PID          its process id: CPU and memory (Pss) from /proc,\n"
            "                     its worker processes included\n"
            "  --media-ip IP      the clients' (and a started kaigi's) UDP "
            "address, one of\n"
            "                     this host's own (default 127.0.0.1; Janus "
            "needs another)\n"
            "  --rooms R          rooms \"bench-0\".. (default 1)\n"
            "  --participants P   per room, 1-%d (default 4)\n"
            "  --duration S       steady window in seconds (default 10)\n"
            "  --warmup S         seconds before it, for joins (default 3)\n"
            "  --video-kbps K     synthetic VP8-sized video (default 500)\n"
            "  --processes N      bench processes sharing the clients "
            "(default 1)\n"
            "  --json             the report as JSON on stdout\n"
            "  --max-loss PCT     exit 1 if loss is higher\n"
            "  --max-p99-ms MS    exit 1 if p99 latency is higher\n"
            "  --ceiling          also (or, with no kaigi, only) run the bare "
            "forwarding loop\n"
            "  --sync-keyframes   every client's keyframes on the same frame "
            "interval (the\n"
            "                     worst burst; by default each has its own "
            "phase)\n"
            "  --tcp              the clients' media over ICE-TCP (RFC 6544,"
            " kaigi's\n"
            "                     passive TCP candidate) instead of UDP\n",
            KB_MAX_PARTICIPANTS);
}

static bool num(const char *s, double lo, double hi, double *out)
{
    char *e;
    errno = 0;
    double v = strtod(s, &e);
    if (errno || e == s || *e || !(v >= lo && v <= hi))
        return false;
    *out = v;
    return true;
}

/* Whether ip is an IPv4 address of this host: binding a UDP socket to it
 * succeeds only then. Media to it never leaves the host (the kernel
 * delivers to its own addresses over lo). */
static bool is_local_ip(const char *ip)
{
    struct sockaddr_in a = {.sin_family = AF_INET};
    if (inet_pton(AF_INET, ip, &a.sin_addr) != 1)
        return false;
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    bool ok = fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
    if (fd >= 0)
        close(fd);
    return ok;
}

static int parse_opts(int argc, char **argv, opts *o)
{
    static const struct option longs[] = {
        {"kaigi", required_argument, NULL, 'k'},
        {"server", required_argument, NULL, 's'},
        {"ca", required_argument, NULL, 'C'},
        {"janus", required_argument, NULL, 'J'},
        {"media-ip", required_argument, NULL, 'M'},
        {"pid", required_argument, NULL, 'p'},
        {"rooms", required_argument, NULL, 'r'},
        {"participants", required_argument, NULL, 'P'},
        {"duration", required_argument, NULL, 'd'},
        {"warmup", required_argument, NULL, 'w'},
        {"video-kbps", required_argument, NULL, 'v'},
        {"processes", required_argument, NULL, 'n'},
        {"json", no_argument, NULL, 'j'},
        {"max-loss", required_argument, NULL, 'L'},
        {"max-p99-ms", required_argument, NULL, 'T'},
        {"ceiling", no_argument, NULL, 'c'},
        {"sync-keyframes", no_argument, NULL, 'K'},
        {"tcp", no_argument, NULL, 1001},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c;
    double v;
    while ((c = getopt_long(argc, argv, "", longs, NULL)) != -1) {
        bool ok = true;
        switch (c) {
        case 'k': o->kaigi = optarg; break;
        case 's': o->server = optarg; break;
        case 'C': o->ca = optarg; break;
        case 'J': o->janus = optarg; break;
        case 'M': o->media_ip = optarg; break;
        case 'p': ok = num(optarg, 1, 4194304, &v); o->pid = (long)v; break;
        case 'r': ok = num(optarg, 1, 1000, &v); o->rooms = (unsigned)v; break;
        case 'P':
            ok = num(optarg, 1, KB_MAX_PARTICIPANTS, &v);
            o->participants = (unsigned)v;
            break;
        case 'd': ok = num(optarg, 0.5, 3600, &o->duration); break;
        case 'w': ok = num(optarg, 0.5, 600, &o->warmup); break;
        case 'v': ok = num(optarg, 0, 20000, &v); o->video_kbps = (unsigned)v; break;
        case 'n':
            ok = num(optarg, 1, MAX_PROCESSES, &v);
            o->processes = (unsigned)v;
            break;
        case 'j': o->json = true; break;
        case 'L': ok = num(optarg, 0, 100, &o->max_loss); break;
        case 'T': ok = num(optarg, 0, 1e6, &o->max_p99); break;
        case 'c': o->ceiling = true; break;
        case 'K': o->sync_keys = true; break;
        case 1001: o->tcp = true; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
        if (!ok) {
            fprintf(stderr, "kaigi-bench: bad value '%s'\n", optarg);
            return 2;
        }
    }
    if (optind < argc || (o->kaigi && o->server) ||
        (o->janus && (o->kaigi || o->server)) ||
        (!o->kaigi && !o->server && !o->janus && !o->ceiling)) {
        usage(stderr);
        return 2;
    }
    if (o->server && strncmp(o->server, "ws://127.0.0.1:", 15) != 0 &&
        strncmp(o->server, "wss://127.0.0.1:", 16) != 0) {
        fprintf(stderr, "kaigi-bench: --server must be "
                        "ws[s]://127.0.0.1:PORT/ws (loopback only)\n");
        return 2;
    }
    if (o->janus && strncmp(o->janus, "http://127.0.0.1:", 17) != 0) {
        fprintf(stderr, "kaigi-bench: --janus must be "
                        "http://127.0.0.1:PORT/janus (loopback only)\n");
        return 2;
    }
    if (o->media_ip && !is_local_ip(o->media_ip)) {
        fprintf(stderr, "kaigi-bench: --media-ip must be an IPv4 address of "
                        "this host\n");
        return 2;
    }
    if (o->janus && o->participants < 2) {
        /* A Janus client's subscriber handle needs a feed to join. */
        fprintf(stderr, "kaigi-bench: --janus needs --participants >= 2\n");
        return 2;
    }
    if ((size_t)o->rooms * o->participants > KB_MAX_CLIENTS) {
        fprintf(stderr, "kaigi-bench: at most %d clients\n", KB_MAX_CLIENTS);
        return 2;
    }
    if (o->processes > o->rooms * o->participants)
        o->processes = o->rooms * o->participants;
    return -1;
}

/* --- /proc -------------------------------------------------------------- */

/* utime + stime of one process in seconds, -1 if unreadable. */
static double one_cpu_s(long pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    /* The command name may hold spaces and parentheses: fields count from
     * the last ')'. utime and stime are fields 14 and 15. */
    char *p = strrchr(buf, ')');
    unsigned long ut = 0, st = 0;
    if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu",
                     &ut, &st) != 2)
        return -1;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* Pss (proportional set size) of one process in kB, -1 if unreadable:
 * kaigi's media workers are child processes sharing pages with it, so
 * their RSS would count those pages once per process. */
static long one_pss_kb(long pid)
{
    char path[64], line[256];
    snprintf(path, sizeof(path), "/proc/%ld/smaps_rollup", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    long kb = -1;
    while (fgets(line, sizeof(line), f))
        if (sscanf(line, "Pss: %ld kB", &kb) == 1)
            break;
    fclose(f);
    return kb;
}

#define MAX_TREE 65
/* pid and its children (kaigi's worker processes): returns how many. */
static size_t proc_tree(long pid, long *out)
{
    size_t n = 0;
    out[n++] = pid;
    char path[96];
    snprintf(path, sizeof(path), "/proc/%ld/task/%ld/children", pid, pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return n;
    long c;
    while (n < MAX_TREE && fscanf(f, "%ld", &c) == 1)
        out[n++] = c;
    fclose(f);
    return n;
}

/* one(pid) summed over kaigi and its worker processes; -1 if kaigi's own
 * is unreadable (a worker that just exited counts 0). */
static double tree_sum(long pid, double (*one)(long))
{
    long pids[MAX_TREE];
    size_t n = proc_tree(pid, pids);
    double sum = 0;
    for (size_t i = 0; i < n; i++) {
        double v = one(pids[i]);
        if (v < 0 && i == 0)
            return -1;
        sum += v > 0 ? v : 0;
    }
    return sum;
}

static double one_pss_kb_d(long pid)
{
    return (double)one_pss_kb(pid);
}

/* CPU seconds of kaigi and its worker processes, -1 if unreadable. */
static double proc_cpu_s(long pid)
{
    return tree_sum(pid, one_cpu_s);
}

/* Memory of kaigi and its worker processes (summed Pss) in kB. */
static long proc_rss_kb(long pid)
{
    return (long)tree_sum(pid, one_pss_kb_d);
}

/* --- the kaigi we start ------------------------------------------------- */

static int free_port(int type)
{
    int fd = socket(AF_INET, type | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    int port = -1;
    if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    if (fd >= 0)
        close(fd);
    return port;
}

/* Whether kaigi has said it listens. A bare TCP connect-and-close probe
 * would be simpler, but kaigi (signalling/server.c) crashes on a
 * connection that closes before its first request. */
static bool log_says_listening(const char *log)
{
    char buf[4096];
    FILE *f = fopen(log, "r");
    if (!f)
        return false;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    return strstr(buf, "kaigi: listening on") != NULL;
}

static void sleep_ns(kg_time ns)
{
    struct timespec ts = {(time_t)(ns / KG_SEC), (long)(ns % KG_SEC)};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static void stop_kaigi(pid_t pid);

/* Starts kaigi; fills url. Returns its pid or -1. */
static pid_t start_kaigi(const char *path, const char *media_ip, char *url,
                         size_t cap)
{
    snprintf(g_data_dir, sizeof(g_data_dir), "/tmp/kaigi-bench-XXXXXX");
    if (!mkdtemp(g_data_dir)) {
        g_data_dir[0] = '\0';
        fprintf(stderr, "kaigi-bench: mkdtemp: %s\n", strerror(errno));
        return -1;
    }
    int tcp = free_port(SOCK_STREAM), udp = free_port(SOCK_DGRAM);
    if (tcp < 0 || udp < 0)
        return -1;
    char listen[32], media[32], data[300], log[300];
    snprintf(listen, sizeof(listen), "127.0.0.1:%d", tcp);
    snprintf(media, sizeof(media), "%s:%d", media_ip ? media_ip : "127.0.0.1",
             udp);
    snprintf(data, sizeof(data), "%s/data", g_data_dir);
    snprintf(log, sizeof(log), "%s/kaigi.log", g_data_dir);
    snprintf(url, cap, "ws://127.0.0.1:%d/ws", tcp);
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        execl(path, path, "--listen", listen, "--udp", media, "--data", data,
              "--open-rooms", "--node", "bench", (char *)NULL);
        _exit(127);
    }
    if (pid < 0)
        return -1;
    g_kaigi = pid;
    kg_time deadline = kb_now() + KAIGI_START_TIMEOUT;
    while (kb_now() < deadline) {
        if (waitpid(pid, NULL, WNOHANG) == pid) {
            fprintf(stderr, "kaigi-bench: kaigi exited at start (log: %s)\n",
                    log);
            g_kaigi = -1;
            return -1;
        }
        if (log_says_listening(log))
            return pid;
        sleep_ns(20 * KG_MS);
    }
    fprintf(stderr, "kaigi-bench: kaigi did not listen within 10 s\n");
    stop_kaigi(pid);
    return -1;
}

static int rm_entry(const char *path, const struct stat *sb, int flag,
                    struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

static void stop_kaigi(pid_t pid)
{
    if (pid > 0) {
        kill(pid, SIGTERM);
        kg_time deadline = kb_now() + 5 * KG_SEC;
        bool gone = false;
        while (!gone && kb_now() < deadline) {
            gone = waitpid(pid, NULL, WNOHANG) == pid;
            if (!gone)
                sleep_ns(20 * KG_MS);
        }
        if (!gone) {
            kill(pid, SIGKILL);
            waitpid(pid, NULL, 0);
        }
        g_kaigi = -1;
    }
    if (g_data_dir[0])
        nftw(g_data_dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
    g_data_dir[0] = '\0';
}

/* --- the kaigi run ----------------------------------------------------- */

typedef struct run_report {
    bool done;
    kb_result r;
    double target_cpu_s;   /* kaigi's, or the loop thread's; < 0 unknown */
    double bench_cpu_pct[MAX_PROCESSES];
    unsigned n_bench;
    long rss_before, rss_after; /* kB, -1 unknown */
    uint64_t forwarded;         /* ceiling: what the loop sent */
    /* The delay the server itself reports adding over the window (kaigi's
     * /api/stats forward_delay, the ceiling loop's own), if known. */
    kg_delay_hist delay;
    bool have_delay;
} run_report;

static void progress(const opts *o, kg_time start, kg_time end, bool tty,
                     const char *what)
{
    kg_time now = kb_now();
    double done = now >= end ? 1 : now <= start ? 0
                                  : (double)(now - start) / (double)(end - start);
    double left = now >= end ? 0 : (double)(end - now) / 1e9;
    const char *phase = now < start + (kg_time)(o->warmup * 1e9) ? "warm-up"
                                                                 : "measuring";
    if (tty) {
        char bar[41];
        int fill = (int)(done * 40);
        for (int i = 0; i < 40; i++)
            bar[i] = i < fill ? '#' : '.';
        bar[40] = '\0';
        fprintf(stderr, "\r%s [%s] %3.0f%% %-9s %4.1f s left ", what, bar,
                done * 100, phase, left);
    } else {
        fprintf(stderr, "%s: %3.0f%% %s, %.0f s left\n", what, done * 100,
                phase, left);
    }
}

/* The child's side: runs its clients and writes its JSON to fd. */
static void child_main(const kb_client_plan *plan, int fd, unsigned secs)
{
    /* The parent's watchdog would stop kaigi and the siblings: a child's
     * own just ends the child. */
    signal(SIGALRM, SIG_DFL);
    alarm(secs);
    static kb_result r;
    int rc = kb_clients_run(plan, &r);
    json_t *j = rc == 0 ? kb_result_to_json(&r) : NULL;
    char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
    size_t len = text ? strlen(text) : 0, off = 0;
    while (off < len) {
        ssize_t n = write(fd, text + off, len - off);
        if (n <= 0 && errno != EINTR)
            break;
        if (n > 0)
            off += (size_t)n;
    }
    close(fd);
    _exit(rc == 0 && off == len ? 0 : 1);
}

/* Reads every child's JSON until EOF or the deadline. */
static void read_children(int *fds, char **bufs, size_t *lens, unsigned n,
                          kg_time deadline)
{
    size_t caps[MAX_PROCESSES] = {0};
    unsigned open_fds = n;
    while (open_fds && kb_now() < deadline) {
        struct pollfd p[MAX_PROCESSES];
        for (unsigned i = 0; i < n; i++)
            p[i] = (struct pollfd){.fd = fds[i], .events = POLLIN};
        int ms = (int)((deadline - kb_now()) / KG_MS) + 1;
        if (poll(p, n, ms) <= 0)
            continue;
        for (unsigned i = 0; i < n; i++) {
            if (fds[i] < 0 || !(p[i].revents & (POLLIN | POLLHUP)))
                continue;
            if (lens[i] + 65536 > caps[i]) {
                caps[i] = caps[i] * 2 + 65536 * 2;
                char *b = realloc(bufs[i], caps[i]);
                if (!b)
                    return;
                bufs[i] = b;
            }
            ssize_t r = read(fds[i], bufs[i] + lens[i], caps[i] - lens[i] - 1);
            if (r > 0) {
                lens[i] += (size_t)r;
                bufs[i][lens[i]] = '\0';
            } else if (r == 0 || errno != EINTR) {
                close(fds[i]);
                fds[i] = -1;
                p[i].fd = -1;
                open_fds--;
            }
        }
    }
}

/* --- kaigi's own delay figures ------------------------------------------- */

typedef struct stats_req {
    kg_delay_hist *out;
    int rc;
} stats_req;

/* Sums the workers' forward_delay histograms of a /api/stats body; the
 * bounds must be the ones this bench was built with. */
static void on_stats(void *user, int status, const char *body, size_t len)
{
    stats_req *q = user;
    q->rc = KG_ERR_IO;
    if (status != 200)
        return;
    json_t *j = json_loadb(body, len, 0, NULL);
    json_t *workers = json_object_get(j, "workers");
    size_t i;
    json_t *w;
    memset(q->out, 0, sizeof(*q->out));
    q->rc = json_array_size(workers) ? 0 : KG_ERR_MALFORMED;
    json_array_foreach(workers, i, w) {
        json_t *d = json_object_get(w, "forward_delay");
        json_t *bounds = json_object_get(d, "bounds_us");
        json_t *counts = json_object_get(d, "counts");
        bool ok = json_array_size(bounds) == KG_DELAY_BOUNDS &&
                  json_array_size(counts) == KG_DELAY_BUCKETS;
        for (unsigned k = 0; ok && k < KG_DELAY_BOUNDS; k++)
            ok = json_integer_value(json_array_get(bounds, k)) ==
                 kg_delay_bound_us[k];
        if (!ok) {
            q->rc = KG_ERR_MALFORMED;
            break;
        }
        for (unsigned k = 0; k < KG_DELAY_BUCKETS; k++)
            q->out->count[k] +=
                (uint64_t)json_integer_value(json_array_get(counts, k));
        q->out->sum_ns +=
            (uint64_t)json_integer_value(json_object_get(d, "sum_ns"));
    }
    json_decref(j);
}

/* kaigi's forwarding-delay histogram, all workers summed, from GET
 * /api/stats beside ws_url (ws://127.0.0.1:PORT/ws). Returns 0 or an
 * error (an older kaigi without it: KG_ERR_MALFORMED). */
static int server_delay(const char *ws_url, kg_delay_hist *out)
{
    char http[160], path[64];
    struct sockaddr_in addr;
    if (strncmp(ws_url, "ws://", 5) != 0 ||
        snprintf(http, sizeof(http), "http://%s", ws_url + 5) >=
            (int)sizeof(http) ||
        kb_http_parse_url(http, &addr, path, sizeof(path)) != 0)
        return KG_ERR_INVAL;
    uv_loop_t loop;
    if (uv_loop_init(&loop) != 0)
        return KG_ERR_IO;
    stats_req q = {.out = out, .rc = KG_ERR_IO};
    int rc = kb_http_request(&loop, &addr, "GET", "/api/stats", NULL, 2000,
                             on_stats, &q);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    return rc < 0 ? rc : q.rc;
}

static int kaigi_run(const opts *o, const char *url, long pid, run_report *rep)
{
    unsigned total = o->rooms * o->participants, n = o->processes;
    rep->rss_before = pid > 0 ? proc_rss_kb(pid) : -1;
    kg_time start = kb_now() + 200 * KG_MS;
    kg_time ws = start + (kg_time)(o->warmup * 1e9);
    kg_time we = ws + (kg_time)(o->duration * 1e9);
    unsigned secs = (unsigned)(o->warmup + o->duration) + WATCHDOG_SLACK_S;
    alarm(secs);
    kb_client_plan plans[MAX_PROCESSES];
    int fds[MAX_PROCESSES];
    fflush(NULL);
    for (unsigned i = 0; i < n; i++) {
        /* Whole rooms go together where they can; it does not matter for
         * kaigi, which sees only sockets. */
        unsigned first = total * i / n, last = total * (i + 1) / n;
        plans[i] = (kb_client_plan){.ws_url = url,
                                    .ca = o->ca,
                                    .janus_url = o->janus,
                                    .media_ip = o->media_ip,
                                    .first = first,
                                    .count = last - first,
                                    .participants = o->participants,
                                    .video_kbps = o->video_kbps,
                                    .sync_keys = o->sync_keys,
                                    .tcp = o->tcp,
                                    .start = start,
                                    .ws = ws,
                                    .we = we};
        int p[2];
        if (pipe2(p, O_CLOEXEC) != 0)
            return KG_ERR_IO;
        pid_t c = fork();
        if (c == 0) {
            close(p[0]);
            child_main(&plans[i], p[1], secs);
        }
        close(p[1]);
        if (c < 0) {
            close(p[0]);
            return KG_ERR_IO;
        }
        g_children[i] = c;
        fds[i] = p[0];
    }
    bool tty = isatty(2);
    double cpu0 = -1, cpu1 = -1;
    kg_time tick = start;
    kg_delay_hist d0;
    int d0_rc = KG_ERR_INVAL;
    for (kg_time now = kb_now(); now < we; now = kb_now()) {
        if (cpu0 < 0 && now >= ws && pid > 0) {
            cpu0 = proc_cpu_s(pid);
            if (!o->janus)
                d0_rc = server_delay(url, &d0);
        }
        if (now >= tick) {
            progress(o, start, we, tty, "kaigi-bench");
            tick += tty ? 200 * KG_MS : KG_SEC;
        }
        kg_time next = cpu0 < 0 && ws > now ? ws : we;
        if (tick < next)
            next = tick;
        sleep_ns(next > now ? next - now : 0);
    }
    if (pid > 0) {
        cpu1 = proc_cpu_s(pid);
        rep->rss_after = proc_rss_kb(pid);
        /* Worker processes send their counters up once a second: this
         * window is the clients' shifted by up to a second. */
        if (d0_rc == 0 && server_delay(url, &rep->delay) == 0) {
            kg_delay_hist_diff(&rep->delay, &rep->delay, &d0);
            rep->have_delay = true;
        }
    } else {
        rep->rss_after = -1;
    }
    progress(o, start, we, tty, "kaigi-bench");
    if (tty)
        fputc('\n', stderr);
    rep->target_cpu_s = cpu0 >= 0 && cpu1 >= 0 ? cpu1 - cpu0 : -1;
    char *bufs[MAX_PROCESSES] = {0};
    size_t lens[MAX_PROCESSES] = {0};
    read_children(fds, bufs, lens, n, we + KB_DRAIN + 10 * KG_SEC);
    int rc = 0;
    static kb_result one;
    for (unsigned i = 0; i < n; i++) {
        if (fds[i] >= 0)
            close(fds[i]);
        int status = 0;
        waitpid(g_children[i], &status, 0);
        g_children[i] = 0;
        json_error_t err;
        json_t *j = bufs[i] ? json_loadb(bufs[i], lens[i], 0, &err) : NULL;
        if (!j || kb_result_from_json(&one, j) != 0) {
            fprintf(stderr, "kaigi-bench: bench process %u gave no report "
                            "(status %d)\n", i, status);
            rc = KG_ERR_IO;
        } else {
            kb_result_merge(&rep->r, &one);
            rep->bench_cpu_pct[rep->n_bench++] =
                one.window_s > 0 ? 100 * one.cpu_s / one.window_s : 0;
        }
        json_decref(j);
        free(bufs[i]);
    }
    rep->r.window_s = o->duration;
    alarm(0);
    rep->done = true;
    return rc;
}

static int ceiling_run(const opts *o, run_report *rep)
{
    static kb_ceiling_result cr;
    kb_ceiling_plan plan = {.rooms = o->rooms,
                            .participants = o->participants,
                            .video_kbps = o->video_kbps,
                            .sync_keys = o->sync_keys,
                            .warmup_s = o->warmup,
                            .duration_s = o->duration};
    alarm((unsigned)(o->warmup + o->duration) + WATCHDOG_SLACK_S);
    if (!o->json)
        fprintf(stderr, "kaigi-bench: ceiling run, %.0f s...\n",
                o->warmup + o->duration);
    int rc = kb_ceiling_run(&plan, &cr);
    alarm(0);
    if (rc != 0)
        return rc;
    rep->r = cr.r;
    rep->target_cpu_s = cr.loop_cpu_s;
    rep->forwarded = cr.forwarded;
    rep->delay = cr.delay;
    rep->have_delay = true;
    rep->bench_cpu_pct[0] = 100 * cr.r.cpu_s / o->duration;
    rep->n_bench = 1;
    rep->rss_before = rep->rss_after = -1;
    rep->done = true;
    return 0;
}

/* --- the report -------------------------------------------------------- */

typedef struct figures {
    double pps, mbps, cpu_pct, us_per_pkt, p50, p99, max, loss_pct;
    double delay_p50, delay_p99; /* ms, the server's own; < 0 unknown */
    double late_p50, late_p99;   /* ms, the clients' send lateness */
    double join_p50, join_max;
    size_t joins;
    double bench_max_pct;
    bool bottleneck;
} figures;

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static figures figures_of(const run_report *rep)
{
    figures f;
    memset(&f, 0, sizeof(f));
    const kb_result *r = &rep->r;
    double w = r->window_s > 0 ? r->window_s : 1;
    f.pps = (double)r->rx_packets / w;
    f.mbps = (double)r->rx_bytes * 8 / w / 1e6;
    f.cpu_pct = rep->target_cpu_s >= 0 ? 100 * rep->target_cpu_s / w : -1;
    f.us_per_pkt = rep->target_cpu_s >= 0 && r->rx_packets
                       ? rep->target_cpu_s * 1e6 / (double)r->rx_packets
                       : -1;
    f.p50 = kb_hist_quantile(&r->lat, 0.50) / 1000;
    f.p99 = kb_hist_quantile(&r->lat, 0.99) / 1000;
    f.max = (double)r->lat.max_us / 1000;
    f.late_p50 = f.late_p99 = -1;
    if (kg_delay_hist_total(&r->send_late)) {
        f.late_p50 = kg_delay_hist_quantile_us(&r->send_late, 0.50) / 1000;
        f.late_p99 = kg_delay_hist_quantile_us(&r->send_late, 0.99) / 1000;
    }
    f.delay_p50 = f.delay_p99 = -1;
    if (rep->have_delay && kg_delay_hist_total(&rep->delay)) {
        f.delay_p50 = kg_delay_hist_quantile_us(&rep->delay, 0.50) / 1000;
        f.delay_p99 = kg_delay_hist_quantile_us(&rep->delay, 0.99) / 1000;
    }
    f.loss_pct = r->expected
                     ? 100.0 * (double)(r->expected - (r->received < r->expected
                                                           ? r->received
                                                           : r->expected)) /
                           (double)r->expected
                     : 0;
    static double j[KB_MAX_CLIENTS];
    for (size_t i = 0; i < r->n_join; i++)
        if (r->join_ms[i] >= 0)
            j[f.joins++] = r->join_ms[i];
    qsort(j, f.joins, sizeof(double), cmp_double);
    f.join_p50 = f.joins ? j[(f.joins - 1) / 2] : -1;
    f.join_max = f.joins ? j[f.joins - 1] : -1;
    for (unsigned i = 0; i < rep->n_bench; i++)
        if (rep->bench_cpu_pct[i] > f.bench_max_pct)
            f.bench_max_pct = rep->bench_cpu_pct[i];
    f.bottleneck = f.bench_max_pct > BOTTLENECK_PCT;
    return f;
}

static json_t *num_or_null(double v, bool known)
{
    return known ? json_real(round(v * 1000) / 1000) : json_null();
}

static json_t *report_json(const opts *o, const run_report *rep, bool ceiling)
{
    if (!rep->done)
        return json_null();
    figures f = figures_of(rep);
    const kb_result *r = &rep->r;
    json_t *bench = json_array();
    for (unsigned i = 0; i < rep->n_bench; i++)
        json_array_append_new(bench, num_or_null(rep->bench_cpu_pct[i], true));
    long clients = (long)o->rooms * o->participants;
    bool rss = rep->rss_before >= 0 && rep->rss_after >= 0;
    json_t *j = json_pack(
        "{s:s, s:i, s:i, s:I, s:i, s:f, s:f, s:i, s:I, s:I, s:I, s:I, s:I, "
        "s:o, s:o, s:o, s:o, s:o, s:{s:o, s:o, s:o, s:I}, s:o, s:I, s:I, "
        "s:o, s:o, s:o, s:{s:o, s:o, s:I}, s:I, s:I, s:o, s:o, s:b}",
        "mode", ceiling ? "ceiling" : o->janus ? "janus" : "kaigi", "rooms",
        (int)o->rooms,
        "participants", (int)o->participants, "clients", (json_int_t)clients,
        "video_kbps", (int)o->video_kbps, "duration_s", o->duration,
        "warmup_s", o->warmup, "processes", ceiling ? 1 : (int)o->processes,
        "clients_connected", (json_int_t)r->connected, "clients_failed",
        (json_int_t)r->failed, "clients_late", (json_int_t)r->late,
        "packets_sent", (json_int_t)r->sent_packets, "packets_received",
        (json_int_t)r->rx_packets, "forwarded_pps", num_or_null(f.pps, true),
        "forwarded_mbps", num_or_null(f.mbps, true), "cpu_s",
        num_or_null(rep->target_cpu_s, rep->target_cpu_s >= 0), "cpu_pct",
        num_or_null(f.cpu_pct, f.cpu_pct >= 0), "cpu_us_per_packet",
        num_or_null(f.us_per_pkt, f.us_per_pkt >= 0), "latency_ms", "p50",
        num_or_null(f.p50, r->lat.count), "p99", num_or_null(f.p99, r->lat.count),
        "max", num_or_null(f.max, r->lat.count), "samples",
        (json_int_t)r->lat.count, "loss_pct", num_or_null(f.loss_pct, true),
        "packets_expected", (json_int_t)r->expected, "packets_lost",
        (json_int_t)(r->expected > r->received ? r->expected - r->received : 0),
        "rss_kb_before",
        rep->rss_before >= 0 ? json_integer(rep->rss_before) : json_null(),
        "rss_kb_after",
        rep->rss_after >= 0 ? json_integer(rep->rss_after) : json_null(),
        "rss_kb_per_participant",
        num_or_null((double)(rep->rss_after - rep->rss_before) / (double)clients,
                    rss),
        "join_ms", "p50", num_or_null(f.join_p50, f.joins), "max",
        num_or_null(f.join_max, f.joins), "count", (json_int_t)f.joins,
        "srtp_unprotect_failures", (json_int_t)r->unprotect_fail,
        "bad_payloads", (json_int_t)r->bad_payload, "bench_cpu_pct", bench,
        "bench_cpu_max_pct", num_or_null(f.bench_max_pct, true),
        "load_generator_bottleneck", f.bottleneck);
    if (j && ceiling)
        json_object_set_new(j, "loop_packets_forwarded",
                            json_integer((json_int_t)rep->forwarded));
    if (j)
        json_object_set_new(
            j, "send_lateness_ms",
            json_pack("{s:o, s:o}", "p50",
                      num_or_null(f.late_p50, f.late_p50 >= 0), "p99",
                      num_or_null(f.late_p99, f.late_p99 >= 0)));
    /* The server's own figure: kernel receive timestamp to sendmmsg, per
     * datagram sent (null where the server does not report it). */
    if (j)
        json_object_set_new(
            j, "server_delay_ms",
            rep->have_delay
                ? json_pack("{s:o, s:o, s:I}", "p50",
                            num_or_null(f.delay_p50, f.delay_p50 >= 0), "p99",
                            num_or_null(f.delay_p99, f.delay_p99 >= 0),
                            "samples",
                            (json_int_t)kg_delay_hist_total(&rep->delay))
                : json_null());
    return j;
}

static void cell(char *out, size_t cap, double v, bool known, const char *fmt)
{
    if (known)
        snprintf(out, cap, fmt, v);
    else
        snprintf(out, cap, "-");
}

static void row(const char *name, const run_report *k, const run_report *c,
                double kv, double cv, bool kknown, bool cknown,
                const char *fmt)
{
    char a[32], b[32];
    cell(a, sizeof(a), kv, k->done && kknown, fmt);
    cell(b, sizeof(b), cv, c->done && cknown, fmt);
    printf("  %-32s %14s %14s\n", name, a, b);
}

static void report_table(const opts *o, const run_report *k,
                         const run_report *c)
{
    figures fk = figures_of(k), fc = figures_of(c);
    printf("\nkaigi-bench: %u room%s x %u participants, video %u kbit/s "
           "(synthetic VP8-sized payloads) + Opus-sized audio,\n"
           "%.1f s window after %.1f s warm-up, %u bench process%s\n\n",
           o->rooms, o->rooms == 1 ? "" : "s", o->participants, o->video_kbps,
           o->duration, o->warmup, o->processes, o->processes == 1 ? "" : "es");
    printf("  %-32s %14s %14s\n", "", o->janus ? "janus" : "kaigi",
           "ceiling");
    row("forwarded packets/s", k, c, fk.pps, fc.pps, true, true, "%.0f");
    row("forwarded Mbit/s", k, c, fk.mbps, fc.mbps, true, true, "%.2f");
    row("CPU, % of one core", k, c, fk.cpu_pct, fc.cpu_pct, fk.cpu_pct >= 0,
        fc.cpu_pct >= 0, "%.1f");
    row("CPU us per forwarded packet", k, c, fk.us_per_pkt, fc.us_per_pkt,
        fk.us_per_pkt >= 0, fc.us_per_pkt >= 0, "%.2f");
    row("latency p50 ms", k, c, fk.p50, fc.p50, k->r.lat.count,
        c->r.lat.count, "%.3f");
    row("latency p99 ms", k, c, fk.p99, fc.p99, k->r.lat.count,
        c->r.lat.count, "%.3f");
    row("latency max ms", k, c, fk.max, fc.max, k->r.lat.count,
        c->r.lat.count, "%.3f");
    row("server's own delay p50 ms", k, c, fk.delay_p50, fc.delay_p50,
        fk.delay_p50 >= 0, fc.delay_p50 >= 0, "%.3f");
    row("server's own delay p99 ms", k, c, fk.delay_p99, fc.delay_p99,
        fk.delay_p99 >= 0, fc.delay_p99 >= 0, "%.3f");
    row("clients' send lateness p99 ms", k, c, fk.late_p99, fc.late_p99,
        fk.late_p99 >= 0, fc.late_p99 >= 0, "%.3f");
    row("loss %", k, c, fk.loss_pct, fc.loss_pct, true, true, "%.3f");
    row("SRTP unprotect failures", k, c, (double)k->r.unprotect_fail,
        (double)c->r.unprotect_fail, true, true, "%.0f");
    row("clients connected", k, c, (double)k->r.connected,
        (double)c->r.connected, true, true, "%.0f");
    row("clients failed", k, c, (double)k->r.failed, (double)c->r.failed,
        true, true, "%.0f");
    bool rss = k->rss_before >= 0 && k->rss_after >= 0;
    row("server memory before joins, kB", k, c, (double)k->rss_before, 0,
        k->rss_before >= 0, false, "%.0f");
    row("server memory after, kB", k, c, (double)k->rss_after, 0,
        k->rss_after >= 0, false, "%.0f");
    row("memory per participant, kB", k, c,
        (double)(k->rss_after - k->rss_before) /
            (double)(o->rooms * o->participants),
        0, rss, false, "%.0f");
    row("join to first media p50 ms", k, c, fk.join_p50, 0, fk.joins, false,
        "%.1f");
    row("join to first media max ms", k, c, fk.join_max, 0, fk.joins, false,
        "%.1f");
    row("bench process CPU max %", k, c, fk.bench_max_pct, fc.bench_max_pct,
        true, true, "%.1f");
    printf("\n");
    if (k->done && c->done && fk.us_per_pkt > 0 && fc.us_per_pkt > 0)
        printf("kaigi uses %.2f us of CPU per forwarded packet, the bare loop "
               "%.2f us: %.2fx the ceiling.\n",
               fk.us_per_pkt, fc.us_per_pkt, fk.us_per_pkt / fc.us_per_pkt);
    if ((k->done && fk.bottleneck) || (c->done && fc.bottleneck))
        printf("the load generator was the bottleneck (a bench process used "
               "over %.0f %% of a core): add --processes\n", BOTTLENECK_PCT);
    if (k->done)
        printf("latency is one-way from the sender's clock to the receiver's: "
               "the server's added latency plus\nloopback and both clients' own "
               "processing. The server's own delay is from the kernel's\n"
               "receive timestamp of a datagram to the sendmmsg of each copy "
               "(kaigi's /api/stats).\n");
}

int main(int argc, char **argv)
{
    opts o = {.rooms = 1,
              .participants = 4,
              .processes = 1,
              .video_kbps = 500,
              .duration = 10,
              .warmup = 3,
              .max_loss = -1,
              .max_p99 = -1};
    int rc = parse_opts(argc, argv, &o);
    if (rc >= 0)
        return rc;
    signal(SIGPIPE, SIG_IGN);
    signal(SIGALRM, on_alarm);
    static run_report k, c;
    int status = 0;
    if (o.kaigi || o.server || o.janus) {
        char url[128];
        long pid = o.pid;
        pid_t started = -1;
        if (o.kaigi) {
            started = start_kaigi(o.kaigi, o.media_ip, url, sizeof(url));
            pid = started;
        } else {
            snprintf(url, sizeof(url), "%s", o.server ? o.server : o.janus);
        }
        if (o.kaigi && started < 0) {
            stop_kaigi(started);
            return 1;
        }
        rc = kaigi_run(&o, url, pid, &k);
        stop_kaigi(started);
        if (rc != 0)
            status = 1;
    }
    if (o.ceiling && ceiling_run(&o, &c) != 0) {
        fprintf(stderr, "kaigi-bench: the ceiling run failed\n");
        status = 1;
    }
    if (o.json) {
        figures fk = figures_of(&k), fc = figures_of(&c);
        json_t *j = json_pack("{s:o, s:o, s:o}", o.janus ? "janus" : "kaigi",
                              report_json(&o, &k, false), "ceiling",
                              report_json(&o, &c, true), "ratio",
                              num_or_null(fk.us_per_pkt / fc.us_per_pkt,
                                          k.done && c.done && fk.us_per_pkt > 0 &&
                                              fc.us_per_pkt > 0));
        char *text = j ? json_dumps(j, JSON_INDENT(2)) : NULL;
        if (text)
            printf("%s\n", text);
        free(text);
        json_decref(j);
    } else {
        report_table(&o, &k, &c);
    }
    const run_report *runs[2] = {&k, &c};
    for (int i = 0; i < 2; i++) {
        if (!runs[i]->done)
            continue;
        figures f = figures_of(runs[i]);
        if (runs[i]->r.failed) {
            fprintf(stderr, "kaigi-bench: %llu client(s) failed to connect\n",
                    (unsigned long long)runs[i]->r.failed);
            status = 1;
        }
        if (o.max_loss >= 0 && f.loss_pct > o.max_loss) {
            fprintf(stderr, "kaigi-bench: loss %.3f %% over --max-loss %.3f\n",
                    f.loss_pct, o.max_loss);
            status = 1;
        }
        if (o.max_p99 >= 0 && f.p99 > o.max_p99) {
            fprintf(stderr, "kaigi-bench: p99 %.3f ms over --max-p99-ms %.3f\n",
                    f.p99, o.max_p99);
            status = 1;
        }
    }
    return status;
}
