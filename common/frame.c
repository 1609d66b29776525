#include "common/frame.h"

#include <stdlib.h>
#include <string.h>

static void s_free(void *data, void *hint) {
    (void)hint;
    free(data);
}

int fmx_frame_from_sbuffer(zmq_msg_t *msg, msgpack_sbuffer *sb) {
    size_t size = sb->size;
    char *data = msgpack_sbuffer_release(sb);
    if (!data) return zmq_msg_init(msg);
    if (zmq_msg_init_data(msg, data, size, s_free, NULL) != 0) {
        free(data);
        return -1;
    }
    return 0;
}

int fmx_frame_from_bytes(zmq_msg_t *msg, const void *data, size_t len) {
    if (zmq_msg_init_size(msg, len) != 0) return -1;
    if (len) memcpy(zmq_msg_data(msg), data, len);
    return 0;
}

static int s_send(void *sock, zmq_msg_t *m, int flags) {
    if (zmq_msg_send(m, sock, flags) >= 0) return 0;
    zmq_msg_close(m);
    return -1;
}

int fmx_frame_send_sbuffer(void *sock, msgpack_sbuffer *sb, int flags) {
    zmq_msg_t m;
    if (fmx_frame_from_sbuffer(&m, sb) != 0) return -1;
    return s_send(sock, &m, flags);
}

int fmx_frame_send_bytes(void *sock, const void *data, size_t len, int flags) {
    zmq_msg_t m;
    if (fmx_frame_from_bytes(&m, data, len) != 0) return -1;
    return s_send(sock, &m, flags);
}

int fmx_frame_send_copy(void *sock, zmq_msg_t *src, int flags) {
    zmq_msg_t m;
    zmq_msg_init(&m);
    if (zmq_msg_copy(&m, src) != 0) {
        zmq_msg_close(&m);
        return -1;
    }
    return s_send(sock, &m, flags);
}

int fmx_frame_recv(void *sock, zmq_msg_t *frames, int max, int *overflow) {
    int n = 0, more = 1;
    *overflow = 0;
    while (more) {
        zmq_msg_t m;
        zmq_msg_init(&m);
        if (zmq_msg_recv(&m, sock, n == 0 && !*overflow ? ZMQ_DONTWAIT : 0) < 0) {
            zmq_msg_close(&m);
            return n ? n : (*overflow ? 0 : -1);
        }
        more = zmq_msg_more(&m);
        if (n < max) {
            zmq_msg_init(&frames[n]);
            zmq_msg_move(&frames[n++], &m);
        } else {
            *overflow = 1;
        }
        zmq_msg_close(&m);
    }
    return n;
}

void fmx_frame_close_all(zmq_msg_t *frames, int n) {
    for (int i = 0; i < n; i++) zmq_msg_close(&frames[i]);
}

int fmx_frame_drain_monitor(void *monitor) {
    int events = 0;
    for (;;) {
        zmq_msg_t m;
        zmq_msg_init(&m);
        if (zmq_msg_recv(&m, monitor, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&m);
            return events;
        }
        if (!zmq_msg_more(&m)) events++; /* an event is two frames: id+value, then the address */
        zmq_msg_close(&m);
    }
}
