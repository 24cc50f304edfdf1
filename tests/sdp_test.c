#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "codec/err.h"
#include "signalling/sdp.h"
#include "tests/sdp_equal.h"
#include "tests/sdp_offers.h"

#define HDR "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"
#define AUDIO_M "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\n"
#define FPR_KAIGI                                                         \
    "AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:A0:B1:C2:D3:E4:F5:" \
    "06:17:28:39:4A:5B:6C:7D:8E:9F"

static char out_buf[1 << 20];

static const kg_sdp_local server_local = {
    .ice_ufrag = "kAiG",
    .ice_pwd = "kaigiPasswordIsLongEnough22",
    .fingerprint = FPR_KAIGI,
    .cand_ip = "192.0.2.1",
    .cand_port = 40000,
    .sess_id = 1234,
    .sess_version = 1,
};

static const kg_sdp_local client_local = {
    .ice_ufrag = "cLnt",
    .ice_pwd = "clientPasswordAlsoLong+/",
    .fingerprint = FPR_CHROME,
    .cand_ip = "198.51.100.7",
    .cand_port = 50000,
    .sess_id = 99,
    .sess_version = 3,
};

/* Parses text; on failure also checks that out was left empty. */
static int parse_text(const char *text, size_t len, kg_sdp **out)
{
    kg_sdp *s = kg_sdp_new();
    assert_non_null(s);
    int rc = kg_sdp_parse(text, len, s);
    if (rc) {
        assert_int_equal(s->n_media, 0);
        assert_null(s->media);
        assert_int_equal(s->n_bundle, 0);
        assert_int_equal(s->transport.ice_ufrag[0], 0);
    }
    if (out && !rc)
        *out = s;
    else
        kg_sdp_del(s);
    return rc;
}

static int parse_str(const char *text)
{
    return parse_text(text, strlen(text), NULL);
}

static kg_sdp *parse_ok(const char *text)
{
    kg_sdp *s = NULL;
    assert_int_equal(parse_text(text, strlen(text), &s), 0);
    return s;
}

/* write(x), parse it back, assert it equals x; returns the text. */
static const char *round_trip(const kg_sdp *x)
{
    ssize_t n = kg_sdp_write(x, out_buf, sizeof out_buf);
    assert_true(n > 0);
    assert_int_equal(strlen(out_buf), (size_t)n);
    kg_sdp *y = NULL;
    assert_int_equal(parse_text(out_buf, (size_t)n, &y), 0);
    const char *diff = sdp_diff(x, y);
    if (diff)
        fail_msg("round trip differs at %s", diff);
    kg_sdp_del(y);
    return out_buf;
}

static void *xmalloc(size_t n)
{
    void *p = malloc(n);
    if (!p)
        abort();
    return p;
}

static char *xstrdup(const char *s)
{
    char *p = xmalloc(strlen(s) + 1);
    return strcpy(p, s);
}

static void assert_contains(const char *hay, const char *needle)
{
    if (!hay || !needle)
        fail_msg("null text");
    else if (!strstr(hay, needle))
        fail_msg("missing \"%s\" in:\n%s", needle, hay);
}

static size_t count_of(const char *hay, const char *needle)
{
    size_t n = 0;
    for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle))
        n++;
    return n;
}

/* ---------------------------------------------------------------- */

static void test_chromium_offer_parse(void **state)
{
    (void)state;
    kg_sdp *s = parse_ok(chromium_offer);
    assert_int_equal(s->sess_id, 4611731400430051336ull);
    assert_int_equal(s->sess_version, 2);
    assert_false(s->ice_lite);
    assert_int_equal(s->n_bundle, 2);
    assert_string_equal(s->bundle[0], "0");
    assert_string_equal(s->bundle[1], "1");
    assert_int_equal(s->n_media, 2);

    const kg_sdp_media *a = &s->media[0];
    assert_int_equal(a->kind, KG_SDP_AUDIO);
    assert_string_equal(a->kind_text, "audio");
    assert_int_equal(a->port, 54321);
    assert_string_equal(a->proto, "UDP/TLS/RTP/SAVPF");
    assert_string_equal(a->mid, "0");
    assert_int_equal(a->dir, KG_SDP_SENDONLY);
    assert_true(a->rtcp_mux);
    assert_true(a->rtcp_rsize);
    assert_string_equal(a->msid, "7c1f2a9e-5b3d-4e8f-a6c0-d2b4e6f81a3c "
                                 "0a8e4c2d-6f1b-4d3a-9e7c-5b2f8a1d4c6e");
    static const uint8_t apts[] = {111, 63, 9, 0, 8, 13, 110, 126};
    assert_int_equal(a->n_codecs, sizeof apts);
    for (size_t i = 0; i < sizeof apts; i++)
        assert_int_equal(a->codecs[i].pt, apts[i]);
    assert_string_equal(a->codecs[0].name, "opus");
    assert_int_equal(a->codecs[0].clock, 48000);
    assert_int_equal(a->codecs[0].channels, 2);
    assert_string_equal(a->codecs[0].fmtp, "minptime=10;useinbandfec=1");
    assert_int_equal(a->codecs[0].fb, KG_SDP_FB_TRANSPORT_CC);
    assert_string_equal(a->codecs[1].name, "red");
    assert_string_equal(a->codecs[1].fmtp, "111/111");
    assert_string_equal(a->codecs[2].name, "G722");
    assert_int_equal(a->codecs[2].clock, 8000);
    assert_int_equal(a->codecs[2].channels, 0);
    assert_string_equal(a->codecs[2].fmtp, "");
    assert_int_equal(a->codecs[2].fb, 0);
    assert_string_equal(a->codecs[7].name, "telephone-event");
    assert_int_equal(a->n_extmaps, 4);
    assert_int_equal(kg_sdp_find_extmap(a, KG_SDP_EXT_AUDIO_LEVEL), 1);
    assert_int_equal(kg_sdp_find_extmap(a, KG_SDP_EXT_MID), 4);
    assert_int_equal(kg_sdp_find_extmap(a, "urn:nope"), 0);
    assert_int_equal(a->n_ssrcs, 1);
    assert_int_equal(a->ssrcs[0].ssrc, 2864950178u);
    assert_string_equal(a->ssrcs[0].cname, "Xb3dQm8tLpZrVw2k");
    assert_string_equal(a->ssrcs[0].msid, a->msid);
    assert_int_equal(a->fid_ssrc[0], 0);
    assert_string_equal(a->transport.ice_ufrag, "Fq9d");
    assert_string_equal(a->transport.ice_pwd, "k3sAbqJ5wYPmxUuVv0Ni7C1o");
    assert_string_equal(a->transport.fingerprint, FPR_CHROME);
    assert_int_equal(a->transport.setup, KG_SDP_SETUP_ACTPASS);
    /* the TCP candidate comes first; the first UDP host one is kept */
    assert_string_equal(a->transport.cand_ip, "192.168.1.20");
    assert_int_equal(a->transport.cand_port, 54321);

    const kg_sdp_media *v = &s->media[1];
    assert_int_equal(v->kind, KG_SDP_VIDEO);
    assert_int_equal(v->port, 9);
    assert_string_equal(v->mid, "1");
    assert_int_equal(v->dir, KG_SDP_SENDONLY);
    assert_int_equal(v->n_codecs, 25);
    assert_int_equal(v->codecs[0].pt, 96);
    assert_string_equal(v->codecs[0].name, "VP8");
    assert_int_equal(v->codecs[0].fb,
                     KG_SDP_FB_NACK | KG_SDP_FB_NACK_PLI | KG_SDP_FB_CCM_FIR |
                         KG_SDP_FB_GOOG_REMB | KG_SDP_FB_TRANSPORT_CC);
    assert_string_equal(v->codecs[1].name, "rtx");
    assert_string_equal(v->codecs[1].fmtp, "apt=96");
    assert_int_equal(v->codecs[1].fb, 0);
    assert_int_equal(v->codecs[6].pt, 45);
    assert_string_equal(v->codecs[6].name, "AV1");
    assert_string_equal(v->codecs[6].fmtp, "level-idx=5;profile=0;tier=0");
    assert_int_equal(v->codecs[24].pt, 116);
    assert_string_equal(v->codecs[24].name, "ulpfec");
    const kg_sdp_codec *h = kg_sdp_find_codec(v, "h264", 90000);
    assert_non_null(h);
    assert_int_equal(h->pt, 102);
    assert_null(kg_sdp_find_codec(v, "VP8", 48000));
    assert_ptr_equal(kg_sdp_find_codec(v, "vp8", 90000), &v->codecs[0]);
    assert_int_equal(v->n_extmaps, 11);
    assert_int_equal(v->extmaps[0].id, 14);
    assert_int_equal(kg_sdp_find_extmap(v, KG_SDP_EXT_MID), 4);
    assert_int_equal(
        kg_sdp_find_extmap(v, "urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id"),
        10);
    assert_int_equal(v->fid_ssrc[0], 1525139221u);
    assert_int_equal(v->fid_ssrc[1], 3812947206u);
    assert_int_equal(v->n_ssrcs, 2);
    assert_int_equal(v->ssrcs[1].ssrc, 3812947206u);
    assert_string_equal(v->transport.cand_ip, "");

    /* Session level completed from the first section with each value. */
    const kg_sdp_transport *t = kg_sdp_bundle_transport(s);
    assert_ptr_equal(t, &s->transport);
    assert_string_equal(t->ice_ufrag, "Fq9d");
    assert_string_equal(t->fingerprint, FPR_CHROME);
    assert_int_equal(t->setup, KG_SDP_SETUP_ACTPASS);
    assert_string_equal(t->cand_ip, "192.168.1.20");
    assert_int_equal(t->cand_port, 54321);
    kg_sdp_del(s);
}

static const char expected_answer[] =
    "v=0\r\n"
    "o=- 1234 1 IN IP4 127.0.0.1\r\n"
    "s=-\r\n"
    "t=0 0\r\n"
    "a=group:BUNDLE 0 1\r\n"
    "a=ice-lite\r\n"
    "a=msid-semantic: WMS *\r\n"
    "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\n"
    "c=IN IP4 192.0.2.1\r\n"
    "a=ice-ufrag:kAiG\r\n"
    "a=ice-pwd:kaigiPasswordIsLongEnough22\r\n"
    "a=fingerprint:sha-256 " FPR_KAIGI "\r\n"
    "a=setup:passive\r\n"
    "a=candidate:1 1 udp 2130706431 192.0.2.1 40000 typ host\r\n"
    "a=end-of-candidates\r\n"
    "a=mid:0\r\n"
    "a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level\r\n"
    "a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid\r\n"
    "a=recvonly\r\n"
    "a=rtcp-mux\r\n"
    "a=rtcp-rsize\r\n"
    "a=rtpmap:111 opus/48000/2\r\n"
    "a=fmtp:111 minptime=10;useinbandfec=1\r\n"
    "m=video 9 UDP/TLS/RTP/SAVPF 96\r\n"
    "c=IN IP4 192.0.2.1\r\n"
    "a=ice-ufrag:kAiG\r\n"
    "a=ice-pwd:kaigiPasswordIsLongEnough22\r\n"
    "a=fingerprint:sha-256 " FPR_KAIGI "\r\n"
    "a=setup:passive\r\n"
    "a=candidate:1 1 udp 2130706431 192.0.2.1 40000 typ host\r\n"
    "a=end-of-candidates\r\n"
    "a=mid:1\r\n"
    "a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid\r\n"
    "a=recvonly\r\n"
    "a=rtcp-mux\r\n"
    "a=rtcp-rsize\r\n"
    "a=rtpmap:96 VP8/90000\r\n"
    "a=rtcp-fb:96 ccm fir\r\n"
    "a=rtcp-fb:96 nack\r\n"
    "a=rtcp-fb:96 nack pli\r\n";

static void test_chromium_offer_answer(void **state)
{
    (void)state;
    kg_sdp *offer = parse_ok(chromium_offer);
    kg_sdp *ans = kg_sdp_new();
    assert_int_equal(kg_sdp_answer_publish(offer, &server_local, ans), 0);
    assert_true(ans->ice_lite);
    assert_int_equal(ans->n_media, 2);
    const kg_sdp_media *a = &ans->media[0], *v = &ans->media[1];
    assert_int_equal(a->dir, KG_SDP_RECVONLY);
    assert_int_equal(a->n_codecs, 1);
    assert_int_equal(a->codecs[0].pt, 111);
    assert_int_equal(a->codecs[0].fb, 0);
    assert_int_equal(v->n_codecs, 1);
    assert_int_equal(v->codecs[0].pt, 96);
    assert_int_equal(a->transport.setup, KG_SDP_SETUP_PASSIVE);
    assert_int_equal(kg_sdp_bundle_transport(ans)->setup,
                     KG_SDP_SETUP_PASSIVE);
    const char *text = round_trip(ans);
    assert_string_equal(text, expected_answer);
    kg_sdp_del(ans);

    /* An answer object that is not empty is refused, and left alone. */
    ans = kg_sdp_new();
    assert_non_null(kg_sdp_add_media(ans));
    assert_int_equal(kg_sdp_answer_publish(offer, &server_local, ans),
                     KG_ERR_INVAL);
    assert_int_equal(ans->n_media, 1);
    kg_sdp_clear(ans);
    assert_int_equal(ans->n_media, 0);
    /* A bad local (password too short) is KG_ERR_INVAL. */
    kg_sdp_local bad = server_local;
    bad.ice_pwd = "short";
    assert_int_equal(kg_sdp_answer_publish(offer, &bad, ans), KG_ERR_INVAL);
    assert_int_equal(ans->n_media, 0);
    kg_sdp_del(ans);
    kg_sdp_del(offer);
}

static void test_lf_line_ends(void **state)
{
    (void)state;
    char *lf = xstrdup(chromium_offer);
    size_t j = 0;
    for (size_t i = 0; lf[i]; i++)
        if (lf[i] != '\r')
            lf[j++] = lf[i];
    lf[j] = '\0';
    kg_sdp *a = parse_ok(chromium_offer), *b = parse_ok(lf);
    assert_null(sdp_diff(a, b));
    /* and the last line may lack its line end */
    lf[j - 1] = '\0';
    kg_sdp *c = parse_ok(lf);
    assert_null(sdp_diff(a, c));
    kg_sdp_del(a);
    kg_sdp_del(b);
    kg_sdp_del(c);
    free(lf);
}

static void test_firefox_offer(void **state)
{
    (void)state;
    kg_sdp *s = parse_ok(firefox_offer);
    assert_int_equal(s->sess_id, 7529430946442744566ull);
    /* session-level fingerprint; ufrag/pwd/setup completed from m=audio */
    assert_string_equal(s->transport.fingerprint, FPR_FIREFOX);
    assert_string_equal(s->media[0].transport.fingerprint, "");
    assert_string_equal(s->transport.ice_ufrag, "9a8b7c6d");
    assert_int_equal(s->transport.setup, KG_SDP_SETUP_ACTPASS);
    assert_string_equal(s->transport.cand_ip, "");
    /* fmtp before rtpmap still attaches by PT */
    const kg_sdp_codec *opus = kg_sdp_find_codec(&s->media[0], "opus", 48000);
    assert_non_null(opus);
    assert_int_equal(opus->pt, 109);
    assert_string_equal(opus->fmtp,
                        "maxplaybackrate=48000;stereo=1;useinbandfec=1");
    assert_int_equal(s->media[0].codecs[1].channels, 1); /* G722/8000/1 */
    assert_int_equal(s->media[0].n_extmaps, 3);
    assert_int_equal(s->media[0].extmaps[1].id, 2);
    assert_int_equal(s->media[0].dir, KG_SDP_SENDONLY);
    const kg_sdp_media *v = &s->media[1];
    assert_int_equal(v->codecs[0].pt, 120);
    assert_string_equal(v->codecs[0].fmtp, "max-fs=12288;max-fr=60");
    assert_int_equal(v->fid_ssrc[0], 3117373652u);
    assert_int_equal(v->n_ssrcs, 2);
    assert_string_equal(v->ssrcs[0].msid, "");

    kg_sdp *ans = kg_sdp_new();
    assert_int_equal(kg_sdp_answer_publish(s, &server_local, ans), 0);
    assert_int_equal(ans->media[0].codecs[0].pt, 109);
    assert_string_equal(ans->media[0].codecs[0].fmtp,
                        "minptime=10;useinbandfec=1");
    assert_int_equal(ans->media[0].n_extmaps, 2);
    assert_int_equal(ans->media[0].extmaps[0].id, 1);
    assert_int_equal(ans->media[0].extmaps[1].id, 3);
    assert_int_equal(ans->media[1].codecs[0].pt, 120);
    assert_int_equal(ans->media[1].rtcp_rsize, true);
    assert_int_equal(ans->media[0].rtcp_rsize, false);
    round_trip(ans);
    kg_sdp_del(ans);
    kg_sdp_del(s);
}

/* A copy of text with the first occurrence of from, searched from the
 * first occurrence of after, replaced by to (owned by the caller). */
static char *edited(const char *text, const char *after, const char *from,
                    const char *to)
{
    const char *at = strstr(strstr(text, after), from);
    assert_non_null(at);
    size_t head = (size_t)(at - text);
    char *out = xmalloc(strlen(text) - strlen(from) + strlen(to) + 1);
    memcpy(out, text, head);
    strcpy(out + head, to);
    strcat(out, at + strlen(from));
    return out;
}

/* Firefox with max-bundle (a real capture): the video section is offered
 * as "m=video 0" + a=bundle-only inside BUNDLE. It is accepted into
 * kaigi's transport (port 9, in the answer's BUNDLE, with the transport
 * attributes), never answered as rejected. */
static void test_firefox_bundle_only(void **state)
{
    (void)state;
    kg_sdp *s = parse_ok(firefox_bundle_only_offer);
    assert_int_equal(s->n_media, 2);
    assert_int_equal(s->media[1].port, 0);
    assert_true(s->media[1].bundle_only);
    assert_false(s->media[0].bundle_only);
    /* the transport comes from the offerer-tagged m=audio */
    assert_string_equal(s->transport.ice_ufrag, "239a4a4f");
    kg_sdp *ans = kg_sdp_new();
    assert_int_equal(kg_sdp_answer_publish(s, &server_local, ans), 0);
    assert_int_equal(ans->n_bundle, 2);
    assert_string_equal(ans->bundle[1], "1");
    const kg_sdp_media *v = &ans->media[1];
    assert_int_equal(v->port, 9);
    assert_false(v->bundle_only);
    assert_int_equal(v->dir, KG_SDP_RECVONLY);
    assert_int_equal(v->n_codecs, 1);
    assert_int_equal(v->codecs[0].pt, 120);
    assert_true(v->rtcp_rsize);
    const char *text = round_trip(ans);
    assert_int_equal(count_of(text, "m=video 9 "), 1);
    /* each bundled section carries the transport, as in every answer */
    assert_int_equal(count_of(text, "a=fingerprint:"), 2);
    assert_int_equal(count_of(text, "a=group:BUNDLE 0 1\r\n"), 1);
    assert_int_equal(count_of(text, "a=bundle-only"), 0);
    kg_sdp_del(ans);
    kg_sdp_del(s);
}

/* What makes a bundle-only section usable: inside the BUNDLE group only;
 * its rtcp-mux may be left to the tagged section (RFC 8843 puts the
 * IDENTICAL attributes there, as GStreamer's webrtcbin does). */
static void test_bundle_only_rules(void **state)
{
    (void)state;
    /* left out of the group: rejected, port 0 */
    char *t = edited(firefox_bundle_only_offer, "a=group", "BUNDLE 0 1",
                     "BUNDLE 0");
    kg_sdp *s = parse_ok(t);
    kg_sdp *ans = kg_sdp_new();
    assert_int_equal(kg_sdp_answer_publish(s, &server_local, ans), 0);
    assert_int_equal(ans->n_bundle, 1);
    assert_int_equal(ans->media[1].port, 0);
    kg_sdp_del(ans);
    kg_sdp_del(s);
    free(t);
    /* no rtcp-mux of its own: the tagged section's counts */
    t = edited(firefox_bundle_only_offer, "m=video", "a=rtcp-mux\r\n", "");
    s = parse_ok(t);
    assert_false(s->media[1].rtcp_mux);
    ans = kg_sdp_new();
    assert_int_equal(kg_sdp_answer_publish(s, &server_local, ans), 0);
    assert_int_equal(ans->n_bundle, 2);
    assert_int_equal(ans->media[1].port, 9);
    kg_sdp_del(ans);
    kg_sdp_del(s);
    free(t);
    /* ... but not when the tagged section lacks it too */
    char *t2 = edited(firefox_bundle_only_offer, "m=video", "a=rtcp-mux\r\n",
                      "");
    t = edited(t2, "m=audio", "a=rtcp-mux\r\n", "");
    s = parse_ok(t);
    ans = kg_sdp_new();
    assert_int_equal(kg_sdp_answer_publish(s, &server_local, ans),
                     KG_ERR_UNSUPPORTED);
    kg_sdp_del(ans);
    kg_sdp_del(s);
    free(t);
    free(t2);
    /* a bundle-only section with no BUNDLE group at all: rejected */
    t = edited(firefox_bundle_only_offer, "a=group", "a=group:BUNDLE 0 1\r\n",
               "");
    s = parse_ok(t);
    ans = kg_sdp_new();
    assert_int_equal(kg_sdp_answer_publish(s, &server_local, ans), 0);
    assert_int_equal(ans->media[0].port, 9);
    assert_int_equal(ans->media[1].port, 0);
    kg_sdp_del(ans);
    kg_sdp_del(s);
    free(t);
}

/* Firefox's rid simulcast (real capture): h and f answered as recv, the
 * rtp-stream-id extension (offered /sendonly) kept with its id. */
static void test_firefox_simulcast(void **state)
{
    (void)state;
    kg_sdp *s = parse_ok(firefox_simulcast_offer);
    const kg_sdp_media *om = &s->media[1];
    assert_true(om->bundle_only);
    assert_int_equal(om->n_rids, 2);
    assert_int_equal(om->n_simulcast, 2);
    assert_string_equal(om->simulcast[0], "h");
    kg_sdp *ans = kg_sdp_new();
    assert_int_equal(kg_sdp_answer_publish(s, &server_local, ans), 0);
    const kg_sdp_media *v = &ans->media[1];
    assert_int_equal(v->port, 9);
    assert_true(v->simulcast_recv);
    assert_int_equal(v->n_simulcast, 2);
    assert_string_equal(v->simulcast[1], "f");
    assert_int_equal(kg_sdp_find_extmap(v, KG_SDP_EXT_RID), 9);
    const char *text = round_trip(ans);
    assert_contains(text, "a=rid:h recv\r\n");
    assert_contains(text, "a=simulcast:recv h;f\r\n");
    kg_sdp_del(ans);
    kg_sdp_del(s);
}

/* Every field the writer knows, set, including a rejected RTP section
 * and a rejected datachannel, must survive write -> parse. */
static void test_round_trip_every_field(void **state)
{
    (void)state;
    kg_sdp *s = kg_sdp_new();
    s->sess_id = UINT64_MAX;
    s->sess_version = 7;
    s->ice_lite = true;
    kg_sdp_transport t = {
        .ice_ufrag = "uFrG+/9",
        .ice_pwd = "passwordpasswordpassword",
        .fingerprint = FPR_KAIGI,
        .setup = KG_SDP_SETUP_ACTIVE,
        .cand_ip = "2001:db8::1",
        .cand_port = 65535,
    };
    s->transport = t;
    static const enum kg_sdp_dir dirs[] = {KG_SDP_SENDRECV, KG_SDP_SENDONLY,
                                           KG_SDP_RECVONLY, KG_SDP_INACTIVE};
    for (int i = 0; i < 4; i++) {
        kg_sdp_media *m = kg_sdp_add_media(s);
        m->kind = i % 2 ? KG_SDP_VIDEO : KG_SDP_AUDIO;
        strcpy(m->kind_text, i % 2 ? "video" : "audio");
        m->port = (uint16_t)(9 + i);
        strcpy(m->proto, "UDP/TLS/RTP/SAVPF");
        snprintf(m->mid, sizeof m->mid, "m%d", i);
        m->dir = dirs[i];
        m->rtcp_mux = i != 1;
        m->rtcp_rsize = i != 2;
        if (i != 3)
            snprintf(m->msid, sizeof m->msid, "stream%d track%d", i, i);
        for (unsigned c = 0; c < 3; c++) {
            kg_sdp_codec *k = &m->codecs[m->n_codecs++];
            k->pt = (uint8_t)(35 + c + 10 * (unsigned)i);
            snprintf(k->name, sizeof k->name, "codec%u", c);
            k->clock = 90000 + c;
            k->channels = (uint8_t)c;
            if (c)
                snprintf(k->fmtp, sizeof k->fmtp, "apt=%u; x=y", c);
            k->fb = (1u << (c + (unsigned)i)) & 0x1f;
        }
        kg_sdp_codec *nameless = &m->codecs[m->n_codecs++];
        nameless->pt = (uint8_t)i; /* a static PT with no rtpmap */
        nameless->fb = KG_SDP_FB_NACK;
        m->extmaps[0].id = (uint8_t)(1 + i);
        strcpy(m->extmaps[0].uri, KG_SDP_EXT_MID);
        m->extmaps[1].id = 255;
        strcpy(m->extmaps[1].uri, "urn:x");
        m->n_extmaps = 2;
        if (i == 1) {
            m->fid_ssrc[0] = 1;
            m->fid_ssrc[1] = UINT32_MAX;
        }
        if (i == 2) { /* simulcast layers, by SSRC and by rid */
            m->sim_ssrc[0] = 7;
            m->sim_ssrc[1] = 8;
            m->sim_ssrc[2] = UINT32_MAX;
            m->n_sim = 3;
            strcpy(m->rids[0].id, "lo-1");
            strcpy(m->rids[1].id, "Hi_2");
            m->rids[1].recv = true;
            m->n_rids = 2;
            strcpy(m->simulcast[0], "Hi_2");
            strcpy(m->simulcast[1], "lo-1");
            m->n_simulcast = 2;
            m->simulcast_recv = true;
        }
        m->ssrcs[0].ssrc = 1;
        strcpy(m->ssrcs[0].cname, "c/n+ame");
        m->ssrcs[1].ssrc = UINT32_MAX;
        strcpy(m->ssrcs[1].msid, "only-stream");
        m->n_ssrcs = i == 0 ? 0 : 2;
        m->transport = t;
        if (i == 2) { /* a section with its own values, no candidate */
            strcpy(m->transport.ice_ufrag, "othr");
            m->transport.setup = KG_SDP_SETUP_PASSIVE;
            m->transport.cand_ip[0] = '\0';
            m->transport.cand_port = 0;
        }
        if (i == 3) { /* an mDNS candidate: c= stays 0.0.0.0 */
            strcpy(m->transport.cand_ip, "1f2e3d4c-aaaa-bbbb.local");
            m->transport.cand_port = 0;
        }
        snprintf(s->bundle[s->n_bundle++], sizeof s->bundle[0], "m%d", i);
    }
    kg_sdp_media *r = kg_sdp_add_media(s); /* rejected RTP section */
    r->kind = KG_SDP_VIDEO;
    strcpy(r->kind_text, "video");
    strcpy(r->proto, "UDP/TLS/RTP/SAVPF");
    strcpy(r->mid, "rej");
    r->codecs[0].pt = 96;
    r->codecs[1].pt = 97;
    r->n_codecs = 2;
    kg_sdp_media *d = kg_sdp_add_media(s); /* rejected datachannel */
    d->kind = KG_SDP_OTHER;
    strcpy(d->kind_text, "application");
    strcpy(d->proto, "UDP/DTLS/SCTP");
    strcpy(d->fmt_text, "webrtc-datachannel");
    kg_sdp_media *x = kg_sdp_add_media(s); /* unknown kind, non-RTP */
    x->kind = KG_SDP_OTHER;
    strcpy(x->kind_text, "text");
    x->port = 7;
    strcpy(x->proto, "TCP/MRCPv2");
    strcpy(x->fmt_text, "1 2 3");
    x->transport = t;
    strcpy(x->mid, "txt");

    const char *text = round_trip(s);
    assert_contains(text, "c=IN IP6 2001:db8::1\r\n");
    assert_contains(text, "a=ssrc-group:FID 1 4294967295\r\n");
    assert_contains(text, "m=video 0 UDP/TLS/RTP/SAVPF 96 97\r\n"
                          "c=IN IP4 0.0.0.0\r\na=mid:rej\r\nm=application");
    assert_contains(text, "m=application 0 UDP/DTLS/SCTP webrtc-datachannel\r\n"
                          "c=IN IP4 0.0.0.0\r\nm=text 7 TCP/MRCPv2 1 2 3\r\n");
    assert_contains(text, "a=rtpmap:36 codec1/90001/1\r\n");
    assert_contains(text, "a=fmtp:36 apt=1; x=y\r\n");
    assert_contains(text, "a=candidate:1 1 udp 2130706431 "
                          "1f2e3d4c-aaaa-bbbb.local 0 typ host\r\n");
    /* the session values equal the first section's: not repeated */
    assert_int_equal(count_of(text, "a=ice-ufrag:"), 5);
    kg_sdp_del(s);
}

static void test_session_transport_written_when_needed(void **state)
{
    (void)state;
    kg_sdp *s = parse_ok(firefox_offer);
    /* the fingerprint exists only at session level: it must be written
     * there, the ufrag (completed from m=audio) must not */
    const char *text = round_trip(s);
    assert_int_equal(count_of(text, "a=fingerprint:"), 1);
    assert_true(strstr(text, "a=fingerprint:") < strstr(text, "m=audio"));
    assert_int_equal(count_of(text, "a=ice-ufrag:"), 2);
    assert_true(strstr(text, "a=ice-ufrag:") > strstr(text, "m=audio"));
    /* fixed point: write(parse(write(x))) == write(x) */
    char *first = xstrdup(text);
    kg_sdp *y = parse_ok(first);
    assert_int_equal(kg_sdp_write(y, out_buf, sizeof out_buf),
                     (ssize_t)strlen(first));
    assert_string_equal(out_buf, first);
    free(first);
    kg_sdp_del(y);
    /* the Chromium offer is one too, once written */
    kg_sdp *c = parse_ok(chromium_offer);
    first = xstrdup(round_trip(c));
    kg_sdp *c2 = parse_ok(first);
    kg_sdp_write(c2, out_buf, sizeof out_buf);
    assert_string_equal(out_buf, first);
    free(first);
    kg_sdp_del(c2);
    kg_sdp_del(c);
    kg_sdp_del(s);
}

static void test_subscribe_cycle(void **state)
{
    (void)state;
    kg_sdp_track tracks[3] = {
        {.kind = KG_SDP_AUDIO, .mid = "a0", .pt = 111, .ssrc = 1001,
         .cname = "kaigi", .stream_id = "p3Lm0Rt1", .track_id = "mic",
         .active = true},
        {.kind = KG_SDP_VIDEO, .mid = "v0", .pt = 96, .ssrc = 2002,
         .cname = "kaigi", .stream_id = "p3Lm0Rt1", .track_id = "cam",
         .active = true},
        {.kind = KG_SDP_VIDEO, .mid = "v1", .pt = 96, .ssrc = 3003,
         .cname = "kaigi", .stream_id = "gone", .track_id = "cam",
         .active = false},
    };
    kg_sdp *offer = kg_sdp_new();
    assert_int_equal(kg_sdp_offer_subscribe(tracks, 3, &server_local, offer), 0);
    const char *text = round_trip(offer);
    assert_contains(text, "a=ice-lite\r\n");
    assert_contains(text, "a=group:BUNDLE a0 v0 v1\r\n");
    assert_contains(text, "a=setup:actpass\r\n");
    assert_contains(text, "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\n");
    assert_contains(text, "a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level\r\n"
                          "a=sendonly\r\na=msid:p3Lm0Rt1 mic\r\n");
    assert_contains(text, "a=fmtp:111 minptime=10;useinbandfec=1\r\n");
    assert_contains(text, "a=ssrc:1001 cname:kaigi\r\n"
                          "a=ssrc:1001 msid:p3Lm0Rt1 mic\r\n");
    assert_contains(text, "a=rtcp-fb:96 nack pli\r\n");
    assert_contains(text, "a=mid:v1\r\na=inactive\r\na=rtcp-mux\r\n");
    assert_int_equal(count_of(text, "a=ssrc:"), 4); /* none for v1 */
    assert_int_equal(count_of(text, "m=video 9 "), 2);
    assert_int_equal(offer->media[2].n_ssrcs, 0);

    char *offer_text = xstrdup(text);
    kg_sdp *parsed = parse_ok(offer_text);
    kg_sdp *ans = kg_sdp_new();
    assert_int_equal(kg_sdp_answer_subscribe(parsed, &client_local, ans), 0);
    assert_false(ans->ice_lite);
    assert_int_equal(ans->n_media, 3);
    assert_int_equal(ans->media[0].dir, KG_SDP_RECVONLY);
    assert_int_equal(ans->media[1].dir, KG_SDP_RECVONLY);
    assert_int_equal(ans->media[2].dir, KG_SDP_INACTIVE);
    assert_int_equal(ans->media[2].port, 9);
    assert_int_equal(ans->n_bundle, 3);
    for (size_t i = 0; i < 3; i++) {
        assert_string_equal(ans->media[i].mid, tracks[i].mid);
        assert_int_equal(ans->media[i].transport.setup, KG_SDP_SETUP_ACTIVE);
        assert_null(sdp_diff(&(kg_sdp){0}, &(kg_sdp){0}));
        assert_int_equal(ans->media[i].n_codecs, 1);
        assert_int_equal(ans->media[i].codecs[0].pt, parsed->media[i].codecs[0].pt);
        assert_int_equal(ans->media[i].codecs[0].fb, parsed->media[i].codecs[0].fb);
        assert_int_equal(ans->media[i].n_ssrcs, 0);
    }
    assert_int_equal(ans->media[0].n_extmaps, 1);
    text = round_trip(ans);
    assert_contains(text, "a=setup:active\r\n");
    /* kaigi reads the client's answer back */
    kg_sdp *back = parse_ok(text);
    assert_int_equal(kg_sdp_bundle_transport(back)->setup, KG_SDP_SETUP_ACTIVE);
    assert_string_equal(kg_sdp_bundle_transport(back)->ice_ufrag, "cLnt");
    kg_sdp_del(back);
    kg_sdp_del(ans);
    kg_sdp_del(parsed);
    free(offer_text);
    kg_sdp_del(offer);
}

static void test_subscribe_no_tracks_and_errors(void **state)
{
    (void)state;
    kg_sdp *offer = kg_sdp_new();
    assert_int_equal(kg_sdp_offer_subscribe(NULL, 0, &server_local, offer), 0);
    assert_int_equal(offer->n_media, 1);
    assert_int_equal(offer->media[0].kind, KG_SDP_AUDIO);
    assert_int_equal(offer->media[0].dir, KG_SDP_INACTIVE);
    assert_string_equal(offer->media[0].mid, "0");
    assert_int_equal(offer->n_bundle, 1);
    round_trip(offer);
    kg_sdp *ans = kg_sdp_new();
    assert_int_equal(kg_sdp_answer_subscribe(offer, &client_local, ans), 0);
    assert_int_equal(ans->media[0].dir, KG_SDP_INACTIVE);
    kg_sdp_del(ans);
    kg_sdp_del(offer);

    kg_sdp_track t[2] = {
        {.kind = KG_SDP_AUDIO, .mid = "x", .pt = 111, .ssrc = 1,
         .cname = "c", .stream_id = "s", .track_id = "t", .active = true},
        {.kind = KG_SDP_AUDIO, .mid = "x", .pt = 111, .ssrc = 2,
         .cname = "c", .stream_id = "s", .track_id = "t", .active = true},
    };
    offer = kg_sdp_new();
    assert_int_equal(kg_sdp_offer_subscribe(t, 2, &server_local, offer),
                     KG_ERR_INVAL); /* duplicate mid */
    assert_int_equal(offer->n_media, 0);
    assert_null(offer->media);
    strcpy(t[1].mid, "y");
    strcpy(t[1].track_id, "t\r\na=x");
    assert_int_equal(kg_sdp_offer_subscribe(t, 2, &server_local, offer),
                     KG_ERR_INVAL); /* line injection */
    strcpy(t[1].track_id, "t");
    t[1].kind = KG_SDP_OTHER;
    assert_int_equal(kg_sdp_offer_subscribe(t, 2, &server_local, offer),
                     KG_ERR_INVAL);
    t[1].kind = KG_SDP_VIDEO;
    t[1].pt = 128;
    assert_int_equal(kg_sdp_offer_subscribe(t, 2, &server_local, offer),
                     KG_ERR_INVAL);
    t[1].pt = 96;
    assert_int_equal(kg_sdp_offer_subscribe(t, 65, &server_local, offer),
                     KG_ERR_FULL);
    assert_int_equal(kg_sdp_offer_subscribe(t, 2, &server_local, offer), 0);
    kg_sdp_del(offer);

    /* answer_subscribe refuses offers it cannot use */
    kg_sdp *bad = parse_ok(chromium_offer); /* setup:actpass is fine... */
    ans = kg_sdp_new();
    bad->transport.setup = KG_SDP_SETUP_ACTIVE; /* ...active is not */
    assert_int_equal(kg_sdp_answer_subscribe(bad, &client_local, ans),
                     KG_ERR_UNSUPPORTED);
    assert_int_equal(ans->n_media, 0);
    bad->transport.setup = KG_SDP_SETUP_PASSIVE;
    bad->transport.ice_pwd[0] = '\0';
    assert_int_equal(kg_sdp_answer_subscribe(bad, &client_local, ans),
                     KG_ERR_UNSUPPORTED);
    kg_sdp_del(ans);
    kg_sdp_del(bad);
}

static void test_client_publish_to_server(void **state)
{
    (void)state;
    kg_sdp *offer = kg_sdp_new();
    assert_int_equal(kg_sdp_offer_publish(11, 22, "kc1", &client_local, offer),
                     0);
    const char *text = round_trip(offer);
    assert_contains(text, "a=group:BUNDLE 0 1\r\n");
    assert_true(strstr(text, "a=ice-lite") == NULL);
    assert_contains(text, "a=msid:kc1 audio\r\n");
    assert_contains(text, "a=ssrc:22 msid:kc1 video\r\n");
    assert_contains(text, "c=IN IP4 198.51.100.7\r\n");
    kg_sdp *parsed = parse_ok(text);
    kg_sdp *ans = kg_sdp_new();
    assert_int_equal(kg_sdp_answer_publish(parsed, &server_local, ans), 0);
    assert_int_equal(ans->media[0].codecs[0].pt, 111);
    assert_int_equal(ans->media[0].n_extmaps, 1);
    assert_int_equal(ans->media[1].codecs[0].pt, 96);
    assert_int_equal(ans->media[1].codecs[0].fb,
                     KG_SDP_FB_NACK | KG_SDP_FB_NACK_PLI | KG_SDP_FB_CCM_FIR);
    round_trip(ans);
    kg_sdp_del(ans);
    kg_sdp_del(parsed);

    kg_sdp_clear(offer);
    assert_int_equal(kg_sdp_offer_publish(1, 2, "two words", &client_local,
                                          offer),
                     KG_ERR_INVAL);
    assert_int_equal(kg_sdp_offer_publish(1, 2, "", &client_local, offer),
                     KG_ERR_INVAL);
    kg_sdp_del(offer);
}

/* A camera and a screen share: three sendonly sections, and kaigi's
 * answer takes all three, in order, with the screen's msid intact in the
 * offer kaigi learns its track id from. */
static void test_client_publish_three_tracks(void **state)
{
    (void)state;
    const kg_sdp_pub_track tracks[] = {
        {KG_SDP_AUDIO, 11, "audio"},
        {KG_SDP_VIDEO, 22, "video"},
        {KG_SDP_VIDEO, 33, "video-screen"},
    };
    kg_sdp *offer = kg_sdp_new();
    assert_int_equal(kg_sdp_offer_publish_tracks(tracks, 3, "kc1",
                                                 &client_local, offer),
                     0);
    const char *text = round_trip(offer);
    assert_contains(text, "a=group:BUNDLE 0 1 2\r\n");
    assert_contains(text, "a=msid:kc1 video\r\n");
    assert_contains(text, "a=msid:kc1 video-screen\r\n");
    assert_contains(text, "a=ssrc:33 msid:kc1 video-screen\r\n");
    kg_sdp *parsed = parse_ok(text);
    assert_int_equal(parsed->n_media, 3);
    assert_string_equal(parsed->media[2].mid, "2");
    assert_int_equal(parsed->media[2].kind, KG_SDP_VIDEO);
    assert_int_equal(parsed->media[2].dir, KG_SDP_SENDONLY);
    assert_int_equal(parsed->media[2].ssrcs[0].ssrc, 33);

    kg_sdp *ans = kg_sdp_new();
    assert_int_equal(kg_sdp_answer_publish(parsed, &server_local, ans), 0);
    assert_int_equal(ans->n_media, 3);
    assert_int_equal(ans->n_bundle, 3);
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(ans->media[i].dir, KG_SDP_RECVONLY);
        assert_int_not_equal(ans->media[i].port, 0);
        assert_int_equal(ans->media[i].n_ssrcs, 0);
        assert_string_equal(ans->media[i].mid, parsed->media[i].mid);
    }
    assert_int_equal(ans->media[0].codecs[0].pt, 111);
    assert_int_equal(ans->media[1].codecs[0].pt, 96);
    assert_int_equal(ans->media[2].codecs[0].pt, 96);
    assert_string_equal(ans->media[2].codecs[0].name, "VP8");
    assert_int_equal(ans->media[2].codecs[0].fb,
                     KG_SDP_FB_NACK | KG_SDP_FB_NACK_PLI | KG_SDP_FB_CCM_FIR);
    text = round_trip(ans);
    assert_contains(text, "a=group:BUNDLE 0 1 2\r\n");
    kg_sdp_del(ans);
    kg_sdp_del(parsed);
    kg_sdp_del(offer);
}

/* What kg_sdp_offer_publish_tracks refuses, leaving the offer empty. */
static void test_client_publish_tracks_errors(void **state)
{
    (void)state;
    kg_sdp_pub_track t[2] = {
        {KG_SDP_AUDIO, 1, "audio"},
        {KG_SDP_VIDEO, 2, "video"},
    };
    kg_sdp *offer = kg_sdp_new();
    assert_int_equal(kg_sdp_offer_publish_tracks(t, 0, "kc", &client_local,
                                                 offer),
                     KG_ERR_INVAL);
    assert_int_equal(kg_sdp_offer_publish_tracks(NULL, 2, "kc",
                                                 &client_local, offer),
                     KG_ERR_INVAL);
    assert_int_equal(kg_sdp_offer_publish_tracks(t, KG_SDP_MAX_MEDIA + 1,
                                                 "kc", &client_local, offer),
                     KG_ERR_FULL); /* checked before any track is read */
    t[1].kind = KG_SDP_OTHER;
    assert_int_equal(kg_sdp_offer_publish_tracks(t, 2, "kc", &client_local,
                                                 offer),
                     KG_ERR_INVAL);
    assert_int_equal(offer->n_media, 0);
    assert_null(offer->media);
    t[1].kind = KG_SDP_VIDEO;
    t[1].track_id = "two words";
    assert_int_equal(kg_sdp_offer_publish_tracks(t, 2, "kc", &client_local,
                                                 offer),
                     KG_ERR_INVAL);
    t[1].track_id = "x\r\na=x"; /* line injection */
    assert_int_equal(kg_sdp_offer_publish_tracks(t, 2, "kc", &client_local,
                                                 offer),
                     KG_ERR_INVAL);
    t[1].track_id = "0123456789012345678901234567890123456789012345678901234"
                    "567890123"; /* 64: no room for the NUL */
    assert_int_equal(kg_sdp_offer_publish_tracks(t, 2, "kc", &client_local,
                                                 offer),
                     KG_ERR_INVAL);
    t[1].track_id = NULL;
    assert_int_equal(kg_sdp_offer_publish_tracks(t, 2, "kc", &client_local,
                                                 offer),
                     KG_ERR_INVAL);
    assert_int_equal(offer->n_media, 0);
    t[1].track_id = "video";
    assert_int_equal(kg_sdp_offer_publish_tracks(t, 2, "kc", &client_local,
                                                 offer),
                     0);
    assert_int_equal(offer->n_media, 2);
    /* Not empty any more. */
    assert_int_equal(kg_sdp_offer_publish_tracks(t, 2, "kc", &client_local,
                                                 offer),
                     KG_ERR_INVAL);
    kg_sdp_del(offer);
}

/* The datachannel section of an offer is rejected in the answer, with
 * its format and mid, and left out of BUNDLE. */
static void test_datachannel_rejected(void **state)
{
    (void)state;
    size_t n = strlen(chromium_offer);
    static const char dc[] =
        "m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n"
        "c=IN IP4 0.0.0.0\r\n"
        "a=ice-ufrag:Fq9d\r\n"
        "a=ice-pwd:k3sAbqJ5wYPmxUuVv0Ni7C1o\r\n"
        "a=ice-options:trickle\r\n"
        "a=fingerprint:sha-256 " FPR_CHROME "\r\n"
        "a=setup:actpass\r\n"
        "a=mid:2\r\n"
        "a=sctp-port:5000\r\n"
        "a=max-message-size:262144\r\n";
    char *text = xmalloc(n + sizeof dc + 2);
    memcpy(text, chromium_offer, n);
    memcpy(text + n, dc, sizeof dc);
    char *g = strstr(text, "BUNDLE 0 1\r\n");
    memmove(g + 12, g + 10, strlen(g + 10) + 1); /* make room for " 2" */
    memcpy(g + 10, " 2", 2);

    kg_sdp *offer = parse_ok(text);
    assert_int_equal(offer->n_media, 3);
    assert_int_equal(offer->media[2].kind, KG_SDP_OTHER);
    assert_string_equal(offer->media[2].fmt_text, "webrtc-datachannel");
    assert_int_equal(offer->media[2].n_codecs, 0);
    kg_sdp *ans = kg_sdp_new();
    assert_int_equal(kg_sdp_answer_publish(offer, &server_local, ans), 0);
    assert_int_equal(ans->n_media, 3);
    assert_int_equal(ans->media[2].port, 0);
    assert_string_equal(ans->media[2].kind_text, "application");
    assert_string_equal(ans->media[2].mid, "2");
    assert_int_equal(ans->n_bundle, 2);
    const char *out = round_trip(ans);
    assert_contains(out, "a=group:BUNDLE 0 1\r\n");
    assert_contains(out, "m=application 0 UDP/DTLS/SCTP webrtc-datachannel\r\n"
                         "c=IN IP4 0.0.0.0\r\n"
                         "a=mid:2\r\n");
    assert_int_equal(strlen(strstr(out, "m=application")),
                     strlen("m=application 0 UDP/DTLS/SCTP webrtc-datachannel\r\n"
                            "c=IN IP4 0.0.0.0\r\na=mid:2\r\n"));
    kg_sdp_del(ans);
    kg_sdp_del(offer);
    free(text);
}

static void test_publish_unsupported(void **state)
{
    (void)state;
    kg_sdp *ans = kg_sdp_new();
    kg_sdp *o = parse_ok(chromium_offer);
    o->transport.setup = KG_SDP_SETUP_PASSIVE;
    assert_int_equal(kg_sdp_answer_publish(o, &server_local, ans),
                     KG_ERR_UNSUPPORTED);
    o->transport.setup = KG_SDP_SETUP_NONE;
    assert_int_equal(kg_sdp_answer_publish(o, &server_local, ans),
                     KG_ERR_UNSUPPORTED);
    o->transport.setup = KG_SDP_SETUP_ACTIVE;
    assert_int_equal(kg_sdp_answer_publish(o, &server_local, ans), 0);
    kg_sdp_clear(ans);
    o->transport.fingerprint[0] = '\0';
    assert_int_equal(kg_sdp_answer_publish(o, &server_local, ans),
                     KG_ERR_UNSUPPORTED);
    assert_int_equal(ans->n_media, 0);
    kg_sdp_del(o);

    /* No opus/48000/2 and no VP8: nothing usable. */
    static const char nothing[] =
        HDR "a=group:BUNDLE a v\r\n"
        "a=ice-ufrag:abcd\r\na=ice-pwd:abcdefghijklmnopqrstuv\r\n"
        "a=fingerprint:sha-256 " FPR_KAIGI "\r\na=setup:actpass\r\n"
        "m=audio 9 UDP/TLS/RTP/SAVPF 111 0\r\na=mid:a\r\na=rtcp-mux\r\n"
        "a=rtpmap:111 opus/48000\r\na=rtpmap:0 PCMU/8000\r\n"
        "m=video 9 UDP/TLS/RTP/SAVPF 102\r\na=mid:v\r\na=rtcp-mux\r\n"
        "a=rtpmap:102 H264/90000\r\n";
    o = parse_ok(nothing);
    assert_int_equal(kg_sdp_answer_publish(o, &server_local, ans),
                     KG_ERR_UNSUPPORTED);
    assert_int_equal(ans->n_media, 0);
    assert_null(ans->media);
    kg_sdp_del(o);

    /* opus fine, video H264 only: video rejected with its formats; a
     * section outside BUNDLE and one without rtcp-mux rejected too. */
    static const char partial[] =
        HDR "a=group:BUNDLE a v\r\n"
        "a=ice-ufrag:abcd\r\na=ice-pwd:abcdefghijklmnopqrstuv\r\n"
        "a=fingerprint:sha-256 " FPR_KAIGI "\r\na=setup:actpass\r\n"
        "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:a\r\na=rtcp-mux\r\n"
        "a=sendrecv\r\na=rtpmap:111 OPUS/48000/2\r\n"
        "m=video 9 UDP/TLS/RTP/SAVPF 102 103\r\na=mid:v\r\na=rtcp-mux\r\n"
        "a=rtpmap:102 H264/90000\r\n"
        "m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:nb\r\na=rtcp-mux\r\n"
        "a=rtpmap:96 VP8/90000\r\n"
        "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:nomux\r\n"
        "a=rtpmap:111 opus/48000/2\r\n";
    o = parse_ok(partial);
    assert_int_equal(kg_sdp_answer_publish(o, &server_local, ans), 0);
    assert_int_equal(ans->n_media, 4);
    assert_int_equal(ans->media[0].port, 9);
    assert_int_equal(ans->media[0].dir, KG_SDP_RECVONLY);
    assert_string_equal(ans->media[0].codecs[0].name, "OPUS");
    for (size_t i = 1; i < 4; i++)
        assert_int_equal(ans->media[i].port, 0);
    assert_int_equal(ans->media[1].n_codecs, 2);
    assert_int_equal(ans->n_bundle, 1);
    const char *text = round_trip(ans);
    assert_contains(text, "m=video 0 UDP/TLS/RTP/SAVPF 102 103\r\n"
                          "c=IN IP4 0.0.0.0\r\na=mid:v\r\n");
    kg_sdp_del(o);
    kg_sdp_del(ans);

    /* No BUNDLE group: the first usable section only. */
    static const char nobundle[] =
        HDR "a=ice-ufrag:abcd\r\na=ice-pwd:abcdefghijklmnopqrstuv\r\n"
        "a=fingerprint:sha-256 " FPR_KAIGI "\r\na=setup:actpass\r\n"
        "m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\na=mid:d\r\n"
        "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:a\r\na=rtcp-mux\r\n"
        "a=rtpmap:111 opus/48000/2\r\n"
        "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:b\r\na=rtcp-mux\r\n"
        "a=rtpmap:111 opus/48000/2\r\n";
    o = parse_ok(nobundle);
    ans = kg_sdp_new();
    assert_int_equal(kg_sdp_answer_publish(o, &server_local, ans), 0);
    assert_int_equal(ans->media[0].port, 0);
    assert_int_equal(ans->media[1].port, 9);
    assert_int_equal(ans->media[2].port, 0);
    assert_int_equal(ans->n_bundle, 1);
    assert_string_equal(ans->bundle[0], "a");
    round_trip(ans);
    kg_sdp_del(ans);
    kg_sdp_del(o);

    /* a recvonly offer gets an inactive answer */
    o = parse_ok(chromium_offer);
    o->media[0].dir = KG_SDP_RECVONLY;
    o->media[1].dir = KG_SDP_INACTIVE;
    ans = kg_sdp_new();
    assert_int_equal(kg_sdp_answer_publish(o, &server_local, ans), 0);
    assert_int_equal(ans->media[0].dir, KG_SDP_INACTIVE);
    assert_int_equal(ans->media[1].dir, KG_SDP_INACTIVE);
    kg_sdp_del(ans);
    kg_sdp_del(o);
}

/* Every prefix of a valid SDP parses or is malformed: never a crash,
 * never TRUNC or FULL (a prefix cannot make values longer). */
static void test_every_prefix(void **state)
{
    (void)state;
    size_t n = strlen(chromium_offer);
    size_t ok = 0;
    for (size_t len = 0; len <= n; len++) {
        char *copy = xmalloc(len + 1); /* exact size: ASan sees overreads */
        memcpy(copy, chromium_offer, len);
        int rc = parse_text(copy, len, NULL);
        if (rc != 0 && rc != KG_ERR_MALFORMED)
            fail_msg("prefix %zu: %s", len, kg_errname(rc));
        ok += rc == 0;
        free(copy);
    }
    assert_true(ok > 100); /* cuts in ignored values still parse */
    assert_int_equal(parse_text(chromium_offer, 5, NULL), KG_ERR_MALFORMED);
    assert_int_equal(parse_text(chromium_offer, 0, NULL), KG_ERR_MALFORMED);
}

/* Each line cut short at every length, the rest kept. */
static void test_every_line_truncated(void **state)
{
    (void)state;
    const char *src = firefox_offer;
    size_t n = strlen(src);
    char *buf = xmalloc(n + 1);
    for (const char *line = src; *line;) {
        const char *end = strstr(line, "\r\n");
        size_t ll = (size_t)(end - line);
        for (size_t cut = 0; cut < ll; cut++) {
            size_t pre = (size_t)(line - src);
            memcpy(buf, src, pre + cut);
            memcpy(buf + pre + cut, end, n - (size_t)(end - src));
            size_t len = n - (ll - cut);
            int rc = parse_text(buf, len, NULL);
            if (rc != 0 && rc != KG_ERR_MALFORMED)
                fail_msg("line at %zu cut to %zu: %s", pre, cut,
                         kg_errname(rc));
            if (cut < 2) /* "" or "x" is not a line */
                assert_int_equal(rc, KG_ERR_MALFORMED);
        }
        line = end + 2;
    }
    free(buf);
}

static void test_bad_inputs(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        int rc;
    } cases[] = {
        {"", KG_ERR_MALFORMED},
        {"o=- 1 2 IN IP4 1.1.1.1\r\ns=-\r\nt=0 0\r\n", KG_ERR_MALFORMED},
        {"v=1\r\no=- 1 2 IN IP4 1.1.1.1\r\ns=-\r\nt=0 0\r\n", KG_ERR_MALFORMED},
        {"v=0\r\ns=-\r\nt=0 0\r\n", KG_ERR_MALFORMED},
        {"v=0\r\no=- 1 2 IN IP4 1.1.1.1\r\nt=0 0\r\n", KG_ERR_MALFORMED},
        {"v=0\r\no=- 1 2 IN IP4 1.1.1.1\r\ns=-\r\n", KG_ERR_MALFORMED},
        {HDR, 0},
        {HDR "hello\r\n", KG_ERR_MALFORMED},
        {HDR "\r\n", KG_ERR_MALFORMED},
        {HDR "a\r\n", KG_ERR_MALFORMED},
        {HDR "A=x\r\n", KG_ERR_MALFORMED},
        {HDR "x=unknown type\r\n", KG_ERR_MALFORMED},
        {HDR "v=0\r\n", KG_ERR_MALFORMED},
        {HDR "o=- 1 2 IN IP4 1.1.1.1\r\n", KG_ERR_MALFORMED},
        {HDR "a=x\rb\r\n", KG_ERR_MALFORMED},
        {HDR "a=ok\r\r\n", KG_ERR_MALFORMED},
        {HDR "i=info\r\nb=AS:30\r\na=x-unknown:anything at all\r\n", 0},
        {HDR "b=AS\r\n", KG_ERR_MALFORMED},
        {HDR "c=IN IP4\r\n", KG_ERR_MALFORMED},
        {HDR "t=0\r\n", KG_ERR_MALFORMED},
        {"v=0\r\no=- 18446744073709551616 2 IN IP4 1.1.1.1\r\ns=-\r\nt=0 0\r\n",
         KG_ERR_MALFORMED},
        {"v=0\r\no=- 1 2 IN IP4\r\ns=-\r\nt=0 0\r\n", KG_ERR_MALFORMED},
        {"v=0\r\no=- 1  2 IN IP4 1.1.1.1\r\ns=-\r\nt=0 0\r\n", KG_ERR_MALFORMED},
        {"v=0\r\no=- 1 2 IN IP4 1.1.1.1\r\ns=-\r\nm=audio 9 RTP/AVP 0\r\n",
         KG_ERR_MALFORMED}, /* m= before t= */
        {HDR "m=audio 9 RTP/AVP\r\n", KG_ERR_MALFORMED},
        {HDR "m=audio 9 RTP/AVP \r\n", KG_ERR_MALFORMED},
        {HDR "m=audio 9/2 RTP/AVP 0\r\n", KG_ERR_MALFORMED},
        {HDR "m=audio 65536 RTP/AVP 0\r\n", KG_ERR_MALFORMED},
        {HDR "m=audio 9 RTP/AVP 128\r\n", KG_ERR_MALFORMED},
        {HDR "m=audio 9 RTP/AVP 0 0\r\n", KG_ERR_MALFORMED},
        {HDR "m=audio 9 RTP/AVP x\r\n", KG_ERR_MALFORMED},
        {HDR AUDIO_M "a=rtpmap:112 opus/48000/2\r\n", KG_ERR_MALFORMED},
        {HDR AUDIO_M "a=rtpmap:111 opus/48000/2\r\na=rtpmap:111 opus/48000/2\r\n",
         KG_ERR_MALFORMED},
        {HDR AUDIO_M "a=rtpmap:111 opus\r\n", KG_ERR_MALFORMED},
        {HDR AUDIO_M "a=rtpmap:111 opus/0\r\n", KG_ERR_MALFORMED},
        {HDR AUDIO_M "a=rtpmap:111 opus/48000/0\r\n", KG_ERR_MALFORMED},
        {HDR AUDIO_M "a=rtpmap:111 opus/48000/2/1\r\n", KG_ERR_MALFORMED},
        {HDR AUDIO_M "a=rtpmap:111 opus/48000/256\r\n", KG_ERR_MALFORMED},
        {HDR AUDIO_M "a=rtpmap:111 opus/4294967296\r\n", KG_ERR_MALFORMED},
        {HDR AUDIO_M "a=rtpmap:111\r\n", KG_ERR_MALFORMED},
        {HDR AUDIO_M "a=rtpmap\r\n", KG_ERR_MALFORMED},
        {HDR AUDIO_M "a=fmtp:112 x=1\r\n", KG_ERR_MALFORMED},
        {HDR AUDIO_M "a=fmtp:111\r\n", KG_ERR_MALFORMED},
        {HDR AUDIO_M "a=fmtp:111 \r\n", KG_ERR_MALFORMED},
        {HDR AUDIO_M "a=fmtp:111 a=1\r\na=fmtp:111 b=2\r\n", KG_ERR_MALFORMED},
        {HDR AUDIO_M "a=fmtp:111 a=\x01\r\n", KG_ERR_MALFORMED},
        {HDR AUDIO_M "a=rtcp-fb:112 nack\r\na=rtcp-fb:111 x y z\r\n", 0},
        {HDR AUDIO_M "a=rtcp-fb:111\r\n", KG_ERR_MALFORMED},
        {HDR AUDIO_M "a=rtcp-fb:300 nack\r\n", KG_ERR_MALFORMED},
        {HDR AUDIO_M "a=mid:a\r\na=mid:b\r\n", KG_ERR_MALFORMED},
        {HDR AUDIO_M "a=mid:a\r\n" AUDIO_M "a=mid:a\r\n", KG_ERR_MALFORMED},
        {HDR "a=group:BUNDLE a\r\n" AUDIO_M "a=mid:b\r\n", KG_ERR_MALFORMED},
        {HDR "a=group:BUNDLE a a\r\n" AUDIO_M "a=mid:a\r\n", KG_ERR_MALFORMED},
        {HDR "a=group:BUNDLE a  b\r\n", KG_ERR_MALFORMED},
        {HDR "a=group:LS x y\r\n", 0},
        {HDR "a=group:BUNDLE\r\n", 0},
        {HDR "a=ice-ufrag:abc\r\n", KG_ERR_MALFORMED},
        {HDR "a=ice-ufrag:ab-d\r\n", KG_ERR_MALFORMED},
        {HDR "a=ice-ufrag:abcd\r\na=ice-ufrag:abcd\r\n", KG_ERR_MALFORMED},
        {HDR "a=ice-pwd:abcdefghijklmnopqrstu\r\n", KG_ERR_MALFORMED},
        {HDR "a=fingerprint:sha-256 AB:CD\r\n", KG_ERR_MALFORMED},
        {HDR "a=fingerprint:sha-256\r\n", KG_ERR_MALFORMED},
        {HDR "a=fingerprint:sha-256 " FPR_KAIGI " extra\r\n", KG_ERR_MALFORMED},
        {HDR "a=setup:sideways\r\n", KG_ERR_MALFORMED},
        {HDR "a=setup:active\r\na=setup:active\r\n", KG_ERR_MALFORMED},
        {HDR "a=sendonly\r\na=recvonly\r\n", KG_ERR_MALFORMED},
        {HDR AUDIO_M "a=extmap:0 urn:x\r\n", KG_ERR_MALFORMED},
        {HDR AUDIO_M "a=extmap:256 urn:x\r\n", KG_ERR_MALFORMED},
        {HDR AUDIO_M "a=extmap:1/sideways urn:x\r\n", KG_ERR_MALFORMED},
        {HDR AUDIO_M "a=extmap:1\r\n", KG_ERR_MALFORMED},
        {HDR AUDIO_M "a=extmap:1 urn:x\r\na=extmap:1 urn:y\r\n", KG_ERR_MALFORMED},
        {HDR AUDIO_M "a=extmap:1/sendonly urn:x attr\r\n", 0},
        {HDR AUDIO_M "a=msid:a b c\r\n", KG_ERR_MALFORMED},
        {HDR AUDIO_M "a=ssrc:1\r\n", KG_ERR_MALFORMED},
        {HDR AUDIO_M "a=ssrc:4294967296 cname:x\r\n", KG_ERR_MALFORMED},
        {HDR AUDIO_M "a=ssrc:1 cname:\r\n", KG_ERR_MALFORMED},
        {HDR AUDIO_M "a=ssrc:1 cname\r\n", KG_ERR_MALFORMED},
        {HDR AUDIO_M "a=ssrc:1 label:whatever it is\r\n", 0},
        {HDR AUDIO_M "a=ssrc-group:FID 1\r\n", KG_ERR_MALFORMED},
        {HDR AUDIO_M "a=ssrc-group:FID 1 2 3\r\n", KG_ERR_MALFORMED},
        {HDR AUDIO_M "a=ssrc-group:SIM 1 2 3\r\n", 0},
        {HDR AUDIO_M "a=ssrc-group:SIM 1 2\r\n", 0},
        {HDR AUDIO_M "a=ssrc-group:SIM 1\r\n", KG_ERR_MALFORMED},
        {HDR AUDIO_M "a=ssrc-group:SIM 1 0\r\n", KG_ERR_MALFORMED},
        {HDR AUDIO_M "a=ssrc-group:SIM 1 2 3 4\r\n", KG_ERR_FULL},
        {HDR AUDIO_M "a=ssrc-group:SIM 1  2\r\n", KG_ERR_MALFORMED},
        {HDR AUDIO_M "a=ssrc-group:SIM 1 2 x\r\n", KG_ERR_MALFORMED},
        {HDR AUDIO_M "a=rid:q send\r\n", 0},
        {HDR AUDIO_M "a=rid:q send pt=96;max-width=320\r\n", 0},
        {HDR AUDIO_M "a=rid:q sideways\r\n", KG_ERR_MALFORMED},
        {HDR AUDIO_M "a=rid:q\r\n", KG_ERR_MALFORMED},
        {HDR AUDIO_M "a=rid:a.b send\r\n", KG_ERR_MALFORMED},
        {HDR AUDIO_M "a=rid:q send\r\na=rid:q recv\r\n", KG_ERR_MALFORMED},
        {HDR AUDIO_M "a=rid:a send\r\na=rid:b send\r\na=rid:c send\r\n"
                     "a=rid:d send\r\na=rid:e send\r\n", KG_ERR_FULL},
        {HDR AUDIO_M "a=rid:abcdefghijklmnopq send\r\n", KG_ERR_TRUNC},
        {HDR AUDIO_M "a=simulcast:send q;h;f\r\n", 0},
        {HDR AUDIO_M "a=simulcast:send q;~h,x;f recv z\r\n", 0},
        {HDR AUDIO_M "a=simulcast:send\r\n", KG_ERR_MALFORMED},
        {HDR AUDIO_M "a=simulcast:both q\r\n", KG_ERR_MALFORMED},
        {HDR AUDIO_M "a=simulcast:send q;;f\r\n", KG_ERR_MALFORMED},
        {HDR AUDIO_M "a=simulcast:send a;b;c;d;e\r\n", KG_ERR_FULL},
        {HDR AUDIO_M "a=simulcast:send a\r\na=simulcast:send b\r\n",
         KG_ERR_MALFORMED},
        {HDR AUDIO_M "a=candidate:1 1 udp 1 1.2.3.4 5\r\n", KG_ERR_MALFORMED},
        {HDR AUDIO_M "a=candidate:1 1 udp 1 1.2.3.4 70000 typ host\r\n",
         KG_ERR_MALFORMED},
        {HDR AUDIO_M "a=candidate:1 0 udp 1 1.2.3.4 7 typ host\r\n",
         KG_ERR_MALFORMED},
        {HDR AUDIO_M "a=candidate:1 1 udp 1 1.2.3.4 7 type host\r\n",
         KG_ERR_MALFORMED},
        {HDR AUDIO_M "a=candidate:1 2 udp 1 1.2.3.4 7 typ host\r\n", 0},
        {HDR "a=candidate:garbage\r\n", 0}, /* session level: ignored */
        {HDR "a=extmap:garbage\r\n", 0},
        {HDR "a=:x\r\n", KG_ERR_MALFORMED},
        {HDR "a=\r\n", KG_ERR_MALFORMED},
    };
    for (size_t i = 0; i < KG_ARRAY_LEN(cases); i++) {
        int rc = parse_str(cases[i].text);
        if (rc != cases[i].rc)
            fail_msg("case %zu: got %s, want %s:\n%s", i, kg_errname(rc),
                     kg_errname(cases[i].rc), cases[i].text);
    }
    /* A NUL inside the text */
    static const char nul[] = HDR "a=x\0y\r\n";
    assert_int_equal(parse_text(nul, sizeof nul - 1, NULL), KG_ERR_MALFORMED);
    /* API misuse */
    kg_sdp *s = kg_sdp_new();
    assert_int_equal(kg_sdp_parse(NULL, 3, s), KG_ERR_INVAL);
    assert_int_equal(kg_sdp_parse(HDR, strlen(HDR), NULL), KG_ERR_INVAL);
    assert_int_equal(kg_sdp_parse(HDR AUDIO_M, strlen(HDR AUDIO_M), s), 0);
    assert_int_equal(kg_sdp_parse(HDR, strlen(HDR), s), KG_ERR_INVAL);
    kg_sdp_del(s);
    kg_sdp_del(NULL);
    kg_sdp_clear(NULL);
}

/* Builds HDR + a prefix + count copies of a formatted line. */
static char *repeat(const char *prefix, const char *fmt, int count)
{
    size_t cap = 200000;
    char *t = xmalloc(cap);
    size_t n = (size_t)snprintf(t, cap, "%s%s", HDR, prefix);
    for (int i = 0; i < count; i++)
        n += (size_t)snprintf(t + n, cap - n, fmt, i + 1, i + 1, i + 1);
    return t;
}

static void test_limits(void **state)
{
    (void)state;
    static const struct {
        const char *prefix, *fmt;
        int max, rc;
    } lim[] = {
        {"", "m=audio 9 RTP/AVP 0\r\na=mid:%d\r\n", KG_SDP_MAX_MEDIA, KG_ERR_FULL},
        {"m=audio 9 RTP/AVP", " %d", KG_SDP_MAX_CODECS, KG_ERR_FULL},
        {"m=audio 9 RTP/AVP 0\r\n", "a=extmap:%d urn:x\r\n", KG_SDP_MAX_EXTMAP,
         KG_ERR_FULL},
        {"m=audio 9 RTP/AVP 0\r\n", "a=ssrc:%d cname:c%d\r\n", KG_SDP_MAX_SSRC,
         KG_ERR_FULL},
        {"a=group:BUNDLE", " %d", KG_SDP_MAX_MEDIA, KG_ERR_FULL},
    };
    for (size_t i = 0; i < KG_ARRAY_LEN(lim); i++) {
        /* exactly the limit parses (BUNDLE needs its m-sections) */
        char *t = repeat(lim[i].prefix, lim[i].fmt, lim[i].max);
        if (i != 4) {
            if (i == 1)
                strcat(t, "\r\n");
            assert_int_equal(parse_str(t), 0);
        }
        free(t);
        t = repeat(lim[i].prefix, lim[i].fmt, lim[i].max + 1);
        if (i == 1 || i == 4)
            strcat(t, "\r\n");
        assert_int_equal(parse_str(t), lim[i].rc);
        free(t);
    }

    /* Over-long values: KG_ERR_TRUNC, never silently cut. */
    char big[700];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    static const struct {
        const char *pre, *post;
        size_t max; /* longest value that fits */
    } longv[] = {
        {HDR AUDIO_M "a=mid:", "\r\n", 31},
        {HDR "a=ice-ufrag:", "\r\n", 256},
        {HDR "a=ice-pwd:", "\r\n", 256},
        {HDR AUDIO_M "a=fmtp:111 ", "\r\n", 255},
        {HDR AUDIO_M "a=rtpmap:111 ", "/90000\r\n", 31},
        {HDR AUDIO_M "a=extmap:1 ", "\r\n", 127},
        {HDR AUDIO_M "a=msid:", "\r\n", 159},
        {HDR AUDIO_M "a=ssrc:1 cname:", "\r\n", 63},
        {HDR AUDIO_M "a=ssrc:1 msid:", "\r\n", 159},
        {HDR AUDIO_M "a=candidate:1 1 udp 1 ", " 9 typ host\r\n", 63},
        {HDR "m=", " 9 RTP/AVP 0\r\n", 15},
        {HDR "m=audio 9 ", " 0\r\n", 31},
        {HDR "m=application 9 DTLS/SCTP ", "\r\n", 255},
    };
    for (size_t i = 0; i < KG_ARRAY_LEN(longv); i++) {
        for (size_t extra = 0; extra < 2; extra++) {
            size_t len = longv[i].max + extra;
            char *t = xmalloc(strlen(longv[i].pre) + len + strlen(longv[i].post) + 1);
            sprintf(t, "%s%.*s%s", longv[i].pre, (int)len, big, longv[i].post);
            int rc = parse_str(t);
            if (rc != (extra ? KG_ERR_TRUNC : 0))
                fail_msg("case %zu len %zu: %s", i, len, kg_errname(rc));
            free(t);
        }
    }
    /* BUNDLE mids: 31 chars fit, 32 do not */
    char mid[33], bundle[400];
    memset(mid, 'm', 32);
    mid[32] = '\0';
    snprintf(bundle, sizeof bundle, HDR "a=group:BUNDLE %s\r\n", mid);
    assert_int_equal(parse_str(bundle), KG_ERR_TRUNC);
    mid[31] = '\0';
    snprintf(bundle, sizeof bundle,
             HDR "a=group:BUNDLE %s\r\n" AUDIO_M "a=mid:%s\r\n", mid, mid);
    assert_int_equal(parse_str(bundle), 0);

    /* A whole text over KG_SDP_MAX_TEXT */
    size_t n = KG_SDP_MAX_TEXT + 1;
    char *huge = xmalloc(n);
    memset(huge, 'x', n);
    memcpy(huge, HDR "a=x:", strlen(HDR "a=x:"));
    assert_int_equal(parse_text(huge, n, NULL), KG_ERR_TRUNC);
    assert_int_equal(parse_text(huge, n - 1, NULL), 0); /* one ignored line */
    free(huge);
}

static void test_fingerprint_and_feedback_rules(void **state)
{
    (void)state;
    static const char sha1_only[] =
        HDR AUDIO_M "a=fingerprint:sha-1 AA:BB\r\n";
    kg_sdp *s = parse_ok(sha1_only);
    assert_string_equal(s->media[0].transport.fingerprint, "");
    assert_string_equal(s->transport.fingerprint, "");
    kg_sdp_del(s);
    static const char both[] =
        HDR AUDIO_M "a=fingerprint:SHA-1 AA:BB\r\n"
        "a=fingerprint:SHA-256 " FPR_KAIGI "\r\n"
        "a=fingerprint:sha-256 " FPR_CHROME "\r\n";
    s = parse_ok(both);
    assert_string_equal(s->media[0].transport.fingerprint, FPR_KAIGI);
    kg_sdp_del(s);

    static const char wild[] =
        HDR "m=video 9 UDP/TLS/RTP/SAVPF 96 97 98\r\n"
        "a=rtcp-fb:* nack\r\n"
        "a=rtcp-fb:* ccm fir\r\n"
        "a=rtcp-fb:97 nack pli\r\n"
        "a=rtcp-fb:98 goog-remb\r\n"
        "a=rtcp-fb:98 nack rpsi\r\n"
        "a=rtcp-fb:98 ccm tmmbr\r\n"
        "a=rtcp-fb:98 transport-cc\r\n";
    s = parse_ok(wild);
    assert_int_equal(s->media[0].codecs[0].fb, KG_SDP_FB_NACK | KG_SDP_FB_CCM_FIR);
    assert_int_equal(s->media[0].codecs[1].fb,
                     KG_SDP_FB_NACK | KG_SDP_FB_CCM_FIR | KG_SDP_FB_NACK_PLI);
    assert_int_equal(s->media[0].codecs[2].fb,
                     KG_SDP_FB_NACK | KG_SDP_FB_CCM_FIR | KG_SDP_FB_GOOG_REMB |
                         KG_SDP_FB_TRANSPORT_CC);
    kg_sdp_del(s);

    /* session-level direction is the default; media-level overrides */
    static const char dirs[] = HDR "a=recvonly\r\n" AUDIO_M AUDIO_M
                               "a=inactive\r\n";
    s = parse_ok(dirs);
    assert_int_equal(s->media[0].dir, KG_SDP_RECVONLY);
    assert_int_equal(s->media[1].dir, KG_SDP_INACTIVE);
    kg_sdp_del(s);

    /* holdconn reads as no setup; ice-lite; session-level transport is
     * not overwritten by media values; rejected sections do not supply */
    static const char misc[] =
        HDR "a=ice-lite\r\na=ice-ufrag:sess\r\n"
        "m=audio 0 UDP/TLS/RTP/SAVPF 111\r\na=setup:active\r\n"
        "a=ice-pwd:rejectedrejectedrejected\r\n"
        "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=setup:holdconn\r\n"
        "a=ice-ufrag:medi\r\n"
        "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=setup:passive\r\n";
    s = parse_ok(misc);
    assert_true(s->ice_lite);
    assert_int_equal(s->media[1].transport.setup, KG_SDP_SETUP_NONE);
    assert_int_equal(s->transport.setup, KG_SDP_SETUP_PASSIVE);
    assert_string_equal(s->transport.ice_ufrag, "sess");
    assert_string_equal(s->transport.ice_pwd, "");
    kg_sdp_del(s);
}

static void test_writer_limits(void **state)
{
    (void)state;
    kg_sdp *s = parse_ok(chromium_offer);
    ssize_t need = kg_sdp_write(s, out_buf, sizeof out_buf);
    assert_true(need > 0);
    char *small = xmalloc((size_t)need + 1);
    for (size_t cap = 0; cap <= (size_t)need; cap++)
        assert_int_equal(kg_sdp_write(s, small, cap), KG_ERR_NOSPACE);
    assert_int_equal(kg_sdp_write(s, small, (size_t)need + 1), need);
    assert_string_equal(small, out_buf);
    free(small);

    /* Fields the parser would refuse are refused by the writer. */
    static const char *const bad_mids[] = {"a b", "a\r\na=x", "", "\x7f"};
    for (size_t i = 0; i < KG_ARRAY_LEN(bad_mids); i++) {
        kg_sdp *t = parse_ok(chromium_offer);
        strcpy(t->bundle[0], bad_mids[i]);
        assert_int_equal(kg_sdp_write(t, out_buf, sizeof out_buf),
                         KG_ERR_INVAL);
        kg_sdp_del(t);
    }
    kg_sdp *t = parse_ok(chromium_offer);
    memset(t->media[0].mid, 'x', sizeof t->media[0].mid); /* no NUL */
    assert_int_equal(kg_sdp_write(t, out_buf, sizeof out_buf), KG_ERR_INVAL);
    strcpy(t->media[0].mid, "1"); /* duplicate mid */
    assert_int_equal(kg_sdp_write(t, out_buf, sizeof out_buf), KG_ERR_INVAL);
    strcpy(t->media[0].mid, "0");
    strcpy(t->media[0].codecs[0].name, "op/us");
    assert_int_equal(kg_sdp_write(t, out_buf, sizeof out_buf), KG_ERR_INVAL);
    strcpy(t->media[0].codecs[0].name, "opus");
    t->media[0].codecs[1].pt = 111; /* duplicate PT */
    assert_int_equal(kg_sdp_write(t, out_buf, sizeof out_buf), KG_ERR_INVAL);
    t->media[0].codecs[1].pt = 63;
    strcpy(t->media[0].transport.fingerprint, "AB:CD");
    assert_int_equal(kg_sdp_write(t, out_buf, sizeof out_buf), KG_ERR_INVAL);
    strcpy(t->media[0].transport.fingerprint, FPR_KAIGI);
    strcpy(t->media[0].codecs[0].fmtp, "a\nb");
    assert_int_equal(kg_sdp_write(t, out_buf, sizeof out_buf), KG_ERR_INVAL);
    t->media[0].codecs[0].fmtp[0] = '\0';
    t->media[0].n_codecs = 0; /* RTP section without codecs */
    assert_int_equal(kg_sdp_write(t, out_buf, sizeof out_buf), KG_ERR_INVAL);
    t->media[0].n_codecs = 1;
    t->media[0].dir = (enum kg_sdp_dir)9;
    assert_int_equal(kg_sdp_write(t, out_buf, sizeof out_buf), KG_ERR_INVAL);
    t->media[0].dir = KG_SDP_SENDONLY;
    assert_true(kg_sdp_write(t, out_buf, sizeof out_buf) > 0);
    assert_int_equal(kg_sdp_write(NULL, out_buf, 1), KG_ERR_INVAL);
    kg_sdp_del(t);
    kg_sdp_del(s);

    /* kg_sdp_add_media stops at KG_SDP_MAX_MEDIA */
    s = kg_sdp_new();
    for (int i = 0; i < KG_SDP_MAX_MEDIA; i++)
        assert_non_null(kg_sdp_add_media(s));
    assert_null(kg_sdp_add_media(s));
    kg_sdp_del(s);

    kg_sdp_local l = server_local;
    assert_int_equal(kg_sdp_local_check(&l), 0);
    l.cand_ip = NULL;
    assert_int_equal(kg_sdp_local_check(&l), 0);
    l.fingerprint = "AB";
    assert_int_equal(kg_sdp_local_check(&l), KG_ERR_INVAL);
    l = server_local;
    l.ice_ufrag = "ab_d";
    assert_int_equal(kg_sdp_local_check(&l), KG_ERR_INVAL);
    l = server_local;
    l.cand_ip = "1.2.3.4 evil";
    assert_int_equal(kg_sdp_local_check(&l), KG_ERR_INVAL);
    assert_int_equal(kg_sdp_local_check(NULL), KG_ERR_INVAL);
}

/* Chromium's offer with three rid-based encodings (sendEncodings with
 * rids): kaigi answers a=rid recv for each, a=simulcast:recv in the same
 * order and the rtp-stream-id extension with the offer's id. */
static void test_simulcast_rid_answer(void **state)
{
    (void)state;
    static const char vp8[] = "a=rtpmap:96 VP8/90000\r\n";
    static const char rids[] = "a=rid:q send\r\na=rid:h send\r\n"
                               "a=rid:f send\r\na=simulcast:send q;h;~f\r\n";
    const char *at = strstr(chromium_offer, vp8);
    assert_non_null(at);
    size_t head = (size_t)(at - chromium_offer);
    char *text = xmalloc(sizeof chromium_offer + sizeof rids);
    memcpy(text, chromium_offer, head);
    strcpy(text + head, rids);
    strcat(text, at);
    kg_sdp *offer = parse_ok(text);
    const kg_sdp_media *v = &offer->media[1];
    assert_int_equal(v->n_rids, 3);
    assert_int_equal(v->n_simulcast, 3);
    assert_false(v->simulcast_recv);
    assert_string_equal(v->simulcast[2], "f"); /* "~" (paused) dropped */
    kg_sdp *ans = kg_sdp_new();
    assert_int_equal(kg_sdp_answer_publish(offer, &server_local, ans), 0);
    const kg_sdp_media *a = &ans->media[1];
    assert_int_equal(a->n_rids, 3);
    assert_true(a->rids[0].recv);
    assert_string_equal(a->rids[1].id, "h");
    assert_true(a->simulcast_recv);
    assert_int_equal(kg_sdp_find_extmap(a, KG_SDP_EXT_RID), 10);
    assert_int_equal(kg_sdp_find_extmap(a, KG_SDP_EXT_MID), 4);
    assert_true(a->codecs[0].fb & KG_SDP_FB_GOOG_REMB); /* kaigi sends it */
    const char *out = round_trip(ans);
    assert_contains(out, "a=rid:q recv\r\n");
    assert_contains(out, "a=simulcast:recv q;h;f\r\n");
    assert_contains(out, "a=extmap:10 " KG_SDP_EXT_RID "\r\n");
    /* The plain offer (no rids) gets no simulcast lines. */
    kg_sdp *plain = parse_ok(chromium_offer);
    kg_sdp_clear(ans);
    assert_int_equal(kg_sdp_answer_publish(plain, &server_local, ans), 0);
    assert_int_equal(ans->media[1].n_rids, 0);
    assert_int_equal(kg_sdp_find_extmap(&ans->media[1], KG_SDP_EXT_RID), 0);
    assert_false(ans->media[1].codecs[0].fb & KG_SDP_FB_GOOG_REMB);
    kg_sdp_del(plain);
    kg_sdp_del(ans);
    kg_sdp_del(offer);
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_chromium_offer_parse),
        cmocka_unit_test(test_chromium_offer_answer),
        cmocka_unit_test(test_lf_line_ends),
        cmocka_unit_test(test_firefox_offer),
        cmocka_unit_test(test_firefox_bundle_only),
        cmocka_unit_test(test_bundle_only_rules),
        cmocka_unit_test(test_firefox_simulcast),
        cmocka_unit_test(test_round_trip_every_field),
        cmocka_unit_test(test_session_transport_written_when_needed),
        cmocka_unit_test(test_subscribe_cycle),
        cmocka_unit_test(test_subscribe_no_tracks_and_errors),
        cmocka_unit_test(test_client_publish_to_server),
        cmocka_unit_test(test_client_publish_three_tracks),
        cmocka_unit_test(test_client_publish_tracks_errors),
        cmocka_unit_test(test_datachannel_rejected),
        cmocka_unit_test(test_publish_unsupported),
        cmocka_unit_test(test_every_prefix),
        cmocka_unit_test(test_every_line_truncated),
        cmocka_unit_test(test_bad_inputs),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_fingerprint_and_feedback_rules),
        cmocka_unit_test(test_writer_limits),
        cmocka_unit_test(test_simulcast_rid_answer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
