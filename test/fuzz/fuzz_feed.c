/* fuzz_feed.c - libFuzzer target for the feed loader (fmx_feed_load: libyaml, the raw tree, the
 * feed schema, node params, `when:` expressions, the dependency sort).
 *
 * The loader reads a path, so each input is written to one memfd that every run reuses and
 * loaded through /proc/self/fd/N: no file system traffic, nothing left behind. Invariants: a
 * failure explains itself as "PATH:..." in err; a loaded feed has its nodes in dependency order,
 * unique names that fmx_feed_node_index finds, `type` xor `subfeed`, an output in range and a
 * declaration for every param it declares. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "test/fuzz/fuzz.h"
#include "broker/feed.h"


/* The harness's only state: the memfd and its path, set up once per process. */
static int s_fd = -1;
static char s_path[64];

static void s_write_input(const uint8_t *data, size_t size) {
    if (s_fd < 0) {
        s_fd = memfd_create("fuzz_feed.yaml", MFD_CLOEXEC);
        FUZZ_CHECK(s_fd >= 0);
        snprintf(s_path, sizeof(s_path), "/proc/self/fd/%d", s_fd);
    }
    FUZZ_CHECK(ftruncate(s_fd, 0) == 0);
    size_t off = 0;
    while (off < size) {
        ssize_t w = pwrite(s_fd, data + off, size - off, (off_t)off);
        FUZZ_CHECK(w > 0);
        off += (size_t)w;
    }
}

static void s_check_feed(const fmx_feed_t *f) {
    FUZZ_CHECK(f->name && f->name[0] && f->path && f->params && f->context);
    FUZZ_CHECK(f->n_nodes > 0 && f->nodes && f->output < f->n_nodes);
    FUZZ_CHECK(f->deadline_ms > 0);
    for (size_t i = 0; i < f->n_nodes; i++) {
        const fmx_feed_node_t *n = &f->nodes[i];
        FUZZ_CHECK(n->name && n->name[0] && n->params);
        FUZZ_CHECK((n->type == NULL) != (n->subfeed == NULL));
        FUZZ_CHECK(fmx_feed_node_index(f, n->name) == (long)i);
        FUZZ_CHECK(n->n_inputs == 0 || (n->inputs && n->input_index));
        for (size_t j = 0; j < n->n_inputs; j++) {
            FUZZ_CHECK(n->input_index[j] < i); /* dependency order */
            FUZZ_CHECK(strcmp(f->nodes[n->input_index[j]].name, n->inputs[j]) == 0);
        }
        FUZZ_CHECK((n->when == NULL) == (n->when_expr == NULL));
        FUZZ_CHECK(n->fallback != FMX_FALLBACK_STATIC || n->fallback_items != NULL);
        FUZZ_CHECK(n->fallback >= FMX_FALLBACK_NONE && n->fallback <= FMX_FALLBACK_CACHED);
    }
    FUZZ_CHECK(f->n_param_decls == 0 || f->param_decls);
    for (size_t i = 0; i < f->n_param_decls; i++) {
        const fmx_param_decl_t *d = &f->param_decls[i];
        FUZZ_CHECK(d->name && fmx_feed_param(f, d->name) == d);
        FUZZ_CHECK(!d->has_min || !d->has_max || d->min <= d->max);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char err[FMX_ERR_LEN];

    s_write_input(data, size);
    memset(err, 0x7f, sizeof(err));
    fmx_feed_t *feed = fmx_feed_load(s_path, err);
    if (!feed) {
        size_t plen = strlen(s_path);
        FUZZ_CHECK(memchr(err, '\0', sizeof(err)) != NULL);
        if (strncmp(err, s_path, plen) != 0 || err[plen] != ':') fprintf(stderr, "message: %s\n", err);
        FUZZ_CHECK(strncmp(err, s_path, plen) == 0 && err[plen] == ':');
        return 0;
    }
    s_check_feed(feed);
    fmx_feed_destroy(&feed);
    FUZZ_CHECK(feed == NULL);
    return 0;
}
