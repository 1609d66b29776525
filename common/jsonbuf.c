/* jsonbuf.c - JSON text appended to a growable buffer (see jsonbuf.h). */
#include "common/jsonbuf.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void fmx_jsonbuf_init(fmx_jsonbuf_t *b, size_t max) {
    memset(b, 0, sizeof *b);
    b->max = max;
}

void fmx_jsonbuf_init_fixed(fmx_jsonbuf_t *b, char *buf, size_t cap) {
    *b = (fmx_jsonbuf_t){.data = buf, .cap = cap, .max = cap, .fixed = true};
}

void fmx_jsonbuf_fini(fmx_jsonbuf_t *b) {
    if (!b->fixed) free(b->data);
    memset(b, 0, sizeof *b);
}

void fmx_jsonbuf_reset(fmx_jsonbuf_t *b) {
    b->len = 0;
    b->failed = false;
}

void fmx_jsonbuf_consume(fmx_jsonbuf_t *b, size_t n) {
    if (n >= b->len) {
        b->len = 0;
        return;
    }
    memmove(b->data, b->data + n, b->len - n);
    b->len -= n;
}

/* Room for n more bytes, or -1 (sticky). */
static int s_reserve(fmx_jsonbuf_t *b, size_t n) {
    if (b->failed) return -1;
    if (n <= b->cap - b->len) return 0;
    if (b->fixed || n > SIZE_MAX / 2 - b->len || (b->max && b->len + n > b->max)) goto fail;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + n) cap *= 2;
    if (b->max && cap > b->max) cap = b->max;
    char *p = realloc(b->data, cap);
    if (!p) goto fail;
    b->data = p;
    b->cap = cap;
    return 0;
fail:
    b->failed = true;
    return -1;
}

int fmx_jsonbuf_raw(fmx_jsonbuf_t *b, const char *s, size_t n) {
    if (s_reserve(b, n) != 0) return -1;
    if (n) memcpy(b->data + b->len, s, n);
    b->len += n;
    return 0;
}

int fmx_jsonbuf_lit(fmx_jsonbuf_t *b, const char *s) {
    return fmx_jsonbuf_raw(b, s, strlen(s));
}

/* Length of the valid UTF-8 sequence at p (2..4 bytes; p[0] >= 0x80), or minus the length of the
 * maximal invalid subpart, which becomes one U+FFFD (Unicode's recommended practice). */
static int s_utf8(const unsigned char *p, size_t n) {
    unsigned char c = p[0], lo = 0x80, hi = 0xbf;
    int need;
    if (c >= 0xc2 && c <= 0xdf) {
        need = 1;
    } else if (c >= 0xe0 && c <= 0xef) {
        need = 2;
        if (c == 0xe0) lo = 0xa0;      /* overlong */
        else if (c == 0xed) hi = 0x9f; /* UTF-16 surrogates */
    } else if (c >= 0xf0 && c <= 0xf4) {
        need = 3;
        if (c == 0xf0) lo = 0x90;      /* overlong */
        else if (c == 0xf4) hi = 0x8f; /* past U+10FFFF */
    } else {
        return -1;
    }
    for (int i = 1; i <= need; i++) {
        if ((size_t)i >= n) return -i;
        unsigned char x = p[i];
        if (i == 1 ? (x < lo || x > hi) : (x < 0x80 || x > 0xbf)) return -i;
    }
    return need + 1;
}

int fmx_jsonbuf_str(fmx_jsonbuf_t *b, const char *s, size_t n) {
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)s;
    /* Runs of plain ASCII are copied whole; only the rest is looked at byte by byte. */
    if (fmx_jsonbuf_raw(b, "\"", 1) != 0) return -1;
    size_t i = 0;
    while (i < n) {
        size_t run = i;
        while (run < n && p[run] >= 0x20 && p[run] < 0x80 && p[run] != '"' && p[run] != '\\') run++;
        if (run > i) {
            if (fmx_jsonbuf_raw(b, s + i, run - i) != 0) return -1;
            i = run;
            continue;
        }
        unsigned char c = p[i];
        char esc[7];
        size_t len = 2;
        esc[0] = '\\';
        if (c == '"' || c == '\\') {
            esc[1] = (char)c;
        } else if (c < 0x20) {
            static const char named[0x20] = {['\b'] = 'b', ['\f'] = 'f', ['\n'] = 'n', ['\r'] = 'r', ['\t'] = 't'};
            if (named[c]) {
                esc[1] = named[c];
            } else {
                memcpy(esc + 1, "u00", 3);
                esc[4] = hex[c >> 4];
                esc[5] = hex[c & 15];
                len = 6;
            }
        } else {
            int k = s_utf8(p + i, n - i);
            if (k > 0 && !(k == 3 && c == 0xe2 && p[i + 1] == 0x80 && (p[i + 2] == 0xa8 || p[i + 2] == 0xa9))) {
                if (fmx_jsonbuf_raw(b, s + i, (size_t)k) != 0) return -1;
                i += (size_t)k;
                continue;
            }
            if (k > 0) { /* U+2028 / U+2029: valid JSON raw, but line breaks to some readers */
                memcpy(esc + 1, p[i + 2] == 0xa8 ? "u2028" : "u2029", 5);
                i += 2; /* plus the one below */
            } else {
                memcpy(esc + 1, "ufffd", 5);
                i += (size_t)(-k) - 1;
            }
            len = 6;
        }
        if (fmx_jsonbuf_raw(b, esc, len) != 0) return -1;
        i++;
    }
    return fmx_jsonbuf_raw(b, "\"", 1);
}

int fmx_jsonbuf_cstr(fmx_jsonbuf_t *b, const char *s) {
    return s ? fmx_jsonbuf_str(b, s, strlen(s)) : fmx_jsonbuf_raw(b, "null", 4);
}

int fmx_jsonbuf_u64(fmx_jsonbuf_t *b, uint64_t v) {
    char tmp[24];
    int n = snprintf(tmp, sizeof tmp, "%" PRIu64, v);
    return fmx_jsonbuf_raw(b, tmp, (size_t)n);
}

int fmx_jsonbuf_i64(fmx_jsonbuf_t *b, int64_t v) {
    char tmp[24];
    int n = snprintf(tmp, sizeof tmp, "%" PRId64, v);
    return fmx_jsonbuf_raw(b, tmp, (size_t)n);
}

int fmx_jsonbuf_bool(fmx_jsonbuf_t *b, bool v) {
    return v ? fmx_jsonbuf_raw(b, "true", 4) : fmx_jsonbuf_raw(b, "false", 5);
}

int fmx_jsonbuf_key(fmx_jsonbuf_t *b, const char *key) {
    if (fmx_jsonbuf_cstr(b, key) != 0) return -1;
    return fmx_jsonbuf_raw(b, ":", 1);
}
