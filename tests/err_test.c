#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "codec/err.h"

static void test_every_code_has_text(void **state)
{
    (void)state;
#define CHECK(name, code, text)                                      \
    assert_string_equal(kg_strerror(code), text);                    \
    assert_string_equal(kg_errname(code), #name);
    KG_ERR_MAP(CHECK)
#undef CHECK
    assert_string_equal(kg_strerror(0), "success");
    assert_string_equal(kg_strerror(-9999), "unknown error");
    assert_string_equal(kg_errname(12345), "UNKNOWN");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_code_has_text),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
