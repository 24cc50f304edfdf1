#include "relay/map.h"

#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "codec/err.h"
#include "crypto/random.h"

int kg_map_init(kg_map *m)
{
    memset(m, 0, sizeof(*m));
    m->n_buckets = 64;
    m->buckets = calloc(m->n_buckets, sizeof(*m->buckets));
    if (!m->buckets)
        return KG_ERR_NOMEM;
    m->seed = ((uint64_t)kg_random_u32() << 32) | kg_random_u32();
    return 0;
}

void kg_map_free(kg_map *m)
{
    for (size_t i = 0; i < m->n_buckets; i++) {
        kg_map_entry *e = m->buckets[i];
        while (e) {
            kg_map_entry *next = e->next;
            free(e);
            e = next;
        }
    }
    free(m->buckets);
    memset(m, 0, sizeof(*m));
}

/* FNV-1a over the seed then the key, with a final avalanche (the
 * splitmix64 finaliser) so that low bits depend on every input bit. */
static uint64_t map_hash(const kg_map *m, const uint8_t *key, size_t len)
{
    uint64_t h = 0xcbf29ce484222325ull ^ m->seed;
    for (size_t i = 0; i < len; i++) {
        h ^= key[i];
        h *= 0x100000001b3ull;
    }
    h ^= h >> 30;
    h *= 0xbf58476d1ce4e5b9ull;
    h ^= h >> 27;
    h *= 0x94d049bb133111ebull;
    h ^= h >> 31;
    return h;
}

static kg_map_entry **map_slot(const kg_map *m, const uint8_t *key,
                               size_t len)
{
    size_t b = (size_t)(map_hash(m, key, len) & (m->n_buckets - 1));
    kg_map_entry **pp = &m->buckets[b];
    while (*pp) {
        if ((*pp)->key_len == len && memcmp((*pp)->key, key, len) == 0)
            return pp;
        pp = &(*pp)->next;
    }
    return pp;
}

static void map_grow(kg_map *m)
{
    size_t n = m->n_buckets * 2;
    kg_map_entry **nb = calloc(n, sizeof(*nb));
    if (!nb)
        return; /* keep working with longer chains */
    for (size_t i = 0; i < m->n_buckets; i++) {
        kg_map_entry *e = m->buckets[i];
        while (e) {
            kg_map_entry *next = e->next;
            size_t b = (size_t)(map_hash(m, e->key, e->key_len) & (n - 1));
            e->next = nb[b];
            nb[b] = e;
            e = next;
        }
    }
    free(m->buckets);
    m->buckets = nb;
    m->n_buckets = n;
}

int kg_map_put(kg_map *m, const void *key, size_t len, void *value)
{
    if (len == 0 || len > KG_MAP_KEY_MAX)
        return KG_ERR_INVAL;
    kg_map_entry **pp = map_slot(m, key, len);
    if (*pp) {
        (*pp)->value = value;
        return 0;
    }
    kg_map_entry *e = calloc(1, sizeof(*e));
    if (!e)
        return KG_ERR_NOMEM;
    e->key_len = (uint8_t)len;
    memcpy(e->key, key, len);
    e->value = value;
    *pp = e;
    if (++m->count > m->n_buckets)
        map_grow(m);
    return 0;
}

void *kg_map_get(const kg_map *m, const void *key, size_t len)
{
    if (len == 0 || len > KG_MAP_KEY_MAX)
        return NULL;
    kg_map_entry **pp = map_slot(m, key, len);
    return *pp ? (*pp)->value : NULL;
}

void kg_map_del(kg_map *m, const void *key, size_t len)
{
    if (len == 0 || len > KG_MAP_KEY_MAX)
        return;
    kg_map_entry **pp = map_slot(m, key, len);
    if (*pp) {
        kg_map_entry *e = *pp;
        *pp = e->next;
        free(e);
        m->count--;
    }
}

size_t kg_map_addr_key(const struct sockaddr *sa, uint8_t key[KG_MAP_KEY_MAX])
{
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        key[0] = 4;
        memcpy(key + 1, &in->sin_port, 2);
        memcpy(key + 3, &in->sin_addr, 4);
        return 7;
    }
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        key[0] = 6;
        memcpy(key + 1, &in6->sin6_port, 2);
        memcpy(key + 3, &in6->sin6_addr, 16);
        return 19;
    }
    return 0;
}
