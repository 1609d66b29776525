/* feedtrace.c - per-node-type latency histograms from the feedmix USDT probes, in the style of
 * libbpf-tools' funclatency.
 *
 * Attaches (pid -1: every running and future process) to the probes of feedmix-broker and
 * feedmix-actor, found next to this binary unless --broker-bin/--actor-bin say otherwise, and per
 * interval prints for each node type and replica pid a log2 histogram of
 *   - actor:              time in the actor (task__start -> task__done),
 *   - queue:              time in the broker's queue (inputs ready -> dispatch),
 *   - dispatch_to_result: broker-side round trip (dispatch -> result header).
 *
 * Flow: open -> set rodata -> load -> attach -> per interval flip the epoch and drain -> one
 * cleanup. Exit: 0 ok, 1 failure, 2 BPF not permitted or no kernel BTF, 64 usage (argp). */
#include <argp.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/types.h>

#include "common/fmx.h"
#include "feedtrace.h"
#include "feedtrace.skel.h"

#define EXIT_NOT_PERMITTED 2
#define BTF_PATH           "/sys/kernel/btf/vmlinux"
#define GRACE_NS           10000000L /* after an epoch flip: programs still on the old epoch finish */
#define BAR_WIDTH          40

typedef struct {
    uint32_t interval_s; /* 0: one report at the end */
    uint32_t duration_s; /* 0: until Ctrl-C */
    const char *node;
    uint32_t pids[FT_MAX_PIDS];
    uint32_t n_pids;
    bool json;
    const char *broker_bin, *actor_bin;
} s_opts_t;

typedef struct {
    struct ft_key key;
    struct ft_hist hist;
    uint64_t count;
} s_entry_t;

/* What a report needs: the loaded skeleton and scratch for one drain of the map. */
typedef struct {
    struct feedtrace_bpf *skel;
    struct ft_key *keys; /* FT_MAX_ENTRIES */
    s_entry_t *entries;  /* FT_MAX_ENTRIES */
} s_trace_t;

static volatile sig_atomic_t s_stop;
static bool s_verbose; /* libbpf's log callback takes no argument */

static const char *const s_kind_names[FT_KINDS] = {"actor", "queue", "dispatch_to_result"};
static const char *const s_kind_titles[FT_KINDS] = {"time in actor", "broker queue (ready -> dispatch)",
                                                    "dispatch -> result"};

/* --- options ----------------------------------------------------------------------------------- */

enum { O_BROKER_BIN = 0x100, O_ACTOR_BIN };

static const struct argp_option s_options[] = {
    {"interval", 'i', "SEC", 0, "Print (and reset) the histograms every SEC seconds (default: once, at the end)", 0},
    {"duration", 'd', "SEC", 0, "Stop after SEC seconds (default: at Ctrl-C)", 0},
    {"node", 'n', "TYPE", 0, "Only this node type", 0},
    {"pid", 'p', "PID", 0, "Only this replica (actor pid); may be repeated up to 16 times", 0},
    {"json", 'j', NULL, 0, "One JSON object per line and histogram instead of bar charts", 0},
    {"broker-bin", O_BROKER_BIN, "PATH", 0, "feedmix-broker binary (default: next to feedtrace)", 0},
    {"actor-bin", O_ACTOR_BIN, "PATH", 0, "feedmix-actor binary (default: next to feedtrace)", 0},
    {"verbose", 'v', NULL, 0, "libbpf's debug log on stderr", 0},
    {NULL, 0, NULL, 0, NULL, 0},
};

static const char s_doc[] =
    "Latency histograms per node type and replica from the feedmix USDT probes.\v"
    "Kinds: actor (time in the actor), queue (broker: inputs ready -> dispatch),\n"
    "dispatch_to_result (broker: dispatch -> result), in microseconds.\n"
    "Exit status: 0 ok, 1 failure, 2 BPF not permitted or no kernel BTF, 64 usage.\n\n"
    "Examples:\n"
    "  feedtrace -d 5               one report after 5 s\n"
    "  feedtrace -i 1 --node score  every second, score actors only\n"
    "  feedtrace --json -i 10       JSON lines every 10 s";

static error_t s_parse(int key, char *arg, struct argp_state *state) {
    s_opts_t *o = state->input;
    switch (key) {
    case 'i':
        if (fmx_parse_u32(arg, 1, 86400u * 365u, &o->interval_s) != 0) argp_error(state, "-i: seconds, at least 1");
        break;
    case 'd':
        if (fmx_parse_u32(arg, 1, 86400u * 365u, &o->duration_s) != 0) argp_error(state, "-d: seconds, at least 1");
        break;
    case 'n':
        if (!arg[0] || strlen(arg) >= FT_TYPE_LEN) argp_error(state, "--node: 1 to %d characters", FT_TYPE_LEN - 1);
        o->node = arg;
        break;
    case 'p':
        if (o->n_pids == FT_MAX_PIDS) argp_error(state, "--pid: at most %d", FT_MAX_PIDS);
        if (fmx_parse_u32(arg, 1, INT_MAX, &o->pids[o->n_pids]) != 0) argp_error(state, "--pid: a process id");
        o->n_pids++;
        break;
    case 'j': o->json = true; break;
    case O_BROKER_BIN: o->broker_bin = arg; break;
    case O_ACTOR_BIN: o->actor_bin = arg; break;
    case 'v': s_verbose = true; break;
    case ARGP_KEY_ARG: argp_error(state, "unexpected argument '%s'", arg); break;
    default: return ARGP_ERR_UNKNOWN;
    }
    return 0;
}

/* --- helpers ----------------------------------------------------------------------------------- */

/* Quiet unless -v, warnings included: main explains a failure once, in its own words. */
static int s_libbpf_print(enum libbpf_print_level level, const char *fmt, va_list args) {
    (void)level;
    return s_verbose ? vfprintf(stderr, fmt, args) : 0;
}

static void s_on_signal(int sig) {
    (void)sig;
    s_stop = 1;
}

/* <dir of this executable>/name into buf. 0 or -1. */
static int s_sibling(const char *name, char *buf, size_t cap) {
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0) return -1;
    self[n] = '\0';
    char *slash = strrchr(self, '/');
    if (!slash) return -1;
    *slash = '\0';
    int len = snprintf(buf, cap, "%s/%s", self, name);
    return len < 0 || (size_t)len >= cap ? -1 : 0;
}

static uint64_t s_now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void s_sleep_ns(uint64_t ns) {
    struct timespec ts = {(time_t)(ns / 1000000000u), (long)(ns % 1000000000u)};
    nanosleep(&ts, NULL); /* a signal cuts it short: the caller checks s_stop */
}

static int s_entry_cmp(const void *a, const void *b) {
    const s_entry_t *x = a, *y = b;
    if (x->key.kind != y->key.kind) return x->key.kind < y->key.kind ? -1 : 1;
    int c = strncmp(x->key.type, y->key.type, FT_TYPE_LEN);
    if (c) return c;
    return x->key.pid < y->key.pid ? -1 : x->key.pid > y->key.pid;
}

/* The pct-th percentile, estimated from the log2 histogram: the slot holding that rank, linearly
 * interpolated inside it, never above the observed max. */
static uint64_t s_percentile(const s_entry_t *e, uint32_t pct) {
    if (!e->count) return 0;
    uint64_t rank = (e->count * pct + 99) / 100, cum = 0;
    if (rank == 0) rank = 1;
    for (uint32_t s = 0; s < FT_MAX_SLOTS; s++) {
        uint64_t c = e->hist.slots[s];
        if (c && cum + c >= rank) {
            uint64_t lo = s ? 1ull << s : 0, hi = 1ull << (s + 1);
            uint64_t v = lo + (hi - lo) * (rank - cum) / c;
            return v < e->hist.max_us ? v : e->hist.max_us;
        }
        cum += c;
    }
    return e->hist.max_us;
}

/* Reads and deletes the histograms of one epoch (which: 0 or 1; -1 for both, at the end) into
 * t->entries, merging equal keys. Returns how many. */
static size_t s_drain(s_trace_t *t, int which) {
    int fd = bpf_map__fd(t->skel->maps.hists);
    struct ft_key *keys = t->keys;
    s_entry_t *entries = t->entries;
    size_t n_keys = 0;
    struct ft_key key, next;
    const void *prev = NULL;
    while (n_keys < FT_MAX_ENTRIES && bpf_map_get_next_key(fd, prev, &next) == 0) {
        if (which < 0 || next.epoch == (uint32_t)which) keys[n_keys++] = next;
        key = next;
        prev = &key;
    }
    size_t n = 0;
    for (size_t i = 0; i < n_keys; i++) {
        s_entry_t *e = &entries[n];
        if (bpf_map_lookup_elem(fd, &keys[i], &e->hist) != 0) continue;
        bpf_map_delete_elem(fd, &keys[i]);
        e->key = keys[i];
        e->key.epoch = 0;
        e->count = 0;
        for (int s = 0; s < FT_MAX_SLOTS; s++)
            e->count += e->hist.slots[s];
        if (!e->count) continue;
        /* The same histogram from both epochs (final drain): merge. */
        size_t k = 0;
        while (k < n && memcmp(&entries[k].key, &e->key, sizeof e->key) != 0)
            k++;
        if (k < n) {
            for (int s = 0; s < FT_MAX_SLOTS; s++)
                entries[k].hist.slots[s] += e->hist.slots[s];
            entries[k].hist.sum_us += e->hist.sum_us;
            if (e->hist.max_us > entries[k].hist.max_us) entries[k].hist.max_us = e->hist.max_us;
            entries[k].count += e->count;
            continue;
        }
        n++;
    }
    return n;
}

static void s_print_json_str(const char *s, size_t max) {
    putchar('"');
    for (size_t i = 0; i < max && s[i]; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\')
            printf("\\%c", c);
        else if (c < 0x20)
            printf("\\u%04x", c);
        else
            putchar(c);
    }
    putchar('"');
}

static void s_print_json(const s_entry_t *e, double ts) {
    printf("{\"ts\":%.3f,\"kind\":\"%s\",\"node\":", ts, s_kind_names[e->key.kind]);
    s_print_json_str(e->key.type, FT_TYPE_LEN);
    printf(",\"pid\":%" PRIu32 ",\"count\":%" PRIu64 ",\"p50_us\":%" PRIu64 ",\"p99_us\":%" PRIu64
           ",\"max_us\":%" PRIu64 ",\"hist\":[",
           e->key.pid, e->count, s_percentile(e, 50), s_percentile(e, 99), (uint64_t)e->hist.max_us);
    int last = FT_MAX_SLOTS - 1;
    while (last > 0 && !e->hist.slots[last])
        last--;
    for (int s = 0; s <= last; s++)
        printf("%s%" PRIu64, s ? "," : "", (uint64_t)e->hist.slots[s]);
    printf("]}\n");
}

/* funclatency's layout: one line per slot from the first to the last non-empty one. */
static void s_print_hist(const s_entry_t *e) {
    printf("\n%s, node %.*s, pid %" PRIu32 ": count %" PRIu64 ", avg %" PRIu64 " us, p50 %" PRIu64 " us, p99 %" PRIu64
           " us, max %" PRIu64 " us\n",
           s_kind_titles[e->key.kind], FT_TYPE_LEN, e->key.type, e->key.pid, e->count,
           (uint64_t)e->hist.sum_us / e->count, s_percentile(e, 50), s_percentile(e, 99), (uint64_t)e->hist.max_us);
    int first = 0, last = FT_MAX_SLOTS - 1;
    uint64_t peak = 0;
    while (first < last && !e->hist.slots[first])
        first++;
    while (last > first && !e->hist.slots[last])
        last--;
    for (int s = first; s <= last; s++)
        if (e->hist.slots[s] > peak) peak = e->hist.slots[s];
    printf("%*s%-*s : count    distribution\n", 10, "usecs", 14, "");
    for (int s = first; s <= last; s++) {
        uint64_t lo = s ? 1ull << s : 0, hi = (1ull << (s + 1)) - 1, c = e->hist.slots[s];
        int stars = peak ? (int)((c * BAR_WIDTH + peak - 1) / peak) : 0;
        printf("%10" PRIu64 " -> %-10" PRIu64 " : %-8" PRIu64 " |%-*.*s|\n", lo, hi, c, BAR_WIDTH, stars,
               "****************************************");
    }
}

static void s_report(s_trace_t *t, const s_opts_t *o, bool final) {
    struct feedtrace_bpf *skel = t->skel;
    s_entry_t *entries = t->entries;
    uint32_t old = __atomic_load_n(&skel->bss->epoch, __ATOMIC_SEQ_CST) & 1u;
    int which = -1;
    if (!final) {
        __atomic_store_n(&skel->bss->epoch, old ^ 1u, __ATOMIC_SEQ_CST);
        s_sleep_ns(GRACE_NS);
        which = (int)old;
    }
    size_t n = s_drain(t, which);
    qsort(entries, n, sizeof *entries, s_entry_cmp);
    struct timespec wall;
    clock_gettime(CLOCK_REALTIME, &wall);
    if (o->json) {
        double ts = (double)wall.tv_sec + (double)wall.tv_nsec / 1e9;
        for (size_t i = 0; i < n; i++)
            s_print_json(&entries[i], ts);
    } else {
        struct tm tm;
        char when[16];
        localtime_r(&wall.tv_sec, &tm);
        strftime(when, sizeof when, "%H:%M:%S", &tm);
        printf("\n%s%s\n", when, n > 0 ? "" : "  (no events)");
        for (size_t i = 0; i < n; i++)
            s_print_hist(&entries[i]);
    }
    uint64_t dropped = __atomic_exchange_n(&skel->bss->dropped, 0, __ATOMIC_SEQ_CST);
    if (dropped) fprintf(stderr, "feedtrace: %" PRIu64 " events dropped: histogram map full\n", dropped);
    fflush(stdout);
}

/* --- main -------------------------------------------------------------------------------------- */

static bool s_not_permitted(int err) {
    return err == EPERM || err == EACCES;
}

int main(int argc, char **argv) {
    s_opts_t o;
    memset(&o, 0, sizeof o);
    static const struct argp argp = {s_options, s_parse, NULL, s_doc, NULL, NULL, NULL};
    if (argp_parse(&argp, argc, argv, 0, NULL, &o) != 0) return 64;

    char broker_bin[PATH_MAX], actor_bin[PATH_MAX];
    if (!o.broker_bin) {
        if (s_sibling("feedmix-broker", broker_bin, sizeof broker_bin) != 0) {
            fprintf(stderr, "feedtrace: cannot locate feedmix-broker next to this binary; use --broker-bin\n");
            return 1;
        }
        o.broker_bin = broker_bin;
    }
    if (!o.actor_bin) {
        if (s_sibling("feedmix-actor", actor_bin, sizeof actor_bin) != 0) {
            fprintf(stderr, "feedtrace: cannot locate feedmix-actor next to this binary; use --actor-bin\n");
            return 1;
        }
        o.actor_bin = actor_bin;
    }
    const char *bins[] = {o.broker_bin, o.actor_bin};
    for (size_t i = 0; i < FMX_ARRAY_LEN(bins); i++) {
        if (access(bins[i], R_OK) != 0) {
            fprintf(stderr, "feedtrace: %s: %s (use --broker-bin/--actor-bin)\n", bins[i], strerror(errno));
            return 1;
        }
    }
    if (access(BTF_PATH, R_OK) != 0) {
        fprintf(stderr,
                "feedtrace: this kernel exposes no BTF (%s: %s); feedtrace needs a kernel built with "
                "CONFIG_DEBUG_INFO_BTF\n",
                BTF_PATH, strerror(errno));
        return EXIT_NOT_PERMITTED;
    }
    libbpf_set_print(s_libbpf_print);

    int rc = 1;
    s_trace_t t = {NULL, NULL, NULL};
    struct feedtrace_bpf *skel = t.skel = feedtrace_bpf__open();
    if (!skel) {
        int e = errno;
        fprintf(stderr, "feedtrace: cannot open the BPF object: %s\n", strerror(e));
        rc = s_not_permitted(e) ? EXIT_NOT_PERMITTED : 1;
        goto out;
    }
    if (o.node) {
        strncpy((char *)skel->rodata->targ_type, o.node, FT_TYPE_LEN - 1);
        skel->rodata->filter_type = true;
    }
    for (uint32_t i = 0; i < o.n_pids; i++)
        skel->rodata->targ_pids[i] = o.pids[i];
    skel->rodata->n_pids = o.n_pids;

    int err = feedtrace_bpf__load(skel);
    if (err) {
        int e = -err;
        if (e == EPERM) {
            fprintf(stderr,
                    "feedtrace: BPF is not permitted here (loading the programs failed: %s); run as root, or "
                    "with CAP_BPF and CAP_PERFMON\n",
                    strerror(e));
            rc = EXIT_NOT_PERMITTED;
        } else {
            fprintf(stderr, "feedtrace: loading the BPF programs failed: %s (run with -v for libbpf's log)\n",
                    strerror(e));
        }
        goto out;
    }

    struct {
        struct bpf_program *prog;
        struct bpf_link **link;
        const char *bin, *probe;
    } probes[] = {
        {skel->progs.task_start, &skel->links.task_start, o.actor_bin, "task__start"},
        {skel->progs.task_done, &skel->links.task_done, o.actor_bin, "task__done"},
        {skel->progs.node_dispatch, &skel->links.node_dispatch, o.broker_bin, "node__dispatch"},
        {skel->progs.node_result, &skel->links.node_result, o.broker_bin, "node__result"},
    };
    for (size_t i = 0; i < FMX_ARRAY_LEN(probes); i++) {
        *probes[i].link = bpf_program__attach_usdt(probes[i].prog, -1, probes[i].bin, "feedmix", probes[i].probe, NULL);
        if (!*probes[i].link) {
            int e = errno;
            fprintf(stderr, "feedtrace: attaching to feedmix:%s in %s failed: %s%s\n", probes[i].probe, probes[i].bin,
                    strerror(e),
                    s_not_permitted(e) ? " (BPF is not permitted here: run as root, or with CAP_BPF and CAP_PERFMON)"
                    : e == ENOENT      ? " (a binary built without the feedmix probes?)"
                                       : " (run with -v for libbpf's log)");
            rc = s_not_permitted(e) ? EXIT_NOT_PERMITTED : 1;
            goto out;
        }
    }
    t.entries = calloc(FT_MAX_ENTRIES, sizeof *t.entries);
    t.keys = calloc(FT_MAX_ENTRIES, sizeof *t.keys);
    if (!t.entries || !t.keys) {
        fprintf(stderr, "feedtrace: out of memory\n");
        goto out;
    }

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = s_on_signal; /* no SA_RESTART: the sleep returns early */
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    fprintf(stderr, "feedtrace: attached to %zu probes in %s and %s; %s\n", FMX_ARRAY_LEN(probes), o.broker_bin,
            o.actor_bin, o.duration_s ? "tracing" : "tracing until Ctrl-C");
    fflush(stderr);

    uint64_t start = s_now_ns();
    uint64_t end = o.duration_s ? start + (uint64_t)o.duration_s * 1000000000u : UINT64_MAX;
    uint64_t next = o.interval_s ? start + (uint64_t)o.interval_s * 1000000000u : UINT64_MAX;
    while (!s_stop) {
        uint64_t now = s_now_ns();
        if (now >= end) break;
        if (now >= next) {
            s_report(&t, &o, false);
            next += (uint64_t)o.interval_s * 1000000000u;
            continue;
        }
        uint64_t wake = next < end ? next : end;
        s_sleep_ns(wake - now);
    }
    s_report(&t, &o, true);
    rc = 0;
out:
    free(t.entries);
    free(t.keys);
    feedtrace_bpf__destroy(t.skel);
    return rc;
}
