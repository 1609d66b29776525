#include "common/fmx.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int fmx_err(char err[FMX_ERR_LEN], const char *fmt, ...) {
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, FMX_ERR_LEN, fmt, ap);
        va_end(ap);
    }
    return -1;
}

int fmx_parse_u32(const char *s, uint32_t lo, uint32_t hi, uint32_t *out) {
    char *end;
    errno = 0;
    if (!s || *s == '-' || *s == '+' || *s == ' ') return -1;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) return -1;
    *out = (uint32_t)v;
    return 0;
}

bool fmx_parse_i64(const char *s, int64_t *out) {
    if (!s) return false;
    const char *d = s[0] == '-' ? s + 1 : s;
    if (!*d) return false;
    for (const char *p = d; *p; p++)
        if (*p < '0' || *p > '9') return false;
    if (d[0] == '0' && d[1]) return false;
    errno = 0;
    long long v = strtoll(s, NULL, 10);
    if (errno == ERANGE) return false;
    *out = v;
    return true;
}

int fmx_mkdir_p(const char *dir, char err[FMX_ERR_LEN]) {
    char path[4096];
    size_t n = strlen(dir);
    if (n == 0 || n >= sizeof path) return fmx_err(err, "directory name '%.64s' is empty or too long", dir);
    memcpy(path, dir, n + 1);
    /* Each prefix ending before a '/', then the whole path; existing ones are fine. */
    for (size_t i = 1; i <= n; i++) {
        if (path[i] != '/' && path[i] != '\0') continue;
        char saved = path[i];
        path[i] = '\0';
        if (mkdir(path, 0755) != 0 && errno != EEXIST) return fmx_err(err, "mkdir(%s) failed: %s", path, strerror(errno));
        path[i] = saved;
    }
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) return fmx_err(err, "%s is not a directory", dir);
    return 0;
}
