/* feedmix-supervise - starts the broker and the actors of configs/cluster.yaml and keeps them running.
 *
 * OTP-style one_for_one supervision: a child that exits unexpectedly is restarted after a back-off of
 * its own (100 ms doubling to 10 s, back to 100 ms once it stayed up 30 s). Restart intensity is
 * counted per node type (OTP's MaxR/MaxT): more than --max-restarts restarts of one type within
 * --window-s seconds and that type is left down with an error in the log, while the rest stays
 * supervised. The broker is a child like the others, but giving up on it escalates (as OTP does):
 * without a broker the actors serve nothing, so the supervisor stops everything and exits 1.
 *
 * PID files (what scripts/down reads): RUN/supervise.pid (held with flock while we run, so two
 * supervisors never share a run dir), RUN/broker.pid, RUN/actor-TYPE-N.pid. A child's pid file
 * exists exactly while that child runs. Children die with the supervisor (PR_SET_PDEATHSIG), so a
 * SIGKILLed supervisor leaves no unsupervised process behind for long.
 *
 * Signals arrive on a signalfd: SIGCHLD reaps and schedules restarts, SIGHUP is forwarded to the
 * broker (reload), SIGTERM/SIGINT stop the actors (5 s), then the broker (5 s), SIGKILL the rest. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <glob.h>
#include <libgen.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "broker/cluster.h"
#include "common/clock.h"
#include "common/fmx.h"
#include "common/log.h"

#define S_BACKOFF_MIN_MS 100
#define S_BACKOFF_MAX_MS 10000
#define S_STABLE_US (30 * 1000000ULL) /* up this long: the next crash starts the back-off over */
#define S_STOP_GRACE_MS 5000
#define S_MAX_RESTARTS_CAP 1000
#define S_MAX_INJECT 64

typedef enum {
    S_RUNNING,
    S_WAITING, /* in back-off, restart_at_us says when */
    S_DOWN,    /* given up on, or stopping */
} s_state_t;

typedef struct {
    char name[96]; /* "broker" or "actor-TYPE-N": the pid and log file stem */
    char label[80]; /* --name for actors ("TYPE-N") */
    size_t group;  /* index into s_sup_t.groups */
    char **argv;   /* NULL-terminated; strings borrowed from the supervisor and the process argv */
    pid_t pid;     /* 0 while not running */
    s_state_t state;
    uint64_t started_us, restart_at_us;
    uint32_t backoff_ms; /* the last back-off used, 0 before the first restart */
} s_child_t;

typedef struct {
    char type[64];      /* node type, or "broker" */
    uint64_t *restarts; /* ring of the last max_restarts restart times (us) */
    uint32_t n_restarts, head;
    bool given_up;
} s_group_t;

typedef struct {
    const char *config_path, *run_dir, *log_dir, *data_dir;
    char bin[PATH_MAX];
    const char **broker_args, **actor_args;
    size_t n_broker_args, n_actor_args;
    struct {
        char type[64];
        const char *spec;
    } inject[S_MAX_INJECT];
    size_t n_inject;
    uint32_t max_restarts, window_s;
} s_opts_t;

typedef struct {
    s_opts_t opts;
    fmx_cluster_t cluster;
    char broker_exe[PATH_MAX + 32], actor_exe[PATH_MAX + 32], heartbeat[16];
    s_group_t *groups; /* groups[0] is the broker */
    size_t n_groups;
    s_child_t *children; /* children[0] is the broker */
    size_t n_children;
    int sigfd, lock_fd;
    bool stop, hup;
    char lock_path[PATH_MAX];
} s_sup_t;

static void s_usage(FILE *out) {
    fprintf(out,
            "usage: feedmix-supervise [--config FILE (configs/cluster.yaml)] [--run-dir DIR (var/run)]\n"
            "                         [--log-dir DIR (var/log)] [--data DIR (var)] [--bin DIR (this binary's)]\n"
            "                         [--broker-arg ARG]... [--actor-arg ARG]... [--inject-type TYPE=SPEC]...\n"
            "                         [--max-restarts N (5)] [--window-s S (60)] [--log-level LEVEL]\n"
            "Starts the broker and the actors of FILE, restarts any that exits (back-off 100 ms..10 s), gives\n"
            "up on a node type after more than N restarts in S seconds. PID files in --run-dir, child logs in\n"
            "--log-dir. SIGHUP is passed to the broker; SIGTERM/SIGINT stop everything and exit 0.\n"
            "--inject-type passes --inject SPEC to the actors of TYPE only (tests).\n");
}

/* ---- pid files ---- */

static void s_pid_path(const s_sup_t *s, const char *stem, char *out, size_t cap) {
    snprintf(out, cap, "%s/%s.pid", s->opts.run_dir, stem);
}

/* Written to a temp file and renamed, so a reader never sees half a number. */
static int s_pid_write(const s_sup_t *s, const char *stem, pid_t pid) {
    char path[PATH_MAX], tmp[PATH_MAX + 8];
    s_pid_path(s, stem, path, sizeof path);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f || fprintf(f, "%d\n", (int)pid) < 0 || fclose(f) != 0 || rename(tmp, path) != 0) {
        fmx_log_error("cannot write %s: %s", path, strerror(errno));
        unlink(tmp);
        return -1;
    }
    return 0;
}

static void s_pid_remove(const s_sup_t *s, const char *stem) {
    char path[PATH_MAX];
    s_pid_path(s, stem, path, sizeof path);
    if (unlink(path) != 0 && errno != ENOENT)
        fmx_log_warn("cannot remove %s: %s", path, strerror(errno));
}

/* The pid a pid file names, or 0 (missing, unreadable, not a number). */
static pid_t s_pid_read(const char *path) {
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    char line[32] = "";
    bool got = fgets(line, sizeof line, f) != NULL;
    fclose(f);
    line[strcspn(line, "\n")] = '\0';
    uint32_t v;
    return got && fmx_parse_u32(line, 1, INT32_MAX, &v) == 0 ? (pid_t)v : 0;
}

/* A live feedmix process: the argv[0] check keeps a stale file whose pid was reused by some
 * unrelated process from blocking (or, in scripts/down, killing) it. */
static bool s_pid_is_feedmix(pid_t pid) {
    char path[64], cmd[512];
    snprintf(path, sizeof path, "/proc/%d/cmdline", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f) return false;
    size_t n = fread(cmd, 1, sizeof cmd - 1, f);
    fclose(f);
    cmd[n] = '\0';
    const char *base = strrchr(cmd, '/');
    base = base ? base + 1 : cmd;
    return n > 0 && strncmp(base, "feedmix-", 8) == 0;
}

/* Takes RUN/supervise.pid: an flock held for our lifetime (two supervisors never share a run dir),
 * then refuses pid files of children still running from someone else; stale ones are removed. */
static int s_claim_run_dir(s_sup_t *s) {
    s_pid_path(s, "supervise", s->lock_path, sizeof s->lock_path);
    s->lock_fd = open(s->lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (s->lock_fd < 0) {
        fmx_log_error("open(%s) failed: %s", s->lock_path, strerror(errno));
        return -1;
    }
    struct stat held, named;
    if (flock(s->lock_fd, LOCK_EX | LOCK_NB) != 0 || fstat(s->lock_fd, &held) != 0 ||
        stat(s->lock_path, &named) != 0 || held.st_ino != named.st_ino || held.st_dev != named.st_dev) {
        /* Locked, or a stopping supervisor unlinked the file we opened: either way one runs. */
        fmx_log_error("another supervisor runs in %s (pid %d): not starting a second one", s->opts.run_dir,
                      (int)s_pid_read(s->lock_path));
        close(s->lock_fd);
        s->lock_fd = -1;
        return -1;
    }
    char pattern[PATH_MAX];
    int rc = 0;
    const char *const stems[] = {"broker.pid", "actor-*.pid"};
    for (size_t i = 0; i < FMX_ARRAY_LEN(stems) && rc == 0; i++) {
        snprintf(pattern, sizeof pattern, "%s/%s", s->opts.run_dir, stems[i]);
        glob_t g;
        if (glob(pattern, 0, NULL, &g) != 0) continue;
        for (size_t k = 0; k < g.gl_pathc; k++) {
            pid_t pid = s_pid_read(g.gl_pathv[k]);
            if (pid > 0 && s_pid_is_feedmix(pid)) {
                fmx_log_error("%s names a running process (pid %d) this supervisor did not start: stop it first "
                              "(./scripts/down)",
                              g.gl_pathv[k], (int)pid);
                rc = -1;
                break;
            }
            unlink(g.gl_pathv[k]);
        }
        globfree(&g);
    }
    if (rc != 0) return -1;
    char line[32];
    int len = snprintf(line, sizeof line, "%d\n", (int)getpid());
    if (ftruncate(s->lock_fd, 0) != 0 || pwrite(s->lock_fd, line, (size_t)len, 0) != len) {
        fmx_log_error("cannot write %s: %s", s->lock_path, strerror(errno));
        return -1;
    }
    return 0;
}

/* ---- children ---- */

static const char *s_describe(int status, char *buf, size_t cap) {
    if (WIFEXITED(status))
        snprintf(buf, cap, "exited with status %d", WEXITSTATUS(status));
    else if (WIFSIGNALED(status))
        snprintf(buf, cap, "killed by signal %d (%s)%s", WTERMSIG(status), strsignal(WTERMSIG(status)),
                 WCOREDUMP(status) ? ", core dumped" : "");
    else
        snprintf(buf, cap, "status 0x%x", status);
    return buf;
}

/* fork + execv, stdout/stderr appended to LOG/<name>.log. 0, or -1 (nothing started). */
static int s_child_start(s_sup_t *s, s_child_t *c) {
    char log[PATH_MAX];
    snprintf(log, sizeof log, "%s/%s.log", s->opts.log_dir, c->name);
    int fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    int null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (fd < 0 || null_fd < 0) {
        fmx_log_error("open(%s) failed: %s", fd < 0 ? log : "/dev/null", strerror(errno));
        if (fd >= 0) close(fd);
        if (null_fd >= 0) close(null_fd);
        return -1;
    }
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0) {
        /* Async-signal-safe calls only until execv. The child gets an empty signal mask (ours
         * blocks everything the signalfd reads), its own process group (a terminal's Ctrl-C
         * reaches only the supervisor, which stops children in order), and SIGTERM when the
         * supervisor dies. */
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        setpgid(0, 0);
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (getppid() != parent) _exit(127);
        if (dup2(null_fd, 0) < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0) _exit(127);
        execv(c->argv[0], c->argv);
        static const char msg[] = "feedmix-supervise: execv failed\n";
        ssize_t w = write(2, msg, sizeof msg - 1);
        (void)w;
        _exit(127);
    }
    int saved = errno;
    close(fd);
    close(null_fd);
    if (pid < 0) {
        fmx_log_error("fork for %s failed: %s", c->name, strerror(saved));
        return -1;
    }
    c->pid = pid;
    c->state = S_RUNNING;
    c->started_us = fmx_clock_now_us();
    c->restart_at_us = 0;
    s_pid_write(s, c->name, pid);
    return 0;
}

/* Restarts left in the group's window; records one restart when there is room. False: give up. */
static bool s_group_admit(s_sup_t *s, s_group_t *g, uint64_t now) {
    uint64_t window = (uint64_t)s->opts.window_s * 1000000ULL;
    uint32_t cap = s->opts.max_restarts;
    if (cap == 0) return false;
    /* Forget restarts older than the window: the ring is in time order from head. */
    while (g->n_restarts > 0) {
        uint32_t oldest = (g->head + cap - g->n_restarts) % cap;
        if (now - g->restarts[oldest] < window) break;
        g->n_restarts--;
    }
    if (g->n_restarts >= cap) return false;
    g->restarts[g->head] = now;
    g->head = (g->head + 1) % cap;
    g->n_restarts++;
    return true;
}

/* A child is gone without being asked (it exited, or could not be started): schedule its restart
 * after its back-off, or give up on its group. */
static void s_child_failed(s_sup_t *s, s_child_t *c) {
    s_group_t *g = &s->groups[c->group];
    uint64_t now = fmx_clock_now_us();
    c->state = S_DOWN;
    if (g->given_up) return;
    if (!s_group_admit(s, g, now)) {
        g->given_up = true;
        size_t running = 0;
        for (size_t i = 0; i < s->n_children; i++) {
            if (s->children[i].group != c->group) continue;
            if (s->children[i].state == S_WAITING) s->children[i].state = S_DOWN;
            running += s->children[i].state == S_RUNNING;
        }
        if (c->group == 0)
            fmx_log_error("giving up on `broker`: more than %u restarts within %u s", s->opts.max_restarts,
                          s->opts.window_s);
        else
            fmx_log_error("giving up on `%s`: more than %u restarts within %u s; its failed replicas stay down "
                          "(%zu still running)",
                          g->type, s->opts.max_restarts, s->opts.window_s, running);
        return;
    }
    bool stable = c->started_us && now - c->started_us >= S_STABLE_US;
    uint32_t next = c->backoff_ms * 2;
    if (stable || c->backoff_ms == 0) next = S_BACKOFF_MIN_MS;
    c->backoff_ms = next > S_BACKOFF_MAX_MS ? S_BACKOFF_MAX_MS : next;
    c->state = S_WAITING;
    c->restart_at_us = now + (uint64_t)c->backoff_ms * 1000;
    fmx_log_info("restarting %s in %u ms (%u of %u restarts of `%s` in %u s)", c->name, c->backoff_ms, g->n_restarts,
                 s->opts.max_restarts, g->type, s->opts.window_s);
}

static s_child_t *s_child_by_pid(s_sup_t *s, pid_t pid) {
    for (size_t i = 0; i < s->n_children; i++)
        if (s->children[i].pid == pid) return &s->children[i];
    return NULL;
}

/* Reaps every exited child; outside a shutdown each one is an unexpected exit. */
static void s_reap(s_sup_t *s) {
    int status;
    pid_t pid;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        s_child_t *c = s_child_by_pid(s, pid);
        if (!c) continue;
        char how[128];
        s_describe(status, how, sizeof how);
        c->pid = 0;
        s_pid_remove(s, c->name);
        if (s->stop) {
            fmx_log_info("%s (pid %d) %s", c->name, (int)pid, how);
            c->state = S_DOWN;
            continue;
        }
        fmx_log_warn("%s (pid %d) %s after %.1f s", c->name, (int)pid, how,
                     (double)(fmx_clock_now_us() - c->started_us) / 1e6);
        s_child_failed(s, c);
    }
}

/* Reads the signalfd: sets stop/hup flags. SIGCHLD needs no flag, s_reap always runs after. */
static void s_drain_signals(s_sup_t *s) {
    struct signalfd_siginfo si[16];
    ssize_t n;
    while ((n = read(s->sigfd, si, sizeof si)) > 0) {
        for (size_t i = 0; i < (size_t)n / sizeof si[0]; i++) {
            if (si[i].ssi_signo == SIGTERM || si[i].ssi_signo == SIGINT) {
                if (!s->stop) fmx_log_info("%s: stopping everything", strsignal((int)si[i].ssi_signo));
                s->stop = true;
            } else if (si[i].ssi_signo == SIGHUP) {
                s->hup = true;
            }
        }
    }
}

/* Waits for the SIGCHLDs of a shutdown until no child in [from, to) runs or deadline_us passes. */
static void s_wait_down(s_sup_t *s, size_t from, size_t to, uint64_t deadline_us) {
    for (;;) {
        s_reap(s);
        bool running = false;
        for (size_t i = from; i < to; i++) running = running || s->children[i].pid > 0;
        uint64_t now = fmx_clock_now_us();
        if (!running || now >= deadline_us) return;
        struct pollfd p = {s->sigfd, POLLIN, 0};
        int ms = (int)((deadline_us - now + 999) / 1000);
        if (poll(&p, 1, ms) > 0) s_drain_signals(s);
    }
}

/* Actors first (they finish in-flight tasks while the broker still listens), then the broker. */
static void s_shutdown(s_sup_t *s) {
    s->stop = true;
    for (size_t i = 0; i < s->n_children; i++)
        if (s->children[i].state == S_WAITING) s->children[i].state = S_DOWN;
    const size_t ranges[2][2] = {{1, s->n_children}, {0, 1}};
    for (size_t r = 0; r < 2; r++) {
        for (size_t i = ranges[r][0]; i < ranges[r][1]; i++)
            if (s->children[i].pid > 0) kill(s->children[i].pid, SIGTERM);
        s_wait_down(s, ranges[r][0], ranges[r][1], fmx_clock_now_us() + S_STOP_GRACE_MS * 1000ULL);
    }
    for (size_t i = 0; i < s->n_children; i++) {
        s_child_t *c = &s->children[i];
        if (c->pid <= 0) continue;
        fmx_log_warn("%s (pid %d) ignored SIGTERM for %d ms: SIGKILL", c->name, (int)c->pid, S_STOP_GRACE_MS);
        kill(c->pid, SIGKILL);
        int status;
        while (waitpid(c->pid, &status, 0) < 0 && errno == EINTR) {
        }
        c->pid = 0;
        s_pid_remove(s, c->name);
    }
}

/* ---- setup ---- */

static int s_argv_build(s_sup_t *s, s_child_t *c, bool broker) {
    const s_opts_t *o = &s->opts;
    size_t cap = 18 + 2 * o->n_inject + (broker ? o->n_broker_args : o->n_actor_args);
    c->argv = calloc(cap, sizeof *c->argv);
    if (!c->argv) return -1;
    size_t n = 0;
#define S_ARG(x) (c->argv[n++] = (char *)(x))
    if (broker) {
        S_ARG(s->broker_exe);
        S_ARG("--config");
        S_ARG(o->config_path);
        for (size_t i = 0; i < o->n_broker_args; i++) S_ARG(o->broker_args[i]);
    } else {
        const char *type = s->groups[c->group].type;
        const char *fixed[] = {s->actor_exe, "--node",   type,         "--broker",       s->cluster.backend,
                               "--store",    s->cluster.store_path, "--data", o->data_dir, "--heartbeat-ms",
                               s->heartbeat, "--name",   c->label};
        for (size_t i = 0; i < FMX_ARRAY_LEN(fixed); i++) S_ARG(fixed[i]);
        if (s->cluster.token_key_file[0]) { /* layout signs attribution tokens with it */
            S_ARG("--token-key");
            S_ARG(s->cluster.token_key_file);
        }
        for (size_t i = 0; i < o->n_inject; i++) {
            if (strcmp(o->inject[i].type, type) != 0) continue;
            S_ARG("--inject");
            S_ARG(o->inject[i].spec);
        }
        for (size_t i = 0; i < o->n_actor_args; i++) S_ARG(o->actor_args[i]);
    }
#undef S_ARG
    c->argv[n] = NULL;
    return 0;
}

static void s_sup_free(s_sup_t *s) {
    for (size_t i = 0; s->children && i < s->n_children; i++) free(s->children[i].argv);
    for (size_t i = 0; s->groups && i < s->n_groups; i++) free(s->groups[i].restarts);
    free(s->children);
    free(s->groups);
    free(s->opts.broker_args);
    free(s->opts.actor_args);
    if (s->sigfd >= 0) close(s->sigfd);
    if (s->lock_fd >= 0) {
        unlink(s->lock_path);
        close(s->lock_fd);
    }
}

/* Groups and children from the cluster config: the broker first, then each type's replicas.
 * 0, or -1 when out of memory (what was allocated is freed by s_sup_free). */
static int s_plan(s_sup_t *s) {
    const fmx_cluster_t *cl = &s->cluster;
    size_t total = 1;
    for (size_t i = 0; i < cl->n_actors; i++) total += cl->actors[i].replicas;
    s->groups = calloc(cl->n_actors + 1, sizeof *s->groups);
    s->children = calloc(total, sizeof *s->children);
    if (!s->groups || !s->children) return -1;
    s->n_groups = cl->n_actors + 1;
    for (size_t gi = 0; gi < s->n_groups; gi++) {
        s_group_t *g = &s->groups[gi];
        snprintf(g->type, sizeof g->type, "%s", gi == 0 ? "broker" : cl->actors[gi - 1].type);
        g->restarts = calloc(s->opts.max_restarts ? s->opts.max_restarts : 1, sizeof *g->restarts);
        if (!g->restarts) return -1;
    }
    s_child_t *b = &s->children[s->n_children++];
    snprintf(b->name, sizeof b->name, "broker");
    if (s_argv_build(s, b, true) != 0) return -1;
    for (size_t gi = 1; gi < s->n_groups; gi++) {
        for (uint32_t r = 1; r <= cl->actors[gi - 1].replicas; r++) {
            s_child_t *c = &s->children[s->n_children++];
            c->group = gi;
            snprintf(c->label, sizeof c->label, "%s-%u", s->groups[gi].type, r);
            snprintf(c->name, sizeof c->name, "actor-%s", c->label);
            if (s_argv_build(s, c, false) != 0) return -1;
        }
    }
    return 0;
}

static int s_opt_u32(const char *v, uint32_t lo, uint32_t hi, uint32_t *out, const char *what) {
    if (fmx_parse_u32(v, lo, hi, out) == 0) return 0;
    fprintf(stderr, "feedmix-supervise: %s must be an integer in %u..%u\n", what, lo, hi);
    return -1;
}

/* 0, 1 (--help printed), or 2 (usage error, explained on stderr). */
static int s_parse_args(s_opts_t *o, int *level, int argc, char **argv) {
    enum { O_CONFIG = 1, O_RUN, O_LOGDIR, O_DATA, O_BIN, O_BARG, O_AARG, O_INJECT, O_MAXR, O_WINDOW, O_LEVEL };
    static const struct option opts[] = {
        {"config", required_argument, NULL, O_CONFIG},   {"run-dir", required_argument, NULL, O_RUN},
        {"log-dir", required_argument, NULL, O_LOGDIR},  {"data", required_argument, NULL, O_DATA},
        {"bin", required_argument, NULL, O_BIN},         {"broker-arg", required_argument, NULL, O_BARG},
        {"actor-arg", required_argument, NULL, O_AARG},  {"inject-type", required_argument, NULL, O_INJECT},
        {"max-restarts", required_argument, NULL, O_MAXR}, {"window-s", required_argument, NULL, O_WINDOW},
        {"log-level", required_argument, NULL, O_LEVEL}, {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    o->broker_args = calloc((size_t)argc, sizeof *o->broker_args);
    o->actor_args = calloc((size_t)argc, sizeof *o->actor_args);
    if (!o->broker_args || !o->actor_args) return 2;
    int c;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        int rc = 0;
        switch (c) {
        case O_CONFIG: o->config_path = optarg; break;
        case O_RUN: o->run_dir = optarg; break;
        case O_LOGDIR: o->log_dir = optarg; break;
        case O_DATA: o->data_dir = optarg; break;
        case O_BIN:
            if (strlen(optarg) >= sizeof o->bin) {
                fprintf(stderr, "feedmix-supervise: --bin is too long\n");
                rc = -1;
            } else {
                snprintf(o->bin, sizeof o->bin, "%s", optarg);
            }
            break;
        case O_BARG: o->broker_args[o->n_broker_args++] = optarg; break;
        case O_AARG: o->actor_args[o->n_actor_args++] = optarg; break;
        case O_INJECT: {
            const char *eq = strchr(optarg, '=');
            size_t tlen = eq ? (size_t)(eq - optarg) : 0;
            if (!eq || tlen == 0 || tlen >= sizeof o->inject[0].type || !eq[1] || o->n_inject == S_MAX_INJECT) {
                fprintf(stderr, "feedmix-supervise: --inject-type wants TYPE=SPEC (at most %d), got '%s'\n",
                        S_MAX_INJECT, optarg);
                rc = -1;
                break;
            }
            memcpy(o->inject[o->n_inject].type, optarg, tlen);
            o->inject[o->n_inject].type[tlen] = '\0';
            o->inject[o->n_inject++].spec = eq + 1;
            break;
        }
        case O_MAXR: rc = s_opt_u32(optarg, 0, S_MAX_RESTARTS_CAP, &o->max_restarts, "--max-restarts"); break;
        case O_WINDOW: rc = s_opt_u32(optarg, 1, 86400, &o->window_s, "--window-s"); break;
        case O_LEVEL:
            *level = fmx_log_level_parse(optarg);
            if (*level < 0) {
                fprintf(stderr, "feedmix-supervise: unknown log level '%s'\n", optarg);
                rc = -1;
            }
            break;
        case 'h': s_usage(stdout); return 1;
        default: s_usage(stderr); return 2;
        }
        if (rc != 0) return 2;
    }
    if (optind < argc) {
        s_usage(stderr);
        return 2;
    }
    if (!o->bin[0]) {
        /* Default: next to this executable (build/bin). */
        char exe[PATH_MAX];
        ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
        if (n <= 0) {
            fprintf(stderr, "feedmix-supervise: cannot find my own directory, give --bin\n");
            return 2;
        }
        exe[n] = '\0';
        snprintf(o->bin, sizeof o->bin, "%s", dirname(exe));
    }
    return 0;
}

static int s_mkdir(const char *dir) {
    if (mkdir(dir, 0755) == 0 || errno == EEXIST) return 0;
    fmx_log_error("mkdir(%s) failed: %s", dir, strerror(errno));
    return -1;
}

/* Blocks the signals we read from a signalfd (children unblock them before execv). */
static int s_signals_open(s_sup_t *s) {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGCHLD);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    if (sigprocmask(SIG_BLOCK, &set, NULL) != 0) return -1;
    s->sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    return s->sigfd < 0 ? -1 : 0;
}

/* The main loop: poll the signalfd until the next due restart -> drain signals -> reap (schedules
 * restarts or gives up) -> start due restarts. Returns the exit status. */
static int s_run(s_sup_t *s) {
    for (size_t i = 0; i < s->n_children; i++)
        if (s_child_start(s, &s->children[i]) != 0) s_child_failed(s, &s->children[i]);
    fmx_log_info("supervising the broker and %zu actors (max %u restarts per type in %u s)", s->n_children - 1,
                 s->opts.max_restarts, s->opts.window_s);
    for (;;) {
        uint64_t now = fmx_clock_now_us(), next = UINT64_MAX;
        for (size_t i = 0; i < s->n_children; i++)
            if (s->children[i].state == S_WAITING && s->children[i].restart_at_us < next)
                next = s->children[i].restart_at_us;
        int timeout = next == UINT64_MAX ? -1 : next <= now ? 0 : (int)((next - now + 999) / 1000);
        struct pollfd p = {s->sigfd, POLLIN, 0};
        int n = poll(&p, 1, timeout);
        if (n < 0 && errno != EINTR) {
            fmx_log_error("poll failed: %s", strerror(errno));
            s_shutdown(s);
            return 1;
        }
        if (n > 0) s_drain_signals(s);
        if (s->stop) break;
        if (s->hup && s->children[0].pid > 0) {
            fmx_log_info("SIGHUP: passing it to the broker (pid %d)", (int)s->children[0].pid);
            kill(s->children[0].pid, SIGHUP);
        }
        s->hup = false;
        s_reap(s);
        if (s->groups[0].given_up) {
            fmx_log_error("the broker keeps failing: stopping everything (see %s/broker.log)", s->opts.log_dir);
            s_shutdown(s);
            return 1;
        }
        now = fmx_clock_now_us();
        for (size_t i = 0; i < s->n_children; i++) {
            s_child_t *c = &s->children[i];
            if (c->state != S_WAITING || c->restart_at_us > now) continue;
            if (s_child_start(s, c) == 0)
                fmx_log_info("restarted %s (pid %d)", c->name, (int)c->pid);
            else
                s_child_failed(s, c);
        }
    }
    s_shutdown(s);
    fmx_log_info("stopped");
    return 0;
}

int main(int argc, char **argv) {
    s_sup_t s;
    memset(&s, 0, sizeof s);
    s.sigfd = s.lock_fd = -1;
    s.opts.config_path = "configs/cluster.yaml";
    s.opts.run_dir = "var/run";
    s.opts.log_dir = "var/log";
    s.opts.data_dir = "var";
    s.opts.max_restarts = 5;
    s.opts.window_s = 60;
    int level = FMX_LOG_INFO, rc = 1;
    int parsed = s_parse_args(&s.opts, &level, argc, argv);
    if (parsed != 0) {
        s_sup_free(&s);
        return parsed == 1 ? 0 : 2;
    }
    fmx_log_init("supervise", (fmx_log_level_t)level);
    char err[FMX_ERR_LEN];
    fmx_cluster_defaults(&s.cluster);
    if (fmx_cluster_load(&s.cluster, s.opts.config_path, err) != 0) {
        fmx_log_error("%s", err);
        goto done;
    }
    snprintf(s.broker_exe, sizeof s.broker_exe, "%s/feedmix-broker", s.opts.bin);
    snprintf(s.actor_exe, sizeof s.actor_exe, "%s/feedmix-actor", s.opts.bin);
    snprintf(s.heartbeat, sizeof s.heartbeat, "%u", s.cluster.heartbeat_ms);
    for (size_t i = 0; i < s.opts.n_inject; i++) {
        bool known = false;
        for (size_t k = 0; k < s.cluster.n_actors; k++)
            known = known || strcmp(s.cluster.actors[k].type, s.opts.inject[i].type) == 0;
        if (!known)
            fmx_log_warn("--inject-type %s: no such actor type in %s", s.opts.inject[i].type, s.opts.config_path);
    }
    if (access(s.broker_exe, X_OK) != 0 || access(s.actor_exe, X_OK) != 0) {
        fmx_log_error("%s: %s (build it, or give --bin)", access(s.broker_exe, X_OK) ? s.broker_exe : s.actor_exe,
                      strerror(errno));
        goto done;
    }
    if (s_mkdir(s.opts.run_dir) != 0 || s_mkdir(s.opts.log_dir) != 0) goto done;
    if (s_signals_open(&s) != 0) {
        fmx_log_error("signalfd failed: %s", strerror(errno));
        goto done;
    }
    if (s_claim_run_dir(&s) != 0) goto done;
    if (s_plan(&s) != 0) {
        fmx_log_error("out of memory");
        goto done;
    }
    rc = s_run(&s);
done:
    s_sup_free(&s);
    return rc;
}
