/* Fuzzes the DTLS handshake as both sides parse it: a real client and
 * server run a handshake in memory, and the fuzzer's bytes replace one
 * datagram of it. Input: one byte choosing the datagram (0 ClientHello,
 * 1 HelloVerifyRequest, 2 ClientHello with cookie, 3 server flight,
 * 4 client flight, 5 server Finished flight, ...), then the datagram. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "codec/err.h"
#include "crypto/dtls.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static kg_dtls_cert *ccert, *scert;
static kg_dtls_ctx *cctx, *sctx;

static void init_once(void)
{
    if (cctx)
        return;
    ccert = kg_dtls_cert_new();
    scert = kg_dtls_cert_new();
    cctx = kg_dtls_ctx_new(ccert, KG_DTLS_CLIENT, 0);
    sctx = kg_dtls_ctx_new(scert, KG_DTLS_SERVER, KG_DTLS_ALLOW_LEGACY_SRTP);
    if (!cctx || !sctx)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint8_t addr[] = {127, 0, 0, 1, 0x30, 0x39};
    if (size < 1)
        return 0;
    init_once();
    unsigned target = data[0] % 8;
    kg_dtls *c = kg_dtls_new(cctx, kg_dtls_cert_fingerprint(scert), NULL, 0, 0);
    kg_dtls *s = kg_dtls_new(sctx, kg_dtls_cert_fingerprint(ccert), addr,
                             sizeof(addr), 0);
    if (!c || !s)
        abort();
    (void)kg_dtls_start(c, 0);
    uint8_t buf[2048];
    unsigned index = 0;
    /* Alternate directions until nothing moves (at most a few rounds). */
    for (int round = 0; round < 16; round++) {
        unsigned moved = 0;
        for (int dir = 0; dir < 2; dir++) {
            kg_dtls *from = dir ? s : c, *to = dir ? c : s;
            ssize_t n;
            while ((n = kg_dtls_pull(from, buf, sizeof(buf))) > 0) {
                moved++;
                if (index++ == target)
                    (void)kg_dtls_read(to, data + 1, size - 1, 0);
                else
                    (void)kg_dtls_read(to, buf, (size_t)n, 0);
            }
        }
        if (!moved)
            break;
    }
    kg_srtp_keys k;
    if (kg_dtls_state(c) == KG_DTLS_CONNECTED)
        (void)kg_dtls_srtp_keys(c, &k);
    kg_dtls_del(c);
    kg_dtls_del(s);
    return 0;
}
