/* bench_store.c - what a hydrate of N entities costs on each store backend (not a test: numbers).
 *
 *   bench_store [N (300)] [ITERATIONS (500)]
 *
 * Writes N livestream records (msgpack maps of 8 fields, as feedmix-seed does) into LMDB in a temp
 * dir and into a real redis-server on loopback (test/support/redis.h), then times, per call:
 *   hydrate/lmdb        the hydrate node's run() over N entities, LMDB store
 *   hydrate/redis       the same over Redis (one MGET round trip)
 *   fetch/lmdb-mget     fmx_store_mget of the N keys alone
 *   fetch/redis-mget    the same on Redis
 *   fetch/redis-get     N fmx_store_get calls (one GET round trip each) in one transaction
 * Prints mean, p50 and p99 in microseconds. */
#include <math.h>
#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "actors/node.h"
#include "common/clock.h"
#include "common/store.h"
#include "test/support/redis.h"

#define S_MAX_N 100000

static int s_cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void s_report(const char *name, double *us, int n) {
    double sum = 0;
    for (int i = 0; i < n; i++) sum += us[i];
    qsort(us, (size_t)n, sizeof *us, s_cmp);
    printf("%-18s mean %9.1f us   p50 %9.1f us   p99 %9.1f us\n", name, sum / n, us[n / 2], us[(int)(n * 0.99)]);
}

static double s_now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static void s_pack_str(msgpack_packer *pk, const char *s) {
    msgpack_pack_str(pk, strlen(s));
    msgpack_pack_str_body(pk, s, strlen(s));
}

static int s_seed(fmx_store_t *store, int n) {
    char err[FMX_ERR_LEN], key[64], title[64];
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    fmx_store_txn_t *t = fmx_store_write_begin(store, err);
    int rc = t && fmx_store_clear(t, err) == 0 ? 0 : -1;
    for (int i = 1; rc == 0 && i <= n; i++) {
        msgpack_sbuffer_clear(&sb);
        msgpack_pack_map(&pk, 8);
        s_pack_str(&pk, "seller_id"), s_pack_str(&pk, "s12");
        s_pack_str(&pk, "category"), s_pack_str(&pk, "fashion");
        s_pack_str(&pk, "geo"), s_pack_str(&pk, "US");
        s_pack_str(&pk, "is_live"), msgpack_pack_int(&pk, 1);
        s_pack_str(&pk, "viewers"), msgpack_pack_int(&pk, 100 + i);
        snprintf(title, sizeof title, "Live stream number %d, come and see", i);
        s_pack_str(&pk, "title"), s_pack_str(&pk, title);
        s_pack_str(&pk, "started_min_ago"), msgpack_pack_int(&pk, i % 90);
        s_pack_str(&pk, "quality"), msgpack_pack_double(&pk, 0.5 + (i % 50) / 100.0);
        snprintf(key, sizeof key, "entity:livestream:ls%d", i);
        rc = fmx_store_put(t, key, strlen(key), sb.data, sb.size, err);
    }
    if (rc == 0) rc = fmx_store_commit(&t, err);
    if (rc != 0) fprintf(stderr, "seed: %s\n", err);
    fmx_store_txn_end(&t);
    msgpack_sbuffer_destroy(&sb);
    return rc;
}

/* Times `iters` hydrate runs over n entities. */
static int s_bench_hydrate(const char *name, fmx_store_t *store, int n, int iters, double *us) {
    const fmx_node_type_t *type = fmx_node_type_find("hydrate");
    msgpack_zone *zone = msgpack_zone_new(1 << 16);
    char err[FMX_ERR_LEN], (*ids)[16] = calloc((size_t)n, sizeof *ids);
    if (!type || !zone || !ids) return -1;
    fmx_actor_env_t env = {"hydrate", ".", store, NULL};
    msgpack_object empty = {.type = MSGPACK_OBJECT_MAP};
    int rc = 0;
    for (int it = 0; it < iters && rc == 0; it++) {
        fmx_entity_list_t in;
        fmx_entity_list_init(&in);
        for (int i = 0; i < n; i++) {
            fmx_entity_t e;
            memset(&e, 0, sizeof e);
            int len = snprintf(ids[i], sizeof ids[i], "ls%d", i + 1);
            e.id = (fmx_str_t){ids[i], (size_t)len};
            e.type = FMX_STR_LIT("livestream");
            e.fields.type = MSGPACK_OBJECT_NIL;
            fmx_entity_list_push(&in, &e, zone);
        }
        fmx_task_t task = {.params = &empty, .context = &empty, .inputs = &in, .n_inputs = 1, .zone = zone, .env = &env};
        fmx_entity_list_t out;
        fmx_entity_list_init(&out);
        double t0 = s_now_us();
        rc = type->run(&task, &out, err);
        us[it] = s_now_us() - t0;
        if (rc == 0 && out.n != (size_t)n) {
            snprintf(err, sizeof err, "hydrated %zu of %d", out.n, n);
            rc = -1;
        }
        msgpack_zone_clear(zone);
    }
    if (rc != 0) fprintf(stderr, "%s: %s\n", name, err);
    else s_report(name, us, iters);
    msgpack_zone_free(zone);
    free(ids);
    return rc;
}

/* Times `iters` fetches of the n keys: one mget, or n gets. */
static int s_bench_fetch(const char *name, fmx_store_t *store, int n, int iters, int per_key, double *us) {
    char err[FMX_ERR_LEN];
    char (*names)[40] = calloc((size_t)n, sizeof *names);
    const char **keys = calloc((size_t)n, sizeof *keys);
    size_t *lens = calloc((size_t)n, sizeof *lens), *vlens = calloc((size_t)n, sizeof *vlens);
    const void **vals = calloc((size_t)n, sizeof *vals);
    if (!names || !keys || !lens || !vlens || !vals) return -1;
    for (int i = 0; i < n; i++) {
        lens[i] = (size_t)snprintf(names[i], sizeof names[i], "entity:livestream:ls%d", i + 1);
        keys[i] = names[i];
    }
    int rc = 0;
    for (int it = 0; it < iters && rc == 0; it++) {
        double t0 = s_now_us();
        fmx_store_txn_t *t = fmx_store_read_begin(store, err);
        if (!t) rc = -1;
        if (rc == 0 && !per_key) rc = fmx_store_mget(t, (size_t)n, keys, lens, vals, vlens, err);
        for (int i = 0; rc == 0 && per_key && i < n; i++)
            rc = fmx_store_get(t, keys[i], lens[i], &vals[i], &vlens[i], err) == 0 ? 0 : -1;
        fmx_store_txn_end(&t);
        us[it] = s_now_us() - t0;
    }
    if (rc != 0) fprintf(stderr, "%s: %s\n", name, err);
    else s_report(name, us, iters);
    free(names), free(keys), free(lens), free(vlens), free(vals);
    return rc;
}

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 300, iters = argc > 2 ? atoi(argv[2]) : 500;
    if (n < 1 || n > S_MAX_N || iters < 10 || iters > 1000000) {
        fprintf(stderr, "usage: bench_store [N (1..%d, 300)] [ITERATIONS (10.., 500)]\n", S_MAX_N);
        return 2;
    }
    char dir[] = "/tmp/fmx-bench-store-XXXXXX", err[FMX_ERR_LEN];
    redis_t r;
    memset(&r, 0, sizeof r);
    double *us = calloc((size_t)iters, sizeof *us);
    if (!us || !mkdtemp(dir)) return 1;
    int rc = 1;
    fmx_store_t *lmdb = fmx_store_open(dir, 0, 256, err), *redis = NULL;
    if (!lmdb || s_seed(lmdb, n) != 0) goto done;
    int started = redis_start(&r);
    if (started != 0) {
        fprintf(stderr, "redis: %s\n", r.why);
        goto done;
    }
    redis = fmx_store_open(r.url, 0, 0, err);
    if (!redis || s_seed(redis, n) != 0) goto done;
    printf("hydrate of %d entities, %d iterations, redis on loopback (%s)\n", n, iters, r.url);
    if (s_bench_hydrate("hydrate/lmdb", lmdb, n, iters, us) != 0 ||
        s_bench_hydrate("hydrate/redis", redis, n, iters, us) != 0 ||
        s_bench_fetch("fetch/lmdb-mget", lmdb, n, iters, 0, us) != 0 ||
        s_bench_fetch("fetch/redis-mget", redis, n, iters, 0, us) != 0 ||
        s_bench_fetch("fetch/redis-get", redis, n, iters / 5 > 10 ? iters / 5 : 10, 1, us) != 0)
        goto done;
    rc = 0;
done:
    if (!lmdb || !redis) fprintf(stderr, "bench_store: %s\n", err);
    fmx_store_close(&redis);
    fmx_store_close(&lmdb);
    redis_fini(&r);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf -- '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "bench_store: could not remove %s\n", dir);
    free(us);
    return rc;
}
