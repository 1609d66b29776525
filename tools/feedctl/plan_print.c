/* plan_print.c - JSON and DOT rendering of a plan for `feedctl plan`. */
#include "tools/feedctl/plan_print.h"

#include <msgpack.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "schemas/mpobj.h"
#include "tools/feedctl/json.h"

/* The expanded feed graph is bounded by the plan compiler's own limits (4096 live nodes, sub-feeds
 * 8 deep); this caps what pruned branches may add on top, so a hostile config cannot balloon it. */
#define S_MAX_ENTRIES 16384
#define S_MAX_CLUSTER_DEPTH (FMX_PLAN_MAX_DEPTH + 1)

/* One node of the feed definition expanded like the plan compiler does, live or pruned. */
typedef struct {
    char *name;          /* owned: "PARENT/NAME" as the plan names it */
    const char *type;    /* node type, "carousel" for a sub-feed node */
    const char *subfeed; /* the embedded feed's name, for a sub-feed node */
    size_t *inputs;      /* owned: entry indices of the inputs the definition names */
    size_t n_inputs;
    long plan_index;     /* -1: not in the plan */
} s_entry_t;

typedef struct {
    s_entry_t *v;
    size_t n, cap;
    const fmx_plan_t *plan;
    const fmx_feedset_t *set;
    char *err;
} s_graph_t;

static void s_graph_fini(s_graph_t *g)
{
    for (size_t i = 0; i < g->n; i++) {
        free(g->v[i].name);
        free(g->v[i].inputs);
    }
    free(g->v);
    g->v = NULL;
    g->n = g->cap = 0;
}

/* Appends a zeroed entry taking `name`; frees `name` and returns NULL on failure. */
static s_entry_t *s_push(s_graph_t *g, char *name)
{
    if (!name) {
        fmx_err(g->err, "out of memory rendering the plan");
        return NULL;
    }
    if (g->n >= S_MAX_ENTRIES) {
        free(name);
        fmx_err(g->err, "feed '%s': more than %d nodes once sub-feeds are expanded", g->plan->feed->name,
                S_MAX_ENTRIES);
        return NULL;
    }
    if (g->n == g->cap) {
        size_t cap = g->cap ? g->cap * 2 : 32;
        s_entry_t *v = realloc(g->v, cap * sizeof *v);
        if (!v) {
            free(name);
            fmx_err(g->err, "out of memory rendering the plan");
            return NULL;
        }
        g->v = v;
        g->cap = cap;
    }
    s_entry_t *e = &g->v[g->n++];
    memset(e, 0, sizeof *e);
    e->name = name;
    e->plan_index = -1;
    return e;
}

static char *s_join(const char *prefix, const char *name)
{
    size_t a = prefix ? strlen(prefix) : 0, b = strlen(name);
    char *s = malloc(a + b + 2);
    if (!s)
        return NULL;
    if (a) {
        memcpy(s, prefix, a);
        s[a++] = '/';
    }
    memcpy(s + a, name, b + 1);
    return s;
}

/* Adds every node of `feed` in the plan compiler's order (a sub-feed's inner nodes just before its
 * carousel node); *output gets the entry of the feed's output, SIZE_MAX when it has none. */
static int s_expand(s_graph_t *g, const fmx_feed_t *feed, const char *prefix, int depth, size_t *output)
{
    size_t *map = malloc((feed->n_nodes ? feed->n_nodes : 1) * sizeof *map);
    int rc = -1;
    *output = SIZE_MAX;
    if (!map)
        return fmx_err(g->err, "out of memory rendering the plan");
    for (size_t i = 0; i < feed->n_nodes; i++) {
        const fmx_feed_node_t *def = &feed->nodes[i];
        char *name = s_join(prefix, def->name);
        size_t sub_output = SIZE_MAX;
        const fmx_feed_t *sub = NULL;
        if (def->subfeed && g->set && depth < FMX_PLAN_MAX_DEPTH)
            sub = fmx_feedset_find(g->set, def->subfeed, strlen(def->subfeed));
        if (sub && name && s_expand(g, sub, name, depth + 1, &sub_output) != 0) {
            free(name);
            goto done;
        }
        s_entry_t *e = s_push(g, name);
        if (!e)
            goto done;
        e->type = def->subfeed ? "carousel" : def->type;
        e->subfeed = def->subfeed;
        size_t n_inputs = def->subfeed ? (sub_output != SIZE_MAX) : def->n_inputs;
        if (n_inputs) {
            e->inputs = malloc(n_inputs * sizeof *e->inputs);
            if (!e->inputs) {
                fmx_err(g->err, "out of memory rendering the plan");
                goto done;
            }
            if (def->subfeed)
                e->inputs[0] = sub_output;
            else
                for (size_t k = 0; k < n_inputs; k++)
                    e->inputs[k] = map[def->input_index[k]];
            e->n_inputs = n_inputs;
        }
        map[i] = g->n - 1;
    }
    if (feed->n_nodes && feed->output < feed->n_nodes)
        *output = map[feed->output];
    rc = 0;
done:
    free(map);
    return rc;
}

/* The expanded definition, each entry tied to its plan node; plan nodes the definition does not
 * explain (a set other than the plan's) are appended so that nothing in the plan goes unprinted. */
static int s_graph_build(s_graph_t *g, const fmx_plan_print_t *in, char *err)
{
    memset(g, 0, sizeof *g);
    g->plan = in->plan;
    g->set = in->set;
    g->err = err;
    const fmx_plan_t *p = in->plan;
    size_t output;
    if (s_expand(g, p->feed, NULL, 0, &output) != 0)
        return -1;
    bool *matched = calloc(p->n_nodes ? p->n_nodes : 1, sizeof *matched);
    if (!matched)
        return fmx_err(err, "out of memory rendering the plan");
    /* The plan is a subsequence of the expansion, so the next unmatched plan node is nearly always
     * the one; the full scan only runs for pruned entries and stays correct whatever the order. */
    size_t hint = 0;
    for (size_t i = 0; i < g->n; i++) {
        long found = -1;
        if (hint < p->n_nodes && strcmp(p->nodes[hint].name, g->v[i].name) == 0)
            found = (long)hint;
        for (size_t j = 0; found < 0 && j < p->n_nodes; j++)
            if (!matched[j] && strcmp(p->nodes[j].name, g->v[i].name) == 0)
                found = (long)j;
        if (found >= 0 && !matched[found]) {
            matched[found] = true;
            g->v[i].plan_index = found;
            hint = (size_t)found + 1;
        }
    }
    int rc = 0;
    for (size_t j = 0; j < p->n_nodes && rc == 0; j++) {
        if (matched[j])
            continue;
        s_entry_t *e = s_push(g, strdup(p->nodes[j].name));
        if (!e) {
            rc = -1;
            break;
        }
        e->type = p->nodes[j].type;
        e->subfeed = p->nodes[j].def ? p->nodes[j].def->subfeed : NULL;
        e->plan_index = (long)j;
    }
    free(matched);
    return rc;
}

/* --- JSON -------------------------------------------------------------------------------------- */

static void s_pack_node(msgpack_sbuffer *sb, msgpack_packer *pk, const fmx_plan_print_t *in, size_t i)
{
    const fmx_plan_node_t *n = &in->plan->nodes[i];
    msgpack_pack_map(pk, 8);
    fmx_mp_pack_cstr(pk, "name");
    fmx_mp_pack_cstr(pk, n->name);
    fmx_mp_pack_cstr(pk, "type");
    fmx_mp_pack_cstr(pk, n->type ? n->type : "");
    fmx_mp_pack_cstr(pk, "kind");
    fmx_mp_pack_cstr(pk, n->kind == FMX_PLAN_CAROUSEL ? "carousel" : "task");
    fmx_mp_pack_cstr(pk, "inputs");
    msgpack_pack_array(pk, n->n_inputs);
    for (size_t k = 0; k < n->n_inputs; k++)
        fmx_mp_pack_cstr(pk, in->plan->nodes[n->inputs[k]].name);
    fmx_mp_pack_cstr(pk, "budget_ms");
    msgpack_pack_uint32(pk, n->budget_ms);
    fmx_mp_pack_cstr(pk, "fallback");
    fmx_mp_pack_cstr(pk, fmx_fallback_kind_name(n->fallback));
    fmx_mp_pack_cstr(pk, "required");
    if (n->required)
        msgpack_pack_true(pk);
    else
        msgpack_pack_false(pk);
    fmx_mp_pack_cstr(pk, "params");
    /* Already one complete msgpack object: spliced in as is, decoded once with the document. */
    const char *params = n->params;
    size_t len = n->params_len;
    if (in->bound && in->bound[i].ptr) {
        params = in->bound[i].ptr;
        len = in->bound[i].len;
    }
    if (params && len)
        msgpack_sbuffer_write(sb, params, len);
    else
        msgpack_pack_map(pk, 0);
}

int fmx_plan_print_json(FILE *out, const fmx_plan_print_t *in, char err[FMX_ERR_LEN])
{
    const fmx_plan_t *p = in->plan;
    const fmx_resolution_t *res = in->res;
    s_graph_t g;
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_unpacked up;
    int rc = -1;
    msgpack_sbuffer_init(&sb);
    msgpack_unpacked_init(&up);
    if (s_graph_build(&g, in, err) != 0)
        goto done;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 7);
    fmx_mp_pack_cstr(&pk, "feed");
    fmx_mp_pack_cstr(&pk, p->feed->name);
    fmx_mp_pack_cstr(&pk, "experiments");
    msgpack_pack_map(&pk, res ? res->n_experiments : 0);
    for (size_t i = 0; res && i < res->n_experiments; i++) {
        fmx_mp_pack_cstr(&pk, res->experiments[i].experiment);
        fmx_mp_pack_cstr(&pk, res->experiments[i].variant);
    }
    fmx_mp_pack_cstr(&pk, "params");
    msgpack_pack_map(&pk, res ? res->n : 0);
    for (size_t i = 0; res && i < res->n; i++) {
        fmx_mp_pack_strn(&pk, res->names[i].ptr, res->names[i].len);
        fmx_scalar_pack(&pk, &res->values[i]);
    }
    fmx_mp_pack_cstr(&pk, "deadline_ms");
    msgpack_pack_uint32(&pk, p->deadline_ms);
    fmx_mp_pack_cstr(&pk, "output");
    fmx_mp_pack_cstr(&pk, p->output < p->n_nodes ? p->nodes[p->output].name : "");
    fmx_mp_pack_cstr(&pk, "nodes");
    msgpack_pack_array(&pk, p->n_nodes);
    for (size_t i = 0; i < p->n_nodes; i++)
        s_pack_node(&sb, &pk, in, i);
    size_t n_pruned = 0;
    for (size_t i = 0; i < g.n; i++)
        n_pruned += g.v[i].plan_index < 0;
    fmx_mp_pack_cstr(&pk, "pruned");
    msgpack_pack_array(&pk, n_pruned);
    for (size_t i = 0; i < g.n; i++)
        if (g.v[i].plan_index < 0)
            fmx_mp_pack_cstr(&pk, g.v[i].name);

    size_t off = 0;
    if (msgpack_unpack_next(&up, sb.data, sb.size, &off) != MSGPACK_UNPACK_SUCCESS || off != sb.size) {
        fmx_err(err, "feed '%s': the plan does not encode as one document (bad node params)", p->feed->name);
        goto done;
    }
    if (fmx_json_write(out, &up.data, 2) != 0 || fputc('\n', out) == EOF) {
        fmx_err(err, "cannot write the plan");
        goto done;
    }
    rc = 0;
done:
    msgpack_unpacked_destroy(&up);
    msgpack_sbuffer_destroy(&sb);
    s_graph_fini(&g);
    return rc;
}

/* --- DOT --------------------------------------------------------------------------------------- */

/* A DOT quoted string body: '"' and '\' escaped (a label reads "\\" as one backslash), control
 * bytes as '?' so a name can never break the line structure. */
static void s_dot_chars(FILE *out, const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\')
            fputc('\\', out);
        fputc(c < 0x20 || c == 0x7f ? '?' : c, out);
    }
}

static void s_dot_id(FILE *out, const char *s)
{
    fputc('"', out);
    s_dot_chars(out, s, strlen(s));
    fputc('"', out);
}

static void s_indent(FILE *out, int depth)
{
    for (int i = 0; i < 2 + 2 * depth; i++)
        fputc(' ', out);
}

static long s_find(const s_graph_t *g, const char *name, size_t len)
{
    for (size_t i = 0; i < g->n; i++)
        if (strncmp(g->v[i].name, name, len) == 0 && g->v[i].name[len] == '\0')
            return (long)i;
    return -1;
}

/* Opens the cluster of the sub-feed node named path[0..len): labelled with the sub-feed's name,
 * greyed when that node is pruned. */
static void s_dot_open_cluster(FILE *out, const s_graph_t *g, const char *path, size_t len, int depth)
{
    long owner = s_find(g, path, len);
    const char *label = owner >= 0 && g->v[owner].subfeed ? g->v[owner].subfeed : NULL;
    s_indent(out, depth);
    fputs("subgraph \"cluster_", out);
    s_dot_chars(out, path, len);
    fputs("\" {\n", out);
    s_indent(out, depth + 1);
    fputs("label=\"", out);
    if (label)
        s_dot_chars(out, label, strlen(label));
    else
        s_dot_chars(out, path, len);
    fputs("\";\n", out);
    if (owner < 0 || g->v[owner].plan_index < 0) {
        s_indent(out, depth + 1);
        fputs("style=dashed; color=gray; fontcolor=gray;\n", out);
    }
}

static void s_dot_node(FILE *out, const s_graph_t *g, const s_entry_t *e, int depth)
{
    const fmx_plan_t *p = g->plan;
    s_indent(out, depth);
    s_dot_id(out, e->name);
    fputs(" [label=\"", out);
    s_dot_chars(out, e->name, strlen(e->name));
    fputs("\\n", out);
    s_dot_chars(out, e->type ? e->type : "", e->type ? strlen(e->type) : 0);
    fputc('"', out);
    bool carousel = e->plan_index >= 0 ? p->nodes[e->plan_index].kind == FMX_PLAN_CAROUSEL : e->subfeed != NULL;
    if (carousel)
        fputs(", shape=box3d", out);
    if (e->plan_index >= 0 && (size_t)e->plan_index == p->output)
        fputs(", peripheries=2", out);
    if (e->plan_index < 0)
        fputs(", style=dashed, color=gray, fontcolor=gray", out);
    fputs("];\n", out);
}

static void s_dot_edge(FILE *out, const char *from, const char *to, bool would_be)
{
    s_indent(out, 0);
    s_dot_id(out, from);
    fputs(" -> ", out);
    s_dot_id(out, to);
    fputs(would_be ? " [style=dashed, color=gray];\n" : ";\n", out);
}

/* Nodes in entry order; a run of entries sharing a "PARENT/" prefix sits in PARENT's cluster.
 * open[d] is the length of the d+1-th open cluster's path, a prefix of the current name. */
static void s_dot_nodes(FILE *out, const s_graph_t *g)
{
    size_t open[S_MAX_CLUSTER_DEPTH];
    const char *open_name = NULL;
    int depth = 0;
    for (size_t i = 0; i < g->n; i++) {
        const char *name = g->v[i].name;
        const char *slash = strrchr(name, '/');
        size_t path_len = slash ? (size_t)(slash - name) : 0;
        /* Close clusters that are not ancestors of this node's. */
        while (depth > 0 && !(open[depth - 1] <= path_len && strncmp(name, open_name, open[depth - 1]) == 0 &&
                              (name[open[depth - 1]] == '/'))) {
            depth--;
            s_indent(out, depth);
            fputs("}\n", out);
        }
        /* Open the missing ones, one path component at a time. */
        while (depth < S_MAX_CLUSTER_DEPTH && (depth ? open[depth - 1] : 0) < path_len) {
            size_t start = depth ? open[depth - 1] + 1 : 0;
            const char *end = memchr(name + start, '/', path_len - start);
            size_t len = end ? (size_t)(end - name) : path_len;
            s_dot_open_cluster(out, g, name, len, depth);
            open[depth++] = len;
        }
        open_name = name;
        s_dot_node(out, g, &g->v[i], depth);
    }
    while (depth > 0) {
        depth--;
        s_indent(out, depth);
        fputs("}\n", out);
    }
}

/* Plan edges solid; the would-be edges of pruned nodes (to or from them) dashed. */
static void s_dot_edges(FILE *out, const s_graph_t *g)
{
    const fmx_plan_t *p = g->plan;
    for (size_t i = 0; i < g->n; i++) {
        const s_entry_t *e = &g->v[i];
        if (e->plan_index >= 0) {
            const fmx_plan_node_t *n = &p->nodes[e->plan_index];
            for (size_t k = 0; k < n->n_inputs; k++)
                s_dot_edge(out, p->nodes[n->inputs[k]].name, e->name, false);
        }
        for (size_t k = 0; k < e->n_inputs; k++) {
            const s_entry_t *src = &g->v[e->inputs[k]];
            if (e->plan_index < 0 || src->plan_index < 0)
                s_dot_edge(out, src->name, e->name, true);
        }
    }
}

int fmx_plan_print_dot(FILE *out, const fmx_plan_print_t *in, char err[FMX_ERR_LEN])
{
    const fmx_plan_t *p = in->plan;
    const fmx_resolution_t *res = in->res;
    s_graph_t g;
    if (s_graph_build(&g, in, err) != 0) {
        s_graph_fini(&g);
        return -1;
    }
    fputs("digraph ", out);
    s_dot_id(out, p->feed->name);
    fputs(" {\n", out);
    s_indent(out, 0);
    fputs("label=\"", out);
    s_dot_chars(out, p->feed->name, strlen(p->feed->name));
    fprintf(out, "\\ndeadline %u ms", (unsigned)p->deadline_ms);
    for (size_t i = 0; res && i < res->n_experiments; i++) {
        fputs("\\n", out);
        s_dot_chars(out, res->experiments[i].experiment, strlen(res->experiments[i].experiment));
        fputs(": ", out);
        s_dot_chars(out, res->experiments[i].variant, strlen(res->experiments[i].variant));
    }
    fputs("\";\n", out);
    s_indent(out, 0);
    fputs("labelloc=t;\n", out);
    s_indent(out, 0);
    fputs("rankdir=LR;\n", out);
    s_indent(out, 0);
    fputs("node [shape=box];\n", out);
    s_dot_nodes(out, &g);
    s_dot_edges(out, &g);
    fputs("}\n", out);
    s_graph_fini(&g);
    if (ferror(out))
        return fmx_err(err, "cannot write the plan");
    return 0;
}
