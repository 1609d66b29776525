#include "common/timers.h"

#include <stdlib.h>

/* Slots hold timer state and are recycled through a free list; the heap holds slot indices.
 * A handle is (generation << 32 | slot + 1), so a stale handle never matches a reused slot. */
typedef struct {
    uint64_t at_us;
    uint64_t seq;      /* insertion order: equal expiries fire first-in first-out */
    fmx_timer_fn fn;
    void *arg;
    uint64_t cookie;
    uint32_t gen;
    uint32_t heap_pos; /* UINT32_MAX when free */
} s_slot_t;

struct fmx_timers {
    s_slot_t *slots;
    uint32_t *heap;
    uint32_t *free_list;
    size_t n_slots, cap, n_heap, n_free;
    uint64_t seq;
};

fmx_timers_t *fmx_timers_new(void) { return calloc(1, sizeof(fmx_timers_t)); }

void fmx_timers_destroy(fmx_timers_t **self_p) {
    if (!self_p || !*self_p) return;
    fmx_timers_t *self = *self_p;
    free(self->slots);
    free(self->heap);
    free(self->free_list);
    free(self);
    *self_p = NULL;
}

static int s_before(const fmx_timers_t *self, uint32_t a, uint32_t b) {
    const s_slot_t *x = &self->slots[a], *y = &self->slots[b];
    return x->at_us < y->at_us || (x->at_us == y->at_us && x->seq < y->seq);
}

static void s_place(fmx_timers_t *self, size_t pos, uint32_t slot) {
    self->heap[pos] = slot;
    self->slots[slot].heap_pos = (uint32_t)pos;
}

static void s_sift_up(fmx_timers_t *self, size_t pos) {
    uint32_t slot = self->heap[pos];
    while (pos > 0) {
        size_t parent = (pos - 1) / 2;
        if (!s_before(self, slot, self->heap[parent])) break;
        s_place(self, pos, self->heap[parent]);
        pos = parent;
    }
    s_place(self, pos, slot);
}

static void s_sift_down(fmx_timers_t *self, size_t pos) {
    uint32_t slot = self->heap[pos];
    for (;;) {
        size_t child = 2 * pos + 1;
        if (child >= self->n_heap) break;
        if (child + 1 < self->n_heap && s_before(self, self->heap[child + 1], self->heap[child])) child++;
        if (!s_before(self, self->heap[child], slot)) break;
        s_place(self, pos, self->heap[child]);
        pos = child;
    }
    s_place(self, pos, slot);
}

static int s_grow(fmx_timers_t *self) {
    size_t cap = self->cap ? self->cap * 2 : 64;
    if (cap > UINT32_MAX - 1) return -1;
    s_slot_t *slots = realloc(self->slots, cap * sizeof *slots);
    if (!slots) return -1;
    self->slots = slots;
    uint32_t *heap = realloc(self->heap, cap * sizeof *heap);
    if (!heap) return -1;
    self->heap = heap;
    uint32_t *free_list = realloc(self->free_list, cap * sizeof *free_list);
    if (!free_list) return -1;
    self->free_list = free_list;
    self->cap = cap;
    return 0;
}

fmx_timer_t fmx_timers_add(fmx_timers_t *self, uint64_t at_us, fmx_timer_fn fn, void *arg, uint64_t cookie) {
    uint32_t slot;
    if (self->n_free > 0) {
        slot = self->free_list[--self->n_free];
    } else {
        if (self->n_slots == self->cap && s_grow(self) != 0) return 0;
        slot = (uint32_t)self->n_slots++;
        self->slots[slot].gen = 0;
    }
    s_slot_t *s = &self->slots[slot];
    s->at_us = at_us;
    s->seq = self->seq++;
    s->fn = fn;
    s->arg = arg;
    s->cookie = cookie;
    s->gen++;
    s->heap_pos = (uint32_t)self->n_heap;
    self->heap[self->n_heap++] = slot;
    s_sift_up(self, self->n_heap - 1);
    return ((uint64_t)s->gen << 32) | ((uint64_t)slot + 1);
}

static void s_remove_at(fmx_timers_t *self, size_t pos) {
    uint32_t slot = self->heap[pos];
    self->slots[slot].heap_pos = UINT32_MAX;
    self->free_list[self->n_free++] = slot;
    self->n_heap--;
    if (pos == self->n_heap) return;
    s_place(self, pos, self->heap[self->n_heap]);
    if (pos > 0 && s_before(self, self->heap[pos], self->heap[(pos - 1) / 2]))
        s_sift_up(self, pos);
    else
        s_sift_down(self, pos);
}

int fmx_timers_cancel(fmx_timers_t *self, fmx_timer_t handle) {
    uint64_t index = handle & 0xffffffffu;
    if (index == 0 || index > self->n_slots) return -1;
    s_slot_t *s = &self->slots[index - 1];
    if (s->gen != (uint32_t)(handle >> 32) || s->heap_pos == UINT32_MAX) return -1;
    s_remove_at(self, s->heap_pos);
    return 0;
}

uint64_t fmx_timers_next(const fmx_timers_t *self) {
    return self->n_heap ? self->slots[self->heap[0]].at_us : UINT64_MAX;
}

size_t fmx_timers_run(fmx_timers_t *self, uint64_t now_us) {
    size_t fired = 0;
    while (self->n_heap > 0 && self->slots[self->heap[0]].at_us <= now_us) {
        s_slot_t s = self->slots[self->heap[0]];
        s_remove_at(self, 0); /* before the call: the callback may add timers and reuse the slot */
        s.fn(s.arg, s.cookie, now_us);
        fired++;
    }
    return fired;
}

size_t fmx_timers_count(const fmx_timers_t *self) { return self->n_heap; }

long fmx_timers_poll_timeout_ms(const fmx_timers_t *self, uint64_t now_us) {
    uint64_t next = fmx_timers_next(self);
    if (next == UINT64_MAX) return -1;
    if (next <= now_us) return 0;
    /* Round up: waking a little late is fine, waking early spins. */
    uint64_t ms = (next - now_us + 999) / 1000;
    return ms > 60000 ? 60000 : (long)ms;
}
