/* SDP (RFC 8866) for WebRTC with JSEP conventions (RFC 8829): parse,
 * write, and the two negotiations kaigi does:
 *   - publish: the client offers, kaigi answers recvonly;
 *   - subscribe: kaigi offers sendonly tracks, the client answers.
 *
 * Parsed text is copied into fixed-size fields (an SDP outlives the
 * buffer it came from); over-long values are a parse error, never a
 * silent truncation.
 */
#ifndef KG_SDP_H
#define KG_SDP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define KG_SDP_MAX_TEXT 65536 /* larger input is refused */
#define KG_SDP_MAX_MEDIA 64
#define KG_SDP_MAX_CODECS 48
#define KG_SDP_MAX_EXTMAP 24
#define KG_SDP_MAX_SSRC 8

/* rtcp-fb values kaigi understands (bit set). */
#define KG_SDP_FB_NACK 0x1u
#define KG_SDP_FB_NACK_PLI 0x2u
#define KG_SDP_FB_CCM_FIR 0x4u
#define KG_SDP_FB_GOOG_REMB 0x8u
#define KG_SDP_FB_TRANSPORT_CC 0x10u

#define KG_SDP_EXT_AUDIO_LEVEL "urn:ietf:params:rtp-hdrext:ssrc-audio-level"
#define KG_SDP_EXT_MID "urn:ietf:params:rtp-hdrext:sdes:mid"

enum kg_sdp_kind { KG_SDP_AUDIO = 0, KG_SDP_VIDEO = 1, KG_SDP_OTHER = 2 };
enum kg_sdp_dir {
    KG_SDP_SENDRECV = 0,
    KG_SDP_SENDONLY = 1,
    KG_SDP_RECVONLY = 2,
    KG_SDP_INACTIVE = 3,
};
enum kg_sdp_setup {
    KG_SDP_SETUP_NONE = 0,
    KG_SDP_SETUP_ACTPASS = 1,
    KG_SDP_SETUP_ACTIVE = 2,
    KG_SDP_SETUP_PASSIVE = 3,
};

typedef struct kg_sdp_codec {
    uint8_t pt;
    char name[32]; /* "opus", "VP8", "rtx" ... as written */
    uint32_t clock;
    uint8_t channels; /* 0 when absent */
    char fmtp[256];   /* the a=fmtp parameters, "" if none */
    unsigned fb;      /* KG_SDP_FB_* */
} kg_sdp_codec;

typedef struct kg_sdp_extmap {
    uint8_t id;
    char uri[128];
} kg_sdp_extmap;

#define KG_SDP_MAX_RID 4
#define KG_SDP_RID_LEN 17 /* 16 characters and a NUL */
#define KG_SDP_EXT_RID "urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id"

typedef struct kg_sdp_rid {
    char id[KG_SDP_RID_LEN]; /* RFC 8851 rid-id: alphanumerics, - and _ */
    bool recv;               /* direction recv; false: send */
} kg_sdp_rid;

typedef struct kg_sdp_ssrc {
    uint32_t ssrc;
    char cname[64];
    char msid[160]; /* "stream track" from a=ssrc:N msid:..., may be "" */
} kg_sdp_ssrc;

/* ICE/DTLS parameters; in a BUNDLE every m-section carries the same. */
typedef struct kg_sdp_transport {
    char ice_ufrag[257];
    char ice_pwd[257];
    char fingerprint[100]; /* sha-256 only: "AB:CD:..." */
    enum kg_sdp_setup setup;
    char cand_ip[64]; /* first host candidate (UDP), "" if none */
    uint16_t cand_port;
    /* A passive TCP host candidate (RFC 6544) on cand_ip: its port, 0 if
     * none. Parsed: the first "tcp ... typ host tcptype passive" one on
     * the same address as the UDP candidate. */
    uint16_t tcp_port;
} kg_sdp_transport;

typedef struct kg_sdp_media {
    enum kg_sdp_kind kind;
    char kind_text[16]; /* "audio", "video", "application"... */
    uint16_t port;      /* 0 = rejected / stopped, unless bundle_only */
    char proto[32];     /* "UDP/TLS/RTP/SAVPF" */
    char mid[32];
    enum kg_sdp_dir dir;
    bool rtcp_mux;
    bool rtcp_rsize;
    /* a=bundle-only (RFC 8843): with port 0, the section is not rejected
     * but offered only inside the BUNDLE group (Firefox and GStreamer
     * with max-bundle offer every section after the first so). */
    bool bundle_only;
    char msid[160]; /* a=msid: "stream track", "" if none */
    kg_sdp_codec codecs[KG_SDP_MAX_CODECS]; /* in m= line order */
    size_t n_codecs;
    kg_sdp_extmap extmaps[KG_SDP_MAX_EXTMAP];
    size_t n_extmaps;
    kg_sdp_ssrc ssrcs[KG_SDP_MAX_SSRC];
    size_t n_ssrcs;
    uint32_t fid_ssrc[2]; /* a=ssrc-group:FID primary rtx, 0 if none */
    kg_sdp_transport transport; /* media-level values (as Chromium writes) */
    char fmt_text[256];         /* m= formats of a non-RTP section */
    /* a=ssrc-group:SIM (RFC 5576 semantics as libwebrtc writes it): the
     * simulcast layers' SSRCs, lowest resolution first; 0 if none. */
    uint32_t sim_ssrc[3];
    size_t n_sim;
    /* rid-based simulcast (RFC 8851, RFC 8853): a=rid:<id> send|recv
     * (restrictions are not kept) and a=simulcast's first direction with
     * its stream list in order (the first alternative of each stream, a
     * paused "~" dropped). */
    kg_sdp_rid rids[KG_SDP_MAX_RID];
    size_t n_rids;
    bool simulcast_recv; /* a=simulcast:recv ...; false: send */
    char simulcast[KG_SDP_MAX_RID][KG_SDP_RID_LEN];
    size_t n_simulcast;
} kg_sdp_media;

typedef struct kg_sdp {
    uint64_t sess_id;
    uint64_t sess_version;
    bool ice_lite;
    kg_sdp_transport transport; /* session-level; parse copies each
                                   media-level value found over it if the
                                   session level lacks it */
    char bundle[KG_SDP_MAX_MEDIA][32]; /* a=group:BUNDLE mids */
    size_t n_bundle;
    kg_sdp_media *media; /* array of n_media, owned */
    size_t n_media;
} kg_sdp;

/* Heap object (kg_sdp_media is large); kg_sdp_new returns a zeroed SDP,
 * NULL on allocation failure. */
kg_sdp *kg_sdp_new(void);
void kg_sdp_del(kg_sdp *s);

/* Empties s (frees its m-sections, zeroes every field) so that it can
 * be parsed into or negotiated into again. */
void kg_sdp_clear(kg_sdp *s);

/* Appends a zeroed m-section. Returns it, or NULL when KG_SDP_MAX_MEDIA
 * sections exist or allocation fails. The array may move: a pointer to
 * an earlier section is invalid after this call. */
kg_sdp_media *kg_sdp_add_media(kg_sdp *s);

/* Parses SDP text (CRLF or LF line ends) into out (an empty SDP from
 * kg_sdp_new). Checks every line's syntax and every length. Returns 0,
 * KG_ERR_MALFORMED, KG_ERR_FULL (too many sections, codecs, extmaps,
 * SSRCs, BUNDLE mids), KG_ERR_TRUNC (a value too long for its field, or
 * text longer than KG_SDP_MAX_TEXT), KG_ERR_NOMEM, KG_ERR_INVAL (out not
 * empty). On any error out is left empty (as kg_sdp_clear leaves it).
 *
 * Rules worth knowing:
 *  - v=0 first; o=, s=, t= before the first m=; unknown type letters,
 *    empty lines, bare CRs and NULs are malformed; the last line may
 *    lack its line end.
 *  - Codecs come from the m= format list, in order; a=rtpmap and a=fmtp
 *    for a PT not in it are malformed, a=rtcp-fb for one is ignored;
 *    a=rtcp-fb:* applies to every codec of the section. A section whose
 *    proto has no "RTP/" keeps its formats in fmt_text instead.
 *  - Unknown attributes are ignored, and so are known ones at a level
 *    where they mean nothing (session-level a=extmap or a=candidate).
 *    A second a=mid, a=ice-ufrag, a=ice-pwd, a=setup or direction at
 *    the same level is malformed; for a=msid, a=fingerprint:sha-256,
 *    a=ssrc-group:FID, a=ssrc-group:SIM (2 or 3 SSRCs), a=simulcast,
 *    the candidate, and each a=ssrc cname/msid, the
 *    first one wins; the candidate kept is the first one with component
 *    1, transport UDP and type host (its address may be an mDNS name).
 *    a=setup:holdconn reads as KG_SDP_SETUP_NONE.
 *  - A session-level direction is the default of every m-section.
 *  - mids must be unique and every BUNDLE mid must name an m-section.
 *  - kg_sdp.transport: the session-level values, then, field by field
 *    (ufrag, pwd, fingerprint, setup, and the candidate's ip+port as
 *    one), any value still missing is copied from the first m-section
 *    with a non-zero port that has it. */
int kg_sdp_parse(const char *text, size_t len, kg_sdp *out);

/* Writes s as SDP text with CRLF line ends and a NUL. Session level:
 * v=, o=- sess_id sess_version IN IP4 127.0.0.1, s=-, t=0 0,
 * a=group:BUNDLE, a=ice-lite if set, a=msid-semantic: WMS *. Each
 * m-section carries c=, the transport (ice-ufrag, ice-pwd, ice-options
 * none, fingerprint sha-256, setup), the host candidate and
 * a=end-of-candidates when cand_ip is set, mid, extmaps, direction,
 * msid, rtcp-mux, rtcp-rsize, rtpmap/rtcp-fb/fmtp per codec,
 * ssrc-group FID, ssrc-group SIM, rid, simulcast and ssrc cname/msid
 * lines. Returns the length without
 * the NUL, or KG_ERR_NOSPACE, or KG_ERR_INVAL when a field breaks a rule
 * the parser enforces (a mid with a space or a line end, a malformed
 * fingerprint, duplicate mids or PTs, an RTP section without codecs...).
 *
 * Details: c= is the candidate's address when it is a literal IPv4/IPv6
 * one, else IN IP4 0.0.0.0. A rejected section (port 0) gets its m=
 * line (PTs, or fmt_text for a non-RTP proto), c= and a=mid only. A
 * non-RTP section gets no direction, codecs or SSRCs. A session-level
 * ufrag/pwd/fingerprint/setup is written only when it differs from what
 * kg_sdp_parse would complete it from (so parse(write(x)) == x for an
 * SDP whose session level is complete); a session-level candidate is
 * never written. An empty proto is written as UDP/TLS/RTP/SAVPF, an
 * empty kind_text from kind. */
ssize_t kg_sdp_write(const kg_sdp *s, char *buf, size_t cap);

/* First codec of m with this name (case-insensitive) and clock rate;
 * NULL if none. */
const kg_sdp_codec *kg_sdp_find_codec(const kg_sdp_media *m,
                                      const char *name, uint32_t clock);

/* The id of the extmap with this URI in m, 0 if absent. */
uint8_t kg_sdp_find_extmap(const kg_sdp_media *m, const char *uri);

/* The transport of the bundle: the session-level values, completed from
 * the first m-section (with a non-zero port) that has them. kg_sdp_parse
 * and the negotiations do the completion; this returns &s->transport, so
 * an SDP built by other code must fill its session level itself. */
const kg_sdp_transport *kg_sdp_bundle_transport(const kg_sdp *s);

/* What the local side puts in every SDP it negotiates. */
typedef struct kg_sdp_local {
    const char *ice_ufrag;
    const char *ice_pwd;
    const char *fingerprint; /* sha-256 hex with colons */
    const char *cand_ip;     /* address to advertise (--public-ip) */
    uint16_t cand_port;
    uint16_t tcp_port;       /* its ICE-TCP port, 0: no TCP candidate */
    uint64_t sess_id;
    uint64_t sess_version;
} kg_sdp_local;

/* Checks local as the negotiations do: ufrag 4..256 and pwd 22..256
 * ice-chars, a sha-256 fingerprint "AB:CD:..." (32 pairs), cand_ip NULL,
 * "" or a token shorter than 64. Returns 0 or KG_ERR_INVAL. */
int kg_sdp_local_check(const kg_sdp_local *local);

/* Every negotiation below: answer/offer must be empty (else
 * KG_ERR_INVAL); a bad local gives KG_ERR_INVAL; on any error the output
 * is left empty. Non-rejected sections get port 9 (JSEP's placeholder;
 * ICE candidates carry the real address) and the local transport with
 * the candidate when cand_ip is set; session-level transport is set to
 * the same values, so kg_sdp_bundle_transport works on the result. An
 * offered section is usable only if it has a mid, a non-zero port (or
 * port 0 with a=bundle-only, RFC 8843 7.3.3, inside the BUNDLE group),
 * proto UDP/TLS/RTP/SAVPF, a=rtcp-mux (its own, or, inside the BUNDLE
 * group, the offerer-tagged first section's: RFC 8843 puts IDENTICAL
 * attributes only there), and is in the offer's BUNDLE group (with no
 * BUNDLE group: only the first section that is otherwise usable). */

/* Publish negotiation: builds kaigi's answer to a client's offer.
 * ice-lite, setup:passive (the offer must say actpass or active, else
 * KG_ERR_UNSUPPORTED), every m-section answered in order with the same
 * mid: audio accepts opus/48000/2, video accepts VP8/90000, each with
 * the offer's payload type and the rtcp-fb subset nack, nack pli,
 * ccm fir; extmaps accepted: ssrc-audio-level (audio) and sdes:mid, with
 * the offer's ids; direction recvonly if the offer sends, else inactive;
 * sections with no usable codec, or not audio/video, rejected (port 0,
 * formats copied). Fails with KG_ERR_UNSUPPORTED if the offer has no
 * BUNDLE-able transport (no ufrag/pwd/fingerprint) or no usable section.
 * answer must come from kg_sdp_new().
 * Only the one chosen codec is answered: no RTX, RED or FEC (a later
 * change adds RTX and simulcast). The opus fmtp is always
 * "minptime=10;useinbandfec=1": an offered stereo=1 is not echoed, so
 * kaigi receives mono-signalled opus (decoders handle both). The answer's
 * BUNDLE lists the accepted mids in order; rtcp-rsize is echoed.
 * Simulcast: a video section offering a=simulcast:send with a=rid send
 * lines and the rtp-stream-id extension is answered with up to three of
 * its rids (in the offer's order) as a=rid recv, a=simulcast:recv and
 * that extension; a=ssrc-group:SIM needs nothing in the answer. Either
 * kind of simulcast section also keeps an offered goog-remb. */
int kg_sdp_answer_publish(const kg_sdp *offer, const kg_sdp_local *local,
                          kg_sdp *answer);

/* One track kaigi sends in a subscribe offer. */
typedef struct kg_sdp_track {
    enum kg_sdp_kind kind;
    char mid[32];
    uint8_t pt;          /* 111 for opus, 96 for VP8 */
    uint32_t ssrc;       /* kaigi's outbound SSRC for this receiver */
    char cname[64];
    char stream_id[64];  /* msid stream: the publisher */
    char track_id[64];   /* msid track */
    bool active;         /* false: kept as an inactive section (re-offer) */
} kg_sdp_track;

/* Subscribe negotiation: writes kaigi's offer with one m-section per
 * track in order (ice-lite, setup:actpass, BUNDLE of every mid,
 * sendonly or inactive, opus/48000/2 with audio-level ext or VP8/90000
 * with nack, nack pli, ccm fir). With no track at all, one inactive
 * audio section keeps the transport up. Returns 0 or an error.
 * Details: opus carries fmtp "minptime=10;useinbandfec=1" and extmap 1
 * ssrc-audio-level; VP8 has no extmaps. An active track gets a=msid
 * "stream_id track_id" and a=ssrc cname + msid lines. An inactive track
 * (a track that went away, kept so m-line indexes never move) keeps its
 * mid, codec, a non-zero port and its place in BUNDLE, with a=inactive
 * and no msid or ssrc lines: JSEP keeps such a section bundled, and a
 * port of 0 would mean "rejected", which Chromium never lets a later
 * offer reuse in place. So BUNDLE lists every mid, active or not. The
 * placeholder for no track has mid "0". KG_ERR_INVAL for a kind other
 * than audio/video, a pt > 127, an empty/duplicate mid or a mid/cname/id
 * that is not a token; KG_ERR_FULL for more than KG_SDP_MAX_MEDIA. */
int kg_sdp_offer_subscribe(const kg_sdp_track *tracks, size_t n,
                           const kg_sdp_local *local, kg_sdp *offer);

/* Client-side helpers for kaigi-client (the same rules mirrored). */

/* Writes a publish offer from a client: one sendonly audio (opus, pt
 * 111, audio-level ext id 1) and one sendonly video (VP8, pt 96) section
 * with the given SSRCs, setup:actpass. mids "0" and "1", both in BUNDLE,
 * not ice-lite; msid "<cname> audio" / "<cname> video". */
int kg_sdp_offer_publish(uint32_t audio_ssrc, uint32_t video_ssrc,
                         const char *cname, const kg_sdp_local *local,
                         kg_sdp *offer);

/* One track a client publishes (kg_sdp_offer_publish_tracks). */
typedef struct kg_sdp_pub_track {
    enum kg_sdp_kind kind; /* audio or video */
    uint32_t ssrc;
    const char *track_id; /* msid track id, a token ("video-screen") */
} kg_sdp_pub_track;

/* kg_sdp_offer_publish for any list of tracks: one sendonly section per
 * track, in order, with mids "0", "1", "2"... (all in BUNDLE); audio is
 * opus pt 111 with audio-level ext id 1, video VP8 pt 96; msid
 * "<cname> <track_id>". kg_sdp_offer_publish is this with the tracks
 * "audio" and "video". Returns 0, KG_ERR_INVAL (n == 0, a kind other
 * than audio/video, a cname or track id that is not a token, a bad
 * local), or KG_ERR_FULL for more than KG_SDP_MAX_MEDIA tracks. */
int kg_sdp_offer_publish_tracks(const kg_sdp_pub_track *tracks, size_t n,
                                const char *cname, const kg_sdp_local *local,
                                kg_sdp *offer);

/* Answers a subscribe offer as a receiver: every section recvonly (or
 * inactive if offered inactive or recvonly), same codecs, payload types,
 * fmtp, rtcp-fb and extmaps, setup:active, not ice-lite. Unusable
 * sections are rejected as in the publish answer. KG_ERR_UNSUPPORTED if
 * the offer lacks ufrag/pwd/fingerprint, its setup is not actpass or
 * passive, or no section is usable. */
int kg_sdp_answer_subscribe(const kg_sdp *offer, const kg_sdp_local *local,
                            kg_sdp *answer);

#endif
