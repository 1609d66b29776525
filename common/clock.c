#include "common/clock.h"

#include <time.h>

static uint64_t s_read(clockid_t id) {
    struct timespec ts;
    clock_gettime(id, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

uint64_t fmx_clock_now_us(void) { return s_read(CLOCK_MONOTONIC); }
uint64_t fmx_clock_wall_us(void) { return s_read(CLOCK_REALTIME); }
