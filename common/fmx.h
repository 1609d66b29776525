/* fmx.h - definitions shared by every feedmix module: error buffer size, helpers. */
#ifndef FMX_H
#define FMX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Low-level functions explain a failure in a caller-provided buffer of this size. */
#define FMX_ERR_LEN 256

/* A borrowed byte string; usually points into a ZeroMQ frame or a msgpack zone. */
typedef struct {
    const char *ptr;
    size_t len;
} fmx_str_t;

#define FMX_STR_NULL ((fmx_str_t){NULL, 0})
#define FMX_STR_LIT(s) ((fmx_str_t){(s), sizeof(s) - 1})

#define FMX_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* printf into err, never overflowing; returns -1 so callers can `return fmx_err(...)`. */
int fmx_err(char err[FMX_ERR_LEN], const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Strict decimal: optional '-', digits, no leading zero unless the number is 0, fits int64.
 * "007" is refused (an id, not a number). true and *out set, or false with *out untouched. */
bool fmx_parse_i64(const char *s, int64_t *out);

/* Parses a whole decimal string into lo..hi. 0, or -1 (nothing stored) when it is not one. */
int fmx_parse_u32(const char *s, uint32_t lo, uint32_t hi, uint32_t *out);

/* mkdir -p: creates dir and its missing parents (mode 0755). 0 (also when it exists), or -1
 * with err naming the component that failed. */
int fmx_mkdir_p(const char *dir, char err[FMX_ERR_LEN]);

#endif
