/* test_expr.c - the expression language: parse errors with columns, evaluation semantics,
 * short-circuiting (proved by counting lookups), names extraction, limits. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/expr.h"

#define N_ {.kind = FMX_SCALAR_NULL}
#define B_(x) {.kind = FMX_SCALAR_BOOL, .u = {.b = (x)}}
#define I_(x) {.kind = FMX_SCALAR_INT, .u = {.i = (x)}}
#define F_(x) {.kind = FMX_SCALAR_FLOAT, .u = {.f = (x)}}
#define S_(x) {.kind = FMX_SCALAR_STR, .u = {.s = {(x), sizeof(x) - 1}}}

typedef struct {
    const char *name;
    fmx_scalar_t v;
} var_t;

/* A lookup over a NULL-terminated var_t table that counts its calls. */
typedef struct {
    const var_t *vars;
    int calls;
} env_t;

static int s_lookup(void *arg, const char *name, size_t name_len, fmx_scalar_t *out) {
    env_t *env = arg;
    env->calls++;
    assert_int_equal(strlen(name), name_len); /* names are passed NUL-terminated */
    for (const var_t *v = env->vars; v && v->name; v++) {
        if (strlen(v->name) == name_len && memcmp(v->name, name, name_len) == 0) {
            *out = v->v;
            return 0;
        }
    }
    return -1;
}

static void s_assert_scalar_eq(const fmx_scalar_t *want, const fmx_scalar_t *got, const char *src) {
    if (want->kind != got->kind) fail_msg("%s: kind %d, want %d", src, (int)got->kind, (int)want->kind);
    switch (want->kind) {
    case FMX_SCALAR_NULL: break;
    case FMX_SCALAR_BOOL:
        if (want->u.b != got->u.b) fail_msg("%s: got %s, want %s", src, got->u.b ? "true" : "false", want->u.b ? "true" : "false");
        break;
    case FMX_SCALAR_INT:
        if (want->u.i != got->u.i) fail_msg("%s: got %lld, want %lld", src, (long long)got->u.i, (long long)want->u.i);
        break;
    case FMX_SCALAR_FLOAT:
        if (!(want->u.f == got->u.f)) fail_msg("%s: got %.17g, want %.17g", src, got->u.f, want->u.f);
        break;
    case FMX_SCALAR_STR:
        if (want->u.s.len != got->u.s.len || memcmp(want->u.s.ptr, got->u.s.ptr, want->u.s.len) != 0)
            fail_msg("%s: got '%.*s', want '%.*s'", src, (int)got->u.s.len, got->u.s.ptr, (int)want->u.s.len,
                     want->u.s.ptr);
        break;
    }
}

typedef struct {
    const char *src;
    var_t vars[4];     /* NULL-name terminated */
    fmx_scalar_t want; /* fmx_expr_eval's result */
    int calls;         /* lookups made: proves what was (not) evaluated */
} eval_case_t;

static const eval_case_t eval_cases[] = {
    /* literals and bare values come back as-is */
    {"42", {{0}}, I_(42), 0},
    {"-3", {{0}}, I_(-3), 0},
    {"1.5", {{0}}, F_(1.5), 0},
    {"1e3", {{0}}, F_(1000.0), 0},
    {"2.5E-1", {{0}}, F_(0.25), 0},
    {"-9223372036854775808", {{0}}, I_(INT64_MIN), 0},
    {"'abc'", {{0}}, S_("abc"), 0},
    {"\"abc\"", {{0}}, S_("abc"), 0},
    {"''", {{0}}, S_(""), 0},
    {"true", {{0}}, B_(true), 0},
    {"false", {{0}}, B_(false), 0},
    {"null", {{0}}, N_, 0},
    {"x", {{"x", S_("hello")}}, S_("hello"), 1},
    {"x", {{"x", F_(2.5)}}, F_(2.5), 1},
    {"a.b_c9", {{"a.b_c9", I_(7)}}, I_(7), 1},
    {"  ( ( x ) )  ", {{"x", I_(1)}}, I_(1), 1},
    /* unknown names are null */
    {"nope", {{0}}, N_, 1},
    {"nope == null", {{0}}, B_(true), 1},
    {"nope != 0", {{0}}, B_(true), 1},
    {"nope == 0", {{0}}, B_(false), 1},
    {"!nope", {{0}}, B_(true), 1},
    /* string escapes */
    {"'it\\'s'", {{0}}, S_("it's"), 0},
    {"\"say \\\"hi\\\"\"", {{0}}, S_("say \"hi\""), 0},
    {"'a\\\\b'", {{0}}, S_("a\\b"), 0},
    {"'x\"y'", {{0}}, S_("x\"y"), 0},
    {"\"x'y\"", {{0}}, S_("x'y"), 0},
    {"s == 'it\\'s'", {{"s", S_("it's")}}, B_(true), 1},
    /* every comparison, ints */
    {"a == 1", {{"a", I_(1)}}, B_(true), 1},
    {"a == 2", {{"a", I_(1)}}, B_(false), 1},
    {"a != 2", {{"a", I_(1)}}, B_(true), 1},
    {"a != 1", {{"a", I_(1)}}, B_(false), 1},
    {"a < 2", {{"a", I_(1)}}, B_(true), 1},
    {"a < 1", {{"a", I_(1)}}, B_(false), 1},
    {"a <= 1", {{"a", I_(1)}}, B_(true), 1},
    {"a <= 0", {{"a", I_(1)}}, B_(false), 1},
    {"a > 0", {{"a", I_(1)}}, B_(true), 1},
    {"a > 1", {{"a", I_(1)}}, B_(false), 1},
    {"a >= 1", {{"a", I_(1)}}, B_(true), 1},
    {"a >= 2", {{"a", I_(1)}}, B_(false), 1},
    {"a<b", {{"a", I_(-5)}, {"b", I_(3)}}, B_(true), 2},
    {"a>=-5", {{"a", I_(-5)}}, B_(true), 1},
    /* int vs float, numerically and exactly */
    {"a == 1.0", {{"a", I_(1)}}, B_(true), 1},
    {"a < 1.5", {{"a", I_(1)}}, B_(true), 1},
    {"a > 0.5", {{"a", I_(1)}}, B_(true), 1},
    {"1.5 > a", {{"a", I_(1)}}, B_(true), 1},
    {"f >= 2", {{"f", F_(2.0)}}, B_(true), 1},
    {"f < -2", {{"f", F_(-2.5)}}, B_(true), 1},
    {"a == 9007199254740992.0", {{"a", I_(9007199254740993LL)}}, B_(false), 1},
    {"a > 9007199254740992.0", {{"a", I_(9007199254740993LL)}}, B_(true), 1},
    {"f < 9007199254740993", {{"f", F_(9007199254740992.0)}}, B_(true), 1},
    {"a < 1e19", {{"a", I_(INT64_MAX)}}, B_(true), 1},
    {"a > -1e19", {{"a", I_(INT64_MIN)}}, B_(true), 1},
    {"f == f", {{"f", F_(NAN)}}, B_(false), 2},
    {"f != f", {{"f", F_(NAN)}}, B_(true), 2},
    {"f < 1", {{"f", F_(NAN)}}, B_(false), 1},
    {"f >= 1", {{"f", F_(NAN)}}, B_(false), 1},
    /* strings: bytewise, then by length */
    {"s == 'abc'", {{"s", S_("abc")}}, B_(true), 1},
    {"s != 'abd'", {{"s", S_("abc")}}, B_(true), 1},
    {"s < 'abd'", {{"s", S_("abc")}}, B_(true), 1},
    {"s < 'abcd'", {{"s", S_("abc")}}, B_(true), 1},
    {"s > 'ab'", {{"s", S_("abc")}}, B_(true), 1},
    {"s > 'B'", {{"s", S_("abc")}}, B_(true), 1},
    {"s <= 'abc'", {{"s", S_("abc")}}, B_(true), 1},
    {"s >= ''", {{"s", S_("")}}, B_(true), 1},
    {"'\\\\' > 'Z'", {{0}}, B_(true), 0},
    /* bools and nulls among themselves */
    {"b == true", {{"b", B_(true)}}, B_(true), 1},
    {"b != false", {{"b", B_(true)}}, B_(true), 1},
    {"false < true", {{0}}, B_(true), 0},
    {"null == null", {{0}}, B_(true), 0},
    {"null != null", {{0}}, B_(false), 0},
    {"null <= null", {{0}}, B_(true), 0},
    /* mixed types: false for == < <= > >=, true for != */
    {"s == 1", {{"s", S_("1")}}, B_(false), 1},
    {"s != 1", {{"s", S_("1")}}, B_(true), 1},
    {"s < 1", {{"s", S_("1")}}, B_(false), 1},
    {"s <= 1", {{"s", S_("1")}}, B_(false), 1},
    {"s > 1", {{"s", S_("1")}}, B_(false), 1},
    {"s >= 1", {{"s", S_("1")}}, B_(false), 1},
    {"b == 1", {{"b", B_(true)}}, B_(false), 1},
    {"b != 1", {{"b", B_(true)}}, B_(true), 1},
    {"null == 0", {{0}}, B_(false), 0},
    {"null != false", {{0}}, B_(true), 0},
    {"null < 1", {{0}}, B_(false), 0},
    {"'' == false", {{0}}, B_(false), 0},
    /* not: truthiness of every kind */
    {"!true", {{0}}, B_(false), 0},
    {"!0", {{0}}, B_(true), 0},
    {"!7", {{0}}, B_(false), 0},
    {"!0.0", {{0}}, B_(true), 0},
    {"!''", {{0}}, B_(true), 0},
    {"!'x'", {{0}}, B_(false), 0},
    {"!null", {{0}}, B_(true), 0},
    {"!!7", {{0}}, B_(true), 0},
    {"!!!7", {{0}}, B_(false), 0},
    /* && and || yield booleans */
    {"1 && 'x'", {{0}}, B_(true), 0},
    {"1 && ''", {{0}}, B_(false), 0},
    {"0 || 2.5", {{0}}, B_(true), 0},
    {"0 || null", {{0}}, B_(false), 0},
    {"a && b", {{"a", I_(1)}, {"b", I_(1)}}, B_(true), 2},
    {"a && b", {{"a", I_(1)}, {"b", I_(0)}}, B_(false), 2},
    {"a || b", {{"a", I_(0)}, {"b", I_(3)}}, B_(true), 2},
    {"a || b", {{"a", I_(0)}, {"b", I_(0)}}, B_(false), 2},
    /* short-circuit: the right side is never looked up */
    {"a && b", {{"a", I_(0)}, {"b", I_(1)}}, B_(false), 1},
    {"a || b", {{"a", S_("y")}, {"b", I_(0)}}, B_(true), 1},
    {"false && (x == 1 || y == 2)", {{0}}, B_(false), 0},
    {"true || x", {{0}}, B_(true), 0},
    {"a && b && c", {{"a", I_(1)}, {"b", I_(0)}}, B_(false), 2},
    {"a || b || c", {{"b", I_(1)}}, B_(true), 2},
    {"(a || b) && c", {{"a", I_(1)}, {"c", I_(1)}}, B_(true), 2},
    /* precedence: && over ||; ! over &&; comparison inside ! (not := "!" not | cmp) */
    {"a || b && c", {{"a", I_(1)}}, B_(true), 1},                 /* a || (b && c) */
    {"a || b && c", {{"b", I_(1)}}, B_(false), 3},                /* c unknown */
    {"(a || b) && c", {{"a", I_(1)}}, B_(false), 2},              /* parentheses change it */
    {"a && b || c", {{"c", I_(1)}}, B_(true), 2},                 /* (a && b) || c */
    {"!a && b", {{"b", I_(1)}}, B_(true), 2},                     /* (!a) && b */
    {"!a == b", {{"a", S_("x")}, {"b", B_(true)}}, B_(true), 2}, /* !(a == b); (!a) == b would be false */
    {"!(a == b)", {{"a", S_("x")}, {"b", B_(true)}}, B_(true), 2},
    {"(!a) == b", {{"a", S_("x")}, {"b", B_(true)}}, B_(false), 2},
    {"!a in [1]", {{"a", I_(1)}}, B_(false), 1}, /* !(a in [1]) */
    {"(a == 1) == (b == 2)", {{"a", I_(1)}, {"b", I_(2)}}, B_(true), 2},
    {"(a == 1) == true", {{"a", I_(1)}}, B_(true), 1},
    /* in-lists */
    {"geo in ['DE', 'FR']", {{"geo", S_("FR")}}, B_(true), 1},
    {"geo in ['DE', 'FR']", {{"geo", S_("US")}}, B_(false), 1},
    {"geo in [\"DE\"]", {{"geo", S_("DE")}}, B_(true), 1},
    {"x in [1, 2.5]", {{"x", F_(2.5)}}, B_(true), 1},
    {"x in [1, 2.5]", {{"x", F_(1.0)}}, B_(true), 1},
    {"x in [1, 2.5]", {{"x", I_(2)}}, B_(false), 1},
    {"x in [-1, true, null]", {{0}}, B_(true), 1},
    {"x in [-1, true]", {{"x", B_(true)}}, B_(true), 1},
    {"x in ['1']", {{"x", I_(1)}}, B_(false), 1},
    {"x in []", {{"x", I_(1)}}, B_(false), 1},
    {"!(x in [1,2,3])", {{"x", I_(4)}}, B_(true), 1},
    {"x in [1] && y in [2]", {{"x", I_(1)}, {"y", I_(2)}}, B_(true), 2},
    /* keywords are whole words only */
    {"inx == truex", {{"inx", I_(1)}, {"truex", I_(1)}}, B_(true), 2},
    /* repeated names are looked up each time they are evaluated */
    {"a == a", {{"a", I_(1)}}, B_(true), 2},
};

static void test_eval_table(void **state) {
    (void)state;
    for (size_t i = 0; i < FMX_ARRAY_LEN(eval_cases); i++) {
        const eval_case_t *c = &eval_cases[i];
        char err[FMX_ERR_LEN] = "";
        int col = 0;
        fmx_expr_t *e = fmx_expr_parse(c->src, err, &col);
        if (!e) fail_msg("%s: parse failed at col %d: %s", c->src, col, err);
        env_t env = {c->vars, 0};
        fmx_scalar_t got;
        if (fmx_expr_eval(e, s_lookup, &env, &got, err) != 0) fail_msg("%s: eval failed: %s", c->src, err);
        s_assert_scalar_eq(&c->want, &got, c->src);
        if (env.calls != c->calls) fail_msg("%s: %d lookups, want %d", c->src, env.calls, c->calls);
        /* fmx_expr_test is the truthiness of the same result */
        env.calls = 0;
        assert_int_equal(fmx_expr_test(e, s_lookup, &env), fmx_scalar_truthy(&c->want));
        assert_int_equal(env.calls, c->calls);
        fmx_expr_destroy(&e);
        assert_null(e);
    }
}

typedef struct {
    const char *src;
    int col;
    const char *msg; /* substring of the error */
} bad_case_t;

static const bad_case_t bad_cases[] = {
    {"", 1, "empty expression"},
    {"   ", 1, "empty expression"},
    {"a == 1 #", 8, "unexpected character '#'"},
    {"a == #1", 6, "unexpected character '#'"},
    {"a = 1", 3, "use == to compare"},
    {"a & b", 3, "use &&"},
    {"a | b", 3, "use ||"},
    {"a == \x01", 6, "unexpected byte 0x01"},
    {"a == -b", 6, "unexpected character '-'"},
    {"a @ b", 3, "unexpected character '@'"},
    {"a && ", 6, "expected an operand after '&&'"},
    {"a || )", 6, "expected an operand after '||'"},
    {"a == ", 6, "expected an operand after '=='"},
    {"a >= &&", 6, "expected an operand after '>='"},
    {"!", 2, "expected an operand after '!'"},
    {"(", 2, "expected an operand after '('"},
    {"()", 2, "expected an operand after '('"},
    {"&& a", 1, "expected an operand"},
    {",", 1, "expected an operand"},
    {"(a == 1", 8, "expected ')' to close '(' at column 1"},
    {"(a b)", 4, "expected ')'"},
    {"a == 1)", 7, "unmatched ')'"},
    {"a b", 3, "trailing input after expression"},
    {"f(x)", 2, "trailing input after expression"},
    {"a == 1 2", 8, "trailing input after expression"},
    {"a == b == c", 8, "cannot be chained"},
    {"a < b < c", 7, "cannot be chained"},
    {"a in [1] in [2]", 10, "cannot be chained"},
    {"a in [1] == true", 10, "cannot be chained"},
    {"'abc", 1, "unterminated string"},
    {"x == \"abc", 6, "unterminated string"},
    {"x == 'ab\\'", 6, "unterminated string"},
    {"x == 'ab\\", 6, "unterminated string"},
    {"x == 'a\\nb'", 8, "invalid escape"},
    {"geo in ['DE', 'FR'", 19, "expected ']' to close list"},
    {"geo in ['DE' 'FR']", 14, "expected ']' to close list"},
    {"geo in [", 9, "expected ']' to close list"},
    {"geo in ['DE',]", 14, "expected a literal in list"},
    {"geo in [x]", 9, "list elements must be literals"},
    {"geo in [(1)]", 9, "expected a literal in list"},
    {"geo in 'DE'", 8, "expected '[' after 'in'"},
    {"geo in", 7, "expected '[' after 'in'"},
    {"in", 1, "expected an operand"},
    {"x == 1.", 6, "malformed number"},
    {"x == 1.5.3", 6, "malformed number"},
    {"x == 1e", 6, "malformed number"},
    {"x == 1e+", 6, "malformed number"},
    {"x == 12abc", 6, "malformed number"},
    {"x == 0x10", 6, "malformed number"},
    {"x == 9223372036854775808", 6, "integer out of range"},
    {"x == -9223372036854775809", 6, "integer out of range"},
    {"x == 1e999", 6, "number out of range"},
    {"x == .5", 6, "unexpected character '.'"},
};

static void test_parse_errors(void **state) {
    (void)state;
    for (size_t i = 0; i < FMX_ARRAY_LEN(bad_cases); i++) {
        const bad_case_t *c = &bad_cases[i];
        char err[FMX_ERR_LEN] = "";
        int col = -1;
        fmx_expr_t *e = fmx_expr_parse(c->src, err, &col);
        if (e) fail_msg("'%s': parsed, want error '%s'", c->src, c->msg);
        if (!strstr(err, c->msg)) fail_msg("'%s': error '%s', want '%s'", c->src, err, c->msg);
        if (col != c->col) fail_msg("'%s': error '%s' at col %d, want col %d", c->src, err, col, c->col);
    }
    /* a NULL err buffer and column pointer are tolerated */
    assert_null(fmx_expr_parse("a ==", NULL, NULL));
    assert_null(fmx_expr_parse(NULL, NULL, NULL));
}

static void test_names(void **state) {
    (void)state;
    char err[FMX_ERR_LEN];
    int col;
    fmx_expr_t *e = fmx_expr_parse("b == 1 && (a > b || c.d in [1]) && !a && 'lit' != e_2", err, &col);
    assert_non_null(e);
    assert_int_equal(fmx_expr_name_count(e), 4);
    assert_string_equal(fmx_expr_name(e, 0), "b");
    assert_string_equal(fmx_expr_name(e, 1), "a");
    assert_string_equal(fmx_expr_name(e, 2), "c.d");
    assert_string_equal(fmx_expr_name(e, 3), "e_2");
    assert_null(fmx_expr_name(e, 4));
    fmx_expr_destroy(&e);

    e = fmx_expr_parse("1 in [1, 'x', null] || true", err, &col);
    assert_non_null(e);
    assert_int_equal(fmx_expr_name_count(e), 0);
    assert_null(fmx_expr_name(e, 0));
    fmx_expr_destroy(&e);
}

static void test_destroy_null(void **state) {
    (void)state;
    fmx_expr_t *e = NULL;
    fmx_expr_destroy(&e);
    assert_null(e);
    fmx_expr_destroy(NULL);
    e = fmx_expr_parse("x", NULL, NULL);
    assert_non_null(e);
    fmx_expr_destroy(&e);
    assert_null(e);
    fmx_expr_destroy(&e); /* idempotent */
}

/* The expression owns copies of its source, names and string literals. */
static void test_owns_copies(void **state) {
    (void)state;
    char *src = strdup("name == 'DE' || name in ['FR', 'x\\'y']");
    assert_non_null(src);
    fmx_expr_t *e = fmx_expr_parse(src, NULL, NULL);
    assert_non_null(e);
    memset(src, 'Z', strlen(src));
    free(src);
    assert_string_equal(fmx_expr_source(e), "name == 'DE' || name in ['FR', 'x\\'y']");
    assert_string_equal(fmx_expr_name(e, 0), "name");
    var_t vars[] = {{"name", S_("x'y")}, {0}};
    env_t env = {vars, 0};
    assert_true(fmx_expr_test(e, s_lookup, &env));
    vars[0].v = (fmx_scalar_t)S_("DE");
    assert_true(fmx_expr_test(e, s_lookup, &env));
    vars[0].v = (fmx_scalar_t)S_("US");
    assert_false(fmx_expr_test(e, s_lookup, &env));

    /* a returned string literal is borrowed from the expression */
    fmx_expr_t *lit = fmx_expr_parse("'kept'", NULL, NULL);
    assert_non_null(lit);
    fmx_scalar_t v;
    assert_int_equal(fmx_expr_eval(lit, s_lookup, &env, &v, NULL), 0);
    assert_int_equal(v.kind, FMX_SCALAR_STR);
    assert_int_equal(v.u.s.len, 4);
    assert_memory_equal(v.u.s.ptr, "kept", 4);
    fmx_expr_destroy(&lit);
    fmx_expr_destroy(&e);
}

/* A NULL lookup makes every name unknown (null). */
static void test_null_lookup(void **state) {
    (void)state;
    fmx_expr_t *e = fmx_expr_parse("x == null && !y", NULL, NULL);
    assert_non_null(e);
    fmx_scalar_t v;
    char err[FMX_ERR_LEN];
    assert_int_equal(fmx_expr_eval(e, NULL, NULL, &v, err), 0);
    assert_int_equal(v.kind, FMX_SCALAR_BOOL);
    assert_true(v.u.b);
    assert_true(fmx_expr_test(e, NULL, NULL));
    fmx_expr_destroy(&e);
}

/* Builds prefix + n * rep + mid + n * close into a fresh string. */
static char *s_repeat(const char *prefix, const char *rep, int n, const char *mid, const char *close) {
    size_t len = strlen(prefix) + (size_t)n * (strlen(rep) + strlen(close)) + strlen(mid) + 1;
    char *s = malloc(len);
    assert_non_null(s);
    strcpy(s, prefix);
    for (int i = 0; i < n; i++) strcat(s, rep);
    strcat(s, mid);
    for (int i = 0; i < n; i++) strcat(s, close);
    return s;
}

static void test_limits(void **state) {
    (void)state;
    char err[FMX_ERR_LEN];
    int col;

    /* source length: 4096 bytes parse, 4097 do not */
    char *src = malloc(4098);
    assert_non_null(src);
    memset(src, ' ', 4097);
    src[0] = 'x';
    src[4096] = '\0';
    fmx_expr_t *e = fmx_expr_parse(src, err, &col);
    assert_non_null(e);
    fmx_expr_destroy(&e);
    src[4096] = ' ';
    src[4097] = '\0';
    assert_null(fmx_expr_parse(src, err, &col));
    assert_non_null(strstr(err, "too long"));
    assert_int_equal(col, 4097);
    free(src);

    /* 64 nested parentheses are fine, 65 are refused at the 65th */
    src = s_repeat("", "(", 64, "x", ")");
    e = fmx_expr_parse(src, err, &col);
    assert_non_null(e);
    fmx_expr_destroy(&e);
    free(src);
    src = s_repeat("(x)", " || (x)", 100, "", ""); /* siblings, not nesting */
    e = fmx_expr_parse(src, err, &col);
    assert_non_null(e);
    fmx_expr_destroy(&e);
    free(src);
    src = s_repeat("", "(", 65, "x", ")");
    assert_null(fmx_expr_parse(src, err, &col));
    assert_non_null(strstr(err, "nested parentheses"));
    assert_int_equal(col, 65);
    free(src);

    /* a == (a == (... (a == a))): each level holds one more pending value; 64 slots are the limit */
    src = s_repeat("", "a == (", 62, "a == a", ")");
    e = fmx_expr_parse(src, err, &col);
    assert_non_null(e);
    var_t vars[] = {{"a", B_(true)}, {0}};
    env_t env = {vars, 0};
    fmx_scalar_t v;
    assert_int_equal(fmx_expr_eval(e, s_lookup, &env, &v, err), 0);
    assert_int_equal(v.kind, FMX_SCALAR_BOOL);
    assert_true(v.u.b);
    assert_int_equal(env.calls, 64);
    fmx_expr_destroy(&e);
    free(src);
    src = s_repeat("", "a == (", 63, "a == a", ")");
    assert_null(fmx_expr_parse(src, err, &col));
    assert_non_null(strstr(err, "too deeply nested"));
    assert_int_equal(col, 63 * 6 + 6); /* the 65th operand */
    free(src);

    /* long && chains and many bangs do not deepen the stack or the recursion */
    src = s_repeat("", "a && ", 800, "a", "");
    e = fmx_expr_parse(src, err, &col);
    assert_non_null(e);
    assert_int_equal(fmx_expr_name_count(e), 1);
    env.calls = 0;
    assert_true(fmx_expr_test(e, s_lookup, &env));
    assert_int_equal(env.calls, 801);
    fmx_expr_destroy(&e);
    free(src);
    src = s_repeat("", "!", 4001, "a", "");
    e = fmx_expr_parse(src, err, &col);
    assert_non_null(e);
    assert_false(fmx_expr_test(e, s_lookup, &env));
    fmx_expr_destroy(&e);
    free(src);

    /* many distinct names and a long in-list within 4096 bytes */
    src = s_repeat("x in [0", ",1", 2000, "]", "");
    e = fmx_expr_parse(src, err, &col);
    assert_non_null(e);
    fmx_expr_destroy(&e);
    free(src);
    src = malloc(4097);
    assert_non_null(src);
    size_t n = 0;
    for (int i = 0; n + 12 < 4096; i++) n += (size_t)sprintf(src + n, "%sv%d", i ? "||" : "", i);
    e = fmx_expr_parse(src, err, &col);
    assert_non_null(e);
    assert_true(fmx_expr_name_count(e) > 500);
    assert_string_equal(fmx_expr_name(e, 0), "v0");
    assert_false(fmx_expr_test(e, s_lookup, &env));
    fmx_expr_destroy(&e);
    free(src);
}

/* The hot path: one compiled filter against many variable sets. */
typedef struct {
    int64_t is_live;
    int64_t viewers;
} row_t;

static int s_row_lookup(void *arg, const char *name, size_t name_len, fmx_scalar_t *out) {
    const row_t *r = arg;
    if (name_len == 7 && memcmp(name, "is_live", 7) == 0) {
        *out = (fmx_scalar_t){.kind = FMX_SCALAR_INT, .u.i = r->is_live};
        return 0;
    }
    if (name_len == 7 && memcmp(name, "viewers", 7) == 0) {
        *out = (fmx_scalar_t){.kind = FMX_SCALAR_INT, .u.i = r->viewers};
        return 0;
    }
    return -1;
}

static void test_many_rows(void **state) {
    (void)state;
    char err[FMX_ERR_LEN];
    int col;
    fmx_expr_t *e = fmx_expr_parse("is_live == 1 && viewers > 0", err, &col);
    assert_non_null(e);
    uint64_t x = 88172645463325252ull; /* xorshift: deterministic rows */
    int matched = 0, expected = 0;
    for (int i = 0; i < 100000; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        row_t r = {(int64_t)(x % 3), (int64_t)((x >> 8) % 5) - 1};
        bool want = r.is_live == 1 && r.viewers > 0;
        bool got = fmx_expr_test(e, s_row_lookup, &r);
        if (got != want) fail_msg("row %d {%lld, %lld}: got %d", i, (long long)r.is_live, (long long)r.viewers, got);
        matched += got;
        expected += want;
    }
    assert_int_equal(matched, expected);
    assert_true(matched > 10000 && matched < 40000); /* both outcomes were exercised */
    fmx_expr_destroy(&e);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_eval_table),   cmocka_unit_test(test_parse_errors), cmocka_unit_test(test_names),
        cmocka_unit_test(test_destroy_null), cmocka_unit_test(test_owns_copies),  cmocka_unit_test(test_null_lookup),
        cmocka_unit_test(test_limits),       cmocka_unit_test(test_many_rows),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
