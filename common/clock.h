/* clock.h - all latency and deadlines use CLOCK_MONOTONIC microseconds. */
#ifndef FMX_CLOCK_H
#define FMX_CLOCK_H

#include <stdint.h>

uint64_t fmx_clock_now_us(void);   /* monotonic, for deadlines and latency */
uint64_t fmx_clock_wall_us(void);  /* CLOCK_REALTIME, for log timestamps only */

#endif
