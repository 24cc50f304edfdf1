#include "relay/delay.h"

#include <string.h>
#include <time.h>

/* Tens of microseconds resolution up to 1 ms (kaigi's target for the
 * delay it adds), coarser above; the top bound is a second, past which a
 * packet is as good as lost for a call. */
const uint32_t kg_delay_bound_us[KG_DELAY_BOUNDS] = {
    10,    20,    30,    40,    50,     75,     100,    150,    200,
    250,   300,   400,   500,   600,    700,    800,    900,    1000,
    1250,  1500,  2000,  2500,  3000,   4000,   5000,   7500,   10000,
    15000, 20000, 30000, 50000, 75000,  100000, 250000, 500000, 1000000,
};

int64_t kg_delay_clock(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t kg_delay_rx_stamp(struct msghdr *m)
{
    for (struct cmsghdr *c = CMSG_FIRSTHDR(m); c; c = CMSG_NXTHDR(m, c)) {
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPNS) {
            struct timespec ts;
            memcpy(&ts, CMSG_DATA(c), sizeof(ts));
            return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
        }
    }
    return 0;
}

unsigned kg_delay_bucket(int64_t ns)
{
    uint64_t us = ns > 0 ? ((uint64_t)ns + 999) / 1000 : 0;
    unsigned lo = 0, hi = KG_DELAY_BOUNDS; /* answer in [lo, hi] */
    while (lo < hi) {
        unsigned mid = (lo + hi) / 2;
        if (us <= kg_delay_bound_us[mid])
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

void kg_delay_hist_add(kg_delay_hist *h, int64_t ns)
{
    h->count[kg_delay_bucket(ns)]++;
    h->sum_ns += ns > 0 ? (uint64_t)ns : 0;
}

uint64_t kg_delay_hist_total(const kg_delay_hist *h)
{
    uint64_t n = 0;
    for (unsigned i = 0; i < KG_DELAY_BUCKETS; i++)
        n += h->count[i];
    return n;
}

void kg_delay_hist_diff(kg_delay_hist *out, const kg_delay_hist *later,
                        const kg_delay_hist *earlier)
{
    for (unsigned i = 0; i < KG_DELAY_BUCKETS; i++) {
        uint64_t a = later->count[i], b = earlier->count[i];
        out->count[i] = a >= b ? a - b : 0;
    }
    uint64_t a = later->sum_ns, b = earlier->sum_ns;
    out->sum_ns = a >= b ? a - b : 0;
}

double kg_delay_hist_quantile_us(const kg_delay_hist *h, double q)
{
    uint64_t total = kg_delay_hist_total(h);
    if (total == 0 || !(q > 0.0 && q <= 1.0))
        return -1.0;
    double rank = q * (double)total;
    uint64_t below = 0;
    for (unsigned i = 0; i < KG_DELAY_BOUNDS; i++) {
        uint64_t c = h->count[i];
        if (c && (double)(below + c) >= rank) {
            double lo = i ? kg_delay_bound_us[i - 1] : 0.0;
            double hi = kg_delay_bound_us[i];
            return lo + (hi - lo) * (rank - (double)below) / (double)c;
        }
        below += c;
    }
    return kg_delay_bound_us[KG_DELAY_BOUNDS - 1];
}
