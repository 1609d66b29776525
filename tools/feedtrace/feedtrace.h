/* feedtrace.h - what feedtrace.bpf.c and feedtrace.c share: the histogram map's key and value.
 *
 * The BPF side keeps one log2 histogram per (epoch, kind, replica pid, node type). User space
 * flips `epoch` at each interval, waits for programs still running on the old epoch to finish,
 * then reads and deletes the old epoch's entries: no event falls between a read and a delete, so
 * the counts of successive intervals add up exactly. */
#ifndef FEEDTRACE_H
#define FEEDTRACE_H

#define FT_TYPE_LEN    32    /* node type names are short identifiers; longer ones are cut */
#define FT_MAX_SLOTS   32    /* slot k counts values in [2^k, 2^(k+1)) us; slot 0 also holds 0 */
#define FT_MAX_PIDS    16    /* --pid may be given this many times */
#define FT_MAX_ENTRIES 8192  /* histograms per epoch and kind, summed: 2 epochs x 3 kinds x types x pids */
#define FT_MAX_TASKS   16384 /* task__start times awaiting their task__done (LRU) */

enum ft_kind {
    FT_KIND_ACTOR = 0, /* task__start -> task__done in the actor process */
    FT_KIND_QUEUE = 1, /* broker: inputs ready -> dispatched to a replica (node__dispatch) */
    FT_KIND_D2R = 2,   /* broker: dispatched -> result header back (node__result) */
    FT_KINDS
};

struct ft_key {
    __u32 epoch; /* 0 or 1 */
    __u32 kind;  /* enum ft_kind */
    __u32 pid;   /* the replica: actor process id */
    char type[FT_TYPE_LEN];
};

struct ft_hist {
    __u64 slots[FT_MAX_SLOTS];
    __u64 sum_us;
    __u64 max_us;
};

struct ft_task_key {
    __u64 task_id;
    __u32 pid;
    __u32 pad; /* zeroed: hashed with the key */
};

#endif
