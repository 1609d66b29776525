/* harness.c - process-level test harness (see harness.h). */
#include "test/integration/harness.h"
#include "schemas/node_schema.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "schemas/mpobj.h"
#include "schemas/token.h"

#define H_STOP_GRACE_MS 2000
#define H_LOG_TAIL_LINES 40
#define H_SEED_TIMEOUT_MS 60000
#define H_MAX_ARGS 64

int64_t h_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void h_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* $FMX_BIN, or <dir of this executable>/../bin when run by hand from build/test. */
static int s_find_bin(h_t *h)
{
    const char *env = getenv("FMX_BIN");
    if (env && *env) {
        snprintf(h->bin, sizeof h->bin, "%s", env);
        return 0;
    }
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0)
        return -1;
    exe[n] = '\0';
    snprintf(h->bin, sizeof h->bin, "%s/../bin", dirname(exe));
    return 0;
}

h_t *h_new(void)
{
    h_t *h = calloc(1, sizeof *h);
    if (!h)
        return NULL;
    const char *source = getenv("FMX_SOURCE");
    if (!source || !*source || s_find_bin(h) != 0) {
        fprintf(stderr, "harness: FMX_SOURCE and FMX_BIN must be set (ctest sets them)\n");
        goto fail;
    }
    snprintf(h->source, sizeof h->source, "%s", source);
    snprintf(h->dir, sizeof h->dir, "/tmp/fmx-test-XXXXXX");
    if (!mkdtemp(h->dir)) {
        fprintf(stderr, "harness: mkdtemp failed: %s\n", strerror(errno));
        h->dir[0] = '\0';
        goto fail;
    }
    snprintf(h->front, sizeof h->front, "ipc://%s/front", h->dir);
    snprintf(h->back, sizeof h->back, "ipc://%s/back", h->dir);
    snprintf(h->admin, sizeof h->admin, "ipc://%s/admin", h->dir);
    /* Layout refuses to start without a key to sign attribution tokens with. */
    snprintf(h->token_key, sizeof h->token_key, "%s/token.key", h->dir);
    fmx_token_key_t key;
    char err[FMX_ERR_LEN];
    if (fmx_token_key_generate(&key, err) != 0 || fmx_token_key_write(&key, h->token_key, err) != 0) {
        fprintf(stderr, "harness: %s\n", err);
        goto fail;
    }
    fmx_token_key_wipe(&key);
    h->zmq = zmq_ctx_new();
    if (!h->zmq) {
        fprintf(stderr, "harness: zmq_ctx_new failed: %s\n", zmq_strerror(errno));
        goto fail;
    }
    return h;
fail:
    h_destroy(&h);
    return NULL;
}

static int s_rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    if (remove(path) != 0)
        fprintf(stderr, "harness: remove(%s) failed: %s\n", path, strerror(errno));
    return 0;
}

/* Frees replies and closes clients a failed test left behind. */
static void s_release_live(h_t *h)
{
    while (h->n_clients > 0) {
        h_client_t *c = h->clients[h->n_clients - 1];
        h_client_destroy(&c);
    }
    for (size_t i = 0; i < h->n_replies; i++) {
        if (h->replies[i].zone)
            msgpack_zone_free(h->replies[i].zone);
        free(h->replies[i].buf);
    }
    h->n_replies = 0;
}

void h_destroy(h_t **h_p)
{
    if (!h_p || !*h_p)
        return;
    h_t *h = *h_p;
    h_stop_all(h);
    s_release_live(h);
    if (h->zmq)
        zmq_ctx_term(h->zmq);
    if (h->dir[0])
        nftw(h->dir, s_rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(h);
    *h_p = NULL;
}

/* fork + execv with stdout/stderr appended to <dir>/<name>.log, cwd = the temp dir (so no
 * configs/cluster.yaml of the caller's cwd leaks in), and SIGKILL when the test process dies. */
static pid_t s_spawn(h_t *h, const char *name, char *const argv[])
{
    if (h->n_children == H_MAX_CHILDREN) {
        fprintf(stderr, "harness: too many children\n");
        return -1;
    }
    if (access(argv[0], X_OK) != 0) {
        fprintf(stderr, "harness: %s: %s (build it first)\n", argv[0], strerror(errno));
        return -1;
    }
    char log[256];
    snprintf(log, sizeof log, "%s/%s.log", h->dir, name);
    int fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    int null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (fd < 0 || null_fd < 0) {
        fprintf(stderr, "harness: open(%s) failed: %s\n", log, strerror(errno));
        if (fd >= 0)
            close(fd);
        if (null_fd >= 0)
            close(null_fd);
        return -1;
    }
    fflush(NULL);
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0) {
        /* Only async-signal-safe calls until execv: the parent has zmq threads. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(127);
        if (dup2(null_fd, 0) < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0 || chdir(h->dir) != 0)
            _exit(127);
        execv(argv[0], argv);
        static const char msg[] = "harness: execv failed\n";
        ssize_t w = write(2, msg, sizeof msg - 1);
        (void)w;
        _exit(127);
    }
    int saved = errno;
    close(fd);
    close(null_fd);
    if (pid < 0) {
        fprintf(stderr, "harness: fork failed: %s\n", strerror(saved));
        return -1;
    }
    h_child_t *c = &h->children[h->n_children++];
    c->pid = pid;
    c->status = 0;
    snprintf(c->name, sizeof c->name, "%s", name);
    return pid;
}

static h_child_t *s_child(h_t *h, pid_t pid)
{
    for (size_t i = 0; i < h->n_children; i++)
        if (h->children[i].pid == pid)
            return &h->children[i];
    return NULL;
}

/* Appends argv entries; returns the new count or -1 when full. */
static int s_args(char **argv, int n, const char *const *extra)
{
    for (; extra && *extra; extra++) {
        if (n >= H_MAX_ARGS - 1)
            return -1;
        argv[n++] = (char *)*extra;
    }
    argv[n] = NULL;
    return n;
}

int h_seed(h_t *h, int users)
{
    if (h->seeded)
        return 0;
    char exe[600], store[128], models[128], nusers[16];
    snprintf(exe, sizeof exe, "%s/feedmix-seed", h->bin);
    snprintf(store, sizeof store, "%s/store", h->dir);
    snprintf(models, sizeof models, "%s/models", h->dir);
    snprintf(nusers, sizeof nusers, "%d", users);
    char *argv[] = {exe, "--out", store, "--models", models, "--users", nusers, NULL};
    pid_t pid = s_spawn(h, "seed", argv);
    if (pid < 0)
        return -1;
    int status;
    if (h_wait_exit(h, pid, H_SEED_TIMEOUT_MS, &status) != 0) {
        fprintf(stderr, "harness: feedmix-seed did not finish in %d ms\n", H_SEED_TIMEOUT_MS);
        h_kill(pid, SIGKILL);
        h_wait_exit(h, pid, 1000, NULL);
        return -1;
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "harness: feedmix-seed failed (status 0x%x)\n", status);
        h_dump_logs(h, H_LOG_TAIL_LINES);
        return -1;
    }
    /* The GBDT models the shipped feeds score with, trained on this data set as scripts/up does. */
    static const char *const types[] = {"livestream", "product"};
    for (size_t t = 0; t < sizeof types / sizeof types[0]; t++) {
        const char *train[] = {"feedmix-train", "--store", store, "--models", models, "--type", types[t], NULL};
        if (h_run(h, "train", train, H_SEED_TIMEOUT_MS, &status) != 0 || !WIFEXITED(status) ||
            WEXITSTATUS(status) != 0) {
            fprintf(stderr, "harness: feedmix-train --type %s failed\n", types[t]);
            char *log = h_read_log(h, "train");
            if (log) fprintf(stderr, "%s\n", log);
            free(log);
            return -1;
        }
    }
    h->seeded = true;
    return 0;
}

int h_group_setup(void **state)
{
    h_t *h = h_new();
    if (!h || h_seed(h, H_SEED_USERS) != 0) {
        h_destroy(&h);
        return -1;
    }
    *state = h;
    return 0;
}

int h_group_teardown(void **state)
{
    h_t *h = *state;
    h_destroy(&h);
    return 0;
}

int h_test_teardown(void **state)
{
    return h_stop_all(*state) == 0 ? 0 : -1;
}

pid_t h_start_broker(h_t *h, const char *const *extra)
{
    char exe[600], feeds[600];
    snprintf(exe, sizeof exe, "%s/feedmix-broker", h->bin);
    /* The shipped feeds with budgets long enough for a loaded CI machine under ASan: process
     * tests check serving, replicas and restarts, not timing (the fallback tests do that). */
    snprintf(feeds, sizeof feeds, "%s/test/fixtures/integration/feeds_generous", h->source);
    /* --metrics on port 0: every broker gets a free port (h_metrics_port reads it back). */
    char *argv[H_MAX_ARGS] = {exe,      "--feeds", feeds,          "--frontend",  h->front,  "--backend",
                              h->back,  "--admin", h->admin,       "--heartbeat-ms", "100", "--log-level",
                              "info", /* info: a failing test's log then says why each node fell back */
                              "--metrics", "127.0.0.1:0", "--token-key", h->token_key};
    if (s_args(argv, 17, extra) < 0)
        return -1;
    pid_t pid = s_spawn(h, "broker", argv);
    if (pid > 0)
        h->broker = pid;
    return pid;
}

pid_t h_start_actor(h_t *h, const char *type, const char *name, const char *const *extra)
{
    char exe[600], store[128], auto_name[64];
    snprintf(exe, sizeof exe, "%s/feedmix-actor", h->bin);
    snprintf(store, sizeof store, "%s/store", h->dir);
    if (!name) {
        int n = 1;
        for (size_t i = 0; i < h->n_children; i++)
            if (strncmp(h->children[i].name, type, strlen(type)) == 0 && h->children[i].name[strlen(type)] == '-')
                n++;
        snprintf(auto_name, sizeof auto_name, "%s-%d", type, n);
        name = auto_name;
    }
    char *argv[H_MAX_ARGS] = {exe,   "--node", (char *)type, "--broker",       h->back, "--store",
                              store, "--data", h->dir,       "--heartbeat-ms", "100",   "--name",
                              (char *)name, "--token-key", h->token_key};
    if (s_args(argv, 15, extra) < 0)
        return -1;
    return s_spawn(h, name, argv);
}

int h_run(h_t *h, const char *name, const char *const *argv, int timeout_ms, int *status)
{
    char exe[600];
    char *args[H_MAX_ARGS];
    snprintf(exe, sizeof exe, "%s/%s", h->bin, argv[0]);
    args[0] = exe;
    if (s_args(args, 1, argv + 1) < 0)
        return -1;
    pid_t pid = s_spawn(h, name, args);
    if (pid < 0)
        return -1;
    if (h_wait_exit(h, pid, timeout_ms, status) != 0) {
        fprintf(stderr, "harness: %s ran longer than %d ms: SIGKILL\n", name, timeout_ms);
        h_kill(pid, SIGKILL);
        h_wait_exit(h, pid, 5000, NULL);
        return -1;
    }
    return 0;
}

char *h_read_log(h_t *h, const char *name)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s.log", h->dir, name);
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    char *text = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len + 4096 + 1 > cap) {
            cap = cap ? cap * 2 : 8192;
            char *grown = realloc(text, cap);
            if (!grown) {
                free(text);
                fclose(f);
                return NULL;
            }
            text = grown;
        }
        size_t n = fread(text + len, 1, 4096, f);
        len += n;
        if (n == 0)
            break;
    }
    text[len] = '\0';
    fclose(f);
    return text;
}

/* Collects every `type:` value of the feed files; `entity_type:` and comments excluded. */
static int s_scan_types(const char *text, char types[][32], int n, int max)
{
    const char *line = text;
    while (*line) {
        const char *end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line) : strlen(line);
        for (size_t i = 0; i + 5 <= len; i++) {
            if (line[i] == '#' && (i == 0 || isspace((unsigned char)line[i - 1])))
                break;
            if (memcmp(line + i, "type:", 5) != 0)
                continue;
            if (i > 0 && (isalnum((unsigned char)line[i - 1]) || line[i - 1] == '_' || line[i - 1] == '-'))
                continue;
            size_t j = i + 5;
            while (j < len && (line[j] == ' ' || line[j] == '"' || line[j] == '\''))
                j++;
            char word[32];
            size_t k = 0;
            while (j < len && k < sizeof word - 1 &&
                   (isalnum((unsigned char)line[j]) || line[j] == '_' || line[j] == '-'))
                word[k++] = line[j++];
            word[k] = '\0';
            /* Only node types: a long-form param declaration also has a `type:` (int, string...). */
            if (k == 0 || !fmx_node_schema_find(word))
                continue;
            bool seen = false;
            for (int t = 0; t < n; t++)
                seen = seen || strcmp(types[t], word) == 0;
            if (!seen) {
                if (n == max)
                    return -1;
                memcpy(types[n++], word, k + 1);
            }
        }
        line = end ? end + 1 : line + len;
    }
    return n;
}

int h_feed_types(h_t *h, char types[][32], int max)
{
    char path[700];
    snprintf(path, sizeof path, "%s/configs/feeds", h->source);
    DIR *d = opendir(path);
    if (!d) {
        fprintf(stderr, "harness: opendir(%s) failed: %s\n", path, strerror(errno));
        return -1;
    }
    int n = 0;
    struct dirent *e;
    while (n >= 0 && (e = readdir(d))) {
        size_t len = strlen(e->d_name);
        if (!(len > 5 && strcmp(e->d_name + len - 5, ".yaml") == 0) &&
            !(len > 4 && strcmp(e->d_name + len - 4, ".yml") == 0))
            continue;
        char file[1024];
        snprintf(file, sizeof file, "%s/%s", path, e->d_name);
        FILE *f = fopen(file, "r");
        if (!f)
            continue;
        char *text = calloc(1, 1 << 20);
        if (text) {
            size_t got = fread(text, 1, (1 << 20) - 1, f);
            text[got] = '\0';
            n = s_scan_types(text, types, n, max);
        }
        free(text);
        fclose(f);
    }
    closedir(d);
    if (n < 0)
        fprintf(stderr, "harness: more than %d node types in the feeds\n", max);
    return n;
}

int h_start_feed_actors(h_t *h, int timeout_ms)
{
    char types[H_MAX_TYPES][32];
    int n = h_feed_types(h, types, H_MAX_TYPES);
    if (n <= 0) {
        fprintf(stderr, "harness: no node types found in %s/configs/feeds\n", h->source);
        return -1;
    }
    for (int i = 0; i < n; i++)
        if (h_start_actor(h, types[i], NULL, NULL) < 0)
            return -1;
    int64_t deadline = h_now_ms() + timeout_ms;
    for (int i = 0; i < n; i++) {
        int left = (int)(deadline - h_now_ms());
        if (h_wait_ready(h, types[i], 1, left > 0 ? left : 1) != 0) {
            fprintf(stderr, "harness: no ready `%s` replica within %d ms\n", types[i], timeout_ms);
            return -1;
        }
    }
    return n;
}

int h_kill(pid_t pid, int sig)
{
    if (pid <= 0)
        return -1;
    return kill(pid, sig);
}

int h_wait_exit(h_t *h, pid_t pid, int timeout_ms, int *status)
{
    int64_t deadline = h_now_ms() + timeout_ms;
    for (;;) {
        int st = 0;
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid) {
            h_child_t *c = s_child(h, pid);
            if (c) {
                c->pid = 0;
                c->status = st;
            }
            if (h->broker == pid)
                h->broker = 0;
            if (status)
                *status = st;
            return 0;
        }
        if (r < 0 || h_now_ms() >= deadline)
            return -1;
        h_sleep_ms(5);
    }
}

bool h_alive(h_t *h, pid_t pid)
{
    if (pid <= 0 || !s_child(h, pid))
        return false;
    return h_wait_exit(h, pid, 0, NULL) != 0 && kill(pid, 0) == 0;
}

/* Prints the last `lines` lines of one file. */
static void s_tail(const char *path, const char *label, int lines)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    enum { CAP = 64 * 1024 };
    char *buf = malloc(CAP + 1);
    if (!buf) {
        fclose(f);
        return;
    }
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    long from = size > CAP ? size - CAP : 0;
    fseek(f, from, SEEK_SET);
    size_t n = fread(buf, 1, CAP, f);
    buf[n] = '\0';
    fclose(f);
    size_t start = n;
    int seen = 0;
    while (start > 0) {
        if (buf[start - 1] == '\n' && start != n && ++seen >= lines)
            break;
        start--;
    }
    fprintf(stderr, "---- %s (last %d lines) ----\n%s%s", label, lines, buf + start,
            n > 0 && buf[n - 1] != '\n' ? "\n" : "");
    free(buf);
}

void h_dump_logs(h_t *h, int lines)
{
    for (size_t i = 0; i < h->n_children; i++) {
        bool dup = false;
        for (size_t j = 0; j < i; j++)
            dup = dup || strcmp(h->children[j].name, h->children[i].name) == 0;
        if (dup)
            continue;
        char path[256];
        snprintf(path, sizeof path, "%s/%s.log", h->dir, h->children[i].name);
        s_tail(path, h->children[i].name, lines);
    }
}

static bool s_expected_death(int status)
{
    if (WIFEXITED(status))
        return WEXITSTATUS(status) == 0;
    return WIFSIGNALED(status) && (WTERMSIG(status) == SIGKILL || WTERMSIG(status) == SIGTERM);
}

int h_stop_all(h_t *h)
{
    int rc = 0;
    bool termed[H_MAX_CHILDREN] = {false};
    /* Children the test already killed (or that died) are reaped first and judged by how they
     * died: a crash is a failure even when the test never noticed. */
    for (size_t i = 0; i < h->n_children; i++) {
        h_child_t *c = &h->children[i];
        if (c->pid == 0)
            continue;
        pid_t pid = c->pid;
        if (h_wait_exit(h, pid, 0, NULL) == 0) {
            if (!s_expected_death(c->status)) {
                fprintf(stderr, "harness: %s (pid %d) died before teardown, status 0x%x\n", c->name, (int)pid,
                        c->status);
                rc = 1;
            }
            continue;
        }
        kill(pid, SIGTERM);
        termed[i] = true;
    }
    int64_t deadline = h_now_ms() + H_STOP_GRACE_MS;
    for (size_t i = 0; i < h->n_children; i++) {
        h_child_t *c = &h->children[i];
        if (!termed[i])
            continue;
        pid_t pid = c->pid;
        int left = (int)(deadline - h_now_ms());
        if (h_wait_exit(h, pid, left > 0 ? left : 0, NULL) != 0) {
            fprintf(stderr, "harness: %s (pid %d) ignored SIGTERM for %d ms: SIGKILL\n", c->name, (int)pid,
                    H_STOP_GRACE_MS);
            kill(pid, SIGKILL);
            rc = 1;
            if (h_wait_exit(h, pid, 5000, NULL) != 0) {
                fprintf(stderr, "harness: cannot reap %s (pid %d)\n", c->name, (int)pid);
                rc = -1;
            }
        } else if (!WIFEXITED(c->status) || WEXITSTATUS(c->status) != 0) {
            fprintf(stderr, "harness: %s (pid %d) exited with status 0x%x on SIGTERM (want exit 0)\n", c->name,
                    (int)pid, c->status);
            rc = 1;
        }
    }
    /* Nothing may be left: waitpid must find no child at all. */
    int st;
    pid_t left = waitpid(-1, &st, WNOHANG);
    if (left != -1 || errno != ECHILD) {
        fprintf(stderr, "harness: a child is still around after teardown (waitpid -> %d)\n", (int)left);
        rc = -1;
    }
    if (!h->passed || rc != 0)
        h_dump_logs(h, H_LOG_TAIL_LINES);
    for (size_t i = 0; i < h->n_children; i++) {
        char path[256];
        snprintf(path, sizeof path, "%s/%s.log", h->dir, h->children[i].name);
        unlink(path);
    }
    h->n_children = 0;
    h->broker = 0;
    h->passed = false;
    s_release_live(h);
    return rc;
}

void h_pass(h_t *h)
{
    h->passed = true;
}

/* ---- replies and clients ---- */

void h_reply_fini(h_reply_t *r)
{
    if (!r)
        return;
    if (r->buf) {
        h_t *h = r->h;
        for (size_t i = 0; h && i < h->n_replies; i++) {
            if (h->replies[i].buf == r->buf) {
                h->replies[i] = h->replies[--h->n_replies];
                break;
            }
        }
        msgpack_unpacked_destroy(&r->up);
        free(r->buf);
    }
    memset(r, 0, sizeof *r);
}

/* Takes over a decoded reply's memory from the stack struct (see h_t.replies). */
static void s_track_reply(h_t *h, h_reply_t *r)
{
    if (h->n_replies == H_MAX_LIVE)
        return; /* only a leak report in a test that already hoards 64 replies */
    r->h = h;
    h->replies[h->n_replies].buf = r->buf;
    h->replies[h->n_replies].zone = r->up.zone;
    h->n_replies++;
}

static int s_client_open(h_client_t *c)
{
    c->sock = zmq_socket(c->h->zmq, c->type);
    if (!c->sock)
        return -1;
    int zero = 0, sndtimeo = 2000;
    zmq_setsockopt(c->sock, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt(c->sock, ZMQ_SNDTIMEO, &sndtimeo, sizeof sndtimeo);
    if (zmq_connect(c->sock, c->endpoint) != 0) {
        fprintf(stderr, "harness: zmq_connect(%s) failed: %s\n", c->endpoint, zmq_strerror(errno));
        zmq_close(c->sock);
        c->sock = NULL;
        return -1;
    }
    return 0;
}

h_client_t *h_client_new_type(h_t *h, const char *endpoint, int type)
{
    if (h->n_clients == H_MAX_LIVE) {
        fprintf(stderr, "harness: more than %d clients open\n", H_MAX_LIVE);
        return NULL;
    }
    h_client_t *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->h = h;
    c->type = type;
    h->clients[h->n_clients++] = c;
    snprintf(c->endpoint, sizeof c->endpoint, "%s", endpoint);
    if (s_client_open(c) != 0)
        goto fail;
    return c;
fail:
    h_client_destroy(&c);
    return NULL;
}

h_client_t *h_client_new(h_t *h, const char *endpoint)
{
    return h_client_new_type(h, endpoint, ZMQ_REQ);
}

void h_client_destroy(h_client_t **c_p)
{
    if (!c_p || !*c_p)
        return;
    h_client_t *c = *c_p;
    h_t *h = c->h;
    for (size_t i = 0; i < h->n_clients; i++) {
        if (h->clients[i] == c) {
            h->clients[i] = h->clients[--h->n_clients];
            break;
        }
    }
    if (c->sock)
        zmq_close(c->sock);
    free(c);
    *c_p = NULL;
}

/* A REQ socket waiting for a reply that never comes cannot send again: start over. */
static void s_client_reset(h_client_t *c)
{
    if (c->sock)
        zmq_close(c->sock);
    c->sock = NULL;
    s_client_open(c);
}

int h_send(h_client_t *c, const void *buf, size_t len)
{
    if (!c->sock && s_client_open(c) != 0)
        return -3;
    if (zmq_send(c->sock, buf, len, 0) < 0) {
        fprintf(stderr, "harness: zmq_send(%s) failed: %s\n", c->endpoint, zmq_strerror(errno));
        s_client_reset(c);
        return -3;
    }
    return 0;
}

int h_recv(h_client_t *c, int timeout_ms, h_reply_t *out)
{
    memset(out, 0, sizeof *out);
    if (!c->sock)
        return -3;
    int64_t deadline = h_now_ms() + timeout_ms;
    for (;;) {
        zmq_pollitem_t item = {c->sock, 0, ZMQ_POLLIN, 0};
        int64_t left = deadline - h_now_ms();
        int n = left > 0 ? zmq_poll(&item, 1, (long)left) : 0;
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -3;
        if (n == 0) {
            s_client_reset(c);
            return -1;
        }
        break;
    }
    zmq_msg_t msg;
    zmq_msg_init(&msg);
    if (zmq_msg_recv(&msg, c->sock, 0) < 0) {
        zmq_msg_close(&msg);
        s_client_reset(c);
        return -3;
    }
    int rc = 0;
    if (zmq_msg_more(&msg)) {
        /* drain the rest so the socket stays usable */
        while (zmq_msg_more(&msg) && zmq_msg_recv(&msg, c->sock, 0) >= 0) {
        }
        rc = -2;
    } else {
        out->len = zmq_msg_size(&msg);
        out->buf = malloc(out->len ? out->len : 1);
        if (!out->buf) {
            rc = -3;
        } else {
            memcpy(out->buf, zmq_msg_data(&msg), out->len);
            msgpack_unpacked_init(&out->up);
            size_t off = 0;
            if (msgpack_unpack_next(&out->up, out->buf, out->len, &off) != MSGPACK_UNPACK_SUCCESS || off != out->len)
                rc = -2;
            else
                out->root = &out->up.data;
        }
    }
    zmq_msg_close(&msg);
    if (rc != 0)
        h_reply_fini(out);
    else
        s_track_reply(c->h, out);
    return rc;
}

int h_call(h_client_t *c, const void *buf, size_t len, int timeout_ms, h_reply_t *out)
{
    memset(out, 0, sizeof *out);
    int rc = h_send(c, buf, len);
    if (rc != 0)
        return rc;
    return h_recv(c, timeout_ms, out);
}

int h_call_ok(h_client_t *c, const void *buf, size_t len, int timeout_ms, h_reply_t *out)
{
    int rc = -3;
    for (int attempt = 1; attempt <= 3; attempt++) {
        rc = h_call(c, buf, len, timeout_ms, out);
        if (rc != 0 || !h_status_is(out, "degraded") || attempt == 3)
            break;
        fprintf(stderr, "harness: attempt %d degraded, retrying; ", attempt);
        h_print("fallbacks", h_get(out->root, "fallbacks"));
        h_reply_fini(out);
    }
    return rc;
}

int h_admin(h_t *h, const char *cmd, int timeout_ms, h_reply_t *out)
{
    memset(out, 0, sizeof *out);
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    int rc = h_pack_map(&sb, "cmd", 's', cmd, NULL);
    h_client_t *c = rc == 0 ? h_client_new(h, h->admin) : NULL;
    rc = c ? h_call(c, sb.data, sb.size, timeout_ms, out) : -3;
    h_client_destroy(&c);
    msgpack_sbuffer_destroy(&sb);
    return rc;
}

/* Packs (or with pk NULL, only consumes) one value of the given kind from ap. */
static int s_pack_value(msgpack_packer *pk, msgpack_sbuffer *sb, int kind, va_list *ap)
{
    switch (kind) {
    case 's': {
        const char *s = va_arg(*ap, const char *);
        if (pk) {
            msgpack_pack_str(pk, strlen(s));
            msgpack_pack_str_body(pk, s, strlen(s));
        }
        return 0;
    }
    case 'S': {
        const char *s = va_arg(*ap, const char *);
        size_t n = va_arg(*ap, size_t);
        if (pk) {
            msgpack_pack_str(pk, n);
            msgpack_pack_str_body(pk, s, n);
        }
        return 0;
    }
    case 'i': {
        int v = va_arg(*ap, int);
        if (pk)
            msgpack_pack_int64(pk, v);
        return 0;
    }
    case 'I': {
        int64_t v = va_arg(*ap, int64_t);
        if (pk)
            msgpack_pack_int64(pk, v);
        return 0;
    }
    case 'd': {
        double v = va_arg(*ap, double);
        if (pk)
            msgpack_pack_double(pk, v);
        return 0;
    }
    case 'b': {
        int v = va_arg(*ap, int);
        if (pk)
            (v ? msgpack_pack_true : msgpack_pack_false)(pk);
        return 0;
    }
    case 'n':
        if (pk)
            msgpack_pack_nil(pk);
        return 0;
    case 'r': {
        const void *p = va_arg(*ap, const void *);
        size_t n = va_arg(*ap, size_t);
        if (pk && n > 0)
            msgpack_sbuffer_write(sb, p, n);
        return 0;
    }
    default:
        fprintf(stderr, "harness: h_pack_map: unknown kind '%c'\n", kind);
        return -1;
    }
}

int h_pack_map(msgpack_sbuffer *sb, ...)
{
    va_list ap;
    va_start(ap, sb);
    int rc = h_pack_mapv(sb, ap);
    va_end(ap);
    return rc;
}

int h_pack_mapv(msgpack_sbuffer *sb, va_list args)
{
    /* Local copies: one counts the pairs, one packs them. s_pack_value takes &ap, which is a
     * va_list * only for a local (a va_list parameter may be a decayed array). */
    va_list ap, count;
    va_copy(ap, args);
    va_copy(count, args);
    uint32_t n = 0;
    const char *key;
    while ((key = va_arg(count, const char *))) {
        int kind = va_arg(count, int);
        if (s_pack_value(NULL, sb, kind, &count) != 0) {
            va_end(count);
            va_end(ap);
            return -1;
        }
        n++;
    }
    va_end(count);
    msgpack_packer pk;
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, n);
    while ((key = va_arg(ap, const char *))) {
        int kind = va_arg(ap, int);
        msgpack_pack_str(&pk, strlen(key));
        msgpack_pack_str_body(&pk, key, strlen(key));
        s_pack_value(&pk, sb, kind, &ap);
    }
    va_end(ap);
    return 0;
}

int h_pack_request(msgpack_sbuffer *sb, const char *feed, int64_t user, int64_t deadline_ms)
{
    if (deadline_ms > 0)
        return h_pack_map(sb, "feed", 's', feed, "user_id", 'I', user, H_CTX_US, "deadline_ms", 'I', deadline_ms, NULL);
    return h_pack_map(sb, "feed", 's', feed, "user_id", 'I', user, H_CTX_US, NULL);
}

const msgpack_object *h_get(const msgpack_object *map, const char *key)
{
    return fmx_mp_map_get(map, key);
}

bool h_str_eq(const msgpack_object *o, const char *s)
{
    return fmx_mp_str_eq(o, s);
}

int64_t h_get_int(const msgpack_object *map, const char *key)
{
    const msgpack_object *v = h_get(map, key);
    if (v && v->type == MSGPACK_OBJECT_POSITIVE_INTEGER && v->via.u64 <= INT64_MAX)
        return (int64_t)v->via.u64;
    if (v && v->type == MSGPACK_OBJECT_NEGATIVE_INTEGER)
        return v->via.i64;
    return INT64_MIN;
}

bool h_status_is(const h_reply_t *r, const char *want)
{
    return r && r->root && h_str_eq(h_get(r->root, "status"), want);
}

bool h_error_code_is(const h_reply_t *r, const char *code)
{
    return r && r->root && h_str_eq(h_get(h_get(r->root, "error"), "code"), code);
}

void h_print(const char *label, const msgpack_object *o)
{
    fprintf(stderr, "%s: ", label);
    if (o)
        msgpack_object_print(stderr, *o);
    else
        fputs("(none)", stderr);
    fputc('\n', stderr);
}

int h_wait_ready(h_t *h, const char *type, int n, int timeout_ms)
{
    int64_t deadline = h_now_ms() + timeout_ms;
    for (;;) {
        int64_t left = deadline - h_now_ms();
        if (left <= 0)
            return -1;
        h_reply_t r;
        if (h_admin(h, "stats", (int)(left < 500 ? left : 500), &r) == 0) {
            int64_t ready = h_get_int(h_get(h_get(r.root, "types"), type), "ready");
            h_reply_fini(&r);
            if (ready != INT64_MIN && ready >= n)
                return 0;
        }
        if (h->broker && !h_alive(h, h->broker)) {
            fprintf(stderr, "harness: the broker exited while waiting for `%s`\n", type);
            return -1;
        }
        h_sleep_ms(20);
    }
}

pid_t h_start(h_t *h, const char *name, const char *const *argv)
{
    char exe[600];
    char *args[H_MAX_ARGS];
    snprintf(exe, sizeof exe, "%s/%s", h->bin, argv[0]);
    args[0] = exe;
    if (s_args(args, 1, argv + 1) < 0)
        return -1;
    return s_spawn(h, name, args);
}
