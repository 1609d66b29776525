/* test_store.c - the LMDB store: put/get/missing, batches, clear, read-only reopen beside a
 * live writer (in a child process, as an actor would), errors. Each test uses its own temp dir. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/store.h"

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

static void s_put(fmx_store_txn_t *txn, const char *k, const char *v) {
    char err[FMX_ERR_LEN];
    assert_int_equal(fmx_store_put(txn, k, strlen(k), v, strlen(v), err), 0);
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

static void test_put_get_missing(void **state) {
    (void)state;
    char *dir = s_tmpdir();
    char path[512], err[FMX_ERR_LEN], buf[64];
    snprintf(path, sizeof(path), "%s/a/b/store", dir); /* created, parents too */
    fmx_store_t *store = fmx_store_open(path, 0, 0, err);
    assert_non_null(store);

    fmx_store_txn_t *txn = fmx_store_write_begin(store, err);
    assert_non_null(txn);
    s_put(txn, "user:42", "hello");
    s_put(txn, "entity:livestream:ls1", "world");
    s_put(txn, "empty", "");
    assert_int_equal(fmx_store_commit(&txn, err), 0);
    assert_null(txn);

    assert_int_equal(s_get(store, "user:42", buf, sizeof(buf)), 0);
    assert_string_equal(buf, "hello");
    assert_int_equal(s_get(store, "entity:livestream:ls1", buf, sizeof(buf)), 0);
    assert_string_equal(buf, "world");
    assert_int_equal(s_get(store, "empty", buf, sizeof(buf)), 0);
    assert_string_equal(buf, "");
    assert_int_equal(s_get(store, "user:43", buf, sizeof(buf)), 1);
    assert_int_equal(s_get(store, "", buf, sizeof(buf)), 1);

    /* Overwrite; an aborted write changes nothing. */
    txn = fmx_store_write_begin(store, err);
    s_put(txn, "user:42", "again");
    assert_int_equal(fmx_store_commit(&txn, err), 0);
    txn = fmx_store_write_begin(store, err);
    s_put(txn, "user:42", "lost");
    s_put(txn, "user:99", "lost");
    fmx_store_txn_end(&txn);
    assert_int_equal(s_get(store, "user:42", buf, sizeof(buf)), 0);
    assert_string_equal(buf, "again");
    assert_int_equal(s_get(store, "user:99", buf, sizeof(buf)), 1);

    /* A read transaction is a snapshot: a later commit is not seen through it. */
    fmx_store_txn_t *rd = fmx_store_read_begin(store, err);
    assert_non_null(rd);
    txn = fmx_store_write_begin(store, err);
    s_put(txn, "user:42", "newer");
    assert_int_equal(fmx_store_commit(&txn, err), 0);
    const void *v;
    size_t n;
    assert_int_equal(fmx_store_get(rd, "user:42", 7, &v, &n, err), 0);
    assert_int_equal(n, 5);
    assert_memory_equal(v, "again", 5);
    fmx_store_txn_end(&rd);
    assert_int_equal(s_get(store, "user:42", buf, sizeof(buf)), 0);
    assert_string_equal(buf, "newer");

    /* Puts through a read transaction are refused. */
    rd = fmx_store_read_begin(store, err);
    assert_int_equal(fmx_store_put(rd, "x", 1, "y", 1, err), -1);
    fmx_store_txn_end(&rd);
    fmx_store_txn_end(&rd); /* NULL-safe */

    fmx_store_close(&store);
    assert_null(store);
    fmx_store_close(&store);
    s_rmdir(dir);
}

static void test_batches_and_clear(void **state) {
    (void)state;
    char *dir = s_tmpdir();
    char err[FMX_ERR_LEN], key[32], val[32], buf[64];
    fmx_store_t *store = fmx_store_open(dir, 0, 16, err);
    assert_non_null(store);
    for (int b = 0; b < 3; b++) {
        fmx_store_txn_t *txn = fmx_store_write_begin(store, err);
        assert_non_null(txn);
        for (int i = 0; i < 1000; i++) {
            snprintf(key, sizeof(key), "k:%d", b * 1000 + i);
            snprintf(val, sizeof(val), "v%d", b * 1000 + i);
            s_put(txn, key, val);
        }
        assert_int_equal(fmx_store_commit(&txn, err), 0);
    }
    assert_int_equal(s_get(store, "k:2999", buf, sizeof(buf)), 0);
    assert_string_equal(buf, "v2999");
    assert_int_equal(s_get(store, "k:0", buf, sizeof(buf)), 0);
    assert_string_equal(buf, "v0");

    fmx_store_txn_t *txn = fmx_store_write_begin(store, err);
    assert_int_equal(fmx_store_clear(txn, err), 0);
    s_put(txn, "only", "one");
    assert_int_equal(fmx_store_commit(&txn, err), 0);
    assert_int_equal(s_get(store, "k:0", buf, sizeof(buf)), 1);
    assert_int_equal(s_get(store, "k:2999", buf, sizeof(buf)), 1);
    assert_int_equal(s_get(store, "only", buf, sizeof(buf)), 0);

    fmx_store_txn_t *rd = fmx_store_read_begin(store, err);
    assert_int_equal(fmx_store_clear(rd, err), -1);
    fmx_store_txn_end(&rd);
    fmx_store_close(&store);
    s_rmdir(dir);
}

/* An actor opens the store read-only while the seeder still has it open with a write
 * transaction in flight: it must see the committed data only, and must not be able to write. */
static void test_readonly_beside_writer(void **state) {
    (void)state;
    char *dir = s_tmpdir();
    char err[FMX_ERR_LEN];
    fmx_store_t *w = fmx_store_open(dir, 0, 0, err);
    assert_non_null(w);
    fmx_store_txn_t *txn = fmx_store_write_begin(w, err);
    s_put(txn, "committed", "yes");
    assert_int_equal(fmx_store_commit(&txn, err), 0);
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

    assert_int_equal(fmx_store_commit(&txn, err), 0);
    fmx_store_close(&w);

    /* Reopen read-only after the writer is gone: everything committed is there. */
    char buf[64];
    fmx_store_t *r = fmx_store_open(dir, 1, 0, err);
    assert_non_null(r);
    assert_int_equal(s_get(r, "pending", buf, sizeof(buf)), 0);
    assert_string_equal(buf, "not yet");
    fmx_store_close(&r);
    s_rmdir(dir);
}

static void test_open_errors(void **state) {
    (void)state;
    char *dir = s_tmpdir();
    char path[512], err[FMX_ERR_LEN] = "";
    snprintf(path, sizeof(path), "%s/missing", dir);
    assert_null(fmx_store_open(path, 1, 0, err));
    assert_non_null(strstr(err, "mdb_env_open("));
    assert_non_null(strstr(err, path));
    /* A file where the directory should be. */
    snprintf(path, sizeof(path), "%s/file", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fclose(f);
    err[0] = '\0';
    assert_null(fmx_store_open(path, 0, 0, err));
    assert_true(err[0] != '\0');
    assert_null(fmx_store_read_begin(NULL, err));
    s_rmdir(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_put_get_missing),
        cmocka_unit_test(test_batches_and_clear),
        cmocka_unit_test(test_readonly_beside_writer),
        cmocka_unit_test(test_open_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
