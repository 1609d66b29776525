/* jparse.h - a strict JSON parser (RFC 8259) for tests that check what feedmix writes: request log
 * lines, Chrome trace files. Strict where lenient parsers are not: invalid UTF-8, raw control
 * characters in strings, lone surrogate escapes, leading zeros, trailing commas and trailing
 * garbage are all refused, so "it parses" means any reader can read it. Depth is limited to 64. */
#ifndef FMX_TEST_JPARSE_H
#define FMX_TEST_JPARSE_H

#include <stdbool.h>
#include <stddef.h>

typedef enum { JP_NULL, JP_BOOL, JP_NUM, JP_STR, JP_ARR, JP_OBJ } jp_type_t;

typedef struct jp_value {
    jp_type_t type;
    bool b;                  /* JP_BOOL */
    double num;              /* JP_NUM */
    char *str;               /* JP_STR: decoded UTF-8, NUL-terminated (may hold NULs: see len) */
    size_t len;
    struct jp_value *items;  /* JP_ARR, JP_OBJ: n values */
    char **keys;             /* JP_OBJ: n decoded keys */
    size_t n;
} jp_value_t;

/* Parses s[0..len) as exactly one JSON value (whitespace around it allowed). NULL with err
 * ("offset N: what") on any violation. Caller frees with jp_free. */
jp_value_t *jp_parse(const char *s, size_t len, char *err, size_t err_cap);
void jp_free(jp_value_t **v_p);

/* obj[key] (the first one), or NULL when obj is not an object or has no such key. */
const jp_value_t *jp_get(const jp_value_t *obj, const char *key);
/* obj[key] as a string, or NULL. */
const char *jp_get_str(const jp_value_t *obj, const char *key);
/* obj[key] as a number, or def. */
double jp_get_num(const jp_value_t *obj, const char *key, double def);

#endif
