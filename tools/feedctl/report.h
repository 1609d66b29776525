/* report.h - `feedctl report`: click-through from the broker's events log (broker/events.h).
 *
 * Reads the JSON lines, keeps `impression` and `click` events at or after --since, and prints per
 * feed x source node and per feed x experiment x variant: impressions, clicks, CTR = clicks /
 * impressions and its 95 % Wilson score interval, as an aligned table or JSON. A line that is not
 * one JSON object with a numeric `ts` and string `event`, `feed` and `source` (and, when present,
 * `variants` as an object of strings) is skipped and counted, never fatal; so is a line longer
 * than FMX_REPORT_LINE_MAX. */
#ifndef FMX_REPORT_H
#define FMX_REPORT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "common/fmx.h"

#define FMX_REPORT_LINE_MAX 65536
#define FMX_REPORT_Z95 1.959963984540054 /* the standard normal's 97.5th percentile */

typedef struct fmx_report fmx_report_t;

typedef struct {
    uint64_t lines;      /* read, malformed included */
    uint64_t malformed;  /* skipped: not an event line, or too long */
    uint64_t before;     /* skipped: older than since */
    uint64_t other;      /* valid events other than impression and click */
    uint64_t impressions, clicks;
} fmx_report_totals_t;

/* since: unix seconds; events with an earlier `ts` are skipped (-INFINITY keeps all). NULL on OOM. */
fmx_report_t *fmx_report_new(double since);
void fmx_report_destroy(fmx_report_t **self_p);

/* One line without its newline. 0 counted, 1 skipped (before since, or another event), -1
 * malformed (counted in totals), -2 out of memory. */
int fmx_report_add_line(fmx_report_t *self, const char *line, size_t len);
/* Every line of in. 0, or -1 on a read error or out of memory (err says which). */
int fmx_report_read(fmx_report_t *self, FILE *in, char err[FMX_ERR_LEN]);
fmx_report_totals_t fmx_report_totals(const fmx_report_t *self);

/* Both tables (or one JSON object when json) to out; groups sorted by name. source names the log
 * in the header. 0, or -1 on a write error or out of memory. */
int fmx_report_print(const fmx_report_t *self, FILE *out, bool json, const char *source);

/* The Wilson score interval of k successes in n trials at quantile z: 0 with *lo, *hi in [0, 1];
 * -1 (nothing set) when n is 0. k > n is treated as k = n. */
int fmx_report_wilson(uint64_t k, uint64_t n, double z, double *lo, double *hi);

/* --since: a duration back from now ("90s", "15m", "2h", "7d"), unix seconds ("1767225600"), or
 * UTC ISO 8601 ("2026-01-01", "2026-01-01T12:00:00Z"). 0 with *since in unix seconds, or -1. */
int fmx_report_parse_since(const char *s, double now, double *since, char err[FMX_ERR_LEN]);

/* `feedctl report [--since WHEN] [--events FILE] [--json]`: argv[0] is "report". Exit code. */
int fmx_report_main(int argc, char **argv);

#endif
