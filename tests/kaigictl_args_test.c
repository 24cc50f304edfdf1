/* kaigictl's pure helpers: times, spans, URLs, the command line, and the
 * requests it turns into. "now" is fixed at 2026-11-22T21:00:00Z. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "codec/err.h"
#include "tools/kaigictl_args.h"

#define NOW ((int64_t)1795381200) /* 2026-11-22T21:00:00Z */

static void test_rfc3339_known_instants(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        int64_t t;
    } v[] = {
        {"1970-01-01T00:00:00Z", 0},
        {"2026-11-22T21:00:00Z", NOW},
        {"2026-11-23T09:00:00Z", 1795424400},
        {"2026-11-23T18:00:00+09:00", 1795424400}, /* Tokyo */
        {"2026-11-23T04:00:00-05:00", 1795424400}, /* New York */
        {"2026-11-23T09:00:00.123456Z", 1795424400}, /* fraction dropped */
        {"2026-11-23t09:00:00z", 1795424400},       /* case-insensitive */
        {"2026-11-23 09:00:00Z", 1795424400},       /* RFC 3339 §5.6 note */
        {"2024-02-29T23:59:59Z", 1709251199},       /* leap day */
        {"2024-02-29T23:59:60Z", 1709251200},       /* leap second */
        {"2026-11-23T00:30:00+01:00", 1795390200},  /* back over midnight */
        {"9999-12-31T23:59:59Z", 253402300799},
    };
    for (size_t i = 0; i < KG_ARRAY_LEN(v); i++) {
        int64_t t = -1;
        assert_int_equal(kctl_rfc3339_parse(v[i].in, &t), 0);
        assert_int_equal(t, v[i].t);
    }
}

static void test_rfc3339_round_trip(void **state)
{
    (void)state;
    static const char *const utc[] = {
        "1970-01-01T00:00:00Z", "2000-02-29T12:34:56Z",
        "2026-11-23T09:00:00Z", "2100-03-01T00:00:00Z",
        "9999-12-31T23:59:59Z",
    };
    char buf[KCTL_RFC3339_LEN];
    for (size_t i = 0; i < KG_ARRAY_LEN(utc); i++) {
        int64_t t;
        assert_int_equal(kctl_rfc3339_parse(utc[i], &t), 0);
        assert_int_equal(kctl_rfc3339_format(t, buf, sizeof buf), 0);
        assert_string_equal(buf, utc[i]);
    }
    /* Offsets come back as the same instant in UTC. */
    int64_t t;
    assert_int_equal(kctl_rfc3339_parse("2026-01-01T08:59:00+09:00", &t), 0);
    assert_int_equal(kctl_rfc3339_format(t, buf, sizeof buf), 0);
    assert_string_equal(buf, "2025-12-31T23:59:00Z");
    /* Every day for 1,200 years formats and parses back. */
    for (int64_t d = 0; d < 1200 * 366; d += 7) {
        int64_t in = d * 86400 + (d % 86400), back;
        assert_int_equal(kctl_rfc3339_format(in, buf, sizeof buf), 0);
        assert_int_equal(kctl_rfc3339_parse(buf, &back), 0);
        assert_int_equal(back, in);
    }
}

static void test_rfc3339_refuses(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "", "2026", "2026-11-23", "2026-11-23T09:00Z", "2026-11-23T09:00:00",
        "2026-11-23T09:00:00ZZ", "2026-11-23T09:00:00Z ", " 2026-11-23T09:00:00Z",
        "2026-13-01T00:00:00Z", "2026-00-01T00:00:00Z", "2026-11-31T00:00:00Z",
        "2026-02-29T00:00:00Z", "1900-02-29T00:00:00Z", "2026-11-00T00:00:00Z",
        "2026-11-23T24:00:00Z", "2026-11-23T09:60:00Z", "2026-11-23T09:00:61Z",
        "2026-11-23T09:00:00.Z", "2026-11-23T09:00:00+0900",
        "2026-11-23T09:00:00+24:00", "2026-11-23T09:00:00+09:60",
        "2026-11-23T09:00:00+9:00", "2026-11-23X09:00:00Z", "26-11-23T09:00:00Z",
        "2026/11/23T09:00:00Z", "1969-12-31T23:59:59Z",
        "1970-01-01T00:30:00+01:00", /* before the epoch in UTC */
        "9999-12-31T23:59:59-00:01", /* after 9999 in UTC */
        "+2026-11-23T09:00:00Z", "2026-11-23T09:00:00UTC",
    };
    for (size_t i = 0; i < KG_ARRAY_LEN(bad); i++) {
        int64_t t = 42;
        assert_int_equal(kctl_rfc3339_parse(bad[i], &t), KG_ERR_INVAL);
        assert_int_equal(t, 42);
    }
    /* Truncation at every length of a good string. */
    const char *good = "2026-11-23T18:00:00.5+09:00";
    char cut[64];
    for (size_t n = 0; n < strlen(good); n++) {
        memcpy(cut, good, n);
        cut[n] = '\0';
        int64_t t;
        assert_int_equal(kctl_rfc3339_parse(cut, &t), KG_ERR_INVAL);
    }
}

static void test_rfc3339_format_limits(void **state)
{
    (void)state;
    char buf[KCTL_RFC3339_LEN];
    assert_int_equal(kctl_rfc3339_format(-1, buf, sizeof buf), KG_ERR_INVAL);
    assert_int_equal(kctl_rfc3339_format(253402300800, buf, sizeof buf),
                     KG_ERR_INVAL);
    assert_int_equal(kctl_rfc3339_format(0, buf, sizeof buf - 1),
                     KG_ERR_NOSPACE);
}

static void test_span(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        int64_t s;
    } good[] = {
        {"0", 0},       {"1800", 1800}, {"30s", 30},   {"30m", 1800},
        {"1h", 3600},   {"2d", 172800}, {"1h30m", 5400}, {"30m1h", 5400},
        {"1h0m5s", 3605}, {"0090m", 5400}, {"315360000", 315360000},
    };
    for (size_t i = 0; i < KG_ARRAY_LEN(good); i++) {
        int64_t s = -1;
        assert_int_equal(kctl_span_parse(good[i].in, &s), 0);
        assert_int_equal(s, good[i].s);
    }
    static const char *const bad[] = {
        "", "m", "h1", "-5m", "+5m", "5 m", " 5m", "5m ", "5x", "5M", "1.5h",
        "1h1h", "5mm", "315360001", "99999999999", "3651d", "87601h",
        "1h-5m", "5m\n",
    };
    for (size_t i = 0; i < KG_ARRAY_LEN(bad); i++) {
        int64_t s = 42;
        assert_int_equal(kctl_span_parse(bad[i], &s), KG_ERR_INVAL);
        assert_int_equal(s, 42);
    }
}

static void test_span_format(void **state)
{
    (void)state;
    static const struct {
        int64_t s;
        const char *out;
    } v[] = {
        {0, "0s"}, {45, "45s"}, {60, "1m"}, {1800, "30m"}, {3600, "1h"},
        {5400, "1h30m"}, {3605, "1h5s"}, {86400, "24h"}, {-3, "-3s"},
    };
    char buf[32];
    for (size_t i = 0; i < KG_ARRAY_LEN(v); i++) {
        assert_int_equal(kctl_span_format(v[i].s, buf, sizeof buf), 0);
        assert_string_equal(buf, v[i].out);
    }
    assert_int_equal(kctl_span_format(5400, buf, 5), KG_ERR_NOSPACE);
    assert_int_equal(kctl_span_format(5400, buf, 0), KG_ERR_NOSPACE);
}

static void test_time_relative(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        const char *out;
    } v[] = {
        {"now", "2026-11-22T21:00:00Z"},
        {"+30s", "2026-11-22T21:00:30Z"},
        {"+5m", "2026-11-22T21:05:00Z"},
        {"+2h", "2026-11-22T23:00:00Z"},
        {"+3h30m", "2026-11-23T00:30:00Z"},
        {"+1d", "2026-11-23T21:00:00Z"},
        {"+0", "2026-11-22T21:00:00Z"},
        {"2026-11-23T18:00:00+09:00", "2026-11-23T09:00:00Z"},
        {"2026-11-23T09:00:00Z", "2026-11-23T09:00:00Z"},
    };
    char buf[KCTL_RFC3339_LEN];
    for (size_t i = 0; i < KG_ARRAY_LEN(v); i++) {
        assert_int_equal(kctl_time_parse(v[i].in, NOW, buf, sizeof buf), 0);
        assert_string_equal(buf, v[i].out);
    }
    static const char *const bad[] = {
        "", "Now", "NOW", "now+5m", "+", "+-5m", "-5m", "5m", "+5x",
        "tomorrow", "1795381200", "+ 5m",
    };
    for (size_t i = 0; i < KG_ARRAY_LEN(bad); i++)
        assert_int_equal(kctl_time_parse(bad[i], NOW, buf, sizeof buf),
                         KG_ERR_INVAL);
    assert_int_equal(kctl_time_parse("now", NOW, buf, 10), KG_ERR_NOSPACE);
}

static void test_duration(void **state)
{
    (void)state;
    int64_t d;
    assert_int_equal(kctl_duration_parse("1800", &d), 0);
    assert_int_equal(d, 1800);
    assert_int_equal(kctl_duration_parse("30m", &d), 0);
    assert_int_equal(d, 1800);
    assert_int_equal(kctl_duration_parse("60", &d), 0);
    assert_int_equal(d, 60);
    assert_int_equal(kctl_duration_parse("24h", &d), 0);
    assert_int_equal(d, 86400);
    assert_int_equal(kctl_duration_parse("1d", &d), 0);
    assert_int_equal(d, 86400);
    d = 7;
    assert_int_equal(kctl_duration_parse("59", &d), KG_ERR_INVAL);
    assert_int_equal(kctl_duration_parse("59s", &d), KG_ERR_INVAL);
    assert_int_equal(kctl_duration_parse("86401", &d), KG_ERR_INVAL);
    assert_int_equal(kctl_duration_parse("24h1s", &d), KG_ERR_INVAL);
    assert_int_equal(kctl_duration_parse("0", &d), KG_ERR_INVAL);
    assert_int_equal(kctl_duration_parse("half an hour", &d), KG_ERR_INVAL);
    assert_int_equal(d, 7);
}

static void test_url(void **state)
{
    (void)state;
    kctl_url u;
    assert_int_equal(kctl_url_parse("http://127.0.0.1:8080", &u), 0);
    assert_string_equal(u.host, "127.0.0.1");
    assert_int_equal(u.port, 8080);
    assert_string_equal(u.prefix, "");
    assert_string_equal(u.hostport, "127.0.0.1:8080");

    assert_int_equal(kctl_url_parse("http://kaigi.example/", &u), 0);
    assert_string_equal(u.host, "kaigi.example");
    assert_int_equal(u.port, 80);
    assert_string_equal(u.prefix, "");

    assert_int_equal(kctl_url_parse("http://[::1]:18480/kaigi//", &u), 0);
    assert_string_equal(u.host, "::1");
    assert_int_equal(u.port, 18480);
    assert_string_equal(u.prefix, "/kaigi");
    assert_string_equal(u.hostport, "[::1]:18480");

    assert_int_equal(kctl_url_parse("https://kaigi.example", &u), 0);
    assert_true(u.tls);
    assert_string_equal(u.host, "kaigi.example");
    assert_int_equal(u.port, 443);
    assert_string_equal(u.hostport, "kaigi.example:443");
    assert_int_equal(kctl_url_parse("https://[::1]:8443/k/", &u), 0);
    assert_true(u.tls);
    assert_string_equal(u.host, "::1");
    assert_int_equal(u.port, 8443);
    assert_string_equal(u.prefix, "/k");
    assert_int_equal(kctl_url_parse("http://h", &u), 0);
    assert_false(u.tls);
    assert_int_equal(u.port, 80);
    assert_int_equal(kctl_url_parse("ftp://kaigi.example", &u),
                     KG_ERR_UNSUPPORTED);
    assert_int_equal(kctl_url_parse("ws://127.0.0.1:8080/ws", &u),
                     KG_ERR_UNSUPPORTED);
    static const char *const bad[] = {
        "", "127.0.0.1:8080", "http://", "http://:8080", "http://h:",
        "http://h:0", "http://h:65536", "http://h:80x", "http://h:1234567",
        "http://h/?a=b", "http://h/#x", "http://user@h/", "http://[::1",
        "http://[zz]:80", "http://h o/", "http://h/\r\nX: y", "HTTP//h",
        "http://h:80:81",
    };
    for (size_t i = 0; i < KG_ARRAY_LEN(bad); i++)
        assert_int_equal(kctl_url_parse(bad[i], &u), KG_ERR_INVAL);
}

static void test_secret_and_id(void **state)
{
    (void)state;
    assert_true(kctl_secret_ok("abcDEF123-_.~+/="));
    assert_false(kctl_secret_ok(""));
    assert_false(kctl_secret_ok("a b"));
    assert_false(kctl_secret_ok("abc\r\nX-Evil: 1"));
    assert_false(kctl_secret_ok("tab\t"));
    assert_false(kctl_secret_ok("\x7f"));
    assert_false(kctl_secret_ok("\xc3\xa9"));
    char big[KCTL_SECRET_MAX + 2];
    memset(big, 'a', sizeof big);
    big[KCTL_SECRET_MAX] = '\0';
    assert_true(kctl_secret_ok(big));
    big[KCTL_SECRET_MAX] = 'a';
    big[KCTL_SECRET_MAX + 1] = '\0';
    assert_false(kctl_secret_ok(big));

    assert_true(kctl_id_ok("48213377019"));
    assert_true(kctl_id_ok("1"));
    assert_false(kctl_id_ok(""));
    assert_false(kctl_id_ok("4821337701a"));
    assert_false(kctl_id_ok("1/../stats"));
    assert_false(kctl_id_ok("1?x=y"));
    assert_false(kctl_id_ok("-1"));
    assert_false(kctl_id_ok("123456789012345678901234567890123")); /* 33 */
}

/* Parses a NULL-terminated argument list with argv[0] = "kaigictl". */
static int parse(kctl_cmd *cmd, char *err, const char *first, ...)
{
    char *argv[64] = {"kaigictl"};
    int argc = 1;
    va_list ap;
    va_start(ap, first);
    for (const char *a = first; a && argc < 63; a = va_arg(ap, const char *))
        argv[argc++] = (char *)a;
    va_end(ap);
    argv[argc] = NULL;
    return kctl_args_parse(argc, argv, NOW, cmd, err, 256);
}

static void test_args_create(void **state)
{
    (void)state;
    kctl_cmd c;
    char err[256];
    assert_int_equal(parse(&c, err, "--server", "http://127.0.0.1:18480",
                           "--json", "meeting", "create", "--title",
                           "Standup", "--start=+5m", "--duration", "30m",
                           "--waiting-room", "off", "--screen-share=all",
                           "--chat", "on", NULL), 0);
    assert_int_equal(c.verb, KCTL_CREATE);
    assert_true(c.json);
    assert_false(c.help);
    assert_string_equal(c.server, "http://127.0.0.1:18480");
    assert_null(c.token);
    assert_string_equal(c.data, "data");
    assert_string_equal(c.title, "Standup");
    assert_string_equal(c.start, "2026-11-22T21:05:00Z");
    assert_int_equal(c.duration, 1800);
    assert_int_equal(c.settings.waiting_room, 0);
    assert_int_equal(c.settings.join_before_host, -1);
    assert_int_equal(c.settings.chat, 1);
    assert_int_equal(c.settings.allow_rename, -1);
    assert_string_equal(c.settings.screen_share, "all");

    /* The body holds the normalized start and only the settings given. */
    json_t *b = kctl_request_body(&c);
    assert_non_null(b);
    char *s = json_dumps(b, JSON_COMPACT | JSON_SORT_KEYS);
    assert_string_equal(s, "{\"duration\":1800,\"settings\":{\"chat\":true,"
                           "\"screen_share\":\"all\",\"waiting_room\":false},"
                           "\"start\":\"2026-11-22T21:05:00Z\","
                           "\"title\":\"Standup\"}");
    free(s);
    json_decref(b);

    kctl_url u;
    const char *method;
    char path[64];
    assert_int_equal(kctl_url_parse(c.server, &u), 0);
    assert_int_equal(kctl_request_line(&c, &u, &method, path, sizeof path), 0);
    assert_string_equal(method, "POST");
    assert_string_equal(path, "/api/meetings");

    /* Global options after the command; no settings → no settings field. */
    assert_int_equal(parse(&c, err, "meeting", "create", "--title", "日本語",
                           "--start", "2026-11-23T18:00:00+09:00",
                           "--duration", "3600", "--token", "tok",
                           "--data", "/var/lib/kaigi", NULL), 0);
    assert_string_equal(c.start, "2026-11-23T09:00:00Z");
    assert_string_equal(c.token, "tok");
    assert_string_equal(c.data, "/var/lib/kaigi");
    assert_string_equal(c.server, KCTL_DEFAULT_SERVER);
    b = kctl_request_body(&c);
    assert_null(json_object_get(b, "settings"));
    assert_string_equal(json_string_value(json_object_get(b, "title")),
                        "日本語");
    json_decref(b);
}

static void test_args_other_verbs(void **state)
{
    (void)state;
    static const struct {
        const char *verb;
        const char *id;
        enum kctl_verb v;
        const char *method;
        const char *path;
    } v[] = {
        {"list", NULL, KCTL_LIST, "GET", "/k/api/meetings"},
        {"show", "48213377019", KCTL_SHOW, "GET", "/k/api/meetings/48213377019"},
        {"delete", "48213377019", KCTL_DELETE, "DELETE",
         "/k/api/meetings/48213377019"},
        {"join-info", "48213377019", KCTL_JOIN_INFO, "GET",
         "/k/api/meetings/48213377019/join-info"},
        {"audit", "48213377019", KCTL_AUDIT, "GET",
         "/k/api/meetings/48213377019/audit"},
    };
    kctl_url u;
    assert_int_equal(kctl_url_parse("http://127.0.0.1:18480/k/", &u), 0);
    for (size_t i = 0; i < KG_ARRAY_LEN(v); i++) {
        kctl_cmd c;
        char err[256], path[128];
        const char *method;
        assert_int_equal(parse(&c, err, "meeting", v[i].verb, v[i].id, NULL), 0);
        assert_int_equal(c.verb, v[i].v);
        assert_int_equal(kctl_request_line(&c, &u, &method, path, sizeof path),
                         0);
        assert_string_equal(method, v[i].method);
        assert_string_equal(path, v[i].path);
        assert_null(kctl_request_body(&c));
        assert_int_equal(kctl_request_line(&c, &u, &method, path, 8),
                         KG_ERR_NOSPACE);
    }

    kctl_cmd c;
    char err[256], path[128];
    const char *method;
    assert_int_equal(parse(&c, err, "meeting", "invite", "7", "--count", "100",
                           "--host-key", "hk-1", NULL), 0);
    assert_int_equal(c.count, 100);
    assert_string_equal(c.host_key, "hk-1");
    assert_int_equal(kctl_request_line(&c, &u, &method, path, sizeof path), 0);
    assert_string_equal(method, "POST");
    assert_string_equal(path, "/k/api/meetings/7/invites");
    json_t *b = kctl_request_body(&c);
    char *s = json_dumps(b, JSON_COMPACT);
    assert_string_equal(s, "{\"count\":100}");
    free(s);
    json_decref(b);

    assert_int_equal(parse(&c, err, "meeting", "join-info", "7",
                           "--host-key=k", NULL), 0);
    assert_string_equal(c.host_key, "k");
    assert_int_equal(parse(&c, err, "--", "meeting", "list", NULL), 0);
    assert_int_equal(parse(&c, err, "-h", NULL), 0);
    assert_true(c.help);
    assert_int_equal(parse(&c, err, "meeting", "bogus", "--help", NULL), 0);
    assert_true(c.help);
}

/* kaigictl rooms / stats ROOM, with --json and --watch [SECONDS]. */
static void test_args_rooms_and_stats(void **state)
{
    (void)state;
    kctl_url u;
    assert_int_equal(kctl_url_parse("http://127.0.0.1:18480/k/", &u), 0);
    kctl_cmd c;
    char err[256], path[128];
    const char *method;

    assert_int_equal(parse(&c, err, "rooms", NULL), 0);
    assert_int_equal(c.verb, KCTL_ROOMS);
    assert_int_equal(c.watch, 0);
    assert_false(c.json);
    assert_int_equal(kctl_request_line(&c, &u, &method, path, sizeof path), 0);
    assert_string_equal(method, "GET");
    assert_string_equal(path, "/k/api/rooms");
    assert_null(kctl_request_body(&c));

    assert_int_equal(parse(&c, err, "stats", "e2e", "--json", NULL), 0);
    assert_int_equal(c.verb, KCTL_STATS);
    assert_string_equal(c.room, "e2e");
    assert_true(c.json);
    assert_int_equal(kctl_request_line(&c, &u, &method, path, sizeof path), 0);
    assert_string_equal(path, "/k/api/rooms/e2e/stats");
    assert_int_equal(kctl_request_line(&c, &u, &method, path, 16),
                     KG_ERR_NOSPACE);

    /* --watch alone, with a following number, with =, before the command */
    assert_int_equal(parse(&c, err, "rooms", "--watch", NULL), 0);
    assert_int_equal(c.watch, KCTL_WATCH_DEFAULT);
    assert_int_equal(parse(&c, err, "stats", "48213377019", "--watch", "5",
                           NULL), 0);
    assert_int_equal(c.watch, 5);
    assert_string_equal(c.room, "48213377019");
    assert_int_equal(parse(&c, err, "--watch=3600", "rooms", NULL), 0);
    assert_int_equal(c.watch, 3600);
    /* a non-number after --watch is the next argument, not its value */
    assert_int_equal(parse(&c, err, "stats", "--watch", "my.room-1", NULL), 0);
    assert_int_equal(c.watch, KCTL_WATCH_DEFAULT);
    assert_string_equal(c.room, "my.room-1");

    assert_true(kctl_room_ok("a"));
    assert_true(kctl_room_ok("Room_1.x-y"));
    assert_false(kctl_room_ok(""));
    assert_false(kctl_room_ok(".."));
    assert_false(kctl_room_ok("a/b"));
    assert_false(kctl_room_ok("a b"));
    assert_false(kctl_room_ok("a%2f"));
    char longname[66];
    memset(longname, 'r', 65);
    longname[65] = '\0';
    assert_false(kctl_room_ok(longname));
    longname[64] = '\0';
    assert_true(kctl_room_ok(longname));
}

static void test_args_refuses(void **state)
{
    (void)state;
    static const struct {
        const char *argv[12];
        const char *err; /* a piece of the message */
    } v[] = {
        {{NULL}, "no command"},
        {{"meetings", "list"}, "unknown command"},
        {{"meeting"}, "needs a subcommand"},
        {{"meeting", "lst"}, "unknown subcommand"},
        {{"meeting", "list", "7"}, "takes no ID"},
        {{"meeting", "show"}, "needs one ID"},
        {{"meeting", "show", "1", "2"}, "needs one ID"},
        {{"meeting", "show", "abc"}, "not a meeting ID"},
        {{"meeting", "show", "1/../../stats"}, "not a meeting ID"},
        {{"meeting", "list", "--bogus"}, "unknown option --bogus"},
        {{"meeting", "list", "-x"}, "unknown option -x"},
        {{"meeting", "list", "--server"}, "needs a value"},
        {{"meeting", "list", "--json=yes"}, "takes no value"},
        {{"meeting", "list", "--count", "3"}, "--count is not an option"},
        {{"meeting", "delete", "1", "--host-key", "k"},
         "--host-key is not an option"},
        {{"meeting", "show", "1", "--title", "x"}, "--title is not an option"},
        {{"meeting", "list", "--token", "a b"}, "--token"},
        {{"meeting", "show", "1", "--host-key", "k\r\nX: y"}, "--host-key"},
        {{"meeting", "invite", "1"}, "needs --count"},
        {{"meeting", "invite", "1", "--count", "0"}, "not 1 to 100"},
        {{"meeting", "invite", "1", "--count", "101"}, "not 1 to 100"},
        {{"meeting", "invite", "1", "--count", "-1"}, "not 1 to 100"},
        {{"meeting", "invite", "1", "--count", "3x"}, "not 1 to 100"},
        {{"meeting", "invite", "1", "--count", ""}, "not 1 to 100"},
        {{"meeting", "create", "--title", "t", "--start", "now"},
         "needs --title, --start and --duration"},
        {{"meeting", "create", "--title", "", "--start", "now", "--duration",
          "1h"}, "--title"},
        {{"meeting", "create", "--title", "\xff\xfe", "--start", "now",
          "--duration", "1h"}, "UTF-8"},
        {{"meeting", "create", "--title", "t", "--start", "tomorrow",
          "--duration", "1h"}, "--start"},
        {{"meeting", "create", "--title", "t", "--start", "now", "--duration",
          "25h"}, "--duration"},
        {{"meeting", "create", "--title", "t", "--start", "now", "--duration",
          "1h", "--chat", "yes"}, "--chat takes on or off"},
        {{"meeting", "create", "--title", "t", "--start", "now", "--duration",
          "1h", "--waiting-room", "ON"}, "--waiting-room"},
        {{"meeting", "create", "--title", "t", "--start", "now", "--duration",
          "1h", "--screen-share", "everyone"}, "--screen-share"},
        {{"rooms", "x"}, "rooms takes no argument"},
        {{"stats"}, "stats needs one ROOM"},
        {{"stats", "a", "b"}, "stats needs one ROOM"},
        {{"stats", "../meetings"}, "is not a room"},
        {{"stats", "a", "--watch", "0"}, "--watch \"0\" is not 1 to 3600"},
        {{"rooms", "--watch=3601"}, "is not 1 to 3600"},
        {{"rooms", "--watch=2s"}, "is not 1 to 3600"},
        {{"rooms", "--watch="}, "is not 1 to 3600"},
        {{"rooms", "--count", "3"}, "--count is not an option of rooms"},
        {{"stats", "a", "--host-key", "k"}, "--host-key is not an option"},
        {{"meeting", "list", "--watch"}, "--watch is not an option"},
        {{"rooms", "--token", "a b"}, "--token"},
    };
    for (size_t i = 0; i < KG_ARRAY_LEN(v); i++) {
        char *argv[16] = {"kaigictl"};
        int argc = 1;
        for (; v[i].argv[argc - 1]; argc++)
            argv[argc] = (char *)v[i].argv[argc - 1];
        kctl_cmd c;
        char err[256];
        assert_int_equal(kctl_args_parse(argc, argv, NOW, &c, err, sizeof err),
                         KG_ERR_INVAL);
        if (!strstr(err, v[i].err))
            fail_msg("case %zu: \"%s\" lacks \"%s\"", i, err, v[i].err);
    }
    /* A title of exactly 200 bytes passes, 201 does not. */
    char title[202];
    memset(title, 'x', sizeof title);
    title[200] = '\0';
    kctl_cmd c;
    char err[256];
    assert_int_equal(parse(&c, err, "meeting", "create", "--title", title,
                           "--start", "now", "--duration", "60", NULL), 0);
    title[200] = 'x';
    title[201] = '\0';
    assert_int_equal(parse(&c, err, "meeting", "create", "--title", title,
                           "--start", "now", "--duration", "60", NULL),
                     KG_ERR_INVAL);
}

static void test_loopback(void **state)
{
    (void)state;
    static const char *const yes[] = {"127.0.0.1", "127.1.2.3", "::1",
                                      "0:0:0:0:0:0:0:1", "localhost",
                                      "LocalHost"};
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++)
        assert_true(kctl_host_is_loopback(yes[i]));
    static const char *const no[] = {"192.0.2.1", "10.0.0.1", "128.0.0.1",
                                     "::", "::2", "::ffff:127.0.0.1",
                                     "kaigi.example", "localhost.example",
                                     "127.0.0.1.example", ""};
    for (size_t i = 0; i < sizeof no / sizeof no[0]; i++)
        assert_false(kctl_host_is_loopback(no[i]));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc3339_known_instants),
        cmocka_unit_test(test_rfc3339_round_trip),
        cmocka_unit_test(test_rfc3339_refuses),
        cmocka_unit_test(test_rfc3339_format_limits),
        cmocka_unit_test(test_span),
        cmocka_unit_test(test_span_format),
        cmocka_unit_test(test_time_relative),
        cmocka_unit_test(test_duration),
        cmocka_unit_test(test_url),
        cmocka_unit_test(test_loopback),
        cmocka_unit_test(test_secret_and_id),
        cmocka_unit_test(test_args_create),
        cmocka_unit_test(test_args_other_verbs),
        cmocka_unit_test(test_args_rooms_and_stats),
        cmocka_unit_test(test_args_refuses),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
