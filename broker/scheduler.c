#include "broker/scheduler.h"

#include <stdlib.h>

typedef struct {
    uint64_t task_id, deadline_us;
} s_entry_t;

typedef struct {
    s_entry_t *ring;
    size_t cap, head, n; /* cap grows by doubling up to max */
} s_queue_t;

struct fmx_sched {
    s_queue_t *queues;
    size_t n_queues;
    size_t max_per_type;
};

fmx_sched_t *fmx_sched_new(size_t max_per_type) {
    if (max_per_type == 0) return NULL;
    fmx_sched_t *self = calloc(1, sizeof *self);
    if (self) self->max_per_type = max_per_type;
    return self;
}

void fmx_sched_destroy(fmx_sched_t **self_p) {
    if (!self_p || !*self_p) return;
    fmx_sched_t *self = *self_p;
    for (size_t i = 0; i < self->n_queues; i++) free(self->queues[i].ring);
    free(self->queues);
    free(self);
    *self_p = NULL;
}

static s_queue_t *s_queue(fmx_sched_t *self, uint32_t type_index, int create) {
    if (type_index < self->n_queues) return &self->queues[type_index];
    if (!create) return NULL;
    s_queue_t *queues = realloc(self->queues, (type_index + 1) * sizeof *queues);
    if (!queues) return NULL;
    for (size_t i = self->n_queues; i <= type_index; i++) queues[i] = (s_queue_t){0};
    self->queues = queues;
    self->n_queues = type_index + 1;
    return &self->queues[type_index];
}

static int s_grow(s_queue_t *q, size_t max) {
    size_t cap = q->cap ? q->cap * 2 : 16;
    if (cap > max) cap = max;
    s_entry_t *ring = malloc(cap * sizeof *ring);
    if (!ring) return -1;
    for (size_t i = 0; i < q->n; i++) ring[i] = q->ring[(q->head + i) % q->cap];
    free(q->ring);
    q->ring = ring;
    q->cap = cap;
    q->head = 0;
    return 0;
}

int fmx_sched_push(fmx_sched_t *self, uint32_t type_index, uint64_t task_id, uint64_t deadline_us) {
    s_queue_t *q = s_queue(self, type_index, 1);
    if (!q || q->n >= self->max_per_type) return -1;
    if (q->n == q->cap && s_grow(q, self->max_per_type) != 0) return -1;
    q->ring[(q->head + q->n) % q->cap] = (s_entry_t){task_id, deadline_us};
    q->n++;
    return 0;
}

int fmx_sched_pop(fmx_sched_t *self, uint32_t type_index, uint64_t now_us, uint64_t *task_id, size_t *dropped) {
    s_queue_t *q = s_queue(self, type_index, 0);
    while (q && q->n > 0) {
        s_entry_t e = q->ring[q->head];
        q->head = (q->head + 1) % q->cap;
        q->n--;
        if (e.deadline_us <= now_us) {
            if (dropped) (*dropped)++;
            continue;
        }
        *task_id = e.task_id;
        return 0;
    }
    return -1;
}

size_t fmx_sched_depth(const fmx_sched_t *self, uint32_t type_index) {
    return type_index < self->n_queues ? self->queues[type_index].n : 0;
}
