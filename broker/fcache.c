#include "broker/fcache.h"

#include <stdlib.h>
#include <string.h>
#define XXH_STATIC_LINKING_ONLY /* XXH3_state_t on the stack */
#include <xxhash.h>

/* Entries live in a slab with a free list; a hash table of slab indices (linear probing, with
 * backward-shift deletion so there are no tombstones) finds them, and a doubly linked list in
 * recency order picks the victim. */
typedef struct {
    uint64_t key, stored_us;
    zmq_msg_t msg;
    uint32_t prev, next; /* recency list; S_NIL at the ends */
    uint32_t slot;       /* position in the table */
    int used;
} s_entry_t;

#define S_NIL UINT32_MAX

struct fmx_fcache {
    size_t max_bytes;
    uint64_t ttl_us;
    s_entry_t *entries;
    uint32_t n_entries, cap;
    uint32_t free_head;
    uint32_t *table; /* S_NIL or an entry index; size is a power of two >= 2 * cap */
    uint32_t table_mask;
    uint32_t head, tail; /* most and least recently used */
    fmx_fcache_stats_t stats;
};

fmx_fcache_t *fmx_fcache_new(size_t max_bytes, uint64_t ttl_us) {
    fmx_fcache_t *self = calloc(1, sizeof *self);
    if (!self) return NULL;
    self->max_bytes = max_bytes;
    self->ttl_us = ttl_us;
    self->head = self->tail = self->free_head = S_NIL;
    return self;
}

void fmx_fcache_destroy(fmx_fcache_t **self_p) {
    if (!self_p || !*self_p) return;
    fmx_fcache_t *self = *self_p;
    for (uint32_t i = 0; i < self->cap; i++)
        if (self->entries[i].used) zmq_msg_close(&self->entries[i].msg);
    free(self->entries);
    free(self->table);
    free(self);
    *self_p = NULL;
}

uint64_t fmx_fcache_key(const char *feed, const char *node, const void *params, size_t params_len) {
    XXH3_state_t st;
    XXH3_64bits_reset(&st);
    XXH3_64bits_update(&st, feed, strlen(feed) + 1); /* the NULs keep ("ab","c") apart from ("a","bc") */
    XXH3_64bits_update(&st, node, strlen(node) + 1);
    XXH3_64bits_update(&st, params, params_len);
    return XXH3_64bits_digest(&st);
}

static uint32_t s_find_slot(const fmx_fcache_t *self, uint64_t key) {
    uint32_t i = (uint32_t)key & self->table_mask;
    while (self->table[i] != S_NIL && self->entries[self->table[i]].key != key) i = (i + 1) & self->table_mask;
    return i;
}

static void s_unlink(fmx_fcache_t *self, uint32_t e) {
    s_entry_t *x = &self->entries[e];
    if (x->prev != S_NIL) self->entries[x->prev].next = x->next;
    else self->head = x->next;
    if (x->next != S_NIL) self->entries[x->next].prev = x->prev;
    else self->tail = x->prev;
}

static void s_push_front(fmx_fcache_t *self, uint32_t e) {
    s_entry_t *x = &self->entries[e];
    x->prev = S_NIL;
    x->next = self->head;
    if (self->head != S_NIL) self->entries[self->head].prev = e;
    self->head = e;
    if (self->tail == S_NIL) self->tail = e;
}

/* Removes entry e from the table (backward-shift delete), the list and the slab. */
static void s_remove(fmx_fcache_t *self, uint32_t e) {
    s_entry_t *x = &self->entries[e];
    uint32_t hole = x->slot;
    self->table[hole] = S_NIL;
    for (uint32_t i = (hole + 1) & self->table_mask; self->table[i] != S_NIL; i = (i + 1) & self->table_mask) {
        uint32_t home = (uint32_t)self->entries[self->table[i]].key & self->table_mask;
        /* Move back if the hole lies cyclically between home and i. */
        if (((i - home) & self->table_mask) >= ((i - hole) & self->table_mask)) {
            self->table[hole] = self->table[i];
            self->entries[self->table[hole]].slot = hole;
            self->table[i] = S_NIL;
            hole = i;
        }
    }
    s_unlink(self, e);
    self->stats.bytes -= zmq_msg_size(&x->msg);
    self->stats.entries--;
    zmq_msg_close(&x->msg);
    x->used = 0;
    x->next = self->free_head;
    self->free_head = e;
    self->n_entries--;
}

static int s_grow(fmx_fcache_t *self) {
    uint32_t cap = self->cap ? self->cap * 2 : 64;
    s_entry_t *entries = realloc(self->entries, cap * sizeof *entries);
    if (!entries) return -1;
    self->entries = entries;
    uint32_t size = cap * 2;
    uint32_t *table = malloc(size * sizeof *table);
    if (!table) return -1;
    for (uint32_t i = 0; i < size; i++) table[i] = S_NIL;
    free(self->table);
    self->table = table;
    self->table_mask = size - 1;
    for (uint32_t i = self->cap; i < cap; i++) {
        entries[i].used = 0;
        entries[i].next = self->free_head;
        self->free_head = i;
    }
    for (uint32_t i = 0; i < self->cap; i++) {
        if (!entries[i].used) continue;
        uint32_t slot = s_find_slot(self, entries[i].key);
        table[slot] = i;
        entries[i].slot = slot;
    }
    self->cap = cap;
    return 0;
}

int fmx_fcache_put(fmx_fcache_t *self, uint64_t key, zmq_msg_t *msg, uint64_t now_us) {
    size_t size = zmq_msg_size(msg);
    if (self->max_bytes == 0 || size > self->max_bytes) return 0;
    if (self->cap) {
        uint32_t slot = s_find_slot(self, key);
        if (self->table[slot] != S_NIL) s_remove(self, self->table[slot]);
    }
    while (self->tail != S_NIL && self->stats.bytes + size > self->max_bytes) {
        s_remove(self, self->tail);
        self->stats.evicted++;
    }
    if (self->free_head == S_NIL && s_grow(self) != 0) return -1;
    uint32_t e = self->free_head;
    s_entry_t *x = &self->entries[e];
    zmq_msg_init(&x->msg);
    if (zmq_msg_copy(&x->msg, msg) != 0) {
        zmq_msg_close(&x->msg);
        return -1;
    }
    self->free_head = x->next;
    x->used = 1;
    x->key = key;
    x->stored_us = now_us;
    x->slot = s_find_slot(self, key);
    self->table[x->slot] = e;
    s_push_front(self, e);
    self->n_entries++;
    self->stats.entries++;
    self->stats.bytes += size;
    return 0;
}

int fmx_fcache_get(fmx_fcache_t *self, uint64_t key, uint64_t now_us, zmq_msg_t *out) {
    if (!self->cap) {
        self->stats.misses++;
        return -1;
    }
    uint32_t e = self->table[s_find_slot(self, key)];
    if (e == S_NIL) {
        self->stats.misses++;
        return -1;
    }
    if (now_us - self->entries[e].stored_us > self->ttl_us) {
        s_remove(self, e);
        self->stats.expired++;
        self->stats.misses++;
        return -1;
    }
    zmq_msg_init(out);
    if (zmq_msg_copy(out, &self->entries[e].msg) != 0) {
        zmq_msg_close(out);
        return -1;
    }
    s_unlink(self, e);
    s_push_front(self, e);
    self->stats.hits++;
    return 0;
}

fmx_fcache_stats_t fmx_fcache_stats(const fmx_fcache_t *self) { return self->stats; }
