/* broker.h - the coordinator: one thread, one event loop over the frontend (clients), backend
 * (actors) and admin sockets, running each request's plan against actor replicas. */
#ifndef FMX_BROKER_H
#define FMX_BROKER_H

#include "broker/cluster.h"
#include "common/fmx.h"

typedef struct fmx_broker fmx_broker_t;

/* Binds the sockets and loads the feeds. NULL with err on failure. Caller owns. */
fmx_broker_t *fmx_broker_new(const fmx_cluster_t *config, char err[FMX_ERR_LEN]);
void fmx_broker_destroy(fmx_broker_t **self_p);

/* Runs until *stop becomes non-zero (a signal handler sets it) or a fatal socket error.
 * A non-zero *reload makes the broker reload feeds at the next pass and clears it.
 * 0 on a requested stop, -1 on a fatal error. */
int fmx_broker_run(fmx_broker_t *self, volatile int *stop, volatile int *reload);

#endif
