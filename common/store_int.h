/* store_int.h - what common/store.c (the dispatcher) and its backends (store_lmdb.c,
 * store_redis.c) share. Private to common/: nothing outside includes it.
 *
 * A backend's store and transaction structs begin with the generic ones below, so the dispatcher
 * checks the arguments every backend would check (NULL, write in a read transaction, empty
 * keys) once and then calls through the ops table. */
#ifndef FMX_STORE_INT_H
#define FMX_STORE_INT_H

#include <stdbool.h>
#include <stddef.h>

#include "common/store.h"

typedef struct {
    const char *name; /* "lmdb", "redis": what fmx_store_backend returns */
    void (*close)(fmx_store_t *self);
    /* A new transaction (calloc'd by the backend, base filled by it), or NULL with err. */
    fmx_store_txn_t *(*begin)(fmx_store_t *self, bool write, char err[FMX_ERR_LEN]);
    /* key_len > 0 here. 0 found, 1 missing, -1 error. */
    int (*get)(fmx_store_txn_t *txn, const char *key, size_t key_len, const void **val, size_t *val_len,
               char err[FMX_ERR_LEN]);
    /* n > 0; keys with key_len 0 are already answered as missing (vals[i] = NULL) and must be
     * skipped. 0 or -1. */
    int (*mget)(fmx_store_txn_t *txn, size_t n, const char *const *keys, const size_t *key_lens, const void **vals,
                size_t *val_lens, char err[FMX_ERR_LEN]);
    /* Write transaction, key_len > 0. 0 or -1. */
    int (*put)(fmx_store_txn_t *txn, const char *key, size_t key_len, const void *val, size_t val_len,
               char err[FMX_ERR_LEN]);
    int (*clear)(fmx_store_txn_t *txn, char err[FMX_ERR_LEN]);
    /* Commits and frees txn. 0 or -1. */
    int (*commit)(fmx_store_txn_t *txn, char err[FMX_ERR_LEN]);
    /* Ends (aborts) and frees txn. */
    void (*end)(fmx_store_txn_t *txn);
} fmx_store_ops_t;

struct fmx_store {
    const fmx_store_ops_t *ops;
    bool readonly;
};

struct fmx_store_txn {
    fmx_store_t *store;
    bool write;
};

/* The backends' constructors (fmx_store_open picks one). NULL with err. */
fmx_store_t *fmx_store_lmdb_open(const char *path, bool readonly, size_t map_size_mb, char err[FMX_ERR_LEN]);
fmx_store_t *fmx_store_redis_open(const char *url, bool readonly, char err[FMX_ERR_LEN]);

/* "redis://HOST:PORT[/DB]" split into its parts; host is NUL-terminated. 0, or -1 with err. */
#define FMX_STORE_HOST_MAX 256
typedef struct {
    char host[FMX_STORE_HOST_MAX];
    int port; /* 1..65535 */
    int db;   /* 0..FMX_STORE_REDIS_DB_MAX */
} fmx_store_redis_url_t;
#define FMX_STORE_REDIS_DB_MAX 65535
int fmx_store_redis_url_parse(const char *url, fmx_store_redis_url_t *out, char err[FMX_ERR_LEN]);

/* At most this many characters of a key go into an error message. */
#define FMX_STORE_ERR_KEY 64

#endif
