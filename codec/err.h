/* kaigi error codes and time.
 *
 * Every fallible kaigi function returns 0 (or a non-negative size) on
 * success and a negative KG_ERR_* code on failure. The codes come from one
 * table so that kg_strerror() can name every one of them.
 *
 * Time is always a parameter: uint64_t nanoseconds on a monotonic clock,
 * KG_TIME_NEVER for "no deadline". Only the I/O layer reads the clock.
 */
#ifndef KG_ERR_H
#define KG_ERR_H

#include <stdint.h>

#define KG_ERR_MAP(X)                                            \
    X(INVAL, -1, "invalid argument")                             \
    X(TRUNC, -2, "input truncated")                              \
    X(MALFORMED, -3, "malformed input")                          \
    X(NOSPACE, -4, "output buffer too small")                    \
    X(NOMEM, -5, "out of memory")                                \
    X(AUTH, -6, "authentication failed")                         \
    X(REPLAY, -7, "replayed packet")                             \
    X(CRYPTO, -8, "crypto library error")                        \
    X(UNSUPPORTED, -9, "unsupported")                            \
    X(NOTFOUND, -10, "not found")                                \
    X(STATE, -11, "operation not valid in this state")           \
    X(AGAIN, -12, "nothing to do yet")                           \
    X(IO, -13, "I/O error")                                      \
    X(EXISTS, -14, "already exists")                             \
    X(CLOSED, -15, "closed")                                     \
    X(TIMEOUT, -16, "timed out")                                 \
    X(FULL, -17, "table full")                                   \
    X(FINGERPRINT, -18, "DTLS fingerprint mismatch")             \
    X(DENIED, -19, "not allowed")                                \
    X(SRTP_PROFILE, -20, "no SRTP profile in common")

enum kg_err {
    KG_OK = 0,
#define KG_ERR_ENUM(name, code, text) KG_ERR_##name = (code),
    KG_ERR_MAP(KG_ERR_ENUM)
#undef KG_ERR_ENUM
};

/* Returns a static English description of err (a KG_ERR_* code or 0);
 * never NULL, "unknown error" for a code not in the table. */
const char *kg_strerror(int err);

/* Returns the code's short name ("TRUNC"), "OK" for 0, "UNKNOWN" else. */
const char *kg_errname(int err);

typedef uint64_t kg_time; /* nanoseconds, monotonic */
#define KG_TIME_NEVER UINT64_MAX
#define KG_MS ((kg_time)1000000)
#define KG_SEC ((kg_time)1000000000)

#define KG_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

#endif
