/* kaigictl: times, durations, URLs and the command line, with no I/O. */
#include "tools/kaigictl_args.h"

#include <arpa/inet.h>
#include <strings.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec/err.h"

#define SPAN_MAX ((int64_t)10 * 365 * 86400)
#define TIME_MAX ((int64_t)253402300799) /* 9999-12-31T23:59:59Z */

/* ---- calendar (proleptic Gregorian, H. Hinnant's algorithms) ---- */

static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

static int days_in_month(int64_t y, int m)
{
    static const int dim[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m == 2 && leap ? 29 : dim[m - 1];
}

/* Reads exactly n digits at *p and advances; -1 if they are not there. */
static int digits(const char **p, int n)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        char c = (*p)[i];
        if (c < '0' || c > '9')
            return -1;
        v = v * 10 + (c - '0');
    }
    *p += n;
    return v;
}

static bool expect(const char **p, char c)
{
    if (**p != c)
        return false;
    (*p)++;
    return true;
}

int kctl_rfc3339_parse(const char *s, int64_t *out)
{
    const char *p = s;
    int y = digits(&p, 4);
    if (y < 0 || !expect(&p, '-'))
        return KG_ERR_INVAL;
    int mo = digits(&p, 2);
    if (mo < 1 || mo > 12 || !expect(&p, '-'))
        return KG_ERR_INVAL;
    int d = digits(&p, 2);
    if (d < 1 || d > days_in_month(y, mo))
        return KG_ERR_INVAL;
    if (*p != 'T' && *p != 't' && *p != ' ')
        return KG_ERR_INVAL;
    p++;
    int h = digits(&p, 2);
    if (h < 0 || h > 23 || !expect(&p, ':'))
        return KG_ERR_INVAL;
    int mi = digits(&p, 2);
    if (mi < 0 || mi > 59 || !expect(&p, ':'))
        return KG_ERR_INVAL;
    int sec = digits(&p, 2);
    if (sec < 0 || sec > 60)
        return KG_ERR_INVAL;
    if (*p == '.') {
        p++;
        if (*p < '0' || *p > '9')
            return KG_ERR_INVAL;
        while (*p >= '0' && *p <= '9')
            p++;
    }
    int64_t off = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int sign = *p++ == '-' ? -1 : 1;
        int oh = digits(&p, 2);
        if (oh < 0 || oh > 23 || !expect(&p, ':'))
            return KG_ERR_INVAL;
        int om = digits(&p, 2);
        if (om < 0 || om > 59)
            return KG_ERR_INVAL;
        off = sign * (int64_t)(oh * 3600 + om * 60);
    } else {
        return KG_ERR_INVAL;
    }
    if (*p != '\0')
        return KG_ERR_INVAL;
    int64_t t = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec -
                off;
    if (t < 0 || t > TIME_MAX)
        return KG_ERR_INVAL;
    *out = t;
    return 0;
}

int kctl_rfc3339_format(int64_t t, char *buf, size_t cap)
{
    if (t < 0 || t > TIME_MAX)
        return KG_ERR_INVAL;
    if (cap < KCTL_RFC3339_LEN)
        return KG_ERR_NOSPACE;
    int64_t y;
    int m, d;
    civil_from_days(t / 86400, &y, &m, &d);
    int64_t r = t % 86400;
    snprintf(buf, cap, "%04d-%02d-%02dT%02d:%02d:%02dZ", (int)y, m, d,
             (int)(r / 3600), (int)(r / 60 % 60), (int)(r % 60));
    return 0;
}

/* ---- spans, times, durations ---- */

int kctl_span_parse(const char *s, int64_t *out)
{
    static const char units[] = "dhms";
    static const int64_t mult[] = {86400, 3600, 60, 1};
    bool seen[4] = {false, false, false, false};
    const char *p = s;
    int64_t total = 0;
    if (*p == '\0')
        return KG_ERR_INVAL;
    while (*p) {
        int64_t v = 0;
        int n = 0;
        for (; *p >= '0' && *p <= '9'; p++, n++) {
            if (n >= 10)
                return KG_ERR_INVAL;
            v = v * 10 + (*p - '0');
        }
        if (n == 0)
            return KG_ERR_INVAL;
        if (*p == '\0' && p - s == n) { /* the whole string is a number */
            total = v;
            break;
        }
        const char *u = *p ? strchr(units, *p) : NULL;
        if (!u || seen[u - units])
            return KG_ERR_INVAL;
        seen[u - units] = true;
        if (v > SPAN_MAX / mult[u - units])
            return KG_ERR_INVAL;
        total += v * mult[u - units];
        if (total > SPAN_MAX)
            return KG_ERR_INVAL;
        p++;
    }
    if (total > SPAN_MAX)
        return KG_ERR_INVAL;
    *out = total;
    return 0;
}

int kctl_time_parse(const char *s, int64_t now, char *buf, size_t cap)
{
    int64_t t;
    if (strcmp(s, "now") == 0) {
        t = now;
    } else if (s[0] == '+') {
        int64_t span;
        if (kctl_span_parse(s + 1, &span) < 0)
            return KG_ERR_INVAL;
        t = now + span;
    } else if (kctl_rfc3339_parse(s, &t) < 0) {
        return KG_ERR_INVAL;
    }
    return kctl_rfc3339_format(t, buf, cap);
}

int kctl_duration_parse(const char *s, int64_t *out)
{
    int64_t v;
    if (kctl_span_parse(s, &v) < 0 || v < KCTL_DURATION_MIN ||
        v > KCTL_DURATION_MAX)
        return KG_ERR_INVAL;
    *out = v;
    return 0;
}

int kctl_span_format(int64_t secs, char *buf, size_t cap)
{
    static const char units[] = "hms";
    static const int64_t mult[] = {3600, 60, 1};
    size_t used = 0;
    if (cap == 0)
        return KG_ERR_NOSPACE;
    buf[0] = '\0';
    if (secs <= 0) {
        int n = snprintf(buf, cap, "%llds", (long long)secs);
        return n < 0 || (size_t)n >= cap ? KG_ERR_NOSPACE : 0;
    }
    for (int i = 0; i < 3; i++) {
        int64_t v = secs / mult[i];
        secs %= mult[i];
        if (v == 0)
            continue;
        int n = snprintf(buf + used, cap - used, "%lld%c", (long long)v,
                         units[i]);
        if (n < 0 || (size_t)n >= cap - used)
            return KG_ERR_NOSPACE;
        used += (size_t)n;
    }
    return 0;
}

/* ---- URL and secrets ---- */

int kctl_url_parse(const char *url, kctl_url *out)
{
    memset(out, 0, sizeof *out);
    out->tls = strncmp(url, "https://", 8) == 0;
    if (!out->tls && strncmp(url, "http://", 7) != 0)
        return strstr(url, "://") ? KG_ERR_UNSUPPORTED : KG_ERR_INVAL;
    for (const char *c = url; *c; c++)
        if ((unsigned char)*c <= 0x20 || *c == 0x7f)
            return KG_ERR_INVAL;
    const char *p = url + (out->tls ? 8 : 7), *end;
    bool v6 = *p == '[';
    if (v6) {
        end = strchr(p, ']');
        if (!end)
            return KG_ERR_INVAL;
        p++;
    } else {
        end = p + strcspn(p, ":/?#@");
    }
    size_t hl = (size_t)(end - p);
    if (hl == 0 || hl >= sizeof out->host)
        return KG_ERR_INVAL;
    memcpy(out->host, p, hl);
    out->host[hl] = '\0';
    if (v6 && strspn(out->host, "0123456789abcdefABCDEF:.") != hl)
        return KG_ERR_INVAL;
    p = end + v6;
    out->port = out->tls ? 443 : 80;
    if (*p == ':') {
        p++;
        int n = 0;
        long v = 0;
        for (; *p >= '0' && *p <= '9' && n < 6; p++, n++)
            v = v * 10 + (*p - '0');
        if (n == 0 || v < 1 || v > 65535)
            return KG_ERR_INVAL;
        out->port = (int)v;
    }
    if (*p != '\0' && *p != '/')
        return KG_ERR_INVAL;
    if (strpbrk(p, "?#@"))
        return KG_ERR_INVAL;
    size_t pl = strlen(p);
    while (pl > 0 && p[pl - 1] == '/')
        pl--;
    if (pl >= sizeof out->prefix)
        return KG_ERR_INVAL;
    memcpy(out->prefix, p, pl);
    out->prefix[pl] = '\0';
    snprintf(out->hostport, sizeof out->hostport, v6 ? "[%s]:%d" : "%s:%d",
             out->host, out->port);
    return 0;
}

bool kctl_host_is_loopback(const char *host)
{
    unsigned char a[16];
    if (inet_pton(AF_INET, host, a) == 1)
        return a[0] == 127;
    if (inet_pton(AF_INET6, host, a) == 1) {
        static const unsigned char one[16] = {[15] = 1};
        return memcmp(a, one, sizeof one) == 0;
    }
    /* a name: only "localhost", which resolvers keep on the host
     * (RFC 6761 6.3); any other name could lead anywhere */
    return strcasecmp(host, "localhost") == 0;
}

bool kctl_secret_ok(const char *s)
{
    size_t n = 0;
    for (; s[n]; n++)
        if ((unsigned char)s[n] < 0x21 || (unsigned char)s[n] > 0x7e ||
            n >= KCTL_SECRET_MAX)
            return false;
    return n > 0;
}

bool kctl_room_ok(const char *s)
{
    size_t n = strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                         "0123456789_.-");
    return n > 0 && n <= KCTL_ROOM_MAX && s[n] == '\0' &&
           strcmp(s, ".") != 0 && strcmp(s, "..") != 0;
}

bool kctl_id_ok(const char *s)
{
    size_t n = strspn(s, "0123456789");
    return n > 0 && n <= KCTL_ID_MAX && s[n] == '\0';
}

/* ---- the command line ---- */

#define V(x) (1u << (x))
#define V_ALL 0xffffu
#define V_HOST (V(KCTL_SHOW) | V(KCTL_JOIN_INFO) | V(KCTL_INVITE) | V(KCTL_AUDIT))

enum opt_id {
    O_SERVER, O_TOKEN, O_DATA, O_JSON, O_HELP, O_TITLE, O_START, O_DURATION,
    O_WAITING_ROOM, O_JOIN_BEFORE_HOST, O_SCREEN_SHARE, O_CHAT,
    O_ALLOW_RENAME, O_HOST_KEY, O_COUNT, O_WATCH, O_CA, O_COUNT_OF_OPTS
};

static const struct opt {
    const char *name;
    bool has_arg;
    unsigned verbs; /* where it may appear */
} opts[O_COUNT_OF_OPTS] = {
    [O_SERVER] = {"server", true, V_ALL},
    [O_TOKEN] = {"token", true, V_ALL},
    [O_DATA] = {"data", true, V_ALL},
    [O_JSON] = {"json", false, V_ALL},
    [O_HELP] = {"help", false, V_ALL},
    [O_TITLE] = {"title", true, V(KCTL_CREATE)},
    [O_START] = {"start", true, V(KCTL_CREATE)},
    [O_DURATION] = {"duration", true, V(KCTL_CREATE)},
    [O_WAITING_ROOM] = {"waiting-room", true, V(KCTL_CREATE)},
    [O_JOIN_BEFORE_HOST] = {"join-before-host", true, V(KCTL_CREATE)},
    [O_SCREEN_SHARE] = {"screen-share", true, V(KCTL_CREATE)},
    [O_CHAT] = {"chat", true, V(KCTL_CREATE)},
    [O_ALLOW_RENAME] = {"allow-rename", true, V(KCTL_CREATE)},
    [O_HOST_KEY] = {"host-key", true, V_HOST},
    [O_COUNT] = {"count", true, V(KCTL_INVITE)},
    [O_WATCH] = {"watch", true, V(KCTL_ROOMS) | V(KCTL_STATS)},
    [O_CA] = {"ca", true, V_ALL},
};

static const struct verb {
    const char *name;
    enum kctl_verb verb;
    bool needs_id;
} verbs[] = {
    {"create", KCTL_CREATE, false}, {"show", KCTL_SHOW, true},
    {"list", KCTL_LIST, false},     {"delete", KCTL_DELETE, true},
    {"join-info", KCTL_JOIN_INFO, true}, {"invite", KCTL_INVITE, true},
    {"audit", KCTL_AUDIT, true},
};

static int usage_err(char *err, size_t cap, const char *fmt, const char *a)
{
    snprintf(err, cap, fmt, a);
    return KG_ERR_INVAL;
}

/* An optional value left out (told apart from "--watch=" by address). */
static const char no_value[] = "";

/* Splits argv into option values (by enum opt_id) and positionals. */
static int scan(int argc, char **argv, const char *val[O_COUNT_OF_OPTS],
                const char *pos[4], int *npos, char *err, size_t cap)
{
    bool opts_done = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (opts_done || a[0] != '-' || a[1] == '\0') {
            if (*npos >= 4)
                return usage_err(err, cap, "too many arguments (\"%s\")", a);
            pos[(*npos)++] = a;
            continue;
        }
        if (strcmp(a, "--") == 0) {
            opts_done = true;
            continue;
        }
        if (strcmp(a, "-h") == 0) {
            val[O_HELP] = "";
            continue;
        }
        if (a[1] != '-')
            return usage_err(err, cap, "unknown option %s", a);
        const char *name = a + 2, *eq = strchr(name, '=');
        size_t nl = eq ? (size_t)(eq - name) : strlen(name);
        int id = -1;
        for (int k = 0; k < O_COUNT_OF_OPTS; k++)
            if (strlen(opts[k].name) == nl && memcmp(opts[k].name, name, nl) == 0)
                id = k;
        if (id < 0)
            return usage_err(err, cap, "unknown option %s", a);
        if (!opts[id].has_arg) {
            if (eq)
                return usage_err(err, cap, "--%s takes no value", opts[id].name);
            val[id] = "";
        } else if (eq) {
            val[id] = eq + 1;
        } else if (id == O_WATCH) { /* its value may be left out */
            bool num = i + 1 < argc && argv[i + 1][0] &&
                       strspn(argv[i + 1], "0123456789") ==
                           strlen(argv[i + 1]);
            val[id] = num ? argv[++i] : no_value;
        } else if (i + 1 < argc) {
            val[id] = argv[++i];
        } else {
            return usage_err(err, cap, "--%s needs a value", opts[id].name);
        }
    }
    return 0;
}

static int on_off(const char *v, const char *name, int *out, char *err,
                  size_t cap)
{
    if (!v) {
        *out = -1;
    } else if (strcmp(v, "on") == 0) {
        *out = 1;
    } else if (strcmp(v, "off") == 0) {
        *out = 0;
    } else {
        return usage_err(err, cap, "--%s takes on or off", name);
    }
    return 0;
}

static int parse_create(const char *val[O_COUNT_OF_OPTS], int64_t now,
                        kctl_cmd *out, char *err, size_t cap)
{
    if (!val[O_TITLE] || !val[O_START] || !val[O_DURATION])
        return usage_err(err, cap, "%s",
                         "meeting create needs --title, --start and --duration");
    size_t tl = strlen(val[O_TITLE]);
    if (tl == 0 || tl > KCTL_TITLE_MAX)
        return usage_err(err, cap, "--title must be 1 to %s bytes", "200");
    json_t *js = json_string(val[O_TITLE]); /* NULL unless valid UTF-8 */
    if (!js)
        return usage_err(err, cap, "%s", "--title is not valid UTF-8");
    json_decref(js);
    out->title = val[O_TITLE];
    if (kctl_time_parse(val[O_START], now, out->start, sizeof out->start) < 0)
        return usage_err(err, cap,
                         "--start \"%s\" is not RFC 3339, now, or +5m/+2h/+30s",
                         val[O_START]);
    if (kctl_duration_parse(val[O_DURATION], &out->duration) < 0)
        return usage_err(err, cap,
                         "--duration \"%s\" is not 60 s to 24 h (1800, 30m, 1h)",
                         val[O_DURATION]);
    kctl_settings *s = &out->settings;
    if (on_off(val[O_WAITING_ROOM], "waiting-room", &s->waiting_room, err, cap) ||
        on_off(val[O_JOIN_BEFORE_HOST], "join-before-host", &s->join_before_host,
               err, cap) ||
        on_off(val[O_CHAT], "chat", &s->chat, err, cap) ||
        on_off(val[O_ALLOW_RENAME], "allow-rename", &s->allow_rename, err, cap))
        return KG_ERR_INVAL;
    const char *ss = val[O_SCREEN_SHARE];
    if (ss && strcmp(ss, "host") != 0 && strcmp(ss, "all") != 0)
        return usage_err(err, cap, "%s", "--screen-share takes host or all");
    s->screen_share = ss;
    return 0;
}

static int parse_count(const char *v, int *out, char *err, size_t cap)
{
    if (!v)
        return usage_err(err, cap, "%s", "meeting invite needs --count N");
    size_t n = strspn(v, "0123456789");
    int c = n > 0 && n <= 3 && v[n] == '\0' ? atoi(v) : 0;
    if (c < 1 || c > KCTL_COUNT_MAX)
        return usage_err(err, cap, "--count \"%s\" is not 1 to 100", v);
    *out = c;
    return 0;
}

/* --watch's value: "" for the default, else 1..KCTL_WATCH_MAX seconds. */
static int parse_watch(const char *v, int *out, char *err, size_t cap)
{
    if (!v) {
        *out = 0;
        return 0;
    }
    if (v == no_value) {
        *out = KCTL_WATCH_DEFAULT;
        return 0;
    }
    size_t n = strspn(v, "0123456789");
    int w = n > 0 && n <= 4 && v[n] == '\0' ? atoi(v) : 0;
    if (w < 1 || w > KCTL_WATCH_MAX)
        return usage_err(err, cap, "--watch \"%s\" is not 1 to 3600 seconds",
                         v);
    *out = w;
    return 0;
}

/* Checks that every option given belongs to verb (called name). */
static int check_opts(const char *val[O_COUNT_OF_OPTS], enum kctl_verb verb,
                      const char *name, char *err, size_t cap)
{
    for (int k = 0; k < O_COUNT_OF_OPTS; k++)
        if (val[k] && !(opts[k].verbs & V(verb))) {
            snprintf(err, cap, "--%s is not an option of %s", opts[k].name,
                     name);
            return KG_ERR_INVAL;
        }
    return 0;
}

/* kaigictl rooms | kaigictl stats ROOM */
static int parse_rooms(const char *val[O_COUNT_OF_OPTS], const char *pos[4],
                       int npos, kctl_cmd *out, char *err, size_t cap)
{
    bool stats = strcmp(pos[0], "stats") == 0;
    out->verb = stats ? KCTL_STATS : KCTL_ROOMS;
    if (npos != 1 + stats)
        return usage_err(err, cap, stats ? "%s needs one ROOM"
                                         : "%s takes no argument",
                         pos[0]);
    if (stats) {
        if (!kctl_room_ok(pos[1]))
            return usage_err(err, cap,
                             "\"%s\" is not a room (a meeting ID or "
                             "1-64 of A-Za-z0-9_.-)",
                             pos[1]);
        out->room = pos[1];
    }
    if (check_opts(val, out->verb, pos[0], err, cap) < 0)
        return KG_ERR_INVAL;
    if (out->token && !kctl_secret_ok(out->token))
        return usage_err(err, cap, "%s",
                         "--token is empty or not printable ASCII");
    return parse_watch(val[O_WATCH], &out->watch, err, cap);
}

int kctl_args_parse(int argc, char **argv, int64_t now, kctl_cmd *out,
                    char *err, size_t cap)
{
    const char *val[O_COUNT_OF_OPTS] = {0};
    const char *pos[4] = {0};
    int npos = 0;
    memset(out, 0, sizeof *out);
    out->settings = (kctl_settings){-1, -1, -1, -1, NULL};
    if (cap)
        err[0] = '\0';
    int r = scan(argc, argv, val, pos, &npos, err, cap);
    if (r < 0)
        return r;
    out->help = val[O_HELP] != NULL;
    out->json = val[O_JSON] != NULL;
    out->server = val[O_SERVER] ? val[O_SERVER] : KCTL_DEFAULT_SERVER;
    out->token = val[O_TOKEN];
    out->ca = val[O_CA];
    out->data = val[O_DATA] ? val[O_DATA] : KCTL_DEFAULT_DATA;
    if (out->help)
        return 0;
    if (npos == 0)
        return usage_err(err, cap, "%s", "no command given");
    if (strcmp(pos[0], "rooms") == 0 || strcmp(pos[0], "stats") == 0)
        return parse_rooms(val, pos, npos, out, err, cap);
    if (strcmp(pos[0], "meeting") != 0)
        return usage_err(err, cap, "unknown command \"%s\"", pos[0]);
    if (npos < 2)
        return usage_err(err, cap, "%s", "meeting needs a subcommand");
    const struct verb *vb = NULL;
    for (size_t k = 0; k < KG_ARRAY_LEN(verbs); k++)
        if (strcmp(verbs[k].name, pos[1]) == 0)
            vb = &verbs[k];
    if (!vb)
        return usage_err(err, cap, "unknown subcommand \"meeting %s\"", pos[1]);
    out->verb = vb->verb;
    if (npos != 2 + vb->needs_id)
        return usage_err(err, cap, vb->needs_id ? "meeting %s needs one ID"
                                                : "meeting %s takes no ID",
                         vb->name);
    if (vb->needs_id) {
        if (!kctl_id_ok(pos[2]))
            return usage_err(err, cap, "\"%s\" is not a meeting ID (digits)",
                             pos[2]);
        out->id = pos[2];
    }
    char name[32];
    snprintf(name, sizeof name, "meeting %s", vb->name);
    if (check_opts(val, vb->verb, name, err, cap) < 0)
        return KG_ERR_INVAL;
    if (out->token && !kctl_secret_ok(out->token))
        return usage_err(err, cap, "%s", "--token is empty or not printable ASCII");
    out->host_key = val[O_HOST_KEY];
    if (out->host_key && !kctl_secret_ok(out->host_key))
        return usage_err(err, cap, "%s",
                         "--host-key is empty or not printable ASCII");
    if (vb->verb == KCTL_CREATE)
        return parse_create(val, now, out, err, cap);
    if (vb->verb == KCTL_INVITE)
        return parse_count(val[O_COUNT], &out->count, err, cap);
    return 0;
}

int kctl_request_line(const kctl_cmd *cmd, const kctl_url *url,
                      const char **method, char *buf, size_t cap)
{
    const char *suffix = "";
    switch (cmd->verb) {
    case KCTL_CREATE: *method = "POST"; break;
    case KCTL_LIST: *method = "GET"; break;
    case KCTL_SHOW: *method = "GET"; break;
    case KCTL_DELETE: *method = "DELETE"; break;
    case KCTL_JOIN_INFO: *method = "GET"; suffix = "/join-info"; break;
    case KCTL_INVITE: *method = "POST"; suffix = "/invites"; break;
    case KCTL_AUDIT: *method = "GET"; suffix = "/audit"; break;
    case KCTL_ROOMS: *method = "GET"; break;
    case KCTL_STATS: *method = "GET"; break;
    default: return KG_ERR_INVAL;
    }
    int n;
    if (cmd->verb == KCTL_ROOMS)
        n = snprintf(buf, cap, "%s/api/rooms", url->prefix);
    else if (cmd->verb == KCTL_STATS)
        n = snprintf(buf, cap, "%s/api/rooms/%s/stats", url->prefix,
                     cmd->room);
    else if (cmd->verb == KCTL_CREATE || cmd->verb == KCTL_LIST)
        n = snprintf(buf, cap, "%s/api/meetings", url->prefix);
    else
        n = snprintf(buf, cap, "%s/api/meetings/%s%s", url->prefix, cmd->id,
                     suffix);
    return n < 0 || (size_t)n >= cap ? KG_ERR_NOSPACE : 0;
}

static void set_bool(json_t *o, const char *key, int v)
{
    if (v >= 0)
        json_object_set_new(o, key, json_boolean(v));
}

json_t *kctl_request_body(const kctl_cmd *cmd)
{
    if (cmd->verb == KCTL_INVITE)
        return json_pack("{s:i}", "count", cmd->count);
    if (cmd->verb != KCTL_CREATE)
        return NULL;
    json_t *o = json_pack("{s:s, s:s, s:I}", "title", cmd->title, "start",
                          cmd->start, "duration", (json_int_t)cmd->duration);
    if (!o)
        return NULL;
    const kctl_settings *s = &cmd->settings;
    json_t *st = json_object();
    set_bool(st, "waiting_room", s->waiting_room);
    set_bool(st, "join_before_host", s->join_before_host);
    if (s->screen_share)
        json_object_set_new(st, "screen_share", json_string(s->screen_share));
    set_bool(st, "chat", s->chat);
    set_bool(st, "allow_rename", s->allow_rename);
    if (json_object_size(st) > 0)
        json_object_set_new(o, "settings", st);
    else
        json_decref(st);
    return o;
}
