/* Failed-credential limiting on a simulated clock: the limit, the
 * lock-out and its doubling, reset, the window, and bounded memory. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "codec/err.h"
#include "signalling/ratelimit.h"
#include "signalling/session.h"

#define N 5
#define WINDOW (10 * 60 * KG_SEC)
#define LOCKOUT (60 * KG_SEC)
#define LOCKOUT_MAX (15 * 60 * KG_SEC)
#define T0 ((kg_time)1800000000 * KG_SEC)

static const char ADDR[] = "\x0a\x00\x00\x07"; /* 10.0.0.7 */
#define ADDR_LEN 4

static kg_ratelimit *mk(size_t cap)
{
    kg_ratelimit_cfg cfg = {
        .max_failures = N,
        .window = WINDOW,
        .lockout = LOCKOUT,
        .lockout_max = LOCKOUT_MAX,
        .cap = cap,
    };
    kg_ratelimit *rl = kg_ratelimit_new(&cfg);
    assert_non_null(rl);
    return rl;
}

/* N - 1 failures at t, then the Nth: returns the lock-out's end. */
static kg_time lock_out(kg_ratelimit *rl, const void *k, size_t len,
                        kg_time t)
{
    kg_time until = 0;
    for (int i = 0; i < N - 1; i++) {
        assert_int_equal(kg_ratelimit_fail(rl, k, len, t, &until), 0);
        assert_int_equal(kg_ratelimit_check(rl, k, len, t, &until), 0);
    }
    assert_int_equal(kg_ratelimit_fail(rl, k, len, t, &until),
                     KG_ERR_DENIED);
    return until;
}

static void test_limit_and_lockout(void **state)
{
    (void)state;
    kg_ratelimit *rl = mk(16);
    kg_time until = 0;
    assert_int_equal(kg_ratelimit_check(rl, ADDR, ADDR_LEN, T0, &until), 0);
    assert_int_equal(kg_ratelimit_count(rl), 0); /* check stores nothing */
    until = lock_out(rl, ADDR, ADDR_LEN, T0);
    assert_int_equal(until, T0 + LOCKOUT);
    assert_int_equal(kg_ratelimit_lockouts(rl), 1);
    /* denied for the whole lock-out, with its end */
    kg_time u2 = 0;
    assert_int_equal(kg_ratelimit_check(rl, ADDR, ADDR_LEN, T0, &u2),
                     KG_ERR_DENIED);
    assert_int_equal(u2, until);
    assert_int_equal(
        kg_ratelimit_check(rl, ADDR, ADDR_LEN, until - 1, NULL),
        KG_ERR_DENIED);
    /* a failure during the lock-out neither counts nor extends it */
    assert_int_equal(kg_ratelimit_fail(rl, ADDR, ADDR_LEN, T0 + 1, &u2), 0);
    assert_int_equal(kg_ratelimit_check(rl, ADDR, ADDR_LEN, until - 1, &u2),
                     KG_ERR_DENIED);
    assert_int_equal(u2, until);
    assert_int_equal(kg_ratelimit_lockouts(rl), 1);
    /* allowed from its end on, and the count restarts */
    assert_int_equal(kg_ratelimit_check(rl, ADDR, ADDR_LEN, until, NULL), 0);
    for (int i = 0; i < N - 1; i++)
        assert_int_equal(
            kg_ratelimit_fail(rl, ADDR, ADDR_LEN, until + 1, NULL), 0);
    /* other keys are not touched */
    assert_int_equal(kg_ratelimit_check(rl, "12345678901", 11, T0, NULL), 0);
    kg_ratelimit_del(rl);
}

static void test_doubling_capped(void **state)
{
    (void)state;
    kg_ratelimit *rl = mk(16);
    kg_time t = T0;
    const kg_time want[] = {LOCKOUT, 2 * LOCKOUT, 4 * LOCKOUT, 8 * LOCKOUT,
                            LOCKOUT_MAX, LOCKOUT_MAX, LOCKOUT_MAX};
    for (size_t i = 0; i < KG_ARRAY_LEN(want); i++) {
        kg_time until = lock_out(rl, ADDR, ADDR_LEN, t);
        assert_int_equal(until - t, want[i]);
        t = until; /* straight back at it */
    }
    assert_int_equal(kg_ratelimit_lockouts(rl), KG_ARRAY_LEN(want));
    /* quiet for lockout_max after the last lock-out: back to the start */
    t += LOCKOUT_MAX;
    assert_int_equal(lock_out(rl, ADDR, ADDR_LEN, t) - t, LOCKOUT);
    kg_ratelimit_del(rl);
}

static void test_reset_on_success(void **state)
{
    (void)state;
    kg_ratelimit *rl = mk(16);
    for (int i = 0; i < N - 1; i++)
        assert_int_equal(kg_ratelimit_fail(rl, ADDR, ADDR_LEN, T0, NULL), 0);
    kg_ratelimit_reset(rl, ADDR, ADDR_LEN);
    assert_int_equal(kg_ratelimit_count(rl), 0);
    /* a fresh N - 1 */
    for (int i = 0; i < N - 1; i++)
        assert_int_equal(kg_ratelimit_fail(rl, ADDR, ADDR_LEN, T0, NULL), 0);
    kg_time until = 0;
    assert_int_equal(kg_ratelimit_fail(rl, ADDR, ADDR_LEN, T0, &until),
                     KG_ERR_DENIED);
    /* a success after lock-outs forgets the doubling too */
    kg_ratelimit_reset(rl, ADDR, ADDR_LEN);
    assert_int_equal(kg_ratelimit_check(rl, ADDR, ADDR_LEN, T0, NULL), 0);
    assert_int_equal(lock_out(rl, ADDR, ADDR_LEN, T0) - T0, LOCKOUT);
    kg_ratelimit_reset(rl, "nope", 4); /* unknown: nothing happens */
    assert_int_equal(kg_ratelimit_count(rl), 1);
    kg_ratelimit_del(rl);
}

static void test_window_expiry(void **state)
{
    (void)state;
    kg_ratelimit *rl = mk(16);
    /* N - 1 failures, then the window closes: they are forgotten */
    for (int i = 0; i < N - 1; i++)
        assert_int_equal(
            kg_ratelimit_fail(rl, ADDR, ADDR_LEN, T0 + (kg_time)i, NULL), 0);
    for (int i = 0; i < N - 1; i++)
        assert_int_equal(kg_ratelimit_fail(rl, ADDR, ADDR_LEN,
                                           T0 + WINDOW + (kg_time)i, NULL),
                         0);
    /* but inside one window the Nth counts, even at its last instant */
    assert_int_equal(
        kg_ratelimit_fail(rl, ADDR, ADDR_LEN, T0 + 2 * WINDOW - 1, NULL),
        KG_ERR_DENIED);
    kg_ratelimit_del(rl);
}

static void test_bad_args(void **state)
{
    (void)state;
    kg_ratelimit_cfg cfg = {N, WINDOW, LOCKOUT, LOCKOUT_MAX, 0};
    assert_null(kg_ratelimit_new(&cfg));
    cfg.cap = 4;
    cfg.max_failures = 0;
    assert_null(kg_ratelimit_new(&cfg));
    assert_null(kg_ratelimit_new(NULL));
    kg_ratelimit *rl = mk(4);
    uint8_t big[KG_RATELIMIT_KEY_MAX + 1] = {0};
    assert_int_equal(kg_ratelimit_check(rl, big, sizeof(big), T0, NULL),
                     KG_ERR_INVAL);
    assert_int_equal(kg_ratelimit_fail(rl, big, sizeof(big), T0, NULL),
                     KG_ERR_INVAL);
    assert_int_equal(kg_ratelimit_fail(rl, big, 0, T0, NULL), KG_ERR_INVAL);
    assert_int_equal(kg_ratelimit_fail(rl, NULL, 3, T0, NULL), KG_ERR_INVAL);
    assert_int_equal(
        kg_ratelimit_fail(rl, big, KG_RATELIMIT_KEY_MAX, T0, NULL), 0);
    kg_ratelimit_reset(rl, big, 0);
    kg_ratelimit_del(rl);
    kg_ratelimit_del(NULL);

    /* lockout_max below lockout reads as lockout; one failure allowed */
    kg_ratelimit_cfg c1 = {1, WINDOW, LOCKOUT, 1, 4};
    rl = kg_ratelimit_new(&c1);
    assert_non_null(rl);
    kg_time until = 0;
    assert_int_equal(kg_ratelimit_fail(rl, "k", 1, T0, &until),
                     KG_ERR_DENIED);
    assert_int_equal(until, T0 + LOCKOUT);
    assert_int_equal(kg_ratelimit_fail(rl, "k", 1, until, &until),
                     KG_ERR_DENIED);
    assert_int_equal(until, T0 + 2 * LOCKOUT);
    kg_ratelimit_del(rl);
}

static void test_eviction_bounded(void **state)
{
    (void)state;
    enum { CAP = 1000, KEYS = 10000 };
    kg_ratelimit *rl = mk(CAP);
    char key[16];
    /* one key fails repeatedly and locks out; its failures keep it fresh */
    kg_time until = lock_out(rl, "attacker", 8, T0);
    for (int i = 0; i < KEYS; i++) {
        int n = snprintf(key, sizeof(key), "k%d", i);
        kg_time t = T0 + (kg_time)i;
        assert_int_equal(kg_ratelimit_fail(rl, key, (size_t)n, t, NULL), 0);
        if (i % 100 == 0)
            kg_ratelimit_fail(rl, "attacker", 8, t, NULL);
        assert_true(kg_ratelimit_count(rl) <= CAP);
    }
    assert_int_equal(kg_ratelimit_count(rl), CAP);
    assert_int_equal(
        kg_ratelimit_check(rl, "attacker", 8, T0 + KEYS, NULL),
        KG_ERR_DENIED);
    (void)until;
    /* the newest keys remember their failure: N - 1 more locks them */
    kg_time t = T0 + KEYS;
    int n = snprintf(key, sizeof(key), "k%d", KEYS - 1);
    for (int i = 0; i < N - 2; i++)
        assert_int_equal(kg_ratelimit_fail(rl, key, (size_t)n, t, NULL), 0);
    assert_int_equal(kg_ratelimit_fail(rl, key, (size_t)n, t, NULL),
                     KG_ERR_DENIED);
    /* the oldest were evicted: they start from scratch */
    n = snprintf(key, sizeof(key), "k%d", 0);
    for (int i = 0; i < N - 1; i++)
        assert_int_equal(kg_ratelimit_fail(rl, key, (size_t)n, t, NULL), 0);
    assert_int_equal(kg_ratelimit_count(rl), CAP);
    /* and everything can be forgotten */
    for (int i = 0; i < KEYS; i++) {
        n = snprintf(key, sizeof(key), "k%d", i);
        kg_ratelimit_reset(rl, key, (size_t)n);
    }
    kg_ratelimit_reset(rl, "attacker", 8);
    assert_int_equal(kg_ratelimit_count(rl), 0);
    kg_ratelimit_del(rl);
}

/* The key lock-outs and the unjoined-socket caps count by: an IPv4
 * address, or an IPv6 prefix (one /64 is an endless supply of fresh
 * addresses). Documentation addresses, only ever text here. */
static void test_source_key(void **state)
{
    (void)state;
    static const struct {
        const char *peer;
        unsigned bits;
        const char *key;
    } cases[] = {
        {"192.0.2.7", 64, "4:192.0.2.7"},
        {"::ffff:192.0.2.7", 64, "4:192.0.2.7"},
        {"2001:db8:1:2:3:4:5:6", 64, "6:2001:db8:1:2::/64"},
        {"2001:db8:1:2:ffff:ffff:ffff:ffff", 64, "6:2001:db8:1:2::/64"},
        {"2001:db8:1:2:3:4:5:6", 48, "6:2001:db8:1::/48"},
        {"2001:db8:1:2:3:4:5:6", 60, "6:2001:db8:1::/60"},
        {"2001:db8:1:2:3:4:5:6", 128, "6:2001:db8:1:2:3:4:5:6/128"},
        {"2001:db8:1:2:3:4:5:6", 0, "6:2001:db8:1:2::/64"},
        {"::1", 64, "6:::/64"},
        {"not an address", 64, "not an address"},
        {"", 64, ""},
    };
    char out[64];
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        assert_string_equal(kg_source_key(cases[i].peer, cases[i].bits, out,
                                          sizeof(out)),
                            cases[i].key);
    /* truncated, still a string */
    assert_string_equal(kg_source_key("192.0.2.7", 64, out, 5), "4:19");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_limit_and_lockout),
        cmocka_unit_test(test_doubling_capped),
        cmocka_unit_test(test_reset_on_success),
        cmocka_unit_test(test_window_expiry),
        cmocka_unit_test(test_bad_args),
        cmocka_unit_test(test_eviction_bounded),
        cmocka_unit_test(test_source_key),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
