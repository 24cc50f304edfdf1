/* A small hash map from short byte keys (at most KG_MAP_KEY_MAX bytes) to
 * borrowed pointers: the media worker's address → transport and
 * ICE ufrag → transport lookups. Chained buckets, power-of-two table that
 * doubles at load 1, hash seeded from the CSPRNG per map so that remote
 * parties cannot aim for one bucket. */
#ifndef KG_MAP_H
#define KG_MAP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define KG_MAP_KEY_MAX 32

typedef struct kg_map_entry {
    struct kg_map_entry *next;
    uint8_t key_len;
    uint8_t key[KG_MAP_KEY_MAX];
    void *value;
} kg_map_entry;

typedef struct kg_map {
    kg_map_entry **buckets;
    size_t n_buckets; /* power of two */
    size_t count;
    uint64_t seed;
} kg_map;

/* Returns 0 or KG_ERR_NOMEM. */
int kg_map_init(kg_map *m);
void kg_map_free(kg_map *m);

/* Inserts or replaces. Returns 0, KG_ERR_INVAL (key too long),
 * KG_ERR_NOMEM. */
int kg_map_put(kg_map *m, const void *key, size_t len, void *value);
/* The value or NULL. */
void *kg_map_get(const kg_map *m, const void *key, size_t len);
/* Removes key if present. */
void kg_map_del(kg_map *m, const void *key, size_t len);

/* Canonical key bytes for an IPv4/IPv6 address and port (family, port,
 * address; no padding). Returns the key length, 0 for another family. */
size_t kg_map_addr_key(const struct sockaddr *sa, uint8_t key[KG_MAP_KEY_MAX]);

#endif
