/* timers.h - timers ordered by expiry in a binary min-heap: O(log n) add/cancel, O(1) next.
 *
 * A timer is named by a handle that stays valid until it fires or is cancelled; cancelling a
 * handle that already fired is a harmless no-op (handles carry a generation). Callbacks run from
 * fmx_timers_run and may add or cancel timers, including their own. */
#ifndef FMX_TIMERS_H
#define FMX_TIMERS_H

#include <stddef.h>
#include <stdint.h>

typedef struct fmx_timers fmx_timers_t;
typedef uint64_t fmx_timer_t; /* 0 is never a valid handle */

typedef void (*fmx_timer_fn)(void *arg, uint64_t cookie, uint64_t now_us);

fmx_timers_t *fmx_timers_new(void);
void fmx_timers_destroy(fmx_timers_t **self_p);

/* Fires fn(arg, cookie, now) once at or after at_us (CLOCK_MONOTONIC). 0 on allocation failure. */
fmx_timer_t fmx_timers_add(fmx_timers_t *self, uint64_t at_us, fmx_timer_fn fn, void *arg, uint64_t cookie);
/* 0 if it was pending and is now cancelled, -1 if unknown, fired or already cancelled. */
int fmx_timers_cancel(fmx_timers_t *self, fmx_timer_t handle);

/* Expiry of the earliest timer, or UINT64_MAX when none. */
uint64_t fmx_timers_next(const fmx_timers_t *self);
/* Fires every timer due at now_us, earliest first; returns how many fired. */
size_t fmx_timers_run(fmx_timers_t *self, uint64_t now_us);
size_t fmx_timers_count(const fmx_timers_t *self);

/* Milliseconds until the next timer from now_us, for zmq_poll: -1 when none, 0 when due. */
long fmx_timers_poll_timeout_ms(const fmx_timers_t *self, uint64_t now_us);

#endif
