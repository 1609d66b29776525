/* log.h - the process log: human lines "pid role time level msg" on stderr (or a file).
 * The level is checked before formatting, so a disabled debug line costs one compare.
 * The logger and the stop flag are the only process-wide state in feedmix. */
#ifndef FMX_LOG_H
#define FMX_LOG_H

#include <stdio.h>

typedef enum { FMX_LOG_DEBUG = 0, FMX_LOG_INFO, FMX_LOG_WARN, FMX_LOG_ERROR, FMX_LOG_OFF } fmx_log_level_t;

extern fmx_log_level_t fmx_log_level;

/* role is a short static string ("broker", "actor:retrieve"); borrowed for the process lifetime. */
void fmx_log_init(const char *role, fmx_log_level_t level);
/* "debug", "info", "warn", "error", "off" -> level; -1 when unknown. */
int fmx_log_level_parse(const char *name);
void fmx_log_write(fmx_log_level_t level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define FMX_LOG_AT(lvl, ...) do { if ((lvl) >= fmx_log_level) fmx_log_write((lvl), __VA_ARGS__); } while (0)
#define fmx_log_debug(...) FMX_LOG_AT(FMX_LOG_DEBUG, __VA_ARGS__)
#define fmx_log_info(...)  FMX_LOG_AT(FMX_LOG_INFO, __VA_ARGS__)
#define fmx_log_warn(...)  FMX_LOG_AT(FMX_LOG_WARN, __VA_ARGS__)
#define fmx_log_error(...) FMX_LOG_AT(FMX_LOG_ERROR, __VA_ARGS__)

#endif
