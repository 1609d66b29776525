/* feedtrace.bpf.c - the kernel half of feedtrace: USDT programs on the feedmix probes
 * (common/probes.h) that fill log2 latency histograms keyed by node type and replica pid.
 *
 *   task__start / task__done (actor)  -> FT_KIND_ACTOR: time in the actor, measured here
 *   node__dispatch (broker)           -> FT_KIND_QUEUE: the probe's queue_us (hedge copies skipped)
 *   node__result (broker)             -> FT_KIND_D2R:   the probe's dispatch_to_result_us
 *
 * Tunables are const volatile (rodata), set by user space before load. */
#include "vmlinux.h"

#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/usdt.bpf.h>

#include "feedtrace.h"

const volatile char targ_type[FT_TYPE_LEN] = {};
const volatile bool filter_type = false;
const volatile __u32 targ_pids[FT_MAX_PIDS] = {};
const volatile __u32 n_pids = 0;

/* Flipped by user space at each interval (the skeleton's mmap'ed .bss). */
__u32 epoch = 0;
/* Events lost because the histogram map was full. */
__u64 dropped = 0;

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, FT_MAX_ENTRIES);
    __type(key, struct ft_key);
    __type(value, struct ft_hist);
} hists SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_LRU_HASH);
    __uint(max_entries, FT_MAX_TASKS);
    __type(key, struct ft_task_key);
    __type(value, __u64);
} starts SEC(".maps");

static const struct ft_hist zero_hist;

/* floor(log2(v)), 0 for v <= 1. */
static __always_inline __u32 s_log2(__u64 v) {
    __u32 r = 0, shift;
    shift = (v > 0xffffffffULL) << 5;
    v >>= shift;
    r |= shift;
    shift = (v > 0xffff) << 4;
    v >>= shift;
    r |= shift;
    shift = (v > 0xff) << 3;
    v >>= shift;
    r |= shift;
    shift = (v > 0xf) << 2;
    v >>= shift;
    r |= shift;
    shift = (v > 0x3) << 1;
    v >>= shift;
    r |= shift;
    r |= (__u32)(v >> 1);
    return r;
}

static __always_inline bool s_want_pid(__u32 pid) {
    if (!n_pids) return true;
    for (__u32 i = 0; i < FT_MAX_PIDS; i++) {
        if (i >= n_pids) break;
        if (targ_pids[i] == pid) return true;
    }
    return false;
}

static __always_inline bool s_want_type(const char *type) {
    if (!filter_type) return true;
    for (__u32 i = 0; i < FT_TYPE_LEN; i++) {
        if (type[i] != targ_type[i]) return false;
        if (!type[i]) break;
    }
    return true;
}

static __always_inline void s_record(__u32 kind, __u32 pid, const char *type_uptr, __u64 us) {
    struct ft_key key;
    __builtin_memset(&key, 0, sizeof key);
    if (bpf_probe_read_user_str(key.type, sizeof key.type, type_uptr) < 0) return;
    if (!s_want_type(key.type)) return;
    key.epoch = epoch & 1;
    key.kind = kind;
    key.pid = pid;
    struct ft_hist *h = bpf_map_lookup_elem(&hists, &key);
    if (!h) {
        bpf_map_update_elem(&hists, &key, &zero_hist, BPF_NOEXIST);
        h = bpf_map_lookup_elem(&hists, &key);
        if (!h) {
            __sync_fetch_and_add(&dropped, 1);
            return;
        }
    }
    __u32 slot = s_log2(us);
    if (slot >= FT_MAX_SLOTS) slot = FT_MAX_SLOTS - 1;
    __sync_fetch_and_add(&h->slots[slot], 1);
    __sync_fetch_and_add(&h->sum_us, us);
    if (us > h->max_us) h->max_us = us; /* racy between CPUs; a max off by one event is fine */
}

SEC("usdt")
int BPF_USDT(task_start, const char *type, __u64 task_id) {
    struct ft_task_key k = {.task_id = task_id, .pid = bpf_get_current_pid_tgid() >> 32, .pad = 0};
    if (!s_want_pid(k.pid)) return 0;
    __u64 ts = bpf_ktime_get_ns();
    bpf_map_update_elem(&starts, &k, &ts, BPF_ANY);
    return 0;
}

SEC("usdt")
int BPF_USDT(task_done, const char *type, __u64 task_id, int status, __u64 elapsed_us) {
    struct ft_task_key k = {.task_id = task_id, .pid = bpf_get_current_pid_tgid() >> 32, .pad = 0};
    if (!s_want_pid(k.pid)) return 0;
    __u64 *start = bpf_map_lookup_elem(&starts, &k);
    __u64 us = elapsed_us; /* a task that started before we attached: the actor's own measure */
    if (start) {
        us = (bpf_ktime_get_ns() - *start) / 1000;
        bpf_map_delete_elem(&starts, &k);
    }
    s_record(FT_KIND_ACTOR, k.pid, type, us);
    return 0;
}

SEC("usdt")
int BPF_USDT(node_dispatch, const char *request_id, const char *node, const char *type, __s64 pid, __u64 task_id,
             __u64 queue_us, int hedge) {
    if (hedge || !s_want_pid((__u32)pid)) return 0;
    s_record(FT_KIND_QUEUE, (__u32)pid, type, queue_us);
    return 0;
}

SEC("usdt")
int BPF_USDT(node_result, const char *request_id, const char *node, const char *type, __s64 pid, __u64 task_id,
             const char *outcome, __u64 d2r_us, __u64 actor_us, __u64 bytes) {
    /* task_id 0: the request is gone, so is its dispatch time. */
    if (!task_id || !s_want_pid((__u32)pid)) return 0;
    s_record(FT_KIND_D2R, (__u32)pid, type, d2r_us);
    return 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL"; /* bpf_probe_read_user_str is GPL-only */
