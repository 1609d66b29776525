/* frame.h - ZeroMQ frames to and from msgpack buffers, and the multipart chores every process
 * repeats. Ownership follows zmq_msg_send: a send that fails leaves nothing behind to free. */
#ifndef FMX_FRAME_H
#define FMX_FRAME_H

#include <msgpack.h>
#include <stddef.h>
#include <zmq.h>

/* Moves sb's buffer into msg without copying (libzmq frees it, possibly from its I/O thread);
 * sb is left empty. 0 or -1 (then msg is unset and sb's buffer freed). */
int fmx_frame_from_sbuffer(zmq_msg_t *msg, msgpack_sbuffer *sb);
/* msg holds a copy of data. 0 or -1. */
int fmx_frame_from_bytes(zmq_msg_t *msg, const void *data, size_t len);

/* Sends and forgets: sbuffer (zero-copy, sb left empty), bytes (copied), or a message shared by
 * reference count (src stays valid). 0 or -1 with errno from zmq_msg_send. */
int fmx_frame_send_sbuffer(void *sock, msgpack_sbuffer *sb, int flags);
int fmx_frame_send_bytes(void *sock, const void *data, size_t len, int flags);
int fmx_frame_send_copy(void *sock, zmq_msg_t *src, int flags);

/* Receives one multipart message into frames[0..max): the first frame without blocking, the rest
 * as they come. Frames past max are read and dropped (*overflow set). Returns the number kept, or
 * -1 when nothing was waiting. The caller closes the kept frames. */
int fmx_frame_recv(void *sock, zmq_msg_t *frames, int max, int *overflow);
void fmx_frame_close_all(zmq_msg_t *frames, int n);

/* Reads every pending event from a socket-monitor PAIR; returns how many events there were. */
int fmx_frame_drain_monitor(void *monitor);

#endif
