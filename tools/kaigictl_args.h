/* kaigictl: the pure parts of the command line — times, durations, the
 * server URL, argument parsing and validation, request paths and bodies.
 * Nothing here opens a socket, reads a file or reads the clock: "now" is a
 * parameter, so every function can be unit-tested. */
#ifndef KCTL_ARGS_H
#define KCTL_ARGS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define KCTL_DEFAULT_SERVER "http://127.0.0.1:8080"
#define KCTL_DEFAULT_DATA "data"
#define KCTL_RFC3339_LEN 21 /* "2026-11-23T09:00:00Z" + NUL */
/* The API's limits (signalling/API.md), checked here so that a mistyped
 * argument is a usage error before anything goes on the wire. */
#define KCTL_TITLE_MAX 200
#define KCTL_DURATION_MIN 60
#define KCTL_DURATION_MAX 86400
#define KCTL_COUNT_MAX 100
#define KCTL_ID_MAX 32
#define KCTL_SECRET_MAX 512
#define KCTL_ROOM_MAX 64        /* a room name or meeting ID */
#define KCTL_WATCH_DEFAULT 2    /* --watch without a value: seconds */
#define KCTL_WATCH_MAX 3600

/* Parses an RFC 3339 date-time: "YYYY-MM-DDTHH:MM:SS[.frac](Z|+HH:MM|-HH:MM)",
 * 'T' and 'Z' in either case. A leap second (":60") is accepted and counts
 * as the next second; fractions are accepted and dropped. On success stores
 * seconds since 1970-01-01T00:00:00Z in *out and returns 0; returns
 * KG_ERR_INVAL for anything else (trailing bytes, out-of-range fields,
 * 2026-02-30, a year outside 1970–9999 after the offset is applied). */
int kctl_rfc3339_parse(const char *s, int64_t *out);

/* Writes t (seconds since the epoch, 0..253402300799) as
 * "YYYY-MM-DDTHH:MM:SSZ" into buf. Returns 0, KG_ERR_NOSPACE if cap <
 * KCTL_RFC3339_LEN, KG_ERR_INVAL if t is out of range. */
int kctl_rfc3339_format(int64_t t, char *buf, size_t cap);

/* Parses a span of time: a bare number of seconds ("1800"), or one or more
 * number+unit pairs with units s, m, h, d ("30s", "30m", "1h", "1h30m"),
 * each unit at most once. Stores seconds in *out and returns 0;
 * KG_ERR_INVAL for an empty string, a sign, a space, a bad or repeated
 * unit, or more than ten years. */
int kctl_span_parse(const char *s, int64_t *out);

/* Parses a meeting start TIME: "now", "+SPAN" (see kctl_span_parse) after
 * now, or an RFC 3339 date-time. Writes it normalized to UTC
 * ("...Z", KCTL_RFC3339_LEN bytes) into buf. Returns 0, KG_ERR_INVAL for a
 * bad TIME, KG_ERR_NOSPACE for a short buf. */
int kctl_time_parse(const char *s, int64_t now, char *buf, size_t cap);

/* Parses a meeting duration: kctl_span_parse, then the API's range
 * KCTL_DURATION_MIN..KCTL_DURATION_MAX. Returns 0 or KG_ERR_INVAL. */
int kctl_duration_parse(const char *s, int64_t *out);

/* The server to talk to, from "http[s]://HOST[:PORT][/PREFIX]". HOST may be a
 * bracketed IPv6 literal; PREFIX (without a trailing '/') goes before
 * "/api/..." when kaigi sits behind a path on a proxy. */
typedef struct kctl_url {
    char host[256];   /* without brackets */
    char hostport[264]; /* for the Host header: "host:port" / "[v6]:port" */
    int port;         /* default 80, or 443 for https */
    bool tls;         /* https:// */
    char prefix[256]; /* "" or "/something" */
} kctl_url;

/* Parses url into *out. Returns 0; KG_ERR_UNSUPPORTED for a scheme other
 * than http:// and https://, KG_ERR_INVAL for a malformed URL (no host, bad port,
 * a query, fragment, userinfo or control byte). */
int kctl_url_parse(const char *url, kctl_url *out);

/* Whether host (a kctl_url's, without brackets) is a loopback address:
 * 127.0.0.0/8, ::1, or the name "localhost". Only those may be sent the
 * admin token or a host key over plain http://. */
bool kctl_host_is_loopback(const char *host);

/* A secret that goes into an Authorization header: 1..KCTL_SECRET_MAX
 * visible ASCII bytes (0x21..0x7e), so that it cannot smuggle a header.
 * Returns true if s is one. */
bool kctl_secret_ok(const char *s);

/* A meeting ID: 1..KCTL_ID_MAX ASCII digits (kaigi's are 11), so that it
 * can go into a path as it is. */
bool kctl_id_ok(const char *s);

enum kctl_verb {
    KCTL_NONE = 0,
    KCTL_CREATE,
    KCTL_SHOW,
    KCTL_LIST,
    KCTL_DELETE,
    KCTL_JOIN_INFO,
    KCTL_INVITE,
    KCTL_AUDIT,
    KCTL_ROOMS, /* kaigictl rooms */
    KCTL_STATS, /* kaigictl stats ROOM */
};

/* A room as ops name it: a meeting ID or an ad-hoc room name,
 * 1..KCTL_ROOM_MAX of A-Za-z0-9_.- (so that it goes into a path as it
 * is). Returns true if s is one. */
bool kctl_room_ok(const char *s);

/* -1 = not given, 0 = off, 1 = on. */
typedef struct kctl_settings {
    int waiting_room;
    int join_before_host;
    int chat;
    int allow_rename;
    const char *screen_share; /* NULL, "host" or "all" */
} kctl_settings;

/* A parsed command line. Strings are borrowed from argv except start,
 * which is the normalized copy. */
typedef struct kctl_cmd {
    const char *server;
    const char *token;    /* --token, NULL if not given */
    const char *ca;       /* --ca FILE for https://, NULL: system store */
    const char *data;     /* --data, KCTL_DEFAULT_DATA if not given */
    bool json;
    bool help;            /* -h/--help: print usage, exit 0 */
    enum kctl_verb verb;
    const char *id;
    const char *title;
    char start[KCTL_RFC3339_LEN];
    int64_t duration;
    kctl_settings settings;
    const char *host_key; /* --host-key, NULL if not given */
    int count;
    const char *room;     /* stats ROOM */
    int watch;            /* --watch [SECONDS] (rooms, stats): 0 = once */
} kctl_cmd;

/* Parses argv[1..argc-1] (argv[0] is the program). Global options
 * (--server, --token, --data, --ca, --json, --help) may come before or after the
 * command; "--opt value" and "--opt=value" both work. --watch takes an
 * optional value: "--watch=5", or "--watch 5" when the next argument is
 * all digits; alone it means KCTL_WATCH_DEFAULT (1..KCTL_WATCH_MAX). now is the time
 * that "now" and "+5m" count from. Fills *out and returns 0; on a usage
 * error returns KG_ERR_INVAL and writes one sentence into err. */
int kctl_args_parse(int argc, char **argv, int64_t now, kctl_cmd *out,
                    char *err, size_t errcap);

/* Writes the request's path ("/api/meetings/ID/join-info", with the URL's
 * prefix in front) into buf, and its method into *method. Returns 0 or
 * KG_ERR_NOSPACE / KG_ERR_INVAL (no verb). */
int kctl_request_line(const kctl_cmd *cmd, const kctl_url *url,
                      const char **method, char *buf, size_t cap);

/* Returns the request body for cmd as a new JSON object (caller
 * json_decref()s it), or NULL for a command that sends no body. */
json_t *kctl_request_body(const kctl_cmd *cmd);

/* Writes a duration in seconds the way people say it ("30m", "1h30m",
 * "45s", "1h0m5s" → "1h5s") into buf. Returns 0 or KG_ERR_NOSPACE. */
int kctl_span_format(int64_t secs, char *buf, size_t cap);

#endif
