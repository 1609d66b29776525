/* fixtures.h - what the config-loader tests share (test_feed, test_params, test_experiments):
 * paths under $FMX_FIXTURES, a feed set that must load, and a table of broken files that must
 * each be refused with "PATH:LINE:COL: message". All of these fail the current cmocka test. */
#ifndef FMX_TEST_FIXTURES_H
#define FMX_TEST_FIXTURES_H

#include <stddef.h>

#include "broker/feed.h"
#include "common/fmx.h"

#define FIXTURES_PATH_MAX 512

/* $FMX_FIXTURES (set by ctest), else "test/fixtures" for a run from the source root. */
const char *fixtures_dir(void);
/* buf = FIXTURES/AREA/REL ("feeds", "params", "experiments"; "../../configs" for the shipped ones). */
void fixtures_path(char *buf, size_t cap, const char *area, const char *rel);
/* The feed set in FIXTURES/AREA/REL; fails the test with the loader's messages when it does not
 * load. Caller owns. */
fmx_feedset_t *fixtures_feedset(const char *area, const char *rel);

typedef struct {
    const char *file; /* under FIXTURES/AREA/bad/ */
    const char *pos;  /* "LINE:COL" */
    const char *what; /* substring of the message after the position */
} fixtures_bad_t;

/* Loads path: 0 when it loaded (and frees what it loaded), -1 with err filled. */
typedef int (*fixtures_load_fn)(const char *path, char err[FMX_ERR_LEN], void *arg);

/* Each case's file must exist and be refused by load with a message that starts with
 * "PATH:LINE:COL: " and holds `what` after that prefix. */
void fixtures_check_bad(const char *area, const fixtures_bad_t *cases, size_t n, fixtures_load_fn load, void *arg);

#endif
