/* Field-by-field equality of two kg_sdp, for the SDP unit test and
 * fuzzer: parse(write(x)) == x. Returns NULL when equal, else the name
 * of the first field that differs (so a failing test says which). */
#ifndef KG_TEST_SDP_EQUAL_H
#define KG_TEST_SDP_EQUAL_H

#include <string.h>

#include "signalling/sdp.h"

#define SDP_EQ_STR(f)                   \
    do {                                \
        if (strcmp(a->f, b->f) != 0)    \
            return #f;                  \
    } while (0)
#define SDP_EQ_NUM(f)         \
    do {                      \
        if (a->f != b->f)     \
            return #f;        \
    } while (0)

static inline const char *sdp_transport_diff(const kg_sdp_transport *a,
                                             const kg_sdp_transport *b)
{
    SDP_EQ_STR(ice_ufrag);
    SDP_EQ_STR(ice_pwd);
    SDP_EQ_STR(fingerprint);
    SDP_EQ_NUM(setup);
    SDP_EQ_STR(cand_ip);
    SDP_EQ_NUM(cand_port);
    return NULL;
}

static inline const char *sdp_media_diff(const kg_sdp_media *a,
                                         const kg_sdp_media *b)
{
    SDP_EQ_NUM(kind);
    SDP_EQ_STR(kind_text);
    SDP_EQ_NUM(port);
    SDP_EQ_STR(proto);
    SDP_EQ_STR(mid);
    SDP_EQ_NUM(dir);
    SDP_EQ_NUM(rtcp_mux);
    SDP_EQ_NUM(rtcp_rsize);
    SDP_EQ_STR(msid);
    SDP_EQ_NUM(n_codecs);
    for (size_t i = 0; i < a->n_codecs; i++) {
        SDP_EQ_NUM(codecs[i].pt);
        SDP_EQ_STR(codecs[i].name);
        SDP_EQ_NUM(codecs[i].clock);
        SDP_EQ_NUM(codecs[i].channels);
        SDP_EQ_STR(codecs[i].fmtp);
        SDP_EQ_NUM(codecs[i].fb);
    }
    SDP_EQ_NUM(n_extmaps);
    for (size_t i = 0; i < a->n_extmaps; i++) {
        SDP_EQ_NUM(extmaps[i].id);
        SDP_EQ_STR(extmaps[i].uri);
    }
    SDP_EQ_NUM(n_ssrcs);
    for (size_t i = 0; i < a->n_ssrcs; i++) {
        SDP_EQ_NUM(ssrcs[i].ssrc);
        SDP_EQ_STR(ssrcs[i].cname);
        SDP_EQ_STR(ssrcs[i].msid);
    }
    SDP_EQ_NUM(fid_ssrc[0]);
    SDP_EQ_NUM(fid_ssrc[1]);
    SDP_EQ_NUM(n_sim);
    for (size_t i = 0; i < a->n_sim && i < 3; i++)
        SDP_EQ_NUM(sim_ssrc[i]);
    SDP_EQ_NUM(n_rids);
    for (size_t i = 0; i < a->n_rids && i < KG_SDP_MAX_RID; i++) {
        SDP_EQ_STR(rids[i].id);
        SDP_EQ_NUM(rids[i].recv);
    }
    SDP_EQ_NUM(n_simulcast);
    SDP_EQ_NUM(simulcast_recv);
    for (size_t i = 0; i < a->n_simulcast && i < KG_SDP_MAX_RID; i++)
        SDP_EQ_STR(simulcast[i]);
    SDP_EQ_STR(fmt_text);
    const char *t = sdp_transport_diff(&a->transport, &b->transport);
    return t ? t : NULL;
}

static inline const char *sdp_diff(const kg_sdp *a, const kg_sdp *b)
{
    SDP_EQ_NUM(sess_id);
    SDP_EQ_NUM(sess_version);
    SDP_EQ_NUM(ice_lite);
    const char *t = sdp_transport_diff(&a->transport, &b->transport);
    if (t)
        return t;
    SDP_EQ_NUM(n_bundle);
    for (size_t i = 0; i < a->n_bundle; i++)
        SDP_EQ_STR(bundle[i]);
    SDP_EQ_NUM(n_media);
    for (size_t i = 0; i < a->n_media; i++) {
        const char *m = sdp_media_diff(&a->media[i], &b->media[i]);
        if (m)
            return m;
    }
    return NULL;
}

#undef SDP_EQ_STR
#undef SDP_EQ_NUM

#endif
