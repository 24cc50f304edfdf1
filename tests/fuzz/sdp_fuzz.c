/* SDP parser fuzzer. Whatever parses must write back and parse again to
 * the same text (write(parse(write(parse(x)))) == write(parse(x))), and
 * both negotiations must either fail cleanly or produce an SDP that
 * survives write -> parse unchanged, field by field. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "codec/err.h"
#include "signalling/sdp.h"
#include "tests/sdp_equal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* 64 sections of 48 codecs with long fmtp and every rtcp-fb fit. */
static char text1[4 << 20];
static char text2[4 << 20];

static const kg_sdp_local local = {
    .ice_ufrag = "kAiG",
    .ice_pwd = "kaigiPasswordIsLongEnough22",
    .fingerprint = "AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:"
                   "A0:B1:C2:D3:E4:F5:06:17:28:39:4A:5B:6C:7D:8E:9F",
    .cand_ip = "192.0.2.1",
    .cand_port = 40000,
    .sess_id = 1,
    .sess_version = 2,
};

static void check_round_trip(const kg_sdp *x)
{
    ssize_t n = kg_sdp_write(x, text2, sizeof text2);
    if (n < 0)
        abort();
    if ((size_t)n > KG_SDP_MAX_TEXT)
        return; /* an rtcp-fb:* fan-out can grow past the parse limit */
    kg_sdp *y = kg_sdp_new();
    if (!y)
        return;
    if (kg_sdp_parse(text2, (size_t)n, y) != 0 || sdp_diff(x, y) != NULL)
        abort();
    kg_sdp_del(y);
}

static void negotiate(const kg_sdp *offer,
                      int (*fn)(const kg_sdp *, const kg_sdp_local *, kg_sdp *))
{
    kg_sdp *ans = kg_sdp_new();
    if (!ans)
        return;
    int rc = fn(offer, &local, ans);
    if (rc == 0)
        check_round_trip(ans);
    else if (ans->n_media || ans->media)
        abort(); /* an error leaves the answer empty */
    kg_sdp_del(ans);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    kg_sdp *s = kg_sdp_new();
    if (!s)
        return 0;
    if (kg_sdp_parse((const char *)data, size, s) != 0) {
        if (s->n_media || s->media || s->n_bundle)
            abort(); /* an error leaves out empty */
        kg_sdp_del(s);
        return 0;
    }
    ssize_t n = kg_sdp_write(s, text1, sizeof text1);
    if (n < 0)
        abort();
    if ((size_t)n <= KG_SDP_MAX_TEXT) {
        kg_sdp *t = kg_sdp_new();
        if (t) {
            if (kg_sdp_parse(text1, (size_t)n, t) != 0)
                abort();
            ssize_t n2 = kg_sdp_write(t, text2, sizeof text2);
            if (n2 != n || memcmp(text1, text2, (size_t)n) != 0)
                abort();
            kg_sdp_del(t);
        }
    }
    negotiate(s, kg_sdp_answer_publish);
    negotiate(s, kg_sdp_answer_subscribe);
    kg_sdp_del(s);
    return 0;
}
