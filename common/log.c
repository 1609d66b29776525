#include "common/log.h"

#include <stdarg.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

fmx_log_level_t fmx_log_level = FMX_LOG_INFO;
static const char *s_role = "feedmix";
static const char *const s_level_names[] = {"debug", "info", "warn", "error", "off"};

void fmx_log_init(const char *role, fmx_log_level_t level) {
    s_role = role;
    fmx_log_level = level;
}

int fmx_log_level_parse(const char *name) {
    for (int i = 0; i <= FMX_LOG_OFF; i++)
        if (strcmp(name, s_level_names[i]) == 0) return i;
    return -1;
}

void fmx_log_write(fmx_log_level_t level, const char *fmt, ...) {
    char line[2048];
    struct timeval tv;
    struct tm tm;
    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    int n = snprintf(line, sizeof line, "%d %s %04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s ", (int)getpid(), s_role,
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                     (long)(tv.tv_usec / 1000), s_level_names[level]);
    va_list ap;
    va_start(ap, fmt);
    if (n > 0 && (size_t)n < sizeof line) vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
    va_end(ap);
    /* One write per line so concurrent processes sharing a log file do not interleave mid-line. */
    size_t len = strnlen(line, sizeof line - 2);
    line[len++] = '\n';
    ssize_t w = write(STDERR_FILENO, line, len);
    (void)w;
}
