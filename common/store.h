/* store.h - the key-value store behind retrieve and hydrate: LMDB embedded (the default), or
 * Redis (hiredis) for deployments that outgrow one machine, behind this one interface.
 *
 * Where a store lives is one string: "redis://HOST:PORT[/DB]" selects Redis, anything else is an
 * LMDB directory. The full key layout of the demo data: /work/brief/data-v2.md until it moves to
 * tools/seed/seed.c's banner.
 *
 * What differs between the backends (common/store_lmdb.c, common/store_redis.c):
 *   - An LMDB read transaction is a snapshot; a Redis one is not (each GET/MGET sees the data of
 *     its moment), it only keeps the returned values alive.
 *   - A Redis write transaction is MULTI ... EXEC on one connection: atomic at commit, discarded
 *     by fmx_store_txn_end; fmx_store_clear is a FLUSHDB of the URL's database (only that db).
 *   - Redis keys may be up to 512 MB, LMDB keys at most 511 bytes; an empty key is never stored
 *     (get: missing, put: error) on either.
 *   - On Redis a value that is not a string (a list, a hash) is an error for get; MGET answers
 *     nil for it, so mget reports it missing.
 *
 * Key layout (written by tools/seed, read by nodes):
 *   user:{id}                 map of user fields (geo, categories, ...)
 *   user:{id}:follows_live    array of entity refs {id, type[, score]}: live streams of followed sellers
 *   geo:{geo}:trending_live   array of entity refs: trending live streams in a geo
 *   entity:{type}:{id}        map of an entity's fields and features
 * Values are msgpack. */
#ifndef FMX_STORE_H
#define FMX_STORE_H

#include <stdbool.h>
#include <stddef.h>

#include "common/fmx.h"

typedef struct fmx_store fmx_store_t;
typedef struct fmx_store_txn fmx_store_txn_t;

/* Opens the store at `path`: an LMDB environment in that directory (created when !readonly and
 * missing; map_size_mb 0 picks the default, 1024), or a Redis server for a "redis://" URL
 * (map_size_mb ignored; only the URL is checked here: transactions connect, so a Redis that is
 * down fails them, not the open). NULL on failure with err. Caller owns. Safe to share between
 * threads: each thread runs its own transactions. */
fmx_store_t *fmx_store_open(const char *path, int readonly, size_t map_size_mb, char err[FMX_ERR_LEN]);
void fmx_store_close(fmx_store_t **self_p);

/* A read transaction: every value returned by fmx_store_get stays valid until
 * fmx_store_txn_end. Batched reads (hydrate) use one transaction for the whole batch. */
fmx_store_txn_t *fmx_store_read_begin(fmx_store_t *self, char err[FMX_ERR_LEN]);
/* 0 found (*val, *val_len set), 1 missing, -1 error (err set). */
int fmx_store_get(fmx_store_txn_t *txn, const char *key, size_t key_len, const void **val, size_t *val_len,
                  char err[FMX_ERR_LEN]);
/* Batched read of n keys: one LMDB transaction, or one MGET round trip on Redis. vals[i] = NULL
 * and val_lens[i] = 0 for a missing key. Values stay valid until fmx_store_txn_end. 0 or -1. */
int fmx_store_mget(fmx_store_txn_t *txn, size_t n, const char *const *keys, const size_t *key_lens,
                   const void **vals, size_t *val_lens, char err[FMX_ERR_LEN]);
/* "lmdb" or "redis". */
const char *fmx_store_backend(const fmx_store_t *self);
/* True when path selects the Redis backend (it starts with "redis://"): such a path is not a
 * directory to create or test for. */
bool fmx_store_is_redis(const char *path);
/* Checks a "redis://HOST:PORT[/DB]" URL without connecting (config loaders report it early).
 * 0, or -1 with err saying what is wrong. */
int fmx_store_check_url(const char *url, char err[FMX_ERR_LEN]);
/* Ends a read transaction (aborts a write one). NULL-safe; sets *txn_p = NULL. */
void fmx_store_txn_end(fmx_store_txn_t **txn_p);

/* Write transactions, used by the seeder. */
fmx_store_txn_t *fmx_store_write_begin(fmx_store_t *self, char err[FMX_ERR_LEN]);
int fmx_store_put(fmx_store_txn_t *txn, const char *key, size_t key_len, const void *val, size_t val_len,
                  char err[FMX_ERR_LEN]);
/* Deletes every key (inside a write transaction), so a re-seed leaves no stale keys. 0 or -1. */
int fmx_store_clear(fmx_store_txn_t *txn, char err[FMX_ERR_LEN]);
/* Commits and frees the transaction; sets *txn_p = NULL either way. 0 or -1. */
int fmx_store_commit(fmx_store_txn_t **txn_p, char err[FMX_ERR_LEN]);

#endif
