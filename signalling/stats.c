#include "signalling/stats.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "codec/err.h"
#include "crypto/srtp.h"
#include "signalling/sfu_internal.h"

/* --- gathering the workers' snapshots -------------------------------- */

typedef struct snaps {
    kg_part_stats *recs[KG_MAX_WORKERS];
    size_t n[KG_MAX_WORKERS];
    kg_worker_stats worker[KG_MAX_WORKERS];
} snaps;

static int snaps_take(kg_sfu *s, snaps *out)
{
    memset(out, 0, sizeof(*out));
    for (unsigned i = 0; i < s->n_workers; i++) {
        kg_worker_get_stats(s->workers[i], &out->worker[i]);
        if (kg_worker_get_parts(s->workers[i], &out->recs[i], &out->n[i]) != 0)
            return KG_ERR_NOMEM;
    }
    return 0;
}

static void snaps_free(kg_sfu *s, snaps *sn)
{
    for (unsigned i = 0; i < s->n_workers; i++)
        free(sn->recs[i]);
}

static const kg_part_stats *snaps_find(const snaps *sn, unsigned worker,
                                       uint64_t participant)
{
    for (size_t i = 0; i < sn->n[worker]; i++) {
        if (sn->recs[worker][i].participant == participant)
            return &sn->recs[worker][i];
    }
    return NULL;
}

/* A room's sums over its members' records and the record of those who
 * have left (participant 0). */
typedef struct room_agg {
    const sroom *r;
    kg_part_counters c;
    uint64_t bitrate_in_1s, bitrate_out_1s, bitrate_in_10s, bitrate_out_10s;
    uint64_t expected, lost;
    double jitter_ms;
    /* RTCP reports: the largest smoothed RTT of its members (-1: none
     * yet), the worst receiver-reported loss and jitter */
    double rtt_ms, receiver_loss_fraction, receiver_jitter_ms;
} room_agg;

/* RTCP reports of one member, into its room's aggregate. */
static void room_sum_rtcp(const kg_part_stats *p, room_agg *a)
{
    a->c.sr_sent += p->c.sr_sent;
    a->c.rr_sent += p->c.rr_sent;
    a->c.sr_in += p->c.sr_in;
    a->c.rr_in += p->c.rr_in;
    if (p->rtt_valid && p->rtt_smoothed_ms > a->rtt_ms)
        a->rtt_ms = p->rtt_smoothed_ms;
    if (p->receiver_loss_fraction > a->receiver_loss_fraction)
        a->receiver_loss_fraction = p->receiver_loss_fraction;
    if (p->receiver_jitter_ms > a->receiver_jitter_ms)
        a->receiver_jitter_ms = p->receiver_jitter_ms;
}

static void room_sum(const snaps *sn, const sroom *r, room_agg *a)
{
    memset(a, 0, sizeof(*a));
    a->rtt_ms = -1;
    a->r = r;
    for (size_t i = 0; i < sn->n[r->worker]; i++) {
        const kg_part_stats *p = &sn->recs[r->worker][i];
        if (p->room != r->num)
            continue;
        a->c.packets_in += p->c.packets_in;
        a->c.bytes_in += p->c.bytes_in;
        a->c.packets_out += p->c.packets_out;
        a->c.bytes_out += p->c.bytes_out;
        a->c.srtp_auth_fail += p->c.srtp_auth_fail;
        a->c.srtp_replay += p->c.srtp_replay;
        a->c.malformed += p->c.malformed;
        a->c.nacks_in += p->c.nacks_in;
        a->c.plis_in += p->c.plis_in;
        a->c.pli_sent += p->c.pli_sent;
        a->c.retransmits += p->c.retransmits;
        a->c.rtx_misses += p->c.rtx_misses;
        a->c.nacks_sent += p->c.nacks_sent;
        a->c.nack_recovered += p->c.nack_recovered;
        a->c.nack_given_up += p->c.nack_given_up;
        a->bitrate_in_1s += p->bitrate_in_1s;
        a->bitrate_out_1s += p->bitrate_out_1s;
        a->bitrate_in_10s += p->bitrate_in_10s;
        a->bitrate_out_10s += p->bitrate_out_10s;
        a->expected += p->expected;
        a->lost += p->lost;
        if (p->jitter_ms > a->jitter_ms)
            a->jitter_ms = p->jitter_ms;
        room_sum_rtcp(p, a);
    }
}

static double fraction(uint64_t lost, uint64_t expected)
{
    return expected ? (double)lost / (double)expected : 0.0;
}

/* Rooms are keyed "mtg:<meeting ID>" and "room:<ad-hoc name>" inside
 * kaigi; ops see the meeting ID or the room name. */
static const char *room_id(const sroom *r)
{
    const char *colon = strchr(r->name, ':');
    return colon ? colon + 1 : r->name;
}

static const char *room_kind(const sroom *r)
{
    return strncmp(r->name, "mtg:", 4) == 0 ? "meeting" : "room";
}

/* --- JSON -------------------------------------------------------------- */

static void error(kg_api_resp *r, unsigned status, const char *code,
                  const char *msg)
{
    r->status = status;
    r->body = json_pack("{s:s, s:s}", "error", code, "message", msg);
}

#define JI(v) json_integer((json_int_t)(v))

/* Adds the RTCP report fields to a room's object o (returns o). */
static json_t *room_rtcp_json(const room_agg *a, json_t *o)
{
    if (!o)
        return NULL;
    json_object_set_new(o, "rtt_ms",
                        a->rtt_ms >= 0 ? json_real(a->rtt_ms) : json_null());
    json_object_set_new(o, "receiver_loss_fraction",
                        json_real(a->receiver_loss_fraction));
    json_object_set_new(o, "receiver_jitter_ms",
                        json_real(a->receiver_jitter_ms));
    return o;
}

static json_t *room_json(const room_agg *a)
{
    return json_pack(
        "{s:s, s:s, s:i, s:I, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o,"
        " s:f, s:f}",
        "id", room_id(a->r), "kind", room_kind(a->r), "worker", (int)a->r->worker, "participants",
        (json_int_t)a->r->n_members, "bitrate_in_1s", JI(a->bitrate_in_1s),
        "bitrate_out_1s", JI(a->bitrate_out_1s), "bitrate_in_10s",
        JI(a->bitrate_in_10s), "bitrate_out_10s", JI(a->bitrate_out_10s),
        "packets_in", JI(a->c.packets_in), "packets_out",
        JI(a->c.packets_out), "bytes_in", JI(a->c.bytes_in), "bytes_out",
        JI(a->c.bytes_out), "packets_expected", JI(a->expected),
        "packets_lost", JI(a->lost), "loss_fraction",
        fraction(a->lost, a->expected), "jitter_ms", a->jitter_ms);
}

/* Adds what its receivers report about it (RTCP RR) to a track's
 * object o (returns o). */
static json_t *track_rtcp_json(const kg_track_stats *t, json_t *o)
{
    if (!o)
        return NULL;
    json_object_set_new(o, "receiver_loss_fraction",
                        json_real(t->receiver_loss_fraction));
    json_object_set_new(o, "receiver_jitter_ms",
                        json_real(t->receiver_jitter_ms));
    json_object_set_new(o, "srs_received", JI(t->srs_in));
    return o;
}

static json_t *track_json(const kg_track_stats *t)
{
    return json_pack("{s:I, s:s, s:o, s:o, s:o, s:o, s:f, s:f, s:i}", "ssrc",
                     (json_int_t)t->ssrc, "kind",
                     t->kind == 0 ? "audio" : "video", "packets",
                     JI(t->packets), "bytes", JI(t->bytes), "packets_expected",
                     JI(t->expected), "packets_lost", JI(t->lost),
                     "loss_fraction", fraction(t->lost, t->expected),
                     "jitter_ms", t->jitter_ms, "subscribers",
                     (int)t->subscribers);
}

/* A simulcast track's "simulcast": [{ssrc, bitrate, receivers}] per
 * layer, lowest first (ssrc 0: a rid not seen yet). */
static json_t *track_sc_json(const kg_track_stats *t, json_t *o)
{
    if (!o || t->sc_layers == 0)
        return o;
    json_t *layers = json_array();
    for (unsigned i = 0; i < t->sc_layers && i < 3; i++)
        json_array_append_new(
            layers, json_pack("{s:I, s:I, s:i}", "ssrc",
                              (json_int_t)t->sc_ssrc[i], "bitrate",
                              (json_int_t)t->sc_bps[i], "receivers",
                              (int)t->sc_receivers[i]));
    json_object_set_new(o, "simulcast", layers);
    return o;
}

static json_t *by_role(const char *publish, const char *subscribe)
{
    return json_pack("{s:s, s:s}", "publish", publish, "subscribe", subscribe);
}

static json_t *participant_json(const kg_session *ss, const kg_part_stats *p)
{
    static const kg_part_stats none = {.dtls_state = {"none", "none"}};
    if (!p)
        p = &none; /* joined since the last snapshot */
    json_t *tracks = json_array();
    for (unsigned i = 0; i < p->n_tracks; i++)
        json_array_append_new(tracks, track_sc_json(
                                          &p->tracks[i],
                                          track_rtcp_json(
                                          &p->tracks[i],
                                          track_json(&p->tracks[i]))));
    json_t *o = json_pack("{s:s, s:s}", "id", ss->id, "name", ss->name);
#define SET(key, v) json_object_set_new(o, key, v)
    SET("packets_in", JI(p->c.packets_in));
    SET("bytes_in", JI(p->c.bytes_in));
    SET("packets_out", JI(p->c.packets_out));
    SET("bytes_out", JI(p->c.bytes_out));
    SET("bitrate_in_1s", JI(p->bitrate_in_1s));
    SET("bitrate_in_10s", JI(p->bitrate_in_10s));
    SET("bitrate_out_1s", JI(p->bitrate_out_1s));
    SET("bitrate_out_10s", JI(p->bitrate_out_10s));
    SET("packets_expected", JI(p->expected));
    SET("packets_lost", JI(p->lost));
    SET("loss_fraction", json_real(fraction(p->lost, p->expected)));
    SET("jitter_ms", json_real(p->jitter_ms));
    SET("rtt_ms", p->rtt_valid ? json_real(p->rtt_smoothed_ms) : json_null());
    SET("nacks_in", JI(p->c.nacks_in));
    SET("plis_in", JI(p->c.plis_in));
    SET("plis_sent", JI(p->c.pli_sent));
    SET("srtp_unprotect_failures", JI(p->c.srtp_auth_fail));
    SET("srtp_replays", JI(p->c.srtp_replay));
    SET("malformed", JI(p->c.malformed));
    SET("srtp_profile",
        by_role(kg_srtp_profile_name((kg_srtp_profile)p->srtp_profile[0]),
                kg_srtp_profile_name((kg_srtp_profile)p->srtp_profile[1])));
    SET("dtls_state", by_role(p->dtls_state[0], p->dtls_state[1]));
    /* "udp" or "tcp" (ICE-TCP), "none" before ICE picked a path */
    SET("protocol", by_role(kg_proto_name(p->proto[0]),
                            kg_proto_name(p->proto[1])));
    SET("tcp_tx_dropped", JI(p->c.tcp_tx_dropped));
    SET("tracks_published", JI(p->tracks_published));
    SET("tracks_subscribed", JI(p->tracks_subscribed));
    SET("muted", json_boolean(p->muted));
    SET("tracks", tracks);
    /* RTCP reports (relay/rtcp_report.h) */
    SET("rtt_latest_ms", p->rtt_valid ? json_real(p->rtt_ms) : json_null());
    SET("receiver_loss_fraction", json_real(p->receiver_loss_fraction));
    SET("receiver_jitter_ms", json_real(p->receiver_jitter_ms));
    SET("rtcp_sr_sent", JI(p->c.sr_sent));
    SET("rtcp_rr_sent", JI(p->c.rr_sent));
    SET("rtcp_sr_received", JI(p->c.sr_in));
    SET("rtcp_rr_received", JI(p->c.rr_in));
    SET("retransmits", JI(p->c.retransmits));
    SET("retransmit_misses", JI(p->c.rtx_misses));
    SET("nacks_sent", JI(p->c.nacks_sent));
    SET("nack_recovered", JI(p->c.nack_recovered));
    SET("nack_given_up", JI(p->c.nack_given_up));
#undef SET
    return o;
}

/* A meeting ID first, then an ad-hoc name, then the inner key itself. */
static const sroom *room_by_id(const kg_sfu *s, const char *id)
{
    static const char *const prefixes[] = {"mtg:", "room:", ""};
    for (size_t i = 0; i < KG_ARRAY_LEN(prefixes); i++) {
        char key[sizeof(((sroom *)0)->name)];
        int n = snprintf(key, sizeof(key), "%s%s", prefixes[i], id);
        if (n < 0 || (size_t)n >= sizeof(key))
            continue;
        for (const sroom *r = s->rooms; r; r = r->next) {
            if (strcmp(r->name, key) == 0)
                return r;
        }
    }
    return NULL;
}

static json_t *rooms_list(kg_sfu *s, const snaps *sn)
{
    json_t *arr = json_array();
    for (const sroom *r = s->rooms; r; r = r->next) {
        room_agg a;
        room_sum(sn, r, &a);
        json_array_append_new(arr, room_rtcp_json(&a, room_json(&a)));
    }
    return json_pack("{s:o}", "rooms", arr);
}

/* The active speaker's ID while it is in the room, else null. */
static json_t *speaker_json(const sroom *r)
{
    for (const kg_session *ss = r->members; ss; ss = ss->room_next) {
        if (r->speaker && ss->num == r->speaker)
            return json_string(ss->id);
    }
    return json_null();
}

static json_t *room_stats(const snaps *sn, const sroom *r)
{
    room_agg a;
    room_sum(sn, r, &a);
    json_t *o = room_rtcp_json(&a, room_json(&a));
    json_t *arr = json_array();
    for (const kg_session *ss = r->members; ss; ss = ss->room_next)
        json_array_append_new(
            arr, participant_json(ss, snaps_find(sn, r->worker, ss->num)));
    json_object_set_new(o, "participants", arr); /* the list, not a count */
    json_object_set_new(o, "speaker", speaker_json(r));
    return o;
}

void kg_stats_rooms(kg_sfu *s, const kg_api_req *req, kg_api_resp *resp)
{
    resp->body = NULL;
    if (!kg_api_is_admin(kg_sfu_api(s), req->authorization)) {
        error(resp, 401, "unauthorized", "admin token required");
        return;
    }
    const char *p = req->path + strlen("/api/rooms");
    char name[sizeof(((sroom *)0)->name)];
    const sroom *r = NULL;
    if (*p == '/') {
        const char *slash = strchr(p + 1, '/');
        size_t n = slash ? (size_t)(slash - p - 1) : 0;
        if (!slash || strcmp(slash, "/stats") != 0 || n == 0 ||
            n >= sizeof(name)) {
            error(resp, 404, "not_found", "no such endpoint");
            return;
        }
        memcpy(name, p + 1, n);
        name[n] = '\0';
        if (!(r = room_by_id(s, name))) {
            error(resp, 404, "not_found", "no such room");
            return;
        }
    } else if (*p != '\0') {
        error(resp, 404, "not_found", "no such endpoint");
        return;
    }
    if (req->method != KG_HTTP_GET) {
        error(resp, 405, "method_not_allowed", "use GET");
        return;
    }
    snaps sn;
    if (snaps_take(s, &sn) != 0) {
        snaps_free(s, &sn);
        error(resp, 500, "internal", "out of memory");
        return;
    }
    resp->status = 200;
    resp->body = r ? room_stats(&sn, r) : rooms_list(s, &sn);
    snaps_free(s, &sn);
}

/* --- Prometheus text format 0.0.4 --------------------------------------- */

int kg_prom_escape(const char *in, char *out, size_t cap)
{
    size_t n = 0;
    for (; *in; in++) {
        const char *rep = NULL;
        char one[2] = {*in, '\0'};
        if (*in == '\\')
            rep = "\\\\";
        else if (*in == '"')
            rep = "\\\"";
        else if (*in == '\n')
            rep = "\\n";
        else
            rep = one;
        size_t rl = strlen(rep);
        if (n + rl >= cap)
            return KG_ERR_NOSPACE;
        memcpy(out + n, rep, rl);
        n += rl;
    }
    if (n >= cap)
        return KG_ERR_NOSPACE;
    out[n] = '\0';
    return (int)n;
}

typedef struct buf {
    char *p;
    size_t len, cap;
    bool failed;
} buf;

static void put(buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void put(buf *b, const char *fmt, ...)
{
    if (b->failed)
        return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
        if (n < 0) {
            b->failed = true;
            return;
        }
        if ((size_t)n < b->cap - b->len) {
            b->len += (size_t)n;
            return;
        }
        size_t cap = (b->cap + (size_t)n + 1) * 2;
        char *np = realloc(b->p, cap);
        if (!np) {
            b->failed = true;
            return;
        }
        b->p = np;
        b->cap = cap;
    }
}

static void family(buf *b, const char *name, const char *type,
                   const char *help)
{
    put(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* Pss of one process in bytes (smaps_rollup), 0 if unreadable. */
static uint64_t pss_bytes(long pid)
{
    char path[64], line[256];
    snprintf(path, sizeof(path), "/proc/%ld/smaps_rollup", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    unsigned long long kb = 0;
    while (fgets(line, sizeof(line), f)) {
        if (sscanf(line, "Pss: %llu kB", &kb) == 1)
            break;
    }
    fclose(f);
    return (uint64_t)kb * 1024;
}

/* Memory of kaigi and its media worker processes: their Pss summed (the
 * workers share pages with kaigi, which RSS would count once each). */
static uint64_t resident_bytes(void)
{
    long self = (long)getpid();
    uint64_t sum = pss_bytes(self);
    char path[96];
    snprintf(path, sizeof(path), "/proc/%ld/task/%ld/children", self, self);
    FILE *f = fopen(path, "r");
    if (!f)
        return sum;
    long child;
    for (int i = 0; i < 256 && fscanf(f, "%ld", &child) == 1; i++)
        sum += pss_bytes(child);
    fclose(f);
    return sum;
}

#define U64 0
#define DBL 1
#define AGG(field) offsetof(room_agg, field)

static const struct room_family {
    const char *name, *type, *help;
    size_t off;
    int kind;
} room_families[] = {
    {"kaigi_room_packets_in_total", "counter",
     "SRTP packets accepted from the room's publishers.", AGG(c.packets_in),
     U64},
    {"kaigi_room_bytes_in_total", "counter",
     "SRTP bytes accepted from the room's publishers.", AGG(c.bytes_in), U64},
    {"kaigi_room_packets_out_total", "counter",
     "SRTP packets forwarded to the room's subscribers.", AGG(c.packets_out),
     U64},
    {"kaigi_room_bytes_out_total", "counter",
     "SRTP bytes forwarded to the room's subscribers.", AGG(c.bytes_out), U64},
    {"kaigi_room_bitrate_in_bps", "gauge",
     "Bits per second in, over the last second.", AGG(bitrate_in_1s), U64},
    {"kaigi_room_bitrate_out_bps", "gauge",
     "Bits per second out, over the last second.", AGG(bitrate_out_1s), U64},
    {"kaigi_room_packets_lost_total", "counter",
     "RTP packets the publishers sent that never arrived (RFC 3550).",
     AGG(lost), U64},
    {"kaigi_room_jitter_seconds", "gauge",
     "Largest interarrival jitter of the room's published tracks.",
     AGG(jitter_ms), DBL},
    {"kaigi_room_nacks_received_total", "counter",
     "RTCP generic NACKs from subscribers.", AGG(c.nacks_in), U64},
    {"kaigi_room_plis_received_total", "counter",
     "RTCP PLI and FIR from subscribers.", AGG(c.plis_in), U64},
    {"kaigi_room_plis_sent_total", "counter",
     "PLIs kaigi sent to the room's publishers.", AGG(c.pli_sent), U64},
    {"kaigi_room_srtp_unprotect_failures_total", "counter",
     "SRTP/SRTCP packets that failed authentication.", AGG(c.srtp_auth_fail),
     U64},
    {"kaigi_room_srtp_replays_total", "counter",
     "SRTP/SRTCP packets dropped as replays.", AGG(c.srtp_replay), U64},
    {"kaigi_room_malformed_total", "counter",
     "Malformed packets from the room's participants.", AGG(c.malformed),
     U64},
    {"kaigi_room_rtcp_sr_sent_total", "counter",
     "RTCP sender reports kaigi sent to the room's subscribers (one per "
     "SSRC).", AGG(c.sr_sent), U64},
    {"kaigi_room_rtcp_rr_sent_total", "counter",
     "RTCP receiver report packets kaigi sent to the room's publishers.",
     AGG(c.rr_sent), U64},
    {"kaigi_room_rtcp_sr_received_total", "counter",
     "RTCP sender reports from the room's publishers.", AGG(c.sr_in), U64},
    {"kaigi_room_rtcp_rr_received_total", "counter",
     "RTCP receiver report packets from the room's subscribers.",
     AGG(c.rr_in), U64},
    {"kaigi_room_receiver_jitter_seconds", "gauge",
     "Largest interarrival jitter the room's subscribers report (RTCP RR).",
     AGG(receiver_jitter_ms), DBL},
    {"kaigi_room_retransmits_total", "counter",
     "RTP packets resent to subscribers from the NACK cache.",
     AGG(c.retransmits), U64},
    {"kaigi_room_retransmit_misses_total", "counter",
     "Packets subscribers NACKed that the cache did not hold.",
     AGG(c.rtx_misses), U64},
    {"kaigi_room_nacks_sent_total", "counter",
     "Sequence numbers kaigi NACKed to the room's publishers.",
     AGG(c.nacks_sent), U64},
    {"kaigi_room_nack_recovered_total", "counter",
     "Publishers' lost packets that arrived after all.",
     AGG(c.nack_recovered), U64},
    {"kaigi_room_nack_given_up_total", "counter",
     "Publishers' lost packets kaigi stopped asking for.",
     AGG(c.nack_given_up), U64},
};

#define WST(field) offsetof(kg_worker_stats, field)

static const struct worker_family {
    const char *name, *type, *help;
    size_t off;
} worker_families[] = {
    {"kaigi_worker_rooms", "gauge", "Rooms pinned to the worker.",
     WST(rooms)},
    {"kaigi_worker_participants", "gauge", "Participants on the worker.",
     WST(participants)},
    {"kaigi_worker_datagrams_in_total", "counter", "UDP datagrams received.",
     WST(rx_datagrams)},
    {"kaigi_worker_bytes_in_total", "counter", "UDP bytes received.",
     WST(rx_bytes)},
    {"kaigi_worker_datagrams_out_total", "counter", "UDP datagrams sent.",
     WST(tx_datagrams)},
    {"kaigi_worker_bytes_out_total", "counter", "UDP bytes sent.",
     WST(tx_bytes)},
    {"kaigi_worker_send_errors_total", "counter",
     "Datagrams the socket refused.", WST(tx_errors)},
    {"kaigi_worker_rtp_in_total", "counter", "RTP packets received.",
     WST(rtp_in)},
    {"kaigi_worker_rtp_forwarded_total", "counter",
     "RTP packets forwarded (one per receiver).", WST(rtp_forwarded)},
    {"kaigi_worker_unknown_source_total", "counter",
     "Datagrams from addresses no ICE check validated.",
     WST(unknown_source)},
    {"kaigi_worker_malformed_total", "counter", "Malformed datagrams.",
     WST(malformed)},
    {"kaigi_worker_stun_bad_total", "counter",
     "STUN requests that failed their checks.", WST(stun_bad)},
    {"kaigi_worker_dtls_failures_total", "counter", "DTLS handshakes failed.",
     WST(dtls_fail)},
    {"kaigi_worker_srtp_unprotect_failures_total", "counter",
     "SRTP/SRTCP authentication failures.", WST(srtp_auth_fail)},
    {"kaigi_worker_srtp_replays_total", "counter", "SRTP/SRTCP replays.",
     WST(srtp_replay)},
    {"kaigi_worker_ssrc_refused_total", "counter",
     "SRTP from SSRCs the SDP did not announce.", WST(ssrc_refused)},
    {"kaigi_worker_consent_timeouts_total", "counter",
     "Transports closed because ICE consent lapsed.", WST(consent_timeouts)},
    {"kaigi_worker_rtcp_sr_sent_total", "counter",
     "RTCP sender reports sent (one per SSRC).", WST(rtcp_sr_sent)},
    {"kaigi_worker_rtcp_rr_sent_total", "counter",
     "RTCP receiver report packets sent.", WST(rtcp_rr_sent)},
    {"kaigi_worker_rtcp_sr_received_total", "counter",
     "RTCP sender reports received.", WST(rtcp_sr_in)},
    {"kaigi_worker_rtcp_rr_received_total", "counter",
     "RTCP receiver report packets received.", WST(rtcp_rr_in)},
    {"kaigi_worker_audio_suppressed_total", "counter",
     "Audio packets not forwarded: not among the room's loudest N.",
     WST(audio_suppressed)},
    {"kaigi_worker_mix_listeners", "gauge",
     "Participants hearing a mixed-audio track.", WST(mix_listeners)},
    {"kaigi_worker_mix_packets_total", "counter",
     "Mixed-audio packets sent.", WST(mix_packets)},
    {"kaigi_worker_mix_concealed_total", "counter",
     "Audio frames the mixer concealed (Opus PLC).", WST(mix_concealed)},
    {"kaigi_worker_retransmits_limited_total", "counter",
     "NACKed packets not resent: over the receiver's 1,000/s budget.",
     WST(rtx_limited)},
    {"kaigi_worker_tcp_accepted_total", "counter",
     "ICE-TCP connections accepted.", WST(tcp_accepted)},
    {"kaigi_worker_tcp_open", "gauge", "ICE-TCP connections open.",
     WST(tcp_open)},
    {"kaigi_worker_tcp_refused_total", "counter",
     "ICE-TCP connections refused: too many without a valid STUN check.",
     WST(tcp_refused)},
    {"kaigi_worker_tcp_timeouts_total", "counter",
     "ICE-TCP connections closed: no valid STUN check within 5 s.",
     WST(tcp_timeouts)},
    {"kaigi_worker_tcp_bad_stream_total", "counter",
     "ICE-TCP connections closed for bad RFC 4571 framing or non-STUN first.",
     WST(tcp_bad_stream)},
    {"kaigi_worker_tcp_tx_dropped_total", "counter",
     "Packets dropped: an ICE-TCP connection's send buffer was full.",
     WST(tcp_tx_dropped)},
};

static void room_metrics(buf *b, const room_agg *aggs, size_t n_rooms)
{
    family(b, "kaigi_room_participants", "gauge",
           "Participants in the room.");
    for (size_t i = 0; i < n_rooms; i++) {
        char room[sizeof(aggs[i].r->name) * 2];
        kg_prom_escape(room_id(aggs[i].r), room, sizeof(room));
        put(b, "kaigi_room_participants{room=\"%s\",worker=\"%u\"} %zu\n",
            room, aggs[i].r->worker, aggs[i].r->n_members);
    }
    for (size_t f = 0; f < KG_ARRAY_LEN(room_families); f++) {
        const struct room_family *rf = &room_families[f];
        family(b, rf->name, rf->type, rf->help);
        for (size_t i = 0; i < n_rooms; i++) {
            char room[sizeof(aggs[i].r->name) * 2];
            kg_prom_escape(room_id(aggs[i].r), room, sizeof(room));
            const char *v = (const char *)&aggs[i] + rf->off;
            put(b, "%s{room=\"%s\",worker=\"%u\"} ", rf->name, room,
                aggs[i].r->worker);
            if (rf->kind == DBL)
                put(b, "%.9g\n", *(const double *)v / 1000.0); /* ms → s */
            else
                put(b, "%" PRIu64 "\n", *(const uint64_t *)v);
        }
    }
}

/* The forwarding delay as a Prometheus histogram: cumulative buckets
 * with le in seconds, then +Inf, _sum and _count. */
static void delay_metrics(buf *b, kg_sfu *s, const snaps *sn)
{
    static const char name[] = "kaigi_worker_forward_delay_seconds";
    family(b, name, "histogram",
           "Time from a datagram's arrival (kernel receive timestamp) to "
           "the sendmmsg that sends what it caused, per datagram sent.");
    for (unsigned i = 0; i < s->n_workers; i++) {
        const kg_delay_hist *h = &sn->worker[i].fwd_delay;
        uint64_t cum = 0;
        for (unsigned k = 0; k < KG_DELAY_BOUNDS; k++) {
            cum += h->count[k];
            put(b, "%s_bucket{worker=\"%u\",le=\"%g\"} %" PRIu64 "\n",
                name, i, kg_delay_bound_us[k] / 1e6, cum);
        }
        cum += h->count[KG_DELAY_BOUNDS];
        put(b, "%s_bucket{worker=\"%u\",le=\"+Inf\"} %" PRIu64 "\n", name,
            i, cum);
        put(b, "%s_sum{worker=\"%u\"} %.9g\n", name, i,
            (double)h->sum_ns / 1e9);
        put(b, "%s_count{worker=\"%u\"} %" PRIu64 "\n", name, i, cum);
    }
}

static void worker_metrics(buf *b, kg_sfu *s, const snaps *sn)
{
    family(b, "kaigi_worker_cpu_seconds_total", "counter",
           "CPU time of the media worker thread.");
    for (unsigned i = 0; i < s->n_workers; i++)
        put(b, "kaigi_worker_cpu_seconds_total{worker=\"%u\"} %.9g\n", i,
            (double)sn->worker[i].cpu_ns / 1e9);
    for (size_t f = 0; f < KG_ARRAY_LEN(worker_families); f++) {
        const struct worker_family *wf = &worker_families[f];
        family(b, wf->name, wf->type, wf->help);
        for (unsigned i = 0; i < s->n_workers; i++) {
            const char *v = (const char *)&sn->worker[i] + wf->off;
            put(b, "%s{worker=\"%u\"} %" PRIu64 "\n", wf->name, i,
                *(const uint64_t *)v);
        }
    }
    delay_metrics(b, s, sn);
}

/* RTT and receiver-reported loss: rooms and participants without a
 * value yet have no sample (the series is absent, not 0). */
static void rtcp_metrics(buf *b, kg_sfu *s, const snaps *sn,
                         const room_agg *aggs, size_t n_rooms)
{
    family(b, "kaigi_room_rtt_seconds", "gauge",
           "Largest smoothed round-trip time of the room's subscribe legs "
           "(RTCP SR/RR).");
    for (size_t i = 0; i < n_rooms; i++) {
        char room[sizeof(aggs[i].r->name) * 2];
        kg_prom_escape(room_id(aggs[i].r), room, sizeof(room));
        if (aggs[i].rtt_ms >= 0)
            put(b, "kaigi_room_rtt_seconds{room=\"%s\",worker=\"%u\"} %.9g\n",
                room, aggs[i].r->worker, aggs[i].rtt_ms / 1000.0);
    }
    family(b, "kaigi_room_receiver_loss_ratio", "gauge",
           "Largest fraction lost the room's subscribers report over their "
           "last RTCP interval.");
    for (size_t i = 0; i < n_rooms; i++) {
        char room[sizeof(aggs[i].r->name) * 2];
        kg_prom_escape(room_id(aggs[i].r), room, sizeof(room));
        put(b,
            "kaigi_room_receiver_loss_ratio{room=\"%s\",worker=\"%u\"} "
            "%.9g\n",
            room, aggs[i].r->worker, aggs[i].receiver_loss_fraction);
    }
    family(b, "kaigi_participant_rtt_seconds", "gauge",
           "Smoothed round-trip time of a participant's subscribe leg "
           "(RTCP SR/RR).");
    for (const sroom *r = s->rooms; r; r = r->next) {
        char room[sizeof(r->name) * 2];
        kg_prom_escape(room_id(r), room, sizeof(room));
        for (const kg_session *ss = r->members; ss; ss = ss->room_next) {
            const kg_part_stats *p = snaps_find(sn, r->worker, ss->num);
            char id[sizeof(ss->id) * 2];
            if (!p || !p->rtt_valid ||
                kg_prom_escape(ss->id, id, sizeof(id)) < 0)
                continue;
            put(b,
                "kaigi_participant_rtt_seconds{room=\"%s\",worker=\"%u\","
                "participant=\"%s\"} %.9g\n",
                room, r->worker, id, p->rtt_smoothed_ms / 1000.0);
        }
    }
}

static char *metrics_text(kg_sfu *s, const snaps *sn, size_t *len)
{
    size_t n_rooms = 0, participants = 0;
    for (const sroom *r = s->rooms; r; r = r->next) {
        n_rooms++;
        participants += r->n_members;
    }
    room_agg *aggs = calloc(n_rooms ? n_rooms : 1, sizeof(*aggs));
    if (!aggs)
        return NULL;
    size_t i = 0;
    for (const sroom *r = s->rooms; r; r = r->next)
        room_sum(sn, r, &aggs[i++]);
    buf b = {.p = malloc(16384), .cap = 16384};
    if (!b.p) {
        free(aggs);
        return NULL;
    }
    family(&b, "kaigi_rooms", "gauge", "Rooms open.");
    put(&b, "kaigi_rooms %zu\n", n_rooms);
    family(&b, "kaigi_participants", "gauge", "Participants in rooms.");
    put(&b, "kaigi_participants %zu\n", participants);
    family(&b, "kaigi_sessions", "gauge",
           "Signalling connections, in a room or not.");
    put(&b, "kaigi_sessions %zu\n", s->n_sessions);
    family(&b, "kaigi_workers", "gauge",
           "Media workers (child processes, or threads).");
    put(&b, "kaigi_workers %u\n", s->n_workers);
    family(&b, "kaigi_resident_memory_bytes", "gauge",
           "Memory of kaigi and its worker processes (summed Pss).");
    put(&b, "kaigi_resident_memory_bytes %" PRIu64 "\n", resident_bytes());
    worker_metrics(&b, s, sn);
    room_metrics(&b, aggs, n_rooms);
    rtcp_metrics(&b, s, sn, aggs, n_rooms);
    free(aggs);
    if (b.failed) {
        free(b.p);
        return NULL;
    }
    *len = b.len;
    return b.p;
}

unsigned kg_stats_metrics(kg_sfu *s, const kg_api_req *req, char **text,
                          size_t *len, kg_api_resp *resp)
{
    *text = NULL;
    *len = 0;
    resp->body = NULL;
    if (!kg_api_is_admin(kg_sfu_api(s), req->authorization)) {
        error(resp, 401, "unauthorized", "admin token required");
        return resp->status;
    }
    if (req->method != KG_HTTP_GET) {
        error(resp, 405, "method_not_allowed", "use GET");
        return resp->status;
    }
    snaps sn;
    if (snaps_take(s, &sn) == 0)
        *text = metrics_text(s, &sn, len);
    snaps_free(s, &sn);
    if (!*text) {
        error(resp, 500, "internal", "out of memory");
        return resp->status;
    }
    resp->status = 200;
    return 200;
}
