/* The forwarding-delay histogram: bucket edges, quantiles, differences. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "relay/delay.h"

#define US 1000 /* ns */

static void test_bounds_ascend(void **state)
{
    (void)state;
    for (unsigned i = 1; i < KG_DELAY_BOUNDS; i++)
        assert_true(kg_delay_bound_us[i] > kg_delay_bound_us[i - 1]);
    assert_int_equal(kg_delay_bound_us[KG_DELAY_BOUNDS - 1], 1000000);
}

static void test_bucket_edges(void **state)
{
    (void)state;
    assert_int_equal(kg_delay_bucket(-5 * US), 0); /* clock stepped */
    assert_int_equal(kg_delay_bucket(0), 0);
    assert_int_equal(kg_delay_bucket(10 * US), 0);     /* bound inclusive */
    assert_int_equal(kg_delay_bucket(10 * US + 1), 1); /* just above */
    /* every bound lands in its own bucket, a nanosecond more in the next */
    for (unsigned i = 0; i < KG_DELAY_BOUNDS; i++) {
        int64_t b = (int64_t)kg_delay_bound_us[i] * US;
        assert_int_equal(kg_delay_bucket(b), i);
        assert_int_equal(kg_delay_bucket(b + 1), i + 1);
    }
    assert_int_equal(kg_delay_bucket(INT64_C(5000000000)), KG_DELAY_BOUNDS);
}

static void test_quantiles(void **state)
{
    (void)state;
    kg_delay_hist h;
    memset(&h, 0, sizeof(h));
    assert_true(kg_delay_hist_quantile_us(&h, 0.5) < 0); /* empty */
    /* 98 samples at 45 us (bucket 40-50], 2 at 2.2 ms (2000-2500]) */
    for (int i = 0; i < 98; i++)
        kg_delay_hist_add(&h, 45 * US);
    kg_delay_hist_add(&h, 2200 * US);
    kg_delay_hist_add(&h, 2200 * US);
    assert_int_equal(kg_delay_hist_total(&h), 100);
    assert_int_equal(h.sum_ns, 98 * 45 * US + 2 * 2200 * US);
    double p50 = kg_delay_hist_quantile_us(&h, 0.5);
    assert_true(p50 > 40.0 && p50 <= 50.0);
    double p98 = kg_delay_hist_quantile_us(&h, 0.98);
    assert_true(p98 > 40.0 && p98 <= 50.0);
    double p99 = kg_delay_hist_quantile_us(&h, 0.99);
    assert_true(p99 > 2000.0 && p99 <= 2500.0);
    assert_true(kg_delay_hist_quantile_us(&h, 1.0) <= 2500.0);
    assert_true(kg_delay_hist_quantile_us(&h, 0.0) < 0);
    assert_true(kg_delay_hist_quantile_us(&h, 1.5) < 0);
    /* a sample past the last bound reads as the last bound */
    kg_delay_hist big;
    memset(&big, 0, sizeof(big));
    kg_delay_hist_add(&big, INT64_C(3000000000));
    assert_true(kg_delay_hist_quantile_us(&big, 0.5) == 1000000.0);
}

static void test_diff(void **state)
{
    (void)state;
    kg_delay_hist a, b, d;
    memset(&a, 0, sizeof(a));
    kg_delay_hist_add(&a, 100 * US);
    b = a;
    for (int i = 0; i < 10; i++)
        kg_delay_hist_add(&b, 700 * US);
    kg_delay_hist_diff(&d, &b, &a);
    assert_int_equal(kg_delay_hist_total(&d), 10);
    assert_int_equal(d.sum_ns, 10 * 700 * US);
    double p = kg_delay_hist_quantile_us(&d, 0.5);
    assert_true(p > 600.0 && p <= 700.0);
    /* a counter that went backwards (a restarted worker) reads 0 */
    kg_delay_hist_diff(&d, &a, &b);
    assert_int_equal(kg_delay_hist_total(&d), 0);
    assert_int_equal(d.sum_ns, 0);
    /* out may alias an input */
    kg_delay_hist_diff(&b, &b, &a);
    assert_int_equal(kg_delay_hist_total(&b), 10);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bounds_ascend),
        cmocka_unit_test(test_bucket_edges),
        cmocka_unit_test(test_quantiles),
        cmocka_unit_test(test_diff),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
