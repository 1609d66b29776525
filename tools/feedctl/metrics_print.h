/* metrics_print.h - the Prometheus exposition of the broker (broker/metrics_sink.h) as tables, for
 * `feedctl stats`: per feed the requests by status and p50/p99 of their duration, per node its
 * outcomes and p50/p99. Percentiles are estimated from the histogram buckets the way Prometheus'
 * histogram_quantile() does (fmx_metrics_quantile), so they are as coarse as the buckets. */
#ifndef FMX_METRICS_PRINT_H
#define FMX_METRICS_PRINT_H

#include <stddef.h>
#include <stdio.h>

#include "common/fmx.h"

/* Parses text[0..len) and prints the two tables. 0, or -1 with err (a malformed line, out of
 * memory); nothing is printed on error. */
int fmx_metrics_print_tables(FILE *out, const char *text, size_t len, char err[FMX_ERR_LEN]);

#endif
