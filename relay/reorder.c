#include "relay/reorder.h"

#include <stdlib.h>
#include <string.h>

int kg_reorder_init(kg_reorder *r, size_t n_slots, kg_time max_wait)
{
    memset(r, 0, sizeof(*r));
    if (n_slots == 0 || (n_slots & (n_slots - 1)) != 0)
        return KG_ERR_INVAL;
    r->slots = calloc(n_slots, sizeof(*r->slots));
    if (!r->slots)
        return KG_ERR_NOMEM;
    r->n_slots = n_slots;
    r->max_wait = max_wait;
    return 0;
}

void kg_reorder_free(kg_reorder *r)
{
    free(r->slots);
    memset(r, 0, sizeof(*r));
}

static void drop_all(kg_reorder *r)
{
    for (size_t i = 0; i < r->n_slots; i++)
        r->slots[i].used = false;
    r->held = 0;
    r->blocked = false;
}

int kg_reorder_push(kg_reorder *r, uint16_t seq, const uint8_t *pkt,
                    size_t len, kg_time now)
{
    (void)now;
    if (len == 0 || len > KG_REORDER_PKT)
        return KG_ERR_INVAL;
    if (!r->started) {
        r->started = true;
        r->next = seq;
    }
    int16_t d = (int16_t)(uint16_t)(seq - r->next);
    if (d < 0) {
        r->late++;
        return KG_ERR_EXISTS;
    }
    if ((size_t)d >= r->n_slots) {
        drop_all(r);
        r->next = seq;
        r->resets++;
    }
    kg_reorder_slot *s = &r->slots[seq & (r->n_slots - 1)];
    if (s->used) {
        r->late++;
        return KG_ERR_EXISTS;
    }
    s->used = true;
    s->seq = seq;
    s->len = (uint16_t)len;
    memcpy(s->data, pkt, len);
    r->held++;
    if (seq != r->next)
        r->reordered++;
    return 0;
}

const uint8_t *kg_reorder_pop(kg_reorder *r, kg_time now, size_t *len)
{
    while (r->held > 0) {
        kg_reorder_slot *s = &r->slots[r->next & (r->n_slots - 1)];
        if (s->used && s->seq == r->next) {
            s->used = false;
            r->held--;
            r->blocked = false;
            r->out_seq = r->next++;
            *len = s->len;
            return s->data;
        }
        /* The next one is missing: wait for it, then skip it. A run of
         * missing ones shares one wait, since they went missing
         * together. */
        if (!r->blocked) {
            r->blocked = true;
            r->blocked_at = now;
        }
        if (now - r->blocked_at < r->max_wait)
            return NULL;
        r->next++;
        r->skipped++;
    }
    r->blocked = false;
    return NULL;
}

kg_time kg_reorder_deadline(const kg_reorder *r)
{
    return r->blocked ? r->blocked_at + r->max_wait : UINT64_MAX;
}
