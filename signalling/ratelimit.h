/* Failed-credential limiting, sans-IO: per source address and per
 * meeting, failures are counted in a sliding window; past the limit the
 * key is locked out for a while (doubling on each lock-out, capped).
 * Keys are short byte strings (an address key, a meeting ID). Memory is
 * bounded: at most `cap` keys, the stalest evicted first. Addresses live
 * only in memory, never in the store or the logs. */
#ifndef KG_RATELIMIT_H
#define KG_RATELIMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "codec/err.h"

typedef struct kg_ratelimit_cfg {
    unsigned max_failures; /* failures allowed within window */
    kg_time window;
    kg_time lockout;     /* first lock-out; doubles, up to lockout_max */
    kg_time lockout_max;
    size_t cap;          /* keys tracked */
} kg_ratelimit_cfg;

typedef struct kg_ratelimit kg_ratelimit;

kg_ratelimit *kg_ratelimit_new(const kg_ratelimit_cfg *cfg);
void kg_ratelimit_del(kg_ratelimit *rl);

/* May key try now? Returns 0, or KG_ERR_DENIED with *until set to the
 * end of its lock-out. */
int kg_ratelimit_check(kg_ratelimit *rl, const void *key, size_t len,
                       kg_time now, kg_time *until);

/* Records a failure. Returns 0, or KG_ERR_DENIED when this failure
 * started a lock-out (*until set): the moment to tell someone. */
int kg_ratelimit_fail(kg_ratelimit *rl, const void *key, size_t len,
                      kg_time now, kg_time *until);

/* Forgets key's failures (after a success). */
void kg_ratelimit_reset(kg_ratelimit *rl, const void *key, size_t len);

/* Lock-outs started so far (for stats). */
uint64_t kg_ratelimit_lockouts(const kg_ratelimit *rl);

#endif
