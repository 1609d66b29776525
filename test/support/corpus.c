/* corpus.c - walks the fuzz seed corpus (see corpus.h). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test/support/corpus.h"

size_t corpus_for_each_seed(const char *sub, corpus_seed_fn fn, void *arg) {
    const char *fixtures = getenv("FMX_FIXTURES");
    if (!fixtures) {
        print_message("FMX_FIXTURES not set (run through ctest): seed corpus not checked\n");
        return 0;
    }
    /* test/fixtures -> test/fuzz/<sub>, textually: an empty fixtures dir may not exist in a clone */
    char dir[4096];
    size_t fl = strlen(fixtures);
    while (fl > 1 && fixtures[fl - 1] == '/')
        fl--;
    if (fl >= 9 && memcmp(fixtures + fl - 9, "/fixtures", 9) == 0)
        snprintf(dir, sizeof(dir), "%.*s/fuzz/%s", (int)(fl - 9), fixtures, sub);
    else
        snprintf(dir, sizeof(dir), "%s/../fuzz/%s", fixtures, sub);
    DIR *d = opendir(dir);
    if (!d) fail_msg("cannot open %s", dir);
    size_t n = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        size_t nl = strlen(de->d_name);
        if (nl < 4 || strcmp(de->d_name + nl - 3, ".mp") != 0) continue;
        char path[8192];
        snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
        FILE *f = fopen(path, "rb");
        assert_non_null(f);
        static char buf[1 << 16];
        size_t len = fread(buf, 1, sizeof(buf), f);
        fclose(f);
        char err[FMX_ERR_LEN] = "";
        int rc = fn(buf, len, err, arg);
        bool want_ok = strncmp(de->d_name, "ok-", 3) == 0;
        if (want_ok && rc != 0) fail_msg("seed %s: unexpected error: %s", de->d_name, err);
        if (!want_ok && (rc != -1 || err[0] == '\0'))
            fail_msg("seed %s decoded, but it is meant to be refused", de->d_name);
        n++;
    }
    closedir(d);
    return n;
}
