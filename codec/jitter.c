#include "codec/jitter.h"

#include <string.h>

#include "codec/err.h"
#include "codec/rtp.h"

void kg_jitter_init(kg_jitter *j)
{
    memset(j, 0, sizeof(*j));
}

void kg_jitter_reset(kg_jitter *j)
{
    j->started = false;
    j->playing = false;
    j->count = 0;
    j->misses = 0;
    for (size_t i = 0; i < KG_JITTER_SLOTS; i++)
        j->slots[i].used = false;
}

/* Drops the frame at next_seq (played or not) and moves on. */
static void advance(kg_jitter *j)
{
    kg_jitter_slot *s = &j->slots[j->next_seq % KG_JITTER_SLOTS];
    if (s->used && s->seq == j->next_seq) {
        s->used = false;
        j->count--;
    }
    j->next_seq++;
}

int kg_jitter_push(kg_jitter *j, uint16_t seq, uint32_t ts,
                   const uint8_t *payload, size_t len)
{
    if (len == 0 || len > KG_JITTER_MAX_PAYLOAD || !payload) {
        j->st.bad++;
        return KG_ERR_INVAL;
    }
    if (!j->started) {
        j->started = true;
        j->next_seq = seq;
    }
    int d = kg_seq_diff(seq, j->next_seq);
    if (d >= KG_JITTER_SLOTS || d <= -KG_JITTER_RESTART) {
        /* Beyond the window: a long gap or a restarted sender. What is
         * buffered is older than anything worth playing now. */
        kg_jitter_reset(j);
        j->st.resets++;
        j->started = true;
        j->next_seq = seq;
        d = 0;
    }
    if (d < 0 && !j->playing &&
        (j->count == 0 || kg_seq_diff(j->newest, seq) < KG_JITTER_SLOTS)) {
        /* Reordered before playout started: the stream begins earlier
         * than its first packet said. */
        j->next_seq = seq;
        d = 0;
    }
    if (d < 0) {
        j->st.late++;
        return KG_ERR_STATE;
    }
    kg_jitter_slot *s = &j->slots[seq % KG_JITTER_SLOTS];
    if (s->used && s->seq == seq) {
        j->st.dup++;
        return KG_ERR_REPLAY;
    }
    /* Within the window every slot maps to one sequence number, so a used
     * slot here can only hold that same number (handled above). */
    s->used = true;
    s->seq = seq;
    s->ts = ts;
    s->len = (uint16_t)len;
    memcpy(s->data, payload, len);
    if (j->count == 0 || kg_seq_diff(seq, j->newest) > 0)
        j->newest = seq;
    j->count++;
    j->st.pushed++;
    /* A sender whose clock runs fast, or a burst after a stall, would
     * let the delay grow: keep it under KG_JITTER_MAX_SPAN frames. */
    while (j->playing && kg_seq_diff(j->newest, j->next_seq) >=
                             KG_JITTER_MAX_SPAN) {
        advance(j);
        j->st.overflow++;
    }
    return 0;
}

/* After a burst the buffer may hold more than KG_JITTER_DEPTH frames for
 * good, which is delay nobody needs: once it has for a whole second, drop
 * one frame (one 20 ms click a second at most, only while it lasts). */
static void drain(kg_jitter *j)
{
    if (j->count < KG_JITTER_DEPTH) {
        j->excess = 0;
        return;
    }
    if (++j->excess < KG_JITTER_DRAIN_POPS)
        return;
    j->excess = 0;
    advance(j);
    j->st.overflow++;
}

int kg_jitter_pop(kg_jitter *j, const uint8_t **payload, size_t *len)
{
    if (!j->started)
        return KG_JITTER_NONE;
    if (!j->playing) {
        if (j->count < KG_JITTER_DEPTH)
            return KG_JITTER_NONE;
        j->playing = true;
        j->misses = 0;
        /* Start at the oldest frame there is: the first packet to arrive
         * need not have been the first sent. */
        while (!j->slots[j->next_seq % KG_JITTER_SLOTS].used ||
               j->slots[j->next_seq % KG_JITTER_SLOTS].seq != j->next_seq)
            j->next_seq++;
    }
    kg_jitter_slot *s = &j->slots[j->next_seq % KG_JITTER_SLOTS];
    if (s->used && s->seq == j->next_seq) {
        s->used = false;
        j->count--;
        j->next_seq++;
        j->misses = 0;
        j->st.played++;
        *payload = s->data;
        *len = s->len;
        drain(j);
        return KG_JITTER_FRAME;
    }
    *payload = NULL;
    *len = 0;
    if (j->count == 0) {
        /* Nothing buffered at all: the frame is late, not lost (a stalled
         * sender, host or network sends in bursts). Conceal this turn but
         * keep its number, so that it still plays when it comes; the delay
         * this adds drains again (see drain()). */
        if (++j->misses >= KG_JITTER_MAX_MISSES) {
            /* Nothing for 100 ms: the sender stopped (muted, gone, DTX).
             * Silent until it primes again; next_seq stays, so a sender
             * that simply resumes is in order. */
            j->playing = false;
            return KG_JITTER_NONE;
        }
        j->st.underruns++;
        j->st.lost++;
        return KG_JITTER_LOST;
    }
    /* Later frames are here but this one is not: lost (or reordered past
     * the delay). Move on; the next packet's FEC may rebuild it. */
    j->next_seq++;
    s = &j->slots[j->next_seq % KG_JITTER_SLOTS];
    if (s->used && s->seq == j->next_seq) {
        *payload = s->data;
        *len = s->len;
    }
    j->st.lost++;
    return KG_JITTER_LOST;
}

unsigned kg_jitter_buffered(const kg_jitter *j)
{
    return j->count;
}
