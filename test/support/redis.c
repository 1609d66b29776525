/* redis.c - see redis.h. */
#include "test/support/redis.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define S_READY_TIMEOUT_MS 10000 /* an ASan machine shared by several builds is slow */
#define S_STOP_TIMEOUT_MS 5000
#define S_PORT_ATTEMPTS 5

static long long s_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void s_sleep_ms(int ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* A port the kernel just handed out for 127.0.0.1:0; free again once the socket closes. */
static int s_free_port(void) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return -1;
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    int port = -1;
    if (bind(fd, (struct sockaddr *)&a, sizeof a) == 0 && getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    close(fd);
    return port;
}

static const char *s_server_path(void) {
    const char *p = getenv("FMX_REDIS_SERVER");
    return p && *p ? p : REDIS_SERVER_PATH;
}

bool redis_installed(void) {
    return access(s_server_path(), X_OK) == 0;
}

static void s_log_tail(const redis_t *r) {
    char path[128], buf[2048];
    snprintf(path, sizeof path, "%s/redis.log", r->dir);
    int fd = open(path, O_RDONLY);
    if (fd < 0) return;
    off_t end = lseek(fd, 0, SEEK_END);
    if (end > (off_t)sizeof buf - 1) lseek(fd, end - (off_t)(sizeof buf - 1), SEEK_SET);
    else lseek(fd, 0, SEEK_SET);
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n > 0) {
        buf[n] = '\0';
        fprintf(stderr, "--- %s (tail) ---\n%s\n---\n", path, buf);
    }
}

/* True when the server answers PING with PONG. */
static bool s_ping(int port) {
    struct timeval tv = {0, 200 * 1000};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", port, tv);
    bool ok = false;
    if (c && !c->err && redisSetTimeout(c, tv) == REDIS_OK) {
        redisReply *rep = redisCommand(c, "PING");
        ok = rep && rep->type == REDIS_REPLY_STATUS && strcmp(rep->str, "PONG") == 0;
        if (rep) freeReplyObject(rep);
    }
    if (c) redisFree(c);
    return ok;
}

/* Forks and execs the server on r->port. 0, or -1 with r->why. */
static int s_spawn(redis_t *r) {
    char port[16], log[128];
    snprintf(port, sizeof port, "%d", r->port);
    snprintf(log, sizeof log, "%s/redis.log", r->dir);
    const char *exe = s_server_path();
    const char *argv[] = {exe, "--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                          "--dir", r->dir, "--logfile", log, "--daemonize", "no", NULL};
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(r->why, sizeof r->why, "fork failed: %s", strerror(errno));
        return -1;
    }
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (getppid() != parent) _exit(127); /* the parent died before prctl */
        int fd = open("/dev/null", O_RDWR);
        if (fd >= 0) {
            dup2(fd, 0);
            dup2(fd, 1);
            dup2(fd, 2);
            if (fd > 2) close(fd);
        }
        if (chdir(r->dir) != 0) _exit(126);
        execv(exe, (char *const *)argv);
        _exit(127);
    }
    r->pid = pid;
    return 0;
}

/* Waits for PING or for the child to exit. 0 ready, -1 exited or timed out (r->why). */
static int s_wait_ready(redis_t *r) {
    long long deadline = s_now_ms() + S_READY_TIMEOUT_MS;
    for (;;) {
        int st;
        pid_t w = waitpid(r->pid, &st, WNOHANG);
        if (w == r->pid) {
            r->pid = 0;
            snprintf(r->why, sizeof r->why, "redis-server on port %d exited during start-up (status 0x%x)", r->port, st);
            return -1;
        }
        if (s_ping(r->port)) return 0;
        if (s_now_ms() > deadline) {
            snprintf(r->why, sizeof r->why, "redis-server on port %d did not answer PING within %d ms", r->port,
                     S_READY_TIMEOUT_MS);
            redis_stop(r, SIGKILL);
            return -1;
        }
        s_sleep_ms(10);
    }
}

int redis_start(redis_t *r) {
    if (r->pid > 0) {
        snprintf(r->why, sizeof r->why, "redis-server already running (pid %d)", (int)r->pid);
        return -1;
    }
    if (!redis_installed()) {
        snprintf(r->why, sizeof r->why, "%s is not installed (apt-get install redis-server): Redis tests skipped",
                 s_server_path());
        return 1;
    }
    if (!r->dir[0]) {
        snprintf(r->dir, sizeof r->dir, "/tmp/fmx-redis-XXXXXX");
        if (!mkdtemp(r->dir)) {
            snprintf(r->why, sizeof r->why, "mkdtemp failed: %s", strerror(errno));
            r->dir[0] = '\0';
            return -1;
        }
    }
    bool pick = r->port == 0;
    for (int attempt = 0; attempt < (pick ? S_PORT_ATTEMPTS : 1); attempt++) {
        if (pick) {
            r->port = s_free_port();
            if (r->port <= 0) {
                snprintf(r->why, sizeof r->why, "no free loopback port: %s", strerror(errno));
                r->port = 0;
                return -1;
            }
        }
        snprintf(r->url, sizeof r->url, "redis://127.0.0.1:%d/0", r->port);
        if (s_spawn(r) != 0) return -1;
        if (s_wait_ready(r) == 0) return 0;
        /* Most likely someone took the port between our probe and the server's bind. */
        if (pick) r->port = 0;
    }
    s_log_tail(r);
    return -1;
}

int redis_stop(redis_t *r, int sig) {
    if (r->pid <= 0) return -1;
    kill(r->pid, sig);
    long long deadline = s_now_ms() + S_STOP_TIMEOUT_MS;
    int rc = 0;
    for (;;) {
        int st;
        pid_t w = waitpid(r->pid, &st, WNOHANG);
        if (w == r->pid || (w < 0 && errno == ECHILD)) break;
        if (s_now_ms() > deadline) {
            fprintf(stderr, "redis: pid %d ignored signal %d for %d ms: SIGKILL\n", (int)r->pid, sig, S_STOP_TIMEOUT_MS);
            kill(r->pid, SIGKILL);
            waitpid(r->pid, &st, 0);
            rc = -1;
            break;
        }
        s_sleep_ms(5);
    }
    r->pid = 0;
    return rc;
}

static void s_rm(const char *dir, const char *name) {
    char path[128];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    unlink(path);
}

void redis_fini(redis_t *r) {
    if (r->pid > 0) redis_stop(r, SIGTERM);
    if (r->dir[0]) {
        /* --save "" and --appendonly no: the log is the only file the server writes. */
        s_rm(r->dir, "redis.log");
        s_rm(r->dir, "dump.rdb");
        rmdir(r->dir);
        r->dir[0] = '\0';
    }
}
