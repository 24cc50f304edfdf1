/* kaigictl: the ops CLI over kaigi's REST API (signalling/API.md).
 * Exit status: 0 done, 1 the server said no or could not be reached,
 * 2 the command line is wrong. The admin token and host keys are never
 * printed. */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "codec/err.h"
#include "tools/kaigictl_args.h"
#include "tools/kaigictl_http.h"

#define TIMEOUT_MS 10000
#define EXIT_FAIL 1
#define EXIT_USAGE 2

static const char usage_text[] =
    "usage: kaigictl [--server URL] [--token TOKEN | --data DIR] [--json] COMMAND\n"
    "\n"
    "commands:\n"
    "  meeting create --title T --start TIME --duration DUR\n"
    "                 [--waiting-room on|off] [--join-before-host on|off]\n"
    "                 [--screen-share host|all] [--chat on|off]\n"
    "                 [--allow-rename on|off]\n"
    "  meeting list\n"
    "  meeting show ID [--host-key KEY]\n"
    "  meeting delete ID\n"
    "  meeting join-info ID [--host-key KEY]\n"
    "  meeting invite ID --count N [--host-key KEY]\n"
    "  meeting audit ID [--host-key KEY]\n"
    "  rooms [--watch [SECONDS]]      rooms open now, their bitrates\n"
    "  stats ROOM [--watch [SECONDS]] per participant: packets, bitrates,\n"
    "                                 loss, jitter, feedback, SRTP, DTLS\n"
    "\n"
    "  TIME  RFC 3339 (2026-11-23T09:00:00Z, 2026-11-23T18:00:00+09:00),\n"
    "        now, or +30s / +5m / +2h / +1h30m from now\n"
    "  DUR   seconds (1800) or 30m / 1h / 1h30m; 60 s to 24 h\n"
    "\n"
    "  --server URL   kaigi's address (default " KCTL_DEFAULT_SERVER ");\n"
    "                 https://HOST[:PORT] for kaigi with --tls-cert; plain\n"
    "                 http:// is refused unless HOST is a loopback address\n"
    "  --token TOKEN  admin token; else DIR/admin.token (--data, default\n"
    "                 ./" KCTL_DEFAULT_DATA "), else $KAIGI_TOKEN\n"
    "  --host-key KEY act as the meeting's host instead of as admin\n"
    "  --ca FILE      for an https:// server: trust only this PEM CA\n"
    "                 (default: the system's trusted CAs)\n"
    "  --json         print the server's JSON as it came\n"
    "  --watch [S]    clear the screen and refresh every S seconds\n"
    "                 (default 2) until Ctrl-C; stops after an hour\n";

/* ---- output that cannot drive the terminal ---- */

/* Writes s with control bytes (C0, DEL, and C1 as UTF-8) shown as '?':
 * titles and nicknames come from other people. Returns the number of
 * characters (UTF-8 lead bytes) written, for padding columns. */
static int fput_safe(FILE *f, const char *s)
{
    const unsigned char *p = (const unsigned char *)(s ? s : "-");
    int cols = 0;
    for (; *p; p++) {
        if (*p < 0x20 || *p == 0x7f) {
            fputc('?', f);
        } else if (*p == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f) {
            fputc('?', f);
            p++;
        } else {
            fputc(*p, f);
            if ((*p & 0xc0) == 0x80)
                continue;
        }
        cols++;
    }
    return cols;
}

static int put_safe(const char *s)
{
    return fput_safe(stdout, s);
}

/* put_safe, then spaces up to width (and at least one). */
static void put_col(const char *s, int width)
{
    int n = put_safe(s);
    printf("%*s", n < width ? width - n + 1 : 1, "");
}

static const char *jstr(const json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : "-";
}

static void put_field(const char *label, const char *value)
{
    printf("%-12s", label);
    put_safe(value);
    putchar('\n');
}

static const char *span(const json_t *o, const char *key, char *buf,
                        size_t cap)
{
    json_t *v = json_object_get(o, key);
    if (!json_is_integer(v) || kctl_span_format(json_integer_value(v), buf, cap))
        return "-";
    return buf;
}

static void put_settings(const json_t *s)
{
    static const char *const bools[][2] = {
        {"waiting_room", "waiting room"},
        {"join_before_host", "join before host"},
        {"chat", "chat"},
        {"allow_rename", "allow rename"},
    };
    printf("%-12s", "Settings");
    if (!json_is_object(s)) {
        printf("-\n");
        return;
    }
    for (size_t i = 0; i < KG_ARRAY_LEN(bools); i++) {
        json_t *v = json_object_get(s, bools[i][0]);
        printf("%s %s, ", bools[i][1],
               json_is_boolean(v) ? (json_is_true(v) ? "on" : "off") : "-");
    }
    printf("screen share ");
    put_safe(jstr(s, "screen_share"));
    putchar('\n');
}

static void put_meeting(const json_t *m)
{
    char buf[32];
    put_field("ID", jstr(m, "id"));
    put_field("Title", jstr(m, "title"));
    put_field("Start", jstr(m, "start"));
    put_field("Duration", span(m, "duration", buf, sizeof buf));
    put_field("Created", jstr(m, "created"));
    put_settings(json_object_get(m, "settings"));
}

/* ---- one function per command's human output ---- */

static int out_create(const json_t *m)
{
    put_meeting(m);
    put_field("Host link", jstr(m, "host_link"));
    printf("\nThe host key in this link is shown only once: kaigi keeps "
           "only its hash.\nKeep the link; whoever has it can host the "
           "meeting.\n");
    return 0;
}

static int out_list(const json_t *o)
{
    json_t *a = json_object_get(o, "meetings");
    if (!json_is_array(a))
        return -1;
    if (json_array_size(a) == 0) {
        printf("No meetings.\n");
        return 0;
    }
    printf("%-12s %-20s %-8s %s\n", "ID", "START", "DURATION", "TITLE");
    size_t i;
    json_t *m;
    json_array_foreach(a, i, m) {
        char buf[32];
        put_col(jstr(m, "id"), 12);
        put_col(jstr(m, "start"), 20);
        put_col(span(m, "duration", buf, sizeof buf), 8);
        put_safe(jstr(m, "title"));
        putchar('\n');
    }
    return 0;
}

static int out_join_info(const json_t *o)
{
    put_field("PIN", jstr(o, "pin"));
    put_field("Link", jstr(o, "link"));
    return 0;
}

static int out_invite(const json_t *o)
{
    json_t *a = json_object_get(o, "invites");
    if (!json_is_array(a))
        return -1;
    printf("%zu invite link%s, each admits one join:\n", json_array_size(a),
           json_array_size(a) == 1 ? "" : "s");
    size_t i;
    json_t *v;
    json_array_foreach(a, i, v) {
        printf("  ");
        put_safe(jstr(v, "link"));
        putchar('\n');
    }
    return 0;
}

static int out_audit(const json_t *o)
{
    json_t *a = json_object_get(o, "events");
    if (!json_is_array(a))
        return -1;
    if (json_array_size(a) == 0) {
        printf("No events.\n");
        return 0;
    }
    printf("%-20s %-11s %s\n", "TIME", "EVENT", "NAME");
    size_t i;
    json_t *e;
    json_array_foreach(a, i, e) {
        put_col(jstr(e, "time"), 20);
        put_col(jstr(e, "event"), 11);
        json_t *n = json_object_get(e, "name");
        put_safe(json_is_string(n) ? json_string_value(n) : "");
        putchar('\n');
    }
    return 0;
}

static long long jint(const json_t *o, const char *key)
{
    return (long long)json_integer_value(json_object_get(o, key));
}

static double jreal(const json_t *o, const char *key)
{
    return json_number_value(json_object_get(o, key));
}

static int out_rooms(const json_t *o)
{
    json_t *a = json_object_get(o, "rooms");
    if (!json_is_array(a))
        return -1;
    if (json_array_size(a) == 0) {
        printf("No rooms.\n");
        return 0;
    }
    printf("%-20s %-7s %6s %5s %10s %10s %6s %9s\n", "ROOM", "KIND",
           "WORKER", "PEOPLE", "IN kbit/s", "OUT kbit/s", "LOSS%",
           "JITTER ms");
    size_t i;
    json_t *r;
    json_array_foreach(a, i, r) {
        put_col(jstr(r, "id"), 20);
        put_col(jstr(r, "kind"), 7);
        printf("%6lld %6lld %10.1f %10.1f %6.2f %9.2f\n", jint(r, "worker"),
               jint(r, "participants"), jint(r, "bitrate_in_1s") / 1000.0,
               jint(r, "bitrate_out_1s") / 1000.0,
               100.0 * jreal(r, "loss_fraction"), jreal(r, "jitter_ms"));
    }
    return 0;
}

/* The RTT column: milliseconds, or - while kaigi has no RTT yet. */
static void put_rtt(const json_t *v)
{
    if (json_is_number(v))
        printf("%6.2f ", json_number_value(v));
    else
        printf("%6s ", "-");
}

/* "Active speaker: NAME (ID)" when the room has one. */
static void put_speaker(const json_t *o, const json_t *parts)
{
    const char *id = json_string_value(json_object_get(o, "speaker"));
    if (!id)
        return;
    size_t i;
    json_t *p;
    json_array_foreach(parts, i, p) {
        if (strcmp(jstr(p, "id"), id) != 0)
            continue;
        printf("\nActive speaker: ");
        put_safe(jstr(p, "name"));
        printf(" (");
        put_safe(id);
        printf(")\n");
    }
}

static int out_stats(const json_t *o)
{
    json_t *a = json_object_get(o, "participants");
    if (!json_is_array(a))
        return -1;
    printf("Room ");
    put_safe(jstr(o, "id"));
    printf(" (%s) on worker %lld: %zu participant%s, in %.1f kbit/s, out "
           "%.1f kbit/s\n\n",
           jstr(o, "kind"), jint(o, "worker"), json_array_size(a),
           json_array_size(a) == 1 ? "" : "s",
           jint(o, "bitrate_in_1s") / 1000.0,
           jint(o, "bitrate_out_1s") / 1000.0);
    printf("%-16s %-9s %8s %8s %8s %8s %8s %6s %6s %6s %5s %5s %5s %4s "
           "%-19s %-16s %s\n",
           "NAME", "ID", "IN kb/s", "10s", "OUT kb/s", "PKTS IN", "PKTS OUT",
           "LOSS%", "JIT ms", "RTT ms", "NACK", "PLI", "SRTP!", "RPL",
           "DTLS pub/sub",
           "SRTP profile", "TRACKS pub/sub");
    size_t i;
    json_t *p;
    json_array_foreach(a, i, p) {
        json_t *dtls = json_object_get(p, "dtls_state");
        json_t *prof = json_object_get(p, "srtp_profile");
        char ds[64];
        snprintf(ds, sizeof ds, "%s/%s", jstr(dtls, "publish"),
                 jstr(dtls, "subscribe"));
        put_col(jstr(p, "name"), 16);
        put_col(jstr(p, "id"), 9);
        printf("%8.1f %8.1f %8.1f %8lld %8lld %6.2f %6.2f ",
               jint(p, "bitrate_in_1s") / 1000.0,
               jint(p, "bitrate_in_10s") / 1000.0,
               jint(p, "bitrate_out_1s") / 1000.0, jint(p, "packets_in"),
               jint(p, "packets_out"), 100.0 * jreal(p, "loss_fraction"),
               jreal(p, "jitter_ms"));
        put_rtt(json_object_get(p, "rtt_ms"));
        printf("%5lld %5lld %5lld %4lld ", jint(p, "nacks_in"),
               jint(p, "plis_in"),
               jint(p, "srtp_unprotect_failures"), jint(p, "srtp_replays"));
        put_col(ds, 19);
        put_col(jstr(prof, "publish"), 16);
        printf("%lld/%lld\n", jint(p, "tracks_published"),
               jint(p, "tracks_subscribed"));
    }
    put_speaker(o, a);
    printf("\nRTT: kaigi's SRs to each participant and its RRs back "
           "(subscribe leg); - until the first.\n");
    return 0;
}

static int out_human(const kctl_cmd *cmd, const kctl_http_resp *resp)
{
    if (cmd->verb == KCTL_DELETE) {
        printf("Meeting %s deleted.\n", cmd->id);
        return 0;
    }
    json_t *o = json_loadb(resp->body, resp->len, 0, NULL);
    int r = -1;
    if (json_is_object(o)) {
        switch (cmd->verb) {
        case KCTL_CREATE: r = out_create(o); break;
        case KCTL_SHOW: put_meeting(o); r = 0; break;
        case KCTL_LIST: r = out_list(o); break;
        case KCTL_JOIN_INFO: r = out_join_info(o); break;
        case KCTL_INVITE: r = out_invite(o); break;
        case KCTL_AUDIT: r = out_audit(o); break;
        case KCTL_ROOMS: r = out_rooms(o); break;
        case KCTL_STATS: r = out_stats(o); break;
        default: break;
        }
    }
    json_decref(o);
    if (r < 0)
        fprintf(stderr, "kaigictl: the server's answer is not what API.md "
                        "says (HTTP %d)\n", resp->status);
    return r;
}

/* The server said no: its code and message, and a hint where one helps. */
static void report_error(const kctl_http_resp *resp)
{
    json_t *o = json_loadb(resp->body, resp->len, 0, NULL);
    const char *code = json_string_value(json_object_get(o, "error"));
    const char *msg = json_string_value(json_object_get(o, "message"));
    fprintf(stderr, "kaigictl: ");
    if (code) {
        fput_safe(stderr, code);
        if (msg) {
            fprintf(stderr, ": ");
            fput_safe(stderr, msg);
        }
        const char *opens = json_string_value(json_object_get(o, "opens_at"));
        if (opens && !(msg && strstr(msg, opens))) {
            fprintf(stderr, " (opens at ");
            fput_safe(stderr, opens);
            fprintf(stderr, ")");
        }
        fprintf(stderr, " [HTTP %d]\n", resp->status);
        if (resp->status == 401)
            fprintf(stderr, "kaigictl: check the admin token (--token, "
                            "--data DIR, KAIGI_TOKEN) or --host-key\n");
    } else {
        fprintf(stderr, "HTTP %d from the server, with no kaigi error in "
                        "the answer\n", resp->status);
    }
    json_decref(o);
}

/* ---- credentials ---- */

/* Reads DIR/admin.token into buf. Returns 1 if read, 0 if there is no
 * such file, -1 (after saying why) if it exists but cannot be used. */
static int read_token_file(const char *dir, char *buf, size_t cap)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/admin.token", dir);
    FILE *f = fopen(path, "r");
    if (!f) {
        if (errno == ENOENT)
            return 0;
        fprintf(stderr, "kaigictl: cannot read %s: %s\n", path,
                strerror(errno));
        return -1;
    }
    size_t n = fread(buf, 1, cap - 1, f);
    fclose(f);
    buf[n] = '\0';
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' ||
                     buf[n - 1] == ' ' || buf[n - 1] == '\t'))
        buf[--n] = '\0';
    if (!kctl_secret_ok(buf)) {
        fprintf(stderr, "kaigictl: %s does not hold a token\n", path);
        return -1;
    }
    return 1;
}

/* Builds the Authorization value into auth. Returns 0, or the exit status
 * to leave with. */
static int make_auth(const kctl_cmd *cmd, char *auth, size_t cap)
{
    if (cmd->host_key) {
        snprintf(auth, cap, "HostKey %s", cmd->host_key);
        return 0;
    }
    char tok[KCTL_SECRET_MAX + 2];
    const char *t = cmd->token;
    if (!t) {
        int r = read_token_file(cmd->data, tok, sizeof tok);
        if (r < 0)
            return EXIT_FAIL;
        if (r > 0)
            t = tok;
    }
    if (!t) {
        t = getenv("KAIGI_TOKEN");
        if (t && !kctl_secret_ok(t)) {
            fprintf(stderr, "kaigictl: KAIGI_TOKEN is not a token\n");
            return EXIT_USAGE;
        }
    }
    if (!t) {
        fprintf(stderr, "kaigictl: no admin token: give --token, or --data "
                        "DIR holding admin.token (now %s), or set "
                        "KAIGI_TOKEN\n", cmd->data);
        return EXIT_USAGE;
    }
    snprintf(auth, cap, "Bearer %s", t);
    explicit_bzero(tok, sizeof tok);
    return 0;
}

/* ---- main ---- */

static int run(const kctl_cmd *cmd, const kctl_url *url, const char *auth)
{
    const char *method;
    char path[512];
    if (kctl_request_line(cmd, url, &method, path, sizeof path) < 0) {
        fprintf(stderr, "kaigictl: the request path is too long\n");
        return EXIT_USAGE;
    }
    char *body = NULL;
    json_t *jb = kctl_request_body(cmd);
    if (jb) {
        body = json_dumps(jb, JSON_COMPACT);
        json_decref(jb);
        if (!body) {
            fprintf(stderr, "kaigictl: out of memory\n");
            return EXIT_FAIL;
        }
    }
    kctl_http_resp resp;
    char err[256];
    int r = kctl_http_request(url, cmd->ca, method, path, auth, body,
                              TIMEOUT_MS, &resp, err, sizeof err);
    free(body);
    if (r < 0) {
        fprintf(stderr, "kaigictl: cannot talk to kaigi at %s: %s\n",
                cmd->server, err);
        return EXIT_FAIL;
    }
    int status = EXIT_FAIL;
    if (resp.status < 200 || resp.status > 299) {
        report_error(&resp);
    } else if (cmd->json) {
        fwrite(resp.body, 1, resp.len, stdout);
        if (resp.len > 0 && resp.body[resp.len - 1] != '\n')
            putchar('\n');
        status = 0;
    } else {
        status = out_human(cmd, &resp) < 0 ? EXIT_FAIL : 0;
    }
    kctl_http_resp_free(&resp);
    return status;
}

/* --watch: clear the screen and run the request again every cmd->watch
 * seconds until Ctrl-C, for an hour at most. A failed request is shown
 * and retried: the server may be restarting. */
static int watch(const kctl_cmd *cmd, const kctl_url *url, const char *auth)
{
    time_t start = time(NULL);
    int status = 0;
    while (time(NULL) - start < 3600) {
        time_t now = time(NULL);
        char when[KCTL_RFC3339_LEN];
        if (kctl_rfc3339_format((int64_t)now, when, sizeof when) < 0)
            when[0] = '\0';
        printf("\033[H\033[2J%s   every %d s, Ctrl-C to stop\n\n", when,
               cmd->watch);
        fflush(stdout);
        status = run(cmd, url, auth);
        fflush(stdout);
        struct timespec ts = {.tv_sec = cmd->watch};
        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
            ;
    }
    return status;
}

int main(int argc, char **argv)
{
    kctl_cmd cmd;
    char err[256];
    if (kctl_args_parse(argc, argv, (int64_t)time(NULL), &cmd, err,
                        sizeof err) < 0) {
        fprintf(stderr, "kaigictl: %s\n(kaigictl --help lists the commands)\n",
                err);
        return EXIT_USAGE;
    }
    if (cmd.help) {
        fputs(usage_text, stdout);
        return 0;
    }
    kctl_url url;
    int r = kctl_url_parse(cmd.server, &url);
    if (r < 0) {
        fprintf(stderr, "kaigictl: --server %s: %s\n", cmd.server,
                r == KG_ERR_UNSUPPORTED ? "only http:// and https:// are "
                                          "supported"
                                        : "not an http[s]://HOST[:PORT] URL");
        return EXIT_USAGE;
    }
    /* Every request carries the admin token or a host key: in clear
     * text only to this host. Checked before anything is resolved or
     * sent. */
    if (!url.tls && !kctl_host_is_loopback(url.host)) {
        fprintf(stderr, "kaigictl: refusing to send the admin token over "
                        "plain http:// to %s (not a loopback address): use "
                        "https://\n", url.host);
        return EXIT_USAGE;
    }
    char auth[KCTL_SECRET_MAX + 16];
    r = make_auth(&cmd, auth, sizeof auth);
    if (r != 0)
        return r;
    r = cmd.watch ? watch(&cmd, &url, auth) : run(&cmd, &url, auth);
    explicit_bzero(auth, sizeof auth);
    return r;
}
