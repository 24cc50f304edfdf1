/* kaigi-bench: shared pieces of the load generator.
 *
 * The synthetic media (kb_source), the receive-side accounting (kb_rx,
 * kb_hist) and the per-process results (kb_result) are used both by the
 * real-stack clients (bench_client.c, one uv loop per bench process) and
 * by the --ceiling loop (bench_ceiling.c). Times are CLOCK_MONOTONIC
 * nanoseconds: senders and receivers run on one machine, so a send time
 * carried in the payload gives a one-way latency directly.
 */
#ifndef KB_BENCH_H
#define KB_BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#include "codec/err.h"
#include "relay/delay.h"

#define KB_MAX_PKT 1200            /* RTP packet bytes, before SRTP */
#define KB_BUF (KB_MAX_PKT + 64)   /* room for the SRTP trailer */
#define KB_HDR 12                  /* RTP header: no CSRC, no extension */
#define KB_MAX_PAYLOAD (KB_MAX_PKT - KB_HDR)
#define KB_MAGIC 0x4b474231u       /* "KGB1": first 4 payload bytes */
#define KB_STAMP 16                /* magic, sender id, send time */
#define KB_AUDIO_PT 111
#define KB_VIDEO_PT 96
#define KB_AUDIO_INTERVAL (20 * KG_MS)  /* 50 packets/s */
#define KB_VIDEO_FPS 30
#define KB_KEYFRAME_EVERY (3 * KG_SEC)
#define KB_KEYFRAME_FACTOR 5       /* a keyframe is 5 delta frames' bytes */
#define KB_MAX_SSRCS 256           /* received SSRCs per client */
#define KB_MAX_PARTICIPANTS 64     /* per room */
#define KB_MAX_CLIENTS 1024        /* in one run */
#define KB_DRAIN (400 * KG_MS)     /* after the window: late packets */

kg_time kb_now(void);

/* --- latency histogram ------------------------------------------------
 * Fixed size, no allocation per sample: 1 us buckets below 4,096 us,
 * then 64 us buckets up to about 1 s; later samples land in the last. */
#define KB_HIST_LINEAR 4096
#define KB_HIST_BUCKETS (KB_HIST_LINEAR + 15600)

typedef struct kb_hist {
    uint64_t count;
    uint64_t max_us;
    uint32_t b[KB_HIST_BUCKETS];
} kb_hist;

void kb_hist_add(kb_hist *h, uint64_t us);
/* The q quantile (0..1) in microseconds (a bucket's upper edge); 0 if
 * empty. */
double kb_hist_quantile(const kb_hist *h, double q);
void kb_hist_merge(kb_hist *into, const kb_hist *from);
/* Sparse [[bucket, count], ...] for the pipe between processes. */
json_t *kb_hist_to_json(const kb_hist *h);
void kb_hist_from_json(kb_hist *h, const json_t *j);

/* --- synthetic publisher ------------------------------------------------
 * Opus-sized audio (60-120 byte payloads, 50/s) and VP8-sized video at
 * video_kbps (30 frames/s, every 3 s one keyframe-sized frame of 5 delta
 * frames' bytes; frames split into packets of at most KB_MAX_PKT bytes,
 * marker on the last). Each source's audio, frames and keyframes run on
 * phases of their own, as independent clients' do; with sync_keys every
 * source's keyframes come on the same frame interval instead (the worst
 * burst a server can get: every publisher's keyframe at once). The payload bytes are synthetic, not libvpx/libopus
 * output: kaigi forwards without decoding, so only sizes and rates
 * matter. */
typedef struct kb_source {
    uint32_t id; /* carried in every payload: who sent it */
    uint32_t audio_ssrc, video_ssrc;
    uint8_t audio_pt, video_pt;
    uint16_t audio_seq, video_seq;
    uint32_t audio_ts, video_ts;
    uint32_t rng;
    unsigned video_kbps;
    kg_time next_audio, next_video, next_key, video_epoch;
    kg_time key_skew; /* added once, after the first keyframe */
    uint32_t frame_no;
    /* The current video frame being packetised. */
    size_t frame_left, frame_pkts_left;
    uint64_t packets, bytes; /* RTP packets/bytes written */
} kb_source;

void kb_source_init(kb_source *s, uint32_t id, uint32_t audio_ssrc,
                    uint32_t video_ssrc, unsigned video_kbps, kg_time start,
                    bool sync_keys);
/* When the next packet is due. */
kg_time kb_source_due(const kb_source *s);
/* Counts into late how late a send pass at now is for s, if s has
 * something due (nothing otherwise). */
void kb_source_lateness(const kb_source *s, kg_time now,
                        kg_delay_hist *late);
/* Writes the next packet due at or before now into buf (KB_BUF bytes)
 * and returns its length, or 0 when none is due yet. */
size_t kb_source_next(kb_source *s, kg_time now, uint8_t *buf);

/* --- receiver accounting ------------------------------------------------
 * Only packets whose send time lies in the steady window [ws, we) count:
 * per SSRC, expected = highest - lowest extended sequence number + 1 and
 * received = how many arrived, so loss at the window's edges is not
 * counted twice. */
typedef struct kb_ssrc_rx {
    uint32_t ssrc;
    bool seen;
    uint16_t last_seq;
    int64_t ext_last; /* extended seq of last_seq */
    int64_t lo, hi;   /* extended seqs seen in the window */
    bool in_window;
    uint64_t received;
} kb_ssrc_rx;

typedef struct kb_rx {
    kg_time ws, we;
    kb_ssrc_rx ssrcs[KB_MAX_SSRCS];
    size_t n_ssrcs;
    size_t last; /* cache of the last SSRC's index */
    uint64_t packets, bytes;       /* in the window */
    uint64_t packets_all;          /* any time */
    uint64_t bad_payload;          /* no magic: not ours */
    uint64_t ssrc_overflow;
    kg_time first_media;           /* 0 until the first packet */
    kb_hist *lat;                  /* shared per process, or NULL */
} kb_rx;

void kb_rx_init(kb_rx *rx, kg_time ws, kg_time we, kb_hist *lat);
/* Accounts one decrypted RTP packet of len bytes (wire_len on the wire)
 * received at now. */
void kb_rx_packet(kb_rx *rx, const uint8_t *pkt, size_t len, size_t wire_len,
                  kg_time now);
/* Adds expected and lost packets of the window over every SSRC. */
void kb_rx_loss(const kb_rx *rx, uint64_t *expected, uint64_t *received);

/* --- one bench process's results ----------------------------------------
 * Summed over its clients; merged by the parent. */
typedef struct kb_result {
    uint64_t clients, connected, failed, late;
    uint64_t sent_packets, sent_bytes;   /* in the window */
    uint64_t rx_packets, rx_bytes;       /* in the window */
    uint64_t expected, received;         /* loss accounting */
    uint64_t unprotect_fail, bad_payload;
    double cpu_s;      /* this process's CPU over the window */
    double window_s;
    kb_hist lat;
    /* How late the clients sent what was due (now - due, once per client
     * with something due per pass): a late load generator bunches its
     * packets, which lengthens any server's delay tail. */
    kg_delay_hist send_late;
    /* join time per client in ms, -1 when no media came */
    double join_ms[KB_MAX_CLIENTS];
    size_t n_join;
} kb_result;

json_t *kb_result_to_json(const kb_result *r);
int kb_result_from_json(kb_result *r, const json_t *j);
void kb_result_merge(kb_result *into, const kb_result *from);

/* --- the bench process of the real-stack clients (bench_client.c) --------*/
typedef struct kb_client_plan {
    const char *ws_url;     /* ws:// or wss:// */
    const char *ca;         /* wss://: PEM CA file; NULL: system store */
    const char *janus_url;  /* non-NULL: Janus's REST API instead (--janus) */
    const char *media_ip;   /* the clients' UDP sockets; NULL: 127.0.0.1 */
    unsigned first, count;  /* global client indexes [first, first+count) */
    unsigned participants;  /* per room: client i is in room i / P */
    unsigned video_kbps;
    bool sync_keys;         /* every client's keyframes at once */
    bool tcp;               /* --tcp: media over ICE-TCP (kaigi only) */
    kg_time start, ws, we;  /* joins begin; steady window */
} kb_client_plan;

/* Runs the clients on one uv loop until we + KB_DRAIN, then fills out.
 * Returns 0, or a negative error when nothing could start. Meant for a
 * bench process that exits right after: the loop, the WebSocket contexts
 * and the clients are not freed (the transports do send close_notify). */
int kb_clients_run(const kb_client_plan *plan, kb_result *out);

/* --- the ceiling (bench_ceiling.c) ---------------------------------------*/
typedef struct kb_ceiling_plan {
    unsigned rooms, participants, video_kbps;
    bool sync_keys;
    double warmup_s, duration_s;
} kb_ceiling_plan;

typedef struct kb_ceiling_result {
    kb_result r;        /* what the synthetic clients saw */
    double loop_cpu_s;  /* the forwarding thread's CPU over the window */
    uint64_t forwarded; /* packets the loop sent in the window */
    uint64_t loop_unprotect_fail;
    kg_delay_hist delay; /* the loop's, over the window */
} kb_ceiling_result;

int kb_ceiling_run(const kb_ceiling_plan *plan, kb_ceiling_result *out);

#endif
