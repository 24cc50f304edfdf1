/* RFC 4571 framing: packets split across reads anywhere, the zero-copy
 * and the copying path, refused lengths, and garbage. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "codec/err.h"
#include "relay/framing.h"

/* A stream of three packets: 1, 300 and KG_FRAME_MAX bytes. */
static size_t make_stream(uint8_t *s, size_t lens[3])
{
    lens[0] = 1;
    lens[1] = 300;
    lens[2] = KG_FRAME_MAX;
    size_t off = 0;
    for (int i = 0; i < 3; i++) {
        assert_int_equal(kg_frame_header(s + off, lens[i]), 0);
        off += KG_FRAME_HDR;
        for (size_t j = 0; j < lens[i]; j++)
            s[off + j] = (uint8_t)(i * 31 + j);
        off += lens[i];
    }
    return off;
}

/* Feeds the stream in chunks of the given sizes (cycled) and checks
 * that exactly the three packets come out, intact. */
static void feed_split(const uint8_t *stream, size_t total,
                       const size_t *chunks, size_t n_chunks)
{
    kg_framer f;
    kg_framer_init(&f);
    uint8_t *copy = malloc(total);
    assert_non_null(copy);
    memcpy(copy, stream, total);
    size_t lens[3];
    uint8_t ref[3 * KG_FRAME_HDR + 1 + 300 + KG_FRAME_MAX];
    make_stream(ref, lens);
    size_t got = 0, off = 0, ci = 0, ref_off = 0;
    while (off < total) {
        size_t c = chunks[ci++ % n_chunks];
        if (c > total - off)
            c = total - off;
        uint8_t *in = copy + off;
        size_t left = c;
        while (left) {
            size_t used;
            uint8_t *pkt;
            size_t pkt_len;
            int rc = kg_framer_feed(&f, in, left, &used, &pkt, &pkt_len);
            assert_true(rc >= 0);
            assert_true(used <= left);
            in += used;
            left -= used;
            if (rc == 1) {
                assert_true(got < 3);
                assert_int_equal(pkt_len, lens[got]);
                ref_off += KG_FRAME_HDR;
                assert_memory_equal(pkt, ref + ref_off, pkt_len);
                ref_off += pkt_len;
                got++;
            } else {
                assert_int_equal(left, 0);
            }
        }
        off += c;
    }
    assert_int_equal(got, 3);
    free(copy);
}

static void test_any_split(void **state)
{
    (void)state;
    uint8_t s[3 * KG_FRAME_HDR + 1 + 300 + KG_FRAME_MAX];
    size_t lens[3];
    size_t total = make_stream(s, lens);
    /* whole, one byte at a time, and every fixed chunk size up to 64 */
    size_t whole = total;
    feed_split(s, total, &whole, 1);
    for (size_t c = 1; c <= 64; c++)
        feed_split(s, total, &c, 1);
    /* cuts inside the header, right after it, and at odd places */
    const size_t odd[] = {1, 2, 3, 299, 1, 1, 2050, 7};
    feed_split(s, total, odd, sizeof(odd) / sizeof(odd[0]));
    /* pseudo-random splits */
    uint32_t x = 12345;
    for (int run = 0; run < 200; run++) {
        size_t ch[16];
        for (int i = 0; i < 16; i++) {
            x = x * 1103515245u + 12345u;
            ch[i] = 1 + (x >> 16) % 700;
        }
        feed_split(s, total, ch, 16);
    }
}

static void test_zero_copy(void **state)
{
    (void)state;
    uint8_t s[2 + 5] = {0x00, 0x05, 1, 2, 3, 4, 5};
    kg_framer f;
    kg_framer_init(&f);
    size_t used, n;
    uint8_t *pkt;
    assert_int_equal(kg_framer_feed(&f, s, sizeof(s), &used, &pkt, &n), 1);
    assert_ptr_equal(pkt, s + 2); /* a view into the caller's bytes */
    assert_int_equal(n, 5);
    assert_int_equal(used, 7);
    /* empty input: nothing */
    assert_int_equal(kg_framer_feed(&f, s, 0, &used, &pkt, &n), 0);
    assert_int_equal(used, 0);
}

static void test_zero_length(void **state)
{
    (void)state;
    uint8_t s[] = {0x00, 0x00, 0x80};
    kg_framer f;
    kg_framer_init(&f);
    size_t used, n;
    uint8_t *pkt;
    assert_int_equal(kg_framer_feed(&f, s, sizeof(s), &used, &pkt, &n),
                     KG_ERR_MALFORMED);
    assert_int_equal(used, 2);
    assert_int_equal(kg_frame_header(s, 0), KG_ERR_INVAL);
    assert_int_equal(kg_frame_header(s, 65536), KG_ERR_INVAL);
}

static void test_oversize(void **state)
{
    (void)state;
    /* KG_FRAME_MAX + 1, split inside the header */
    uint8_t a[] = {(KG_FRAME_MAX + 1) >> 8};
    uint8_t b[] = {(KG_FRAME_MAX + 1) & 0xff, 0x80, 0x00};
    kg_framer f;
    kg_framer_init(&f);
    size_t used, n;
    uint8_t *pkt;
    assert_int_equal(kg_framer_feed(&f, a, sizeof(a), &used, &pkt, &n), 0);
    assert_int_equal(kg_framer_feed(&f, b, sizeof(b), &used, &pkt, &n),
                     KG_ERR_NOSPACE);
    uint8_t c[] = {0xff, 0xff};
    kg_framer_init(&f);
    assert_int_equal(kg_framer_feed(&f, c, sizeof(c), &used, &pkt, &n),
                     KG_ERR_NOSPACE);
}

/* An HTTP request or random bytes on the port: the framer reports an
 * error (the worker closes the connection) or waits for a length it
 * will never get (the worker's deadline closes it); it never overruns. */
static void test_garbage(void **state)
{
    (void)state;
    uint8_t http[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    kg_framer f;
    kg_framer_init(&f);
    size_t used, n;
    uint8_t *pkt;
    /* "GE" = 0x4745 = 18,245 bytes: too long */
    assert_int_equal(kg_framer_feed(&f, http, sizeof(http) - 1, &used, &pkt,
                                    &n),
                     KG_ERR_NOSPACE);
    uint32_t x = 99;
    for (int run = 0; run < 1000; run++) {
        uint8_t g[512];
        for (size_t i = 0; i < sizeof(g); i++) {
            x = x * 1103515245u + 12345u;
            g[i] = (uint8_t)(x >> 16);
        }
        kg_framer_init(&f);
        size_t off = 0;
        int rc = 1;
        while (off < sizeof(g) && rc >= 0) {
            rc = kg_framer_feed(&f, g + off, sizeof(g) - off, &used, &pkt, &n);
            assert_true(used <= sizeof(g) - off);
            if (rc == 1)
                assert_true(n >= 1 && n <= KG_FRAME_MAX);
            off += used;
            if (rc == 0)
                break;
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_any_split),
        cmocka_unit_test(test_zero_copy),
        cmocka_unit_test(test_zero_length),
        cmocka_unit_test(test_oversize),
        cmocka_unit_test(test_garbage),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
