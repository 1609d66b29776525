/* mget_compat.c - a weak fmx_store_mget (one fmx_store_get per key) so feedmix-train links before
 * common/store.c implements the batched one (the Redis store work). The real definition lives in
 * the same object as fmx_store_open, which feedmix-train always pulls in, so once it exists it
 * overrides this one. Delete this file after that merge. */
#include "common/store.h"

__attribute__((weak)) int fmx_store_mget(fmx_store_txn_t *txn, size_t n, const char *const *keys,
                                         const size_t *key_lens, const void **vals, size_t *val_lens,
                                         char err[FMX_ERR_LEN]) {
    for (size_t i = 0; i < n; i++) {
        vals[i] = NULL;
        val_lens[i] = 0;
        int rc = fmx_store_get(txn, keys[i], key_lens[i], &vals[i], &val_lens[i], err);
        if (rc < 0) return -1;
        if (rc == 1) vals[i] = NULL;
    }
    return 0;
}
