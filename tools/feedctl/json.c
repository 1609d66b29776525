/* json.c - msgpack object -> JSON text (see json.h). */
#include "tools/feedctl/json.h"

#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "common/jsonbuf.h"

static const char s_b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int fmx_json_write_string(FILE *out, const char *s, size_t len)
{
    /* common/jsonbuf's escaping, the same as the broker's logs and traces. */
    fmx_jsonbuf_t b;
    fmx_jsonbuf_init(&b, 0);
    int rc = fmx_jsonbuf_str(&b, s, len) == 0 && fwrite(b.data, 1, b.len, out) == b.len ? 0 : -1;
    fmx_jsonbuf_fini(&b);
    return rc;
}

static void s_write_base64(FILE *out, const unsigned char *p, size_t len)
{
    fputc('"', out);
    size_t i = 0;
    for (; i + 3 <= len; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
        fputc(s_b64[v >> 18 & 63], out);
        fputc(s_b64[v >> 12 & 63], out);
        fputc(s_b64[v >> 6 & 63], out);
        fputc(s_b64[v & 63], out);
    }
    if (len - i == 1) {
        uint32_t v = (uint32_t)p[i] << 16;
        fputc(s_b64[v >> 18 & 63], out);
        fputc(s_b64[v >> 12 & 63], out);
        fputs("==", out);
    } else if (len - i == 2) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8;
        fputc(s_b64[v >> 18 & 63], out);
        fputc(s_b64[v >> 12 & 63], out);
        fputc(s_b64[v >> 6 & 63], out);
        fputc('=', out);
    }
    fputc('"', out);
}

char *fmx_json_format_double(char buf[32], double v, int is_float32)
{
    if (isnan(v) || isinf(v)) {
        strcpy(buf, "null");
        return buf;
    }
    int max = is_float32 ? 9 : 17;
    for (int prec = 1; prec <= max; prec++) {
        snprintf(buf, 32, "%.*g", prec, v);
        double back = strtod(buf, NULL);
        if (is_float32 ? (float)back == (float)v : back == v)
            break;
    }
    /* Keep a float recognisable as one: "3" -> "3.0" (JSON has one number type, readers don't). */
    if (!strpbrk(buf, ".eE"))
        strcat(buf, ".0");
    return buf;
}

static void s_newline(FILE *out, int indent, int depth)
{
    fputc('\n', out);
    for (int i = 0; i < indent * depth; i++)
        fputc(' ', out);
}

static int s_write(FILE *out, const msgpack_object *o, int indent, int depth);

/* JSON object keys must be strings: a str key is printed as is, anything else as the string
 * holding its compact JSON (an int key 7 becomes "7"). */
static int s_write_key(FILE *out, const msgpack_object *k, int depth)
{
    if (k->type == MSGPACK_OBJECT_STR)
        return fmx_json_write_string(out, k->via.str.ptr, k->via.str.size);
    if (k->type == MSGPACK_OBJECT_BIN) {
        s_write_base64(out, (const unsigned char *)k->via.bin.ptr, k->via.bin.size);
        return 0;
    }
    char *text = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&text, &len);
    if (!mem)
        return -1;
    int rc = s_write(mem, k, 0, depth);
    if (fclose(mem) != 0)
        rc = -1;
    if (text && fmx_json_write_string(out, text, len) != 0)
        rc = -1;
    free(text);
    return rc;
}

static int s_write(FILE *out, const msgpack_object *o, int indent, int depth)
{
    char num[32];
    int rc = 0;
    switch (o->type) {
    case MSGPACK_OBJECT_NIL:
        fputs("null", out);
        break;
    case MSGPACK_OBJECT_BOOLEAN:
        fputs(o->via.boolean ? "true" : "false", out);
        break;
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
        fprintf(out, "%" PRIu64, o->via.u64);
        break;
    case MSGPACK_OBJECT_NEGATIVE_INTEGER:
        fprintf(out, "%" PRId64, o->via.i64);
        break;
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64:
        fputs(fmx_json_format_double(num, o->via.f64, o->type == MSGPACK_OBJECT_FLOAT32), out);
        break;
    case MSGPACK_OBJECT_STR:
        rc = fmx_json_write_string(out, o->via.str.ptr, o->via.str.size);
        break;
    case MSGPACK_OBJECT_BIN:
        s_write_base64(out, (const unsigned char *)o->via.bin.ptr, o->via.bin.size);
        break;
    case MSGPACK_OBJECT_EXT:
        fprintf(out, indent ? "{\"ext\": %d, \"data\": " : "{\"ext\":%d,\"data\":", (int)o->via.ext.type);
        s_write_base64(out, (const unsigned char *)o->via.ext.ptr, o->via.ext.size);
        fputc('}', out);
        break;
    case MSGPACK_OBJECT_ARRAY:
    case MSGPACK_OBJECT_MAP: {
        bool is_map = o->type == MSGPACK_OBJECT_MAP;
        uint32_t n = is_map ? o->via.map.size : o->via.array.size;
        if (depth >= FMX_JSON_MAX_DEPTH) {
            fputs("null", out);
            return -1;
        }
        fputc(is_map ? '{' : '[', out);
        for (uint32_t i = 0; i < n; i++) {
            if (i > 0)
                fputc(',', out);
            if (indent)
                s_newline(out, indent, depth + 1);
            const msgpack_object *v;
            if (is_map) {
                if (s_write_key(out, &o->via.map.ptr[i].key, depth + 1) != 0)
                    rc = -1;
                fputs(indent ? ": " : ":", out);
                v = &o->via.map.ptr[i].val;
            } else {
                v = &o->via.array.ptr[i];
            }
            if (s_write(out, v, indent, depth + 1) != 0)
                rc = -1;
        }
        if (indent && n > 0)
            s_newline(out, indent, depth);
        fputc(is_map ? '}' : ']', out);
        break;
    }
    default:
        fputs("null", out);
        break;
    }
    return ferror(out) ? -1 : rc;
}

int fmx_json_write(FILE *out, const msgpack_object *o, int indent)
{
    return s_write(out, o, indent < 0 ? 0 : indent, 0);
}
