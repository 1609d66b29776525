/* report.c - `feedctl report` (see report.h): a small bounded JSON reader for the events log, a
 * hash of groups, Wilson intervals, and the two tables. */
#include "tools/feedctl/report.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <xxhash.h>

#include "tools/feedctl/json.h"

#define S_MAX_DEPTH 32 /* nesting a skipped value may have */
#define S_MAX_VARIANTS 16
#define S_DEFAULT_EVENTS "var/log/events.jsonl"

enum { S_BY_SOURCE = 0, S_BY_VARIANT = 1 };

typedef struct {
    char *key;       /* kind byte, then three (u32 length, bytes) parts: feed, a, b */
    size_t key_len;
    uint8_t kind;
    fmx_str_t feed, a, b; /* into key: a = source or experiment, b = "" or variant */
    uint64_t impressions, clicks;
} s_group_t;

struct fmx_report {
    double since;
    fmx_report_totals_t t;
    s_group_t *groups;
    size_t n_groups, cap_groups;
    uint32_t *slots; /* group index + 1; 0 is empty */
    size_t n_slots;  /* a power of two */
    char *scratch;   /* unescaped strings of the current line */
    char *line;      /* the line being read */
};

/* ---- a bounded JSON reader ---------------------------------------------------------------- */

typedef struct {
    const char *p, *end;
    char *scratch;
    size_t slen; /* scratch has FMX_REPORT_LINE_MAX bytes: unescaping never grows a string */
} s_json_t;

typedef struct {
    double ts;
    fmx_str_t event, feed, source;
    fmx_str_t exps[S_MAX_VARIANTS], vars[S_MAX_VARIANTS];
    size_t n_variants;
    bool has_ts, has_event, has_feed, has_source;
} s_event_t;

static void s_ws(s_json_t *j) {
    while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\r' || *j->p == '\n')) j->p++;
}

static bool s_eat(s_json_t *j, char c) {
    s_ws(j);
    if (j->p < j->end && *j->p == c) {
        j->p++;
        return true;
    }
    return false;
}

static int s_hex4(s_json_t *j, uint32_t *out) {
    if (j->end - j->p < 4) return -1;
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) {
        char c = j->p[i];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (d < 0) return -1;
        v = v * 16 + (uint32_t)d;
    }
    j->p += 4;
    *out = v;
    return 0;
}

static void s_put_utf8(s_json_t *j, uint32_t cp) {
    /* A \uXXXX escape is 6 input bytes and yields at most 4: scratch (sized like the line) holds it. */
    char *o = j->scratch + j->slen;
    if (cp < 0x80) {
        o[0] = (char)cp;
        j->slen += 1;
    } else if (cp < 0x800) {
        o[0] = (char)(0xc0 | (cp >> 6));
        o[1] = (char)(0x80 | (cp & 0x3f));
        j->slen += 2;
    } else if (cp < 0x10000) {
        o[0] = (char)(0xe0 | (cp >> 12));
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        o[2] = (char)(0x80 | (cp & 0x3f));
        j->slen += 3;
    } else {
        o[0] = (char)(0xf0 | (cp >> 18));
        o[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
        o[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
        o[3] = (char)(0x80 | (cp & 0x3f));
        j->slen += 4;
    }
}

/* A string at j->p (after whitespace), unescaped into scratch. 0 or -1. */
static int s_string(s_json_t *j, fmx_str_t *out) {
    if (!s_eat(j, '"')) return -1;
    size_t start = j->slen;
    while (j->p < j->end) {
        unsigned char c = (unsigned char)*j->p++;
        if (c == '"') {
            *out = (fmx_str_t){j->scratch + start, j->slen - start};
            return 0;
        }
        if (c < 0x20) return -1; /* raw control characters are not JSON */
        if (c != '\\') {
            j->scratch[j->slen++] = (char)c;
            continue;
        }
        if (j->p >= j->end) return -1;
        char e = *j->p++;
        const char *map = "\"\"\\\\//b\bf\fn\nr\rt\t";
        const char *m = NULL;
        for (const char *k = map; *k; k += 2)
            if (*k == e) m = k;
        if (m) {
            j->scratch[j->slen++] = m[1];
            continue;
        }
        if (e != 'u') return -1;
        uint32_t cp;
        if (s_hex4(j, &cp) != 0) return -1;
        if (cp >= 0xd800 && cp <= 0xdbff) {
            uint32_t lo;
            if (j->end - j->p >= 6 && j->p[0] == '\\' && j->p[1] == 'u') {
                j->p += 2;
                if (s_hex4(j, &lo) != 0) return -1;
                if (lo >= 0xdc00 && lo <= 0xdfff) {
                    s_put_utf8(j, 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00));
                    continue;
                }
                s_put_utf8(j, 0xfffd);
                s_put_utf8(j, lo >= 0xd800 && lo <= 0xdfff ? 0xfffd : lo);
                continue;
            }
            cp = 0xfffd;
        } else if (cp >= 0xdc00 && cp <= 0xdfff) {
            cp = 0xfffd;
        }
        s_put_utf8(j, cp);
    }
    return -1;
}

/* A JSON number (strict grammar) into *out. 0 or -1. */
static int s_number(s_json_t *j, double *out) {
    s_ws(j);
    const char *s = j->p, *p = s;
    if (p < j->end && *p == '-') p++;
    if (p >= j->end || *p < '0' || *p > '9') return -1;
    if (*p == '0') p++;
    else
        while (p < j->end && *p >= '0' && *p <= '9') p++;
    if (p < j->end && *p == '.') {
        p++;
        if (p >= j->end || *p < '0' || *p > '9') return -1;
        while (p < j->end && *p >= '0' && *p <= '9') p++;
    }
    if (p < j->end && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < j->end && (*p == '+' || *p == '-')) p++;
        if (p >= j->end || *p < '0' || *p > '9') return -1;
        while (p < j->end && *p >= '0' && *p <= '9') p++;
    }
    char buf[64];
    size_t n = (size_t)(p - s);
    if (n >= sizeof buf) return -1; /* a timestamp never needs that many digits */
    memcpy(buf, s, n);
    buf[n] = '\0';
    *out = strtod(buf, NULL);
    j->p = p;
    return 0;
}

static int s_skip(s_json_t *j, int depth) {
    if (depth > S_MAX_DEPTH) return -1;
    s_ws(j);
    if (j->p >= j->end) return -1;
    char c = *j->p;
    if (c == '"') {
        fmx_str_t s;
        size_t mark = j->slen;
        int rc = s_string(j, &s);
        j->slen = mark; /* skipped strings need no scratch */
        return rc;
    }
    if (c == '{' || c == '[') {
        char close = c == '{' ? '}' : ']';
        j->p++;
        if (s_eat(j, close)) return 0;
        do {
            if (c == '{') {
                fmx_str_t k;
                size_t mark = j->slen;
                if (s_string(j, &k) != 0 || !s_eat(j, ':')) return -1;
                j->slen = mark;
            }
            if (s_skip(j, depth + 1) != 0) return -1;
        } while (s_eat(j, ','));
        return s_eat(j, close) ? 0 : -1;
    }
    static const char *const lits[] = {"true", "false", "null"};
    for (size_t i = 0; i < 3; i++) {
        size_t n = strlen(lits[i]);
        if ((size_t)(j->end - j->p) >= n && memcmp(j->p, lits[i], n) == 0) {
            j->p += n;
            return 0;
        }
    }
    double d;
    return s_number(j, &d);
}

static bool s_is(fmx_str_t s, const char *lit) {
    return s.len == strlen(lit) && memcmp(s.ptr, lit, s.len) == 0;
}

static int s_variants(s_json_t *j, s_event_t *ev) {
    if (!s_eat(j, '{')) return -1;
    ev->n_variants = 0;
    if (s_eat(j, '}')) return 0;
    do {
        if (ev->n_variants == S_MAX_VARIANTS) return -1;
        if (s_string(j, &ev->exps[ev->n_variants]) != 0 || !s_eat(j, ':') ||
            s_string(j, &ev->vars[ev->n_variants]) != 0)
            return -1;
        ev->n_variants++;
    } while (s_eat(j, ','));
    return s_eat(j, '}') ? 0 : -1;
}

/* One events-log line into *ev. 0, or -1 when it is not one. */
static int s_parse_event(s_json_t *j, s_event_t *ev) {
    memset(ev, 0, sizeof *ev);
    if (!s_eat(j, '{')) return -1;
    if (s_eat(j, '}')) return -1;
    do {
        fmx_str_t key;
        if (s_string(j, &key) != 0 || !s_eat(j, ':')) return -1;
        int rc;
        if (s_is(key, "ts")) {
            rc = s_number(j, &ev->ts);
            ev->has_ts = true;
        } else if (s_is(key, "event")) {
            rc = s_string(j, &ev->event);
            ev->has_event = true;
        } else if (s_is(key, "feed")) {
            rc = s_string(j, &ev->feed);
            ev->has_feed = true;
        } else if (s_is(key, "source")) {
            rc = s_string(j, &ev->source);
            ev->has_source = true;
        } else if (s_is(key, "variants")) {
            rc = s_variants(j, ev);
        } else {
            rc = s_skip(j, 1);
        }
        if (rc != 0) return -1;
    } while (s_eat(j, ','));
    if (!s_eat(j, '}')) return -1;
    s_ws(j);
    if (j->p != j->end) return -1;
    return ev->has_ts && ev->has_event && ev->has_feed && ev->has_source && isfinite(ev->ts) ? 0 : -1;
}

/* ---- groups --------------------------------------------------------------------------------- */

fmx_report_t *fmx_report_new(double since) {
    fmx_report_t *r = calloc(1, sizeof *r);
    if (!r) return NULL;
    r->since = since;
    r->n_slots = 64;
    r->slots = calloc(r->n_slots, sizeof *r->slots);
    r->scratch = malloc(FMX_REPORT_LINE_MAX);
    r->line = malloc(FMX_REPORT_LINE_MAX);
    if (!r->slots || !r->scratch || !r->line) goto fail;
    return r;
fail:
    fmx_report_destroy(&r);
    return NULL;
}

void fmx_report_destroy(fmx_report_t **self_p) {
    if (!self_p || !*self_p) return;
    fmx_report_t *r = *self_p;
    for (size_t i = 0; i < r->n_groups; i++) free(r->groups[i].key);
    free(r->groups);
    free(r->slots);
    free(r->scratch);
    free(r->line);
    free(r);
    *self_p = NULL;
}

fmx_report_totals_t fmx_report_totals(const fmx_report_t *r) {
    return r->t;
}

static size_t s_key(char *out, uint8_t kind, const fmx_str_t parts[3]) {
    size_t n = 0;
    out[n++] = (char)kind;
    for (int i = 0; i < 3; i++) {
        uint32_t len = (uint32_t)parts[i].len;
        memcpy(out + n, &len, sizeof len);
        n += sizeof len;
        if (len) memcpy(out + n, parts[i].ptr, len);
        n += len;
    }
    return n;
}

static int s_rehash(fmx_report_t *r) {
    size_t n = r->n_slots * 2;
    uint32_t *slots = calloc(n, sizeof *slots);
    if (!slots) return -1;
    for (size_t g = 0; g < r->n_groups; g++) {
        size_t i = XXH3_64bits(r->groups[g].key, r->groups[g].key_len) & (n - 1);
        while (slots[i]) i = (i + 1) & (n - 1);
        slots[i] = (uint32_t)(g + 1);
    }
    free(r->slots);
    r->slots = slots;
    r->n_slots = n;
    return 0;
}

/* The group for (kind, feed, a, b), created empty when new; NULL when out of memory. */
static s_group_t *s_group(fmx_report_t *r, uint8_t kind, fmx_str_t feed, fmx_str_t a, fmx_str_t b) {
    const fmx_str_t parts[3] = {feed, a, b};
    size_t need = 1 + 3 * sizeof(uint32_t) + feed.len + a.len + b.len;
    /* Parts come from one line, so need <= 13 + FMX_REPORT_LINE_MAX: the line buffer is too small
     * to borrow, build the key on the heap only when it is new. */
    char local[512];
    char *key = need <= sizeof local ? local : malloc(need);
    if (!key) return NULL;
    size_t klen = s_key(key, kind, parts);
    uint64_t h = XXH3_64bits(key, klen);
    size_t i = h & (r->n_slots - 1);
    for (; r->slots[i]; i = (i + 1) & (r->n_slots - 1)) {
        s_group_t *g = &r->groups[r->slots[i] - 1];
        if (g->key_len == klen && memcmp(g->key, key, klen) == 0) {
            if (key != local) free(key);
            return g;
        }
    }
    if (r->n_groups == UINT32_MAX - 1) goto oom;
    if (r->n_groups == r->cap_groups) {
        size_t cap = r->cap_groups ? r->cap_groups * 2 : 32;
        s_group_t *gs = realloc(r->groups, cap * sizeof *gs);
        if (!gs) goto oom;
        r->groups = gs;
        r->cap_groups = cap;
    }
    s_group_t *g = &r->groups[r->n_groups];
    memset(g, 0, sizeof *g);
    g->key = malloc(klen);
    if (!g->key) goto oom;
    memcpy(g->key, key, klen);
    if (key != local) free(key);
    g->key_len = klen;
    g->kind = kind;
    /* Point the parts into the stored key. */
    size_t off = 1;
    fmx_str_t *dst[3] = {&g->feed, &g->a, &g->b};
    for (int p = 0; p < 3; p++) {
        uint32_t len;
        memcpy(&len, g->key + off, sizeof len);
        off += sizeof len;
        *dst[p] = (fmx_str_t){g->key + off, len};
        off += len;
    }
    r->slots[i] = (uint32_t)(r->n_groups + 1);
    r->n_groups++;
    if (r->n_groups * 2 > r->n_slots && s_rehash(r) != 0) return NULL; /* the group is kept; retry finds it */
    return &r->groups[r->n_groups - 1];
oom:
    if (key != local) free(key);
    return NULL;
}

static int s_count(s_group_t *g, bool click) {
    if (!g) return -2;
    if (click)
        g->clicks++;
    else
        g->impressions++;
    return 0;
}

int fmx_report_add_line(fmx_report_t *r, const char *line, size_t len) {
    r->t.lines++;
    if (len > FMX_REPORT_LINE_MAX) {
        r->t.malformed++;
        return -1;
    }
    s_json_t j = {line, line + len, r->scratch, 0};
    s_event_t ev;
    if (s_parse_event(&j, &ev) != 0) {
        r->t.malformed++;
        return -1;
    }
    if (ev.ts < r->since) {
        r->t.before++;
        return 1;
    }
    bool click = s_is(ev.event, "click");
    if (!click && !s_is(ev.event, "impression")) {
        r->t.other++;
        return 1;
    }
    if (s_count(s_group(r, S_BY_SOURCE, ev.feed, ev.source, FMX_STR_LIT("")), click) != 0) return -2;
    for (size_t i = 0; i < ev.n_variants; i++)
        if (s_count(s_group(r, S_BY_VARIANT, ev.feed, ev.exps[i], ev.vars[i]), click) != 0) return -2;
    if (click)
        r->t.clicks++;
    else
        r->t.impressions++;
    return 0;
}

int fmx_report_read(fmx_report_t *r, FILE *in, char err[FMX_ERR_LEN]) {
    char chunk[65536];
    size_t len = 0;
    bool too_long = false;
    for (;;) {
        size_t n = fread(chunk, 1, sizeof chunk, in);
        for (size_t i = 0; i < n;) {
            const char *nl = memchr(chunk + i, '\n', n - i);
            size_t take = (nl ? (size_t)(nl - chunk) : n) - i;
            if (!too_long && take <= FMX_REPORT_LINE_MAX - len) {
                memcpy(r->line + len, chunk + i, take);
                len += take;
            } else {
                too_long = true;
            }
            i += take;
            if (!nl) break;
            i++; /* the newline */
            int rc = too_long ? fmx_report_add_line(r, r->line, FMX_REPORT_LINE_MAX + 1)
                              : len ? fmx_report_add_line(r, r->line, len) : 0;
            if (rc == -2) return fmx_err(err, "out of memory");
            len = 0;
            too_long = false;
        }
        if (n < sizeof chunk) {
            if (ferror(in)) return fmx_err(err, "read error: %s", strerror(errno));
            break;
        }
    }
    int rc = too_long ? fmx_report_add_line(r, r->line, FMX_REPORT_LINE_MAX + 1)
                      : len ? fmx_report_add_line(r, r->line, len) : 0;
    if (rc == -2) return fmx_err(err, "out of memory");
    return 0;
}

/* ---- statistics ----------------------------------------------------------------------------- */

int fmx_report_wilson(uint64_t k, uint64_t n, double z, double *lo, double *hi) {
    if (n == 0) return -1;
    if (k > n) k = n;
    double nn = (double)n, p = (double)k / nn, z2 = z * z;
    double denom = 1.0 + z2 / nn;
    double center = (p + z2 / (2.0 * nn)) / denom;
    double half = z * sqrt(p * (1.0 - p) / nn + z2 / (4.0 * nn * nn)) / denom;
    *lo = center - half < 0.0 ? 0.0 : center - half;
    *hi = center + half > 1.0 ? 1.0 : center + half;
    /* At k == 0 (or n) the bound is exactly 0 (or 1); rounding may leave 1e-17. */
    if (k == 0) *lo = 0.0;
    if (k == n) *hi = 1.0;
    return 0;
}

/* ---- output --------------------------------------------------------------------------------- */

static int s_cmp_str(fmx_str_t a, fmx_str_t b) {
    size_t n = a.len < b.len ? a.len : b.len;
    int c = n ? memcmp(a.ptr, b.ptr, n) : 0;
    return c ? c : (a.len > b.len) - (a.len < b.len);
}

static int s_cmp_group(const void *x, const void *y) {
    const s_group_t *a = *(const s_group_t *const *)x, *b = *(const s_group_t *const *)y;
    int c = s_cmp_str(a->feed, b->feed);
    if (!c) c = s_cmp_str(a->a, b->a);
    if (!c) c = s_cmp_str(a->b, b->b);
    return c;
}

/* Display width: UTF-8 code points (bytes that are not continuation bytes). */
static size_t s_width(fmx_str_t s) {
    size_t w = 0;
    for (size_t i = 0; i < s.len; i++) w += ((unsigned char)s.ptr[i] & 0xc0) != 0x80;
    return w;
}

/* A table cell: control characters (which could drive the terminal) become '?'. */
static void s_cell(FILE *out, fmx_str_t s, size_t width) {
    for (size_t i = 0; i < s.len; i++) {
        unsigned char c = (unsigned char)s.ptr[i];
        fputc(c < 0x20 || c == 0x7f ? '?' : c, out);
    }
    for (size_t w = s_width(s); w < width; w++) fputc(' ', out);
}

static void s_pct(char *buf, size_t cap, double v) {
    snprintf(buf, cap, "%.2f%%", v * 100.0);
}

typedef struct {
    char ctr[32], ci[64], imp[24], clk[24];
} s_cells_t;

static void s_cells(const s_group_t *g, s_cells_t *c) {
    snprintf(c->imp, sizeof c->imp, "%llu", (unsigned long long)g->impressions);
    snprintf(c->clk, sizeof c->clk, "%llu", (unsigned long long)g->clicks);
    double lo, hi;
    if (fmx_report_wilson(g->clicks, g->impressions, FMX_REPORT_Z95, &lo, &hi) != 0) {
        snprintf(c->ctr, sizeof c->ctr, "-");
        snprintf(c->ci, sizeof c->ci, "-");
        return;
    }
    s_pct(c->ctr, sizeof c->ctr, (double)g->clicks / (double)g->impressions);
    char l[24], h[24];
    s_pct(l, sizeof l, lo);
    s_pct(h, sizeof h, hi);
    snprintf(c->ci, sizeof c->ci, "[%s, %s]", l, h);
}

static void s_table(FILE *out, s_group_t **gs, size_t n, bool variants) {
    const char *head[] = {"FEED", variants ? "EXPERIMENT" : "SOURCE", "VARIANT", "IMPRESSIONS", "CLICKS", "CTR",
                          "95% CI"};
    size_t w[7];
    for (int i = 0; i < 7; i++) w[i] = strlen(head[i]);
    for (size_t i = 0; i < n; i++) {
        s_cells_t c;
        s_cells(gs[i], &c);
        size_t cw[7] = {s_width(gs[i]->feed), s_width(gs[i]->a), s_width(gs[i]->b), strlen(c.imp), strlen(c.clk),
                        strlen(c.ctr), strlen(c.ci)};
        for (int k = 0; k < 7; k++)
            if (cw[k] > w[k]) w[k] = cw[k];
    }
    for (int k = 0; k < 7; k++) {
        if (k == 2 && !variants) continue;
        /* numbers are right-aligned, names left-aligned */
        if (k >= 3 && k <= 5)
            fprintf(out, "%*s  ", (int)w[k], head[k]);
        else if (k == 6)
            fputs(head[k], out);
        else
            fprintf(out, "%-*s  ", (int)w[k], head[k]);
    }
    fputc('\n', out);
    for (size_t i = 0; i < n; i++) {
        s_cells_t c;
        s_cells(gs[i], &c);
        s_cell(out, gs[i]->feed, w[0]);
        fputs("  ", out);
        s_cell(out, gs[i]->a, w[1]);
        fputs("  ", out);
        if (variants) {
            s_cell(out, gs[i]->b, w[2]);
            fputs("  ", out);
        }
        fprintf(out, "%*s  %*s  %*s  %s\n", (int)w[3], c.imp, (int)w[4], c.clk, (int)w[5], c.ctr, c.ci);
    }
}

static void s_json_num(FILE *out, double v) {
    char buf[32];
    fputs(fmx_json_format_double(buf, v, 0), out);
}

static void s_json_groups(FILE *out, s_group_t **gs, size_t n, bool variants) {
    fputc('[', out);
    for (size_t i = 0; i < n; i++) {
        const s_group_t *g = gs[i];
        fputs(i ? ",\n    {\"feed\": " : "\n    {\"feed\": ", out);
        fmx_json_write_string(out, g->feed.ptr, g->feed.len);
        fputs(variants ? ", \"experiment\": " : ", \"source\": ", out);
        fmx_json_write_string(out, g->a.ptr, g->a.len);
        if (variants) {
            fputs(", \"variant\": ", out);
            fmx_json_write_string(out, g->b.ptr, g->b.len);
        }
        fprintf(out, ", \"impressions\": %llu, \"clicks\": %llu, \"ctr\": ", (unsigned long long)g->impressions,
                (unsigned long long)g->clicks);
        double lo, hi;
        if (fmx_report_wilson(g->clicks, g->impressions, FMX_REPORT_Z95, &lo, &hi) != 0) {
            fputs("null, \"ci95\": null}", out);
            continue;
        }
        s_json_num(out, (double)g->clicks / (double)g->impressions);
        fputs(", \"ci95\": [", out);
        s_json_num(out, lo);
        fputs(", ", out);
        s_json_num(out, hi);
        fputs("]}", out);
    }
    fputs(n ? "\n  ]" : "]", out);
}

static void s_since_text(char *buf, size_t cap, double since) {
    if (!isfinite(since)) {
        snprintf(buf, cap, "the beginning");
        return;
    }
    time_t t = (time_t)floor(since);
    struct tm tm;
    if (!gmtime_r(&t, &tm) || strftime(buf, cap, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0) snprintf(buf, cap, "%.3f", since);
}

int fmx_report_print(const fmx_report_t *r, FILE *out, bool json, const char *source) {
    s_group_t **sorted = malloc((r->n_groups ? r->n_groups : 1) * sizeof *sorted);
    if (!sorted) return -1;
    size_t n_src = 0, n_var = 0;
    for (size_t i = 0; i < r->n_groups; i++)
        if (r->groups[i].kind == S_BY_SOURCE) sorted[n_src++] = &r->groups[i];
    for (size_t i = 0; i < r->n_groups; i++)
        if (r->groups[i].kind == S_BY_VARIANT) sorted[n_src + n_var++] = &r->groups[i];
    qsort(sorted, n_src, sizeof *sorted, s_cmp_group);
    qsort(sorted + n_src, n_var, sizeof *sorted, s_cmp_group);
    const fmx_report_totals_t *t = &r->t;
    if (json) {
        fputs("{\n  \"events\": ", out);
        fmx_json_write_string(out, source, strlen(source));
        fputs(",\n  \"since\": ", out);
        if (isfinite(r->since))
            fprintf(out, "%.3f", r->since);
        else
            fputs("null", out);
        fprintf(out,
                ",\n  \"lines\": %llu,\n  \"malformed\": %llu,\n  \"before_since\": %llu,\n  \"other_events\": %llu,\n"
                "  \"impressions\": %llu,\n  \"clicks\": %llu,\n  \"by_source\": ",
                (unsigned long long)t->lines, (unsigned long long)t->malformed, (unsigned long long)t->before,
                (unsigned long long)t->other, (unsigned long long)t->impressions, (unsigned long long)t->clicks);
        s_json_groups(out, sorted, n_src, false);
        fputs(",\n  \"by_variant\": ", out);
        s_json_groups(out, sorted + n_src, n_var, true);
        fputs("\n}\n", out);
    } else {
        char since[64];
        s_since_text(since, sizeof since, r->since);
        fprintf(out, "events: %s since %s: %llu impressions, %llu clicks", source, since,
                (unsigned long long)t->impressions, (unsigned long long)t->clicks);
        fprintf(out, " (%llu lines; skipped %llu malformed, %llu older, %llu other events)\n\n",
                (unsigned long long)t->lines, (unsigned long long)t->malformed, (unsigned long long)t->before,
                (unsigned long long)t->other);
        fputs("per feed and source node\n", out);
        s_table(out, sorted, n_src, false);
        fputs("\nper feed and experiment variant\n", out);
        s_table(out, sorted + n_src, n_var, true);
    }
    free(sorted);
    return ferror(out) ? -1 : 0;
}

/* ---- command line ----------------------------------------------------------------------------- */

int fmx_report_parse_since(const char *s, double now, double *since, char err[FMX_ERR_LEN]) {
    size_t n = strlen(s);
    size_t digits = strspn(s, "0123456789");
    if (n >= 2 && digits == n - 1 && strchr("smhdw", s[n - 1])) {
        static const struct {
            char unit;
            double seconds;
        } units[] = {{'s', 1}, {'m', 60}, {'h', 3600}, {'d', 86400}, {'w', 604800}};
        double v = strtod(s, NULL), mul = 1;
        for (size_t i = 0; i < FMX_ARRAY_LEN(units); i++)
            if (units[i].unit == s[n - 1]) mul = units[i].seconds;
        *since = now - v * mul;
        return 0;
    }
    if (digits == n && n > 0 && n <= 12) {
        *since = strtod(s, NULL);
        return 0;
    }
    int y, mo, d, h = 0, mi = 0, sec = 0, used = 0;
    if (sscanf(s, "%4d-%2d-%2d%n", &y, &mo, &d, &used) == 3 && used == 10) {
        const char *rest = s + used;
        int more = 0;
        if (*rest == 'T' || *rest == ' ') {
            if (sscanf(rest + 1, "%2d:%2d%n", &h, &mi, &more) == 2 && more == 5) {
                rest += 1 + more;
                if (*rest == ':' && sscanf(rest + 1, "%2d%n", &sec, &more) == 1 && more == 2) rest += 3;
            } else {
                rest = "?";
            }
        }
        if (*rest == 'Z') rest++;
        if (*rest == '\0' && mo >= 1 && mo <= 12 && d >= 1 && d <= 31 && h <= 23 && mi <= 59 && sec <= 60 && h >= 0 &&
            mi >= 0 && sec >= 0) {
            struct tm tm = {.tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d, .tm_hour = h, .tm_min = mi, .tm_sec = sec};
            *since = (double)timegm(&tm);
            return 0;
        }
    }
    return fmx_err(err, "--since wants a duration (90s, 15m, 2h, 7d), unix seconds or a UTC date "
                        "(2026-01-01, 2026-01-01T12:00:00Z), got '%s'", s);
}

static void s_usage(FILE *out) {
    fputs("usage: feedctl report [--since WHEN] [--events FILE (" S_DEFAULT_EVENTS ")] [--json]\n"
          "Click-through per feed x source node and per feed x experiment variant, from the broker's\n"
          "events log: impressions, clicks, CTR and its 95% Wilson interval.\n"
          "WHEN: a duration back from now (90s, 15m, 2h, 7d), unix seconds, or a UTC date/time\n"
          "(2026-01-01, 2026-01-01T12:00:00Z). Malformed lines are skipped and counted.\n",
          out);
}

int fmx_report_main(int argc, char **argv) {
    enum { O_SINCE = 1, O_EVENTS, O_JSON };
    static const struct option opts[] = {
        {"since", required_argument, NULL, O_SINCE},
        {"events", required_argument, NULL, O_EVENTS},
        {"json", no_argument, NULL, O_JSON},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *path = S_DEFAULT_EVENTS;
    double since = -INFINITY;
    bool json = false;
    char err[FMX_ERR_LEN];
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case O_SINCE: {
            struct timespec now;
            clock_gettime(CLOCK_REALTIME, &now);
            if (fmx_report_parse_since(optarg, (double)now.tv_sec + now.tv_nsec / 1e9, &since, err) != 0) {
                fprintf(stderr, "feedctl report: %s\n", err);
                return 2;
            }
            break;
        }
        case O_EVENTS: path = optarg; break;
        case O_JSON: json = true; break;
        case 'h': s_usage(stdout); return 0;
        default: s_usage(stderr); return 2;
        }
    }
    if (optind < argc) {
        s_usage(stderr);
        return 2;
    }
    FILE *in = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (!in) {
        fprintf(stderr, "feedctl report: cannot open %s: %s\n", path, strerror(errno));
        return 1;
    }
    fmx_report_t *r = fmx_report_new(since);
    int rc = 1;
    if (!r) {
        fprintf(stderr, "feedctl report: out of memory\n");
    } else if (fmx_report_read(r, in, err) != 0) {
        fprintf(stderr, "feedctl report: %s: %s\n", path, err);
    } else if (fmx_report_print(r, stdout, json, path) != 0 || fflush(stdout) != 0) {
        fprintf(stderr, "feedctl report: cannot write the report\n");
    } else {
        fmx_report_totals_t t = fmx_report_totals(r);
        if (t.malformed) fprintf(stderr, "feedctl report: skipped %llu malformed lines\n", (unsigned long long)t.malformed);
        rc = 0;
    }
    fmx_report_destroy(&r);
    if (in != stdin) fclose(in);
    return rc;
}
