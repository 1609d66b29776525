/* expr.c - recursive-descent parser to a postfix program, and a fixed-stack evaluator.
 *
 * The program is a flat array of instructions over a value stack. && and || compile to a
 * conditional jump that keeps the deciding value (as a bool) when it short-circuits, and pops it
 * otherwise, followed by the right operand and a TOBOOL; so both paths leave one bool on the stack.
 * The parser tracks the stack depth each instruction leaves and refuses programs deeper than
 * S_MAX_DEPTH, so evaluation can use a fixed array on the C stack and allocate nothing. */
#include "common/expr.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_MAX_SOURCE 4096 /* bytes of source text */
#define S_MAX_DEPTH 64    /* evaluation stack slots; also bounds '(' nesting, i.e. parser recursion */

typedef enum {
    S_OP_PUSH,  /* push consts[a] */
    S_OP_LOAD,  /* push lookup(names[a]) */
    S_OP_EQ,    /* pop 2, push bool; the six comparisons stay contiguous and in this order */
    S_OP_NE,
    S_OP_LT,
    S_OP_LE,
    S_OP_GT,
    S_OP_GE,
    S_OP_NOT,    /* top = !truthy(top) */
    S_OP_TOBOOL, /* top = truthy(top) */
    S_OP_IN,     /* top = top equals one of consts[a .. a+b) */
    S_OP_JF,     /* falsy top: top = false, jump to a; else pop */
    S_OP_JT,     /* truthy top: top = true, jump to a; else pop */
} s_op_t;

typedef struct {
    uint32_t op;
    uint32_t a;
    uint32_t b;
} s_insn_t;

struct fmx_expr {
    char *source;
    char *pool; /* decoded string literals and NUL-terminated names; sized up front, never moves */
    size_t pool_len, pool_cap;
    s_insn_t *code;
    size_t code_len, code_cap;
    fmx_scalar_t *consts; /* literals; strings point into pool */
    size_t const_len, const_cap;
    fmx_str_t *names; /* NUL-terminated, in pool */
    size_t name_len, name_cap;
};

typedef enum {
    S_TOK_END,
    S_TOK_LIT, /* number, string, true, false, null: value in tok.lit */
    S_TOK_NAME,
    S_TOK_IN,
    S_TOK_EQ,
    S_TOK_NE,
    S_TOK_LT,
    S_TOK_LE,
    S_TOK_GT,
    S_TOK_GE,
    S_TOK_AND,
    S_TOK_OR,
    S_TOK_NOT,
    S_TOK_LPAREN,
    S_TOK_RPAREN,
    S_TOK_LBRACK,
    S_TOK_RBRACK,
    S_TOK_COMMA,
} s_tok_kind_t;

typedef struct {
    s_tok_kind_t kind;
    size_t start, end; /* byte offsets in the source */
    fmx_scalar_t lit;
} s_tok_t;

typedef struct {
    const char *src;
    size_t len;
    size_t pos; /* lexer cursor: just past tok */
    s_tok_t tok;
    fmx_expr_t *ex;
    int depth;  /* stack slots in use after the code emitted so far */
    int nest;   /* open parentheses */
    char *err;
    int col;
} s_parser_t;

static int s_fail(s_parser_t *p, size_t offset, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int s_fail(s_parser_t *p, size_t offset, const char *fmt, ...) {
    if (p->err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(p->err, FMX_ERR_LEN, fmt, ap);
        va_end(ap);
    }
    p->col = (int)offset + 1;
    return -1;
}

/* Grows *arr to hold at least need elements. Counts are bounded by the source length, so no
 * overflow check beyond the obvious is needed. */
static int s_reserve(void **arr, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap) return 0;
    size_t n = *cap ? *cap * 2 : 8;
    while (n < need) n *= 2;
    void *a = realloc(*arr, n * elem);
    if (!a) return -1;
    *arr = a;
    *cap = n;
    return 0;
}

static int s_emit(s_parser_t *p, s_op_t op, uint32_t a, uint32_t b) {
    fmx_expr_t *ex = p->ex;
    if (s_reserve((void **)&ex->code, &ex->code_cap, ex->code_len + 1, sizeof *ex->code) != 0)
        return s_fail(p, p->tok.start, "out of memory");
    ex->code[ex->code_len++] = (s_insn_t){op, a, b};
    return 0;
}

/* Accounts for one more value on the evaluation stack. */
static int s_push_slot(s_parser_t *p) {
    if (p->depth >= S_MAX_DEPTH)
        return s_fail(p, p->tok.start, "expression too deeply nested (more than %d pending values)", S_MAX_DEPTH);
    p->depth++;
    return 0;
}

static int s_add_const(s_parser_t *p, const fmx_scalar_t *v, uint32_t *index) {
    fmx_expr_t *ex = p->ex;
    if (s_reserve((void **)&ex->consts, &ex->const_cap, ex->const_len + 1, sizeof *ex->consts) != 0)
        return s_fail(p, p->tok.start, "out of memory");
    *index = (uint32_t)ex->const_len;
    ex->consts[ex->const_len++] = *v;
    return 0;
}

/* Index of the name src[start, end) in the names table, added on first use. */
static int s_add_name(s_parser_t *p, size_t start, size_t end, uint32_t *index) {
    fmx_expr_t *ex = p->ex;
    size_t len = end - start;
    for (size_t i = 0; i < ex->name_len; i++) {
        if (ex->names[i].len == len && memcmp(ex->names[i].ptr, p->src + start, len) == 0) {
            *index = (uint32_t)i;
            return 0;
        }
    }
    if (ex->pool_len + len + 1 > ex->pool_cap) return s_fail(p, start, "internal error: string pool exhausted");
    if (s_reserve((void **)&ex->names, &ex->name_cap, ex->name_len + 1, sizeof *ex->names) != 0)
        return s_fail(p, start, "out of memory");
    char *dst = ex->pool + ex->pool_len;
    memcpy(dst, p->src + start, len);
    dst[len] = '\0';
    ex->pool_len += len + 1;
    *index = (uint32_t)ex->name_len;
    ex->names[ex->name_len++] = (fmx_str_t){dst, len};
    return 0;
}

/* ---- lexer ---- */

static bool s_is_alpha(char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_'; }
static bool s_is_digit(char c) { return c >= '0' && c <= '9'; }
static bool s_is_name_char(char c) { return s_is_alpha(c) || s_is_digit(c) || c == '.'; }

static int s_lex_number(s_parser_t *p, size_t start) {
    const char *s = p->src;
    size_t i = start;
    bool is_float = false;
    if (s[i] == '-') i++;
    while (s_is_digit(s[i])) i++;
    if (s[i] == '.' && s_is_digit(s[i + 1])) {
        is_float = true;
        i++;
        while (s_is_digit(s[i])) i++;
    }
    if (s[i] == 'e' || s[i] == 'E') {
        size_t j = i + 1;
        if (s[j] == '+' || s[j] == '-') j++;
        if (!s_is_digit(s[j])) return s_fail(p, start, "malformed number");
        is_float = true;
        i = j;
        while (s_is_digit(s[i])) i++;
    }
    if (s_is_name_char(s[i])) return s_fail(p, start, "malformed number");

    char *endp = NULL;
    errno = 0;
    if (is_float) {
        double d = strtod(s + start, &endp);
        if (endp != s + i) return s_fail(p, start, "malformed number");
        if (isinf(d)) return s_fail(p, start, "number out of range");
        p->tok.lit = (fmx_scalar_t){.kind = FMX_SCALAR_FLOAT, .u.f = d};
    } else {
        long long v = strtoll(s + start, &endp, 10);
        if (endp != s + i) return s_fail(p, start, "malformed number");
        if (errno == ERANGE) return s_fail(p, start, "integer out of range");
        p->tok.lit = (fmx_scalar_t){.kind = FMX_SCALAR_INT, .u.i = (int64_t)v};
    }
    p->tok.kind = S_TOK_LIT;
    p->pos = i;
    return 0;
}

/* Decodes a quoted string into the pool; the only escapes are \\, \' and \". */
static int s_lex_string(s_parser_t *p, size_t start) {
    fmx_expr_t *ex = p->ex;
    const char *s = p->src;
    char quote = s[start];
    size_t i = start + 1;
    /* The decoded text is shorter than its source token, so the pool (2x the source) has room. */
    char *dst = ex->pool + ex->pool_len;
    size_t n = 0;
    for (;;) {
        char c = s[i];
        if (c == '\0') return s_fail(p, start, "unterminated string");
        if (c == quote) break;
        if (c == '\\') {
            char e = s[i + 1];
            if (e == '\0') return s_fail(p, start, "unterminated string");
            if (e != '\\' && e != '\'' && e != '"')
                return s_fail(p, i, "invalid escape in string (only \\\\, \\' and \\\" are allowed)");
            c = e;
            i++;
        }
        if (ex->pool_len + n + 1 > ex->pool_cap) return s_fail(p, start, "internal error: string pool exhausted");
        dst[n++] = c;
        i++;
    }
    if (ex->pool_len + n + 1 > ex->pool_cap) return s_fail(p, start, "internal error: string pool exhausted");
    dst[n] = '\0';
    ex->pool_len += n + 1;
    p->tok.kind = S_TOK_LIT;
    p->tok.lit = (fmx_scalar_t){.kind = FMX_SCALAR_STR, .u.s = {dst, n}};
    p->pos = i + 1;
    return 0;
}

static int s_bad_char(s_parser_t *p, size_t at) {
    unsigned char c = (unsigned char)p->src[at];
    if (c == '=') return s_fail(p, at, "unexpected character '=' (use == to compare)");
    if (c == '&') return s_fail(p, at, "unexpected character '&' (use && for and)");
    if (c == '|') return s_fail(p, at, "unexpected character '|' (use || for or)");
    if (c > 0x20 && c < 0x7f) return s_fail(p, at, "unexpected character '%c'", c);
    return s_fail(p, at, "unexpected byte 0x%02x", c);
}

/* Reads the next token into p->tok. */
static int s_next(s_parser_t *p) {
    const char *s = p->src;
    size_t i = p->pos;
    while (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r') i++;
    p->tok.start = i;
    p->tok.kind = S_TOK_END;
    char c = s[i];
    char d = c ? s[i + 1] : '\0';
    if (c == '\0') {
        p->pos = i;
    } else if (s_is_digit(c) || (c == '-' && s_is_digit(d))) {
        if (s_lex_number(p, i) != 0) return -1;
    } else if (c == '\'' || c == '"') {
        if (s_lex_string(p, i) != 0) return -1;
    } else if (s_is_alpha(c)) {
        size_t j = i;
        while (s_is_name_char(s[j])) j++;
        size_t n = j - i;
        p->tok.kind = S_TOK_NAME;
        if (n == 4 && memcmp(s + i, "true", 4) == 0) {
            p->tok.kind = S_TOK_LIT;
            p->tok.lit = (fmx_scalar_t){.kind = FMX_SCALAR_BOOL, .u.b = true};
        } else if (n == 5 && memcmp(s + i, "false", 5) == 0) {
            p->tok.kind = S_TOK_LIT;
            p->tok.lit = (fmx_scalar_t){.kind = FMX_SCALAR_BOOL, .u.b = false};
        } else if (n == 4 && memcmp(s + i, "null", 4) == 0) {
            p->tok.kind = S_TOK_LIT;
            p->tok.lit = (fmx_scalar_t){.kind = FMX_SCALAR_NULL};
        } else if (n == 2 && memcmp(s + i, "in", 2) == 0) {
            p->tok.kind = S_TOK_IN;
        }
        p->pos = j;
    } else {
        s_tok_kind_t k;
        size_t n = 1;
        switch (c) {
        case '=':
            if (d != '=') return s_bad_char(p, i);
            k = S_TOK_EQ;
            n = 2;
            break;
        case '!': k = d == '=' ? S_TOK_NE : S_TOK_NOT; break;
        case '<': k = d == '=' ? S_TOK_LE : S_TOK_LT; break;
        case '>': k = d == '=' ? S_TOK_GE : S_TOK_GT; break;
        case '&':
            if (d != '&') return s_bad_char(p, i);
            k = S_TOK_AND;
            n = 2;
            break;
        case '|':
            if (d != '|') return s_bad_char(p, i);
            k = S_TOK_OR;
            n = 2;
            break;
        case '(': k = S_TOK_LPAREN; break;
        case ')': k = S_TOK_RPAREN; break;
        case '[': k = S_TOK_LBRACK; break;
        case ']': k = S_TOK_RBRACK; break;
        case ',': k = S_TOK_COMMA; break;
        default: return s_bad_char(p, i);
        }
        if ((c == '!' || c == '<' || c == '>') && d == '=') n = 2;
        p->tok.kind = k;
        p->pos = i + n;
    }
    p->tok.end = p->pos;
    return 0;
}

/* ---- parser: one function per grammar rule (see expr.h) ---- */

static int s_parse_or(s_parser_t *p, const char *after);

/* after names the token that demanded an operand, for the error message; NULL at the start. */
static int s_parse_primary(s_parser_t *p, const char *after) {
    s_tok_t *t = &p->tok;
    uint32_t index = 0;
    switch (t->kind) {
    case S_TOK_LIT:
        if (s_push_slot(p) != 0 || s_add_const(p, &t->lit, &index) != 0) return -1;
        if (s_emit(p, S_OP_PUSH, index, 0) != 0) return -1;
        return s_next(p);
    case S_TOK_NAME:
        if (s_push_slot(p) != 0 || s_add_name(p, t->start, t->end, &index) != 0) return -1;
        if (s_emit(p, S_OP_LOAD, index, 0) != 0) return -1;
        return s_next(p);
    case S_TOK_LPAREN: {
        size_t open = t->start;
        /* Bounds the recursion; S_MAX_DEPTH slots could never hold more nesting anyway. */
        if (++p->nest > S_MAX_DEPTH) return s_fail(p, open, "too many nested parentheses (max %d)", S_MAX_DEPTH);
        if (s_next(p) != 0 || s_parse_or(p, "'('") != 0) return -1;
        if (t->kind != S_TOK_RPAREN) return s_fail(p, t->start, "expected ')' to close '(' at column %zu", open + 1);
        p->nest--;
        return s_next(p);
    }
    default:
        if (after) return s_fail(p, t->start, "expected an operand after %s", after);
        if (t->kind == S_TOK_END) return s_fail(p, 0, "empty expression"); /* nothing before it */
        return s_fail(p, t->start, "expected an operand");
    }
}

static int s_parse_list(s_parser_t *p) {
    s_tok_t *t = &p->tok;
    if (t->kind != S_TOK_LBRACK) return s_fail(p, t->start, "expected '[' after 'in'");
    if (s_next(p) != 0) return -1;
    uint32_t first = (uint32_t)p->ex->const_len, count = 0, index = 0;
    if (t->kind != S_TOK_RBRACK) {
        for (;;) {
            if (t->kind == S_TOK_NAME) return s_fail(p, t->start, "list elements must be literals");
            if (t->kind == S_TOK_END) return s_fail(p, t->start, "expected ']' to close list");
            if (t->kind != S_TOK_LIT) return s_fail(p, t->start, "expected a literal in list");
            if (s_add_const(p, &t->lit, &index) != 0 || s_next(p) != 0) return -1;
            count++;
            if (t->kind == S_TOK_RBRACK) break;
            if (t->kind != S_TOK_COMMA) return s_fail(p, t->start, "expected ']' to close list");
            if (s_next(p) != 0) return -1;
        }
    }
    if (s_emit(p, S_OP_IN, first, count) != 0) return -1;
    return s_next(p);
}

static bool s_is_cmp(s_tok_kind_t k) { return k >= S_TOK_EQ && k <= S_TOK_GE; }

static int s_parse_cmp(s_parser_t *p, const char *after) {
    static const char *const names[] = {"'=='", "'!='", "'<'", "'<='", "'>'", "'>='"};
    s_tok_t *t = &p->tok;
    if (s_parse_primary(p, after) != 0) return -1;
    if (s_is_cmp(t->kind)) {
        int k = (int)t->kind - S_TOK_EQ;
        if (s_next(p) != 0 || s_parse_primary(p, names[k]) != 0) return -1;
        if (s_emit(p, (s_op_t)(S_OP_EQ + k), 0, 0) != 0) return -1;
        p->depth--;
    } else if (t->kind == S_TOK_IN) {
        if (s_next(p) != 0 || s_parse_list(p) != 0) return -1;
    } else {
        return 0;
    }
    if (s_is_cmp(t->kind) || t->kind == S_TOK_IN)
        return s_fail(p, t->start, "comparisons cannot be chained; use parentheses");
    return 0;
}

/* Bangs are counted in a loop rather than by recursion, so "!!!!...x" cannot exhaust the C stack. */
static int s_parse_not(s_parser_t *p, const char *after) {
    size_t bangs = 0;
    while (p->tok.kind == S_TOK_NOT) {
        bangs++;
        if (s_next(p) != 0) return -1;
    }
    if (s_parse_cmp(p, bangs ? "'!'" : after) != 0) return -1;
    for (size_t i = 0; i < bangs; i++)
        if (s_emit(p, S_OP_NOT, 0, 0) != 0) return -1;
    return 0;
}

/* left (JF|JT) right TOBOOL: the jump pops left when it falls through, so right takes its slot. */
static int s_parse_and(s_parser_t *p, const char *after) {
    if (s_parse_not(p, after) != 0) return -1;
    while (p->tok.kind == S_TOK_AND) {
        size_t jump = p->ex->code_len;
        if (s_emit(p, S_OP_JF, 0, 0) != 0 || s_next(p) != 0) return -1;
        p->depth--;
        if (s_parse_not(p, "'&&'") != 0 || s_emit(p, S_OP_TOBOOL, 0, 0) != 0) return -1;
        p->ex->code[jump].a = (uint32_t)p->ex->code_len;
    }
    return 0;
}

static int s_parse_or(s_parser_t *p, const char *after) {
    if (s_parse_and(p, after) != 0) return -1;
    while (p->tok.kind == S_TOK_OR) {
        size_t jump = p->ex->code_len;
        if (s_emit(p, S_OP_JT, 0, 0) != 0 || s_next(p) != 0) return -1;
        p->depth--;
        if (s_parse_and(p, "'||'") != 0 || s_emit(p, S_OP_TOBOOL, 0, 0) != 0) return -1;
        p->ex->code[jump].a = (uint32_t)p->ex->code_len;
    }
    return 0;
}

fmx_expr_t *fmx_expr_parse(const char *src, char err[FMX_ERR_LEN], int *err_col) {
    s_parser_t p = {.src = src, .err = err, .col = 1};
    fmx_expr_t *self = NULL;
    if (!src) {
        fmx_err(err, "no expression");
        goto fail;
    }
    p.len = strnlen(src, S_MAX_SOURCE + 1);
    if (p.len > S_MAX_SOURCE) {
        s_fail(&p, S_MAX_SOURCE, "expression too long (max %d bytes)", S_MAX_SOURCE);
        goto fail;
    }
    self = calloc(1, sizeof *self);
    if (!self) goto oom;
    p.ex = self;
    self->source = strdup(src);
    /* Every token stores at most its own length plus a NUL, so 2x the source always fits. */
    self->pool_cap = 2 * p.len + 2;
    self->pool = malloc(self->pool_cap);
    if (!self->source || !self->pool) goto oom;

    if (s_next(&p) != 0) goto fail;
    if (s_parse_or(&p, NULL) != 0) goto fail;
    if (p.tok.kind == S_TOK_RPAREN) {
        s_fail(&p, p.tok.start, "unmatched ')'");
        goto fail;
    }
    if (p.tok.kind != S_TOK_END) {
        s_fail(&p, p.tok.start, "trailing input after expression");
        goto fail;
    }
    return self;
oom:
    fmx_err(err, "out of memory");
fail:
    if (err_col) *err_col = p.col;
    fmx_expr_destroy(&self);
    return NULL;
}

void fmx_expr_destroy(fmx_expr_t **self_p) {
    if (!self_p || !*self_p) return;
    fmx_expr_t *self = *self_p;
    free(self->source);
    free(self->pool);
    free(self->code);
    free(self->consts);
    free(self->names);
    free(self);
    *self_p = NULL;
}

/* ---- evaluation ---- */

enum { S_LESS = -1, S_EQUAL = 0, S_GREATER = 1, S_UNORDERED = 2 };

/* Exact int64 vs double ordering: converting the int to double would round above 2^53. */
static int s_cmp_int_float(int64_t i, double d) {
    if (isnan(d)) return S_UNORDERED;
    if (d >= 9223372036854775808.0) return S_LESS; /* 2^63: above every int64 */
    if (d < -9223372036854775808.0) return S_GREATER;
    int64_t t = (int64_t)d; /* truncates toward zero; exact in this range */
    if (i != t) return i < t ? S_LESS : S_GREATER;
    double frac = d - (double)t; /* exact: t and d share the integer part */
    return frac > 0 ? S_LESS : frac < 0 ? S_GREATER : S_EQUAL;
}

static int s_compare(const fmx_scalar_t *x, const fmx_scalar_t *y) {
    if (x->kind == FMX_SCALAR_INT && y->kind == FMX_SCALAR_INT)
        return x->u.i < y->u.i ? S_LESS : x->u.i > y->u.i ? S_GREATER : S_EQUAL;
    if (x->kind == FMX_SCALAR_FLOAT && y->kind == FMX_SCALAR_FLOAT) {
        if (x->u.f < y->u.f) return S_LESS;
        if (x->u.f > y->u.f) return S_GREATER;
        return x->u.f == y->u.f ? S_EQUAL : S_UNORDERED;
    }
    if (x->kind == FMX_SCALAR_INT && y->kind == FMX_SCALAR_FLOAT) return s_cmp_int_float(x->u.i, y->u.f);
    if (x->kind == FMX_SCALAR_FLOAT && y->kind == FMX_SCALAR_INT) {
        int r = s_cmp_int_float(y->u.i, x->u.f);
        return r == S_UNORDERED ? r : -r;
    }
    if (x->kind != y->kind) return S_UNORDERED;
    switch (x->kind) {
    case FMX_SCALAR_NULL: return S_EQUAL;
    case FMX_SCALAR_BOOL: return x->u.b == y->u.b ? S_EQUAL : x->u.b ? S_GREATER : S_LESS;
    case FMX_SCALAR_STR: {
        size_t n = x->u.s.len < y->u.s.len ? x->u.s.len : y->u.s.len;
        int c = n ? memcmp(x->u.s.ptr, y->u.s.ptr, n) : 0;
        if (c == 0) return x->u.s.len < y->u.s.len ? S_LESS : x->u.s.len > y->u.s.len ? S_GREATER : S_EQUAL;
        return c < 0 ? S_LESS : S_GREATER;
    }
    default: return S_UNORDERED;
    }
}

static bool s_cmp_holds(uint32_t op, int r) {
    switch (op) {
    case S_OP_EQ: return r == S_EQUAL;
    case S_OP_NE: return r != S_EQUAL;
    case S_OP_LT: return r == S_LESS;
    case S_OP_LE: return r == S_LESS || r == S_EQUAL;
    case S_OP_GT: return r == S_GREATER;
    case S_OP_GE: return r == S_GREATER || r == S_EQUAL;
    default: return false;
    }
}

static fmx_scalar_t s_bool(bool b) { return (fmx_scalar_t){.kind = FMX_SCALAR_BOOL, .u.b = b}; }

int fmx_expr_eval(const fmx_expr_t *self, fmx_lookup_fn lookup, void *arg, fmx_scalar_t *out, char err[FMX_ERR_LEN]) {
    fmx_scalar_t st[S_MAX_DEPTH];
    size_t sp = 0;
    size_t pc = 0;
    /* The parser guarantees these bounds; checking is cheap and turns a bug into an error. */
    while (pc < self->code_len) {
        const s_insn_t *in = &self->code[pc++];
        switch ((s_op_t)in->op) {
        case S_OP_PUSH:
            if (sp >= S_MAX_DEPTH) goto overflow;
            st[sp++] = self->consts[in->a];
            break;
        case S_OP_LOAD: {
            if (sp >= S_MAX_DEPTH) goto overflow;
            const fmx_str_t *name = &self->names[in->a];
            fmx_scalar_t v = {.kind = FMX_SCALAR_NULL};
            if (!lookup || lookup(arg, name->ptr, name->len, &v) != 0) v.kind = FMX_SCALAR_NULL;
            st[sp++] = v;
            break;
        }
        case S_OP_EQ:
        case S_OP_NE:
        case S_OP_LT:
        case S_OP_LE:
        case S_OP_GT:
        case S_OP_GE:
            if (sp < 2) goto underflow;
            sp--;
            st[sp - 1] = s_bool(s_cmp_holds(in->op, s_compare(&st[sp - 1], &st[sp])));
            break;
        case S_OP_NOT:
        case S_OP_TOBOOL:
            if (sp < 1) goto underflow;
            st[sp - 1] = s_bool(fmx_scalar_truthy(&st[sp - 1]) == (in->op == S_OP_TOBOOL));
            break;
        case S_OP_IN: {
            if (sp < 1) goto underflow;
            bool found = false;
            for (uint32_t i = 0; i < in->b && !found; i++)
                found = s_compare(&st[sp - 1], &self->consts[in->a + i]) == S_EQUAL;
            st[sp - 1] = s_bool(found);
            break;
        }
        case S_OP_JF:
        case S_OP_JT: {
            if (sp < 1) goto underflow;
            bool decides = fmx_scalar_truthy(&st[sp - 1]) == (in->op == S_OP_JT);
            if (decides) {
                st[sp - 1] = s_bool(in->op == S_OP_JT);
                pc = in->a;
            } else {
                sp--;
            }
            break;
        }
        default: return fmx_err(err, "expression '%s': bad instruction %u", self->source, (unsigned)in->op);
        }
    }
    if (sp != 1) goto underflow;
    *out = st[0];
    return 0;
overflow:
    return fmx_err(err, "expression '%s': evaluation stack exhausted", self->source);
underflow:
    return fmx_err(err, "expression '%s': evaluation stack underflow", self->source);
}

bool fmx_expr_test(const fmx_expr_t *self, fmx_lookup_fn lookup, void *arg) {
    fmx_scalar_t v;
    if (fmx_expr_eval(self, lookup, arg, &v, NULL) != 0) return false;
    return fmx_scalar_truthy(&v);
}

size_t fmx_expr_name_count(const fmx_expr_t *self) { return self->name_len; }

const char *fmx_expr_name(const fmx_expr_t *self, size_t index) {
    return index < self->name_len ? self->names[index].ptr : NULL;
}

const char *fmx_expr_source(const fmx_expr_t *self) { return self->source; }
