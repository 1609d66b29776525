/* store.c - the LMDB backend of common/store.h.
 *
 * One environment per directory, one unnamed database. Readers never block the writer (LMDB's
 * MVCC), so an actor can open the store read-only while the seeder is still writing it. A read
 * transaction pins a snapshot: values returned by get point into the memory map and stay valid
 * until the transaction ends, which is why hydrate batches a whole task into one. */
#include "common/store.h"

#include <errno.h>
#include <lmdb.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>

#define S_DEFAULT_MAP_MB 1024u
/* Sanity bound on the map size: bigger is a configuration mistake, not a wish. */
#define S_MAX_MAP_MB (1024u * 1024u)

struct fmx_store {
    MDB_env *env;
    MDB_dbi dbi;
    int readonly;
};

struct fmx_store_txn {
    fmx_store_t *store;
    MDB_txn *txn;
    int write;
};

/* mkdir -p: creates every missing component of path. */
static int s_mkdirs(const char *path, char err[FMX_ERR_LEN]) {
    size_t len = strlen(path);
    if (len == 0 || len >= 4096) return fmx_err(err, "store path '%s' is empty or too long", path);
    char buf[4096];
    memcpy(buf, path, len + 1);
    for (size_t i = 1; i <= len; i++) {
        if (buf[i] != '/' && buf[i] != '\0') continue;
        char saved = buf[i];
        buf[i] = '\0';
        if (mkdir(buf, 0755) != 0 && errno != EEXIST) {
            int e = errno;
            buf[i] = saved;
            return fmx_err(err, "mkdir(%s) failed: %s", path, strerror(e));
        }
        buf[i] = saved;
    }
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode)) return fmx_err(err, "store path '%s' is not a directory", path);
    return 0;
}

fmx_store_t *fmx_store_open(const char *path, int readonly, size_t map_size_mb, char err[FMX_ERR_LEN]) {
    if (!path) {
        fmx_err(err, "store path missing");
        return NULL;
    }
    int explicit_size = map_size_mb != 0;
    if (map_size_mb == 0) map_size_mb = S_DEFAULT_MAP_MB;
    if (map_size_mb > S_MAX_MAP_MB) {
        fmx_err(err, "store map size %zu MiB is too large", map_size_mb);
        return NULL;
    }
    if (!readonly && s_mkdirs(path, err) != 0) return NULL;

    fmx_store_t *self = calloc(1, sizeof(*self));
    if (!self) {
        fmx_err(err, "out of memory");
        return NULL;
    }
    self->readonly = readonly;
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
    return self;
fail:
    if (txn) mdb_txn_abort(txn);
    fmx_store_close(&self);
    return NULL;
}

void fmx_store_close(fmx_store_t **self_p) {
    if (!self_p || !*self_p) return;
    fmx_store_t *self = *self_p;
    if (self->env) mdb_env_close(self->env);
    free(self);
    *self_p = NULL;
}

static fmx_store_txn_t *s_begin(fmx_store_t *self, int write, char err[FMX_ERR_LEN]) {
    if (!self) {
        fmx_err(err, "no store");
        return NULL;
    }
    if (write && self->readonly) {
        fmx_err(err, "store is open read-only");
        return NULL;
    }
    fmx_store_txn_t *t = calloc(1, sizeof(*t));
    if (!t) {
        fmx_err(err, "out of memory");
        return NULL;
    }
    t->store = self;
    t->write = write;
    int rc = mdb_txn_begin(self->env, NULL, write ? 0 : MDB_RDONLY, &t->txn);
    if (rc != 0) {
        fmx_err(err, "mdb_txn_begin failed: %s", mdb_strerror(rc));
        free(t);
        return NULL;
    }
    return t;
}

fmx_store_txn_t *fmx_store_read_begin(fmx_store_t *self, char err[FMX_ERR_LEN]) {
    return s_begin(self, 0, err);
}

fmx_store_txn_t *fmx_store_write_begin(fmx_store_t *self, char err[FMX_ERR_LEN]) {
    return s_begin(self, 1, err);
}

int fmx_store_get(fmx_store_txn_t *txn, const char *key, size_t key_len, const void **val, size_t *val_len,
                  char err[FMX_ERR_LEN]) {
    if (!txn || !key) return fmx_err(err, "store get: no transaction or key");
    /* LMDB refuses empty keys and keys above its compile-time limit; neither can exist. */
    if (key_len == 0 || key_len > (size_t)mdb_env_get_maxkeysize(txn->store->env)) return 1;
    MDB_val k = {.mv_size = key_len, .mv_data = (void *)key};
    MDB_val v;
    int rc = mdb_get(txn->txn, txn->store->dbi, &k, &v);
    if (rc == MDB_NOTFOUND) return 1;
    if (rc != 0)
        return fmx_err(err, "mdb_get(%.*s) failed: %s", (int)(key_len > 64 ? 64 : key_len), key, mdb_strerror(rc));
    *val = v.mv_data;
    *val_len = v.mv_size;
    return 0;
}

int fmx_store_put(fmx_store_txn_t *txn, const char *key, size_t key_len, const void *val, size_t val_len,
                  char err[FMX_ERR_LEN]) {
    if (!txn || !key || (!val && val_len > 0)) return fmx_err(err, "store put: bad arguments");
    if (!txn->write) return fmx_err(err, "store put in a read transaction");
    if (key_len == 0 || key_len > (size_t)mdb_env_get_maxkeysize(txn->store->env))
        return fmx_err(err, "store put: key length %zu out of range", key_len);
    MDB_val k = {.mv_size = key_len, .mv_data = (void *)key};
    MDB_val v = {.mv_size = val_len, .mv_data = (void *)val};
    int rc = mdb_put(txn->txn, txn->store->dbi, &k, &v, 0);
    if (rc != 0)
        return fmx_err(err, "mdb_put(%.*s) failed: %s", (int)(key_len > 64 ? 64 : key_len), key, mdb_strerror(rc));
    return 0;
}

int fmx_store_commit(fmx_store_txn_t **txn_p, char err[FMX_ERR_LEN]) {
    if (!txn_p || !*txn_p) return fmx_err(err, "store commit: no transaction");
    fmx_store_txn_t *t = *txn_p;
    *txn_p = NULL;
    int rc = mdb_txn_commit(t->txn);
    free(t);
    if (rc != 0) return fmx_err(err, "mdb_txn_commit failed: %s", mdb_strerror(rc));
    return 0;
}

void fmx_store_txn_end(fmx_store_txn_t **txn_p) {
    if (!txn_p || !*txn_p) return;
    fmx_store_txn_t *t = *txn_p;
    mdb_txn_abort(t->txn);
    free(t);
    *txn_p = NULL;
}

int fmx_store_clear(fmx_store_txn_t *txn, char err[FMX_ERR_LEN]) {
    if (!txn || !txn->write) return fmx_err(err, "store clear needs a write transaction");
    int rc = mdb_drop(txn->txn, txn->store->dbi, 0);
    if (rc != 0) return fmx_err(err, "mdb_drop failed: %s", mdb_strerror(rc));
    return 0;
}
