/* fixtures.c - fixture paths and the broken-file table runner (see fixtures.h). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "test/support/fixtures.h"

const char *fixtures_dir(void) {
    const char *dir = getenv("FMX_FIXTURES");
    return dir && *dir ? dir : "test/fixtures";
}

void fixtures_path(char *buf, size_t cap, const char *area, const char *rel) {
    int n = snprintf(buf, cap, "%s/%s/%s", fixtures_dir(), area, rel);
    if (n < 0 || (size_t)n >= cap) fail_msg("fixture path too long: %s/%s/%s", fixtures_dir(), area, rel);
}

fmx_feedset_t *fixtures_feedset(const char *area, const char *rel) {
    char dir[FIXTURES_PATH_MAX], errs[4096] = "";
    fixtures_path(dir, sizeof dir, area, rel);
    fmx_feedset_t *set = fmx_feedset_load_dir(dir, errs, sizeof errs);
    if (!set) fail_msg("%s:\n%s", dir, errs);
    return set;
}

void fixtures_check_bad(const char *area, const fixtures_bad_t *cases, size_t n, fixtures_load_fn load, void *arg) {
    for (size_t i = 0; i < n; i++) {
        const fixtures_bad_t *c = &cases[i];
        char rel[128], path[FIXTURES_PATH_MAX], err[FMX_ERR_LEN] = "", want[600];
        snprintf(rel, sizeof rel, "bad/%s", c->file);
        fixtures_path(path, sizeof path, area, rel);
        assert_int_equal(access(path, R_OK), 0);
        if (load(path, err, arg) == 0) fail_msg("%s: loaded but should fail", c->file);
        snprintf(want, sizeof want, "%s:%s: ", path, c->pos);
        if (strncmp(err, want, strlen(want)) != 0) fail_msg("%s: want prefix '%s', got '%s'", c->file, want, err);
        if (!strstr(err + strlen(want), c->what)) fail_msg("%s: want '%s' in '%s'", c->file, c->what, err);
    }
}
