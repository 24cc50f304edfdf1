/* Feeds arbitrary datagrams to a kg_client_peer in its ICE state: the
 * RFC 7983 demux, STUN parsing and ICE response handling, and DTLS records
 * arriving before and after the ClientHello. Input: a sequence of
 * datagrams, each prefixed by its 16-bit big-endian length. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "relay/client_peer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static kg_dtls_cert *cert;
static kg_dtls_ctx *ctx;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!ctx) {
        cert = kg_dtls_cert_new();
        ctx = cert ? kg_dtls_ctx_new(cert, KG_DTLS_CLIENT, 0) : NULL;
        if (!ctx)
            return 0;
    }
    /* Fixed credentials: the fuzzer can then learn valid USERNAMEs. */
    kg_ice_creds local = {"LoCaLuFr", "localpasswordlocalpasswd"};
    kg_ice_creds remote = {"ReMoTeUf", "remotepasswordremotepass"};
    kg_time now = 1000 * KG_SEC;
    kg_client_peer *p = kg_client_peer_new(
        ctx, &local, &remote, kg_dtls_cert_fingerprint(cert), now);
    if (!p)
        return 0;
    uint8_t pkt[2048], out[2048];
    size_t off = 0;
    while (off + 2 <= size) {
        size_t len = (size_t)data[off] << 8 | data[off + 1];
        off += 2;
        if (len > size - off)
            len = size - off;
        if (len > sizeof(pkt))
            len = sizeof(pkt);
        memcpy(pkt, data + off, len);
        off += len;
        size_t plain = 0;
        kg_client_peer_recv(p, pkt, len, now, &plain);
        while (kg_client_peer_poll(p, now, out, sizeof(out)) > 0)
            ;
        now += 10 * KG_MS;
    }
    kg_client_peer_del(p);
    return 0;
}
