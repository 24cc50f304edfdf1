/* srtp-bench: median ns per SRTP protect and unprotect of 1,200-byte RTP
 * packets, GCM-256 and AES-CM, 5 runs of 100,000 packets each on one
 * core. Packets are prepared in batches outside the timed loops so that
 * only libsrtp's work is measured.
 *
 * srtp-bench --threads N: does SRTP scale across threads? N threads each
 * run the GCM-256 loop with their own sessions (nothing of kaigi's is
 * shared); if the library scales, the wall time stays flat as N grows. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "codec/err.h"
#include "crypto/srtp.h"

#define PKT 1200
#define SLOT (PKT + KG_SRTP_MAX_TRAILER)
#define BATCH 1000
#define PACKETS 100000
#define RUNS 5

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void make_keys(kg_srtp_profile p, kg_srtp_keys *tx, kg_srtp_keys *rx)
{
    memset(tx, 0, sizeof(*tx));
    tx->profile = p;
    tx->key_len = p == KG_SRTP_AEAD_AES_256_GCM ? 32 : 16;
    tx->salt_len = p == KG_SRTP_AES128_CM_SHA1_80 ? 14 : 12;
    for (int i = 0; i < KG_SRTP_MAX_KEY; i++) {
        tx->local_key[i] = (uint8_t)(i + 1);
        tx->remote_key[i] = (uint8_t)(i + 101);
    }
    for (int i = 0; i < KG_SRTP_MAX_SALT; i++) {
        tx->local_salt[i] = (uint8_t)(i + 51);
        tx->remote_salt[i] = (uint8_t)(i + 151);
    }
    *rx = *tx;
    memcpy(rx->local_key, tx->remote_key, KG_SRTP_MAX_KEY);
    memcpy(rx->remote_key, tx->local_key, KG_SRTP_MAX_KEY);
    memcpy(rx->local_salt, tx->remote_salt, KG_SRTP_MAX_SALT);
    memcpy(rx->remote_salt, tx->local_salt, KG_SRTP_MAX_SALT);
}

/* One run: returns ns per packet for protect and unprotect. */
static int run(kg_srtp_profile p, uint8_t *slots, double *prot, double *unprot)
{
    kg_srtp_keys ktx, krx;
    make_keys(p, &ktx, &krx);
    kg_srtp *tx = kg_srtp_new(&ktx), *rx = kg_srtp_new(&krx);
    kg_srtp_keys_wipe(&ktx);
    kg_srtp_keys_wipe(&krx);
    if (!tx || !rx) {
        kg_srtp_del(tx);
        kg_srtp_del(rx);
        return -1;
    }
    size_t lens[BATCH]; /* per call: --threads runs this concurrently */
    uint64_t tp = 0, tu = 0;
    uint32_t seq = 0;
    int rc = 0;
    for (int b = 0; b < PACKETS / BATCH && rc == 0; b++) {
        for (int i = 0; i < BATCH; i++, seq++) {
            uint8_t *s = slots + (size_t)i * SLOT;
            memset(s, 0xab, PKT);
            s[0] = 0x80;
            s[1] = 0x60;
            s[2] = (uint8_t)(seq >> 8);
            s[3] = (uint8_t)seq;
            memset(s + 4, 0, 4);
            memcpy(s + 8, "\x12\x34\x56\x78", 4);
            lens[i] = PKT;
        }
        uint64_t t0 = now_ns();
        for (int i = 0; i < BATCH; i++)
            rc |= kg_srtp_protect(tx, slots + (size_t)i * SLOT, &lens[i], SLOT);
        uint64_t t1 = now_ns();
        for (int i = 0; i < BATCH; i++)
            rc |= kg_srtp_unprotect(rx, slots + (size_t)i * SLOT, &lens[i]);
        uint64_t t2 = now_ns();
        tp += t1 - t0;
        tu += t2 - t1;
    }
    kg_srtp_del(tx);
    kg_srtp_del(rx);
    *prot = (double)tp / PACKETS;
    *unprot = (double)tu / PACKETS;
    return rc;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

typedef struct thread_run {
    pthread_t id;
    double prot, unprot;
    int rc;
} thread_run;

static void *thread_main(void *arg)
{
    thread_run *t = arg;
    uint8_t *slots = malloc((size_t)BATCH * SLOT);
    t->rc = slots ? run(KG_SRTP_AEAD_AES_256_GCM, slots, &t->prot,
                        &t->unprot)
                  : -1;
    free(slots);
    return NULL;
}

static int threads_main(int n)
{
    thread_run t[64];
    uint64_t t0 = now_ns();
    for (int i = 0; i < n; i++)
        pthread_create(&t[i].id, NULL, thread_main, &t[i]);
    double prot = 0, unprot = 0;
    int rc = 0;
    for (int i = 0; i < n; i++) {
        pthread_join(t[i].id, NULL);
        rc |= t[i].rc;
        prot += t[i].prot / n;
        unprot += t[i].unprot / n;
    }
    double wall = (double)(now_ns() - t0) / 1e9;
    if (rc != 0) {
        fprintf(stderr, "srtp-bench: SRTP failed\n");
        return 1;
    }
    printf("srtp-bench --threads %d: wall %.2f s, %.0f protect+unprotect "
           "pairs/s in all; per thread %.0f ns per protect, %.0f ns per "
           "unprotect\n",
           n, wall, n * PACKETS / wall, prot, unprot);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "--threads") == 0) {
        int n = atoi(argv[2]);
        if (n >= 1 && n <= 64)
            return threads_main(n);
    }
    if (argc != 1) {
        fprintf(stderr, "usage: srtp-bench [--threads 1..64]\n");
        return 2;
    }
    static const kg_srtp_profile profiles[] = {KG_SRTP_AEAD_AES_256_GCM,
                                               KG_SRTP_AES128_CM_SHA1_80};
    uint8_t *slots = malloc((size_t)BATCH * SLOT);
    if (!slots)
        return 1;
    printf("srtp-bench: %d runs x %d packets of %d bytes, median\n", RUNS,
           PACKETS, PKT);
    for (size_t k = 0; k < KG_ARRAY_LEN(profiles); k++) {
        double p[RUNS], u[RUNS];
        for (int r = 0; r < RUNS; r++) {
            if (run(profiles[k], slots, &p[r], &u[r]) != 0) {
                fprintf(stderr, "srtp-bench: %s failed\n",
                        kg_srtp_profile_name(profiles[k]));
                free(slots);
                return 1;
            }
        }
        qsort(p, RUNS, sizeof(double), cmp_double);
        qsort(u, RUNS, sizeof(double), cmp_double);
        printf("%-24s protect %7.0f ns  unprotect %7.0f ns  "
               "(runs: protect %.0f..%.0f, unprotect %.0f..%.0f)\n",
               kg_srtp_profile_name(profiles[k]), p[RUNS / 2], u[RUNS / 2],
               p[0], p[RUNS - 1], u[0], u[RUNS - 1]);
    }
    free(slots);
    return 0;
}
