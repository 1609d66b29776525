/* fcache.h - the `cached` fallback: the last good output of a node for the same bound params.
 *
 * Keys are 64-bit hashes of (feed, node, bound params); values are result frames shared by
 * reference count with the request that produced them (zmq_msg_copy), so caching copies nothing.
 * Entries expire after a TTL and the least recently used go first when the byte bound is hit. */
#ifndef FMX_FCACHE_H
#define FMX_FCACHE_H

#include <stddef.h>
#include <stdint.h>
#include <zmq.h>

typedef struct fmx_fcache fmx_fcache_t;

typedef struct {
    uint64_t hits, misses, expired, evicted, entries, bytes;
} fmx_fcache_stats_t;

/* max_bytes counts result bytes; 0 disables caching. NULL on allocation failure. */
fmx_fcache_t *fmx_fcache_new(size_t max_bytes, uint64_t ttl_us);
void fmx_fcache_destroy(fmx_fcache_t **self_p);

/* The key for a node's output: feed and node names plus its bound params. */
uint64_t fmx_fcache_key(const char *feed, const char *node, const void *params, size_t params_len);

/* Remembers msg (shared, not copied; msg stays the caller's) as the value for key, replacing an
 * older one. Values larger than the whole bound are not kept. 0 or -1 (allocation failure). */
int fmx_fcache_put(fmx_fcache_t *self, uint64_t key, zmq_msg_t *msg, uint64_t now_us);
/* 0 with *out initialised as a shared copy (the caller closes it), or -1 on a miss or an expired
 * entry. */
int fmx_fcache_get(fmx_fcache_t *self, uint64_t key, uint64_t now_us, zmq_msg_t *out);

fmx_fcache_stats_t fmx_fcache_stats(const fmx_fcache_t *self);

#endif
