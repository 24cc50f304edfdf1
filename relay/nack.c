#include "relay/nack.h"

#include <stdlib.h>
#include <string.h>

/* --- the retransmission cache --------------------------------------- */

int kg_rtx_cache_init(kg_rtx_cache *c, size_t n_slots, size_t ring_bytes,
                      kg_time max_age)
{
    memset(c, 0, sizeof(*c));
    if (n_slots == 0 || (n_slots & (n_slots - 1)) != 0 || ring_bytes < 1500)
        return KG_ERR_INVAL;
    size_t first = ring_bytes < KG_RTX_START_BYTES ? ring_bytes
                                                   : KG_RTX_START_BYTES;
    c->slots = calloc(n_slots, sizeof(*c->slots));
    c->ring = malloc(first);
    if (!c->slots || !c->ring) {
        kg_rtx_cache_free(c);
        return KG_ERR_NOMEM;
    }
    c->n_slots = n_slots;
    c->ring_cap = first;
    c->ring_max = ring_bytes;
    c->max_age = max_age;
    return 0;
}

/* Doubles the ring, keeping every stored packet: positions are running
 * byte counts, and a packet at pos sits at pos % cap. Intact packets lie
 * within the last cap bytes written, which map without overlap into a
 * ring twice as big (pos % 2cap is pos % cap or that plus cap), and one
 * that did not straddle the old end does not straddle the new one.
 * Happens at most log2(ring_max / start) times per stream, when it comes
 * round too fast: the only allocation after init. */
static void ring_grow(kg_rtx_cache *c)
{
    size_t cap2 = c->ring_cap * 2;
    uint8_t *r2 = malloc(cap2);
    if (!r2)
        return; /* keep the smaller ring: shorter history, no failure */
    for (size_t i = 0; i < c->n_slots; i++) {
        kg_rtx_slot *s = &c->slots[i];
        if (s->len == 0)
            continue;
        if (c->head - s->pos > c->ring_cap) {
            /* Already overwritten: in the bigger ring it would look
             * intact again, so forget it. */
            s->len = 0;
            continue;
        }
        memcpy(r2 + (size_t)(s->pos % cap2),
               c->ring + (size_t)(s->pos % c->ring_cap), s->len);
    }
    free(c->ring);
    c->ring = r2;
    c->ring_cap = cap2;
    c->grown++;
}

void kg_rtx_cache_free(kg_rtx_cache *c)
{
    free(c->slots);
    free(c->ring);
    memset(c, 0, sizeof(*c));
}

int kg_rtx_cache_put(kg_rtx_cache *c, uint16_t seq, const uint8_t *pkt,
                     size_t len, kg_time now)
{
    if (len == 0 || len > c->ring_cap || len > UINT16_MAX)
        return KG_ERR_INVAL;
    if (c->head == 0)
        c->lap_at = now;
    size_t off = (size_t)(c->head % c->ring_cap);
    if (c->head && (off == 0 || off + len > c->ring_cap)) {
        /* Coming round: what is next overwritten was stored from lap_at
         * on. Younger than max_age means the ring holds less than the
         * history asked for: grow instead (while allowed). */
        if (now - c->lap_at < c->max_age && c->ring_cap * 2 <= c->ring_max)
            ring_grow(c);
        off = (size_t)(c->head % c->ring_cap);
        if (off + len > c->ring_cap) {
            /* A packet never wraps around the ring's end: the tail that
             * cannot hold it is skipped, which keeps every stored packet
             * one view. */
            c->head += c->ring_cap - off;
            off = 0;
        }
        if (off == 0)
            c->lap_at = now;
    }
    kg_rtx_slot *s = &c->slots[seq & (c->n_slots - 1)];
    s->pos = c->head;
    s->at = now;
    s->seq = seq;
    s->len = (uint16_t)len;
    s->late = false;
    memcpy(c->ring + off, pkt, len);
    c->head += len;
    c->stored++;
    return 0;
}

/* The slot holding seq, still intact and young enough, or NULL. */
static const kg_rtx_slot *cache_slot(const kg_rtx_cache *c, uint16_t seq,
                                     kg_time now)
{
    if (!c->slots)
        return NULL;
    const kg_rtx_slot *s = &c->slots[seq & (c->n_slots - 1)];
    if (s->len == 0 || s->seq != seq)
        return NULL;
    /* Bytes from head - ring_cap on are intact; older ones were
     * overwritten by later packets. */
    if (c->head - s->pos > c->ring_cap)
        return NULL;
    if (now > s->at && now - s->at > c->max_age)
        return NULL;
    return s;
}

const uint8_t *kg_rtx_cache_get(kg_rtx_cache *c, uint16_t seq, kg_time now,
                                size_t *len)
{
    const kg_rtx_slot *s = cache_slot(c, seq, now);
    if (!s) {
        c->misses++;
        return NULL;
    }
    c->hits++;
    *len = s->len;
    return c->ring + (size_t)(s->pos % c->ring_cap);
}

bool kg_rtx_cache_has(const kg_rtx_cache *c, uint16_t seq, kg_time now)
{
    return cache_slot(c, seq, now) != NULL;
}

kg_rtx_slot *kg_rtx_cache_find(kg_rtx_cache *c, uint16_t seq, kg_time now)
{
    /* cache_slot only reads: the slot is c's own, not const. */
    return (kg_rtx_slot *)cache_slot(c, seq, now);
}

/* --- the NACK generator --------------------------------------------- */

void kg_nack_gen_init(kg_nack_gen *g)
{
    memset(g, 0, sizeof(*g));
    g->rtt = KG_NACK_DEFAULT_RTT;
    g->deadline = UINT64_MAX;
}

static kg_time clamp_rtt(kg_time rtt)
{
    if (rtt < KG_NACK_MIN_RTT)
        return KG_NACK_MIN_RTT;
    if (rtt > KG_NACK_MAX_RTT)
        return KG_NACK_MAX_RTT;
    return rtt;
}

void kg_nack_gen_set_rtt(kg_nack_gen *g, kg_time rtt)
{
    g->rtt = clamp_rtt(rtt);
    g->rtt_fixed = true;
}

kg_time kg_nack_gen_retry_interval(const kg_nack_gen *g)
{
    return g->rtt + KG_NACK_RETRY_SLACK;
}

kg_time kg_nack_gen_deadline(const kg_nack_gen *g)
{
    return g->deadline;
}

/* Index of ext in the (ascending) missing list, or -1. */
static long miss_find(const kg_nack_gen *g, uint64_t ext)
{
    size_t lo = 0, hi = g->n_miss;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (g->miss[mid].ext == ext)
            return (long)mid;
        if (g->miss[mid].ext < ext)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

static void miss_remove(kg_nack_gen *g, size_t i)
{
    memmove(&g->miss[i], &g->miss[i + 1],
            (g->n_miss - i - 1) * sizeof(g->miss[0]));
    g->n_miss--;
    if (g->n_miss == 0)
        g->deadline = UINT64_MAX;
}

/* Adds max_ext+1 .. max_ext+k (k <= KG_NACK_MAX_MISSING) as missing, due
 * now, giving up the oldest entries if the list would overflow. */
static void miss_add_gap(kg_nack_gen *g, uint64_t k, kg_time now)
{
    size_t room = KG_NACK_MAX_MISSING - g->n_miss;
    if (k > room) {
        size_t drop = (size_t)k - room;
        memmove(&g->miss[0], &g->miss[drop],
                (g->n_miss - drop) * sizeof(g->miss[0]));
        g->n_miss -= drop;
        g->given_up += drop;
    }
    for (uint64_t i = 1; i <= k; i++) {
        kg_nack_miss *m = &g->miss[g->n_miss++];
        m->ext = g->max_ext + i;
        m->found = now;
        m->next = now;
        m->first = m->last = 0;
        m->tries = 0;
    }
    g->deadline = now;
}

/* A missing packet arrived. Karn's rule: only an answer to a single
 * request says how long a round trip takes. After retries it is unclear
 * which request was answered; but if even the first one was answered
 * later than the RTT in use, that RTT is too short (the retries were
 * spurious, and would stay so, leaving nothing to learn from). */
static void miss_arrived(kg_nack_gen *g, size_t i, kg_time now)
{
    const kg_nack_miss *m = &g->miss[i];
    kg_time sample = 0;
    if (m->tries == 1 && now >= m->last)
        sample = now - m->last;
    else if (m->tries > 1 && now >= m->first && now - m->first > g->rtt)
        sample = now - m->first;
    if (!g->rtt_fixed && sample)
        g->rtt = (7 * g->rtt + clamp_rtt(sample)) / 8;
    g->recovered++;
    if (m->tries > 0)
        g->recovered_nacked++;
    miss_remove(g, i);
}

int kg_nack_gen_on_packet(kg_nack_gen *g, uint16_t seq, kg_time now)
{
    if (!g->started) {
        g->started = true;
        g->max_ext = (uint64_t)1 << 32 | seq; /* room below for late ones */
        return KG_NACK_NEW;
    }
    int16_t d = (int16_t)(uint16_t)(seq - (uint16_t)g->max_ext);
    if (d > 0) {
        uint64_t gap = (uint64_t)d - 1;
        if (gap > KG_NACK_MAX_MISSING) {
            /* A restarted sender or a long outage: 30,000 NACKs would
             * not repair it, a keyframe will. */
            g->given_up += g->n_miss;
            g->n_miss = 0;
            g->deadline = UINT64_MAX;
            g->max_ext += (uint64_t)d;
            g->resets++;
            return KG_NACK_RESET;
        }
        if (gap)
            miss_add_gap(g, gap, now);
        g->max_ext += (uint64_t)d;
        return KG_NACK_NEW;
    }
    uint64_t back = (uint64_t)-(int32_t)d;
    long i = back <= g->max_ext ? miss_find(g, g->max_ext - back) : -1;
    if (i < 0) {
        g->duplicates++;
        return KG_NACK_OLD;
    }
    miss_arrived(g, (size_t)i, now);
    return KG_NACK_RECOVERED;
}

static bool miss_expired(const kg_nack_miss *m, kg_time now)
{
    return m->tries >= KG_NACK_MAX_TRIES ||
           (now > m->found && now - m->found > KG_NACK_MAX_AGE);
}

size_t kg_nack_gen_poll(kg_nack_gen *g, kg_time now, uint16_t *out,
                        size_t cap)
{
    size_t n = 0, w = 0;
    kg_time retry = kg_nack_gen_retry_interval(g);
    kg_time deadline = UINT64_MAX;
    for (size_t i = 0; i < g->n_miss; i++) {
        kg_nack_miss m = g->miss[i];
        if (m.next <= now && miss_expired(&m, now)) {
            g->given_up++;
            continue;
        }
        if (m.next <= now && n < cap) {
            out[n++] = (uint16_t)m.ext;
            if (m.tries++ == 0)
                m.first = now;
            m.last = now;
            m.next = now + retry;
            g->requested++;
        }
        if (m.next < deadline)
            deadline = m.next;
        g->miss[w++] = m;
    }
    g->n_miss = w;
    g->deadline = deadline;
    return n;
}
