/* metrics_print.c - the broker's metrics as feedctl tables (tools/feedctl/metrics_print.h). */
#include "tools/feedctl/metrics_print.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "broker/metrics.h"

#define S_MAX_ROWS 65536
#define S_MAX_BUCKETS (FMX_METRICS_MAX_BUCKETS + 1)
#define S_LABEL_CAP (FMX_METRICS_VALUE_MAX * 2)

enum { S_FEED_OK, S_FEED_DEGRADED, S_FEED_ERROR, S_FEED_COLS };
enum { S_NODE_OK, S_NODE_FALLBACK, S_NODE_ERROR, S_NODE_TIMEOUT, S_NODE_LATE, S_NODE_COLS };
static const char *const s_feed_cols[S_FEED_COLS] = {"ok", "degraded", "error"};
static const char *const s_node_cols[S_NODE_COLS] = {"ok", "fallback", "error", "timeout", "late"};

typedef struct {
    bool is_node;
    char feed[S_LABEL_CAP], node[S_LABEL_CAP], type[S_LABEL_CAP];
    double counts[S_NODE_COLS];
    double le[S_MAX_BUCKETS], cum[S_MAX_BUCKETS]; /* in the order rendered: ascending, +Inf last */
    size_t n_buckets;
} s_row_t;

typedef struct {
    s_row_t *v;
    size_t n, cap;
    s_row_t *last; /* consecutive lines are usually the same series */
} s_rows_t;

static const char *s_label(const fmx_metrics_sample_t *s, const char *name) {
    const char *v = fmx_metrics_sample_label(s, name);
    return v ? v : "";
}

/* The row of (feed) or (feed, node, type), created when absent; NULL when out of room. */
static s_row_t *s_row(s_rows_t *rows, const fmx_metrics_sample_t *s, bool is_node) {
    const char *feed = s_label(s, "feed"), *node = is_node ? s_label(s, "node") : "",
               *type = is_node ? s_label(s, "type") : "";
    s_row_t *r = rows->last;
    if (!(r && r->is_node == is_node && !strcmp(r->feed, feed) && !strcmp(r->node, node) && !strcmp(r->type, type))) {
        r = NULL;
        for (size_t i = 0; i < rows->n && !r; i++) {
            s_row_t *c = &rows->v[i];
            if (c->is_node == is_node && !strcmp(c->feed, feed) && !strcmp(c->node, node) && !strcmp(c->type, type))
                r = c;
        }
    }
    if (!r) {
        if (rows->n == S_MAX_ROWS) return NULL;
        if (rows->n == rows->cap) {
            size_t cap = rows->cap ? rows->cap * 2 : 32;
            s_row_t *v = realloc(rows->v, cap * sizeof *v);
            if (!v) return NULL;
            rows->v = v;
            rows->cap = cap;
        }
        r = &rows->v[rows->n++];
        memset(r, 0, sizeof *r);
        r->is_node = is_node;
        snprintf(r->feed, sizeof r->feed, "%s", feed);
        snprintf(r->node, sizeof r->node, "%s", node);
        snprintf(r->type, sizeof r->type, "%s", type);
    }
    rows->last = r;
    return r;
}

static int s_column(const char *const *cols, size_t n, const char *value) {
    for (size_t i = 0; i < n; i++)
        if (strcmp(cols[i], value) == 0) return (int)i;
    return -1;
}

/* Folds one sample in; 0 or -1 when out of room. Samples of other metrics are ignored. */
static int s_fold(s_rows_t *rows, const fmx_metrics_sample_t *s) {
    bool node;
    if (strcmp(s->name, "feedmix_requests_total") == 0 || strcmp(s->name, "feedmix_node_outcomes_total") == 0) {
        node = s->name[8] == 'n';
        int col = node ? s_column(s_node_cols, S_NODE_COLS, s_label(s, "outcome"))
                       : s_column(s_feed_cols, S_FEED_COLS, s_label(s, "status"));
        if (col < 0) return 0;
        s_row_t *r = s_row(rows, s, node);
        if (!r) return -1;
        r->counts[col] += s->value;
        return 0;
    }
    if (strcmp(s->name, "feedmix_request_duration_seconds_bucket") != 0 &&
        strcmp(s->name, "feedmix_node_duration_seconds_bucket") != 0)
        return 0;
    node = s->name[8] == 'n';
    const char *le = fmx_metrics_sample_label(s, "le");
    if (!le) return 0;
    s_row_t *r = s_row(rows, s, node);
    if (!r) return -1;
    if (r->n_buckets < S_MAX_BUCKETS) {
        r->le[r->n_buckets] = strcmp(le, "+Inf") == 0 ? INFINITY : strtod(le, NULL);
        r->cum[r->n_buckets++] = s->value;
    }
    return 0;
}

/* "12.34" (ms) or "-" */
static void s_ms(char *buf, size_t cap, const s_row_t *r, double q) {
    double v = r->n_buckets ? fmx_metrics_quantile(q, r->le, r->cum, r->n_buckets) : NAN;
    if (isnan(v))
        snprintf(buf, cap, "-");
    else
        snprintf(buf, cap, "%.2f", v * 1000.0);
}

static int s_width(const s_rows_t *rows, bool node, int which, int min) {
    size_t w = (size_t)min;
    for (size_t i = 0; i < rows->n; i++) {
        const s_row_t *r = &rows->v[i];
        if (r->is_node != node) continue;
        size_t n = strlen(which == 0 ? r->feed : which == 1 ? r->node : r->type);
        if (n > w) w = n;
    }
    return w > 48 ? 48 : (int)w;
}

static void s_print(FILE *out, const s_rows_t *rows) {
    int fw = s_width(rows, false, 0, 4);
    fprintf(out, "%-*s %9s %9s %9s %9s %9s\n", fw, "FEED", "OK", "DEGRADED", "ERROR", "P50_MS", "P99_MS");
    for (size_t i = 0; i < rows->n; i++) {
        const s_row_t *r = &rows->v[i];
        if (r->is_node) continue;
        char p50[32], p99[32];
        s_ms(p50, sizeof p50, r, 0.5);
        s_ms(p99, sizeof p99, r, 0.99);
        fprintf(out, "%-*.*s %9.0f %9.0f %9.0f %9s %9s\n", fw, fw, r->feed, r->counts[S_FEED_OK],
                r->counts[S_FEED_DEGRADED], r->counts[S_FEED_ERROR], p50, p99);
    }
    int nf = s_width(rows, true, 0, 4), nn = s_width(rows, true, 1, 4), nt = s_width(rows, true, 2, 4);
    fprintf(out, "\n%-*s %-*s %-*s %9s %9s %9s %9s %9s %9s %9s\n", nf, "FEED", nn, "NODE", nt, "TYPE", "OK",
            "FALLBACK", "ERROR", "TIMEOUT", "LATE", "P50_MS", "P99_MS");
    for (size_t i = 0; i < rows->n; i++) {
        const s_row_t *r = &rows->v[i];
        if (!r->is_node) continue;
        char p50[32], p99[32];
        s_ms(p50, sizeof p50, r, 0.5);
        s_ms(p99, sizeof p99, r, 0.99);
        fprintf(out, "%-*.*s %-*.*s %-*.*s %9.0f %9.0f %9.0f %9.0f %9.0f %9s %9s\n", nf, nf, r->feed, nn, nn, r->node,
                nt, nt, r->type, r->counts[S_NODE_OK], r->counts[S_NODE_FALLBACK], r->counts[S_NODE_ERROR],
                r->counts[S_NODE_TIMEOUT], r->counts[S_NODE_LATE], p50, p99);
    }
}

int fmx_metrics_print_tables(FILE *out, const char *text, size_t len, char err[FMX_ERR_LEN]) {
    s_rows_t rows = {0};
    fmx_metrics_sample_t *s = malloc(sizeof *s);
    int rc = -1;
    if (!s) {
        fmx_err(err, "out of memory");
        goto done;
    }
    size_t line = 1;
    for (size_t at = 0; at < len; line++) {
        const char *nl = memchr(text + at, '\n', len - at);
        size_t end = nl ? (size_t)(nl - text) : len;
        char why[FMX_ERR_LEN];
        int got = fmx_metrics_parse_line(text + at, end - at, s, why);
        if (got < 0) {
            fmx_err(err, "metrics line %zu: %s", line, why);
            goto done;
        }
        if (got == 1 && s_fold(&rows, s) != 0) {
            fmx_err(err, "out of memory (or more than %d series)", S_MAX_ROWS);
            goto done;
        }
        at = end + 1;
    }
    s_print(out, &rows);
    rc = 0;
done:
    free(s);
    free(rows.v);
    return rc;
}
