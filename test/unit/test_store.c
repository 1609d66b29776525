/* test_store.c - common/store.h against both backends: the same cases (put/get/missing, aborted
 * writes, mget with missing keys, clear, big values, many keys, binary keys, read-only opens) run
 * once on LMDB in a temp dir and once on a real redis-server (test/support/redis.h), as two
 * cmocka groups. Then what only one backend has: the LMDB snapshot and read-only opens beside a
 * live writer; Redis URL parsing, a server killed or frozen mid-test (-1 with a message, no
 * crash, the next transaction after a restart works), values that are not strings, databases,
 * and threads sharing one store. Without redis-server the Redis group is skipped, saying why. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <ftw.h>
#include <hiredis/hiredis.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/store.h"
#include "test/support/redis.h"

/* One backend under test: the prestate of every case. */
typedef struct {
    const char *backend; /* "lmdb" or "redis" */
    redis_t *redis;      /* the group's server (redis) */
    char *dir;           /* the case's temp dir (lmdb) */
    char path[512];      /* what fmx_store_open gets */
} s_fx_t;

static redis_t s_redis;
static int s_redis_state; /* redis_start's result: 0 running, 1 absent, -1 failed */

static int s_rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

static char *s_tmpdir(void) {
    char *dir = strdup("/tmp/fmx-test-store-XXXXXX");
    assert_non_null(dir);
    assert_non_null(mkdtemp(dir));
    return dir;
}

static void s_rmdir(char *dir) {
    assert_int_equal(nftw(dir, s_rm_one, 16, FTW_DEPTH | FTW_PHYS), 0);
    free(dir);
}

/* ---- per-case fixture ---- */

static int s_group_redis_setup(void **state) {
    (void)state;
    memset(&s_redis, 0, sizeof s_redis);
    s_redis_state = redis_start(&s_redis);
    if (s_redis_state != 0) fprintf(stderr, "redis group: %s\n", s_redis.why);
    /* A missing server skips its cases; a server that will not start fails them. */
    return s_redis_state < 0 ? -1 : 0;
}

static int s_group_redis_teardown(void **state) {
    (void)state;
    redis_fini(&s_redis);
    return 0;
}

/* Every case starts from an empty store. */
static int s_case_setup(void **state) {
    s_fx_t *fx = *state;
    char err[FMX_ERR_LEN];
    if (strcmp(fx->backend, "lmdb") == 0) {
        fx->dir = s_tmpdir();
        snprintf(fx->path, sizeof fx->path, "%s/store", fx->dir);
        return 0;
    }
    if (s_redis_state != 0) return 0; /* the case skips itself */
    fx->redis = &s_redis;
    if (s_redis.pid == 0 && redis_start(&s_redis) != 0) return -1; /* a case stopped it and failed */
    snprintf(fx->path, sizeof fx->path, "%s", s_redis.url);
    fmx_store_t *s = fmx_store_open(fx->path, 0, 0, err);
    fmx_store_txn_t *t = s ? fmx_store_write_begin(s, err) : NULL;
    int rc = t && fmx_store_clear(t, err) == 0 && fmx_store_commit(&t, err) == 0 ? 0 : -1;
    if (rc != 0) fprintf(stderr, "clearing redis failed: %s\n", err);
    fmx_store_txn_end(&t);
    fmx_store_close(&s);
    return rc;
}

static int s_case_teardown(void **state) {
    s_fx_t *fx = *state;
    if (fx->dir) {
        s_rmdir(fx->dir);
        fx->dir = NULL;
    }
    return 0;
}

/* Opens the case's store read-write (skips the case when its backend is not available). */
static fmx_store_t *s_open(s_fx_t *fx) {
    if (strcmp(fx->backend, "redis") == 0 && s_redis_state == 1) skip();
    char err[FMX_ERR_LEN] = "";
    fmx_store_t *store = fmx_store_open(fx->path, 0, 64, err);
    if (!store) fprintf(stderr, "open %s: %s\n", fx->path, err);
    assert_non_null(store);
    assert_string_equal(fmx_store_backend(store), fx->backend);
    return store;
}

static void s_put(fmx_store_txn_t *txn, const char *k, const char *v) {
    char err[FMX_ERR_LEN];
    int rc = fmx_store_put(txn, k, strlen(k), v, strlen(v), err);
    if (rc != 0) fprintf(stderr, "put %s: %s\n", k, err);
    assert_int_equal(rc, 0);
}

static void s_commit(fmx_store_txn_t **txn) {
    char err[FMX_ERR_LEN];
    int rc = fmx_store_commit(txn, err);
    if (rc != 0) fprintf(stderr, "commit: %s\n", err);
    assert_int_equal(rc, 0);
    assert_null(*txn);
}

/* 0 and the value as a string, or the get result. */
static int s_get(fmx_store_t *store, const char *k, char *buf, size_t cap) {
    char err[FMX_ERR_LEN];
    fmx_store_txn_t *txn = fmx_store_read_begin(store, err);
    assert_non_null(txn);
    const void *v = NULL;
    size_t n = 0;
    int rc = fmx_store_get(txn, k, strlen(k), &v, &n, err);
    if (rc == 0) {
        assert_true(n < cap);
        memcpy(buf, v, n);
        buf[n] = '\0';
    }
    fmx_store_txn_end(&txn);
    assert_null(txn);
    return rc;
}

/* ---- the cases both backends run ---- */

static void test_put_get_missing(void **state) {
    s_fx_t *fx = *state;
    fmx_store_t *store = s_open(fx);
    char err[FMX_ERR_LEN], buf[64];

    fmx_store_txn_t *txn = fmx_store_write_begin(store, err);
    assert_non_null(txn);
    s_put(txn, "user:42", "hello");
    s_put(txn, "entity:livestream:ls1", "world");
    s_put(txn, "empty", "");
    assert_int_equal(fmx_store_put(txn, "", 0, "x", 1, err), -1); /* empty keys are never stored */
    assert_int_equal(fmx_store_put(txn, NULL, 3, "x", 1, err), -1);
    s_commit(&txn);

    assert_int_equal(s_get(store, "user:42", buf, sizeof(buf)), 0);
    assert_string_equal(buf, "hello");
    assert_int_equal(s_get(store, "entity:livestream:ls1", buf, sizeof(buf)), 0);
    assert_string_equal(buf, "world");
    assert_int_equal(s_get(store, "empty", buf, sizeof(buf)), 0);
    assert_string_equal(buf, "");
    assert_int_equal(s_get(store, "user:43", buf, sizeof(buf)), 1);
    assert_int_equal(s_get(store, "", buf, sizeof(buf)), 1);
    assert_int_equal(s_get(store, "user:4", buf, sizeof(buf)), 1); /* a prefix is another key */

    /* Overwrite; an aborted write changes nothing, the connection/txn slot is reusable after. */
    txn = fmx_store_write_begin(store, err);
    s_put(txn, "user:42", "again");
    s_commit(&txn);
    txn = fmx_store_write_begin(store, err);
    assert_non_null(txn);
    s_put(txn, "user:42", "lost");
    s_put(txn, "user:99", "lost");
    assert_int_equal(fmx_store_clear(txn, err), 0);
    fmx_store_txn_end(&txn);
    assert_null(txn);
    assert_int_equal(s_get(store, "user:42", buf, sizeof(buf)), 0);
    assert_string_equal(buf, "again");
    assert_int_equal(s_get(store, "user:99", buf, sizeof(buf)), 1);

    /* A read transaction: puts and clears are refused, committing it just ends it. */
    fmx_store_txn_t *rd = fmx_store_read_begin(store, err);
    assert_non_null(rd);
    assert_int_equal(fmx_store_put(rd, "x", 1, "y", 1, err), -1);
    assert_non_null(strstr(err, "read transaction"));
    assert_int_equal(fmx_store_clear(rd, err), -1);
    assert_int_equal(fmx_store_commit(&rd, err), 0);
    assert_null(rd);
    fmx_store_txn_end(&rd); /* NULL-safe */
    assert_int_equal(fmx_store_commit(&rd, err), -1);

    /* Values read in one transaction all stay valid until it ends. */
    rd = fmx_store_read_begin(store, err);
    const void *v1, *v2;
    size_t n1, n2;
    assert_int_equal(fmx_store_get(rd, "user:42", 7, &v1, &n1, err), 0);
    assert_int_equal(fmx_store_get(rd, "empty", 5, &v2, &n2, err), 0);
    for (int i = 0; i < 50; i++) {
        const void *v;
        size_t n;
        assert_int_equal(fmx_store_get(rd, "entity:livestream:ls1", 21, &v, &n, err), 0);
    }
    assert_int_equal(n1, 5);
    assert_memory_equal(v1, "again", 5);
    assert_int_equal(n2, 0);
    fmx_store_txn_end(&rd);

    fmx_store_close(&store);
    assert_null(store);
    fmx_store_close(&store);
}

static void test_mget_missing(void **state) {
    s_fx_t *fx = *state;
    fmx_store_t *store = s_open(fx);
    char err[FMX_ERR_LEN];
    fmx_store_txn_t *txn = fmx_store_write_begin(store, err);
    s_put(txn, "a", "1");
    s_put(txn, "b", "22");
    s_put(txn, "c", "");
    s_commit(&txn);

    const char *keys[] = {"a", "nope", "b", "", "c", "a", "b\0x"};
    size_t lens[] = {1, 4, 1, 0, 1, 1, 3};
    const void *vals[7];
    size_t vlens[7];
    memset(vlens, 0xff, sizeof vlens);
    txn = fmx_store_read_begin(store, err);
    assert_non_null(txn);
    assert_int_equal(fmx_store_mget(txn, 7, keys, lens, vals, vlens, err), 0);
    assert_int_equal(vlens[0], 1);
    assert_memory_equal(vals[0], "1", 1);
    assert_null(vals[1]);
    assert_int_equal(vlens[1], 0);
    assert_int_equal(vlens[2], 2);
    assert_memory_equal(vals[2], "22", 2);
    assert_null(vals[3]); /* the empty key */
    assert_non_null(vals[4]);  /* present with an empty value: not NULL */
    assert_int_equal(vlens[4], 0);
    assert_int_equal(vlens[5], 1);
    assert_memory_equal(vals[5], "1", 1);
    assert_null(vals[6]);
    /* A second batch in the same transaction leaves the first one's values valid. */
    const void *more[1];
    size_t more_lens[1];
    assert_int_equal(fmx_store_mget(txn, 1, keys + 2, lens + 2, more, more_lens, err), 0);
    assert_memory_equal(more[0], "22", 2);
    assert_memory_equal(vals[0], "1", 1);
    assert_int_equal(fmx_store_mget(txn, 0, NULL, NULL, NULL, NULL, err), 0);
    assert_int_equal(fmx_store_mget(txn, 1, NULL, lens, vals, vlens, err), -1);
    const char *nullkey[] = {NULL};
    assert_int_equal(fmx_store_mget(txn, 1, nullkey, lens, vals, vlens, err), -1);
    assert_int_equal(fmx_store_mget(NULL, 1, keys, lens, vals, vlens, err), -1);
    /* Only empty keys: nothing to ask, all missing. */
    assert_int_equal(fmx_store_mget(txn, 1, keys + 3, lens + 3, vals, vlens, err), 0);
    assert_null(vals[0]);
    fmx_store_txn_end(&txn);
    fmx_store_close(&store);
}

static void test_clear(void **state) {
    s_fx_t *fx = *state;
    fmx_store_t *store = s_open(fx);
    char err[FMX_ERR_LEN], key[32], val[32], buf[64];
    for (int b = 0; b < 3; b++) {
        fmx_store_txn_t *txn = fmx_store_write_begin(store, err);
        assert_non_null(txn);
        for (int i = 0; i < 1000; i++) {
            snprintf(key, sizeof(key), "k:%d", b * 1000 + i);
            snprintf(val, sizeof(val), "v%d", b * 1000 + i);
            s_put(txn, key, val);
        }
        s_commit(&txn);
    }
    assert_int_equal(s_get(store, "k:2999", buf, sizeof(buf)), 0);
    assert_string_equal(buf, "v2999");
    assert_int_equal(s_get(store, "k:0", buf, sizeof(buf)), 0);
    assert_string_equal(buf, "v0");

    /* Clear then put in one transaction: only what follows the clear is left. */
    fmx_store_txn_t *txn = fmx_store_write_begin(store, err);
    s_put(txn, "before", "gone");
    assert_int_equal(fmx_store_clear(txn, err), 0);
    s_put(txn, "only", "one");
    s_commit(&txn);
    assert_int_equal(s_get(store, "k:0", buf, sizeof(buf)), 1);
    assert_int_equal(s_get(store, "k:2999", buf, sizeof(buf)), 1);
    assert_int_equal(s_get(store, "before", buf, sizeof(buf)), 1);
    assert_int_equal(s_get(store, "only", buf, sizeof(buf)), 0);
    assert_string_equal(buf, "one");

    fmx_store_txn_t *rd = fmx_store_read_begin(store, err);
    assert_int_equal(fmx_store_clear(rd, err), -1);
    fmx_store_txn_end(&rd);
    assert_int_equal(fmx_store_clear(NULL, err), -1);
    fmx_store_close(&store);
}

static void test_big_values(void **state) {
    s_fx_t *fx = *state;
    fmx_store_t *store = s_open(fx);
    char err[FMX_ERR_LEN];
    const size_t sizes[] = {1, 4095, 65536, 1u << 20, 12u << 20};
    unsigned char *buf[FMX_ARRAY_LEN(sizes)];
    char key[32];
    fmx_store_txn_t *txn = fmx_store_write_begin(store, err);
    for (size_t i = 0; i < FMX_ARRAY_LEN(sizes); i++) {
        buf[i] = malloc(sizes[i]);
        assert_non_null(buf[i]);
        uint64_t x = 0x9e3779b97f4a7c15ull * (i + 1);
        for (size_t j = 0; j < sizes[i]; j++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            buf[i][j] = (unsigned char)x;
        }
        snprintf(key, sizeof key, "big:%zu", i);
        assert_int_equal(fmx_store_put(txn, key, strlen(key), buf[i], sizes[i], err), 0);
    }
    s_commit(&txn);

    const char *keys[FMX_ARRAY_LEN(sizes)];
    size_t lens[FMX_ARRAY_LEN(sizes)];
    char names[FMX_ARRAY_LEN(sizes)][32];
    for (size_t i = 0; i < FMX_ARRAY_LEN(sizes); i++) {
        snprintf(names[i], sizeof names[i], "big:%zu", i);
        keys[i] = names[i];
        lens[i] = strlen(names[i]);
    }
    const void *vals[FMX_ARRAY_LEN(sizes)];
    size_t vlens[FMX_ARRAY_LEN(sizes)];
    txn = fmx_store_read_begin(store, err);
    assert_int_equal(fmx_store_mget(txn, FMX_ARRAY_LEN(sizes), keys, lens, vals, vlens, err), 0);
    for (size_t i = 0; i < FMX_ARRAY_LEN(sizes); i++) {
        assert_int_equal(vlens[i], sizes[i]);
        assert_memory_equal(vals[i], buf[i], sizes[i]);
        const void *v;
        size_t n;
        assert_int_equal(fmx_store_get(txn, keys[i], lens[i], &v, &n, err), 0);
        assert_int_equal(n, sizes[i]);
        assert_memory_equal(v, buf[i], n);
    }
    fmx_store_txn_end(&txn);
    for (size_t i = 0; i < FMX_ARRAY_LEN(sizes); i++)
        free(buf[i]);
    fmx_store_close(&store);
}

#define S_MANY 5000

static void test_many_keys(void **state) {
    s_fx_t *fx = *state;
    fmx_store_t *store = s_open(fx);
    char err[FMX_ERR_LEN];
    static char names[2 * S_MANY][24];
    static const char *keys[2 * S_MANY];
    static size_t lens[2 * S_MANY], vlens[2 * S_MANY];
    static const void *vals[2 * S_MANY];
    /* One transaction of 5000 puts (several drains on Redis), then one mget of 10000 keys where
     * every other one is missing (several MGET chunks in one round trip). */
    fmx_store_txn_t *txn = fmx_store_write_begin(store, err);
    for (int i = 0; i < S_MANY; i++) {
        char val[32];
        snprintf(names[i], sizeof names[i], "many:%d", i);
        snprintf(val, sizeof val, "value-%d", i * 7);
        s_put(txn, names[i], val);
    }
    s_commit(&txn);
    for (int i = 0; i < 2 * S_MANY; i++) {
        if (i % 2 == 0) snprintf(names[i / 2 + S_MANY], sizeof names[0], "absent:%d", i);
        keys[i] = i % 2 ? names[i / 2] : names[i / 2 + S_MANY];
        lens[i] = strlen(keys[i]);
    }
    txn = fmx_store_read_begin(store, err);
    assert_int_equal(fmx_store_mget(txn, 2 * S_MANY, keys, lens, vals, vlens, err), 0);
    for (int i = 0; i < 2 * S_MANY; i++) {
        if (i % 2 == 0) {
            assert_null(vals[i]);
            continue;
        }
        char want[32];
        snprintf(want, sizeof want, "value-%d", (i / 2) * 7);
        assert_int_equal(vlens[i], strlen(want));
        assert_memory_equal(vals[i], want, vlens[i]);
    }
    fmx_store_txn_end(&txn);
    fmx_store_close(&store);
}

static void test_binary_keys(void **state) {
    s_fx_t *fx = *state;
    fmx_store_t *store = s_open(fx);
    char err[FMX_ERR_LEN];
    static const struct {
        const char *k;
        size_t len;
        const char *v;
    } kv[] = {
        {"a\0b", 3, "nul inside"},   {"a", 1, "just a"},          {"a\0", 2, "nul at the end"},
        {"\xff\xfe\x80", 3, "high"}, {"\r\n$3\r\nGET", 10, "protocol-like"}, {"sp ace\t", 7, "blank"},
        {"\0", 1, "only nul"},
    };
    fmx_store_txn_t *txn = fmx_store_write_begin(store, err);
    for (size_t i = 0; i < FMX_ARRAY_LEN(kv); i++)
        assert_int_equal(fmx_store_put(txn, kv[i].k, kv[i].len, kv[i].v, strlen(kv[i].v), err), 0);
    /* Binary values too: every byte value. */
    unsigned char all[256];
    for (int i = 0; i < 256; i++)
        all[i] = (unsigned char)i;
    assert_int_equal(fmx_store_put(txn, "bytes", 5, all, sizeof all, err), 0);
    s_commit(&txn);

    txn = fmx_store_read_begin(store, err);
    for (size_t i = 0; i < FMX_ARRAY_LEN(kv); i++) {
        const void *v;
        size_t n;
        assert_int_equal(fmx_store_get(txn, kv[i].k, kv[i].len, &v, &n, err), 0);
        assert_int_equal(n, strlen(kv[i].v));
        assert_memory_equal(v, kv[i].v, n);
    }
    const char *keys[FMX_ARRAY_LEN(kv) + 2];
    size_t lens[FMX_ARRAY_LEN(kv) + 2], vlens[FMX_ARRAY_LEN(kv) + 2];
    const void *vals[FMX_ARRAY_LEN(kv) + 2];
    for (size_t i = 0; i < FMX_ARRAY_LEN(kv); i++) {
        keys[i] = kv[i].k;
        lens[i] = kv[i].len;
    }
    keys[FMX_ARRAY_LEN(kv)] = "a\0c";
    lens[FMX_ARRAY_LEN(kv)] = 3;
    keys[FMX_ARRAY_LEN(kv) + 1] = "bytes";
    lens[FMX_ARRAY_LEN(kv) + 1] = 5;
    assert_int_equal(fmx_store_mget(txn, FMX_ARRAY_LEN(kv) + 2, keys, lens, vals, vlens, err), 0);
    for (size_t i = 0; i < FMX_ARRAY_LEN(kv); i++)
        assert_memory_equal(vals[i], kv[i].v, strlen(kv[i].v));
    assert_null(vals[FMX_ARRAY_LEN(kv)]);
    assert_int_equal(vlens[FMX_ARRAY_LEN(kv) + 1], 256);
    assert_memory_equal(vals[FMX_ARRAY_LEN(kv) + 1], all, 256);
    fmx_store_txn_end(&txn);
    fmx_store_close(&store);
}

static void test_readonly_open(void **state) {
    s_fx_t *fx = *state;
    fmx_store_t *w = s_open(fx);
    char err[FMX_ERR_LEN] = "", buf[16];
    fmx_store_txn_t *txn = fmx_store_write_begin(w, err);
    s_put(txn, "k", "v");
    s_commit(&txn);
    fmx_store_t *r = fmx_store_open(fx->path, 1, 0, err);
    assert_non_null(r);
    assert_null(fmx_store_write_begin(r, err));
    assert_non_null(strstr(err, "read-only"));
    assert_int_equal(s_get(r, "k", buf, sizeof buf), 0);
    assert_string_equal(buf, "v");
    fmx_store_close(&r);
    fmx_store_close(&w);
    assert_null(fmx_store_read_begin(NULL, err));
    assert_string_equal(fmx_store_backend(NULL), "none");
}

/* ---- LMDB only ---- */

/* A read transaction is a snapshot: a later commit is not seen through it. */
static void test_lmdb_snapshot(void **state) {
    s_fx_t *fx = *state;
    fmx_store_t *store = s_open(fx);
    char err[FMX_ERR_LEN], buf[16];
    fmx_store_txn_t *txn = fmx_store_write_begin(store, err);
    s_put(txn, "user:42", "again");
    s_commit(&txn);
    fmx_store_txn_t *rd = fmx_store_read_begin(store, err);
    assert_non_null(rd);
    txn = fmx_store_write_begin(store, err);
    s_put(txn, "user:42", "newer");
    s_commit(&txn);
    const void *v;
    size_t n;
    assert_int_equal(fmx_store_get(rd, "user:42", 7, &v, &n, err), 0);
    assert_int_equal(n, 5);
    assert_memory_equal(v, "again", 5);
    fmx_store_txn_end(&rd);
    assert_int_equal(s_get(store, "user:42", buf, sizeof(buf)), 0);
    assert_string_equal(buf, "newer");
    /* Keys above LMDB's limit: missing on get, refused on put. */
    char big[600];
    memset(big, 'k', sizeof big);
    rd = fmx_store_read_begin(store, err);
    assert_int_equal(fmx_store_get(rd, big, sizeof big, &v, &n, err), 1);
    fmx_store_txn_end(&rd);
    txn = fmx_store_write_begin(store, err);
    assert_int_equal(fmx_store_put(txn, big, sizeof big, "v", 1, err), -1);
    assert_non_null(strstr(err, "out of range"));
    fmx_store_txn_end(&txn);
    fmx_store_close(&store);
}

/* An actor opens the store read-only while the seeder still has it open with a write
 * transaction in flight: it must see the committed data only, and must not be able to write. */
static void test_lmdb_readonly_beside_writer(void **state) {
    s_fx_t *fx = *state;
    char err[FMX_ERR_LEN];
    const char *dir = fx->path;
    fmx_store_t *w = fmx_store_open(dir, 0, 0, err);
    assert_non_null(w);
    fmx_store_txn_t *txn = fmx_store_write_begin(w, err);
    s_put(txn, "committed", "yes");
    s_commit(&txn);
    txn = fmx_store_write_begin(w, err);
    assert_non_null(txn);
    s_put(txn, "pending", "not yet");

    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        /* Child: plain checks, exit codes say which failed (no cmocka in the child). */
        char cerr[FMX_ERR_LEN], buf[64];
        fmx_store_t *r = fmx_store_open(dir, 1, 0, cerr);
        if (!r) _exit(10);
        if (s_get(r, "committed", buf, sizeof(buf)) != 0 || strcmp(buf, "yes") != 0) _exit(11);
        if (s_get(r, "pending", buf, sizeof(buf)) != 1) _exit(12);
        if (fmx_store_write_begin(r, cerr) != NULL) _exit(13);
        if (!strstr(cerr, "read-only")) _exit(14);
        fmx_store_close(&r);
        _exit(0);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);

    s_commit(&txn);
    fmx_store_close(&w);

    /* Reopen read-only after the writer is gone: everything committed is there. */
    char buf[64];
    fmx_store_t *r = fmx_store_open(dir, 1, 0, err);
    assert_non_null(r);
    assert_int_equal(s_get(r, "pending", buf, sizeof(buf)), 0);
    assert_string_equal(buf, "not yet");
    fmx_store_close(&r);
}

static void test_lmdb_open_errors(void **state) {
    s_fx_t *fx = *state;
    char path[600], err[FMX_ERR_LEN] = "";
    snprintf(path, sizeof(path), "%s/missing", fx->dir);
    assert_null(fmx_store_open(path, 1, 0, err));
    assert_non_null(strstr(err, "mdb_env_open("));
    assert_non_null(strstr(err, path));
    /* A file where the directory should be. */
    snprintf(path, sizeof(path), "%s/file", fx->dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fclose(f);
    err[0] = '\0';
    assert_null(fmx_store_open(path, 0, 0, err));
    assert_true(err[0] != '\0');
    assert_null(fmx_store_open(NULL, 0, 0, err));
    assert_null(fmx_store_open(fx->path, 0, 2u * 1024 * 1024, err)); /* 2 TiB map: a mistake */
    assert_non_null(strstr(err, "too large"));
    assert_false(fmx_store_is_redis(fx->path));
}

/* ---- Redis only ---- */

static void test_redis_urls(void **state) {
    (void)state;
    char err[FMX_ERR_LEN];
    static const char *const good[] = {"redis://127.0.0.1:6379", "redis://127.0.0.1:6379/0", "redis://localhost:1/15",
                                       "redis://[::1]:6380/2", "redis://redis-0.cache_svc.local:65535/65535"};
    for (size_t i = 0; i < FMX_ARRAY_LEN(good); i++) {
        err[0] = '\0';
        if (fmx_store_check_url(good[i], err) != 0) fprintf(stderr, "%s: %s\n", good[i], err);
        assert_int_equal(fmx_store_check_url(good[i], err), 0);
        assert_true(fmx_store_is_redis(good[i]));
    }
    static const struct {
        const char *url, *what;
    } bad[] = {
        {"redis://", "host is missing"},
        {"redis://:6379", "host is missing"},
        {"redis://127.0.0.1", "port is missing"},
        {"redis://127.0.0.1/0", "port is missing"},
        {"redis://127.0.0.1:", "port must be"},
        {"redis://127.0.0.1:0", "port must be"},
        {"redis://127.0.0.1:65536", "port must be"},
        {"redis://127.0.0.1:06379", "port must be"},
        {"redis://127.0.0.1:+6379", "port must be"},
        {"redis://127.0.0.1:63x9", "port must be"},
        {"redis://127.0.0.1:6379/", "database"},
        {"redis://127.0.0.1:6379/x", "database"},
        {"redis://127.0.0.1:6379/-1", "database"},
        {"redis://127.0.0.1:6379/65536", "database"},
        {"redis://127.0.0.1:6379/0/1", "database"},
        {"redis://user:pw@127.0.0.1:6379", "credentials"},
        {"redis://127.0.0.1:6379/0?timeout=1", "options"},
        {"redis://ho st:6379", "bad character"},
        {"redis://[::1:6379", "IPv6"},
        {"redis://[]:6379", "IPv6"},
        {"redis://[zz]:6379", "IPv6"},
        {"rediss://127.0.0.1:6379", "must start with redis://"},
        {"http://127.0.0.1:6379", "must start with redis://"},
    };
    for (size_t i = 0; i < FMX_ARRAY_LEN(bad); i++) {
        err[0] = '\0';
        int rc = fmx_store_check_url(bad[i].url, err);
        if (rc == 0 || !strstr(err, bad[i].what)) fprintf(stderr, "%s -> %d '%s'\n", bad[i].url, rc, err);
        assert_int_equal(rc, -1);
        assert_non_null(strstr(err, bad[i].what));
        /* fmx_store_open says the same; no connection is tried for a bad URL. */
        if (fmx_store_is_redis(bad[i].url)) {
            assert_null(fmx_store_open(bad[i].url, 1, 0, err));
            assert_non_null(strstr(err, bad[i].what));
        }
    }
    char longhost[400] = "redis://";
    memset(longhost + 8, 'h', 300);
    strcpy(longhost + 308, ":1");
    assert_int_equal(fmx_store_check_url(longhost, err), -1);
    assert_non_null(strstr(err, "too long"));
    assert_int_equal(fmx_store_check_url(NULL, err), -1);
}

/* A raw hiredis connection to the test server, for what the store API cannot do. */
static redisContext *s_raw(void) {
    redisContext *c = redisConnect("127.0.0.1", s_redis.port);
    assert_non_null(c);
    assert_int_equal(c->err, 0);
    return c;
}

static void s_raw_cmd(redisContext *c, const char *cmd) {
    redisReply *r = redisCommand(c, cmd);
    assert_non_null(r);
    assert_int_not_equal(r->type, REDIS_REPLY_ERROR);
    freeReplyObject(r);
}

static void test_redis_not_a_string(void **state) {
    s_fx_t *fx = *state;
    fmx_store_t *store = s_open(fx);
    char err[FMX_ERR_LEN] = "";
    redisContext *c = s_raw();
    s_raw_cmd(c, "RPUSH list:1 a b");
    s_raw_cmd(c, "HSET hash:1 f v");
    s_raw_cmd(c, "SET str:1 ok");
    redisFree(c);
    fmx_store_txn_t *txn = fmx_store_read_begin(store, err);
    const void *v = NULL;
    size_t n = 0;
    assert_int_equal(fmx_store_get(txn, "list:1", 6, &v, &n, err), -1);
    assert_non_null(strstr(err, "WRONGTYPE"));
    assert_non_null(strstr(err, "list:1"));
    /* The connection is still in step: the next command works. */
    assert_int_equal(fmx_store_get(txn, "str:1", 5, &v, &n, err), 0);
    assert_memory_equal(v, "ok", 2);
    const char *keys[] = {"hash:1", "str:1", "list:1"};
    size_t lens[] = {6, 5, 6}, vlens[3];
    const void *vals[3];
    assert_int_equal(fmx_store_mget(txn, 3, keys, lens, vals, vlens, err), 0); /* MGET: nil for them */
    assert_null(vals[0]);
    assert_memory_equal(vals[1], "ok", 2);
    assert_null(vals[2]);
    fmx_store_txn_end(&txn);
    fmx_store_close(&store);
}

/* The URL's database is the one read, written and cleared: other databases are untouched. */
static void test_redis_databases(void **state) {
    s_fx_t *fx = *state;
    fmx_store_t *db0 = s_open(fx);
    char url[96], err[FMX_ERR_LEN], buf[16];
    snprintf(url, sizeof url, "redis://127.0.0.1:%d/3", s_redis.port);
    fmx_store_t *db3 = fmx_store_open(url, 0, 0, err);
    assert_non_null(db3);
    fmx_store_txn_t *txn = fmx_store_write_begin(db0, err);
    s_put(txn, "k", "zero");
    s_commit(&txn);
    txn = fmx_store_write_begin(db3, err);
    assert_int_equal(fmx_store_clear(txn, err), 0);
    s_put(txn, "k", "three");
    s_commit(&txn);
    assert_int_equal(s_get(db0, "k", buf, sizeof buf), 0);
    assert_string_equal(buf, "zero");
    assert_int_equal(s_get(db3, "k", buf, sizeof buf), 0);
    assert_string_equal(buf, "three");
    fmx_store_close(&db3);
    /* A database the server does not have: the error names SELECT. */
    snprintf(url, sizeof url, "redis://127.0.0.1:%d/999", s_redis.port);
    fmx_store_t *bad = fmx_store_open(url, 1, 0, err);
    assert_non_null(bad); /* open checks the URL only */
    assert_null(fmx_store_read_begin(bad, err));
    assert_non_null(strstr(err, "SELECT 999"));
    fmx_store_close(&bad);
    /* Nothing listens: the error names the address. */
    fmx_store_t *none = fmx_store_open("redis://127.0.0.1:1/0", 1, 0, err);
    assert_non_null(none);
    assert_null(fmx_store_read_begin(none, err));
    assert_non_null(strstr(err, "127.0.0.1:1"));
    fmx_store_close(&none);
    fmx_store_close(&db0);
}

/* The server dies: the open transactions fail with a message (values already returned stay
 * valid), later ones fail while it is down, and the first one after a restart works. */
static void test_redis_killed(void **state) {
    s_fx_t *fx = *state;
    fmx_store_t *store = s_open(fx);
    char err[FMX_ERR_LEN] = "", buf[16];
    fmx_store_txn_t *txn = fmx_store_write_begin(store, err);
    s_put(txn, "k", "before");
    s_commit(&txn);
    /* Three connections: a stays in use; b and c go idle, w takes one of them, the other is
     * left in the pool, about to go stale. */
    fmx_store_txn_t *a = fmx_store_read_begin(store, err), *b = fmx_store_read_begin(store, err);
    fmx_store_txn_t *c = fmx_store_read_begin(store, err);
    assert_non_null(a);
    assert_non_null(b);
    assert_non_null(c);
    fmx_store_txn_end(&b);
    fmx_store_txn_end(&c);
    const void *v;
    size_t n;
    assert_int_equal(fmx_store_get(a, "k", 1, &v, &n, err), 0);
    fmx_store_txn_t *w = fmx_store_write_begin(store, err);
    assert_non_null(w);
    s_put(w, "lost", "x");

    assert_int_equal(redis_stop(&s_redis, SIGKILL), 0);
    assert_memory_equal(v, "before", 6); /* held by the transaction, not by the connection */
    err[0] = '\0';
    assert_int_equal(fmx_store_get(a, "k", 1, &v, &n, err), -1);
    assert_non_null(strstr(err, "redis GET k"));
    const char *keys[] = {"k"};
    size_t lens[] = {1}, vlens[1];
    const void *vals[1];
    assert_int_equal(fmx_store_mget(a, 1, keys, lens, vals, vlens, err), -1);
    fmx_store_txn_end(&a);
    err[0] = '\0';
    assert_int_equal(fmx_store_commit(&w, err), -1);
    assert_null(w);
    assert_true(err[0] != '\0');
    /* While it is down: a read on the stale pooled connection fails at its first command (the
     * retry cannot connect), a write at begin (nothing left in the pool). */
    a = fmx_store_read_begin(store, err);
    assert_non_null(a);
    assert_int_equal(fmx_store_get(a, "k", 1, &v, &n, err), -1);
    assert_non_null(strstr(err, "connect"));
    fmx_store_txn_end(&a);
    assert_null(fmx_store_write_begin(store, err));
    assert_non_null(strstr(err, "connect"));

    /* Restart (empty: no persistence). The pooled connection is stale; the retry hides it. */
    assert_int_equal(redis_start(&s_redis), 0);
    assert_int_equal(s_get(store, "k", buf, sizeof buf), 1);
    txn = fmx_store_write_begin(store, err);
    assert_non_null(txn);
    s_put(txn, "k", "after");
    s_commit(&txn);
    assert_int_equal(s_get(store, "k", buf, sizeof buf), 0);
    assert_string_equal(buf, "after");
    assert_int_equal(s_get(store, "lost", buf, sizeof buf), 1);

    /* A graceful restart between transactions: pooled connections are stale again. */
    assert_int_equal(redis_stop(&s_redis, SIGTERM), 0);
    assert_int_equal(redis_start(&s_redis), 0);
    txn = fmx_store_write_begin(store, err);
    assert_non_null(txn);
    s_put(txn, "k", "third");
    s_commit(&txn);
    assert_int_equal(s_get(store, "k", buf, sizeof buf), 0);
    assert_string_equal(buf, "third");
    fmx_store_close(&store);
}

/* A frozen server (SIGSTOP) fails the command after the timeout instead of hanging it. */
static void test_redis_frozen(void **state) {
    s_fx_t *fx = *state;
    fmx_store_t *store = s_open(fx);
    char err[FMX_ERR_LEN] = "", buf[16];
    fmx_store_txn_t *txn = fmx_store_write_begin(store, err);
    s_put(txn, "k", "v");
    s_commit(&txn);
    assert_int_equal(kill(s_redis.pid, SIGSTOP), 0);
    fmx_store_txn_t *rd = fmx_store_read_begin(store, err);
    assert_non_null(rd);
    const void *v;
    size_t n;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int rc = fmx_store_get(rd, "k", 1, &v, &n, err);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    kill(s_redis.pid, SIGCONT);
    fmx_store_txn_end(&rd);
    assert_int_equal(rc, -1);
    assert_non_null(strstr(err, "no reply within"));
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    assert_true(secs >= 1.5 && secs < 10.0);
    /* The timed-out connection was dropped; a new one works. */
    assert_int_equal(s_get(store, "k", buf, sizeof buf), 0);
    assert_string_equal(buf, "v");
    fmx_store_close(&store);
}

#define S_THREADS 6
#define S_THREAD_TXNS 200

typedef struct {
    fmx_store_t *store;
    int id;
    int failures;
} s_worker_t;

static void *s_worker(void *arg) {
    s_worker_t *w = arg;
    char err[FMX_ERR_LEN], key[32], val[32];
    for (int i = 0; i < S_THREAD_TXNS; i++) {
        snprintf(key, sizeof key, "t%d:%d", w->id, i);
        snprintf(val, sizeof val, "v%d", i);
        fmx_store_txn_t *t = fmx_store_write_begin(w->store, err);
        if (!t || fmx_store_put(t, key, strlen(key), val, strlen(val), err) != 0 || fmx_store_commit(&t, err) != 0) {
            fmx_store_txn_end(&t);
            w->failures++;
            continue;
        }
        t = fmx_store_read_begin(w->store, err);
        const char *keys[] = {key, "shared"};
        size_t lens[] = {strlen(key), 6}, vlens[2];
        const void *vals[2];
        if (!t || fmx_store_mget(t, 2, keys, lens, vals, vlens, err) != 0 || !vals[0] || vlens[0] != strlen(val) ||
            memcmp(vals[0], val, vlens[0]) != 0 || !vals[1] || vlens[1] != 2)
            w->failures++;
        fmx_store_txn_end(&t);
    }
    return NULL;
}

/* Worker threads share one store: each transaction has its own connection. */
static void test_redis_threads(void **state) {
    s_fx_t *fx = *state;
    fmx_store_t *store = s_open(fx);
    char err[FMX_ERR_LEN], buf[16];
    fmx_store_txn_t *txn = fmx_store_write_begin(store, err);
    s_put(txn, "shared", "ok");
    s_commit(&txn);
    pthread_t th[S_THREADS];
    s_worker_t w[S_THREADS];
    for (int i = 0; i < S_THREADS; i++) {
        w[i] = (s_worker_t){store, i, 0};
        assert_int_equal(pthread_create(&th[i], NULL, s_worker, &w[i]), 0);
    }
    for (int i = 0; i < S_THREADS; i++) {
        assert_int_equal(pthread_join(th[i], NULL), 0);
        assert_int_equal(w[i].failures, 0);
    }
    assert_int_equal(s_get(store, "t5:199", buf, sizeof buf), 0);
    assert_string_equal(buf, "v199");
    fmx_store_close(&store);
}

/* A missing redis-server is a skip with a reason, not a failure. */
static void test_redis_absent(void **state) {
    (void)state;
    redis_t r;
    memset(&r, 0, sizeof r);
    setenv("FMX_REDIS_SERVER", "/nonexistent/redis-server", 1);
    int rc = redis_start(&r);
    unsetenv("FMX_REDIS_SERVER");
    assert_int_equal(rc, 1);
    assert_non_null(strstr(r.why, "not installed"));
    assert_int_equal(r.pid, 0);
    redis_fini(&r);
}

#define CASE(f, fx) cmocka_unit_test_prestate_setup_teardown(f, s_case_setup, s_case_teardown, &fx)

int main(void) {
    static s_fx_t lmdb = {.backend = "lmdb"}, redis = {.backend = "redis"};
    const struct CMUnitTest lmdb_tests[] = {
        CASE(test_put_get_missing, lmdb), CASE(test_mget_missing, lmdb),
        CASE(test_clear, lmdb),           CASE(test_big_values, lmdb),
        CASE(test_many_keys, lmdb),       CASE(test_binary_keys, lmdb),
        CASE(test_readonly_open, lmdb),   CASE(test_lmdb_snapshot, lmdb),
        CASE(test_lmdb_readonly_beside_writer, lmdb), CASE(test_lmdb_open_errors, lmdb),
    };
    const struct CMUnitTest redis_tests[] = {
        CASE(test_put_get_missing, redis), CASE(test_mget_missing, redis),
        CASE(test_clear, redis),           CASE(test_big_values, redis),
        CASE(test_many_keys, redis),       CASE(test_binary_keys, redis),
        CASE(test_readonly_open, redis),   cmocka_unit_test(test_redis_urls),
        CASE(test_redis_not_a_string, redis), CASE(test_redis_databases, redis),
        CASE(test_redis_killed, redis),    CASE(test_redis_frozen, redis),
        CASE(test_redis_threads, redis),   cmocka_unit_test(test_redis_absent),
    };
    int rc = cmocka_run_group_tests_name("store_lmdb", lmdb_tests, NULL, NULL);
    rc += cmocka_run_group_tests_name("store_redis", redis_tests, s_group_redis_setup, s_group_redis_teardown);
    return rc;
}
