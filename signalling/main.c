/* kaigi: the meeting media server. */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <uv.h>

#include "codec/err.h"
#include "crypto/dtls.h"
#include "signalling/api.h"
#include "signalling/server.h"
#include "signalling/store.h"
#include "relay/worker.h"

typedef struct opts {
    char listen_ip[64];
    uint16_t listen_port;
    char udp_ip[64];
    uint16_t udp_port;
    const char *public_ip;
    int tcp_port; /* KG_TCP_SAME_PORT, 0 off, or a port */
    const char *data_dir;
    char node[64];
    bool legacy_srtp;
    unsigned long max_participants;
    bool open_rooms;
    bool demo;
    int pin_digits;
    const char *www_dir;
    unsigned long workers;
    bool worker_threads;
    unsigned long loudest;
    unsigned long ipv6_prefix;
    unsigned long max_unjoined;
    const char *tls_cert;
    const char *tls_key;
    const char *public_url;
} opts;

static void usage(FILE *f)
{
    fprintf(f,
            "usage: kaigi [options]\n"
            "\n"
            "  --listen ADDR:PORT     HTTP and WebSocket (/ws) address "
            "(default 127.0.0.1:8080;\n"
            "                         IPv6 as [::]:443 or [::1]:8080)\n"
            "  --tls-cert FILE        serve HTTPS and WSS (no plain HTTP) "
            "with this PEM\n"
            "                         certificate chain, leaf first "
            "(certbot's fullchain.pem)\n"
            "  --tls-key FILE         its PEM private key (certbot's "
            "privkey.pem); after a\n"
            "                         renewal, SIGHUP loads both again "
            "without a restart\n"
            "  --public-url URL       the address people open, for the "
            "links kaigi makes\n"
            "                         (https://meet.example.org; default: "
            "from --listen)\n"
            "  --udp ADDR:PORT        media (ICE/DTLS/SRTP) UDP address "
            "of worker 0; worker i\n"
            "                         uses PORT + i "
            "(default 127.0.0.1:40000; IPv6 as [::1]:PORT)\n"
            "  --tcp PORT|off         ICE-TCP (RFC 6544, passive) on the "
            "--udp address:\n"
            "                         worker i listens on PORT + i (default: "
            "each worker's\n"
            "                         UDP port number); off: UDP only\n"
            "  --workers N            media workers, each with its "
            "own loop and port\n"
            "                         (default: the number of cores)\n"
            "  --worker-threads       run the workers as threads, not as "
            "child processes\n"
            "                         (Debian's libsrtp2 serialises "
            "threads: see README)\n"
            "  --public-ip IP         address to advertise in ICE "
            "candidates (default: the --udp address)\n"
            "  --data DIR             data directory, made 0700 if missing "
            "(default ./data)\n"
            "  --node NAME            this server's name, told to clients "
            "(default: host name)\n"
            "  --max-participants N   participants on this server "
            "(default 1000); sockets\n"
            "                         that have not joined hold no slot\n"
            "  --max-unjoined N       sockets that have not joined yet, 10 s "
            "each to do so\n"
            "                         (default 1024); when full, the source "
            "holding the\n"
            "                         most gives way to one holding fewer\n"
            "  --ipv6-prefix N        an IPv6 source is its /N for that and "
            "for PIN\n"
            "                         lock-outs, 1-128 (default 64)\n"
            "  --allow-legacy-srtp    also offer SRTP_AES128_CM_SHA1_80 "
            "(default off: AEAD GCM only)\n"
            "  --pin-digits N         digits of each meeting's PIN, 6-12 "
            "(default 8)\n"
            "  --demo                 create a demo meeting open now for 8 "
            "hours and print\n"
            "                         its ID, PIN and host link\n"
            "  --www DIR              the browser client's files "
            "(default: " KG_WWW_DIR ")\n"
            "  --open-rooms           also allow ad-hoc rooms joined by name "
            "with no PIN\n"
            "                         (tests and benchmarks only; never on a "
            "public address)\n"
            "  --loudest N            in each room, forward only the audio "
            "of the N loudest\n"
            "                         publishers (RFC 6464 levels; default 0 "
            "= all)\n"
            "  --version              print the version\n"
            "  --help                 this text\n"
            "\n"
            "Media is encrypted between each client and kaigi (DTLS-SRTP, "
            "AEAD_AES_256_GCM first).\nkaigi decrypts and re-encrypts it: "
            "this is not end-to-end encryption.\n");
}

/* "127.0.0.1:8080" or "[::1]:8080" into ip and port. */
static bool parse_hostport(const char *s, char *ip, size_t iplen,
                           uint16_t *port)
{
    const char *colon;
    const char *host = s;
    size_t hlen;
    if (s[0] == '[') {
        const char *close = strchr(s, ']');
        if (!close || close[1] != ':')
            return false;
        host = s + 1;
        hlen = (size_t)(close - host);
        colon = close + 1;
    } else {
        colon = strrchr(s, ':');
        if (!colon || memchr(s, ':', (size_t)(colon - s)))
            return false;
        hlen = (size_t)(colon - s);
    }
    if (hlen == 0 || hlen >= iplen)
        return false;
    memcpy(ip, host, hlen);
    ip[hlen] = '\0';
    char *end;
    errno = 0;
    unsigned long p = strtoul(colon + 1, &end, 10);
    if (errno || *end || colon[1] == '\0' || p > 65535)
        return false;
    unsigned char tmp[16];
    if (inet_pton(strchr(ip, ':') ? AF_INET6 : AF_INET, ip, tmp) != 1)
        return false;
    *port = (uint16_t)p;
    return true;
}

static int parse_opts(int argc, char **argv, opts *o)
{
    enum { O_LISTEN = 256, O_UDP, O_PUBLIC, O_DATA, O_NODE, O_MAXP, O_LEGACY,
           O_VERSION, O_HELP, O_OPEN, O_DEMO, O_PIN, O_WWW, O_WORKERS,
           O_WTHREADS, O_LOUDEST, O_V6PREFIX, O_MAXUNJOINED, O_TLS_CERT,
           O_TLS_KEY, O_PUBLIC_URL, O_TCP };
    static const struct option longopts[] = {
        {"listen", required_argument, NULL, O_LISTEN},
        {"udp", required_argument, NULL, O_UDP},
        {"public-ip", required_argument, NULL, O_PUBLIC},
        {"data", required_argument, NULL, O_DATA},
        {"node", required_argument, NULL, O_NODE},
        {"max-participants", required_argument, NULL, O_MAXP},
        {"ipv6-prefix", required_argument, NULL, O_V6PREFIX},
        {"max-unjoined", required_argument, NULL, O_MAXUNJOINED},
        {"allow-legacy-srtp", no_argument, NULL, O_LEGACY},
        {"open-rooms", no_argument, NULL, O_OPEN},
        {"demo", no_argument, NULL, O_DEMO},
        {"www", required_argument, NULL, O_WWW},
        {"workers", required_argument, NULL, O_WORKERS},
        {"worker-threads", no_argument, NULL, O_WTHREADS},
        {"pin-digits", required_argument, NULL, O_PIN},
        {"version", no_argument, NULL, O_VERSION},
        {"help", no_argument, NULL, O_HELP},
        {"loudest", required_argument, NULL, O_LOUDEST},
        {"tls-cert", required_argument, NULL, O_TLS_CERT},
        {"tls-key", required_argument, NULL, O_TLS_KEY},
        {"public-url", required_argument, NULL, O_PUBLIC_URL},
        {"tcp", required_argument, NULL, O_TCP},
        {NULL, 0, NULL, 0},
    };
    int c;
    char *end;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case O_LISTEN:
            if (!parse_hostport(optarg, o->listen_ip, sizeof(o->listen_ip),
                                &o->listen_port)) {
                fprintf(stderr, "kaigi: --listen wants IP:PORT, got '%s'\n",
                        optarg);
                return 2;
            }
            break;
        case O_UDP:
            if (!parse_hostport(optarg, o->udp_ip, sizeof(o->udp_ip),
                                &o->udp_port)) {
                fprintf(stderr, "kaigi: --udp wants IP:PORT, got '%s'\n",
                        optarg);
                return 2;
            }
            break;
        case O_TCP: {
            errno = 0;
            unsigned long p = strtoul(optarg, &end, 10);
            if (strcmp(optarg, "off") == 0) {
                o->tcp_port = 0;
            } else if (errno || *end || !optarg[0] || p < 1 || p > 65535) {
                fprintf(stderr, "kaigi: --tcp wants PORT (1-65535) or off, "
                                "got '%s'\n", optarg);
                return 2;
            } else {
                o->tcp_port = (int)p;
            }
            break;
        }
        case O_PUBLIC: {
            unsigned char tmp[16];
            if (inet_pton(strchr(optarg, ':') ? AF_INET6 : AF_INET, optarg,
                          tmp) != 1) {
                fprintf(stderr, "kaigi: --public-ip wants an IP, got '%s'\n",
                        optarg);
                return 2;
            }
            o->public_ip = optarg;
            break;
        }
        case O_DATA:
            o->data_dir = optarg;
            break;
        case O_NODE:
            if (strlen(optarg) == 0 || strlen(optarg) >= sizeof(o->node)) {
                fprintf(stderr, "kaigi: --node wants 1-63 characters\n");
                return 2;
            }
            snprintf(o->node, sizeof(o->node), "%s", optarg);
            break;
        case O_MAXP:
            errno = 0;
            o->max_participants = strtoul(optarg, &end, 10);
            if (errno || *end || o->max_participants == 0 ||
                o->max_participants > 100000) {
                fprintf(stderr, "kaigi: --max-participants wants 1..100000\n");
                return 2;
            }
            break;
        case O_MAXUNJOINED:
            errno = 0;
            o->max_unjoined = strtoul(optarg, &end, 10);
            if (errno || *end || o->max_unjoined < 1 ||
                o->max_unjoined > 100000) {
                fprintf(stderr, "kaigi: --max-unjoined wants 1..100000\n");
                return 2;
            }
            break;
        case O_V6PREFIX:
            errno = 0;
            o->ipv6_prefix = strtoul(optarg, &end, 10);
            if (errno || *end || o->ipv6_prefix < 1 || o->ipv6_prefix > 128) {
                fprintf(stderr, "kaigi: --ipv6-prefix wants 1..128\n");
                return 2;
            }
            break;
        case O_LEGACY:
            o->legacy_srtp = true;
            break;
        case O_OPEN:
            o->open_rooms = true;
            break;
        case O_DEMO:
            o->demo = true;
            break;
        case O_WWW:
            o->www_dir = optarg;
            break;
        case O_WORKERS:
            errno = 0;
            o->workers = strtoul(optarg, &end, 10);
            if (errno || *end || o->workers < 1 || o->workers > 64) {
                fprintf(stderr, "kaigi: --workers wants 1..64\n");
                return 2;
            }
            break;
        case O_WTHREADS:
            o->worker_threads = true;
            break;
        case O_PIN:
            errno = 0;
            o->pin_digits = (int)strtol(optarg, &end, 10);
            if (errno || *end || o->pin_digits < KG_PIN_MIN ||
                o->pin_digits > KG_PIN_MAX) {
                fprintf(stderr, "kaigi: --pin-digits wants %d..%d\n",
                        KG_PIN_MIN, KG_PIN_MAX);
                return 2;
            }
            break;
        case O_LOUDEST:
            errno = 0;
            o->loudest = strtoul(optarg, &end, 10);
            if (errno || *end || !optarg[0] || o->loudest > 256) {
                fprintf(stderr, "kaigi: --loudest wants 0..256\n");
                return 2;
            }
            break;
        case O_TLS_CERT:
            o->tls_cert = optarg;
            break;
        case O_TLS_KEY:
            o->tls_key = optarg;
            break;
        case O_PUBLIC_URL: {
            /* goes into links as is: scheme, host, no path, nothing odd */
            size_t n = strlen(optarg);
            bool tls = strncmp(optarg, "https://", 8) == 0;
            size_t host = tls ? 8 : 7;
            if ((!tls && strncmp(optarg, "http://", 7) != 0) || n <= host ||
                n >= 120 || strchr(optarg + host, '/') ||
                strcspn(optarg, " \"'<>?#&\\") != n) {
                fprintf(stderr, "kaigi: --public-url wants "
                                "https://HOST[:PORT], got '%s'\n", optarg);
                return 2;
            }
            o->public_url = optarg;
            break;
        }
        case O_VERSION:
            printf("kaigi 0.1.0\n");
            return 0;
        case O_HELP:
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (!o->tls_cert != !o->tls_key) {
        fprintf(stderr, "kaigi: --tls-cert and --tls-key go together\n");
        return 2;
    }
    if (optind < argc) {
        fprintf(stderr, "kaigi: unexpected argument '%s'\n", argv[optind]);
        usage(stderr);
        return 2;
    }
    return -1;
}

static kg_server *g_server;
static uv_signal_t g_sigint, g_sigterm, g_sighup;

/* SIGHUP: an ACME client renewed the certificate. Meetings go on; the
 * next handshakes get the new one. */
static void on_sighup(uv_signal_t *h, int signum)
{
    (void)h;
    (void)signum;
    char err[256] = "";
    int rc = g_server ? kg_server_reload_tls(g_server, err, sizeof(err))
                      : KG_ERR_INVAL;
    if (rc == 0)
        fprintf(stderr, "kaigi: SIGHUP, TLS certificate reloaded\n");
    else
        fprintf(stderr, "kaigi: SIGHUP, certificate not reloaded: %s\n",
                err[0] ? err : kg_strerror(rc));
}

static void on_signal(uv_signal_t *h, int signum)
{
    (void)h;
    fprintf(stderr, "kaigi: signal %d, shutting down\n", signum);
    uv_close((uv_handle_t *)&g_sigint, NULL);
    uv_close((uv_handle_t *)&g_sigterm, NULL);
    uv_close((uv_handle_t *)&g_sighup, NULL);
    if (g_server)
        kg_server_close(g_server);
}

static int make_data_dir(const char *dir)
{
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        fprintf(stderr, "kaigi: cannot create data directory %s: %s\n", dir,
                strerror(errno));
        return -1;
    }
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        fprintf(stderr, "kaigi: %s is not a directory\n", dir);
        return -1;
    }
    return 0;
}

/* --demo: a meeting open from now for 8 hours, without a waiting room so
 * that the people the operator gives the PIN to get straight in. Its
 * credentials go to the operator's terminal only (stdout), never a log. */
static int print_demo(kg_store *st, const char *base_url)
{
    kg_meeting m, out;
    memset(&m, 0, sizeof(m));
    snprintf(m.title, sizeof(m.title), "kaigi demo");
    m.start = (int64_t)time(NULL);
    m.duration = 8 * 3600;
    kg_meeting_settings_default(&m.settings);
    m.settings.waiting_room = false;
    m.settings.join_before_host = true;
    char host_key[KG_HOST_KEY_LEN + 1], pin[KG_PIN_MAX + 1];
    if (kg_store_meeting_create(st, &m, KG_PIN_DEFAULT, &out, host_key, pin))
        return -1;
    printf("demo meeting: %s/?meeting=%s\n"
           "  meeting ID: %s\n  PIN:        %s\n"
           "  host link:  %s/?meeting=%s&host_key=%s\n",
           base_url, out.id, out.id, pin, base_url, out.id, host_key);
    memset(pin, 0, sizeof(pin));
    memset(host_key, 0, sizeof(host_key));
    return 0;
}

static int sockaddr_of(const char *ip, uint16_t port,
                       struct sockaddr_storage *ss)
{
    memset(ss, 0, sizeof(*ss));
    if (strchr(ip, ':'))
        return uv_ip6_addr(ip, port, (struct sockaddr_in6 *)ss);
    return uv_ip4_addr(ip, port, (struct sockaddr_in *)ss);
}

int main(int argc, char **argv)
{
    opts o = {.listen_ip = "127.0.0.1",
              .listen_port = 8080,
              .udp_ip = "127.0.0.1",
              .udp_port = 40000,
              .tcp_port = KG_TCP_SAME_PORT,
              .data_dir = "data",
              .max_participants = 1000,
              .ipv6_prefix = 64,
              .max_unjoined = KG_MAX_UNJOINED,
              .pin_digits = KG_PIN_DEFAULT,
              .www_dir = KG_WWW_DIR};
    if (gethostname(o.node, sizeof(o.node) - 1) != 0 || !o.node[0])
        snprintf(o.node, sizeof(o.node), "kaigi");
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    o.workers = cores > 0 ? (unsigned long)(cores > 64 ? 64 : cores) : 1;
    int rc = parse_opts(argc, argv, &o);
    if (rc >= 0)
        return rc;
    if (make_data_dir(o.data_dir) != 0)
        return 1;
    signal(SIGPIPE, SIG_IGN);
    /* Ignored until the reload handler is in place, and for good in the
     * media workers (they inherit it): a SIGHUP sent to the process
     * group must not stop a meeting. */
    signal(SIGHUP, SIG_IGN);

    uv_loop_t *loop = uv_default_loop();
    struct sockaddr_storage udp;
    if (sockaddr_of(o.udp_ip, o.udp_port, &udp) != 0) {
        fprintf(stderr, "kaigi: bad --udp address\n");
        return 2;
    }
    kg_server_config cfg = {
        .loop = loop,
        .listen_ip = o.listen_ip,
        .listen_port = o.listen_port,
        .www_dir = o.www_dir,
        .tls_cert = o.tls_cert,
        .tls_key = o.tls_key,
        .sfu = {.udp_addr = (struct sockaddr *)&udp,
                .public_ip = o.public_ip,
                .node = o.node,
                .dtls_flags = o.legacy_srtp ? KG_DTLS_ALLOW_LEGACY_SRTP : 0,
                .max_participants = o.max_participants,
                .ipv6_prefix = (unsigned)o.ipv6_prefix,
                .max_unjoined = o.max_unjoined},
    };
    char base_url[128];
    snprintf(base_url, sizeof(base_url), "%s://%s%s%s:%u",
             o.tls_cert ? "https" : "http", strchr(o.listen_ip, ':') ? "[" : "", o.listen_ip,
             strchr(o.listen_ip, ':') ? "]" : "", o.listen_port);
    char listen_url[128];
    snprintf(listen_url, sizeof(listen_url), "%s", base_url);
    if (o.public_url)
        snprintf(base_url, sizeof(base_url), "%s", o.public_url);
    cfg.sfu.data_dir = o.data_dir;
    cfg.sfu.workers = (unsigned)o.workers;
    cfg.sfu.worker_processes = !o.worker_threads;
    cfg.sfu.open_rooms = o.open_rooms;
    cfg.sfu.base_url = base_url;
    cfg.sfu.pin_digits = o.pin_digits;
    cfg.sfu.loudest = (unsigned)o.loudest;
    cfg.sfu.tcp_port = o.tcp_port;
    char err[256] = "";
    rc = kg_server_new(&g_server, &cfg, err, sizeof(err));
    if (rc != 0) {
        fprintf(stderr, "kaigi: %s\n", err[0] ? err : kg_strerror(rc));
        if (g_server) { /* started, then refused: close it cleanly */
            kg_server_close(g_server);
            uv_run(loop, UV_RUN_DEFAULT);
            kg_server_finish(g_server);
        }
        return 1;
    }
    uv_signal_init(loop, &g_sigint);
    uv_signal_init(loop, &g_sighup);
    uv_signal_start(&g_sighup, on_sighup, SIGHUP);
    uv_signal_init(loop, &g_sigterm);
    uv_signal_start(&g_sigint, on_signal, SIGINT);
    uv_signal_start(&g_sigterm, on_signal, SIGTERM);
    char tcp[16] = "off";
    if (o.tcp_port == KG_TCP_SAME_PORT)
        snprintf(tcp, sizeof(tcp), "same port");
    else if (o.tcp_port > 0)
        snprintf(tcp, sizeof(tcp), "%d", o.tcp_port);
    printf("kaigi: listening on %s/ (WebSocket /ws), media udp %s%s%s:%u "
           "tcp %s (%lu worker %s), node %s, data in %s\n",
           listen_url, strchr(o.udp_ip, ':') ? "[" : "", o.udp_ip,
           strchr(o.udp_ip, ':') ? "]" : "", o.udp_port, tcp, o.workers,
           o.worker_threads ? "threads" : "processes", o.node, o.data_dir);
    if (o.demo && print_demo(kg_server_store(g_server), base_url) != 0)
        fprintf(stderr, "kaigi: could not create the demo meeting\n");
    fflush(stdout);
    uv_run(loop, UV_RUN_DEFAULT);
    kg_server_finish(g_server);
    uv_run(loop, UV_RUN_DEFAULT);
    rc = uv_loop_close(loop);
    if (rc != 0)
        fprintf(stderr, "kaigi: loop closed with handles open\n");
    return 0;
}
