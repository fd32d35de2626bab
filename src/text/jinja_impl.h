/* Internals of the Jinja engine: values, the syntax tree, and what the parser, evaluator and built-ins share.
 * Not an API. Everything a template or a render builds lives in an arena freed at once. */
#ifndef QW_JINJA_IMPL_H
#define QW_JINJA_IMPL_H

#include <stdbool.h>
#include <stdint.h>

#include "text/jinja.h"

/* ---- arena ---- */

struct jarena {
    struct jblock *blocks;
    size_t total, max; /* bytes handed out, and the limit (0: none) */
};

void *ja_alloc(struct jarena *a, size_t n); /* zeroed, 16-aligned; NULL past the limit or out of memory */
void ja_free(struct jarena *a);

/* ---- values ---- */

enum jtype {
    JT_UNDEF, JT_NONE, JT_BOOL, JT_INT, JT_FLOAT, JT_STR, JT_LIST, JT_TUPLE, JT_DICT, JT_NS, JT_MACRO,
    JT_FUNC, JT_METHOD, JT_LOOP, JT_TYPE_COUNT
};

struct jstr {
    size_t len;
    char p[]; /* UTF-8, NUL-terminated */
};

struct jv;
struct jlist {
    size_t n;
    struct jv *v;
};

struct jdict { /* insertion-ordered, as Python's dict */
    size_t n, cap;
    struct jv *keys, *vals;
};

struct jmacro;
struct jloop;
struct jmethod;

struct jv {
    uint8_t t; /* enum jtype */
    union {
        bool b;
        int64_t i;
        double f;
        const struct jstr *s;        /* JT_STR; JT_UNDEF: the name that was undefined (may be NULL) */
        struct jlist *l;             /* JT_LIST, JT_TUPLE */
        struct jdict *d;             /* JT_DICT, JT_NS (a namespace is a mutable dict) */
        const struct jmacro *m;      /* JT_MACRO */
        int fn;                      /* JT_FUNC: enum of globals */
        const struct jmethod *meth;  /* JT_METHOD */
        struct jloop *loop;          /* JT_LOOP */
    } u;
};

struct jmethod {
    struct jv self;
    const char *name;
};

/* ---- syntax tree ---- */

enum jnode_kind {
    /* statements */
    JS_BODY, JS_TEXT, JS_OUTPUT, JS_IF, JS_FOR, JS_SET, JS_SET_BLOCK, JS_MACRO, JS_BREAK, JS_CONTINUE,
    JS_FILTER_BLOCK, JS_WITH,
    /* expressions */
    JE_CONST, JE_NAME, JE_NSREF, JE_ATTR, JE_ITEM, JE_SLICE, JE_CALL, JE_FILTER, JE_TEST, JE_NEG, JE_POS, JE_NOT,
    JE_BINARY, JE_AND, JE_OR, JE_COMPARE, JE_CONCAT, JE_COND, JE_LIST, JE_TUPLE, JE_DICT,
};

enum jop {
    OP_NONE, OP_ADD, OP_SUB, OP_MUL, OP_DIV, OP_FLOORDIV, OP_MOD, OP_POW, OP_TILDE, OP_LPAREN, OP_RPAREN,
    OP_LBRACKET, OP_RBRACKET, OP_LBRACE, OP_RBRACE, OP_COMMA, OP_DOT, OP_COLON, OP_PIPE, OP_ASSIGN, OP_EQ, OP_NE,
    OP_LT, OP_LE, OP_GT, OP_GE, OP_SEMICOLON, OP_IN, OP_NOTIN,
};

struct jnode {
    uint8_t kind, op;
    bool flag;      /* JE_TEST: negated; JS_FOR: has a loop filter */
    int line;
    struct jnode *a, *b, *c, *d; /* children, by kind (see the parser) */
    struct jnode **items;        /* bodies, list items, call arguments, compare operands, concat parts */
    int n_items;
    struct jnode **kw;           /* keyword argument values, macro defaults */
    const char **kw_names;       /* keyword names, macro parameter names */
    int n_kw;
    const char *name; /* names, attributes, filter / test names, text */
    size_t name_len;
    struct jv value; /* JE_CONST */
};

struct jinja_template {
    struct jarena arena;
    struct jnode *root;
};

/* ---- lexer and parser (jinja_lex.c, jinja_parse.c) ---- */

#define MAX_NESTING 200
#define MAX_TOKENS (1 << 22)

enum tok_type { T_DATA, T_VAR_BEGIN, T_VAR_END, T_BLOCK_BEGIN, T_BLOCK_END, T_NAME, T_STRING, T_INT, T_FLOAT, T_OP,
                T_EOF };

struct token {
    uint8_t type, op;
    int line;
    const char *s; /* DATA, NAME, STRING: text (arena, NUL-terminated) */
    size_t n;
    int64_t i;
    double f;
};

struct jparser {
    struct jarena *a;
    struct qw_err *e;
    qwglm_status st;
    struct token *toks;
    size_t n_toks, cap_toks, pos;
    int depth;
};

struct jop_name {
    const char *s;
    uint8_t op;
};
#define JINJA_N_OPERATORS 26
extern const struct jop_name jinja_operators[JINJA_N_OPERATORS];

/* Tokenizes src into p->toks, ending with T_EOF. */
bool jinja_lex(struct jparser *p, const char *src, size_t len);
/* Record a syntax error naming the line (first one wins) / out of memory; return false. */
bool jp_fail(struct jparser *p, int line, const char *fmt, const char *arg);
bool jp_nomem(struct jparser *p);

struct jmacro {
    const struct jnode *node;  /* JS_MACRO */
    struct jframe *closure;    /* the scope it was defined in, read at call time */
};

/* ---- render state ---- */

struct jframe {
    struct jframe *parent;
    struct jdict vars;
};

struct jloop {
    const struct jlist *items; /* after the loop filter */
    size_t index0;
};

struct jrender {
    struct jarena arena;
    struct qw_err *e;
    qwglm_status st;
    int line;            /* of the node being evaluated, for messages */
    long steps;
    size_t max_output;
    struct jframe *globals; /* render variables */
};

/* errors: record (first wins) and return false / an undefined value */
bool jr_fail(struct jrender *r, qwglm_status st, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
bool jr_nomem(struct jrender *r);

/* value construction (jinja_value.c) */
static inline struct jv jv_undef(void) { return (struct jv){.t = JT_UNDEF}; }
static inline struct jv jv_none(void) { return (struct jv){.t = JT_NONE}; }
static inline struct jv jv_bool(bool b) { return (struct jv){.t = JT_BOOL, .u.b = b}; }
static inline struct jv jv_int(int64_t i) { return (struct jv){.t = JT_INT, .u.i = i}; }
static inline struct jv jv_float(double f) { return (struct jv){.t = JT_FLOAT, .u.f = f}; }
struct jv jv_str(struct jarena *a, const char *s, size_t n); /* JT_UNDEF (u.s NULL) when out of memory */
struct jv jv_list(struct jarena *a, size_t n, bool tuple);   /* n undefined items to fill */
struct jv jv_dict(struct jarena *a);
bool jdict_set(struct jarena *a, struct jdict *d, struct jv key, struct jv val);
const struct jv *jdict_get(const struct jdict *d, struct jv key);
const struct jv *jdict_get_str(const struct jdict *d, const char *key, size_t n);
struct jv jv_from_json(struct jarena *a, const struct json_value *v, bool *ok);

static inline bool jv_is_str(struct jv v) { return v.t == JT_STR; }
static inline bool jv_is_seq(struct jv v) { return v.t == JT_LIST || v.t == JT_TUPLE; }
static inline bool jv_is_num(struct jv v) { return v.t == JT_INT || v.t == JT_FLOAT || v.t == JT_BOOL; }
bool jv_truthy(struct jv v);
bool jv_equal(struct jv a, struct jv b);
/* <0, 0, >0, or false with an error for types Python cannot order */
bool jv_compare(struct jrender *r, struct jv a, struct jv b, int *out);
const char *jv_type_name(struct jv v);
/* Python's str() and repr(), appended */
bool jv_print(struct jrender *r, struct qw_str *out, struct jv v);
bool jv_repr(struct jrender *r, struct qw_str *out, struct jv v);
/* json.dumps(v, ensure_ascii, indent, separators, sort_keys); indent < 0: none; item_sep/key_sep NULL: default */
bool jv_json(struct jrender *r, struct qw_str *out, struct jv v, bool ensure_ascii, int indent, const char *indent_str,
             const char *item_sep, const char *key_sep, bool sort_keys);
void py_float_repr(double f, char buf[40]);
/* code points of a string (for len, indexing) */
size_t utf8_count(const char *s, size_t n);
size_t utf8_offset(const char *s, size_t n, size_t index); /* byte offset of code point index (clamped) */
/* iteration: a list of the items of v (list/tuple items, dict keys, string characters); false if not iterable */
bool jv_iterate(struct jrender *r, struct jv v, struct jlist *out);
struct jv jv_from_qstr(struct jrender *r, struct qw_str *s); /* takes and frees s */

/* built-ins (jinja_lib.c) */
enum jfunc { JF_RANGE, JF_NAMESPACE, JF_DICT, JF_RAISE, JF_STRFTIME, JF_CYCLE, JF_JOINER, JF_COUNT };
struct jargs {
    struct jv *pos;
    int n_pos;
    const char **kw_names;
    struct jv *kw;
    int n_kw;
};
bool jlib_global(const char *name, struct jv *out);
bool jlib_call_func(struct jrender *r, int fn, const struct jargs *a, struct jv *out);
bool jlib_filter(struct jrender *r, const char *name, struct jv in, const struct jargs *a, struct jv *out);
bool jlib_test(struct jrender *r, const char *name, struct jv in, const struct jargs *a, bool *out);
bool jlib_method(struct jrender *r, const struct jmethod *m, const struct jargs *a, struct jv *out);
/* attribute of a value that is a method (str.startswith, dict.items, ...): a bound method, else false */
bool jlib_get_method(struct jrender *r, struct jv self, const char *name, struct jv *out);
bool jlib_loop_attr(struct jrender *r, struct jloop *loop, const char *name, struct jv *out);

/* helpers shared by the built-ins (jinja_lib.c, jinja_str.c) */
const struct jv *jl_arg(const struct jargs *a, int pos, const char *name); /* position pos or keyword name */
struct jv jl_str_of(struct jrender *r, struct jv v);                        /* Python's str(v) */
struct jv jl_mkstr(struct jrender *r, const char *s, size_t n);
bool jl_need_str(struct jrender *r, const struct jv *v, const char *what);
bool jl_as_int(const struct jv *v, int64_t *out);
enum { CASE_LOWER, CASE_UPPER, CASE_TITLE, CASE_CAPITALIZE };
bool jl_is_pyspace(uint32_t cp);
struct jv jl_strip(struct jrender *r, const struct jstr *s, const struct jstr *chars, bool left, bool right);
struct jv jl_change_case(struct jrender *r, const struct jstr *s, int mode);
struct jv jl_replace(struct jrender *r, const struct jstr *s, const struct jstr *old, const struct jstr *new_,
                     int64_t count);
bool jl_splitlines(struct jrender *r, const struct jstr *s, bool keepends, struct jv *out);
bool jl_case_test(const struct jstr *s, bool upper);
bool jl_str_method(struct jrender *r, struct jv self, const char *name, const struct jargs *a, struct jv *out);

/* evaluator entry points the built-ins need (jinja_eval.c) */
bool jeval_call_macro(struct jrender *r, const struct jmacro *m, const struct jargs *a, struct jv *out);
bool jeval_getattr(struct jrender *r, struct jv obj, const char *name, size_t n, struct jv *out);
bool jeval_getitem(struct jrender *r, struct jv obj, struct jv key, struct jv *out);

#endif
