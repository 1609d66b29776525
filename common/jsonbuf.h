/* jsonbuf.h - a growable byte buffer that JSON text is appended to: the request log's lines and
 * the Chrome trace files. Strings are escaped so the output is valid JSON whatever the bytes
 * (they come from clients): '"' and '\' escaped, control characters as \n, \t ... or \u00XX,
 * invalid UTF-8 as one \ufffd per maximal invalid subsequence, and U+2028/U+2029 escaped so a
 * line stays one line for every reader. Separators (',' ':') are the caller's.
 *
 * Caller-allocated value type (hot path): fmx_jsonbuf_init / fmx_jsonbuf_fini. An allocation
 * failure is sticky: every later append is a no-op and `failed` stays set until a reset, so a
 * caller checks once after building a whole document. */
#ifndef FMX_JSONBUF_H
#define FMX_JSONBUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    char *data;   /* not NUL-terminated; owned */
    size_t len, cap;
    size_t max;   /* growth past this many bytes fails (0: no bound) */
    bool failed;  /* an append could not grow the buffer */
    bool fixed;   /* data is the caller's (fmx_jsonbuf_init_fixed): never grown or freed */
} fmx_jsonbuf_t;

/* max: the largest size the buffer may grow to (0 for no bound). Allocates nothing yet. */
void fmx_jsonbuf_init(fmx_jsonbuf_t *b, size_t max);
/* Appends go to the caller's buf[0..cap) and never allocate: an append that does not fit fails
 * as above. fini leaves buf alone. */
void fmx_jsonbuf_init_fixed(fmx_jsonbuf_t *b, char *buf, size_t cap);
void fmx_jsonbuf_fini(fmx_jsonbuf_t *b);
/* Empties the buffer (keeping its memory) and clears `failed`. */
void fmx_jsonbuf_reset(fmx_jsonbuf_t *b);
/* Drops the first n bytes (a partial write's written part). */
void fmx_jsonbuf_consume(fmx_jsonbuf_t *b, size_t n);

/* Each returns 0, or -1 when the buffer failed (now or before). */
int fmx_jsonbuf_raw(fmx_jsonbuf_t *b, const char *s, size_t n);   /* verbatim */
int fmx_jsonbuf_lit(fmx_jsonbuf_t *b, const char *s);             /* verbatim, NUL-terminated */
int fmx_jsonbuf_str(fmx_jsonbuf_t *b, const char *s, size_t n);   /* "escaped", any bytes */
int fmx_jsonbuf_cstr(fmx_jsonbuf_t *b, const char *s);            /* NULL writes null */
int fmx_jsonbuf_u64(fmx_jsonbuf_t *b, uint64_t v);
int fmx_jsonbuf_i64(fmx_jsonbuf_t *b, int64_t v);
int fmx_jsonbuf_bool(fmx_jsonbuf_t *b, bool v);
/* "key": (with the colon) - a key is escaped like any string. */
int fmx_jsonbuf_key(fmx_jsonbuf_t *b, const char *key);

#endif
