#include "broker/registry.h"

#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

/* Identity -> replica: open addressing with linear probing and tombstones. Replica counts are
 * small (hundreds), but lookups happen on every message from an actor. */
#define S_EMPTY NULL
static fmx_replica_t s_tombstone_mark;
#define S_TOMBSTONE (&s_tombstone_mark)

struct fmx_registry {
    fmx_type_t *types;
    size_t n_types, cap_types;
    fmx_replica_t **table; /* power-of-two size */
    size_t table_size, n_live, n_used; /* used = live + tombstones */
};

fmx_registry_t *fmx_registry_new(void) {
    fmx_registry_t *self = calloc(1, sizeof *self);
    if (!self) return NULL;
    self->table_size = 64;
    self->table = calloc(self->table_size, sizeof *self->table);
    if (!self->table) {
        free(self);
        return NULL;
    }
    return self;
}

static void s_replica_free(fmx_replica_t *r) {
    if (!r) return;
    free(r->tasks);
    free(r);
}

void fmx_registry_destroy(fmx_registry_t **self_p) {
    if (!self_p || !*self_p) return;
    fmx_registry_t *self = *self_p;
    for (size_t i = 0; i < self->table_size; i++)
        if (self->table[i] != S_EMPTY && self->table[i] != S_TOMBSTONE) s_replica_free(self->table[i]);
    for (size_t i = 0; i < self->n_types; i++) free(self->types[i].replicas);
    free(self->types);
    free(self->table);
    free(self);
    *self_p = NULL;
}

long fmx_registry_type_find(const fmx_registry_t *self, const char *name, size_t len) {
    for (size_t i = 0; i < self->n_types; i++)
        if (strlen(self->types[i].name) == len && memcmp(self->types[i].name, name, len) == 0) return (long)i;
    return -1;
}

long fmx_registry_type(fmx_registry_t *self, const char *name, size_t len) {
    if (len == 0 || len >= FMX_TYPE_NAME_MAX) return -1;
    long found = fmx_registry_type_find(self, name, len);
    if (found >= 0) return found;
    if (self->n_types == self->cap_types) {
        size_t cap = self->cap_types ? self->cap_types * 2 : 16;
        fmx_type_t *types = realloc(self->types, cap * sizeof *types);
        if (!types) return -1;
        self->types = types;
        self->cap_types = cap;
    }
    fmx_type_t *t = &self->types[self->n_types];
    memset(t, 0, sizeof *t);
    memcpy(t->name, name, len);
    t->name[len] = '\0';
    return (long)self->n_types++;
}

size_t fmx_registry_type_count(const fmx_registry_t *self) { return self->n_types; }

const fmx_type_t *fmx_registry_type_at(const fmx_registry_t *self, size_t index) {
    return index < self->n_types ? &self->types[index] : NULL;
}

static size_t s_slot_of(const fmx_registry_t *self, const uint8_t *id, size_t len, int for_insert) {
    size_t mask = self->table_size - 1;
    size_t i = (size_t)XXH3_64bits(id, len) & mask;
    size_t first_tomb = SIZE_MAX;
    for (;;) {
        fmx_replica_t *r = self->table[i];
        if (r == S_EMPTY) return (for_insert && first_tomb != SIZE_MAX) ? first_tomb : i;
        if (r == S_TOMBSTONE) {
            if (first_tomb == SIZE_MAX) first_tomb = i;
        } else if (r->identity_len == len && memcmp(r->identity, id, len) == 0) {
            return i;
        }
        i = (i + 1) & mask;
    }
}

static int s_rehash(fmx_registry_t *self, size_t size) {
    fmx_replica_t **old = self->table;
    size_t old_size = self->table_size;
    fmx_replica_t **table = calloc(size, sizeof *table);
    if (!table) return -1;
    self->table = table;
    self->table_size = size;
    self->n_used = self->n_live;
    for (size_t i = 0; i < old_size; i++) {
        fmx_replica_t *r = old[i];
        if (r == S_EMPTY || r == S_TOMBSTONE) continue;
        self->table[s_slot_of(self, r->identity, r->identity_len, 1)] = r;
    }
    free(old);
    return 0;
}

fmx_replica_t *fmx_registry_find(const fmx_registry_t *self, const uint8_t *identity, size_t identity_len) {
    if (identity_len == 0 || identity_len > FMX_IDENTITY_MAX) return NULL;
    fmx_replica_t *r = self->table[s_slot_of(self, identity, identity_len, 0)];
    return (r == S_EMPTY || r == S_TOMBSTONE) ? NULL : r;
}

static int s_type_attach(fmx_registry_t *self, fmx_replica_t *r) {
    fmx_type_t *t = &self->types[r->type_index];
    if (t->n_replicas == t->cap_replicas) {
        size_t cap = t->cap_replicas ? t->cap_replicas * 2 : 8;
        fmx_replica_t **v = realloc(t->replicas, cap * sizeof *v);
        if (!v) return -1;
        t->replicas = v;
        t->cap_replicas = cap;
    }
    t->replicas[t->n_replicas++] = r;
    t->capacity += r->capacity;
    t->inflight += r->inflight;
    return 0;
}

static void s_type_detach(fmx_registry_t *self, fmx_replica_t *r) {
    fmx_type_t *t = &self->types[r->type_index];
    for (size_t i = 0; i < t->n_replicas; i++) {
        if (t->replicas[i] != r) continue;
        t->replicas[i] = t->replicas[--t->n_replicas];
        t->capacity -= r->capacity;
        t->inflight -= r->inflight;
        return;
    }
}

size_t fmx_registry_remove(fmx_registry_t *self, fmx_replica_t *replica, uint64_t *orphaned) {
    size_t n = 0;
    if (orphaned) {
        memcpy(orphaned, replica->tasks, replica->inflight * sizeof *orphaned);
        n = replica->inflight;
    }
    s_type_detach(self, replica);
    self->table[s_slot_of(self, replica->identity, replica->identity_len, 0)] = S_TOMBSTONE;
    self->n_live--;
    s_replica_free(replica);
    return n;
}

fmx_replica_t *fmx_registry_register(fmx_registry_t *self, const uint8_t *identity, size_t identity_len,
                                     const char *type, size_t type_len, uint32_t capacity, int64_t pid,
                                     const char *name, size_t name_len, uint64_t now_us) {
    if (identity_len == 0 || identity_len > FMX_IDENTITY_MAX || capacity == 0) return NULL;
    long type_index = fmx_registry_type(self, type, type_len);
    if (type_index < 0) return NULL;
    fmx_replica_t *r = fmx_registry_find(self, identity, identity_len);
    if (r && (r->type_index != (uint32_t)type_index || r->capacity != capacity)) {
        /* Changed shape: treat as a new replica; the caller re-dispatches what it had. */
        return NULL;
    }
    if (r) {
        r->pid = pid;
        r->last_seen_us = now_us;
        return r;
    }
    r = calloc(1, sizeof *r);
    if (!r) return NULL;
    r->tasks = calloc(capacity, sizeof *r->tasks);
    if (!r->tasks) {
        free(r);
        return NULL;
    }
    memcpy(r->identity, identity, identity_len);
    r->identity_len = identity_len;
    r->type_index = (uint32_t)type_index;
    if (name_len >= FMX_REPLICA_NAME_MAX) name_len = FMX_REPLICA_NAME_MAX - 1;
    memcpy(r->name, name, name_len);
    r->name[name_len] = '\0';
    r->pid = pid;
    r->capacity = capacity;
    r->last_seen_us = r->registered_us = now_us;
    if ((self->n_used + 1) * 4 > self->table_size * 3) {
        /* Rebuild at <= 50% load: grows when live entries need it, else just sweeps tombstones. */
        size_t size = self->table_size;
        while ((self->n_live + 1) * 2 > size) size *= 2;
        if (s_rehash(self, size) != 0) goto fail;
    }
    if (s_type_attach(self, r) != 0) goto fail;
    size_t slot = s_slot_of(self, identity, identity_len, 1);
    if (self->table[slot] == S_EMPTY) self->n_used++;
    self->table[slot] = r;
    self->n_live++;
    return r;
fail:
    s_replica_free(r);
    return NULL;
}

/* Is a less loaded than b (inflight/capacity compared without division; ties by tasks given)? */
static int s_less_loaded(const fmx_replica_t *a, const fmx_replica_t *b) {
    uint64_t lhs = (uint64_t)a->inflight * b->capacity, rhs = (uint64_t)b->inflight * a->capacity;
    return lhs < rhs || (lhs == rhs && a->tasks_total < b->tasks_total);
}

fmx_replica_t *fmx_registry_pick(fmx_registry_t *self, uint32_t type_index, uint64_t now_us) {
    return fmx_registry_pick_other(self, type_index, now_us, NULL);
}

fmx_replica_t *fmx_registry_pick_other(fmx_registry_t *self, uint32_t type_index, uint64_t now_us,
                                       const fmx_replica_t *exclude) {
    if (type_index >= self->n_types) return NULL;
    const fmx_type_t *t = &self->types[type_index];
    fmx_replica_t *best = NULL, *best_ejected = NULL;
    for (size_t i = 0; i < t->n_replicas; i++) {
        fmx_replica_t *r = t->replicas[i];
        if (r->inflight >= r->capacity || r == exclude) continue;
        fmx_replica_t **slot = r->ejected_until > now_us ? &best_ejected : &best;
        if (!*slot || s_less_loaded(r, *slot)) *slot = r;
    }
    return best ? best : best_ejected;
}

int fmx_registry_note_miss(fmx_registry_t *self, fmx_replica_t *replica, uint64_t now_us) {
    (void)self;
    if (++replica->misses < FMX_EJECT_AFTER_MISSES) return 0;
    if (replica->eject_backoff == 0) replica->eject_backoff = FMX_EJECT_BASE_US;
    replica->ejected_until = now_us + replica->eject_backoff;
    replica->eject_backoff = replica->eject_backoff * 2 > FMX_EJECT_MAX_US ? FMX_EJECT_MAX_US : replica->eject_backoff * 2;
    replica->misses = FMX_EJECT_AFTER_MISSES - 1; /* on probation: the next miss ejects again */
    replica->ejections++;
    return 1;
}

void fmx_registry_note_success(fmx_registry_t *self, fmx_replica_t *replica) {
    (void)self;
    replica->misses = 0;
    replica->eject_backoff = 0;
    replica->ejected_until = 0;
}

int fmx_registry_task_begin(fmx_registry_t *self, fmx_replica_t *replica, uint64_t task_id) {
    if (replica->inflight >= replica->capacity) return -1;
    replica->tasks[replica->inflight++] = task_id;
    replica->tasks_total++;
    self->types[replica->type_index].inflight++;
    return 0;
}

int fmx_registry_task_end(fmx_registry_t *self, fmx_replica_t *replica, uint64_t task_id) {
    for (uint32_t i = 0; i < replica->inflight; i++) {
        if (replica->tasks[i] != task_id) continue;
        replica->tasks[i] = replica->tasks[--replica->inflight];
        self->types[replica->type_index].inflight--;
        return 0;
    }
    return -1;
}

void fmx_registry_note_latency(fmx_registry_t *self, uint32_t type_index, uint64_t us) {
    if (type_index >= self->n_types) return;
    fmx_type_t *t = &self->types[type_index];
    /* The first sample seeds it; then 7/8 old + 1/8 new, as TCP smooths round-trip times. */
    t->latency_us = t->latency_us ? t->latency_us - t->latency_us / 8 + us / 8 : us;
    t->recent_us[t->next_recent] = us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
    t->next_recent = (t->next_recent + 1) % FMX_LATENCY_SAMPLES;
    if (t->n_recent < FMX_LATENCY_SAMPLES) t->n_recent++;
}

static int s_cmp_u32(const void *a, const void *b) {
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

uint64_t fmx_registry_latency_percentile(const fmx_registry_t *self, uint32_t type_index, unsigned pct) {
    if (type_index >= self->n_types || pct == 0 || pct > 99) return 0;
    const fmx_type_t *t = &self->types[type_index];
    if (t->n_recent < 16) return 0;
    uint32_t sorted[FMX_LATENCY_SAMPLES];
    memcpy(sorted, t->recent_us, t->n_recent * sizeof *sorted);
    qsort(sorted, t->n_recent, sizeof *sorted, s_cmp_u32);
    return sorted[(t->n_recent - 1) * pct / 100];
}

void fmx_registry_each(const fmx_registry_t *self, void (*fn)(void *arg, fmx_replica_t *r), void *arg) {
    for (size_t i = 0; i < self->table_size; i++) {
        fmx_replica_t *r = self->table[i];
        if (r != S_EMPTY && r != S_TOMBSTONE) fn(arg, r);
    }
}

size_t fmx_registry_replica_count(const fmx_registry_t *self) { return self->n_live; }

fmx_replica_t *fmx_registry_next_expired(const fmx_registry_t *self, uint64_t now_us, uint64_t max_silence_us) {
    fmx_replica_t *oldest = NULL;
    for (size_t i = 0; i < self->n_types; i++) {
        const fmx_type_t *t = &self->types[i];
        for (size_t j = 0; j < t->n_replicas; j++) {
            fmx_replica_t *r = t->replicas[j];
            if (r->last_seen_us >= now_us || now_us - r->last_seen_us <= max_silence_us) continue;
            if (!oldest || r->last_seen_us < oldest->last_seen_us) oldest = r;
        }
    }
    return oldest;
}
