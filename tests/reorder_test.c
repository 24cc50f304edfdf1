/* The receive-side reorder buffer: in-order release, waiting for a
 * missing packet, skipping it after max_wait, late ones and jumps. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "relay/reorder.h"

#define WAIT (100 * KG_MS)

static void push(kg_reorder *r, uint16_t seq, kg_time now, int want)
{
    uint8_t p[8] = {0};
    p[0] = (uint8_t)(seq >> 8);
    p[1] = (uint8_t)seq;
    assert_int_equal(kg_reorder_push(r, seq, p, sizeof(p), now), want);
}

/* Pops one; returns its sequence number or -1. */
static int pop(kg_reorder *r, kg_time now)
{
    size_t len;
    const uint8_t *p = kg_reorder_pop(r, now, &len);
    if (!p)
        return -1;
    assert_int_equal(len, 8);
    assert_int_equal((p[0] << 8) | p[1], r->out_seq);
    return r->out_seq;
}

static void test_in_order_and_reordered(void **state)
{
    (void)state;
    kg_reorder r;
    assert_int_equal(kg_reorder_init(&r, 100, WAIT), KG_ERR_INVAL);
    assert_int_equal(kg_reorder_init(&r, 64, WAIT), 0);
    uint8_t big[KG_REORDER_PKT + 1] = {0};
    assert_int_equal(kg_reorder_push(&r, 1, big, sizeof(big), 0),
                     KG_ERR_INVAL);
    /* Across the wrap; 65535 comes after 0 and 1. */
    push(&r, 65534, 0, 0);
    assert_int_equal(pop(&r, 0), 65534);
    assert_int_equal(pop(&r, 0), -1);
    push(&r, 0, 0, 0);
    push(&r, 1, 0, 0);
    assert_int_equal(pop(&r, 0), -1); /* waits for 65535 */
    assert_int_equal(kg_reorder_deadline(&r), WAIT);
    push(&r, 65535, 10 * KG_MS, 0);
    assert_int_equal(pop(&r, 10 * KG_MS), 65535);
    assert_int_equal(pop(&r, 10 * KG_MS), 0);
    assert_int_equal(pop(&r, 10 * KG_MS), 1);
    assert_int_equal(pop(&r, 10 * KG_MS), -1);
    assert_int_equal(kg_reorder_deadline(&r), UINT64_MAX);
    /* A duplicate, and one whose turn has passed. */
    push(&r, 1, 10 * KG_MS, KG_ERR_EXISTS);
    push(&r, 3, 10 * KG_MS, 0);
    push(&r, 3, 10 * KG_MS, KG_ERR_EXISTS);
    assert_int_equal(r.late, 2);
    assert_int_equal(r.reordered, 3); /* 0, 1 and 3 were held */
    kg_reorder_free(&r);
}

static void test_skip_after_wait(void **state)
{
    (void)state;
    kg_reorder r;
    assert_int_equal(kg_reorder_init(&r, 64, WAIT), 0);
    push(&r, 10, 0, 0);
    assert_int_equal(pop(&r, 0), 10);
    /* 11 and 12 lost for good: one wait for both. */
    push(&r, 13, 5 * KG_MS, 0);
    push(&r, 14, 6 * KG_MS, 0);
    assert_int_equal(pop(&r, 5 * KG_MS), -1);
    assert_int_equal(pop(&r, 5 * KG_MS + WAIT - 1), -1);
    assert_int_equal(pop(&r, 5 * KG_MS + WAIT), 13);
    assert_int_equal(pop(&r, 5 * KG_MS + WAIT), 14);
    assert_int_equal(r.skipped, 2);
    /* 12 comes now: too late. */
    push(&r, 12, 200 * KG_MS, KG_ERR_EXISTS);
    kg_reorder_free(&r);
}

static void test_jump_resets(void **state)
{
    (void)state;
    kg_reorder r;
    assert_int_equal(kg_reorder_init(&r, 64, WAIT), 0);
    push(&r, 100, 0, 0);
    assert_int_equal(pop(&r, 0), 100);
    push(&r, 102, 0, 0); /* held behind 101 */
    push(&r, 5000, 0, 0); /* a restarted stream */
    assert_int_equal(r.resets, 1);
    assert_int_equal(pop(&r, 0), 5000);
    assert_int_equal(pop(&r, 0), -1);
    assert_int_equal(r.held, 0);
    kg_reorder_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_in_order_and_reordered),
        cmocka_unit_test(test_skip_after_wait),
        cmocka_unit_test(test_jump_resets),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
