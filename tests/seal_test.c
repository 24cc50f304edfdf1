#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "codec/err.h"
#include "crypto/seal.h"

static const uint8_t key[KG_SEAL_KEY_LEN] = {
    0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a,
    0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10, 0x11, 0x12, 0x13, 0x14, 0x15,
    0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f,
};

/* The GCM specification's (McGrew & Viega) Test Case 14: AES-256, zero
 * key, zero IV, one zero block. Laid out as kg_seal writes it, it pins
 * the format: nonce || ciphertext || tag. */
static const uint8_t tc14[] = {
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // nonce (IV), 12 bytes
    0x00, 0x00, 0x00, 0x00,
    0xce, 0xa7, 0x40, 0x3d, 0x4d, 0x60, 0x6b, 0x6e, // ciphertext, 16 bytes
    0x07, 0x4e, 0xc5, 0xd3, 0xba, 0xf3, 0x9d, 0x18,
    0xd0, 0xd1, 0xc8, 0xa7, 0x99, 0x99, 0x6b, 0xf0, // tag, 16 bytes
    0x26, 0x5b, 0x98, 0xb5, 0xd4, 0x8a, 0xb9, 0x19,
};

static void test_known_vector(void **state)
{
    (void)state;
    static const uint8_t zero_key[KG_SEAL_KEY_LEN] = {0};
    uint8_t out[16], zeros[16] = {0};
    memset(out, 0xaa, sizeof(out));
    assert_int_equal(kg_open(zero_key, tc14, sizeof(tc14), out, sizeof(out)),
                     16);
    assert_memory_equal(out, zeros, 16);
    /* The same bytes under another key do not open. */
    assert_int_equal(kg_open(key, tc14, sizeof(tc14), out, sizeof(out)),
                     KG_ERR_AUTH);
}

static void test_round_trip(void **state)
{
    (void)state;
    static const char msg[] = "12345678";
    uint8_t sealed[64], plain[64];
    int n = kg_seal(key, msg, 8, sealed, sizeof(sealed));
    assert_int_equal(n, 8 + KG_SEAL_OVERHEAD);
    /* The plaintext does not appear in the sealed bytes. */
    assert_null(memmem(sealed, (size_t)n, msg, 8));
    assert_int_equal(kg_open(key, sealed, (size_t)n, plain, sizeof(plain)),
                     8);
    assert_memory_equal(plain, msg, 8);
    /* exact cap works on both sides */
    assert_int_equal(kg_seal(key, msg, 8, sealed, 8 + KG_SEAL_OVERHEAD), n);
    assert_int_equal(kg_open(key, sealed, (size_t)n, plain, 8), 8);
    /* empty plaintext: nonce and tag only */
    n = kg_seal(key, "", 0, sealed, sizeof(sealed));
    assert_int_equal(n, KG_SEAL_OVERHEAD);
    assert_int_equal(kg_open(key, sealed, (size_t)n, plain, 0), 0);
}

static void test_flipped_byte(void **state)
{
    (void)state;
    static const char msg[] = "0123456789ab";
    uint8_t sealed[64], plain[64];
    int n = kg_seal(key, msg, 12, sealed, sizeof(sealed));
    assert_int_equal(n, 12 + KG_SEAL_OVERHEAD);
    /* Every byte matters: nonce, ciphertext and tag. */
    for (int i = 0; i < n; i++) {
        for (int bit = 0; bit < 8; bit += 7) {
            sealed[i] ^= (uint8_t)(1u << bit);
            memset(plain, 0x55, sizeof(plain));
            assert_int_equal(
                kg_open(key, sealed, (size_t)n, plain, sizeof(plain)),
                KG_ERR_AUTH);
            /* nothing unauthenticated is left behind */
            for (int k = 0; k < 12; k++)
                assert_int_equal(plain[k], 0);
            sealed[i] ^= (uint8_t)(1u << bit);
        }
    }
    uint8_t other[KG_SEAL_KEY_LEN];
    memcpy(other, key, sizeof(other));
    other[31] ^= 1;
    assert_int_equal(kg_open(other, sealed, (size_t)n, plain, sizeof(plain)),
                     KG_ERR_AUTH);
    assert_int_equal(kg_open(key, sealed, (size_t)n, plain, sizeof(plain)),
                     12);
}

static void test_nonce_differs(void **state)
{
    (void)state;
    uint8_t a[40], b[40];
    assert_int_equal(kg_seal(key, "123456", 6, a, sizeof(a)), 34);
    assert_int_equal(kg_seal(key, "123456", 6, b, sizeof(b)), 34);
    assert_memory_not_equal(a, b, KG_SEAL_NONCE_LEN);
    assert_memory_not_equal(a + KG_SEAL_NONCE_LEN, b + KG_SEAL_NONCE_LEN,
                            6 + KG_SEAL_TAG_LEN);
}

static void test_sizes(void **state)
{
    (void)state;
    uint8_t sealed[64], plain[64];
    uint8_t before[64];
    memset(sealed, 0x77, sizeof(sealed));
    memcpy(before, sealed, sizeof(before));
    assert_int_equal(kg_seal(key, "123456", 6, sealed, 6 + 27),
                     KG_ERR_NOSPACE);
    assert_memory_equal(sealed, before, sizeof(before));
    assert_int_equal(kg_seal(key, "123456", 6, sealed, 0), KG_ERR_NOSPACE);
    assert_int_equal(kg_seal(key, NULL, 1, sealed, sizeof(sealed)),
                     KG_ERR_INVAL);
    static uint8_t big[KG_SEAL_MAX + 1];
    assert_int_equal(kg_seal(key, big, sizeof(big), sealed, SIZE_MAX / 2),
                     KG_ERR_INVAL);

    int n = kg_seal(key, "123456", 6, sealed, sizeof(sealed));
    assert_int_equal(n, 34);
    assert_int_equal(kg_open(key, sealed, (size_t)n, plain, 5),
                     KG_ERR_NOSPACE);
    /* truncation at every length */
    for (int len = 0; len < KG_SEAL_OVERHEAD; len++)
        assert_int_equal(kg_open(key, sealed, (size_t)len, plain,
                                 sizeof(plain)),
                         KG_ERR_TRUNC);
    for (int len = KG_SEAL_OVERHEAD; len < n; len++)
        assert_int_equal(kg_open(key, sealed, (size_t)len, plain,
                                 sizeof(plain)),
                         KG_ERR_AUTH);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_known_vector),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_flipped_byte),
        cmocka_unit_test(test_nonce_differs),
        cmocka_unit_test(test_sizes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
