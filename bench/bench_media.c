/* kaigi-bench: synthetic media, receive accounting, latency histogram and
 * the results one bench process hands to the parent. */
#include <string.h>
#include <time.h>

#include "bench/bench.h"
#include "codec/bytes.h"

kg_time kb_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (kg_time)ts.tv_sec * KG_SEC + (kg_time)ts.tv_nsec;
}

/* --- histogram ------------------------------------------------------- */

static size_t bucket_of(uint64_t us)
{
    if (us < KB_HIST_LINEAR)
        return (size_t)us;
    uint64_t b = KB_HIST_LINEAR + (us - KB_HIST_LINEAR) / 64;
    return b < KB_HIST_BUCKETS ? (size_t)b : KB_HIST_BUCKETS - 1;
}

static double upper_of(size_t b)
{
    if (b < KB_HIST_LINEAR)
        return (double)b + 1;
    return KB_HIST_LINEAR + (double)(b - KB_HIST_LINEAR + 1) * 64;
}

void kb_hist_add(kb_hist *h, uint64_t us)
{
    h->b[bucket_of(us)]++;
    h->count++;
    if (us > h->max_us)
        h->max_us = us;
}

double kb_hist_quantile(const kb_hist *h, double q)
{
    if (h->count == 0)
        return 0;
    uint64_t rank = (uint64_t)(q * (double)h->count);
    if (rank >= h->count)
        rank = h->count - 1;
    uint64_t seen = 0;
    for (size_t b = 0; b < KB_HIST_BUCKETS; b++) {
        seen += h->b[b];
        if (seen > rank) {
            double u = upper_of(b);
            return u > (double)h->max_us ? (double)h->max_us : u;
        }
    }
    return (double)h->max_us;
}

void kb_hist_merge(kb_hist *into, const kb_hist *from)
{
    for (size_t b = 0; b < KB_HIST_BUCKETS; b++)
        into->b[b] += from->b[b];
    into->count += from->count;
    if (from->max_us > into->max_us)
        into->max_us = from->max_us;
}

json_t *kb_hist_to_json(const kb_hist *h)
{
    json_t *a = json_array();
    for (size_t b = 0; a && b < KB_HIST_BUCKETS; b++)
        if (h->b[b])
            json_array_append_new(a, json_pack("[I, I]", (json_int_t)b,
                                               (json_int_t)h->b[b]));
    json_t *o = json_pack("{s:o, s:I}", "buckets", a, "max_us",
                          (json_int_t)h->max_us);
    return o;
}

void kb_hist_from_json(kb_hist *h, const json_t *j)
{
    memset(h, 0, sizeof(*h));
    const json_t *a = json_object_get(j, "buckets");
    size_t i;
    const json_t *e;
    json_array_foreach(a, i, e) {
        json_int_t b = json_integer_value(json_array_get(e, 0));
        json_int_t n = json_integer_value(json_array_get(e, 1));
        if (b < 0 || b >= KB_HIST_BUCKETS || n <= 0)
            continue;
        h->b[b] += (uint32_t)n;
        h->count += (uint64_t)n;
    }
    h->max_us = (uint64_t)json_integer_value(json_object_get(j, "max_us"));
}

/* --- source ---------------------------------------------------------- */

static uint32_t rng_next(uint32_t *s)
{
    /* xorshift32: the payload sizes only need to vary, not be secret. */
    uint32_t x = *s;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return *s = x;
}

static kg_time frame_due(const kb_source *s, uint32_t n)
{
    return s->video_epoch + (kg_time)n * KG_SEC / KB_VIDEO_FPS;
}

void kb_source_init(kb_source *s, uint32_t id, uint32_t audio_ssrc,
                    uint32_t video_ssrc, unsigned video_kbps, kg_time start,
                    bool sync_keys)
{
    memset(s, 0, sizeof(*s));
    s->id = id;
    s->audio_ssrc = audio_ssrc;
    s->video_ssrc = video_ssrc;
    s->audio_pt = KB_AUDIO_PT;
    s->video_pt = KB_VIDEO_PT;
    s->rng = 0x9e3779b9u ^ (id * 2654435761u);
    if (s->rng == 0)
        s->rng = 1;
    s->audio_seq = (uint16_t)rng_next(&s->rng);
    s->video_seq = (uint16_t)rng_next(&s->rng);
    s->audio_ts = rng_next(&s->rng);
    s->video_ts = rng_next(&s->rng);
    s->video_kbps = video_kbps;
    /* Spread the clients' packets over the interval so they do not all
     * fire on the same millisecond. */
    s->next_audio = start + rng_next(&s->rng) % KB_AUDIO_INTERVAL;
    s->video_epoch = start + rng_next(&s->rng) % (KG_SEC / KB_VIDEO_FPS);
    s->next_video = s->video_kbps ? s->video_epoch : KG_TIME_NEVER;
    /* The first frame is a keyframe, as an encoder's is; after it each
     * source keeps a phase of its own in the keyframe period. */
    s->next_key = s->video_epoch;
    kg_time frame = KG_SEC / KB_VIDEO_FPS;
    if (!sync_keys)
        s->key_skew =
            (kg_time)(rng_next(&s->rng) % (KB_KEYFRAME_EVERY / frame)) * frame;
}

kg_time kb_source_due(const kb_source *s)
{
    if (s->frame_pkts_left)
        return 0; /* the rest of a frame goes out at once */
    return s->next_audio < s->next_video ? s->next_audio : s->next_video;
}

void kb_source_lateness(const kb_source *s, kg_time now, kg_delay_hist *late)
{
    kg_time due = kb_source_due(s);
    if (due && due <= now)
        kg_delay_hist_add(late, (int64_t)(now - due));
}

static size_t write_packet(kb_source *s, uint8_t *buf, bool video,
                           size_t payload, bool marker, kg_time now)
{
    buf[0] = 0x80;
    buf[1] = (uint8_t)((marker ? 0x80 : 0) | (video ? s->video_pt : s->audio_pt));
    kg_wr16(buf + 2, video ? s->video_seq++ : s->audio_seq++);
    kg_wr32(buf + 4, video ? s->video_ts : s->audio_ts);
    kg_wr32(buf + 8, video ? s->video_ssrc : s->audio_ssrc);
    uint8_t *p = buf + KB_HDR;
    kg_wr32(p, KB_MAGIC);
    kg_wr32(p + 4, s->id);
    kg_wr64(p + 8, now);
    /* The rest of the payload is left as the buffer holds it: its bytes
     * do not matter, only their number. */
    s->packets++;
    s->bytes += KB_HDR + payload;
    return KB_HDR + payload;
}

static void start_frame(kb_source *s)
{
    size_t bytes = (size_t)s->video_kbps * 1000 / 8 / KB_VIDEO_FPS;
    if (frame_due(s, s->frame_no) >= s->next_key) {
        bytes *= KB_KEYFRAME_FACTOR;
        s->next_key += KB_KEYFRAME_EVERY + s->key_skew;
        s->key_skew = 0;
    }
    if (bytes < KB_STAMP)
        bytes = KB_STAMP;
    s->frame_left = bytes;
    s->frame_pkts_left = (bytes + KB_MAX_PAYLOAD - 1) / KB_MAX_PAYLOAD;
}

size_t kb_source_next(kb_source *s, kg_time now, uint8_t *buf)
{
    if (s->frame_pkts_left) {
        /* Equal-sized packets, as a VP8 packetiser splits a frame. */
        size_t n = (s->frame_left + s->frame_pkts_left - 1) / s->frame_pkts_left;
        if (n < KB_STAMP)
            n = KB_STAMP;
        s->frame_left -= n < s->frame_left ? n : s->frame_left;
        s->frame_pkts_left--;
        bool last = s->frame_pkts_left == 0;
        size_t len = write_packet(s, buf, true, n, last, now);
        if (last)
            s->video_ts += 90000 / KB_VIDEO_FPS;
        return len;
    }
    if (s->next_audio <= now && s->next_audio <= s->next_video) {
        size_t n = 60 + rng_next(&s->rng) % 61;
        size_t len = write_packet(s, buf, false, n, false, now);
        s->audio_ts += 960;
        s->next_audio += KB_AUDIO_INTERVAL;
        if (s->next_audio + 10 * KB_AUDIO_INTERVAL < now)
            s->next_audio = now; /* we stalled: do not burst to catch up */
        return len;
    }
    if (s->next_video <= now) {
        start_frame(s);
        s->frame_no++;
        s->next_video = frame_due(s, s->frame_no);
        if (s->next_video + 10 * KG_SEC / KB_VIDEO_FPS < now) {
            s->video_epoch = now;
            s->frame_no = 0;
            s->next_video = now;
            s->next_key = now + KB_KEYFRAME_EVERY;
        }
        return kb_source_next(s, now, buf);
    }
    return 0;
}

/* --- receiver -------------------------------------------------------- */

void kb_rx_init(kb_rx *rx, kg_time ws, kg_time we, kb_hist *lat)
{
    memset(rx, 0, sizeof(*rx));
    rx->ws = ws;
    rx->we = we;
    rx->lat = lat;
}

static kb_ssrc_rx *find_ssrc(kb_rx *rx, uint32_t ssrc)
{
    if (rx->n_ssrcs && rx->ssrcs[rx->last].ssrc == ssrc)
        return &rx->ssrcs[rx->last];
    for (size_t i = 0; i < rx->n_ssrcs; i++)
        if (rx->ssrcs[i].ssrc == ssrc) {
            rx->last = i;
            return &rx->ssrcs[i];
        }
    if (rx->n_ssrcs == KB_MAX_SSRCS)
        return NULL;
    kb_ssrc_rx *s = &rx->ssrcs[rx->n_ssrcs];
    memset(s, 0, sizeof(*s));
    s->ssrc = ssrc;
    rx->last = rx->n_ssrcs++;
    return s;
}

void kb_rx_packet(kb_rx *rx, const uint8_t *pkt, size_t len, size_t wire_len,
                  kg_time now)
{
    /* Ours are sent with no CSRC or extension and kaigi forwards them as
     * sent, but another SFU (Janus) may add header extensions (mid...):
     * the payload starts after them. */
    size_t hdr = len >= KB_HDR ? KB_HDR + 4u * (pkt[0] & 0x0f) : len;
    if ((pkt[0] & 0x10) && hdr + 4 <= len)
        hdr += 4 + 4u * kg_rd16(pkt + hdr + 2);
    else if (pkt[0] & 0x10)
        hdr = len;
    if (len < hdr + KB_STAMP || kg_rd32(pkt + hdr) != KB_MAGIC) {
        rx->bad_payload++;
        return;
    }
    rx->packets_all++;
    if (!rx->first_media)
        rx->first_media = now;
    kb_ssrc_rx *s = find_ssrc(rx, kg_rd32(pkt + 8));
    if (!s) {
        rx->ssrc_overflow++;
        return;
    }
    uint16_t seq = kg_rd16(pkt + 2);
    if (!s->seen) {
        s->seen = true;
        s->ext_last = seq;
    } else {
        s->ext_last += (int16_t)(uint16_t)(seq - s->last_seq);
    }
    s->last_seq = seq;
    kg_time sent = kg_rd64(pkt + hdr + 8);
    if (sent < rx->ws || sent >= rx->we)
        return;
    int64_t ext = s->ext_last;
    if (!s->in_window) {
        s->in_window = true;
        s->lo = s->hi = ext;
    } else {
        s->lo = ext < s->lo ? ext : s->lo;
        s->hi = ext > s->hi ? ext : s->hi;
    }
    s->received++;
    rx->packets++;
    rx->bytes += wire_len;
    if (rx->lat)
        kb_hist_add(rx->lat, now > sent ? (now - sent) / 1000 : 0);
}

void kb_rx_loss(const kb_rx *rx, uint64_t *expected, uint64_t *received)
{
    for (size_t i = 0; i < rx->n_ssrcs; i++) {
        const kb_ssrc_rx *s = &rx->ssrcs[i];
        if (!s->in_window)
            continue;
        *expected += (uint64_t)(s->hi - s->lo + 1);
        *received += s->received;
    }
}

/* --- results --------------------------------------------------------- */

json_t *kb_result_to_json(const kb_result *r)
{
    json_t *joins = json_array();
    for (size_t i = 0; joins && i < r->n_join; i++)
        json_array_append_new(joins, json_real(r->join_ms[i]));
    json_t *late = json_array();
    for (unsigned i = 0; late && i < KG_DELAY_BUCKETS; i++)
        json_array_append_new(late,
                              json_integer((json_int_t)r->send_late.count[i]));
    return json_pack(
        "{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, "
        "s:f, s:f, s:o, s:o, s:o}",
        "clients", (json_int_t)r->clients, "connected",
        (json_int_t)r->connected, "failed", (json_int_t)r->failed, "late",
        (json_int_t)r->late, "sent_packets", (json_int_t)r->sent_packets,
        "sent_bytes", (json_int_t)r->sent_bytes, "rx_packets",
        (json_int_t)r->rx_packets, "rx_bytes", (json_int_t)r->rx_bytes,
        "expected", (json_int_t)r->expected, "received",
        (json_int_t)r->received, "unprotect_fail",
        (json_int_t)r->unprotect_fail, "bad_payload",
        (json_int_t)r->bad_payload, "cpu_s", r->cpu_s, "window_s",
        r->window_s, "lat", kb_hist_to_json(&r->lat), "join_ms", joins,
        "send_late", late);
}

static uint64_t u64_of(const json_t *j, const char *k)
{
    json_int_t v = json_integer_value(json_object_get(j, k));
    return v > 0 ? (uint64_t)v : 0;
}

int kb_result_from_json(kb_result *r, const json_t *j)
{
    if (!json_is_object(j))
        return KG_ERR_MALFORMED;
    memset(r, 0, sizeof(*r));
    r->clients = u64_of(j, "clients");
    r->connected = u64_of(j, "connected");
    r->failed = u64_of(j, "failed");
    r->late = u64_of(j, "late");
    r->sent_packets = u64_of(j, "sent_packets");
    r->sent_bytes = u64_of(j, "sent_bytes");
    r->rx_packets = u64_of(j, "rx_packets");
    r->rx_bytes = u64_of(j, "rx_bytes");
    r->expected = u64_of(j, "expected");
    r->received = u64_of(j, "received");
    r->unprotect_fail = u64_of(j, "unprotect_fail");
    r->bad_payload = u64_of(j, "bad_payload");
    r->cpu_s = json_number_value(json_object_get(j, "cpu_s"));
    r->window_s = json_number_value(json_object_get(j, "window_s"));
    kb_hist_from_json(&r->lat, json_object_get(j, "lat"));
    size_t i;
    const json_t *e;
    json_array_foreach(json_object_get(j, "send_late"), i, e) {
        json_int_t v = json_integer_value(e);
        if (i < KG_DELAY_BUCKETS && v > 0)
            r->send_late.count[i] = (uint64_t)v;
    }
    json_array_foreach(json_object_get(j, "join_ms"), i, e) {
        if (r->n_join < KB_MAX_CLIENTS)
            r->join_ms[r->n_join++] = json_number_value(e);
    }
    return 0;
}

void kb_result_merge(kb_result *into, const kb_result *from)
{
    into->clients += from->clients;
    into->connected += from->connected;
    into->failed += from->failed;
    into->late += from->late;
    into->sent_packets += from->sent_packets;
    into->sent_bytes += from->sent_bytes;
    into->rx_packets += from->rx_packets;
    into->rx_bytes += from->rx_bytes;
    into->expected += from->expected;
    into->received += from->received;
    into->unprotect_fail += from->unprotect_fail;
    into->bad_payload += from->bad_payload;
    into->cpu_s += from->cpu_s;
    if (from->window_s > into->window_s)
        into->window_s = from->window_s;
    kb_hist_merge(&into->lat, &from->lat);
    for (unsigned i = 0; i < KG_DELAY_BUCKETS; i++)
        into->send_late.count[i] += from->send_late.count[i];
    for (size_t i = 0; i < from->n_join && into->n_join < KB_MAX_CLIENTS; i++)
        into->join_ms[into->n_join++] = from->join_ms[i];
}
