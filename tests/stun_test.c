/* STUN parser and writers: RFC 5769 test vectors, writer output checked
 * byte for byte against messages built independently, and every error
 * path. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/un.h>

#include <cmocka.h>

#include "codec/err.h"
#include "relay/stun.h"

/* --- RFC 5769 test vectors ------------------------------------------ */

static const char rfc_pwd[] = "VOkJxbRl1RmTxUk/WvJxBt";

static const uint8_t rfc_txid[12] = {
    0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6, 0x86, 0xfa, 0x87, 0xdf, 0xae,
};

/* RFC 5769 section 2.1: sample request. Software "STUN test client",
 * username "evtj:h6vY", password "VOkJxbRl1RmTxUk/WvJxBt". Note the
 * padding bytes are spaces, not zeros. */
static const uint8_t rfc_request[] = {
    0x00, 0x01, 0x00, 0x58, // Request type and message length
    0x21, 0x12, 0xa4, 0x42, // Magic cookie
    0xb7, 0xe7, 0xa7, 0x01, // }
    0xbc, 0x34, 0xd6, 0x86, // }  Transaction ID
    0xfa, 0x87, 0xdf, 0xae, // }
    0x80, 0x22, 0x00, 0x10, // SOFTWARE attribute header
    0x53, 0x54, 0x55, 0x4e, // }
    0x20, 0x74, 0x65, 0x73, // }  User-agent...
    0x74, 0x20, 0x63, 0x6c, // }  ...name
    0x69, 0x65, 0x6e, 0x74, // }
    0x00, 0x24, 0x00, 0x04, // PRIORITY attribute header
    0x6e, 0x00, 0x01, 0xff, // ICE priority value
    0x80, 0x29, 0x00, 0x08, // ICE-CONTROLLED attribute header
    0x93, 0x2f, 0xf9, 0xb1, // }  Pseudo-random tie breaker...
    0x51, 0x26, 0x3b, 0x36, // }   ...for ICE control
    0x00, 0x06, 0x00, 0x09, // USERNAME attribute header
    0x65, 0x76, 0x74, 0x6a, // }
    0x3a, 0x68, 0x36, 0x76, // }  Username (9 bytes) and padding (3 bytes)
    0x59, 0x20, 0x20, 0x20, // }
    0x00, 0x08, 0x00, 0x14, // MESSAGE-INTEGRITY attribute header
    0x9a, 0xea, 0xa7, 0x0c, // }
    0xbf, 0xd8, 0xcb, 0x56, // }
    0x78, 0x1e, 0xf2, 0xb5, // }  HMAC-SHA1 fingerprint
    0xb2, 0xd3, 0xf2, 0x49, // }
    0xc1, 0xb5, 0x71, 0xa2, // }
    0x80, 0x28, 0x00, 0x04, // FINGERPRINT attribute header
    0xe5, 0x7a, 0x3b, 0xcf, // CRC32 fingerprint
};
#define RFC_REQUEST_MI_OFF 76
#define RFC_REQUEST_FP_OFF 100

/* RFC 5769 section 2.2: sample IPv4 response, software "test vector",
 * mapped address 192.0.2.1 port 32853. */
static const uint8_t rfc_response_v4[] = {
    0x01, 0x01, 0x00, 0x3c, // Response type and message length
    0x21, 0x12, 0xa4, 0x42, // Magic cookie
    0xb7, 0xe7, 0xa7, 0x01, // }
    0xbc, 0x34, 0xd6, 0x86, // }  Transaction ID
    0xfa, 0x87, 0xdf, 0xae, // }
    0x80, 0x22, 0x00, 0x0b, // SOFTWARE attribute header
    0x74, 0x65, 0x73, 0x74, // }
    0x20, 0x76, 0x65, 0x63, // }  UTF-8 server name
    0x74, 0x6f, 0x72, 0x20, // }
    0x00, 0x20, 0x00, 0x08, // XOR-MAPPED-ADDRESS attribute header
    0x00, 0x01, 0xa1, 0x47, // Address family (IPv4) and xor'd mapped port
    0xe1, 0x12, 0xa6, 0x43, // Xor'd mapped IPv4 address
    0x00, 0x08, 0x00, 0x14, // MESSAGE-INTEGRITY attribute header
    0x2b, 0x91, 0xf5, 0x99, // }
    0xfd, 0x9e, 0x90, 0xc3, // }
    0x8c, 0x74, 0x89, 0xf9, // }  HMAC-SHA1 fingerprint
    0x2a, 0xf9, 0xba, 0x53, // }
    0xf0, 0x6b, 0xe7, 0xd7, // }
    0x80, 0x28, 0x00, 0x04, // FINGERPRINT attribute header
    0xc0, 0x7d, 0x4c, 0x96, // CRC32 fingerprint
};

/* RFC 5769 section 2.3: sample IPv6 response, mapped address
 * 2001:db8:1234:5678:11:2233:4455:6677 port 32853. */
static const uint8_t rfc_response_v6[] = {
    0x01, 0x01, 0x00, 0x48, // Response type and message length
    0x21, 0x12, 0xa4, 0x42, // Magic cookie
    0xb7, 0xe7, 0xa7, 0x01, // }
    0xbc, 0x34, 0xd6, 0x86, // }  Transaction ID
    0xfa, 0x87, 0xdf, 0xae, // }
    0x80, 0x22, 0x00, 0x0b, // SOFTWARE attribute header
    0x74, 0x65, 0x73, 0x74, // }
    0x20, 0x76, 0x65, 0x63, // }  UTF-8 server name
    0x74, 0x6f, 0x72, 0x20, // }
    0x00, 0x20, 0x00, 0x14, // XOR-MAPPED-ADDRESS attribute header
    0x00, 0x02, 0xa1, 0x47, // Address family (IPv6) and xor'd mapped port
    0x01, 0x13, 0xa9, 0xfa, // }
    0xa5, 0xd3, 0xf1, 0x79, // }  Xor'd mapped IPv6 address
    0xbc, 0x25, 0xf4, 0xb5, // }
    0xbe, 0xd2, 0xb9, 0xd9, // }
    0x00, 0x08, 0x00, 0x14, // MESSAGE-INTEGRITY attribute header
    0xa3, 0x82, 0x95, 0x4e, // }
    0x4b, 0xe6, 0x7b, 0xf1, // }
    0x17, 0x84, 0xc9, 0x7c, // }  HMAC-SHA1 fingerprint
    0x82, 0x92, 0xc2, 0x75, // }
    0xbf, 0xe3, 0xed, 0x41, // }
    0x80, 0x28, 0x00, 0x04, // FINGERPRINT attribute header
    0xc8, 0xfb, 0x0b, 0x4c, // CRC32 fingerprint
};

/* RFC 5769 section 2.4: request with long-term credentials. ICE uses
 * short-term credentials only, so kaigi never computes this key itself;
 * the vector still checks that NONCE and REALM (comprehension-required
 * attributes kaigi does not know) are skipped and that MESSAGE-INTEGRITY
 * verifies with a given key. No FINGERPRINT. */
static const uint8_t rfc_request_long_term[] = {
    0x00, 0x01, 0x00, 0x60, // Request type and message length
    0x21, 0x12, 0xa4, 0x42, // Magic cookie
    0x78, 0xad, 0x34, 0x33, // }
    0xc6, 0xad, 0x72, 0xc0, // }  Transaction ID
    0x29, 0xda, 0x41, 0x2e, // }
    0x00, 0x06, 0x00, 0x12, // USERNAME attribute header
    0xe3, 0x83, 0x9e, 0xe3, // }
    0x83, 0x88, 0xe3, 0x83, // }
    0xaa, 0xe3, 0x83, 0x83, // }  Username value (18 bytes) and padding (2)
    0xe3, 0x82, 0xaf, 0xe3, // }
    0x82, 0xb9, 0x00, 0x00, // }
    0x00, 0x15, 0x00, 0x1c, // NONCE attribute header
    0x66, 0x2f, 0x2f, 0x34, // }
    0x39, 0x39, 0x6b, 0x39, // }
    0x35, 0x34, 0x64, 0x36, // }
    0x4f, 0x4c, 0x33, 0x34, // }  Nonce value
    0x6f, 0x4c, 0x39, 0x46, // }
    0x53, 0x54, 0x76, 0x79, // }
    0x36, 0x34, 0x73, 0x41, // }
    0x00, 0x14, 0x00, 0x0b, // REALM attribute header
    0x65, 0x78, 0x61, 0x6d, // }
    0x70, 0x6c, 0x65, 0x2e, // }  Realm value (11 bytes) and padding (1)
    0x6f, 0x72, 0x67, 0x00, // }
    0x00, 0x08, 0x00, 0x14, // MESSAGE-INTEGRITY attribute header
    0xf6, 0x70, 0x24, 0x65, // }
    0x6d, 0xd6, 0x4a, 0x3e, // }
    0x02, 0xb8, 0xe0, 0x71, // }  HMAC-SHA1 fingerprint
    0x2e, 0x85, 0xc9, 0xa2, // }
    0x8c, 0xa8, 0x96, 0x66, // }
};

/* MD5("<U+30DE><U+30C8><U+30EA><U+30C3><U+30AF><U+30B9>:example.org:
 * TheMatrIX"), the long-term key of section 2.4 (computed offline). */
static const uint8_t rfc_long_term_key[16] = {
    0xe8, 0xca, 0x7a, 0xd5, 0x9d, 0x5e, 0xb0, 0x51,
    0x8e, 0x31, 0x29, 0x11, 0xd2, 0xda, 0xb2, 0xa9,
};

/* --- Writer outputs, built independently (Python hmac/zlib) ----------- */

/* kg_stun_write_binding_request with the parameters of RFC 5769 2.1:
 * no SOFTWARE, zero padding, so MI and FINGERPRINT differ from it. */
static const uint8_t want_request[] = {
    0x00, 0x01, 0x00, 0x44, // Binding request, length 68
    0x21, 0x12, 0xa4, 0x42, // Magic cookie
    0xb7, 0xe7, 0xa7, 0x01, // }
    0xbc, 0x34, 0xd6, 0x86, // }  Transaction ID
    0xfa, 0x87, 0xdf, 0xae, // }
    0x00, 0x06, 0x00, 0x09, // USERNAME attribute header
    0x65, 0x76, 0x74, 0x6a, // }  "evtj"
    0x3a, 0x68, 0x36, 0x76, // }  ":h6v"
    0x59, 0x00, 0x00, 0x00, // }  "Y" and zero padding
    0x00, 0x24, 0x00, 0x04, // PRIORITY attribute header
    0x6e, 0x00, 0x01, 0xff, // priority
    0x80, 0x29, 0x00, 0x08, // ICE-CONTROLLED attribute header
    0x93, 0x2f, 0xf9, 0xb1, // }  tie breaker
    0x51, 0x26, 0x3b, 0x36, // }
    0x00, 0x08, 0x00, 0x14, // MESSAGE-INTEGRITY attribute header
    0x7a, 0x4f, 0xd3, 0x81, // }
    0x02, 0x4d, 0xda, 0x8c, // }
    0xe7, 0x96, 0xb8, 0x52, // }  HMAC-SHA1
    0xd3, 0x1b, 0x21, 0x7e, // }
    0xf9, 0xbe, 0xa4, 0x91, // }
    0x80, 0x28, 0x00, 0x04, // FINGERPRINT attribute header
    0xe4, 0xd4, 0x76, 0x51, // CRC32 ^ 0x5354554e
};

/* Success to the RFC transaction, 192.0.2.1:32853, RFC password. */
static const uint8_t want_success_v4[] = {
    0x01, 0x01, 0x00, 0x2c, // Binding success, length 44
    0x21, 0x12, 0xa4, 0x42, // Magic cookie
    0xb7, 0xe7, 0xa7, 0x01, // }
    0xbc, 0x34, 0xd6, 0x86, // }  Transaction ID
    0xfa, 0x87, 0xdf, 0xae, // }
    0x00, 0x20, 0x00, 0x08, // XOR-MAPPED-ADDRESS attribute header
    0x00, 0x01, 0xa1, 0x47, // IPv4, port 32853 ^ 0x2112
    0xe1, 0x12, 0xa6, 0x43, // 192.0.2.1 ^ magic cookie
    0x00, 0x08, 0x00, 0x14, // MESSAGE-INTEGRITY attribute header
    0x74, 0xc9, 0x37, 0x1e, // }
    0xbf, 0x31, 0x48, 0x54, // }
    0x85, 0x18, 0x69, 0x9c, // }  HMAC-SHA1
    0x3e, 0x31, 0x74, 0xc2, // }
    0x0d, 0xd9, 0xe6, 0x8a, // }
    0x80, 0x28, 0x00, 0x04, // FINGERPRINT attribute header
    0xfa, 0xe4, 0x04, 0x3a, // CRC32 ^ 0x5354554e
};

/* Success to the RFC transaction, [2001:db8:1234:5678:11:2233:4455:6677]
 * port 32853, RFC password. */
static const uint8_t want_success_v6[] = {
    0x01, 0x01, 0x00, 0x38, // Binding success, length 56
    0x21, 0x12, 0xa4, 0x42, // Magic cookie
    0xb7, 0xe7, 0xa7, 0x01, // }
    0xbc, 0x34, 0xd6, 0x86, // }  Transaction ID
    0xfa, 0x87, 0xdf, 0xae, // }
    0x00, 0x20, 0x00, 0x14, // XOR-MAPPED-ADDRESS attribute header
    0x00, 0x02, 0xa1, 0x47, // IPv6, port 32853 ^ 0x2112
    0x01, 0x13, 0xa9, 0xfa, // }
    0xa5, 0xd3, 0xf1, 0x79, // }  address ^ (magic cookie || txid)
    0xbc, 0x25, 0xf4, 0xb5, // }
    0xbe, 0xd2, 0xb9, 0xd9, // }
    0x00, 0x08, 0x00, 0x14, // MESSAGE-INTEGRITY attribute header
    0xee, 0x33, 0xa0, 0x55, // }
    0x53, 0x19, 0xee, 0xc1, // }
    0x0a, 0xd5, 0xfb, 0xfd, // }  HMAC-SHA1
    0xf8, 0x73, 0x3d, 0x19, // }
    0x6e, 0x55, 0x2b, 0x3c, // }
    0x80, 0x28, 0x00, 0x04, // FINGERPRINT attribute header
    0x5d, 0xed, 0x71, 0x86, // CRC32 ^ 0x5354554e
};

/* 487 Role Conflict to the RFC transaction, no integrity. */
static const uint8_t want_error_487[] = {
    0x01, 0x11, 0x00, 0x20, // Binding error, length 32
    0x21, 0x12, 0xa4, 0x42, // Magic cookie
    0xb7, 0xe7, 0xa7, 0x01, // }
    0xbc, 0x34, 0xd6, 0x86, // }  Transaction ID
    0xfa, 0x87, 0xdf, 0xae, // }
    0x00, 0x09, 0x00, 0x11, // ERROR-CODE attribute header, 17 bytes
    0x00, 0x00, 0x04, 0x57, // class 4, number 87
    0x52, 0x6f, 0x6c, 0x65, // "Role"
    0x20, 0x43, 0x6f, 0x6e, // " Con"
    0x66, 0x6c, 0x69, 0x63, // "flic"
    0x74, 0x00, 0x00, 0x00, // "t" and zero padding
    0x80, 0x28, 0x00, 0x04, // FINGERPRINT attribute header
    0xff, 0xf8, 0x25, 0x4a, // CRC32 ^ 0x5354554e
};

/* --- Helpers ---------------------------------------------------------- */

static const uint8_t *pwd(void)
{
    return (const uint8_t *)rfc_pwd;
}

/* A message built attribute by attribute, for the error paths. */
typedef struct tmsg {
    uint8_t b[1200];
    size_t len;
} tmsg;

static void tm_begin(tmsg *m, uint16_t type)
{
    memset(m, 0, sizeof(*m));
    m->b[0] = (uint8_t)(type >> 8);
    m->b[1] = (uint8_t)type;
    m->b[4] = 0x21;
    m->b[5] = 0x12;
    m->b[6] = 0xa4;
    m->b[7] = 0x42;
    memcpy(m->b + 8, rfc_txid, 12);
    m->len = KG_STUN_HEADER_LEN;
}

/* Appends an attribute whose header declares `declared` bytes while vlen
 * bytes (zero-padded to 4) follow, so the two can disagree on purpose. */
static void tm_attr_raw(tmsg *m, uint16_t type, uint16_t declared,
                        const void *v, size_t vlen)
{
    uint8_t *a = m->b + m->len;
    a[0] = (uint8_t)(type >> 8);
    a[1] = (uint8_t)type;
    a[2] = (uint8_t)(declared >> 8);
    a[3] = (uint8_t)declared;
    if (vlen)
        memcpy(a + 4, v, vlen);
    m->len += 4 + ((vlen + 3) & ~(size_t)3);
    size_t body = m->len - KG_STUN_HEADER_LEN;
    m->b[2] = (uint8_t)(body >> 8);
    m->b[3] = (uint8_t)body;
}

static void tm_attr(tmsg *m, uint16_t type, const void *v, size_t vlen)
{
    tm_attr_raw(m, type, (uint16_t)vlen, v, vlen);
}

static int tm_parse(const tmsg *m, kg_stun_msg *msg)
{
    return kg_stun_parse(m->b, m->len, msg);
}

static void make_v4(struct sockaddr_in *sin, const char *ip, uint16_t port)
{
    memset(sin, 0, sizeof(*sin));
    sin->sin_family = AF_INET;
    sin->sin_port = htons(port);
    assert_int_equal(inet_pton(AF_INET, ip, &sin->sin_addr), 1);
}

static void make_v6(struct sockaddr_in6 *sin6, const char *ip, uint16_t port)
{
    memset(sin6, 0, sizeof(*sin6));
    sin6->sin6_family = AF_INET6;
    sin6->sin6_port = htons(port);
    assert_int_equal(inet_pton(AF_INET6, ip, &sin6->sin6_addr), 1);
}

/* --- CRC-32 ----------------------------------------------------------- */

static void test_crc32_check_value(void **state)
{
    (void)state;
    /* The CRC-32/ISO-HDLC check value. */
    assert_int_equal(kg_crc32((const uint8_t *)"123456789", 9), 0xcbf43926u);
    assert_int_equal(kg_crc32((const uint8_t *)"", 0), 0);
    assert_int_equal(kg_crc32((const uint8_t *)"a", 1), 0xe8b7be43u);
}

/* --- RFC 5769 --------------------------------------------------------- */

static void test_rfc5769_request(void **state)
{
    (void)state;
    kg_stun_msg m;
    assert_true(kg_stun_is(rfc_request, sizeof(rfc_request)));
    assert_int_equal(kg_stun_parse(rfc_request, sizeof(rfc_request), &m), 0);
    assert_int_equal(m.type, KG_STUN_BINDING_REQUEST);
    assert_int_equal(m.length, 0x58);
    assert_memory_equal(m.txid, rfc_txid, 12);
    assert_int_equal(m.username_len, 9);
    assert_memory_equal(m.username, "evtj:h6vY", 9);
    assert_true(m.has_priority);
    assert_int_equal(m.priority, 0x6e0001ffu);
    assert_true(m.ice_controlled);
    assert_false(m.ice_controlling);
    assert_true(m.tiebreaker == 0x932ff9b151263b36ull);
    assert_false(m.use_candidate);
    assert_true(m.has_integrity);
    assert_int_equal(m.integrity_off, RFC_REQUEST_MI_OFF);
    assert_true(m.has_fingerprint);
    assert_false(m.has_xor_mapped);
    assert_int_equal(m.error_code, 0);

    assert_int_equal(kg_stun_check_integrity(rfc_request, sizeof(rfc_request),
                                             &m, pwd(), strlen(rfc_pwd)),
                     0);
    assert_int_equal(kg_stun_check_integrity(rfc_request, sizeof(rfc_request),
                                             &m, pwd(), strlen(rfc_pwd) - 1),
                     KG_ERR_AUTH);
    assert_int_equal(kg_stun_check_integrity(rfc_request, sizeof(rfc_request),
                                             &m, (const uint8_t *)"x", 1),
                     KG_ERR_AUTH);
    assert_int_equal(kg_stun_check_integrity(rfc_request, sizeof(rfc_request),
                                             &m, pwd(), 0),
                     KG_ERR_AUTH);
    assert_int_equal(kg_stun_check_integrity(rfc_request, sizeof(rfc_request),
                                             &m, NULL, 0),
                     KG_ERR_AUTH);
    /* A msg that does not belong to buf cannot make it read past len. */
    assert_int_equal(kg_stun_check_integrity(rfc_request, 90, &m, pwd(),
                                             strlen(rfc_pwd)),
                     KG_ERR_AUTH);
}

static void check_rfc_response(const uint8_t *buf, size_t len,
                               uint16_t length)
{
    kg_stun_msg m;
    assert_true(kg_stun_is(buf, len));
    assert_int_equal(kg_stun_parse(buf, len, &m), 0);
    assert_int_equal(m.type, KG_STUN_BINDING_SUCCESS);
    assert_int_equal(m.length, length);
    assert_memory_equal(m.txid, rfc_txid, 12);
    assert_null(m.username);
    assert_true(m.has_integrity);
    assert_true(m.has_fingerprint);
    assert_true(m.has_xor_mapped);
    assert_int_equal(kg_stun_check_integrity(buf, len, &m, pwd(),
                                             strlen(rfc_pwd)),
                     0);
    assert_int_equal(kg_stun_check_integrity(buf, len, &m,
                                             (const uint8_t *)"VOkJxbRl1RmTxUk/WvJxBT",
                                             strlen(rfc_pwd)),
                     KG_ERR_AUTH);
}

static void test_rfc5769_ipv4_response(void **state)
{
    (void)state;
    kg_stun_msg m;
    check_rfc_response(rfc_response_v4, sizeof(rfc_response_v4), 0x3c);
    assert_int_equal(
        kg_stun_parse(rfc_response_v4, sizeof(rfc_response_v4), &m), 0);
    const struct sockaddr_in *sin = (const struct sockaddr_in *)&m.xor_mapped;
    assert_int_equal(sin->sin_family, AF_INET);
    assert_int_equal(ntohs(sin->sin_port), 32853);
    char ip[INET_ADDRSTRLEN];
    assert_non_null(inet_ntop(AF_INET, &sin->sin_addr, ip, sizeof(ip)));
    assert_string_equal(ip, "192.0.2.1");
}

static void test_rfc5769_ipv6_response(void **state)
{
    (void)state;
    kg_stun_msg m;
    check_rfc_response(rfc_response_v6, sizeof(rfc_response_v6), 0x48);
    assert_int_equal(
        kg_stun_parse(rfc_response_v6, sizeof(rfc_response_v6), &m), 0);
    const struct sockaddr_in6 *sin6 =
        (const struct sockaddr_in6 *)&m.xor_mapped;
    assert_int_equal(sin6->sin6_family, AF_INET6);
    assert_int_equal(ntohs(sin6->sin6_port), 32853);
    char ip[INET6_ADDRSTRLEN];
    assert_non_null(inet_ntop(AF_INET6, &sin6->sin6_addr, ip, sizeof(ip)));
    assert_string_equal(ip, "2001:db8:1234:5678:11:2233:4455:6677");
}

static void test_rfc5769_long_term(void **state)
{
    (void)state;
    kg_stun_msg m;
    const uint8_t *b = rfc_request_long_term;
    size_t len = sizeof(rfc_request_long_term);
    assert_int_equal(kg_stun_parse(b, len, &m), 0);
    assert_int_equal(m.type, KG_STUN_BINDING_REQUEST);
    assert_int_equal(m.username_len, 18);
    assert_memory_equal(m.username,
                        "\xe3\x83\x9e\xe3\x83\x88\xe3\x83\xaa\xe3\x83\x83"
                        "\xe3\x82\xaf\xe3\x82\xb9",
                        18);
    assert_true(m.has_integrity);
    assert_int_equal(m.integrity_off, 92);
    assert_false(m.has_fingerprint);
    assert_int_equal(kg_stun_check_integrity(b, len, &m, rfc_long_term_key,
                                             sizeof(rfc_long_term_key)),
                     0);
    assert_int_equal(kg_stun_check_integrity(b, len, &m,
                                             (const uint8_t *)"TheMatrIX", 9),
                     KG_ERR_AUTH);
}

/* --- Truncation and corruption ---------------------------------------- */

static const struct {
    const uint8_t *buf;
    size_t len;
} vectors[] = {
    {rfc_request, sizeof(rfc_request)},
    {rfc_response_v4, sizeof(rfc_response_v4)},
    {rfc_response_v6, sizeof(rfc_response_v6)},
    {rfc_request_long_term, sizeof(rfc_request_long_term)},
    {want_request, sizeof(want_request)},
    {want_error_487, sizeof(want_error_487)},
};

static void test_truncated_every_length(void **state)
{
    (void)state;
    for (size_t v = 0; v < KG_ARRAY_LEN(vectors); v++) {
        kg_stun_msg m;
        assert_int_equal(kg_stun_parse(vectors[v].buf, vectors[v].len, &m),
                         0);
        for (size_t n = 0; n < vectors[v].len; n++) {
            assert_int_equal(kg_stun_parse(vectors[v].buf, n, &m),
                             KG_ERR_TRUNC);
            assert_false(kg_stun_is(vectors[v].buf, n));
        }
    }
}

/* The header length cut to every multiple of 4 (and the datagram with
 * it): it parses exactly when the cut falls between attributes. */
static void test_length_cut_at_every_attribute(void **state)
{
    (void)state;
    static const size_t bounds[] = {0, 20, 28, 40, 56, 80};
    uint8_t b[sizeof(rfc_request)];
    for (size_t body = 0; body < sizeof(rfc_request) - 20; body += 4) {
        kg_stun_msg m;
        memcpy(b, rfc_request, sizeof(b));
        b[2] = 0;
        b[3] = (uint8_t)body;
        bool at_bound = false;
        for (size_t i = 0; i < KG_ARRAY_LEN(bounds); i++)
            at_bound |= bounds[i] == body;
        int rc = kg_stun_parse(b, 20 + body, &m);
        assert_int_equal(rc, at_bound ? 0 : KG_ERR_MALFORMED);
        if (at_bound) {
            assert_false(m.has_fingerprint);
            assert_int_equal(m.has_integrity, body == 80);
        }
    }
}

/* Every single-bit flip of the RFC request is caught. Mostly by
 * FINGERPRINT or structure; a flip that makes an earlier attribute
 * swallow MESSAGE-INTEGRITY and FINGERPRINT (USERNAME length 9 -> 41)
 * leaves a message with no integrity, which the check refuses. The
 * exception is the FINGERPRINT type bytes: they turn it into an unknown
 * attribute after MESSAGE-INTEGRITY, ignored as RFC 8489 says, and the
 * message is then one without a fingerprint whose integrity holds. */
static void test_flip_breaks_fingerprint(void **state)
{
    (void)state;
    uint8_t b[sizeof(rfc_request)];
    unsigned swallowed = 0;
    for (size_t i = 0; i < sizeof(b); i++) {
        for (unsigned bit = 0; bit < 8; bit++) {
            kg_stun_msg m;
            memcpy(b, rfc_request, sizeof(b));
            b[i] ^= (uint8_t)(1u << bit);
            int rc = kg_stun_parse(b, sizeof(b), &m);
            if (i == RFC_REQUEST_FP_OFF || i == RFC_REQUEST_FP_OFF + 1) {
                assert_int_equal(rc, 0);
                assert_false(m.has_fingerprint);
                assert_int_equal(kg_stun_check_integrity(b, sizeof(b), &m,
                                                         pwd(),
                                                         strlen(rfc_pwd)),
                                 0);
                continue;
            }
            if (i >= RFC_REQUEST_FP_OFF + 4)
                assert_int_equal(rc, KG_ERR_AUTH);
            if (rc == 0) {
                swallowed++;
                assert_false(m.has_integrity);
                assert_int_equal(kg_stun_check_integrity(b, sizeof(b), &m,
                                                         pwd(),
                                                         strlen(rfc_pwd)),
                                 KG_ERR_AUTH);
            }
        }
    }
    assert_int_equal(swallowed, 1);
}

/* Without FINGERPRINT, every single-bit flip before and inside
 * MESSAGE-INTEGRITY breaks parsing or the integrity check. */
static void test_flip_breaks_integrity(void **state)
{
    (void)state;
    enum { N = RFC_REQUEST_FP_OFF };
    uint8_t b[N];
    kg_stun_msg m;
    memcpy(b, rfc_request, N);
    b[3] = N - 20; /* drop FINGERPRINT */
    assert_int_equal(kg_stun_parse(b, N, &m), 0);
    assert_int_equal(kg_stun_check_integrity(b, N, &m, pwd(), strlen(rfc_pwd)),
                     0);
    for (size_t i = 0; i < N; i++) {
        for (unsigned bit = 0; bit < 8; bit++) {
            memcpy(b, rfc_request, N);
            b[3] = N - 20;
            b[i] ^= (uint8_t)(1u << bit);
            int rc = kg_stun_parse(b, N, &m);
            if (rc == 0)
                rc = kg_stun_check_integrity(b, N, &m, pwd(),
                                             strlen(rfc_pwd));
            assert_int_not_equal(rc, 0);
        }
    }
    /* A flipped byte inside the MAC itself is AUTH from the check. */
    memcpy(b, rfc_request, N);
    b[3] = N - 20;
    b[RFC_REQUEST_MI_OFF + 10] ^= 0x80;
    assert_int_equal(kg_stun_parse(b, N, &m), 0);
    assert_int_equal(kg_stun_check_integrity(b, N, &m, pwd(), strlen(rfc_pwd)),
                     KG_ERR_AUTH);
}

/* --- Header errors ---------------------------------------------------- */

static void test_bad_headers(void **state)
{
    (void)state;
    uint8_t b[sizeof(rfc_response_v4) + 4];
    kg_stun_msg m;

    assert_int_equal(kg_stun_parse(NULL, 0, &m), KG_ERR_INVAL);
    assert_int_equal(kg_stun_parse(rfc_request, sizeof(rfc_request), NULL),
                     KG_ERR_INVAL);
    assert_false(kg_stun_is(NULL, 0));

    /* Top two bits set (an RTP packet, say). */
    memcpy(b, rfc_response_v4, sizeof(rfc_response_v4));
    b[0] |= 0x80;
    assert_int_equal(kg_stun_parse(b, sizeof(rfc_response_v4), &m),
                     KG_ERR_MALFORMED);
    assert_false(kg_stun_is(b, sizeof(rfc_response_v4)));
    b[0] = 0x41;
    assert_int_equal(kg_stun_parse(b, sizeof(rfc_response_v4), &m),
                     KG_ERR_MALFORMED);

    /* Wrong magic cookie (RFC 3489 style). */
    memcpy(b, rfc_response_v4, sizeof(rfc_response_v4));
    b[7] = 0x43;
    assert_int_equal(kg_stun_parse(b, sizeof(rfc_response_v4), &m),
                     KG_ERR_MALFORMED);
    assert_false(kg_stun_is(b, sizeof(rfc_response_v4)));

    /* Length not a multiple of 4. */
    memcpy(b, rfc_response_v4, sizeof(rfc_response_v4));
    b[3] = 0x3b;
    assert_int_equal(kg_stun_parse(b, sizeof(rfc_response_v4), &m),
                     KG_ERR_MALFORMED);
    assert_false(kg_stun_is(b, sizeof(rfc_response_v4)));

    /* Bytes past the declared length. */
    memcpy(b, rfc_response_v4, sizeof(rfc_response_v4));
    memset(b + sizeof(rfc_response_v4), 0, 4);
    assert_int_equal(kg_stun_parse(b, sizeof(b), &m), KG_ERR_MALFORMED);
    assert_false(kg_stun_is(b, sizeof(b)));

    /* The smallest message: a header with no attributes. */
    tmsg t;
    tm_begin(&t, KG_STUN_BINDING_REQUEST);
    assert_true(kg_stun_is(t.b, t.len));
    assert_int_equal(tm_parse(&t, &m), 0);
    assert_int_equal(m.length, 0);
    assert_null(m.username);
    assert_false(m.has_integrity);
    assert_int_equal(kg_stun_check_integrity(t.b, t.len, &m, pwd(),
                                             strlen(rfc_pwd)),
                     KG_ERR_AUTH);
}

/* --- Attribute errors ------------------------------------------------- */

static void expect_malformed_attr(uint16_t type, uint16_t declared,
                                  const void *v, size_t vlen)
{
    tmsg t;
    kg_stun_msg m;
    tm_begin(&t, KG_STUN_BINDING_REQUEST);
    tm_attr_raw(&t, type, declared, v, vlen);
    assert_int_equal(tm_parse(&t, &m), KG_ERR_MALFORMED);
}

static void test_bad_attribute_lengths(void **state)
{
    (void)state;
    uint8_t z[600];
    memset(z, 0, sizeof(z));
    expect_malformed_attr(KG_STUN_ATTR_PRIORITY, 3, z, 3);
    expect_malformed_attr(KG_STUN_ATTR_PRIORITY, 8, z, 8);
    expect_malformed_attr(KG_STUN_ATTR_USE_CANDIDATE, 4, z, 4);
    expect_malformed_attr(KG_STUN_ATTR_ICE_CONTROLLING, 4, z, 4);
    expect_malformed_attr(KG_STUN_ATTR_ICE_CONTROLLED, 12, z, 12);
    expect_malformed_attr(KG_STUN_ATTR_MESSAGE_INTEGRITY, 16, z, 16);
    expect_malformed_attr(KG_STUN_ATTR_MESSAGE_INTEGRITY, 32, z, 32);
    expect_malformed_attr(KG_STUN_ATTR_FINGERPRINT, 8, z, 8);
    expect_malformed_attr(KG_STUN_ATTR_FINGERPRINT, 0, z, 0);
    expect_malformed_attr(KG_STUN_ATTR_USERNAME, 509, z, 509);
    /* Declared longer than what follows. */
    expect_malformed_attr(KG_STUN_ATTR_SOFTWARE, 8, z, 4);
    expect_malformed_attr(0x7777, 5, z, 4);
    expect_malformed_attr(KG_STUN_ATTR_USERNAME, 0xffff, z, 8);

    /* An all-zero attribute header is type 0 (reserved, unknown) with an
     * empty value: skipped, not an error. */
    tmsg t;
    kg_stun_msg m;
    tm_begin(&t, KG_STUN_BINDING_REQUEST);
    tm_attr(&t, KG_STUN_ATTR_USERNAME, "ab:c", 4);
    tm_attr(&t, 0x0000, NULL, 0);
    assert_int_equal(tm_parse(&t, &m), 0);
    assert_int_equal(m.username_len, 4);
}

static void test_bad_xor_mapped(void **state)
{
    (void)state;
    static const uint8_t v4_family3[8] = {0x00, 0x03, 0xa1, 0x47,
                                          0xe1, 0x12, 0xa6, 0x43};
    static const uint8_t v4_long[20] = {0x00, 0x01, 0xa1, 0x47};
    static const uint8_t v6_short[8] = {0x00, 0x02, 0xa1, 0x47};
    static const uint8_t two[2] = {0x00, 0x01};
    expect_malformed_attr(KG_STUN_ATTR_XOR_MAPPED_ADDRESS, 8, v4_family3, 8);
    expect_malformed_attr(KG_STUN_ATTR_XOR_MAPPED_ADDRESS, 20, v4_long, 20);
    expect_malformed_attr(KG_STUN_ATTR_XOR_MAPPED_ADDRESS, 8, v6_short, 8);
    expect_malformed_attr(KG_STUN_ATTR_XOR_MAPPED_ADDRESS, 2, two, 2);
    expect_malformed_attr(KG_STUN_ATTR_XOR_MAPPED_ADDRESS, 0, NULL, 0);
}

static void test_error_code(void **state)
{
    (void)state;
    static const uint8_t class2[4] = {0, 0, 2, 0};
    static const uint8_t class7[4] = {0, 0, 7, 0};
    static const uint8_t num100[4] = {0, 0, 4, 100};
    static const uint8_t two[2] = {0, 0};
    uint8_t long_reason[4 + 764];
    memset(long_reason, 'a', sizeof(long_reason));
    long_reason[2] = 4;
    long_reason[3] = 0;
    expect_malformed_attr(KG_STUN_ATTR_ERROR_CODE, 4, class2, 4);
    expect_malformed_attr(KG_STUN_ATTR_ERROR_CODE, 4, class7, 4);
    expect_malformed_attr(KG_STUN_ATTR_ERROR_CODE, 4, num100, 4);
    expect_malformed_attr(KG_STUN_ATTR_ERROR_CODE, 2, two, 2);
    expect_malformed_attr(KG_STUN_ATTR_ERROR_CODE, sizeof(long_reason),
                          long_reason, sizeof(long_reason));

    /* The class bits are the low three of byte 2; the rest is reserved
     * and ignored. 0xf4 is class 4. */
    static const uint8_t e438[8] = {0, 0, 0xf4, 38, 'S', 't', 'a', 'l'};
    static const uint8_t e600[4] = {0, 0, 6, 0};
    tmsg t;
    kg_stun_msg m;
    tm_begin(&t, KG_STUN_BINDING_ERROR);
    tm_attr(&t, KG_STUN_ATTR_ERROR_CODE, e438, sizeof(e438));
    tm_attr(&t, KG_STUN_ATTR_ERROR_CODE, e600, sizeof(e600));
    assert_int_equal(tm_parse(&t, &m), 0);
    assert_int_equal(m.type, KG_STUN_BINDING_ERROR);
    assert_int_equal(m.error_code, 438); /* the first one counts */
}

static void test_nothing_after_fingerprint(void **state)
{
    (void)state;
    uint8_t b[sizeof(rfc_request) + 8];
    kg_stun_msg m;
    memcpy(b, rfc_request, sizeof(rfc_request));
    /* A PRIORITY after FINGERPRINT; the CRC still matches its own
     * prefix, so only the placement is wrong. */
    static const uint8_t prio[8] = {0x00, 0x24, 0x00, 0x04, 1, 2, 3, 4};
    memcpy(b + sizeof(rfc_request), prio, sizeof(prio));
    b[3] = 0x58 + 8;
    assert_int_equal(kg_stun_parse(b, sizeof(b), &m), KG_ERR_AUTH);
    /* Fix the CRC for the new length: now it is placement alone. */
    uint32_t crc = kg_crc32(b, RFC_REQUEST_FP_OFF) ^ 0x5354554eu;
    b[RFC_REQUEST_FP_OFF + 4] = (uint8_t)(crc >> 24);
    b[RFC_REQUEST_FP_OFF + 5] = (uint8_t)(crc >> 16);
    b[RFC_REQUEST_FP_OFF + 6] = (uint8_t)(crc >> 8);
    b[RFC_REQUEST_FP_OFF + 7] = (uint8_t)crc;
    assert_int_equal(kg_stun_parse(b, sizeof(b), &m), KG_ERR_MALFORMED);
}

/* Unknown attributes are skipped whether or not comprehension is
 * required; repeats keep the first; after MESSAGE-INTEGRITY only
 * FINGERPRINT counts; padding may be any bytes. */
static void test_unknown_duplicate_and_after_integrity(void **state)
{
    (void)state;
    static const uint8_t p1[4] = {0, 0, 0, 1}, p2[4] = {0, 0, 0, 2};
    static const uint8_t t1[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    static const uint8_t t2[8] = {8, 7, 6, 5, 4, 3, 2, 1};
    uint8_t mi[20] = {0}, user[508];
    memset(user, 'u', sizeof(user));
    user[3] = ':';
    tmsg t;
    kg_stun_msg m;
    tm_begin(&t, KG_STUN_BINDING_REQUEST);
    tm_attr(&t, 0x0003, "\0\0\0\0", 4); /* CHANGE-REQUEST: required */
    tm_attr(&t, 0x7fff, "xyz", 3);      /* unknown, required */
    tm_attr(&t, 0xc001, "q", 1);        /* unknown, optional */
    tm_attr(&t, KG_STUN_ATTR_SOFTWARE, "kaigi", 5);
    t.b[t.len - 1] = 0xee; /* non-zero padding */
    tm_attr(&t, KG_STUN_ATTR_MAPPED_ADDRESS, "\0\x01\0\x01\x7f\0\0\x01", 8);
    tm_attr(&t, KG_STUN_ATTR_USERNAME, user, sizeof(user));
    tm_attr(&t, KG_STUN_ATTR_USERNAME, "other:name", 10);
    tm_attr(&t, KG_STUN_ATTR_PRIORITY, p1, 4);
    tm_attr(&t, KG_STUN_ATTR_PRIORITY, p2, 4);
    tm_attr(&t, KG_STUN_ATTR_ICE_CONTROLLING, t1, 8);
    tm_attr(&t, KG_STUN_ATTR_ICE_CONTROLLING, t2, 8);
    tm_attr(&t, KG_STUN_ATTR_MESSAGE_INTEGRITY, mi, sizeof(mi));
    tm_attr(&t, KG_STUN_ATTR_USE_CANDIDATE, NULL, 0);
    tm_attr(&t, KG_STUN_ATTR_ICE_CONTROLLED, t2, 8);
    tm_attr(&t, 0x0001, "garbage!", 8);
    assert_int_equal(tm_parse(&t, &m), 0);
    assert_int_equal(m.username_len, sizeof(user));
    assert_memory_equal(m.username, user, sizeof(user));
    assert_true(m.has_priority);
    assert_int_equal(m.priority, 1);
    assert_true(m.ice_controlling);
    assert_true(m.tiebreaker == 0x0102030405060708ull);
    assert_true(m.has_integrity);
    /* After MESSAGE-INTEGRITY: ignored. */
    assert_false(m.use_candidate);
    assert_false(m.ice_controlled);
    assert_false(m.has_fingerprint);
    assert_false(m.has_xor_mapped);
}

/* --- Writers ---------------------------------------------------------- */

static void test_write_request_vector(void **state)
{
    (void)state;
    uint8_t b[200];
    kg_stun_request req = {
        .username = "evtj:h6vY",
        .key = pwd(),
        .keylen = strlen(rfc_pwd),
        .priority = 0x6e0001ffu,
        .controlling = false,
        .tiebreaker = 0x932ff9b151263b36ull,
        .use_candidate = false,
    };
    ssize_t n = kg_stun_write_binding_request(&req, rfc_txid, b, sizeof(b));
    assert_int_equal(n, sizeof(want_request));
    assert_memory_equal(b, want_request, sizeof(want_request));

    kg_stun_msg m;
    assert_int_equal(kg_stun_parse(b, (size_t)n, &m), 0);
    assert_true(m.has_fingerprint);
    assert_int_equal(kg_stun_check_integrity(b, (size_t)n, &m, pwd(),
                                             strlen(rfc_pwd)),
                     0);
    assert_int_equal(m.username_len, 9);
    assert_memory_equal(m.username, "evtj:h6vY", 9);
    assert_int_equal(m.priority, 0x6e0001ffu);
    assert_true(m.ice_controlled);
    assert_true(m.tiebreaker == 0x932ff9b151263b36ull);

    /* Every buffer too small by any amount. */
    for (size_t cap = 0; cap < sizeof(want_request); cap++)
        assert_int_equal(kg_stun_write_binding_request(&req, rfc_txid, b, cap),
                         KG_ERR_NOSPACE);
}

static void test_write_request_round_trip(void **state)
{
    (void)state;
    uint8_t b[700], txid[12];
    char user[509];
    memset(txid, 0x5a, sizeof(txid));
    memset(user, 'x', 508);
    user[508] = '\0';
    kg_stun_request req = {
        .username = user,
        .key = (const uint8_t *)"pass",
        .keylen = 4,
        .priority = 0x7effffffu,
        .controlling = true,
        .tiebreaker = 0xfedcba9876543210ull,
        .use_candidate = true,
    };
    ssize_t n = kg_stun_write_binding_request(&req, txid, b, sizeof(b));
    assert_true(n > 0);
    assert_true(kg_stun_is(b, (size_t)n));
    kg_stun_msg m;
    assert_int_equal(kg_stun_parse(b, (size_t)n, &m), 0);
    assert_memory_equal(m.txid, txid, 12);
    assert_int_equal(m.username_len, 508);
    assert_memory_equal(m.username, user, 508);
    assert_int_equal(m.priority, 0x7effffffu);
    assert_true(m.ice_controlling);
    assert_false(m.ice_controlled);
    assert_true(m.tiebreaker == 0xfedcba9876543210ull);
    assert_true(m.use_candidate);
    assert_true(m.has_fingerprint);
    assert_int_equal(
        kg_stun_check_integrity(b, (size_t)n, &m, (const uint8_t *)"pass", 4),
        0);
    assert_int_equal(
        kg_stun_check_integrity(b, (size_t)n, &m, (const uint8_t *)"pasS", 4),
        KG_ERR_AUTH);

    /* Bad arguments. */
    char longer[510];
    memset(longer, 'x', 509);
    longer[509] = '\0';
    req.username = longer;
    assert_int_equal(kg_stun_write_binding_request(&req, txid, b, sizeof(b)),
                     KG_ERR_INVAL);
    req.username = "";
    assert_int_equal(kg_stun_write_binding_request(&req, txid, b, sizeof(b)),
                     KG_ERR_INVAL);
    req.username = NULL;
    assert_int_equal(kg_stun_write_binding_request(&req, txid, b, sizeof(b)),
                     KG_ERR_INVAL);
    req.username = "a:b";
    req.keylen = 0;
    assert_int_equal(kg_stun_write_binding_request(&req, txid, b, sizeof(b)),
                     KG_ERR_INVAL);
    req.keylen = 4;
    assert_int_equal(kg_stun_write_binding_request(NULL, txid, b, sizeof(b)),
                     KG_ERR_INVAL);
    assert_int_equal(kg_stun_write_binding_request(&req, NULL, b, sizeof(b)),
                     KG_ERR_INVAL);
}

static void check_success(const struct sockaddr *addr, const uint8_t *want,
                          size_t wantlen)
{
    uint8_t b[200];
    ssize_t n = kg_stun_write_binding_success(rfc_txid, addr, pwd(),
                                              strlen(rfc_pwd), b, sizeof(b));
    assert_int_equal(n, wantlen);
    assert_memory_equal(b, want, wantlen);
    for (size_t cap = 0; cap < wantlen; cap++)
        assert_int_equal(kg_stun_write_binding_success(rfc_txid, addr, pwd(),
                                                       strlen(rfc_pwd), b,
                                                       cap),
                         KG_ERR_NOSPACE);
}

static void test_write_success_vectors(void **state)
{
    (void)state;
    struct sockaddr_in sin;
    struct sockaddr_in6 sin6;
    make_v4(&sin, "192.0.2.1", 32853);
    make_v6(&sin6, "2001:db8:1234:5678:11:2233:4455:6677", 32853);
    check_success((const struct sockaddr *)&sin, want_success_v4,
                  sizeof(want_success_v4));
    check_success((const struct sockaddr *)&sin6, want_success_v6,
                  sizeof(want_success_v6));
}

/* Loopback addresses, as the ICE tests use: write, parse, compare. */
static void test_write_success_round_trip(void **state)
{
    (void)state;
    struct sockaddr_in sin;
    struct sockaddr_in6 sin6;
    uint8_t b[200], txid[12];
    kg_stun_msg m;
    memset(txid, 0xa5, sizeof(txid));
    make_v4(&sin, "127.0.0.1", 50000);
    make_v6(&sin6, "::1", 1);

    ssize_t n = kg_stun_write_binding_success(
        txid, (const struct sockaddr *)&sin, (const uint8_t *)"k", 1, b,
        sizeof(b));
    assert_true(n > 0);
    assert_int_equal(kg_stun_parse(b, (size_t)n, &m), 0);
    assert_int_equal(m.type, KG_STUN_BINDING_SUCCESS);
    assert_true(m.has_xor_mapped);
    assert_memory_equal(&m.xor_mapped, &sin, sizeof(sin));
    assert_int_equal(
        kg_stun_check_integrity(b, (size_t)n, &m, (const uint8_t *)"k", 1), 0);

    n = kg_stun_write_binding_success(txid, (const struct sockaddr *)&sin6,
                                      (const uint8_t *)"k", 1, b, sizeof(b));
    assert_true(n > 0);
    assert_int_equal(kg_stun_parse(b, (size_t)n, &m), 0);
    assert_memory_equal(&m.xor_mapped, &sin6, sizeof(sin6));

    struct sockaddr_un sun;
    memset(&sun, 0, sizeof(sun));
    sun.sun_family = AF_UNIX;
    assert_int_equal(kg_stun_write_binding_success(
                         txid, (const struct sockaddr *)&sun,
                         (const uint8_t *)"k", 1, b, sizeof(b)),
                     KG_ERR_INVAL);
    assert_int_equal(kg_stun_write_binding_success(
                         txid, (const struct sockaddr *)&sin, NULL, 0, b,
                         sizeof(b)),
                     KG_ERR_INVAL);
    assert_int_equal(kg_stun_write_binding_success(
                         txid, NULL, (const uint8_t *)"k", 1, b, sizeof(b)),
                     KG_ERR_INVAL);
}

static void test_write_error(void **state)
{
    (void)state;
    uint8_t b[200];
    kg_stun_msg m;
    ssize_t n = kg_stun_write_binding_error(rfc_txid, 487, b, sizeof(b));
    assert_int_equal(n, sizeof(want_error_487));
    assert_memory_equal(b, want_error_487, sizeof(want_error_487));
    assert_int_equal(kg_stun_parse(b, (size_t)n, &m), 0);
    assert_int_equal(m.type, KG_STUN_BINDING_ERROR);
    assert_int_equal(m.error_code, 487);
    assert_false(m.has_integrity);
    assert_true(m.has_fingerprint);
    for (size_t cap = 0; cap < sizeof(want_error_487); cap++)
        assert_int_equal(kg_stun_write_binding_error(rfc_txid, 487, b, cap),
                         KG_ERR_NOSPACE);

    /* With integrity. */
    n = kg_stun_write_binding_error_auth(rfc_txid, 400, pwd(),
                                         strlen(rfc_pwd), b, sizeof(b));
    assert_true(n > 0);
    assert_int_equal(kg_stun_parse(b, (size_t)n, &m), 0);
    assert_int_equal(m.error_code, 400);
    assert_true(m.has_integrity);
    assert_int_equal(kg_stun_check_integrity(b, (size_t)n, &m, pwd(),
                                             strlen(rfc_pwd)),
                     0);
    for (size_t cap = 0; cap < (size_t)n; cap++)
        assert_int_equal(kg_stun_write_binding_error_auth(
                             rfc_txid, 400, pwd(), strlen(rfc_pwd), b, cap),
                         KG_ERR_NOSPACE);

    /* A code with no phrase of ours still round-trips. */
    n = kg_stun_write_binding_error(rfc_txid, 699, b, sizeof(b));
    assert_true(n > 0);
    assert_int_equal(kg_stun_parse(b, (size_t)n, &m), 0);
    assert_int_equal(m.error_code, 699);

    assert_int_equal(kg_stun_write_binding_error(rfc_txid, 299, b, sizeof(b)),
                     KG_ERR_INVAL);
    assert_int_equal(kg_stun_write_binding_error(rfc_txid, 700, b, sizeof(b)),
                     KG_ERR_INVAL);
    assert_int_equal(kg_stun_write_binding_error(NULL, 400, b, sizeof(b)),
                     KG_ERR_INVAL);
    assert_int_equal(kg_stun_write_binding_error_auth(rfc_txid, 400, NULL, 0,
                                                      b, sizeof(b)),
                     KG_ERR_INVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crc32_check_value),
        cmocka_unit_test(test_rfc5769_request),
        cmocka_unit_test(test_rfc5769_ipv4_response),
        cmocka_unit_test(test_rfc5769_ipv6_response),
        cmocka_unit_test(test_rfc5769_long_term),
        cmocka_unit_test(test_truncated_every_length),
        cmocka_unit_test(test_length_cut_at_every_attribute),
        cmocka_unit_test(test_flip_breaks_fingerprint),
        cmocka_unit_test(test_flip_breaks_integrity),
        cmocka_unit_test(test_bad_headers),
        cmocka_unit_test(test_bad_attribute_lengths),
        cmocka_unit_test(test_bad_xor_mapped),
        cmocka_unit_test(test_error_code),
        cmocka_unit_test(test_nothing_after_fingerprint),
        cmocka_unit_test(test_unknown_duplicate_and_after_integrity),
        cmocka_unit_test(test_write_request_vector),
        cmocka_unit_test(test_write_request_round_trip),
        cmocka_unit_test(test_write_success_vectors),
        cmocka_unit_test(test_write_success_round_trip),
        cmocka_unit_test(test_write_error),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
