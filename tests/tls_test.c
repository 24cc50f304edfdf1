/* crypto/tls.c: loading a certificate and key pair, and what it says when
 * it cannot. A throwaway self-signed P-256 pair, made once with
 *   openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes
 *     -days 36500 -subj /CN=kaigi-unit-1
 * and the key of a second such pair, for a mismatch. Not secrets. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "codec/err.h"
#include "crypto/tls.h"

static const char cert1[] =
    "-----BEGIN CERTIFICATE-----\n"
    "MIIBhjCCASugAwIBAgIUZHEyMpsOVTBxheomwwRoE4L26+kwCgYIKoZIzj0EAwIw\n"
    "FzEVMBMGA1UEAwwMa2FpZ2ktdW5pdC0xMCAXDTI2MTIwNzIxMDMwMFoYDzIxMjYx\n"
    "MTEzMjEwMzAwWjAXMRUwEwYDVQQDDAxrYWlnaS11bml0LTEwWTATBgcqhkjOPQIB\n"
    "BggqhkjOPQMBBwNCAAT0PuOnEsLyG+Gk8jBY7M4FqiFmrzCp5f1cYiGaLqgwTkej\n"
    "4BQzLxHF88bjMwVLjm5beOuT4hzD2jk/xMisE0Izo1MwUTAdBgNVHQ4EFgQU3qcU\n"
    "Gkri7y8/vq5sPnmnn/upRbIwHwYDVR0jBBgwFoAU3qcUGkri7y8/vq5sPnmnn/up\n"
    "RbIwDwYDVR0TAQH/BAUwAwEB/zAKBggqhkjOPQQDAgNJADBGAiEAxK7Qg+riU+Dh\n"
    "ucCc5fKrns3LB8BFe3CT+g4Jvrd+l0gCIQD3UYTMQnJLsJp1gHVh7GN8xCe2BlgT\n"
    "nrXDwAz+CHGQKg==\n"
    "-----END CERTIFICATE-----\n";

static const char key1[] =
    "-----BEGIN PRIVATE KEY-----\n"
    "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg2QgzFjU1uTMu0Jnq\n"
    "66OXg15ATHky9h0ZhVdzo/n3p+ChRANCAAT0PuOnEsLyG+Gk8jBY7M4FqiFmrzCp\n"
    "5f1cYiGaLqgwTkej4BQzLxHF88bjMwVLjm5beOuT4hzD2jk/xMisE0Iz\n"
    "-----END PRIVATE KEY-----\n";

static const char key2[] =
    "-----BEGIN PRIVATE KEY-----\n"
    "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgbnszqgBcQFzM9pON\n"
    "MCUURamFFPcRLeZGbgq2L6yPt+WhRANCAAQCv26YM6rW/VueemURG9EZTRAxoNdF\n"
    "d/gvkHVQ6zBJgdbcIQB6tf03YcyakKd+LcIAcb1TUBseSUXsLWU4OvDS\n"
    "-----END PRIVATE KEY-----\n";

/* Writes text to a new temporary file; its name goes into path. */
static void put(char *path, size_t cap, const char *text)
{
    snprintf(path, cap, "/tmp/kaigi-tls-test-XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    size_t n = strlen(text);
    assert_int_equal(write(fd, text, n), (ssize_t)n);
    close(fd);
}

static void test_good_pair(void **state)
{
    (void)state;
    char c[64], k[64], err[256] = "";
    put(c, sizeof c, cert1);
    put(k, sizeof k, key1);
    assert_int_equal(kg_tls_server_load(NULL, c, k, err, sizeof err), 0);
    unlink(c);
    unlink(k);
}

static void test_mismatched_pair(void **state)
{
    (void)state;
    char c[64], k[64], err[256] = "";
    put(c, sizeof c, cert1);
    put(k, sizeof k, key2);
    assert_int_equal(kg_tls_server_load(NULL, c, k, err, sizeof err),
                     KG_ERR_CRYPTO);
    /* OpenSSL refuses the key as it loads it ("key values mismatch") */
    assert_true(strstr(err, "mismatch") || strstr(err, "does not match"));
    assert_non_null(strstr(err, k));
    /* the sentence names the files, never their bytes */
    assert_null(strstr(err, "PRIVATE"));
    unlink(c);
    unlink(k);
}

static void test_missing_or_garbage(void **state)
{
    (void)state;
    char c[64], k[64], err[256] = "";
    put(k, sizeof k, key1);
    assert_int_equal(kg_tls_server_load(NULL, "/nonexistent/fullchain.pem",
                                        k, err, sizeof err),
                     KG_ERR_CRYPTO);
    assert_non_null(strstr(err, "cannot load the certificate"));
    assert_non_null(strstr(err, "/nonexistent/fullchain.pem"));
    /* a half-written renewal: the certificate cut in the middle */
    char half[sizeof cert1];
    memcpy(half, cert1, sizeof cert1 / 2);
    half[sizeof cert1 / 2] = '\0';
    put(c, sizeof c, half);
    assert_int_equal(kg_tls_server_load(NULL, c, k, err, sizeof err),
                     KG_ERR_CRYPTO);
    assert_non_null(strstr(err, "cannot load the certificate"));
    unlink(c);
    /* a key file that holds a certificate */
    put(c, sizeof c, cert1);
    char k2[64];
    put(k2, sizeof k2, cert1);
    assert_int_equal(kg_tls_server_load(NULL, c, k2, err, sizeof err),
                     KG_ERR_CRYPTO);
    assert_non_null(strstr(err, "cannot load the private key"));
    unlink(c);
    unlink(k);
    unlink(k2);
}

static void test_verify_failure_without_ssl(void **state)
{
    (void)state;
    char buf[64] = "untouched";
    assert_int_equal(kg_tls_verify_failure(NULL, buf, sizeof buf), 0);
    assert_string_equal(buf, "untouched");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good_pair),
        cmocka_unit_test(test_mismatched_pair),
        cmocka_unit_test(test_missing_or_garbage),
        cmocka_unit_test(test_verify_failure_without_ssl),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
