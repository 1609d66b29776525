/* registry.h - actor replicas known to the broker, grouped by node type.
 *
 * A replica is named by its ROUTER identity. It registers with `ready` (type, capacity, pid),
 * stays alive while any message arrives within liveness x heartbeat, and carries the ids of the
 * tasks in flight on it so they can be re-dispatched when it dies. Types are created on first
 * mention (a feed may name a type before any replica of it registers) and never removed. */
#ifndef FMX_REGISTRY_H
#define FMX_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FMX_IDENTITY_MAX 255
#define FMX_TYPE_NAME_MAX 64
#define FMX_REPLICA_NAME_MAX 64

typedef struct fmx_registry fmx_registry_t;

#define FMX_LATENCY_SAMPLES 64

typedef struct fmx_replica {
    uint8_t identity[FMX_IDENTITY_MAX];
    size_t identity_len;
    uint32_t type_index;
    char name[FMX_REPLICA_NAME_MAX];
    int64_t pid;
    uint32_t capacity;
    uint32_t inflight;     /* tasks sent and not answered; their ids are in tasks[] */
    uint64_t *tasks;       /* capacity entries */
    uint64_t tasks_total;  /* dispatched to it, ever */
    uint64_t last_seen_us; /* any message */
    uint64_t registered_us;
    /* outlier ejection */
    uint32_t misses;         /* deadlines missed in a row */
    uint64_t ejected_until;  /* out of rotation until then (0: in rotation) */
    uint64_t eject_backoff;  /* next ejection's length; doubles while it keeps failing */
    uint64_t ejections;      /* times ejected, ever */
} fmx_replica_t;

#define FMX_EJECT_AFTER_MISSES 3
#define FMX_EJECT_BASE_US 1000000u    /* 1 s */
#define FMX_EJECT_MAX_US 30000000u    /* 30 s */

typedef struct {
    char name[FMX_TYPE_NAME_MAX];
    fmx_replica_t **replicas;
    size_t n_replicas, cap_replicas;
    uint64_t capacity;     /* sum over replicas */
    uint64_t inflight;     /* sum over replicas */
    uint64_t latency_us;   /* smoothed dispatch-to-result time (EWMA, 1/8); 0 until measured */
    uint32_t recent_us[FMX_LATENCY_SAMPLES]; /* the last samples, a ring, for percentiles */
    uint32_t n_recent, next_recent;
} fmx_type_t;

fmx_registry_t *fmx_registry_new(void);
void fmx_registry_destroy(fmx_registry_t **self_p);

/* Index of a type by name, creating it when absent; -1 when the name is empty or too long,
 * or on allocation failure. */
long fmx_registry_type(fmx_registry_t *self, const char *name, size_t len);
/* Existing type index or -1. */
long fmx_registry_type_find(const fmx_registry_t *self, const char *name, size_t len);
size_t fmx_registry_type_count(const fmx_registry_t *self);
const fmx_type_t *fmx_registry_type_at(const fmx_registry_t *self, size_t index);

/* Registers the replica with this identity, or refreshes it (pid, liveness) when it is already
 * registered with the same type and capacity; in-flight tasks are kept. Returns NULL on bad
 * arguments, allocation failure, or when the identity is registered with another type or
 * capacity: the caller removes that replica first (re-dispatching its tasks) and retries. */
fmx_replica_t *fmx_registry_register(fmx_registry_t *self, const uint8_t *identity, size_t identity_len,
                                     const char *type, size_t type_len, uint32_t capacity, int64_t pid,
                                     const char *name, size_t name_len, uint64_t now_us);
fmx_replica_t *fmx_registry_find(const fmx_registry_t *self, const uint8_t *identity, size_t identity_len);

/* Removes and frees a replica. Its in-flight task ids are copied to orphaned[] (room for
 * replica->inflight entries) first when orphaned is non-NULL; returns how many. */
size_t fmx_registry_remove(fmx_registry_t *self, fmx_replica_t *replica, uint64_t *orphaned);

/* The least-loaded replica of a type with room for one more task (lowest inflight/capacity,
 * ties to the one that has been given fewest tasks), or NULL when all are full or none exist.
 * Ejected replicas are used only when no replica in rotation has room: ejection must never
 * leave a type with nothing to run on. */
fmx_replica_t *fmx_registry_pick(fmx_registry_t *self, uint32_t type_index, uint64_t now_us);

/* Outlier ejection. A miss is a task that outlived its deadline on the replica; after
 * FMX_EJECT_AFTER_MISSES in a row it leaves rotation for a back-off (1 s, doubling to 30 s while it
 * keeps failing), then is probed with real traffic: one more miss ejects it again, a success
 * restores it. note_miss returns 1 when this miss ejected it. */
int fmx_registry_note_miss(fmx_registry_t *self, fmx_replica_t *replica, uint64_t now_us);
void fmx_registry_note_success(fmx_registry_t *self, fmx_replica_t *replica);

/* Books / releases a task on a replica. task_begin fails (-1) when it is full. task_end returns
 * 0 when the task was in flight there, -1 otherwise (a late or duplicate reply). */
int fmx_registry_task_begin(fmx_registry_t *self, fmx_replica_t *replica, uint64_t task_id);
int fmx_registry_task_end(fmx_registry_t *self, fmx_replica_t *replica, uint64_t task_id);

/* Folds one dispatch-to-result time into the type's smoothed latency and its recent samples. */
void fmx_registry_note_latency(fmx_registry_t *self, uint32_t type_index, uint64_t us);
/* The pct-th percentile (1..99) of the type's recent latencies, or 0 with fewer than 16 samples. */
uint64_t fmx_registry_latency_percentile(const fmx_registry_t *self, uint32_t type_index, unsigned pct);
/* As fmx_registry_pick, but never `exclude` (a hedge goes to another replica). */
fmx_replica_t *fmx_registry_pick_other(fmx_registry_t *self, uint32_t type_index, uint64_t now_us,
                                       const fmx_replica_t *exclude);

/* Calls fn for every replica (removal inside fn is not allowed). */
void fmx_registry_each(const fmx_registry_t *self, void (*fn)(void *arg, fmx_replica_t *r), void *arg);
size_t fmx_registry_replica_count(const fmx_registry_t *self);
/* The replica silent for longer than max_silence_us, the one silent longest; NULL if none. */
fmx_replica_t *fmx_registry_next_expired(const fmx_registry_t *self, uint64_t now_us, uint64_t max_silence_us);

#endif
