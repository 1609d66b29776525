/* store.c - common/store.h: picks a backend by the path and dispatches through its ops table.
 *
 * The checks every backend needs (NULL arguments, writes through a read transaction, empty keys)
 * live here once, so the backends in store_lmdb.c and store_redis.c see only valid calls. */
#include "common/store.h"

#include <stdlib.h>
#include <string.h>

#include "common/store_int.h"

#define S_REDIS_PREFIX "redis://"

bool fmx_store_is_redis(const char *path) {
    return path && strncmp(path, S_REDIS_PREFIX, strlen(S_REDIS_PREFIX)) == 0;
}

int fmx_store_check_url(const char *url, char err[FMX_ERR_LEN]) {
    fmx_store_redis_url_t u;
    return fmx_store_redis_url_parse(url, &u, err);
}

fmx_store_t *fmx_store_open(const char *path, int readonly, size_t map_size_mb, char err[FMX_ERR_LEN]) {
    if (!path) {
        fmx_err(err, "store path missing");
        return NULL;
    }
    if (fmx_store_is_redis(path)) return fmx_store_redis_open(path, readonly != 0, err);
    return fmx_store_lmdb_open(path, readonly != 0, map_size_mb, err);
}

void fmx_store_close(fmx_store_t **self_p) {
    if (!self_p || !*self_p) return;
    fmx_store_t *self = *self_p;
    *self_p = NULL;
    self->ops->close(self);
}

const char *fmx_store_backend(const fmx_store_t *self) {
    return self ? self->ops->name : "none";
}

static fmx_store_txn_t *s_begin(fmx_store_t *self, bool write, char err[FMX_ERR_LEN]) {
    if (!self) {
        fmx_err(err, "no store");
        return NULL;
    }
    if (write && self->readonly) {
        fmx_err(err, "store is open read-only");
        return NULL;
    }
    return self->ops->begin(self, write, err);
}

fmx_store_txn_t *fmx_store_read_begin(fmx_store_t *self, char err[FMX_ERR_LEN]) {
    return s_begin(self, false, err);
}

fmx_store_txn_t *fmx_store_write_begin(fmx_store_t *self, char err[FMX_ERR_LEN]) {
    return s_begin(self, true, err);
}

int fmx_store_get(fmx_store_txn_t *txn, const char *key, size_t key_len, const void **val, size_t *val_len,
                  char err[FMX_ERR_LEN]) {
    if (!txn || !key || !val || !val_len) return fmx_err(err, "store get: no transaction or key");
    if (key_len == 0) return 1; /* never stored: put refuses it */
    return txn->store->ops->get(txn, key, key_len, val, val_len, err);
}

int fmx_store_mget(fmx_store_txn_t *txn, size_t n, const char *const *keys, const size_t *key_lens,
                   const void **vals, size_t *val_lens, char err[FMX_ERR_LEN]) {
    if (!txn || (n > 0 && (!keys || !key_lens || !vals || !val_lens))) return fmx_err(err, "store mget: bad arguments");
    if (n == 0) return 0;
    for (size_t i = 0; i < n; i++) {
        vals[i] = NULL;
        val_lens[i] = 0;
        if (key_lens[i] > 0 && !keys[i]) return fmx_err(err, "store mget: key %zu is NULL", i);
    }
    return txn->store->ops->mget(txn, n, keys, key_lens, vals, val_lens, err);
}

int fmx_store_put(fmx_store_txn_t *txn, const char *key, size_t key_len, const void *val, size_t val_len,
                  char err[FMX_ERR_LEN]) {
    if (!txn || !key || (!val && val_len > 0)) return fmx_err(err, "store put: bad arguments");
    if (!txn->write) return fmx_err(err, "store put in a read transaction");
    if (key_len == 0) return fmx_err(err, "store put: empty key");
    if (!val) val = ""; /* an empty value still needs a pointer for the backends */
    return txn->store->ops->put(txn, key, key_len, val, val_len, err);
}

int fmx_store_clear(fmx_store_txn_t *txn, char err[FMX_ERR_LEN]) {
    if (!txn || !txn->write) return fmx_err(err, "store clear needs a write transaction");
    return txn->store->ops->clear(txn, err);
}

int fmx_store_commit(fmx_store_txn_t **txn_p, char err[FMX_ERR_LEN]) {
    if (!txn_p || !*txn_p) return fmx_err(err, "store commit: no transaction");
    fmx_store_txn_t *t = *txn_p;
    *txn_p = NULL;
    if (!t->write) {
        /* Nothing to commit: ending it is all a read transaction needs. */
        t->store->ops->end(t);
        return 0;
    }
    return t->store->ops->commit(t, err);
}

void fmx_store_txn_end(fmx_store_txn_t **txn_p) {
    if (!txn_p || !*txn_p) return;
    fmx_store_txn_t *t = *txn_p;
    *txn_p = NULL;
    t->store->ops->end(t);
}
