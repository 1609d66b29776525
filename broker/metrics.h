/* metrics.h - a metric registry: counters, gauges and fixed-bucket histograms, each a family of
 * series keyed by label values, rendered as Prometheus text exposition format 0.0.4; plus the
 * reading side (one sample line parsed back, a quantile from cumulative buckets) for feedctl.
 *
 * Not thread-safe: the broker updates and renders it on its one thread. Cardinality is bounded:
 * past max_series a new label set is not created, the update is dropped and counted
 * (rendered as feedmix_metrics_series_dropped_total). Histograms observe microseconds and render
 * seconds (every feedmix histogram is a duration), so bucket counts and sums are exact integers. */
#ifndef FMX_METRICS_H
#define FMX_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "common/fmx.h"

#define FMX_METRICS_MAX_FAMILIES 64
#define FMX_METRICS_MAX_LABELS 4     /* per family */
#define FMX_METRICS_MAX_BUCKETS 32   /* finite bounds per histogram; +Inf is implicit */
#define FMX_METRICS_VALUE_MAX 128    /* bytes of a label value kept; longer ones are truncated */
#define FMX_METRICS_NAME_MAX 128     /* metric and label names */

typedef enum { FMX_METRIC_COUNTER = 0, FMX_METRIC_GAUGE, FMX_METRIC_HISTOGRAM } fmx_metric_type_t;

typedef struct fmx_metrics fmx_metrics_t;

/* max_series: 1..1000000 series over all families. NULL on bad argument or allocation failure. */
fmx_metrics_t *fmx_metrics_new(size_t max_series);
void fmx_metrics_destroy(fmx_metrics_t **self_p);

/* Declares a family; families render in declaration order. Names are checked against the format
 * ([a-zA-Z_:][a-zA-Z0-9_:]* for metrics, [a-zA-Z_][a-zA-Z0-9_]* and not `le` or `__*` for labels).
 * For a histogram, bounds_us are its finite upper bounds in microseconds, strictly ascending;
 * other types pass NULL, 0. help and names are copied. Returns the family id (>= 0), or -1 with
 * err. */
int fmx_metrics_family(fmx_metrics_t *self, const char *name, const char *help, fmx_metric_type_t type,
                       const char *const *label_names, size_t n_labels, const uint64_t *bounds_us, size_t n_bounds,
                       char err[FMX_ERR_LEN]);

/* values: one NUL-terminated string per label of the family (NULL when it has none); any bytes
 * are allowed, the renderer escapes them. An unknown family id or a wrong type is a programmer
 * error (assert). */
/* Counter: adds v. */
void fmx_metrics_add(fmx_metrics_t *self, int family, const char *const *values, uint64_t v);
/* Counter or gauge: sets the value (a counter mirrored from a monotonic source, a gauge read at
 * scrape time). */
void fmx_metrics_set(fmx_metrics_t *self, int family, const char *const *values, double v);
/* Histogram: one observation of us microseconds. */
void fmx_metrics_observe(fmx_metrics_t *self, int family, const char *const *values, uint64_t us);

/* Series that exist, and updates dropped because the series cap was reached. */
size_t fmx_metrics_series(const fmx_metrics_t *self);
uint64_t fmx_metrics_dropped(const fmx_metrics_t *self);

/* The exposition text: 0 with *out (malloc'd, NUL-terminated, the caller frees) and *len, or -1 on
 * allocation failure. Every family gets its HELP and TYPE lines, even with no series yet. */
int fmx_metrics_render(const fmx_metrics_t *self, char **out, size_t *len);

/* --- reading the text back --------------------------------------------------------------------- */

#define FMX_METRICS_PARSE_LABELS 8

/* One sample line: name{label="value",...} value [timestamp]. Label values are unescaped. */
typedef struct {
    char name[FMX_METRICS_NAME_MAX];
    size_t n_labels;
    char label_names[FMX_METRICS_PARSE_LABELS][FMX_METRICS_NAME_MAX];
    char label_values[FMX_METRICS_PARSE_LABELS][FMX_METRICS_VALUE_MAX * 2];
    double value;
} fmx_metrics_sample_t;

/* Parses one line (without its '\n'). 1 with *out set for a sample, 0 for a blank or `#` line,
 * -1 with err when malformed (names or values too long, more than FMX_METRICS_PARSE_LABELS
 * labels, bad escapes, no value). */
int fmx_metrics_parse_line(const char *line, size_t len, fmx_metrics_sample_t *out, char err[FMX_ERR_LEN]);
/* The value of label `name` in s, or NULL. */
const char *fmx_metrics_sample_label(const fmx_metrics_sample_t *s, const char *name);

/* The q-quantile (0..1) of a histogram given its n buckets' upper bounds and cumulative counts,
 * the last bucket being +Inf, as Prometheus' histogram_quantile() computes it: linear within the
 * bucket holding the rank, the lowest bucket starting at 0, a rank in +Inf giving the highest
 * finite bound. NaN when the histogram is empty or the arguments are unusable. */
double fmx_metrics_quantile(double q, const double *upper, const double *cumulative, size_t n);

#endif
