/* kaigi-bench's HTTP/1.1 response parser and URL splitter (bench/
 * bench_http.c), the part of the Janus REST client that reads bytes from
 * the network. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "bench/bench_http.h"
#include "codec/err.h"

/* Parses a copy of text; returns the result and the body as a string. */
static int parse(const char *text, int *status, char *body, size_t cap)
{
    size_t len = strlen(text), off = 0, blen = 0;
    char *buf = malloc(len + 1);
    assert_non_null(buf);
    memcpy(buf, text, len + 1);
    int rc = kb_http_parse_response(buf, len, status, &off, &blen);
    if (rc == 0) {
        assert_true(off + blen <= len);
        assert_true(blen < cap);
        memcpy(body, buf + off, blen);
        body[blen] = '\0';
    }
    free(buf);
    return rc;
}

static void test_content_length(void **state)
{
    (void)state;
    int status = 0;
    char body[64];
    /* libmicrohttpd's shape, as Janus sends it. */
    assert_int_equal(parse("HTTP/1.1 200 OK\r\nConnection: close\r\n"
                           "Content-Length: 17\r\n"
                           "Content-Type: application/json\r\n\r\n"
                           "{\"janus\": \"ack\"}\n",
                           &status, body, sizeof(body)),
                     0);
    assert_int_equal(status, 200);
    assert_string_equal(body, "{\"janus\": \"ack\"}\n");
    /* Bytes past Content-Length are not body; the header is matched
     * case-insensitively. */
    assert_int_equal(parse("HTTP/1.0 404 Not Found\r\ncontent-length: 2\r\n"
                           "\r\nnoXXX",
                           &status, body, sizeof(body)),
                     0);
    assert_int_equal(status, 404);
    assert_string_equal(body, "no");
    /* No length: the body runs to the end (the connection closed). */
    assert_int_equal(parse("HTTP/1.1 200 OK\n\nabc", &status, body,
                           sizeof(body)),
                     0);
    assert_string_equal(body, "abc");
}

static void test_chunked(void **state)
{
    (void)state;
    int status = 0;
    char body[64];
    assert_int_equal(parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
                           "\r\n4\r\n{\"a\"\r\n9;ext=1\r\n: 12345}\n\r\n"
                           "0\r\n\r\n",
                           &status, body, sizeof(body)),
                     0);
    assert_string_equal(body, "{\"a\": 12345}\n");
}

static void test_bad_and_short(void **state)
{
    (void)state;
    int status = 0;
    char body[64];
    assert_int_equal(parse("HTTP/1.1 2", &status, body, sizeof(body)),
                     KG_ERR_TRUNC);
    assert_int_equal(parse("SSH-2.0-OpenSSH_9.2p1 Debian\r\n", &status, body,
                           sizeof(body)),
                     KG_ERR_MALFORMED);
    assert_int_equal(parse("HTTP/1.1 2x0 OK\r\n\r\n", &status, body,
                           sizeof(body)),
                     KG_ERR_MALFORMED);
    /* Headers never end. */
    assert_int_equal(parse("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n",
                           &status, body, sizeof(body)),
                     KG_ERR_TRUNC);
    /* Cut short of Content-Length. */
    assert_int_equal(parse("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nab",
                           &status, body, sizeof(body)),
                     KG_ERR_TRUNC);
    assert_int_equal(parse("HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\nab",
                           &status, body, sizeof(body)),
                     KG_ERR_MALFORMED);
    assert_int_equal(parse("HTTP/1.1 200 OK\r\nContent-Length: 99999999999"
                           "999999999999\r\n\r\nab",
                           &status, body, sizeof(body)),
                     KG_ERR_MALFORMED);
    /* A chunk longer than what arrived, a missing chunk end, no digits. */
    assert_int_equal(parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
                           "\r\nff\r\nab",
                           &status, body, sizeof(body)),
                     KG_ERR_TRUNC);
    assert_int_equal(parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
                           "\r\n2\r\nabXY0\r\n\r\n",
                           &status, body, sizeof(body)),
                     KG_ERR_MALFORMED);
    assert_int_equal(parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
                           "\r\nzz\r\n",
                           &status, body, sizeof(body)),
                     KG_ERR_MALFORMED);
    /* A chunk size that would overflow. */
    assert_int_equal(parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
                           "\r\nfffffffffffffffffffff\r\n",
                           &status, body, sizeof(body)),
                     KG_ERR_MALFORMED);
}

static void test_url(void **state)
{
    (void)state;
    struct sockaddr_in a;
    char path[32];
    assert_int_equal(kb_http_parse_url("http://127.0.0.1:8088/janus/", &a,
                                       path, sizeof(path)),
                     0);
    assert_int_equal(ntohs(a.sin_port), 8088);
    assert_int_equal(ntohl(a.sin_addr.s_addr), 0x7f000001);
    assert_string_equal(path, "/janus");
    assert_int_equal(kb_http_parse_url("http://127.0.0.1:1", &a, path,
                                       sizeof(path)),
                     0);
    assert_string_equal(path, "");
    static const char *const bad[] = {
        "https://127.0.0.1:8088/janus", "http://127.0.0.1/janus",
        "http://127.0.0.1:0/", "http://127.0.0.1:65536/",
        "http://localhost:8088/", "http://127.0.0.1:80x/",
        "http://127.0.0.1:8088/a-path-longer-than-the-buffer-given",
    };
    for (size_t i = 0; i < KG_ARRAY_LEN(bad); i++)
        assert_int_equal(kb_http_parse_url(bad[i], &a, path, sizeof(path)),
                         KG_ERR_INVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_content_length),
        cmocka_unit_test(test_chunked),
        cmocka_unit_test(test_bad_and_short),
        cmocka_unit_test(test_url),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
