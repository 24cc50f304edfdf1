#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cmocka.h>

#include "codec/err.h"
#include "relay/map.h"

static void test_put_get_del_grow(void **state)
{
    (void)state;
    kg_map m;
    assert_int_equal(kg_map_init(&m), 0);
    static int vals[1000];
    char key[16];
    for (int i = 0; i < 1000; i++) {
        int n = snprintf(key, sizeof(key), "k%d", i);
        assert_int_equal(kg_map_put(&m, key, (size_t)n, &vals[i]), 0);
    }
    assert_int_equal(m.count, 1000);
    assert_true(m.n_buckets >= 1000);
    for (int i = 0; i < 1000; i++) {
        int n = snprintf(key, sizeof(key), "k%d", i);
        assert_ptr_equal(kg_map_get(&m, key, (size_t)n), &vals[i]);
    }
    assert_null(kg_map_get(&m, "nope", 4));
    kg_map_del(&m, "k5", 2);
    assert_null(kg_map_get(&m, "k5", 2));
    assert_int_equal(m.count, 999);
    /* replace keeps one entry */
    assert_int_equal(kg_map_put(&m, "k6", 2, &vals[0]), 0);
    assert_ptr_equal(kg_map_get(&m, "k6", 2), &vals[0]);
    assert_int_equal(m.count, 999);
    uint8_t big[KG_MAP_KEY_MAX + 1] = {0};
    assert_int_equal(kg_map_put(&m, big, sizeof(big), &vals[0]),
                     KG_ERR_INVAL);
    assert_int_equal(kg_map_put(&m, big, 0, &vals[0]), KG_ERR_INVAL);
    kg_map_free(&m);
}

static void test_addr_keys(void **state)
{
    (void)state;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(5000)};
    struct sockaddr_in b = a;
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    inet_pton(AF_INET, "127.0.0.1", &b.sin_addr);
    b.sin_port = htons(5001);
    struct sockaddr_in6 c = {.sin6_family = AF_INET6,
                             .sin6_port = htons(5000)};
    inet_pton(AF_INET6, "::1", &c.sin6_addr);
    uint8_t ka[KG_MAP_KEY_MAX], kb[KG_MAP_KEY_MAX], kc[KG_MAP_KEY_MAX];
    size_t la = kg_map_addr_key((struct sockaddr *)&a, ka);
    size_t lb = kg_map_addr_key((struct sockaddr *)&b, kb);
    size_t lc = kg_map_addr_key((struct sockaddr *)&c, kc);
    assert_int_equal(la, 7);
    assert_int_equal(lc, 19);
    assert_memory_not_equal(ka, kb, la);
    kg_map m;
    kg_map_init(&m);
    int x, y, z;
    kg_map_put(&m, ka, la, &x);
    kg_map_put(&m, kb, lb, &y);
    kg_map_put(&m, kc, lc, &z);
    assert_ptr_equal(kg_map_get(&m, ka, la), &x);
    assert_ptr_equal(kg_map_get(&m, kb, lb), &y);
    assert_ptr_equal(kg_map_get(&m, kc, lc), &z);
    kg_map_free(&m);
    struct sockaddr unix_like = {.sa_family = AF_UNIX};
    assert_int_equal(kg_map_addr_key(&unix_like, ka), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_put_get_del_grow),
        cmocka_unit_test(test_addr_keys),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
