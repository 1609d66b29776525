/* store_lmdb.c - the LMDB backend of common/store.h (the embedded default).
 *
 * One environment per directory, one unnamed database. Readers never block the writer (LMDB's
 * MVCC), so an actor can open the store read-only while the seeder is still writing it. A read
 * transaction pins a snapshot: values returned by get point into the memory map and stay valid
 * until the transaction ends, which is why hydrate batches a whole task into one. */
#include <lmdb.h>
#include <stdlib.h>

#include "common/store_int.h"

#define S_DEFAULT_MAP_MB 1024u
/* Sanity bound on the map size: bigger is a configuration mistake, not a wish. */
#define S_MAX_MAP_MB (1024u * 1024u)

typedef struct {
    fmx_store_t base;
    MDB_env *env;
    MDB_dbi dbi;
} s_store_t;

typedef struct {
    fmx_store_txn_t base;
    MDB_txn *txn;
} s_txn_t;

static const fmx_store_ops_t s_ops;

static MDB_env *s_env(const fmx_store_txn_t *t) {
    return ((const s_store_t *)t->store)->env;
}

static MDB_dbi s_dbi(const fmx_store_txn_t *t) {
    return ((const s_store_t *)t->store)->dbi;
}

static void s_close(fmx_store_t *base) {
    s_store_t *self = (s_store_t *)base;
    if (self->env) mdb_env_close(self->env);
    free(self);
}

fmx_store_t *fmx_store_lmdb_open(const char *path, bool readonly, size_t map_size_mb, char err[FMX_ERR_LEN]) {
    int explicit_size = map_size_mb != 0;
    if (map_size_mb == 0) map_size_mb = S_DEFAULT_MAP_MB;
    if (map_size_mb > S_MAX_MAP_MB) {
        fmx_err(err, "store map size %zu MiB is too large", map_size_mb);
        return NULL;
    }
    if (!readonly && fmx_mkdir_p(path, err) != 0) return NULL;

    s_store_t *self = calloc(1, sizeof(*self));
    if (!self) {
        fmx_err(err, "out of memory");
        return NULL;
    }
    self->base.ops = &s_ops;
    self->base.readonly = readonly;
    MDB_txn *txn = NULL;
    int rc = mdb_env_create(&self->env);
    if (rc != 0) {
        self->env = NULL;
        fmx_err(err, "mdb_env_create failed: %s", mdb_strerror(rc));
        goto fail;
    }
    /* A read-only open with no explicit size adopts the size the writer chose (stored in the
     * environment): a smaller map would be silently clamped to the data in use and fail with
     * MDB_MAP_RESIZED as soon as the writer adds more. */
    rc = readonly && !explicit_size ? 0 : mdb_env_set_mapsize(self->env, map_size_mb * 1024u * 1024u);
    if (rc != 0) {
        fmx_err(err, "mdb_env_set_mapsize(%zu MiB) failed: %s", map_size_mb, mdb_strerror(rc));
        goto fail;
    }
    /* MDB_NOTLS: read transactions belong to the caller, not the thread (actors may run an
     * event loop that hands work around); MDB_RDONLY opens alongside a live writer. */
    unsigned flags = MDB_NOTLS | (readonly ? MDB_RDONLY : 0);
    rc = mdb_env_open(self->env, path, flags, 0644);
    if (rc != 0) {
        fmx_err(err, "mdb_env_open(%s) failed: %s", path, mdb_strerror(rc));
        goto fail;
    }
    rc = mdb_txn_begin(self->env, NULL, readonly ? MDB_RDONLY : 0, &txn);
    if (rc != 0) {
        fmx_err(err, "mdb_txn_begin(%s) failed: %s", path, mdb_strerror(rc));
        goto fail;
    }
    rc = mdb_dbi_open(txn, NULL, 0, &self->dbi);
    if (rc != 0) {
        fmx_err(err, "mdb_dbi_open(%s) failed: %s", path, mdb_strerror(rc));
        goto fail;
    }
    rc = mdb_txn_commit(txn);
    txn = NULL;
    if (rc != 0) {
        fmx_err(err, "mdb_txn_commit(%s) failed: %s", path, mdb_strerror(rc));
        goto fail;
    }
    return &self->base;
fail:
    if (txn) mdb_txn_abort(txn);
    s_close(&self->base);
    return NULL;
}

static fmx_store_txn_t *s_begin(fmx_store_t *base, bool write, char err[FMX_ERR_LEN]) {
    s_store_t *self = (s_store_t *)base;
    s_txn_t *t = calloc(1, sizeof(*t));
    if (!t) {
        fmx_err(err, "out of memory");
        return NULL;
    }
    t->base.store = base;
    t->base.write = write;
    int rc = mdb_txn_begin(self->env, NULL, write ? 0 : MDB_RDONLY, &t->txn);
    if (rc != 0) {
        fmx_err(err, "mdb_txn_begin failed: %s", mdb_strerror(rc));
        free(t);
        return NULL;
    }
    return &t->base;
}

static int s_get(fmx_store_txn_t *base, const char *key, size_t key_len, const void **val, size_t *val_len,
                 char err[FMX_ERR_LEN]) {
    /* LMDB refuses keys above its compile-time limit: such a key cannot exist. */
    if (key_len > (size_t)mdb_env_get_maxkeysize(s_env(base))) return 1;
    MDB_val k = {.mv_size = key_len, .mv_data = (void *)key};
    MDB_val v;
    int rc = mdb_get(((s_txn_t *)base)->txn, s_dbi(base), &k, &v);
    if (rc == MDB_NOTFOUND) return 1;
    if (rc != 0)
        return fmx_err(err, "mdb_get(%.*s) failed: %s", (int)(key_len > FMX_STORE_ERR_KEY ? FMX_STORE_ERR_KEY : key_len),
                       key, mdb_strerror(rc));
    *val = v.mv_data;
    *val_len = v.mv_size;
    return 0;
}

/* A B-tree lookup per key is already as cheap as it gets: the batch's value is the one snapshot. */
static int s_mget(fmx_store_txn_t *base, size_t n, const char *const *keys, const size_t *key_lens, const void **vals,
                  size_t *val_lens, char err[FMX_ERR_LEN]) {
    for (size_t i = 0; i < n; i++) {
        if (key_lens[i] == 0) continue;
        /* A missing key leaves vals[i] NULL, as the dispatcher set it. */
        if (s_get(base, keys[i], key_lens[i], &vals[i], &val_lens[i], err) < 0) return -1;
    }
    return 0;
}

static int s_put(fmx_store_txn_t *base, const char *key, size_t key_len, const void *val, size_t val_len,
                 char err[FMX_ERR_LEN]) {
    if (key_len > (size_t)mdb_env_get_maxkeysize(s_env(base)))
        return fmx_err(err, "store put: key length %zu out of range (LMDB keys are at most %d bytes)", key_len,
                       mdb_env_get_maxkeysize(s_env(base)));
    MDB_val k = {.mv_size = key_len, .mv_data = (void *)key};
    MDB_val v = {.mv_size = val_len, .mv_data = (void *)val};
    int rc = mdb_put(((s_txn_t *)base)->txn, s_dbi(base), &k, &v, 0);
    if (rc != 0)
        return fmx_err(err, "mdb_put(%.*s) failed: %s", (int)(key_len > FMX_STORE_ERR_KEY ? FMX_STORE_ERR_KEY : key_len),
                       key, mdb_strerror(rc));
    return 0;
}

static int s_commit(fmx_store_txn_t *base, char err[FMX_ERR_LEN]) {
    s_txn_t *t = (s_txn_t *)base;
    int rc = mdb_txn_commit(t->txn);
    free(t);
    if (rc != 0) return fmx_err(err, "mdb_txn_commit failed: %s", mdb_strerror(rc));
    return 0;
}

static void s_end(fmx_store_txn_t *base) {
    s_txn_t *t = (s_txn_t *)base;
    mdb_txn_abort(t->txn);
    free(t);
}

static int s_clear(fmx_store_txn_t *base, char err[FMX_ERR_LEN]) {
    int rc = mdb_drop(((s_txn_t *)base)->txn, s_dbi(base), 0);
    if (rc != 0) return fmx_err(err, "mdb_drop failed: %s", mdb_strerror(rc));
    return 0;
}

static const fmx_store_ops_t s_ops = {
    .name = "lmdb",
    .close = s_close,
    .begin = s_begin,
    .get = s_get,
    .mget = s_mget,
    .put = s_put,
    .clear = s_clear,
    .commit = s_commit,
    .end = s_end,
};
