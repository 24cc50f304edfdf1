/* DTLS 1.2 for DTLS-SRTP on OpenSSL 3.0, with no I/O and no clock.
 *
 * Incoming datagrams go into a memory BIO. Outgoing records go to a
 * small BIO of our own that keeps datagram boundaries: OpenSSL's DTLS
 * code packs records into a datagram up to the MTU and flushes, so one
 * write is at most one datagram, whereas a memory BIO would glue a whole
 * flight into one oversized blob (BIO_s_dgram_pair is 3.2+).
 */
#include "crypto/dtls.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "crypto/cert_internal.h"
#include "crypto/hmac.h"
#include "crypto/random.h"

/* Largest datagram we emit: fits a 1280-byte IPv6 minimum MTU with room
 * for UDP/IP headers and a TURN channel header. */
#define DTLS_MTU 1200
/* Outgoing datagrams kept until pulled; beyond this they are dropped
 * (like a full socket buffer) and retransmission recovers. */
#define OUT_QUEUE_MAX 64
#define COOKIE_LEN 32
#define COOKIE_PEER_MAX 128
#define FP_CHARS (KG_DTLS_FINGERPRINT_LEN - 1)

/* Retransmission schedule. 100 ms is a compromise: RFC 6347 says 1 s,
 * which makes one lost packet cost a second of call setup; WebRTC stacks
 * start around 50 ms and rely on backoff for long paths. Doubling to a
 * 6.4 s cap and giving up 30 s after a flight was first sent makes 10
 * sends of a flight, under OpenSSL's own limit of 12. */
#define RTO_INITIAL (100 * KG_MS)
#define RTO_MAX (6400 * KG_MS)
#define HANDSHAKE_BUDGET (30 * KG_SEC)

struct kg_dtls_ctx {
    SSL_CTX *ssl_ctx;
    enum kg_dtls_role role;
    uint8_t cookie_secret[KG_SHA256_LEN];
};

struct dgram {
    struct dgram *next;
    size_t len;
    uint8_t data[];
};

struct kg_dtls {
    kg_dtls_ctx *ctx;
    SSL *ssl;
    BIO *rbio; /* owned by ssl */
    enum kg_dtls_state state;
    int err; /* why FAILED */
    bool fp_mismatch;
    char remote_fp[KG_DTLS_FINGERPRINT_LEN]; /* upper-case */
    uint8_t cookie_peer[COOKIE_PEER_MAX];
    size_t cookie_peer_len;
    struct dgram *out_head, **out_tail, *out_last;
    size_t out_count;
    kg_time now;          /* last time a caller gave us */
    kg_time deadline;     /* next retransmission, KG_TIME_NEVER if none */
    kg_time flight_start; /* first send of the current flight */
    kg_time rto;
    kg_srtp_profile profile;
    /* Server: the SRTP profile IDs (RFC 5764 4.1.2) of the peer's last
     * ClientHello, in its order; n_offered < 0: no use_srtp at all. */
    uint16_t offered[KG_DTLS_MAX_OFFERED];
    int n_offered;
};

/* ---- the datagram-preserving write BIO ---- */

static int qbio_write(BIO *b, const char *data, int len)
{
    kg_dtls *d = BIO_get_data(b);
    if (len <= 0)
        return 0;
    size_t n = (size_t)len;
    /* OpenSSL writes whole records, and when it retransmits it flushes
     * after every message, which would make a five-message flight five
     * datagrams (five chances to lose it). Records are self-delimiting
     * and RFC 6347 4.1.1 allows several in one datagram, so pack them
     * into the newest unsent datagram while they fit in the MTU. */
    struct dgram *last = d->out_head ? d->out_last : NULL;
    if (last && last->len + n <= DTLS_MTU) {
        memcpy(last->data + last->len, data, n);
        last->len += n;
        return len;
    }
    if (d->out_count >= OUT_QUEUE_MAX)
        return len; /* dropped, as a full socket buffer would */
    struct dgram *g = malloc(sizeof(*g) + (n > DTLS_MTU ? n : DTLS_MTU));
    if (!g)
        return len;
    g->next = NULL;
    g->len = n;
    memcpy(g->data, data, n);
    *d->out_tail = g;
    d->out_tail = &g->next;
    d->out_last = g;
    d->out_count++;
    return len;
}

/* The controls OpenSSL's DTLS code sends to its write BIO. Nothing is
 * ever pending (each write is already a datagram), the MTU is fixed and
 * the peer address is the caller's business. */
static long qbio_ctrl(BIO *b, int cmd, long num, void *ptr)
{
    (void)b;
    (void)num;
    (void)ptr;
    switch (cmd) {
    case BIO_CTRL_FLUSH:
        return 1;
    case BIO_CTRL_DGRAM_QUERY_MTU:
    case BIO_CTRL_DGRAM_GET_FALLBACK_MTU:
        return DTLS_MTU;
    case BIO_CTRL_WPENDING:
    case BIO_CTRL_PENDING:
    case BIO_CTRL_DGRAM_GET_MTU_OVERHEAD:
    case BIO_CTRL_DGRAM_MTU_EXCEEDED:
    case BIO_CTRL_DGRAM_SET_NEXT_TIMEOUT:
    case BIO_CTRL_DGRAM_GET_PEER:
    default:
        return 0;
    }
}

static int qbio_create(BIO *b)
{
    BIO_set_init(b, 1);
    return 1;
}

static int qbio_destroy(BIO *b)
{
    BIO_set_data(b, NULL);
    return 1;
}

static BIO_METHOD *qbio_method;

static void qbio_method_init(void)
{
    BIO_METHOD *m =
        BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "kg-dgram");
    if (m && BIO_meth_set_write(m, qbio_write) &&
        BIO_meth_set_ctrl(m, qbio_ctrl) &&
        BIO_meth_set_create(m, qbio_create) &&
        BIO_meth_set_destroy(m, qbio_destroy))
        qbio_method = m;
    else
        BIO_meth_free(m);
}

static BIO_METHOD *get_qbio_method(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, qbio_method_init);
    return qbio_method;
}

/* ---- OpenSSL callbacks ---- */

static int make_cookie(SSL *ssl, uint8_t out[KG_SHA256_LEN])
{
    const kg_dtls *d = SSL_get_app_data(ssl);
    return kg_hmac_sha256(d->ctx->cookie_secret, sizeof(d->ctx->cookie_secret),
                          d->cookie_peer, d->cookie_peer_len, NULL, 0, out);
}

static int cookie_generate_cb(SSL *ssl, unsigned char *cookie,
                              unsigned int *len)
{
    uint8_t mac[KG_SHA256_LEN];
    if (make_cookie(ssl, mac) != 0)
        return 0;
    memcpy(cookie, mac, COOKIE_LEN);
    *len = COOKIE_LEN;
    OPENSSL_cleanse(mac, sizeof(mac));
    return 1;
}

static int cookie_verify_cb(SSL *ssl, const unsigned char *cookie,
                            unsigned int len)
{
    uint8_t mac[KG_SHA256_LEN];
    if (len != COOKIE_LEN || make_cookie(ssl, mac) != 0)
        return 0;
    bool ok = kg_ct_equal(mac, cookie, COOKIE_LEN);
    OPENSSL_cleanse(mac, sizeof(mac));
    return ok ? 1 : 0;
}

static bool fingerprint_matches(kg_dtls *d, X509 *x)
{
    char fp[KG_DTLS_FINGERPRINT_LEN];
    if (!x || kg_cert_fingerprint(x, fp) != 0)
        return false;
    return kg_ct_equal(fp, d->remote_fp, FP_CHARS);
}

/* WebRTC certificates are self-signed and authenticated by the
 * fingerprint in the signalled SDP, not by a CA: accept any chain, but
 * pin the leaf here so that a mismatch aborts the handshake with an
 * alert (and is checked once more when the handshake completes). */
static int verify_cb(int preverify_ok, X509_STORE_CTX *xs)
{
    (void)preverify_ok;
    if (X509_STORE_CTX_get_error_depth(xs) != 0)
        return 1;
    SSL *ssl = X509_STORE_CTX_get_ex_data(
        xs, SSL_get_ex_data_X509_STORE_CTX_idx());
    kg_dtls *d = ssl ? SSL_get_app_data(ssl) : NULL;
    if (!d)
        return 0;
    if (!fingerprint_matches(d, X509_STORE_CTX_get_current_cert(xs))) {
        d->fp_mismatch = true;
        return 0;
    }
    return 1;
}

/* OpenSSL calls this with 0 when a flight starts its timer and with the
 * previous duration when its timer fired and it retransmits (from
 * DTLSv1_handle_timeout, or by itself when it reads with an expired
 * timer). Our schedule lives here so both paths follow it. */
static unsigned int timer_cb(SSL *ssl, unsigned int prev_us)
{
    kg_dtls *d = SSL_get_app_data(ssl);
    if (prev_us == 0) {
        d->rto = RTO_INITIAL;
        d->flight_start = d->now;
    } else {
        d->rto = d->rto * 2 > RTO_MAX ? RTO_MAX : d->rto * 2;
    }
    d->deadline = d->now + d->rto;
    return (unsigned int)(d->rto / 1000);
}

/* ---- context ---- */

static const char *profile_openssl_name(kg_srtp_profile p)
{
    switch (p) {
    case KG_SRTP_AEAD_AES_256_GCM:
        return "SRTP_AEAD_AES_256_GCM";
    case KG_SRTP_AEAD_AES_128_GCM:
        return "SRTP_AEAD_AES_128_GCM";
    case KG_SRTP_AES128_CM_SHA1_80:
        return "SRTP_AES128_CM_SHA1_80";
    case KG_SRTP_NONE:
    default:
        return NULL;
    }
}

static int set_profiles(SSL_CTX *c, const kg_srtp_profile *profiles, size_t n)
{
    char list[128] = "";
    if (n == 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        const char *name = profile_openssl_name(profiles[i]);
        if (!name || strlen(list) + strlen(name) + 2 > sizeof(list))
            return -1;
        if (i)
            strcat(list, ":");
        strcat(list, name);
    }
    /* Returns 0 on success, unlike most of OpenSSL. */
    return SSL_CTX_set_tlsext_use_srtp(c, list) == 0 ? 0 : -1;
}

/* Server: keeps the SRTP profiles the ClientHello offers, so that a
 * handshake that finds none in common can say what the client wanted.
 * use_srtp (RFC 5764 4.1.1): uint16 length, then 2-byte profile IDs,
 * then the MKI. Never refuses the hello: OpenSSL decides. */
static int client_hello_cb(SSL *ssl, int *alert, void *arg)
{
    (void)alert, (void)arg;
    kg_dtls *d = SSL_get_app_data(ssl);
    const unsigned char *ext;
    size_t len;
    if (!d)
        return SSL_CLIENT_HELLO_SUCCESS;
    d->n_offered = -1;
    if (!SSL_client_hello_get0_ext(ssl, TLSEXT_TYPE_use_srtp, &ext, &len) ||
        len < 2)
        return SSL_CLIENT_HELLO_SUCCESS;
    size_t list = (size_t)ext[0] << 8 | ext[1];
    if (list % 2 || list > len - 2)
        return SSL_CLIENT_HELLO_SUCCESS;
    d->n_offered = 0;
    for (size_t i = 0; i < list / 2 && i < KG_DTLS_MAX_OFFERED; i++)
        d->offered[d->n_offered++] =
            (uint16_t)(ext[2 + 2 * i] << 8 | ext[3 + 2 * i]);
    return SSL_CLIENT_HELLO_SUCCESS;
}

static SSL_CTX *make_ssl_ctx(const kg_dtls_cert *cert, enum kg_dtls_role role)
{
    SSL_CTX *c = SSL_CTX_new(DTLS_method());
    if (!c)
        return NULL;
    uint64_t opts = SSL_OP_NO_QUERY_MTU | SSL_OP_NO_TICKET |
                    SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE;
    if (role == KG_DTLS_SERVER) {
        opts |= SSL_OP_COOKIE_EXCHANGE;
        SSL_CTX_set_client_hello_cb(c, client_hello_cb, NULL);
    }
    SSL_CTX_set_options(c, opts);
    SSL_CTX_set_session_cache_mode(c, SSL_SESS_CACHE_OFF);
    /* After the handshake a session is idle (media goes through SRTP,
     * not DTLS): let OpenSSL free its record buffers meanwhile instead of
     * holding tens of kB per transport. */
    SSL_CTX_set_mode(c, SSL_MODE_RELEASE_BUFFERS);
    SSL_CTX_set_verify(c, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT,
                       verify_cb);
    SSL_CTX_set_cookie_generate_cb(c, cookie_generate_cb);
    SSL_CTX_set_cookie_verify_cb(c, cookie_verify_cb);
    /* read_ahead needs no setting: DTLS always reads a whole datagram,
     * and the memory BIO holds exactly one. */
    if (!SSL_CTX_set_min_proto_version(c, DTLS1_2_VERSION) ||
        !SSL_CTX_set_max_proto_version(c, DTLS1_2_VERSION) ||
        !SSL_CTX_set_cipher_list(c, "ECDHE-ECDSA-AES128-GCM-SHA256:"
                                    "ECDHE-ECDSA-AES256-GCM-SHA384:"
                                    "ECDHE-ECDSA-CHACHA20-POLY1305") ||
        !SSL_CTX_set1_groups_list(c, "X25519:P-256") ||
        SSL_CTX_use_certificate(c, cert->x509) != 1 ||
        SSL_CTX_use_PrivateKey(c, cert->pkey) != 1 ||
        SSL_CTX_check_private_key(c) != 1) {
        SSL_CTX_free(c);
        return NULL;
    }
    return c;
}

kg_dtls_ctx *kg_dtls_ctx_new_profiles(const kg_dtls_cert *cert,
                                      enum kg_dtls_role role,
                                      const kg_srtp_profile *profiles,
                                      size_t n)
{
    if (!cert || (role != KG_DTLS_SERVER && role != KG_DTLS_CLIENT))
        return NULL;
    kg_dtls_ctx *ctx = calloc(1, sizeof(*ctx));
    if (!ctx)
        return NULL;
    ctx->role = role;
    ctx->ssl_ctx = make_ssl_ctx(cert, role);
    if (!ctx->ssl_ctx || set_profiles(ctx->ssl_ctx, profiles, n) != 0 ||
        kg_random_bytes(ctx->cookie_secret, sizeof(ctx->cookie_secret)) != 0 ||
        !get_qbio_method()) {
        ERR_clear_error();
        kg_dtls_ctx_del(ctx);
        return NULL;
    }
    return ctx;
}

kg_dtls_ctx *kg_dtls_ctx_new(const kg_dtls_cert *cert, enum kg_dtls_role role,
                             unsigned flags)
{
    static const kg_srtp_profile profiles[] = {
        KG_SRTP_AEAD_AES_256_GCM,
        KG_SRTP_AEAD_AES_128_GCM,
        KG_SRTP_AES128_CM_SHA1_80,
    };
    size_t n = (flags & KG_DTLS_ALLOW_LEGACY_SRTP) ? 3 : 2;
    return kg_dtls_ctx_new_profiles(cert, role, profiles, n);
}

void kg_dtls_ctx_del(kg_dtls_ctx *ctx)
{
    if (!ctx)
        return;
    SSL_CTX_free(ctx->ssl_ctx);
    OPENSSL_cleanse(ctx->cookie_secret, sizeof(ctx->cookie_secret));
    free(ctx);
}

/* ---- session ---- */

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Checks "XX:XX:...:XX" (32 pairs) and stores it upper-cased so that
 * the comparison with our own upper-case hex is a plain memcmp. */
static int parse_fingerprint(const char *in, char out[KG_DTLS_FINGERPRINT_LEN])
{
    static const char hex[] = "0123456789ABCDEF";
    if (!in || strlen(in) != FP_CHARS)
        return -1;
    for (size_t i = 0; i < FP_CHARS; i++) {
        if (i % 3 == 2) {
            if (in[i] != ':')
                return -1;
            out[i] = ':';
            continue;
        }
        int v = hexval(in[i]);
        if (v < 0)
            return -1;
        out[i] = hex[v];
    }
    out[FP_CHARS] = '\0';
    return 0;
}

kg_dtls *kg_dtls_new(kg_dtls_ctx *ctx, const char *remote_fp,
                     const void *cookie_peer, size_t cookie_peer_len,
                     kg_time now)
{
    if (!ctx || cookie_peer_len > COOKIE_PEER_MAX ||
        (cookie_peer_len && !cookie_peer))
        return NULL;
    kg_dtls *d = calloc(1, sizeof(*d));
    if (!d)
        return NULL;
    d->ctx = ctx;
    d->out_tail = &d->out_head;
    d->now = now;
    d->deadline = KG_TIME_NEVER;
    d->rto = RTO_INITIAL;
    d->state = KG_DTLS_HANDSHAKING;
    if (cookie_peer_len)
        memcpy(d->cookie_peer, cookie_peer, cookie_peer_len);
    d->cookie_peer_len = cookie_peer_len;
    if (parse_fingerprint(remote_fp, d->remote_fp) != 0)
        goto fail;
    d->ssl = SSL_new(ctx->ssl_ctx);
    if (!d->ssl)
        goto fail;
    SSL_set_app_data(d->ssl, d);
    d->rbio = BIO_new(BIO_s_mem());
    BIO *wbio = BIO_new(get_qbio_method());
    if (!d->rbio || !wbio) {
        BIO_free(d->rbio);
        BIO_free(wbio);
        goto fail;
    }
    BIO_set_mem_eof_return(d->rbio, -1); /* empty means "retry" */
    BIO_set_data(wbio, d);
    SSL_set_bio(d->ssl, d->rbio, wbio);
    if (!SSL_set_mtu(d->ssl, DTLS_MTU))
        goto fail;
    DTLS_set_timer_cb(d->ssl, timer_cb);
    if (ctx->role == KG_DTLS_SERVER)
        SSL_set_accept_state(d->ssl);
    else
        SSL_set_connect_state(d->ssl);
    return d;
fail:
    ERR_clear_error();
    kg_dtls_del(d);
    return NULL;
}

static void drop_queue(kg_dtls *d)
{
    while (d->out_head) {
        struct dgram *g = d->out_head;
        d->out_head = g->next;
        free(g);
    }
    d->out_tail = &d->out_head;
    d->out_count = 0;
}

void kg_dtls_del(kg_dtls *d)
{
    if (!d)
        return;
    SSL_free(d->ssl); /* frees both BIOs */
    drop_queue(d);
    free(d);
}

static int fail(kg_dtls *d, int err)
{
    d->state = KG_DTLS_FAILED;
    d->err = err;
    d->deadline = KG_TIME_NEVER;
    ERR_clear_error();
    return err;
}

static kg_srtp_profile selected_profile(SSL *ssl)
{
    const SRTP_PROTECTION_PROFILE *p = SSL_get_selected_srtp_profile(ssl);
    if (!p)
        return KG_SRTP_NONE;
    switch (p->id) {
    case SRTP_AEAD_AES_256_GCM:
        return KG_SRTP_AEAD_AES_256_GCM;
    case SRTP_AEAD_AES_128_GCM:
        return KG_SRTP_AEAD_AES_128_GCM;
    case SRTP_AES128_CM_SHA1_80:
        return KG_SRTP_AES128_CM_SHA1_80;
    default:
        return KG_SRTP_NONE;
    }
}

/* The handshake finished: the peer must have shown the certificate its
 * SDP promised, and agreed on an SRTP profile (OpenSSL completes a
 * handshake without use_srtp if there is no common profile). */
static int handshake_done(kg_dtls *d)
{
    if (!fingerprint_matches(d, SSL_get0_peer_certificate(d->ssl)))
        return fail(d, KG_ERR_FINGERPRINT);
    d->profile = selected_profile(d->ssl);
    if (d->profile == KG_SRTP_NONE)
        return fail(d, KG_ERR_SRTP_PROFILE);
    d->state = KG_DTLS_CONNECTED;
    d->deadline = KG_TIME_NEVER;
    return 0;
}

/* Maps the result of an SSL_* call that returned r <= 0. */
static int ssl_result(kg_dtls *d, int r)
{
    switch (SSL_get_error(d->ssl, r)) {
    case SSL_ERROR_WANT_READ:
    case SSL_ERROR_WANT_WRITE:
        ERR_clear_error();
        return 0;
    case SSL_ERROR_ZERO_RETURN:
        d->state = KG_DTLS_CLOSED;
        d->deadline = KG_TIME_NEVER;
        ERR_clear_error();
        return KG_ERR_CLOSED;
    default:
        return fail(d, d->fp_mismatch ? KG_ERR_FINGERPRINT : KG_ERR_CRYPTO);
    }
}

static int drive_handshake(kg_dtls *d)
{
    ERR_clear_error();
    int r = SSL_do_handshake(d->ssl);
    if (r == 1)
        return handshake_done(d);
    return ssl_result(d, r);
}

/* After the handshake: read everything (retransmitted Finished makes
 * OpenSSL resend its last flight; close_notify closes) and discard any
 * application data. */
static int drain_records(kg_dtls *d)
{
    uint8_t sink[2048];
    for (;;) {
        ERR_clear_error();
        int r = SSL_read(d->ssl, sink, sizeof(sink));
        if (r <= 0)
            return ssl_result(d, r);
    }
}

static void update_deadline(kg_dtls *d)
{
    struct timeval tv;
    /* The deadline itself is set by timer_cb; here we only notice that
     * OpenSSL stopped its timer (the peer's next flight arrived). */
    if (d->state != KG_DTLS_HANDSHAKING || DTLSv1_get_timeout(d->ssl, &tv) != 1)
        d->deadline = KG_TIME_NEVER;
}

static int finished_call(kg_dtls *d, int rc)
{
    update_deadline(d);
    return rc;
}

int kg_dtls_start(kg_dtls *d, kg_time now)
{
    d->now = now;
    if (d->state != KG_DTLS_HANDSHAKING)
        return d->state == KG_DTLS_FAILED ? d->err : KG_ERR_STATE;
    if (d->ctx->role == KG_DTLS_SERVER)
        return 0;
    return finished_call(d, drive_handshake(d));
}

int kg_dtls_read(kg_dtls *d, const uint8_t *pkt, size_t len, kg_time now)
{
    d->now = now;
    if (d->state == KG_DTLS_FAILED)
        return d->err;
    if (d->state == KG_DTLS_CLOSED)
        return KG_ERR_CLOSED;
    if (!pkt || !kg_dtls_is(pkt, len) || len > INT32_MAX)
        return KG_ERR_MALFORMED;
    /* Leftovers would be glued to this datagram; there should be none,
     * as OpenSSL reads the memory BIO dry on every call. */
    (void)BIO_reset(d->rbio);
    if (BIO_write(d->rbio, pkt, (int)len) != (int)len)
        return fail(d, KG_ERR_NOMEM);
    int rc = 0;
    if (d->state == KG_DTLS_HANDSHAKING)
        rc = drive_handshake(d);
    /* A datagram may carry the last handshake record and more after it. */
    if (rc == 0 && d->state == KG_DTLS_CONNECTED)
        rc = drain_records(d);
    return finished_call(d, rc);
}

ssize_t kg_dtls_pull(kg_dtls *d, uint8_t *buf, size_t cap)
{
    struct dgram *g = d->out_head;
    if (!g)
        return 0;
    if (g->len > cap)
        return KG_ERR_NOSPACE;
    memcpy(buf, g->data, g->len);
    ssize_t n = (ssize_t)g->len;
    d->out_head = g->next;
    if (!d->out_head)
        d->out_tail = &d->out_head;
    d->out_count--;
    free(g);
    return n;
}

kg_time kg_dtls_deadline(const kg_dtls *d)
{
    return d->state == KG_DTLS_HANDSHAKING ? d->deadline : KG_TIME_NEVER;
}

int kg_dtls_on_timeout(kg_dtls *d, kg_time now)
{
    d->now = now;
    if (d->state == KG_DTLS_FAILED)
        return d->err;
    if (d->state != KG_DTLS_HANDSHAKING || d->deadline == KG_TIME_NEVER ||
        now < d->deadline)
        return 0;
    if (now - d->flight_start >= HANDSHAKE_BUDGET)
        return fail(d, KG_ERR_TIMEOUT);
    ERR_clear_error();
    int r = DTLSv1_handle_timeout(d->ssl);
    if (r < 0)
        return fail(d, KG_ERR_TIMEOUT); /* OpenSSL gave up too */
    if (r == 0) {
        /* OpenSSL's wall-clock timer disagrees with kg_time (the clock
         * was stepped, or a test did not move it): keep to our own
         * schedule so that the budget still ends the handshake. */
        d->rto = d->rto * 2 > RTO_MAX ? RTO_MAX : d->rto * 2;
        d->deadline = now + d->rto;
        return 0;
    }
    return finished_call(d, 0);
}

enum kg_dtls_state kg_dtls_state(const kg_dtls *d)
{
    return d->state;
}

int kg_dtls_srtp_keys(const kg_dtls *d, kg_srtp_keys *out)
{
    if (d->state != KG_DTLS_CONNECTED)
        return KG_ERR_STATE;
    static const char label[] = "EXTRACTOR-dtls_srtp";
    size_t key_len = d->profile == KG_SRTP_AEAD_AES_256_GCM ? 32 : 16;
    size_t salt_len = d->profile == KG_SRTP_AES128_CM_SHA1_80 ? 14 : 12;
    uint8_t km[2 * (KG_SRTP_MAX_KEY + KG_SRTP_MAX_SALT)];
    size_t total = 2 * (key_len + salt_len);
    if (SSL_export_keying_material(d->ssl, km, total, label,
                                   sizeof(label) - 1, NULL, 0, 0) != 1) {
        ERR_clear_error();
        OPENSSL_cleanse(km, sizeof(km));
        return KG_ERR_CRYPTO;
    }
    /* RFC 5764 4.2: client_key | server_key | client_salt | server_salt */
    const uint8_t *ck = km, *sk = km + key_len;
    const uint8_t *cs = km + 2 * key_len, *ss = cs + salt_len;
    bool client = d->ctx->role == KG_DTLS_CLIENT;
    memset(out, 0, sizeof(*out));
    out->profile = d->profile;
    out->key_len = key_len;
    out->salt_len = salt_len;
    memcpy(out->local_key, client ? ck : sk, key_len);
    memcpy(out->local_salt, client ? cs : ss, salt_len);
    memcpy(out->remote_key, client ? sk : ck, key_len);
    memcpy(out->remote_salt, client ? ss : cs, salt_len);
    OPENSSL_cleanse(km, sizeof(km));
    return 0;
}

const char *kg_dtls_cipher(const kg_dtls *d)
{
    if (d->state != KG_DTLS_CONNECTED)
        return "";
    const char *name = SSL_get_cipher_name(d->ssl);
    return name ? name : "";
}

const char *kg_dtls_version(const kg_dtls *d)
{
    return d->state == KG_DTLS_CONNECTED ? SSL_get_version(d->ssl) : "";
}

void kg_dtls_close(kg_dtls *d)
{
    if (d->state == KG_DTLS_CLOSED || d->state == KG_DTLS_FAILED)
        return;
    ERR_clear_error();
    if (d->state == KG_DTLS_CONNECTED)
        (void)SSL_shutdown(d->ssl); /* queues close_notify */
    ERR_clear_error();
    d->state = KG_DTLS_CLOSED;
    d->deadline = KG_TIME_NEVER;
}

const char *kg_dtls_srtp_id_name(uint16_t id)
{
    switch (id) {
    case 0x0001:
        return "SRTP_AES128_CM_SHA1_80";
    case 0x0002:
        return "SRTP_AES128_CM_SHA1_32";
    case 0x0005:
        return "SRTP_NULL_SHA1_80";
    case 0x0006:
        return "SRTP_NULL_SHA1_32";
    case 0x0007:
        return "SRTP_AEAD_AES_128_GCM";
    case 0x0008:
        return "SRTP_AEAD_AES_256_GCM";
    default:
        return NULL;
    }
}

void kg_dtls_offered_srtp(const kg_dtls *d, char *out, size_t cap)
{
    if (!cap)
        return;
    out[0] = '\0';
    if (d->n_offered <= 0) {
        snprintf(out, cap, "%s",
                 d->n_offered < 0 ? "no use_srtp extension" : "nothing");
        return;
    }
    size_t used = 0;
    for (int i = 0; i < d->n_offered && used < cap; i++) {
        const char *name = kg_dtls_srtp_id_name(d->offered[i]);
        int n = name ? snprintf(out + used, cap - used, "%s%s",
                                i ? ", " : "", name)
                     : snprintf(out + used, cap - used, "%s0x%04x",
                                i ? ", " : "", d->offered[i]);
        if (n < 0)
            break;
        used += (size_t)n;
    }
}
