/* scheduler.h - per node type FIFO queues of tasks waiting for a free replica.
 *
 * A queue is a bounded ring; when it is full the caller fails the node at once (overload must
 * not turn into unbounded memory). Entries whose deadline has passed are dropped on pop, never
 * sent. Entries may also go stale (their node was failed by its timer meanwhile): the caller
 * checks each popped task id and pops again. */
#ifndef FMX_SCHEDULER_H
#define FMX_SCHEDULER_H

#include <stddef.h>
#include <stdint.h>

typedef struct fmx_sched fmx_sched_t;

fmx_sched_t *fmx_sched_new(size_t max_per_type);
void fmx_sched_destroy(fmx_sched_t **self_p);

/* 0, or -1 when the type's queue is full or on allocation failure. */
int fmx_sched_push(fmx_sched_t *self, uint32_t type_index, uint64_t task_id, uint64_t deadline_us);
/* Pops the oldest entry of the type whose deadline is still ahead of now_us, dropping expired
 * ones on the way (counted in *dropped when non-NULL). 0 with *task_id set, or -1 when empty. */
int fmx_sched_pop(fmx_sched_t *self, uint32_t type_index, uint64_t now_us, uint64_t *task_id, size_t *dropped);
size_t fmx_sched_depth(const fmx_sched_t *self, uint32_t type_index);

#endif
