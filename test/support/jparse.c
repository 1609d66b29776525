/* jparse.c - a strict JSON parser for tests (see jparse.h). */
#include "test/support/jparse.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define JP_MAX_DEPTH 64

typedef struct {
    const unsigned char *s;
    size_t len, pos;
    char *err;
    size_t err_cap;
    bool failed;
} jp_ctx_t;

static bool jp_fail(jp_ctx_t *c, const char *fmt, ...) {
    if (!c->failed && c->err && c->err_cap) {
        int n = snprintf(c->err, c->err_cap, "offset %zu: ", c->pos);
        va_list ap;
        va_start(ap, fmt);
        if (n >= 0 && (size_t)n < c->err_cap) vsnprintf(c->err + n, c->err_cap - (size_t)n, fmt, ap);
        va_end(ap);
    }
    c->failed = true;
    return false;
}

static void jp_ws(jp_ctx_t *c) {
    while (c->pos < c->len && strchr(" \t\n\r", c->s[c->pos]) && c->s[c->pos]) c->pos++;
}

static void jp_value_fini(jp_value_t *v) {
    free(v->str);
    for (size_t i = 0; i < v->n; i++) {
        if (v->items) jp_value_fini(&v->items[i]);
        if (v->keys) free(v->keys[i]);
    }
    free(v->items);
    free(v->keys);
    memset(v, 0, sizeof *v);
}

/* Appends byte b to a growing buffer. */
static bool jp_put(jp_ctx_t *c, char **buf, size_t *n, size_t *cap, unsigned char b) {
    if (*n + 2 > *cap) {
        size_t nc = *cap ? *cap * 2 : 32;
        char *p = realloc(*buf, nc);
        if (!p) return jp_fail(c, "out of memory");
        *buf = p;
        *cap = nc;
    }
    (*buf)[(*n)++] = (char)b;
    (*buf)[*n] = '\0';
    return true;
}

static bool jp_utf8_out(jp_ctx_t *c, char **buf, size_t *n, size_t *cap, uint32_t cp) {
    if (cp < 0x80) return jp_put(c, buf, n, cap, (unsigned char)cp);
    if (cp < 0x800)
        return jp_put(c, buf, n, cap, (unsigned char)(0xc0 | cp >> 6)) &&
               jp_put(c, buf, n, cap, (unsigned char)(0x80 | (cp & 0x3f)));
    if (cp < 0x10000)
        return jp_put(c, buf, n, cap, (unsigned char)(0xe0 | cp >> 12)) &&
               jp_put(c, buf, n, cap, (unsigned char)(0x80 | ((cp >> 6) & 0x3f))) &&
               jp_put(c, buf, n, cap, (unsigned char)(0x80 | (cp & 0x3f)));
    return jp_put(c, buf, n, cap, (unsigned char)(0xf0 | cp >> 18)) &&
           jp_put(c, buf, n, cap, (unsigned char)(0x80 | ((cp >> 12) & 0x3f))) &&
           jp_put(c, buf, n, cap, (unsigned char)(0x80 | ((cp >> 6) & 0x3f))) &&
           jp_put(c, buf, n, cap, (unsigned char)(0x80 | (cp & 0x3f)));
}

static bool jp_hex4(jp_ctx_t *c, uint32_t *out) {
    if (c->len - c->pos < 4) return jp_fail(c, "truncated \\u escape");
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) {
        unsigned char h = c->s[c->pos++];
        v <<= 4;
        if (h >= '0' && h <= '9') v |= (uint32_t)(h - '0');
        else if (h >= 'a' && h <= 'f') v |= (uint32_t)(h - 'a' + 10);
        else if (h >= 'A' && h <= 'F') v |= (uint32_t)(h - 'A' + 10);
        else return jp_fail(c, "bad hex digit in \\u escape");
    }
    *out = v;
    return true;
}

/* Length of a valid UTF-8 sequence at s (1..4), or 0. */
static size_t jp_utf8_len(const unsigned char *p, size_t n) {
    unsigned char b = p[0], lo = 0x80, hi = 0xbf;
    size_t need;
    if (b < 0x80) return 1;
    if (b >= 0xc2 && b <= 0xdf) need = 1;
    else if (b >= 0xe0 && b <= 0xef) {
        need = 2;
        if (b == 0xe0) lo = 0xa0;
        if (b == 0xed) hi = 0x9f;
    } else if (b >= 0xf0 && b <= 0xf4) {
        need = 3;
        if (b == 0xf0) lo = 0x90;
        if (b == 0xf4) hi = 0x8f;
    } else return 0;
    if (n < need + 1) return 0;
    if (p[1] < lo || p[1] > hi) return 0;
    for (size_t i = 2; i <= need; i++)
        if (p[i] < 0x80 || p[i] > 0xbf) return 0;
    return need + 1;
}

static bool jp_string(jp_ctx_t *c, char **out, size_t *out_len) {
    char *buf = NULL;
    size_t n = 0, cap = 0;
    c->pos++; /* opening quote */
    if (!jp_put(c, &buf, &n, &cap, 'x')) return false;
    n = 0;
    buf[0] = '\0';
    for (;;) {
        if (c->pos >= c->len) {
            free(buf);
            return jp_fail(c, "unterminated string");
        }
        unsigned char b = c->s[c->pos];
        if (b == '"') {
            c->pos++;
            break;
        }
        if (b < 0x20) {
            free(buf);
            return jp_fail(c, "raw control character 0x%02x in a string", b);
        }
        if (b == '\\') {
            c->pos++;
            if (c->pos >= c->len) {
                free(buf);
                return jp_fail(c, "unterminated escape");
            }
            unsigned char e = c->s[c->pos++];
            uint32_t cp;
            bool ok = true;
            switch (e) {
            case '"': case '\\': case '/': ok = jp_put(c, &buf, &n, &cap, e); break;
            case 'b': ok = jp_put(c, &buf, &n, &cap, '\b'); break;
            case 'f': ok = jp_put(c, &buf, &n, &cap, '\f'); break;
            case 'n': ok = jp_put(c, &buf, &n, &cap, '\n'); break;
            case 'r': ok = jp_put(c, &buf, &n, &cap, '\r'); break;
            case 't': ok = jp_put(c, &buf, &n, &cap, '\t'); break;
            case 'u':
                ok = jp_hex4(c, &cp);
                if (ok && cp >= 0xdc00 && cp <= 0xdfff) ok = jp_fail(c, "lone low surrogate");
                if (ok && cp >= 0xd800 && cp <= 0xdbff) {
                    uint32_t lo;
                    if (c->len - c->pos < 2 || c->s[c->pos] != '\\' || c->s[c->pos + 1] != 'u')
                        ok = jp_fail(c, "lone high surrogate");
                    else {
                        c->pos += 2;
                        ok = jp_hex4(c, &lo);
                        if (ok && !(lo >= 0xdc00 && lo <= 0xdfff)) ok = jp_fail(c, "bad surrogate pair");
                        cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                    }
                }
                if (ok) ok = jp_utf8_out(c, &buf, &n, &cap, cp);
                break;
            default: ok = jp_fail(c, "bad escape \\%c", e);
            }
            if (!ok) {
                free(buf);
                return false;
            }
            continue;
        }
        size_t k = jp_utf8_len(c->s + c->pos, c->len - c->pos);
        if (k == 0) {
            free(buf);
            return jp_fail(c, "invalid UTF-8");
        }
        for (size_t i = 0; i < k; i++)
            if (!jp_put(c, &buf, &n, &cap, c->s[c->pos + i])) {
                free(buf);
                return false;
            }
        c->pos += k;
    }
    *out = buf;
    *out_len = n;
    return true;
}

static bool jp_number(jp_ctx_t *c, double *out) {
    size_t start = c->pos;
    const unsigned char *s = c->s;
    if (c->pos < c->len && s[c->pos] == '-') c->pos++;
    if (c->pos >= c->len) return jp_fail(c, "bad number");
    if (s[c->pos] == '0') {
        c->pos++;
    } else if (s[c->pos] >= '1' && s[c->pos] <= '9') {
        while (c->pos < c->len && s[c->pos] >= '0' && s[c->pos] <= '9') c->pos++;
    } else {
        return jp_fail(c, "bad number");
    }
    if (c->pos < c->len && s[c->pos] == '.') {
        c->pos++;
        if (c->pos >= c->len || s[c->pos] < '0' || s[c->pos] > '9') return jp_fail(c, "bad fraction");
        while (c->pos < c->len && s[c->pos] >= '0' && s[c->pos] <= '9') c->pos++;
    }
    if (c->pos < c->len && (s[c->pos] == 'e' || s[c->pos] == 'E')) {
        c->pos++;
        if (c->pos < c->len && (s[c->pos] == '+' || s[c->pos] == '-')) c->pos++;
        if (c->pos >= c->len || s[c->pos] < '0' || s[c->pos] > '9') return jp_fail(c, "bad exponent");
        while (c->pos < c->len && s[c->pos] >= '0' && s[c->pos] <= '9') c->pos++;
    }
    char tmp[64];
    size_t n = c->pos - start;
    if (n >= sizeof tmp) n = sizeof tmp - 1;
    memcpy(tmp, s + start, n);
    tmp[n] = '\0';
    *out = strtod(tmp, NULL);
    return true;
}

static bool jp_value(jp_ctx_t *c, jp_value_t *v, int depth);

/* Appends a zeroed slot to a container. */
static jp_value_t *jp_slot(jp_ctx_t *c, jp_value_t *v, size_t *cap) {
    if (v->n == *cap) {
        size_t nc = *cap ? *cap * 2 : 8;
        jp_value_t *items = realloc(v->items, nc * sizeof *items);
        if (!items) return jp_fail(c, "out of memory"), NULL;
        v->items = items;
        if (v->type == JP_OBJ) {
            char **keys = realloc(v->keys, nc * sizeof *keys);
            if (!keys) return jp_fail(c, "out of memory"), NULL;
            v->keys = keys;
        }
        *cap = nc;
    }
    jp_value_t *slot = &v->items[v->n];
    memset(slot, 0, sizeof *slot);
    if (v->type == JP_OBJ) v->keys[v->n] = NULL;
    v->n++;
    return slot;
}

static bool jp_container(jp_ctx_t *c, jp_value_t *v, int depth) {
    bool obj = c->s[c->pos] == '{';
    v->type = obj ? JP_OBJ : JP_ARR;
    char close = obj ? '}' : ']';
    size_t cap = 0;
    c->pos++;
    jp_ws(c);
    if (c->pos < c->len && c->s[c->pos] == close) {
        c->pos++;
        return true;
    }
    for (;;) {
        jp_value_t *slot = jp_slot(c, v, &cap);
        if (!slot) return false;
        if (obj) {
            jp_ws(c);
            if (c->pos >= c->len || c->s[c->pos] != '"') return jp_fail(c, "expected a string key");
            size_t klen;
            if (!jp_string(c, &v->keys[v->n - 1], &klen)) return false;
            jp_ws(c);
            if (c->pos >= c->len || c->s[c->pos] != ':') return jp_fail(c, "expected ':'");
            c->pos++;
        }
        if (!jp_value(c, slot, depth + 1)) return false;
        jp_ws(c);
        if (c->pos >= c->len) return jp_fail(c, "unterminated %s", obj ? "object" : "array");
        if (c->s[c->pos] == ',') {
            c->pos++;
            continue;
        }
        if (c->s[c->pos] == close) {
            c->pos++;
            return true;
        }
        return jp_fail(c, "expected ',' or '%c'", close);
    }
}

static bool jp_lit(jp_ctx_t *c, const char *word) {
    size_t n = strlen(word);
    if (c->len - c->pos < n || memcmp(c->s + c->pos, word, n) != 0) return jp_fail(c, "unexpected token");
    c->pos += n;
    return true;
}

static bool jp_value(jp_ctx_t *c, jp_value_t *v, int depth) {
    if (depth > JP_MAX_DEPTH) return jp_fail(c, "nested too deep");
    jp_ws(c);
    if (c->pos >= c->len) return jp_fail(c, "expected a value");
    unsigned char b = c->s[c->pos];
    if (b == '{' || b == '[') return jp_container(c, v, depth);
    if (b == '"') {
        v->type = JP_STR;
        return jp_string(c, &v->str, &v->len);
    }
    if (b == 't') {
        v->type = JP_BOOL;
        v->b = true;
        return jp_lit(c, "true");
    }
    if (b == 'f') {
        v->type = JP_BOOL;
        return jp_lit(c, "false");
    }
    if (b == 'n') {
        v->type = JP_NULL;
        return jp_lit(c, "null");
    }
    v->type = JP_NUM;
    return jp_number(c, &v->num);
}

jp_value_t *jp_parse(const char *s, size_t len, char *err, size_t err_cap) {
    jp_ctx_t c = {(const unsigned char *)s, len, 0, err, err_cap, false};
    jp_value_t *v = calloc(1, sizeof *v);
    if (!v) return NULL;
    if (jp_value(&c, v, 0)) {
        jp_ws(&c);
        if (c.pos == c.len) return v;
        jp_fail(&c, "trailing bytes after the value");
    }
    jp_free(&v);
    return NULL;
}

void jp_free(jp_value_t **v_p) {
    if (!v_p || !*v_p) return;
    jp_value_fini(*v_p);
    free(*v_p);
    *v_p = NULL;
}

const jp_value_t *jp_get(const jp_value_t *obj, const char *key) {
    if (!obj || obj->type != JP_OBJ) return NULL;
    for (size_t i = 0; i < obj->n; i++)
        if (obj->keys[i] && strcmp(obj->keys[i], key) == 0) return &obj->items[i];
    return NULL;
}

const char *jp_get_str(const jp_value_t *obj, const char *key) {
    const jp_value_t *v = jp_get(obj, key);
    return v && v->type == JP_STR ? v->str : NULL;
}

double jp_get_num(const jp_value_t *obj, const char *key, double def) {
    const jp_value_t *v = jp_get(obj, key);
    return v && v->type == JP_NUM ? v->num : def;
}
