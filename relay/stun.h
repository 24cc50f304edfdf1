/* STUN (RFC 8489) for ICE: parse, MESSAGE-INTEGRITY (HMAC-SHA1, short-term
 * credentials), FINGERPRINT (CRC-32 ^ 0x5354554e), and the Binding
 * request/response writers ICE needs (RFC 8445). */
#ifndef KG_STUN_H
#define KG_STUN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#define KG_STUN_HEADER_LEN 20
#define KG_STUN_MAGIC 0x2112A442u

enum {
    KG_STUN_BINDING_REQUEST = 0x0001,
    KG_STUN_BINDING_INDICATION = 0x0011,
    KG_STUN_BINDING_SUCCESS = 0x0101,
    KG_STUN_BINDING_ERROR = 0x0111,
};

enum {
    KG_STUN_ATTR_MAPPED_ADDRESS = 0x0001,
    KG_STUN_ATTR_USERNAME = 0x0006,
    KG_STUN_ATTR_MESSAGE_INTEGRITY = 0x0008,
    KG_STUN_ATTR_ERROR_CODE = 0x0009,
    KG_STUN_ATTR_XOR_MAPPED_ADDRESS = 0x0020,
    KG_STUN_ATTR_PRIORITY = 0x0024,
    KG_STUN_ATTR_USE_CANDIDATE = 0x0025,
    KG_STUN_ATTR_SOFTWARE = 0x8022,
    KG_STUN_ATTR_FINGERPRINT = 0x8028,
    KG_STUN_ATTR_ICE_CONTROLLED = 0x8029,
    KG_STUN_ATTR_ICE_CONTROLLING = 0x802A,
};

typedef struct kg_stun_msg {
    uint16_t type;
    uint16_t length; /* body length from the header */
    uint8_t txid[12];
    const uint8_t *username; /* view, not NUL-terminated; NULL if absent */
    size_t username_len;
    bool has_integrity;
    size_t integrity_off; /* offset of the MESSAGE-INTEGRITY attribute */
    bool has_fingerprint; /* present and verified by kg_stun_parse */
    bool use_candidate;
    bool has_priority;
    uint32_t priority;
    bool ice_controlling;
    bool ice_controlled;
    uint64_t tiebreaker;
    bool has_xor_mapped;
    struct sockaddr_storage xor_mapped;
    uint16_t error_code; /* 0 if no ERROR-CODE */
} kg_stun_msg;

/* True when buf looks like STUN: first two bits zero, magic cookie, length
 * a multiple of 4 that matches len. Cheap; for demux. */
bool kg_stun_is(const uint8_t *buf, size_t len);

/* Parses a STUN message. Checks the header, every attribute's length, and
 * FINGERPRINT if present (KG_ERR_AUTH if wrong). Attributes after
 * MESSAGE-INTEGRITY other than FINGERPRINT are ignored, as RFC 8489 says.
 * Returns 0, KG_ERR_TRUNC, KG_ERR_MALFORMED or KG_ERR_AUTH.
 *
 * Details: len shorter than the header or than the header's length field
 * is KG_ERR_TRUNC; bytes past the declared length, a length that is not a
 * multiple of 4, an attribute that overruns the message, a known attribute
 * with a wrong length (USERNAME over 508 bytes, MESSAGE-INTEGRITY not 20,
 * an XOR-MAPPED-ADDRESS family other than IPv4/IPv6, an ERROR-CODE class
 * outside 3..6 or number over 99) or anything after FINGERPRINT is
 * KG_ERR_MALFORMED. Padding bytes may hold anything (RFC 5769 pads with
 * spaces). When an attribute repeats, the first one counts. Unknown
 * attributes are skipped whether comprehension-optional (>= 0x8000) or
 * comprehension-required: ICE needs none of them, and answering 420
 * Unknown Attribute would only help a prober; a caller that cares can walk
 * the attributes itself. */
int kg_stun_parse(const uint8_t *buf, size_t len, kg_stun_msg *out);

/* Verifies MESSAGE-INTEGRITY of a parsed message against key (the ICE
 * password for short-term credentials), comparing in constant time.
 * msg must come from kg_stun_parse(buf, len). An empty or NULL key never
 * authenticates. Returns 0, KG_ERR_AUTH (wrong or absent), or
 * KG_ERR_CRYPTO. */
int kg_stun_check_integrity(const uint8_t *buf, size_t len,
                            const kg_stun_msg *msg, const uint8_t *key,
                            size_t keylen);

/* Writes a Binding success response to txid carrying XOR-MAPPED-ADDRESS
 * (addr, IPv4 or IPv6), MESSAGE-INTEGRITY with key, and FINGERPRINT.
 * Returns bytes written or KG_ERR_NOSPACE / KG_ERR_INVAL. */
ssize_t kg_stun_write_binding_success(const uint8_t txid[12],
                                      const struct sockaddr *addr,
                                      const uint8_t *key, size_t keylen,
                                      uint8_t *buf, size_t cap);

/* Writes a Binding error response (code, e.g. 400, 401, 487) with
 * FINGERPRINT, no integrity. Returns bytes written or an error
 * (KG_ERR_INVAL for a code outside 300..699, KG_ERR_NOSPACE). */
ssize_t kg_stun_write_binding_error(const uint8_t txid[12], uint16_t code,
                                    uint8_t *buf, size_t cap);

/* As kg_stun_write_binding_error, plus MESSAGE-INTEGRITY with key before
 * FINGERPRINT: the answer to a request that did authenticate (487 Role
 * Conflict from ICE), which RFC 8489 section 6.3.4 says carries integrity
 * so the requester can trust it. Returns bytes written, KG_ERR_INVAL
 * (code outside 300..699, no key), KG_ERR_NOSPACE or KG_ERR_CRYPTO. */
ssize_t kg_stun_write_binding_error_auth(const uint8_t txid[12],
                                         uint16_t code, const uint8_t *key,
                                         size_t keylen, uint8_t *buf,
                                         size_t cap);

typedef struct kg_stun_request {
    const char *username; /* "remoteufrag:localufrag", NUL-terminated */
    const uint8_t *key;   /* remote ICE password */
    size_t keylen;
    uint32_t priority;
    bool controlling;
    uint64_t tiebreaker;
    bool use_candidate;
} kg_stun_request;

/* Writes a Binding request with USERNAME, PRIORITY, ICE-CONTROLLING or
 * ICE-CONTROLLED, USE-CANDIDATE if asked, MESSAGE-INTEGRITY and
 * FINGERPRINT. txid is the caller's (random) transaction ID.
 * Returns bytes written or an error (KG_ERR_INVAL for a missing, empty or
 * over-508-byte username or an empty key; KG_ERR_NOSPACE, KG_ERR_CRYPTO). */
ssize_t kg_stun_write_binding_request(const kg_stun_request *req,
                                      const uint8_t txid[12], uint8_t *buf,
                                      size_t cap);

/* CRC-32 (ISO-HDLC, as zlib) of len bytes. */
uint32_t kg_crc32(const uint8_t *buf, size_t len);

#endif
