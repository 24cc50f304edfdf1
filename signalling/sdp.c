/* SDP text: the strict parser, the writer and the small lookups.
 * Negotiation (what to answer, what to offer) lives in negotiate.c.
 *
 * The parser works on spans of the caller's text and copies each value
 * it keeps into the fixed-size fields of kg_sdp, after checking its
 * length (KG_ERR_TRUNC) and its characters (KG_ERR_MALFORMED). Every
 * value it keeps is one the writer can write back unchanged, so
 * parse -> write -> parse is a fixed point. The writer checks the same
 * rules on SDPs built by code, so a stray space or CRLF in a mid cannot
 * inject lines. */
#include "signalling/sdp.h"

#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "codec/err.h"

typedef struct span {
    const char *p; /* NULL: no value at all (as opposed to an empty one) */
    size_t n;
} span;

/* ---------------------------------------------------------------- */
/* Heap object                                                      */

kg_sdp *kg_sdp_new(void)
{
    return calloc(1, sizeof(kg_sdp));
}

void kg_sdp_clear(kg_sdp *s)
{
    if (!s)
        return;
    free(s->media);
    memset(s, 0, sizeof *s);
}

void kg_sdp_del(kg_sdp *s)
{
    if (!s)
        return;
    free(s->media);
    free(s);
}

kg_sdp_media *kg_sdp_add_media(kg_sdp *s)
{
    if (!s || s->n_media >= KG_SDP_MAX_MEDIA)
        return NULL;
    /* The array's capacity is the smallest power of two >= n_media, so
     * it needs no field of its own: grow when n_media reaches one. */
    size_t n = s->n_media;
    if (n == 0 || (n & (n - 1)) == 0) {
        size_t cap = n ? n * 2 : 1;
        kg_sdp_media *a = realloc(s->media, cap * sizeof *a);
        if (!a)
            return NULL;
        s->media = a;
    }
    kg_sdp_media *m = &s->media[s->n_media++];
    memset(m, 0, sizeof *m);
    return m;
}

/* ---------------------------------------------------------------- */
/* Character rules shared by the parser and the writer              */

static span mkspan(const char *p, size_t n)
{
    span s = {p, n};
    return s;
}

/* A NUL-terminated string inside a fixed array of cap bytes; false if it
 * has no NUL there (a struct built by code with a runaway string). */
static bool arr_span(const char *a, size_t cap, span *out)
{
    const char *nul = memchr(a, '\0', cap);
    if (!nul)
        return false;
    *out = mkspan(a, (size_t)(nul - a));
    return true;
}

#define ARR_SPAN(field, out) arr_span((field), sizeof(field), (out))

static bool visible(unsigned char c)
{
    return c > 0x20 && c < 0x7f;
}

/* One non-empty token of visible ASCII (mid, cname, codec name...). */
static bool is_word(span v)
{
    if (v.n == 0)
        return false;
    for (size_t i = 0; i < v.n; i++)
        if (!visible((unsigned char)v.p[i]))
            return false;
    return true;
}

/* min..max words separated by single spaces. */
static bool is_words(span v, size_t min, size_t max)
{
    size_t words = 0, len = 0;
    for (size_t i = 0; i <= v.n; i++) {
        if (i == v.n || v.p[i] == ' ') {
            if (len == 0)
                return false; /* empty word: leading, double or trailing space */
            words++;
            len = 0;
        } else if (!visible((unsigned char)v.p[i])) {
            return false;
        } else {
            len++;
        }
    }
    return words >= min && words <= max;
}

/* Printable ASCII with spaces allowed (fmtp parameters), non-empty. */
static bool is_text(span v)
{
    if (v.n == 0)
        return false;
    for (size_t i = 0; i < v.n; i++) {
        unsigned char c = (unsigned char)v.p[i];
        if (c < 0x20 || c > 0x7e)
            return false;
    }
    return true;
}

/* RFC 8839 ice-char = ALPHA / DIGIT / "+" / "/". */
static bool is_ice(span v, size_t min)
{
    if (v.n < min || v.n > 256)
        return false;
    for (size_t i = 0; i < v.n; i++) {
        char c = v.p[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                  (c >= '0' && c <= '9') || c == '+' || c == '/';
        if (!ok)
            return false;
    }
    return true;
}

static bool is_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
           (c >= 'A' && c <= 'F');
}

/* A SHA-256 fingerprint: 32 hex pairs joined by colons (95 chars). */
static bool is_sha256(span v)
{
    if (v.n != 95)
        return false;
    for (size_t i = 0; i < v.n; i++) {
        bool ok = (i % 3 == 2) ? v.p[i] == ':' : is_hex(v.p[i]);
        if (!ok)
            return false;
    }
    return true;
}

static bool span_eq(span v, const char *lit)
{
    size_t n = strlen(lit);
    return v.p && v.n == n && memcmp(v.p, lit, n) == 0;
}

static bool span_ieq(span v, const char *lit)
{
    size_t n = strlen(lit);
    return v.p && v.n == n && strncasecmp(v.p, lit, n) == 0;
}

static bool is_rtp_proto(const char *proto)
{
    return strstr(proto, "RTP/") != NULL;
}

int kg_sdp_local_check(const kg_sdp_local *l)
{
    if (!l || !l->ice_ufrag || !l->ice_pwd || !l->fingerprint)
        return KG_ERR_INVAL;
    if (!is_ice(mkspan(l->ice_ufrag, strlen(l->ice_ufrag)), 4) ||
        !is_ice(mkspan(l->ice_pwd, strlen(l->ice_pwd)), 22) ||
        !is_sha256(mkspan(l->fingerprint, strlen(l->fingerprint))))
        return KG_ERR_INVAL;
    if (l->cand_ip && l->cand_ip[0]) {
        span ip = mkspan(l->cand_ip, strlen(l->cand_ip));
        if (ip.n >= sizeof(((kg_sdp_transport *)0)->cand_ip) || !is_word(ip))
            return KG_ERR_INVAL;
    }
    return 0;
}

/* ---------------------------------------------------------------- */
/* Parser helpers                                                   */

/* Takes the next space-separated token of *rest. False when nothing is
 * left or the token is empty (double, leading or trailing space). */
static bool next_tok(span *rest, span *tok)
{
    if (!rest->p) {
        *tok = mkspan(NULL, 0);
        return false;
    }
    const char *sp = memchr(rest->p, ' ', rest->n);
    if (sp) {
        *tok = mkspan(rest->p, (size_t)(sp - rest->p));
        rest->n -= tok->n + 1;
        rest->p = sp + 1;
    } else {
        *tok = *rest;
        *rest = mkspan(NULL, 0);
    }
    return tok->n > 0;
}

/* Splits v at the first sep: *a before, *b after (b.p NULL if no sep). */
static void split_at(span v, char sep, span *a, span *b)
{
    const char *c = v.p ? memchr(v.p, sep, v.n) : NULL;
    if (c) {
        *a = mkspan(v.p, (size_t)(c - v.p));
        *b = mkspan(c + 1, v.n - a->n - 1);
    } else {
        *a = v;
        *b = mkspan(NULL, 0);
    }
}

static int parse_num(span v, uint64_t max, uint64_t *out)
{
    if (v.n == 0 || v.n > 20)
        return KG_ERR_MALFORMED;
    uint64_t x = 0;
    for (size_t i = 0; i < v.n; i++) {
        if (v.p[i] < '0' || v.p[i] > '9')
            return KG_ERR_MALFORMED;
        uint64_t d = (uint64_t)(v.p[i] - '0');
        if (x > (UINT64_MAX - d) / 10)
            return KG_ERR_MALFORMED;
        x = x * 10 + d;
    }
    if (x > max)
        return KG_ERR_MALFORMED;
    *out = x;
    return 0;
}

/* Length first (KG_ERR_TRUNC), then the character rule. */
static int copy_checked(char *dst, size_t cap, span v, bool (*ok)(span))
{
    if (v.n >= cap)
        return KG_ERR_TRUNC;
    if (!ok(v))
        return KG_ERR_MALFORMED;
    memcpy(dst, v.p, v.n);
    dst[v.n] = '\0';
    return 0;
}

static bool is_msid(span v)
{
    return is_words(v, 1, 2);
}

static bool is_fmt_list(span v)
{
    return is_words(v, 1, SIZE_MAX);
}

#define COPY(field, v, rule) copy_checked((field), sizeof(field), (v), (rule))

/* Per-level bits for single-valued attributes. */
enum {
    SEEN_UFRAG = 1u << 0,
    SEEN_PWD = 1u << 1,
    SEEN_SETUP = 1u << 2,
    SEEN_DIR = 1u << 3,
    SEEN_MID = 1u << 4,
    SEEN_FPR = 1u << 5,
    SEEN_MSID = 1u << 6,
    SEEN_CAND = 1u << 7,
    SEEN_FID = 1u << 8,
    SEEN_SIM = 1u << 9,
    SEEN_SIMULCAST = 1u << 10,
    SEEN_TCAND = 1u << 11,
};

struct parser {
    kg_sdp *s;
    kg_sdp_media *m; /* current m-section, NULL at session level */
    enum kg_sdp_dir sess_dir;
    unsigned seen;  /* session-level SEEN_* */
    unsigned mseen; /* current section's SEEN_* */
    bool v, o, sname, t, bundle;
};

static kg_sdp_transport *cur_transport(struct parser *p)
{
    return p->m ? &p->m->transport : &p->s->transport;
}

static unsigned *cur_seen(struct parser *p)
{
    return p->m ? &p->mseen : &p->seen;
}

/* Marks bit seen at the current level; false if it already was. */
static bool first_time(struct parser *p, unsigned bit)
{
    unsigned *seen = cur_seen(p);
    if (*seen & bit)
        return false;
    *seen |= bit;
    return true;
}

static kg_sdp_codec *codec_by_pt(kg_sdp_media *m, uint64_t pt)
{
    for (size_t i = 0; i < m->n_codecs; i++)
        if (m->codecs[i].pt == pt)
            return &m->codecs[i];
    return NULL;
}

/* ---------------------------------------------------------------- */
/* Attributes                                                       */

static int a_group(struct parser *p, span name, span v)
{
    (void)name;
    span sem, tok;
    if (!next_tok(&v, &sem))
        return KG_ERR_MALFORMED;
    if (!span_ieq(sem, "BUNDLE") || p->bundle)
        return 0; /* other groups (LS) and later BUNDLE groups ignored */
    p->bundle = true;
    kg_sdp *s = p->s;
    while (v.p) {
        if (!next_tok(&v, &tok))
            return KG_ERR_MALFORMED;
        if (s->n_bundle >= KG_SDP_MAX_MEDIA)
            return KG_ERR_FULL;
        int rc = COPY(s->bundle[s->n_bundle], tok, is_word);
        if (rc)
            return rc;
        for (size_t i = 0; i < s->n_bundle; i++)
            if (strcmp(s->bundle[i], s->bundle[s->n_bundle]) == 0)
                return KG_ERR_MALFORMED;
        s->n_bundle++;
    }
    return 0;
}

static int a_ice_lite(struct parser *p, span name, span v)
{
    (void)name;
    (void)v;
    p->s->ice_lite = true;
    return 0;
}

static int ice_value(char *dst, size_t cap, span v, size_t min)
{
    if (v.n > 256)
        return KG_ERR_TRUNC;
    if (!is_ice(v, min) || v.n >= cap)
        return KG_ERR_MALFORMED;
    memcpy(dst, v.p, v.n);
    dst[v.n] = '\0';
    return 0;
}

static int a_ufrag(struct parser *p, span name, span v)
{
    (void)name;
    if (!first_time(p, SEEN_UFRAG))
        return KG_ERR_MALFORMED;
    kg_sdp_transport *t = cur_transport(p);
    return ice_value(t->ice_ufrag, sizeof t->ice_ufrag, v, 4);
}

static int a_pwd(struct parser *p, span name, span v)
{
    (void)name;
    if (!first_time(p, SEEN_PWD))
        return KG_ERR_MALFORMED;
    kg_sdp_transport *t = cur_transport(p);
    return ice_value(t->ice_pwd, sizeof t->ice_pwd, v, 22);
}

static int a_fingerprint(struct parser *p, span name, span v)
{
    (void)name;
    span hash, value;
    if (!next_tok(&v, &hash) || !next_tok(&v, &value) || v.p)
        return KG_ERR_MALFORMED;
    /* Only sha-256 is kept; the first one at a level wins. */
    if (!span_ieq(hash, "sha-256") || (*cur_seen(p) & SEEN_FPR))
        return 0;
    kg_sdp_transport *t = cur_transport(p);
    int rc = COPY(t->fingerprint, value, is_sha256);
    if (rc)
        return rc;
    *cur_seen(p) |= SEEN_FPR;
    return 0;
}

static int a_setup(struct parser *p, span name, span v)
{
    (void)name;
    if (!first_time(p, SEEN_SETUP))
        return KG_ERR_MALFORMED;
    kg_sdp_transport *t = cur_transport(p);
    if (span_eq(v, "actpass"))
        t->setup = KG_SDP_SETUP_ACTPASS;
    else if (span_eq(v, "active"))
        t->setup = KG_SDP_SETUP_ACTIVE;
    else if (span_eq(v, "passive"))
        t->setup = KG_SDP_SETUP_PASSIVE;
    else if (span_eq(v, "holdconn"))
        t->setup = KG_SDP_SETUP_NONE; /* no DTLS wanted: as if absent */
    else
        return KG_ERR_MALFORMED;
    return 0;
}

static int dir_from(span v, enum kg_sdp_dir *d)
{
    static const char *const names[] = {"sendrecv", "sendonly", "recvonly",
                                        "inactive"};
    for (size_t i = 0; i < KG_ARRAY_LEN(names); i++) {
        if (span_eq(v, names[i])) {
            *d = (enum kg_sdp_dir)i;
            return 0;
        }
    }
    return KG_ERR_MALFORMED;
}

static int a_dir(struct parser *p, span name, span v)
{
    (void)v;
    if (!first_time(p, SEEN_DIR))
        return KG_ERR_MALFORMED;
    /* A session-level direction is the default of every m-section. */
    return dir_from(name, p->m ? &p->m->dir : &p->sess_dir);
}

static int a_mid(struct parser *p, span name, span v)
{
    (void)name;
    if (!first_time(p, SEEN_MID))
        return KG_ERR_MALFORMED;
    return COPY(p->m->mid, v, is_word);
}

static int a_extmap(struct parser *p, span name, span v)
{
    (void)name;
    kg_sdp_media *m = p->m;
    span idtok, uri, idnum, dirtok;
    enum kg_sdp_dir d;
    uint64_t id;
    /* a=extmap:<id>[/<direction>] <uri> [<extension attributes>] */
    if (!next_tok(&v, &idtok) || !next_tok(&v, &uri))
        return KG_ERR_MALFORMED;
    split_at(idtok, '/', &idnum, &dirtok);
    if (parse_num(idnum, 255, &id) || id == 0)
        return KG_ERR_MALFORMED;
    if (dirtok.p && dir_from(dirtok, &d))
        return KG_ERR_MALFORMED;
    for (size_t i = 0; i < m->n_extmaps; i++)
        if (m->extmaps[i].id == id)
            return KG_ERR_MALFORMED;
    if (m->n_extmaps >= KG_SDP_MAX_EXTMAP)
        return KG_ERR_FULL;
    kg_sdp_extmap *e = &m->extmaps[m->n_extmaps];
    int rc = COPY(e->uri, uri, is_word);
    if (rc)
        return rc;
    e->id = (uint8_t)id;
    m->n_extmaps++;
    return 0;
}

static int a_msid(struct parser *p, span name, span v)
{
    (void)name;
    if (!first_time(p, SEEN_MSID))
        return 0; /* more streams: the first one is kept */
    return COPY(p->m->msid, v, is_msid);
}

static int a_rtcp_mux(struct parser *p, span name, span v)
{
    (void)name;
    (void)v;
    p->m->rtcp_mux = true;
    return 0;
}

/* RFC 8843 7.3.3: a section offered with port 0 and a=bundle-only is not
 * rejected; it joins the BUNDLE group's transport. */
static int a_bundle_only(struct parser *p, span name, span v)
{
    (void)name;
    (void)v;
    p->m->bundle_only = true;
    return 0;
}

static int a_rtcp_rsize(struct parser *p, span name, span v)
{
    (void)name;
    (void)v;
    p->m->rtcp_rsize = true;
    return 0;
}

/* The codec a=rtpmap/a=fmtp/a=rtcp-fb names by PT (NULL: not in m=). */
static int codec_ref(struct parser *p, span pt, kg_sdp_codec **c)
{
    uint64_t n;
    if (parse_num(pt, 127, &n))
        return KG_ERR_MALFORMED;
    *c = codec_by_pt(p->m, n);
    return 0;
}

static int a_rtpmap(struct parser *p, span name, span v)
{
    (void)name;
    span pt, enc, ename, rest, clock, chans;
    kg_sdp_codec *c;
    uint64_t n;
    /* a=rtpmap:<pt> <name>/<clock>[/<channels>] */
    if (!next_tok(&v, &pt) || !next_tok(&v, &enc) || v.p)
        return KG_ERR_MALFORMED;
    if (codec_ref(p, pt, &c) || !c || c->name[0])
        return KG_ERR_MALFORMED; /* unknown PT or a second rtpmap */
    split_at(enc, '/', &ename, &rest);
    split_at(rest, '/', &clock, &chans);
    if (!rest.p)
        return KG_ERR_MALFORMED;
    int rc = COPY(c->name, ename, is_word);
    if (rc)
        return rc;
    if (parse_num(clock, UINT32_MAX, &n) || n == 0)
        return KG_ERR_MALFORMED;
    c->clock = (uint32_t)n;
    if (chans.p) {
        if (parse_num(chans, 255, &n) || n == 0)
            return KG_ERR_MALFORMED;
        c->channels = (uint8_t)n;
    }
    return 0;
}

static int a_fmtp(struct parser *p, span name, span v)
{
    (void)name;
    span pt;
    kg_sdp_codec *c;
    /* a=fmtp:<pt> <parameters>; the parameters are kept verbatim. */
    if (!next_tok(&v, &pt) || !v.p)
        return KG_ERR_MALFORMED;
    if (codec_ref(p, pt, &c) || !c || c->fmtp[0])
        return KG_ERR_MALFORMED;
    return COPY(c->fmtp, v, is_text);
}

static unsigned fb_bit(span type, span param)
{
    if (span_eq(type, "nack"))
        return !param.p ? KG_SDP_FB_NACK
                        : span_eq(param, "pli") ? KG_SDP_FB_NACK_PLI : 0;
    if (span_eq(type, "ccm") && span_eq(param, "fir"))
        return KG_SDP_FB_CCM_FIR;
    if (span_eq(type, "goog-remb") && !param.p)
        return KG_SDP_FB_GOOG_REMB;
    if (span_eq(type, "transport-cc") && !param.p)
        return KG_SDP_FB_TRANSPORT_CC;
    return 0;
}

static int a_rtcp_fb(struct parser *p, span name, span v)
{
    (void)name;
    span pt, type, param = {NULL, 0};
    kg_sdp_codec *c = NULL;
    /* a=rtcp-fb:<pt|*> <type> [<param>...] */
    if (!next_tok(&v, &pt) || !next_tok(&v, &type))
        return KG_ERR_MALFORMED;
    if (v.p && !next_tok(&v, &param))
        return KG_ERR_MALFORMED;
    unsigned bit = v.p ? 0 : fb_bit(type, param);
    if (span_eq(pt, "*")) {
        for (size_t i = 0; i < p->m->n_codecs; i++)
            p->m->codecs[i].fb |= bit;
        return 0;
    }
    if (codec_ref(p, pt, &c))
        return KG_ERR_MALFORMED;
    if (c) /* feedback for a PT not in m= is ignored, not an error */
        c->fb |= bit;
    return 0;
}

static int a_ssrc(struct parser *p, span name, span v)
{
    (void)name;
    kg_sdp_media *m = p->m;
    span tok, attr, val;
    uint64_t ssrc;
    /* a=ssrc:<ssrc> <attribute>[:<value>]; only cname and msid kept. */
    if (!next_tok(&v, &tok) || parse_num(tok, UINT32_MAX, &ssrc) || !v.p)
        return KG_ERR_MALFORMED;
    split_at(v, ':', &attr, &val);
    if (!is_word(attr))
        return KG_ERR_MALFORMED;
    bool cname = span_eq(attr, "cname"), msid = span_eq(attr, "msid");
    if (!cname && !msid)
        return 0;
    kg_sdp_ssrc tmp = {0};
    int rc = cname ? COPY(tmp.cname, val, is_word) : COPY(tmp.msid, val, is_msid);
    if (rc)
        return rc;
    kg_sdp_ssrc *e = NULL;
    for (size_t i = 0; i < m->n_ssrcs && !e; i++)
        if (m->ssrcs[i].ssrc == ssrc)
            e = &m->ssrcs[i];
    if (!e) {
        if (m->n_ssrcs >= KG_SDP_MAX_SSRC)
            return KG_ERR_FULL;
        e = &m->ssrcs[m->n_ssrcs++];
        e->ssrc = (uint32_t)ssrc;
    }
    /* The first value of each wins. */
    if (cname && !e->cname[0])
        memcpy(e->cname, tmp.cname, sizeof e->cname);
    if (msid && !e->msid[0])
        memcpy(e->msid, tmp.msid, sizeof e->msid);
    return 0;
}

/* a=ssrc-group:SIM low mid [high]: the simulcast layers' SSRCs. */
static int sim_group(struct parser *p, span v)
{
    uint32_t ssrc[3];
    size_t n = 0;
    span tok;
    while (next_tok(&v, &tok)) {
        uint64_t x;
        if (n == 3)
            return KG_ERR_FULL;
        if (parse_num(tok, UINT32_MAX, &x) || x == 0)
            return KG_ERR_MALFORMED;
        ssrc[n++] = (uint32_t)x;
    }
    if (n < 2 || v.p)
        return KG_ERR_MALFORMED;
    if (!first_time(p, SEEN_SIM))
        return 0;
    memcpy(p->m->sim_ssrc, ssrc, n * sizeof(ssrc[0]));
    p->m->n_sim = n;
    return 0;
}

/* RFC 8851 rid-id: 1*(ALPHA / DIGIT / "-" / "_"). */
static bool is_rid(span v)
{
    if (!v.p || v.n == 0)
        return false;
    for (size_t i = 0; i < v.n; i++) {
        char c = v.p[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '-' || c == '_'))
            return false;
    }
    return true;
}

/* a=rid:<id> send|recv [restrictions]: a second line for an id is
 * malformed (RFC 8851 section 4). */
static int a_rid(struct parser *p, span name, span v)
{
    (void)name;
    kg_sdp_media *m = p->m;
    span id, dir;
    if (!next_tok(&v, &id) || !next_tok(&v, &dir))
        return KG_ERR_MALFORMED;
    bool recv = span_eq(dir, "recv");
    if (!recv && !span_eq(dir, "send"))
        return KG_ERR_MALFORMED;
    kg_sdp_rid r = {.recv = recv};
    int rc = COPY(r.id, id, is_rid);
    if (rc)
        return rc;
    for (size_t i = 0; i < m->n_rids; i++)
        if (strcmp(m->rids[i].id, r.id) == 0)
            return KG_ERR_MALFORMED;
    if (m->n_rids == KG_SDP_MAX_RID)
        return KG_ERR_FULL;
    m->rids[m->n_rids++] = r;
    return 0;
}

/* a=simulcast:<dir> <streams> [<dir> <streams>]: the first direction
 * and its streams ("a;~b,c;d": b paused, c an alternative to b). */
static int a_simulcast(struct parser *p, span name, span v)
{
    (void)name;
    kg_sdp_media *m = p->m;
    span dir, list;
    if (!next_tok(&v, &dir) || !next_tok(&v, &list))
        return KG_ERR_MALFORMED;
    bool recv = span_eq(dir, "recv");
    if (!recv && !span_eq(dir, "send"))
        return KG_ERR_MALFORMED;
    char ids[KG_SDP_MAX_RID][KG_SDP_RID_LEN];
    size_t n = 0;
    while (list.p) {
        span stream, alt, rest;
        split_at(list, ';', &stream, &rest);
        list = rest;
        split_at(stream, ',', &stream, &alt);
        if (stream.n && stream.p[0] == '~')
            stream = mkspan(stream.p + 1, stream.n - 1);
        if (n == KG_SDP_MAX_RID)
            return KG_ERR_FULL;
        int rc = COPY(ids[n], stream, is_rid);
        if (rc)
            return rc;
        n++;
    }
    if (!first_time(p, SEEN_SIMULCAST))
        return KG_ERR_MALFORMED; /* one a=simulcast per section */
    memcpy(m->simulcast, ids, sizeof ids);
    m->n_simulcast = n;
    m->simulcast_recv = recv;
    return 0;
}

static int a_ssrc_group(struct parser *p, span name, span v)
{
    (void)name;
    span sem, a, b;
    uint64_t x, y;
    if (!next_tok(&v, &sem))
        return KG_ERR_MALFORMED;
    if (span_eq(sem, "SIM"))
        return sim_group(p, v);
    if (!span_eq(sem, "FID"))
        return 0; /* FEC-FR...: not used by kaigi */
    if (!next_tok(&v, &a) || !next_tok(&v, &b) || v.p ||
        parse_num(a, UINT32_MAX, &x) || parse_num(b, UINT32_MAX, &y))
        return KG_ERR_MALFORMED;
    if (!first_time(p, SEEN_FID))
        return 0; /* simulcast with RTX has several: the first is kept */
    p->m->fid_ssrc[0] = (uint32_t)x;
    p->m->fid_ssrc[1] = (uint32_t)y;
    return 0;
}

static int a_candidate(struct parser *p, span name, span v)
{
    (void)name;
    span found, comp, transport, prio, addr, port, typ, type;
    uint64_t ncomp, nprio, nport;
    /* <foundation> <component> <transport> <priority> <address> <port>
     * typ <type> [extensions...] (RFC 8839) */
    if (!next_tok(&v, &found) || !next_tok(&v, &comp) ||
        !next_tok(&v, &transport) || !next_tok(&v, &prio) ||
        !next_tok(&v, &addr) || !next_tok(&v, &port) ||
        !next_tok(&v, &typ) || !next_tok(&v, &type))
        return KG_ERR_MALFORMED;
    if (!is_word(found) || !is_word(transport) || !is_word(addr) ||
        !is_word(type) || !span_eq(typ, "typ") ||
        parse_num(comp, 256, &ncomp) || ncomp == 0 ||
        parse_num(prio, UINT32_MAX, &nprio) ||
        parse_num(port, 65535, &nport))
        return KG_ERR_MALFORMED;
    if (ncomp == 1 && span_ieq(transport, "tcp") && span_eq(type, "host") &&
        !(p->mseen & SEEN_TCAND)) {
        /* RFC 6544: "tcptype passive" among the extensions; an active
         * one (port 9) or a simultaneous-open one is of no use to kaigi's
         * clients, which only connect. */
        span k, val;
        while (next_tok(&v, &k) && next_tok(&v, &val)) {
            if (span_eq(k, "tcptype") && span_eq(val, "passive") && nport) {
                p->m->transport.tcp_port = (uint16_t)nport;
                p->mseen |= SEEN_TCAND;
                break;
            }
        }
        return 0;
    }
    if (ncomp != 1 || !span_ieq(transport, "udp") || !span_eq(type, "host") ||
        (p->mseen & SEEN_CAND))
        return 0;
    kg_sdp_transport *t = &p->m->transport;
    int rc = COPY(t->cand_ip, addr, is_word);
    if (rc)
        return rc;
    t->cand_port = (uint16_t)nport;
    p->mseen |= SEEN_CAND;
    return 0;
}

enum { AT_SESSION = 1, AT_MEDIA = 2, AT_BOTH = 3 };

static const struct attr_rule {
    const char *name;
    unsigned where;
    bool need_value;
    int (*fn)(struct parser *p, span name, span value);
} attr_rules[] = {
    {"group", AT_SESSION, true, a_group},
    {"ice-lite", AT_SESSION, false, a_ice_lite},
    {"ice-ufrag", AT_BOTH, true, a_ufrag},
    {"ice-pwd", AT_BOTH, true, a_pwd},
    {"fingerprint", AT_BOTH, true, a_fingerprint},
    {"setup", AT_BOTH, true, a_setup},
    {"sendrecv", AT_BOTH, false, a_dir},
    {"sendonly", AT_BOTH, false, a_dir},
    {"recvonly", AT_BOTH, false, a_dir},
    {"inactive", AT_BOTH, false, a_dir},
    {"mid", AT_MEDIA, true, a_mid},
    {"extmap", AT_MEDIA, true, a_extmap},
    {"msid", AT_MEDIA, true, a_msid},
    {"rtcp-mux", AT_MEDIA, false, a_rtcp_mux},
    {"rtcp-rsize", AT_MEDIA, false, a_rtcp_rsize},
    {"bundle-only", AT_MEDIA, false, a_bundle_only},
    {"rtpmap", AT_MEDIA, true, a_rtpmap},
    {"fmtp", AT_MEDIA, true, a_fmtp},
    {"rtcp-fb", AT_MEDIA, true, a_rtcp_fb},
    {"ssrc", AT_MEDIA, true, a_ssrc},
    {"ssrc-group", AT_MEDIA, true, a_ssrc_group},
    {"rid", AT_MEDIA, true, a_rid},
    {"simulcast", AT_MEDIA, true, a_simulcast},
    {"candidate", AT_MEDIA, true, a_candidate},
};

/* a=<name>[:<value>]. Unknown attributes, and known ones at a level
 * where they mean nothing (extmap at session level...), are ignored. */
static int line_a(struct parser *p, span v)
{
    span name, value;
    split_at(v, ':', &name, &value);
    if (!is_word(name))
        return KG_ERR_MALFORMED;
    unsigned level = p->m ? AT_MEDIA : AT_SESSION;
    for (size_t i = 0; i < KG_ARRAY_LEN(attr_rules); i++) {
        const struct attr_rule *r = &attr_rules[i];
        if (!span_eq(name, r->name))
            continue;
        if (!(r->where & level))
            return 0;
        if (r->need_value && !value.p)
            return KG_ERR_MALFORMED;
        return r->fn(p, name, value);
    }
    return 0;
}

/* ---------------------------------------------------------------- */
/* Lines other than a=                                              */

static int line_m(struct parser *p, span v)
{
    span kind, port, proto, tok;
    uint64_t n;
    if (!p->v || !p->o || !p->sname || !p->t)
        return KG_ERR_MALFORMED;
    if (p->s->n_media >= KG_SDP_MAX_MEDIA)
        return KG_ERR_FULL;
    kg_sdp_media *m = kg_sdp_add_media(p->s);
    if (!m)
        return KG_ERR_NOMEM;
    p->m = m;
    p->mseen = 0;
    m->dir = p->sess_dir;
    /* m=<media> <port> <proto> <fmt> ... */
    if (!next_tok(&v, &kind) || !next_tok(&v, &port) || !next_tok(&v, &proto))
        return KG_ERR_MALFORMED;
    int rc = COPY(m->kind_text, kind, is_word);
    if (!rc)
        rc = COPY(m->proto, proto, is_word);
    if (rc)
        return rc;
    if (parse_num(port, 65535, &n)) /* "port/count" is not WebRTC */
        return KG_ERR_MALFORMED;
    m->port = (uint16_t)n;
    m->kind = span_eq(kind, "audio")   ? KG_SDP_AUDIO
              : span_eq(kind, "video") ? KG_SDP_VIDEO
                                       : KG_SDP_OTHER;
    if (!v.p)
        return KG_ERR_MALFORMED; /* at least one format */
    if (!is_rtp_proto(m->proto))
        return COPY(m->fmt_text, v, is_fmt_list);
    while (v.p) {
        if (!next_tok(&v, &tok) || parse_num(tok, 127, &n))
            return KG_ERR_MALFORMED;
        if (codec_by_pt(m, n))
            return KG_ERR_MALFORMED;
        if (m->n_codecs >= KG_SDP_MAX_CODECS)
            return KG_ERR_FULL;
        m->codecs[m->n_codecs++].pt = (uint8_t)n;
    }
    return 0;
}

static int line_o(struct parser *p, span v)
{
    span user, id, ver, net, atype, addr;
    if (p->o || p->m)
        return KG_ERR_MALFORMED;
    p->o = true;
    /* o=<username> <sess-id> <sess-version> <nettype> <addrtype> <addr> */
    if (!next_tok(&v, &user) || !next_tok(&v, &id) || !next_tok(&v, &ver) ||
        !next_tok(&v, &net) || !next_tok(&v, &atype) ||
        !next_tok(&v, &addr) || v.p)
        return KG_ERR_MALFORMED;
    if (!is_word(user) || !is_word(net) || !is_word(atype) || !is_word(addr))
        return KG_ERR_MALFORMED;
    if (parse_num(id, UINT64_MAX, &p->s->sess_id) ||
        parse_num(ver, UINT64_MAX, &p->s->sess_version))
        return KG_ERR_MALFORMED;
    return 0;
}

static int line_c(span v)
{
    span net, atype, addr;
    if (!next_tok(&v, &net) || !next_tok(&v, &atype) ||
        !next_tok(&v, &addr) || v.p)
        return KG_ERR_MALFORMED;
    return is_word(net) && is_word(atype) && is_word(addr) ? 0
                                                            : KG_ERR_MALFORMED;
}

static int line_b(span v)
{
    span type, bw;
    uint64_t n;
    split_at(v, ':', &type, &bw);
    if (!is_word(type) || parse_num(bw, UINT64_MAX, &n))
        return KG_ERR_MALFORMED;
    return 0;
}

static int line_t(struct parser *p, span v)
{
    span start, stop;
    uint64_t n;
    if (p->m || !next_tok(&v, &start) || !next_tok(&v, &stop) || v.p ||
        parse_num(start, UINT64_MAX, &n) || parse_num(stop, UINT64_MAX, &n))
        return KG_ERR_MALFORMED;
    p->t = true;
    return 0;
}

static int parse_line(struct parser *p, char type, span v)
{
    if (!p->v) /* v=0 must come first */
        return type == 'v' && span_eq(v, "0") ? (p->v = true, 0)
                                              : KG_ERR_MALFORMED;
    switch (type) {
    case 'a':
        return line_a(p, v);
    case 'm':
        return line_m(p, v);
    case 'o':
        return line_o(p, v);
    case 's':
        if (p->sname || p->m || v.n == 0)
            return KG_ERR_MALFORMED;
        p->sname = true;
        return 0;
    case 't':
        return line_t(p, v);
    case 'c':
        return line_c(v);
    case 'b':
        return line_b(v);
    case 'i': case 'u': case 'e': case 'p': case 'z': case 'k': case 'r':
        return 0; /* allowed by RFC 8866, meaningless for WebRTC */
    default:
        return KG_ERR_MALFORMED; /* v= again, or an unknown type letter */
    }
}

/* ---------------------------------------------------------------- */
/* Whole-SDP rules                                                  */

/* mids are unique and every BUNDLE mid names an m-section. */
static bool structure_ok(const kg_sdp *s)
{
    for (size_t i = 0; i < s->n_media; i++) {
        if (!s->media[i].mid[0])
            continue;
        for (size_t j = i + 1; j < s->n_media; j++)
            if (strcmp(s->media[i].mid, s->media[j].mid) == 0)
                return false;
    }
    for (size_t b = 0; b < s->n_bundle; b++) {
        bool found = false;
        for (size_t i = 0; i < s->n_media && !found; i++)
            found = strcmp(s->bundle[b], s->media[i].mid) == 0;
        if (!found)
            return false;
        for (size_t c = b + 1; c < s->n_bundle; c++)
            if (strcmp(s->bundle[b], s->bundle[c]) == 0)
                return false;
    }
    return true;
}

/* Which m-section supplies each session-level transport value that the
 * session level lacks: the first one with a non-zero port that has it,
 * field by field (ufrag, pwd, fingerprint, setup, and the candidate's
 * address and port together). */
enum tfield { TF_UFRAG, TF_PWD, TF_FPR, TF_SETUP, TF_CAND, TF_COUNT };

static bool tfield_set(const kg_sdp_transport *t, enum tfield f)
{
    switch (f) {
    case TF_UFRAG:
        return t->ice_ufrag[0] != '\0';
    case TF_PWD:
        return t->ice_pwd[0] != '\0';
    case TF_FPR:
        return t->fingerprint[0] != '\0';
    case TF_SETUP:
        return t->setup != KG_SDP_SETUP_NONE;
    default:
        return t->cand_ip[0] != '\0';
    }
}

static bool tfield_equal(const kg_sdp_transport *a, const kg_sdp_transport *b,
                         enum tfield f)
{
    switch (f) {
    case TF_UFRAG:
        return strcmp(a->ice_ufrag, b->ice_ufrag) == 0;
    case TF_PWD:
        return strcmp(a->ice_pwd, b->ice_pwd) == 0;
    case TF_FPR:
        return strcmp(a->fingerprint, b->fingerprint) == 0;
    case TF_SETUP:
        return a->setup == b->setup;
    default:
        return strcmp(a->cand_ip, b->cand_ip) == 0 &&
               a->cand_port == b->cand_port && a->tcp_port == b->tcp_port;
    }
}

static void tfield_copy(kg_sdp_transport *dst, const kg_sdp_transport *src,
                        enum tfield f)
{
    switch (f) {
    case TF_UFRAG:
        memcpy(dst->ice_ufrag, src->ice_ufrag, sizeof dst->ice_ufrag);
        break;
    case TF_PWD:
        memcpy(dst->ice_pwd, src->ice_pwd, sizeof dst->ice_pwd);
        break;
    case TF_FPR:
        memcpy(dst->fingerprint, src->fingerprint, sizeof dst->fingerprint);
        break;
    case TF_SETUP:
        dst->setup = src->setup;
        break;
    default:
        memcpy(dst->cand_ip, src->cand_ip, sizeof dst->cand_ip);
        dst->cand_port = src->cand_port;
        dst->tcp_port = src->tcp_port;
        break;
    }
}

static const kg_sdp_transport *tfield_source(const kg_sdp *s, enum tfield f)
{
    for (size_t i = 0; i < s->n_media; i++)
        if (s->media[i].port != 0 && tfield_set(&s->media[i].transport, f))
            return &s->media[i].transport;
    return NULL;
}

static void complete_transport(kg_sdp *s)
{
    for (int f = 0; f < TF_COUNT; f++) {
        const kg_sdp_transport *src = tfield_source(s, (enum tfield)f);
        if (src && !tfield_set(&s->transport, (enum tfield)f))
            tfield_copy(&s->transport, src, (enum tfield)f);
    }
}

int kg_sdp_parse(const char *text, size_t len, kg_sdp *out)
{
    if (!out || (!text && len))
        return KG_ERR_INVAL;
    if (out->n_media || out->n_bundle || out->media)
        return KG_ERR_INVAL;
    if (len > KG_SDP_MAX_TEXT)
        return KG_ERR_TRUNC;
    struct parser p = {.s = out};
    size_t pos = 0;
    int rc = 0;
    while (pos < len && !rc) {
        const char *line = text + pos;
        const char *nl = memchr(line, '\n', len - pos);
        size_t n = nl ? (size_t)(nl - line) : len - pos;
        pos += n + (nl ? 1 : 0);
        if (n && line[n - 1] == '\r')
            n--;
        /* "x=" with a lower-case type letter; no NUL or bare CR inside. */
        if (n < 2 || line[1] != '=' || line[0] < 'a' || line[0] > 'z' ||
            memchr(line, '\0', n) || memchr(line, '\r', n))
            rc = KG_ERR_MALFORMED;
        else
            rc = parse_line(&p, line[0], mkspan(line + 2, n - 2));
    }
    if (!rc && (!p.v || !p.o || !p.sname || !p.t || !structure_ok(out)))
        rc = KG_ERR_MALFORMED;
    if (rc) {
        kg_sdp_clear(out);
        return rc;
    }
    complete_transport(out);
    return 0;
}

/* ---------------------------------------------------------------- */
/* Writer                                                           */

struct out {
    char *buf;
    size_t cap;
    size_t len;
    bool full;
};

__attribute__((format(printf, 2, 3))) static void put(struct out *o,
                                                      const char *fmt, ...)
{
    if (o->full)
        return;
    va_list ap;
    va_start(ap, fmt);
    int r = vsnprintf(o->buf + o->len, o->cap - o->len, fmt, ap);
    va_end(ap);
    if (r < 0 || (size_t)r >= o->cap - o->len) {
        o->full = true;
        return;
    }
    o->len += (size_t)r;
}

/* Checks a text field for the writer: NUL-terminated in its array,
 * then the rule (or empty when allowed). */
#define FIELD_OK(field, rule, may_be_empty) \
    field_ok((field), sizeof(field), (rule), (may_be_empty))

static bool field_ok(const char *a, size_t cap, bool (*rule)(span),
                     bool may_be_empty)
{
    span v;
    if (!arr_span(a, cap, &v))
        return false;
    return (v.n == 0 && may_be_empty) || rule(v);
}

static bool is_ufrag(span v)
{
    return is_ice(v, 4);
}

static bool is_pwd(span v)
{
    return is_ice(v, 22);
}

static bool is_codec_name(span v)
{
    return is_word(v) && !memchr(v.p, '/', v.n);
}

static bool transport_ok(const kg_sdp_transport *t)
{
    return FIELD_OK(t->ice_ufrag, is_ufrag, true) &&
           FIELD_OK(t->ice_pwd, is_pwd, true) &&
           FIELD_OK(t->fingerprint, is_sha256, true) &&
           FIELD_OK(t->cand_ip, is_word, true) &&
           (unsigned)t->setup <= KG_SDP_SETUP_PASSIVE;
}

static bool codecs_ok(const kg_sdp_media *m)
{
    if (m->n_codecs > KG_SDP_MAX_CODECS)
        return false;
    for (size_t i = 0; i < m->n_codecs; i++) {
        const kg_sdp_codec *c = &m->codecs[i];
        if (c->pt > 127 || !FIELD_OK(c->name, is_codec_name, true) ||
            !FIELD_OK(c->fmtp, is_text, true) || (c->name[0] && !c->clock))
            return false;
        for (size_t j = i + 1; j < m->n_codecs; j++)
            if (m->codecs[j].pt == c->pt)
                return false;
    }
    return true;
}

static bool media_ok(const kg_sdp_media *m)
{
    if (m->n_extmaps > KG_SDP_MAX_EXTMAP || m->n_ssrcs > KG_SDP_MAX_SSRC ||
        (unsigned)m->dir > KG_SDP_INACTIVE ||
        (unsigned)m->kind > KG_SDP_OTHER ||
        (!m->kind_text[0] && m->kind == KG_SDP_OTHER) ||
        !FIELD_OK(m->kind_text, is_word, true) ||
        !FIELD_OK(m->proto, is_word, true) || !FIELD_OK(m->mid, is_word, true) ||
        !FIELD_OK(m->msid, is_msid, true) ||
        !FIELD_OK(m->fmt_text, is_fmt_list, true) || !codecs_ok(m) ||
        !transport_ok(&m->transport))
        return false;
    /* An RTP profile lists payload types, anything else a format list. */
    bool rtp = !m->proto[0] || is_rtp_proto(m->proto);
    if (rtp ? m->n_codecs == 0 : (m->n_codecs != 0 || !m->fmt_text[0]))
        return false;
    for (size_t i = 0; i < m->n_extmaps; i++) {
        if (m->extmaps[i].id == 0 ||
            !FIELD_OK(m->extmaps[i].uri, is_word, false))
            return false;
        for (size_t j = i + 1; j < m->n_extmaps; j++)
            if (m->extmaps[j].id == m->extmaps[i].id)
                return false;
    }
    for (size_t i = 0; i < m->n_ssrcs; i++)
        if (!FIELD_OK(m->ssrcs[i].cname, is_word, true) ||
            !FIELD_OK(m->ssrcs[i].msid, is_msid, true))
            return false;
    if (m->n_rids > KG_SDP_MAX_RID || m->n_simulcast > KG_SDP_MAX_RID ||
        (m->n_sim != 0 && (m->n_sim < 2 || m->n_sim > 3)))
        return false;
    for (size_t i = 0; i < m->n_rids; i++)
        if (!FIELD_OK(m->rids[i].id, is_rid, false))
            return false;
    for (size_t i = 0; i < m->n_simulcast; i++)
        if (!FIELD_OK(m->simulcast[i], is_rid, false))
            return false;
    return true;
}

static bool sdp_ok(const kg_sdp *s)
{
    if (s->n_media > KG_SDP_MAX_MEDIA || s->n_bundle > KG_SDP_MAX_MEDIA ||
        (s->n_media && !s->media) || !transport_ok(&s->transport))
        return false;
    for (size_t b = 0; b < s->n_bundle; b++)
        if (!FIELD_OK(s->bundle[b], is_word, false))
            return false;
    for (size_t i = 0; i < s->n_media; i++)
        if (!media_ok(&s->media[i]))
            return false;
    return structure_ok(s);
}

static void write_transport(struct out *o, const kg_sdp_transport *t,
                            const bool want[TF_COUNT])
{
    static const char *const setup[] = {"", "actpass", "active", "passive"};
    if (want[TF_UFRAG] && t->ice_ufrag[0])
        put(o, "a=ice-ufrag:%s\r\n", t->ice_ufrag);
    if (want[TF_PWD] && t->ice_pwd[0])
        put(o, "a=ice-pwd:%s\r\n", t->ice_pwd);
    if (want[TF_FPR] && t->fingerprint[0])
        put(o, "a=fingerprint:sha-256 %s\r\n", t->fingerprint);
    if (want[TF_SETUP] && t->setup != KG_SDP_SETUP_NONE)
        put(o, "a=setup:%s\r\n", setup[t->setup]);
}

static void write_session(struct out *o, const kg_sdp *s)
{
    put(o, "v=0\r\no=- %llu %llu IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n",
        (unsigned long long)s->sess_id, (unsigned long long)s->sess_version);
    if (s->n_bundle) {
        put(o, "a=group:BUNDLE");
        for (size_t i = 0; i < s->n_bundle; i++)
            put(o, " %s", s->bundle[i]);
        put(o, "\r\n");
    }
    if (s->ice_lite)
        put(o, "a=ice-lite\r\n");
    /* A session-level value is written only where the parser could not
     * get it back from the m-sections (see complete_transport); a
     * candidate is a media-level attribute and never written here. */
    bool want[TF_COUNT] = {false};
    for (int f = 0; f < TF_CAND; f++) {
        const kg_sdp_transport *src = tfield_source(s, (enum tfield)f);
        want[f] = !src || !tfield_equal(src, &s->transport, (enum tfield)f);
    }
    write_transport(o, &s->transport, want);
    put(o, "a=msid-semantic: WMS *\r\n");
}

static void write_codecs(struct out *o, const kg_sdp_media *m)
{
    static const struct {
        unsigned bit;
        const char *text;
    } fbs[] = {
        {KG_SDP_FB_GOOG_REMB, "goog-remb"},
        {KG_SDP_FB_TRANSPORT_CC, "transport-cc"},
        {KG_SDP_FB_CCM_FIR, "ccm fir"},
        {KG_SDP_FB_NACK, "nack"},
        {KG_SDP_FB_NACK_PLI, "nack pli"},
    };
    for (size_t i = 0; i < m->n_codecs; i++) {
        const kg_sdp_codec *c = &m->codecs[i];
        if (c->name[0]) {
            put(o, "a=rtpmap:%u %s/%lu", c->pt, c->name,
                (unsigned long)c->clock);
            if (c->channels)
                put(o, "/%u", c->channels);
            put(o, "\r\n");
        }
        for (size_t f = 0; f < KG_ARRAY_LEN(fbs); f++)
            if (c->fb & fbs[f].bit)
                put(o, "a=rtcp-fb:%u %s\r\n", c->pt, fbs[f].text);
        if (c->fmtp[0])
            put(o, "a=fmtp:%u %s\r\n", c->pt, c->fmtp);
    }
}

static void write_rtp(struct out *o, const kg_sdp_media *m)
{
    static const char *const dirs[] = {"sendrecv", "sendonly", "recvonly",
                                       "inactive"};
    for (size_t i = 0; i < m->n_extmaps; i++)
        put(o, "a=extmap:%u %s\r\n", m->extmaps[i].id, m->extmaps[i].uri);
    put(o, "a=%s\r\n", dirs[m->dir]);
    if (m->msid[0])
        put(o, "a=msid:%s\r\n", m->msid);
    if (m->rtcp_mux)
        put(o, "a=rtcp-mux\r\n");
    if (m->rtcp_rsize)
        put(o, "a=rtcp-rsize\r\n");
    write_codecs(o, m);
    if (m->fid_ssrc[0] || m->fid_ssrc[1])
        put(o, "a=ssrc-group:FID %lu %lu\r\n", (unsigned long)m->fid_ssrc[0],
            (unsigned long)m->fid_ssrc[1]);
    for (size_t i = 0; i < m->n_rids && i < KG_SDP_MAX_RID; i++)
        put(o, "a=rid:%s %s\r\n", m->rids[i].id,
            m->rids[i].recv ? "recv" : "send");
    if (m->n_simulcast && m->n_simulcast <= KG_SDP_MAX_RID) {
        put(o, "a=simulcast:%s ", m->simulcast_recv ? "recv" : "send");
        for (size_t i = 0; i < m->n_simulcast; i++)
            put(o, "%s%s", i ? ";" : "", m->simulcast[i]);
        put(o, "\r\n");
    }
    if (m->n_sim >= 2 && m->n_sim <= 3) {
        put(o, "a=ssrc-group:SIM");
        for (size_t i = 0; i < m->n_sim; i++)
            put(o, " %lu", (unsigned long)m->sim_ssrc[i]);
        put(o, "\r\n");
    }
    for (size_t i = 0; i < m->n_ssrcs; i++) {
        const kg_sdp_ssrc *e = &m->ssrcs[i];
        if (e->cname[0])
            put(o, "a=ssrc:%lu cname:%s\r\n", (unsigned long)e->ssrc, e->cname);
        if (e->msid[0])
            put(o, "a=ssrc:%lu msid:%s\r\n", (unsigned long)e->ssrc, e->msid);
    }
}

static void write_media(struct out *o, const kg_sdp_media *m)
{
    static const char *const kinds[] = {"audio", "video"};
    const char *kind = m->kind_text[0] ? m->kind_text : kinds[m->kind];
    const char *proto = m->proto[0] ? m->proto : "UDP/TLS/RTP/SAVPF";
    put(o, "m=%s %u %s", kind, m->port, proto);
    if (m->n_codecs)
        for (size_t i = 0; i < m->n_codecs; i++)
            put(o, " %u", m->codecs[i].pt);
    else
        put(o, " %s", m->fmt_text);
    put(o, "\r\n");
    /* c= carries the candidate's address when it is a literal one (an
     * mDNS name is not an address), else the JSEP placeholder. */
    const kg_sdp_transport *t = &m->transport;
    unsigned char addr[16];
    if (m->port && t->cand_ip[0] && inet_pton(AF_INET, t->cand_ip, addr) == 1)
        put(o, "c=IN IP4 %s\r\n", t->cand_ip);
    else if (m->port && t->cand_ip[0] &&
             inet_pton(AF_INET6, t->cand_ip, addr) == 1)
        put(o, "c=IN IP6 %s\r\n", t->cand_ip);
    else
        put(o, "c=IN IP4 0.0.0.0\r\n");
    if (m->port == 0 && !m->bundle_only) {
        /* Rejected (JSEP 5.3.1): the formats and the mid, nothing else. */
        if (m->mid[0])
            put(o, "a=mid:%s\r\n", m->mid);
        return;
    }
    const bool all[TF_COUNT] = {true, true, true, true, true};
    write_transport(o, t, all);
    /* The TCP candidate's priority is RFC 6544 4.2's for a passive host
     * candidate (type preference 126, local preference 2^13 x 4 + 8191),
     * below the UDP one's (local preference 65535): a client that can
     * reach both prefers UDP, TCP is the fallback. */
    if (t->cand_ip[0])
        put(o, "a=candidate:1 1 udp 2130706431 %s %u typ host\r\n",
            t->cand_ip, t->cand_port);
    if (t->cand_ip[0] && t->tcp_port)
        put(o, "a=candidate:2 1 tcp 2124414975 %s %u typ host "
               "tcptype passive\r\n",
            t->cand_ip, t->tcp_port);
    if (t->cand_ip[0])
        put(o, "a=end-of-candidates\r\n");
    if (m->mid[0])
        put(o, "a=mid:%s\r\n", m->mid);
    if (m->bundle_only)
        put(o, "a=bundle-only\r\n");
    if (m->n_codecs)
        write_rtp(o, m);
}

ssize_t kg_sdp_write(const kg_sdp *s, char *buf, size_t cap)
{
    if (!s || (!buf && cap))
        return KG_ERR_INVAL;
    if (!sdp_ok(s))
        return KG_ERR_INVAL;
    if (cap == 0)
        return KG_ERR_NOSPACE;
    struct out o = {buf, cap, 0, false};
    write_session(&o, s);
    for (size_t i = 0; i < s->n_media; i++)
        write_media(&o, &s->media[i]);
    if (o.full)
        return KG_ERR_NOSPACE;
    return (ssize_t)o.len; /* vsnprintf left the NUL */
}

/* ---------------------------------------------------------------- */
/* Lookups                                                          */

const kg_sdp_codec *kg_sdp_find_codec(const kg_sdp_media *m, const char *name,
                                      uint32_t clock)
{
    if (!m || !name)
        return NULL;
    for (size_t i = 0; i < m->n_codecs && i < KG_SDP_MAX_CODECS; i++)
        if (m->codecs[i].clock == clock &&
            strcasecmp(m->codecs[i].name, name) == 0)
            return &m->codecs[i];
    return NULL;
}

uint8_t kg_sdp_find_extmap(const kg_sdp_media *m, const char *uri)
{
    if (!m || !uri)
        return 0;
    for (size_t i = 0; i < m->n_extmaps && i < KG_SDP_MAX_EXTMAP; i++)
        if (strcmp(m->extmaps[i].uri, uri) == 0)
            return m->extmaps[i].id;
    return 0;
}

const kg_sdp_transport *kg_sdp_bundle_transport(const kg_sdp *s)
{
    /* kg_sdp_parse and the negotiations leave the session level
     * complete (see complete_transport), so it is the answer. */
    return &s->transport;
}
