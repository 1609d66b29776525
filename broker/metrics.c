/* metrics.c - counters, gauges and histograms keyed by label values; Prometheus text 0.0.4
 * (broker/metrics.h).
 *
 * Series live in one array in creation order and are found through an open-addressing table
 * keyed by (family, label values), so an update is one hash of a few short strings and no
 * allocation once its series exists. */
#include "broker/metrics.h"

#include <assert.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_KEY_MAX (FMX_METRICS_MAX_LABELS * (FMX_METRICS_VALUE_MAX + 1))
#define S_DROPPED_NAME "feedmix_metrics_series_dropped_total"

typedef struct {
    char *name, *help;
    fmx_metric_type_t type;
    size_t n_labels;
    char *labels[FMX_METRICS_MAX_LABELS];
    uint64_t bounds[FMX_METRICS_MAX_BUCKETS];
    size_t n_bounds;
} s_family_t;

typedef struct {
    uint32_t family;
    uint64_t hash;
    char *key;          /* the label values, each NUL-terminated, back to back */
    size_t key_len;
    double value;       /* counter, gauge */
    uint64_t count, sum_us;
    uint64_t *buckets;  /* histogram: n_bounds + 1 per-bucket (not cumulative) counts */
} s_series_t;

struct fmx_metrics {
    s_family_t families[FMX_METRICS_MAX_FAMILIES];
    size_t n_families;
    s_series_t *series;
    size_t n_series, cap_series, max_series;
    uint32_t *table; /* series index + 1; 0 is empty */
    size_t table_mask;
    uint64_t dropped;
};

/* --- registry ---------------------------------------------------------------------------------- */

fmx_metrics_t *fmx_metrics_new(size_t max_series) {
    if (max_series == 0 || max_series > 1000000) return NULL;
    fmx_metrics_t *self = calloc(1, sizeof *self);
    if (!self) return NULL;
    self->max_series = max_series;
    size_t size = 16;
    while (size < 2 * max_series) size <<= 1; /* load factor <= 1/2 */
    self->table = calloc(size, sizeof *self->table);
    if (!self->table) goto fail;
    self->table_mask = size - 1;
    return self;
fail:
    fmx_metrics_destroy(&self);
    return NULL;
}

void fmx_metrics_destroy(fmx_metrics_t **self_p) {
    if (!self_p || !*self_p) return;
    fmx_metrics_t *self = *self_p;
    for (size_t i = 0; i < self->n_families; i++) {
        free(self->families[i].name);
        free(self->families[i].help);
        for (size_t k = 0; k < self->families[i].n_labels; k++) free(self->families[i].labels[k]);
    }
    for (size_t i = 0; i < self->n_series; i++) {
        free(self->series[i].key);
        free(self->series[i].buckets);
    }
    free(self->series);
    free(self->table);
    free(self);
    *self_p = NULL;
}

static bool s_name_ok(const char *s, bool colon) {
    if (!s || !*s || strlen(s) >= FMX_METRICS_NAME_MAX) return false;
    for (size_t i = 0; s[i]; i++) {
        char c = s[i];
        bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (colon && c == ':');
        if (!alpha && !(i > 0 && c >= '0' && c <= '9')) return false;
    }
    return true;
}

int fmx_metrics_family(fmx_metrics_t *self, const char *name, const char *help, fmx_metric_type_t type,
                       const char *const *label_names, size_t n_labels, const uint64_t *bounds_us, size_t n_bounds,
                       char err[FMX_ERR_LEN]) {
    if (self->n_families == FMX_METRICS_MAX_FAMILIES) return fmx_err(err, "too many metric families");
    if (!s_name_ok(name, true)) return fmx_err(err, "bad metric name '%s'", name ? name : "");
    for (size_t i = 0; i < self->n_families; i++)
        if (strcmp(self->families[i].name, name) == 0) return fmx_err(err, "metric '%s' declared twice", name);
    if (n_labels > FMX_METRICS_MAX_LABELS) return fmx_err(err, "metric '%s': too many labels", name);
    for (size_t k = 0; k < n_labels; k++) {
        const char *l = label_names[k];
        if (!s_name_ok(l, false) || strncmp(l, "__", 2) == 0 || (type == FMX_METRIC_HISTOGRAM && strcmp(l, "le") == 0))
            return fmx_err(err, "metric '%s': bad label name '%s'", name, l ? l : "");
    }
    if (type == FMX_METRIC_HISTOGRAM) {
        if (n_bounds == 0 || n_bounds > FMX_METRICS_MAX_BUCKETS)
            return fmx_err(err, "metric '%s': 1..%d buckets", name, FMX_METRICS_MAX_BUCKETS);
        for (size_t k = 1; k < n_bounds; k++)
            if (bounds_us[k] <= bounds_us[k - 1]) return fmx_err(err, "metric '%s': bounds must ascend", name);
    } else if (n_bounds) {
        return fmx_err(err, "metric '%s': only histograms have buckets", name);
    }
    s_family_t *f = &self->families[self->n_families];
    memset(f, 0, sizeof *f);
    f->type = type;
    f->name = strdup(name);
    f->help = strdup(help ? help : "");
    bool ok = f->name && f->help;
    for (size_t k = 0; k < n_labels; k++) {
        f->labels[k] = strdup(label_names[k]);
        ok = ok && f->labels[k];
        f->n_labels = k + 1;
    }
    if (!ok) {
        free(f->name);
        free(f->help);
        for (size_t k = 0; k < f->n_labels; k++) free(f->labels[k]);
        return fmx_err(err, "out of memory");
    }
    if (n_bounds) memcpy(f->bounds, bounds_us, n_bounds * sizeof *bounds_us);
    f->n_bounds = n_bounds;
    return (int)self->n_families++;
}

/* FNV-1a over the family id and the key bytes. */
static uint64_t s_hash(uint32_t family, const char *key, size_t len) {
    uint64_t h = 1469598103934665603ull ^ family;
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)key[i];
        h *= 1099511628211ull;
    }
    return h;
}

/* The series of (family, values), created when absent; NULL when the cap is reached or on
 * allocation failure (the update is dropped and counted). */
static s_series_t *s_series(fmx_metrics_t *self, int family, const char *const *values) {
    assert(family >= 0 && (size_t)family < self->n_families);
    const s_family_t *f = &self->families[family];
    char key[S_KEY_MAX];
    size_t len = 0;
    for (size_t k = 0; k < f->n_labels; k++) {
        const char *v = values && values[k] ? values[k] : "";
        size_t n = strnlen(v, FMX_METRICS_VALUE_MAX);
        memcpy(key + len, v, n);
        len += n;
        key[len++] = '\0';
    }
    uint64_t h = s_hash((uint32_t)family, key, len);
    size_t slot = (size_t)h & self->table_mask;
    for (; self->table[slot]; slot = (slot + 1) & self->table_mask) {
        s_series_t *s = &self->series[self->table[slot] - 1];
        if (s->hash == h && s->family == (uint32_t)family && s->key_len == len && memcmp(s->key, key, len) == 0)
            return s;
    }
    if (self->n_series == self->max_series) goto drop;
    if (self->n_series == self->cap_series) {
        size_t cap = self->cap_series ? self->cap_series * 2 : 64;
        if (cap > self->max_series) cap = self->max_series;
        s_series_t *grown = realloc(self->series, cap * sizeof *grown);
        if (!grown) goto drop;
        self->series = grown;
        self->cap_series = cap;
    }
    s_series_t *s = &self->series[self->n_series];
    memset(s, 0, sizeof *s);
    s->key = malloc(len ? len : 1);
    if (f->type == FMX_METRIC_HISTOGRAM) s->buckets = calloc(f->n_bounds + 1, sizeof *s->buckets);
    if (!s->key || (f->type == FMX_METRIC_HISTOGRAM && !s->buckets)) {
        free(s->key);
        free(s->buckets);
        goto drop;
    }
    memcpy(s->key, key, len);
    s->key_len = len;
    s->family = (uint32_t)family;
    s->hash = h;
    self->table[slot] = (uint32_t)++self->n_series;
    return s;
drop:
    self->dropped++;
    return NULL;
}

void fmx_metrics_add(fmx_metrics_t *self, int family, const char *const *values, uint64_t v) {
    assert(self->families[family].type == FMX_METRIC_COUNTER);
    s_series_t *s = s_series(self, family, values);
    if (s) s->value += (double)v;
}

void fmx_metrics_set(fmx_metrics_t *self, int family, const char *const *values, double v) {
    assert(self->families[family].type != FMX_METRIC_HISTOGRAM);
    s_series_t *s = s_series(self, family, values);
    if (s) s->value = v;
}

void fmx_metrics_observe(fmx_metrics_t *self, int family, const char *const *values, uint64_t us) {
    const s_family_t *f = &self->families[family];
    assert(f->type == FMX_METRIC_HISTOGRAM);
    s_series_t *s = s_series(self, family, values);
    if (!s) return;
    size_t b = 0;
    while (b < f->n_bounds && us > f->bounds[b]) b++; /* le: upper bounds are inclusive */
    s->buckets[b]++;
    s->count++;
    s->sum_us += us;
}

size_t fmx_metrics_series(const fmx_metrics_t *self) {
    return self->n_series;
}

uint64_t fmx_metrics_dropped(const fmx_metrics_t *self) {
    return self->dropped;
}

/* --- rendering --------------------------------------------------------------------------------- */

typedef struct {
    char *buf;
    size_t len, cap;
    bool oom;
} s_out_t;

static void s_reserve(s_out_t *o, size_t more) {
    if (o->oom || o->len + more + 1 <= o->cap) return;
    size_t cap = o->cap ? o->cap : 4096;
    while (cap < o->len + more + 1) cap *= 2;
    char *grown = realloc(o->buf, cap);
    if (!grown) {
        o->oom = true;
        return;
    }
    o->buf = grown;
    o->cap = cap;
}

static void s_put(s_out_t *o, const char *s, size_t n) {
    s_reserve(o, n);
    if (o->oom) return;
    memcpy(o->buf + o->len, s, n);
    o->len += n;
    o->buf[o->len] = '\0';
}

static void s_puts(s_out_t *o, const char *s) {
    s_put(o, s, strlen(s));
}

static void s_printf(s_out_t *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void s_printf(s_out_t *o, const char *fmt, ...) {
    char tmp[512]; /* names are < FMX_METRICS_NAME_MAX: every format here fits */
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n > 0) s_put(o, tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

/* Length of the valid UTF-8 sequence at p (at most left bytes), 0 when it is not one. */
static size_t s_utf8_len(const unsigned char *p, size_t left) {
    size_t n = p[0] < 0x80 ? 1 : (p[0] & 0xe0) == 0xc0 ? 2 : (p[0] & 0xf0) == 0xe0 ? 3 : (p[0] & 0xf8) == 0xf0 ? 4 : 0;
    if (n == 0 || n > left) return 0;
    for (size_t i = 1; i < n; i++)
        if ((p[i] & 0xc0) != 0x80) return 0;
    uint32_t cp = n == 1 ? p[0] : n == 2 ? p[0] & 0x1fu : n == 3 ? p[0] & 0x0fu : p[0] & 0x07u;
    for (size_t i = 1; i < n; i++) cp = (cp << 6) | (p[i] & 0x3fu);
    static const uint32_t min[5] = {0, 0, 0x80, 0x800, 0x10000}; /* overlong forms are invalid */
    if (cp < min[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
    return n;
}

/* Escapes per the format: in label values \ " and newline; in HELP \ and newline. Other control
 * bytes and invalid UTF-8 become '?', so the text is always valid UTF-8. */
static void s_escaped(s_out_t *o, const char *s, bool quote) {
    const unsigned char *p = (const unsigned char *)s;
    size_t left = strlen(s);
    while (left) {
        size_t n = s_utf8_len(p, left);
        if (n > 1) {
            s_put(o, (const char *)p, n);
        } else if (n == 0 || p[0] < 0x20 || p[0] == 0x7f) {
            s_put(o, p[0] == '\n' ? "\\n" : "?", p[0] == '\n' ? 2 : 1);
            n = 1;
        } else if (p[0] == '\\' || (quote && p[0] == '"')) {
            char esc[2] = {'\\', (char)p[0]};
            s_put(o, esc, 2);
        } else {
            s_put(o, (const char *)p, 1);
        }
        p += n;
        left -= n;
    }
}

/* Microseconds as decimal seconds, trailing zeros dropped: 5000 -> "0.005", 2000000 -> "2". */
static void s_seconds(s_out_t *o, uint64_t us) {
    char tmp[48];
    int n = snprintf(tmp, sizeof tmp, "%llu.%06llu", (unsigned long long)(us / 1000000u),
                     (unsigned long long)(us % 1000000u));
    while (n > 0 && tmp[n - 1] == '0') n--;
    if (n > 0 && tmp[n - 1] == '.') n--;
    s_put(o, tmp, (size_t)n);
}

static void s_value(s_out_t *o, double v) {
    if (isnan(v))
        s_puts(o, "NaN");
    else if (isinf(v))
        s_puts(o, v > 0 ? "+Inf" : "-Inf");
    else if (v == floor(v) && fabs(v) < 1e15)
        s_printf(o, "%.0f", v);
    else
        s_printf(o, "%.17g", v);
}

/* {l1="v1",l2="v2"[,le="..."]}: nothing when there are no labels and no le. */
static void s_labels(s_out_t *o, const s_family_t *f, const s_series_t *s, const char *le_text, uint64_t le_us,
                     bool le) {
    if (f->n_labels == 0 && !le) return;
    s_puts(o, "{");
    const char *v = s->key;
    for (size_t k = 0; k < f->n_labels; k++) {
        s_printf(o, "%s%s=\"", k ? "," : "", f->labels[k]);
        s_escaped(o, v, true);
        s_puts(o, "\"");
        v += strlen(v) + 1;
    }
    if (le) {
        s_puts(o, f->n_labels ? ",le=\"" : "le=\"");
        if (le_text)
            s_puts(o, le_text);
        else
            s_seconds(o, le_us);
        s_puts(o, "\"");
    }
    s_puts(o, "}");
}

static void s_histogram(s_out_t *o, const s_family_t *f, const s_series_t *s) {
    uint64_t cum = 0;
    for (size_t b = 0; b <= f->n_bounds; b++) {
        cum += s->buckets[b];
        s_printf(o, "%s_bucket", f->name);
        s_labels(o, f, s, b == f->n_bounds ? "+Inf" : NULL, b < f->n_bounds ? f->bounds[b] : 0, true);
        s_printf(o, " %llu\n", (unsigned long long)cum);
    }
    s_printf(o, "%s_sum", f->name);
    s_labels(o, f, s, NULL, 0, false);
    s_puts(o, " ");
    s_seconds(o, s->sum_us);
    s_printf(o, "\n%s_count", f->name);
    s_labels(o, f, s, NULL, 0, false);
    s_printf(o, " %llu\n", (unsigned long long)s->count);
}

int fmx_metrics_render(const fmx_metrics_t *self, char **out, size_t *len) {
    static const char *const type_names[] = {"counter", "gauge", "histogram"};
    s_out_t o = {0};
    s_reserve(&o, 0);
    for (size_t fi = 0; fi < self->n_families; fi++) {
        const s_family_t *f = &self->families[fi];
        s_printf(&o, "# HELP %s ", f->name);
        s_escaped(&o, f->help, false);
        s_printf(&o, "\n# TYPE %s %s\n", f->name, type_names[f->type]);
        for (size_t i = 0; i < self->n_series; i++) {
            const s_series_t *s = &self->series[i];
            if (s->family != fi) continue;
            if (f->type == FMX_METRIC_HISTOGRAM) {
                s_histogram(&o, f, s);
                continue;
            }
            s_puts(&o, f->name);
            s_labels(&o, f, s, NULL, 0, false);
            s_puts(&o, " ");
            s_value(&o, s->value);
            s_puts(&o, "\n");
        }
    }
    s_puts(&o, "# HELP " S_DROPPED_NAME " Metric updates dropped because the series limit was reached.\n"
               "# TYPE " S_DROPPED_NAME " counter\n" S_DROPPED_NAME " ");
    s_printf(&o, "%llu\n", (unsigned long long)self->dropped);
    if (o.oom) {
        free(o.buf);
        return -1;
    }
    *out = o.buf;
    *len = o.len;
    return 0;
}

/* --- parsing ----------------------------------------------------------------------------------- */

static bool s_name_char(char c, bool first, bool colon) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (colon && c == ':') ||
           (!first && c >= '0' && c <= '9');
}

/* Reads a name at line[*i] into out (cap bytes); -1 when absent or too long. */
static int s_parse_name(const char *line, size_t len, size_t *i, char *out, size_t cap, bool colon) {
    size_t n = 0;
    while (*i < len && s_name_char(line[*i], n == 0, colon)) {
        if (n + 1 >= cap) return -1;
        out[n++] = line[(*i)++];
    }
    out[n] = '\0';
    return n ? 0 : -1;
}

static void s_skip_spaces(const char *line, size_t len, size_t *i) {
    while (*i < len && (line[*i] == ' ' || line[*i] == '\t')) (*i)++;
}

int fmx_metrics_parse_line(const char *line, size_t len, fmx_metrics_sample_t *out, char err[FMX_ERR_LEN]) {
    size_t i = 0;
    s_skip_spaces(line, len, &i);
    if (i == len || line[i] == '#') return 0;
    memset(out, 0, sizeof *out);
    if (s_parse_name(line, len, &i, out->name, sizeof out->name, true) != 0)
        return fmx_err(err, "column %zu: expected a metric name", i + 1);
    if (i < len && line[i] == '{') {
        i++;
        for (;;) {
            s_skip_spaces(line, len, &i);
            if (i < len && line[i] == '}') break;
            if (out->n_labels == FMX_METRICS_PARSE_LABELS)
                return fmx_err(err, "more than %d labels", FMX_METRICS_PARSE_LABELS);
            char *name = out->label_names[out->n_labels], *value = out->label_values[out->n_labels];
            if (s_parse_name(line, len, &i, name, FMX_METRICS_NAME_MAX, false) != 0)
                return fmx_err(err, "column %zu: expected a label name", i + 1);
            s_skip_spaces(line, len, &i);
            if (i + 1 >= len || line[i] != '=' || line[i + 1] != '"')
                return fmx_err(err, "column %zu: expected =\" after label %s", i + 1, name);
            i += 2;
            size_t n = 0;
            for (;;) {
                if (i >= len) return fmx_err(err, "unterminated value of label %s", name);
                char c = line[i++];
                if (c == '"') break;
                if (c == '\\') {
                    if (i >= len) return fmx_err(err, "unterminated escape in label %s", name);
                    c = line[i++];
                    if (c == 'n')
                        c = '\n';
                    else if (c != '\\' && c != '"')
                        return fmx_err(err, "column %zu: bad escape \\%c", i, c);
                }
                if (n + 1 >= sizeof out->label_values[0]) return fmx_err(err, "value of label %s is too long", name);
                value[n++] = c;
            }
            value[n] = '\0';
            out->n_labels++;
            s_skip_spaces(line, len, &i);
            if (i < len && line[i] == ',') {
                i++;
                continue;
            }
            if (i < len && line[i] == '}') break;
            return fmx_err(err, "column %zu: expected , or } after label %s", i + 1, name);
        }
        i++; /* '}' */
    }
    size_t start = i;
    s_skip_spaces(line, len, &i);
    if (i == start || i == len) return fmx_err(err, "column %zu: expected a value", i + 1);
    char tok[64];
    size_t n = 0;
    while (i < len && line[i] != ' ' && line[i] != '\t') {
        if (n + 1 >= sizeof tok) return fmx_err(err, "value too long");
        tok[n++] = line[i++];
    }
    tok[n] = '\0';
    char *end;
    out->value = strtod(tok, &end);
    if (end == tok || *end) return fmx_err(err, "bad value '%s'", tok);
    s_skip_spaces(line, len, &i);
    if (i < len) { /* an optional integer timestamp */
        size_t t = i;
        if (line[i] == '-') i++;
        while (i < len && line[i] >= '0' && line[i] <= '9') i++;
        s_skip_spaces(line, len, &i);
        if (i == t || i < len) return fmx_err(err, "column %zu: trailing characters", t + 1);
    }
    return 1;
}

const char *fmx_metrics_sample_label(const fmx_metrics_sample_t *s, const char *name) {
    for (size_t k = 0; k < s->n_labels; k++)
        if (strcmp(s->label_names[k], name) == 0) return s->label_values[k];
    return NULL;
}

double fmx_metrics_quantile(double q, const double *upper, const double *cumulative, size_t n) {
    if (n < 2 || !(q >= 0 && q <= 1) || !isinf(upper[n - 1]) || !(cumulative[n - 1] > 0)) return NAN;
    double rank = q * cumulative[n - 1];
    size_t b = 0;
    while (b < n - 1 && cumulative[b] < rank) b++;
    if (b == n - 1) return upper[n - 2]; /* in +Inf: the highest finite bound is all we know */
    double lower = b ? upper[b - 1] : 0, below = b ? cumulative[b - 1] : 0;
    double in_bucket = cumulative[b] - below;
    if (b == 0 && upper[0] <= 0) return upper[0];
    if (!(in_bucket > 0)) return lower;
    return lower + (upper[b] - lower) * ((rank - below) / in_bucket);
}
