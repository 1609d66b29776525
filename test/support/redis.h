/* redis.h - a real redis-server for one test: started on a free loopback port in a temp dir, with
 * persistence off (--save "" --appendonly no), answered PING before redis_start returns, stopped
 * by its pid at the end. Used by test_store (unit) and test_store_backends (process test).
 *
 *   redis_t r = {0};
 *   int rc = redis_start(&r);    // 1: redis-server is not installed -> skip, r.why says so
 *   ... fmx_store_open(r.url, ...) ...
 *   redis_stop(&r, SIGKILL);     // a crash; redis_start(&r) restarts on the same port
 *   redis_fini(&r);              // SIGTERM + wait, removes the temp dir
 *
 * The server is a child of the test process and gets SIGTERM if the test process dies
 * (PR_SET_PDEATHSIG), so a crashed test leaves no server behind. $FMX_REDIS_SERVER overrides the
 * binary (tests of the skip path point it at a missing file). */
#ifndef FMX_TEST_REDIS_H
#define FMX_TEST_REDIS_H

#include <stdbool.h>
#include <sys/types.h>

#define REDIS_SERVER_PATH "/usr/bin/redis-server"

typedef struct {
    pid_t pid;      /* 0 when not running */
    int port;       /* 0: redis_start picks a free one; kept for restarts */
    char dir[64];   /* temp dir: the server's cwd and redis.log */
    char url[64];   /* "redis://127.0.0.1:PORT/0" */
    char why[256];  /* why redis_start returned 1 or -1 */
} redis_t;

/* Whether the server binary is there: false means redis_start would return 1 (skip). */
bool redis_installed(void);
/* Starts the server (on r->port when set, else a free port) and waits for PING. 0 running;
 * 1 the binary is missing (skip the test); -1 failed (r->why, and the log tail on stderr). */
int redis_start(redis_t *r);
/* Sends sig (SIGTERM: orderly; SIGKILL: a crash) to the server and reaps it. 0, or -1 when it
 * was not running or did not exit within 5 s (it is SIGKILLed then). */
int redis_stop(redis_t *r, int sig);
/* Stops the server if running, removes the temp dir. Idempotent. */
void redis_fini(redis_t *r);

#endif
