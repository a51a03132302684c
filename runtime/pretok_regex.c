/* runtime/pretok_regex.c — a backtracking regex matcher over code points, for
 * the pre-tokenizer rules (semantics and syntax in pretok_regex.h).
 *
 * The pattern is parsed into a tree of nodes; matching walks it with an
 * explicit continuation list, which gives ECMAScript's order of alternatives
 * and greedy backtracking. A repeat of a single-character class (\p{L}+,
 * [^\s\p{L}\p{N}]+, the bulk of every rule) is a loop, not recursion, so the
 * stack grows with the pattern, not the text; "(?=X)Y" and "(?!X)Y" on single
 * characters are folded into one class for the same reason. Whatever is left
 * recursive is bounded (MAX_DEPTH), failing by message instead of overflowing. */
#include "runtime/pretok_regex.h"

#include <stdlib.h>
#include <string.h>

#include "kiln/error.h"
#include "runtime/unicode.h"

#define MAX_DEPTH 4000
#define INF_REPEAT (-1)
/* The collapsed view of a non-ASCII code point: its category bits above Unicode. */
#define COLLAPSED_BASE 0x200000u

/* ------------------------------------------------------------- classes */

typedef enum item_kind { IT_RANGE, IT_CATEGORY, IT_HAN, IT_SPACE, IT_DIGIT, IT_WORD, IT_ANY_BUT_NEWLINE } item_kind;

typedef struct cls_item {
    item_kind kind;
    int negate;          /* \S \D \W */
    uint32_t lo, hi;     /* IT_RANGE, on the view */
    unsigned cats;       /* IT_CATEGORY: KILN_UC_* bits */
} cls_item;

typedef struct cls {
    cls_item *items;
    int n, cap;
    int negate;          /* [^...] */
    int and_cls;         /* -1, or a class that must also hold (folded lookahead) */
    int and_negate;      /* ... or must not hold */
} cls;

typedef enum node_kind { N_EMPTY, N_CLASS, N_CAT, N_ALT, N_REPEAT, N_LOOK, N_BOL, N_EOL, N_WORDB } node_kind;

typedef struct node {
    node_kind kind;
    int a, b;            /* CAT: left, right; ALT: first, second; REPEAT/LOOK: child (a) */
    int cls;             /* N_CLASS */
    int min, max;        /* N_REPEAT (max INF_REPEAT: unbounded) */
    int negate;          /* N_LOOK: (?!; N_WORDB: \B */
} node;

struct kiln_regex {
    node *nodes;
    int n_nodes, cap_nodes;
    cls *classes;
    int n_classes, cap_classes;
    int root;
    int collapsed;       /* the pattern uses \p{L}-style categories: collapsed view */
};

static int grow(void **p, int *cap, int need, size_t elem)
{
    if (need <= *cap) return 0;
    int c = *cap ? *cap * 2 : 16;
    while (c < need) c *= 2;
    void *q = realloc(*p, (size_t)c * elem);
    if (!q) return -1;
    *p = q;
    *cap = c;
    return 0;
}

/* The symbol a pattern sees for cp (see pretok_regex.h). */
static uint32_t view(const kiln_regex *re, uint32_t cp)
{
    if (cp < 0x80) return cp;
    unsigned f = kiln_unicode_flags(cp);
    if (f & KILN_UC_WHITESPACE) return 0x0B;
    return re->collapsed ? COLLAPSED_BASE | (f & KILN_UC_CLASSES) : cp;
}

static int is_space_sym(uint32_t v) { return (v >= 0x09 && v <= 0x0D) || v == 0x20; }
static int is_digit_sym(uint32_t v) { return v >= '0' && v <= '9'; }
static int is_word_sym(uint32_t v) { return is_digit_sym(v) || ((v | 0x20) >= 'a' && (v | 0x20) <= 'z') || v == '_'; }

static int item_has(const cls_item *it, uint32_t cp, uint32_t v)
{
    int r = 0;
    switch (it->kind) {
    case IT_RANGE: r = v >= it->lo && v <= it->hi; break;
    case IT_CATEGORY:
        /* ASCII by its own class (\p{P} holds '!', \p{S} holds '$'); above, the collapsed symbol */
        r = ((v < 0x80 ? kiln_unicode_flags(v) : (v & COLLAPSED_BASE ? v : 0)) & it->cats) != 0;
        break;
    case IT_HAN: r = kiln_unicode_is_han(cp); break;
    case IT_SPACE: r = is_space_sym(v); break;
    case IT_DIGIT: r = is_digit_sym(v); break;
    case IT_WORD: r = is_word_sym(v); break;
    case IT_ANY_BUT_NEWLINE: r = !(v == '\n' || v == '\r' || v == 0x2028 || v == 0x2029); break;
    }
    return it->negate ? !r : r;
}

static int class_has(const kiln_regex *re, int ci, uint32_t cp)
{
    uint32_t v = view(re, cp);
    for (;;) {
        const cls *c = &re->classes[ci];
        int in = 0;
        for (int i = 0; i < c->n && !in; i++) in = item_has(&c->items[i], cp, v);
        if (in == c->negate) return 0;
        if (c->and_cls < 0) return 1;
        if (c->and_negate) return !class_has(re, c->and_cls, cp);
        ci = c->and_cls;
    }
}

/* -------------------------------------------------------------- parsing */

typedef struct parser {
    kiln_regex *re;
    const char *pat;
    size_t pos, len;
    const char *err;
} parser;

static int new_node(parser *p, node n)
{
    kiln_regex *re = p->re;
    if (grow((void **)&re->nodes, &re->cap_nodes, re->n_nodes + 1, sizeof *re->nodes)) {
        p->err = "out of memory";
        return -1;
    }
    re->nodes[re->n_nodes] = n;
    return re->n_nodes++;
}

static int new_class(parser *p)
{
    kiln_regex *re = p->re;
    if (grow((void **)&re->classes, &re->cap_classes, re->n_classes + 1, sizeof *re->classes)) {
        p->err = "out of memory";
        return -1;
    }
    re->classes[re->n_classes] = (cls){NULL, 0, 0, 0, -1, 0};
    return re->n_classes++;
}

static int add_item(parser *p, int ci, cls_item it)
{
    cls *c = &p->re->classes[ci];
    if (grow((void **)&c->items, &c->cap, c->n + 1, sizeof *c->items)) {
        p->err = "out of memory";
        return -1;
    }
    c->items[c->n++] = it;
    return 0;
}

static int at_end(const parser *p) { return p->pos >= p->len; }
static char peek(const parser *p) { return at_end(p) ? 0 : p->pat[p->pos]; }

static uint32_t next_cp(parser *p)
{
    int used;
    uint32_t c = kiln_utf8_decode(p->pat + p->pos, p->len - p->pos, &used);
    p->pos += (size_t)used;
    return c;
}

/* \p{X} after the backslash and 'p': one item. */
static int parse_property(parser *p, cls_item *it)
{
    static const struct { const char *name; unsigned cats; } props[] = {
        {"L", KILN_UC_LETTER}, {"Lu", KILN_UC_LETTER}, {"Ll", KILN_UC_LETTER}, {"Lt", KILN_UC_LETTER},
        {"Lm", KILN_UC_LETTER}, {"Lo", KILN_UC_LETTER}, {"N", KILN_UC_NUMBER}, {"P", KILN_UC_PUNCT},
        {"M", KILN_UC_MARK}, {"S", KILN_UC_SYMBOL},
    };
    if (peek(p) != '{') return p->err = "\\p without {NAME}", -1;
    const char *name = p->pat + p->pos + 1;
    const char *close = memchr(name, '}', p->len - p->pos - 1);
    if (!close) return p->err = "\\p{ without }", -1;
    size_t n = (size_t)(close - name);
    p->pos += n + 2;
    if (n == 3 && !memcmp(name, "Han", 3)) {
        *it = (cls_item){IT_HAN, 0, 0, 0, 0};
        return 0;
    }
    for (size_t i = 0; i < sizeof props / sizeof props[0]; i++)
        if (strlen(props[i].name) == n && !memcmp(props[i].name, name, n)) {
            *it = (cls_item){IT_CATEGORY, 0, 0, 0, props[i].cats};
            return 0;
        }
    return p->err = "unknown \\p{...} property", -1;
}

/* An escape after the backslash: a class item, or a literal in *lit (returns 1). */
static int parse_escape(parser *p, cls_item *it, uint32_t *lit)
{
    if (at_end(p)) return p->err = "trailing backslash", -1;
    char c = p->pat[p->pos++];
    switch (c) {
    case 's': case 'S': *it = (cls_item){IT_SPACE, c == 'S', 0, 0, 0}; return 0;
    case 'd': case 'D': *it = (cls_item){IT_DIGIT, c == 'D', 0, 0, 0}; return 0;
    case 'w': case 'W': *it = (cls_item){IT_WORD, c == 'W', 0, 0, 0}; return 0;
    case 'p': return parse_property(p, it);
    case 'r': *lit = '\r'; return 1;
    case 'n': *lit = '\n'; return 1;
    case 't': *lit = '\t'; return 1;
    case 'v': *lit = '\v'; return 1;
    case 'f': *lit = '\f'; return 1;
    default:
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
            return p->err = "unsupported escape", -1;
        *lit = (uint32_t)(unsigned char)c;
        return 1;
    }
}

static int literal_class(parser *p, uint32_t lo, uint32_t hi)
{
    int ci = new_class(p);
    if (ci < 0 || add_item(p, ci, (cls_item){IT_RANGE, 0, lo, hi, 0})) return -1;
    return ci;
}

/* [...] after the '['. */
static int parse_bracket(parser *p)
{
    int ci = new_class(p);
    if (ci < 0) return -1;
    if (peek(p) == '^') {
        p->re->classes[ci].negate = 1;
        p->pos++;
    }
    int first = 1;
    while (!at_end(p) && (peek(p) != ']' || first)) {
        first = 0;
        cls_item it;
        uint32_t lo;
        int r = 1;
        if (peek(p) == '\\') {
            p->pos++;
            if ((r = parse_escape(p, &it, &lo)) < 0) return -1;
        } else {
            lo = next_cp(p);
        }
        if (r == 0) {
            if (add_item(p, ci, it)) return -1;
            continue;
        }
        uint32_t hi = lo;
        if (peek(p) == '-' && p->pos + 1 < p->len && p->pat[p->pos + 1] != ']') {
            p->pos++;
            if (peek(p) == '\\') {
                p->pos++;
                if (parse_escape(p, &it, &hi) != 1) return p->err = "a class as a range end", -1;
            } else {
                hi = next_cp(p);
            }
            if (hi < lo) return p->err = "range out of order", -1;
        }
        if (add_item(p, ci, (cls_item){IT_RANGE, 0, lo, hi, 0})) return -1;
    }
    if (peek(p) != ']') return p->err = "[ without ]", -1;
    p->pos++;
    return ci;
}

static int parse_alt(parser *p);

static int parse_atom(parser *p)
{
    char c = peek(p);
    if (c == '(') {
        p->pos++;
        int look = 0, neg = 0;
        if (peek(p) == '?') {
            char k = p->pos + 1 < p->len ? p->pat[p->pos + 1] : 0;
            if (k == ':') p->pos += 2;
            else if (k == '=' || k == '!') look = 1, neg = k == '!', p->pos += 2;
            else return p->err = "unsupported (? group", -1;
        }
        int inner = parse_alt(p);
        if (inner < 0) return -1;
        if (peek(p) != ')') return p->err = "( without )", -1;
        p->pos++;
        return look ? new_node(p, (node){N_LOOK, inner, -1, -1, 0, 0, neg}) : inner;
    }
    if (c == '[') {
        p->pos++;
        int ci = parse_bracket(p);
        return ci < 0 ? -1 : new_node(p, (node){N_CLASS, -1, -1, ci, 0, 0, 0});
    }
    if (c == '^') return p->pos++, new_node(p, (node){N_BOL, -1, -1, -1, 0, 0, 0});
    if (c == '$') return p->pos++, new_node(p, (node){N_EOL, -1, -1, -1, 0, 0, 0});
    int ci;
    if (c == '.') {
        p->pos++;
        ci = new_class(p);
        if (ci < 0 || add_item(p, ci, (cls_item){IT_ANY_BUT_NEWLINE, 0, 0, 0, 0})) return -1;
    } else if (c == '\\') {
        p->pos++;
        if (peek(p) == 'b' || peek(p) == 'B') {
            int neg = peek(p) == 'B';
            p->pos++;
            return new_node(p, (node){N_WORDB, -1, -1, -1, 0, 0, neg});
        }
        cls_item it;
        uint32_t lit;
        int r = parse_escape(p, &it, &lit);
        if (r < 0) return -1;
        if (r == 1) ci = literal_class(p, lit, lit);
        else if ((ci = new_class(p)) >= 0 && add_item(p, ci, it)) return -1;
    } else if (c == '*' || c == '+' || c == '?' || c == '{' || c == ')' || c == '|') {
        return p->err = "quantifier or bracket out of place", -1;
    } else {
        uint32_t lit = next_cp(p);
        ci = literal_class(p, lit, lit);
    }
    return ci < 0 ? -1 : new_node(p, (node){N_CLASS, -1, -1, ci, 0, 0, 0});
}

static int parse_int(parser *p, int *out)
{
    if (!(peek(p) >= '0' && peek(p) <= '9')) return -1;
    long v = 0;
    while (peek(p) >= '0' && peek(p) <= '9' && v < 100000) v = v * 10 + (p->pat[p->pos++] - '0');
    *out = (int)v;
    return 0;
}

static int parse_repeat(parser *p)
{
    int atom = parse_atom(p);
    if (atom < 0) return -1;
    for (;;) {
        int min, max;
        char c = peek(p);
        if (c == '*') min = 0, max = INF_REPEAT;
        else if (c == '+') min = 1, max = INF_REPEAT;
        else if (c == '?') min = 0, max = 1;
        else if (c == '{') {
            p->pos++;
            if (parse_int(p, &min)) return p->err = "bad {n,m}", -1;
            max = min;
            if (peek(p) == ',') {
                p->pos++;
                max = INF_REPEAT;
                if (peek(p) != '}' && parse_int(p, &max)) return p->err = "bad {n,m}", -1;
            }
            if (peek(p) != '}' || (max != INF_REPEAT && max < min)) return p->err = "bad {n,m}", -1;
        } else {
            return atom;
        }
        p->pos++;
        if (peek(p) == '?' || peek(p) == '+') return p->err = "lazy and possessive quantifiers are not supported", -1;
        atom = new_node(p, (node){N_REPEAT, atom, -1, -1, min, max, 0});
        if (atom < 0) return -1;
    }
}

/* "(?=X)Y" or "(?!X)Y" with X and Y single classes: the class Y that X must (not) hold too. */
static int fold_lookahead(parser *p, int left, int right)
{
    kiln_regex *re = p->re;
    const node *l = &re->nodes[left], *r = &re->nodes[right];
    if (l->kind != N_LOOK || r->kind != N_CLASS || re->nodes[l->a].kind != N_CLASS) return -1;
    cls *y = &re->classes[r->cls];
    if (y->and_cls >= 0) return -1;
    y->and_cls = re->nodes[l->a].cls;
    y->and_negate = l->negate;
    return right;
}

static int parse_cat(parser *p)
{
    int left = -1;
    while (!at_end(p) && peek(p) != '|' && peek(p) != ')') {
        int right = parse_repeat(p);
        if (right < 0) return -1;
        if (left < 0) left = right;
        else {
            int folded = fold_lookahead(p, left, right);
            left = folded >= 0 ? folded : new_node(p, (node){N_CAT, left, right, -1, 0, 0, 0});
            if (left < 0) return -1;
        }
    }
    return left >= 0 ? left : new_node(p, (node){N_EMPTY, -1, -1, -1, 0, 0, 0});
}

static int parse_alt(parser *p)
{
    int left = parse_cat(p);
    if (left < 0 || peek(p) != '|') return left;
    p->pos++;
    int right = parse_alt(p);
    return right < 0 ? -1 : new_node(p, (node){N_ALT, left, right, -1, 0, 0, 0});
}

/* llama.cpp switches to the collapsed view when any of these occurs. */
static int uses_categories(const char *pattern)
{
    static const char *const cats[] = {"\\p{N}", "\\p{L}", "\\p{P}", "\\p{M}", "\\p{S}",
                                       "\\p{Lu}", "\\p{Ll}", "\\p{Lt}", "\\p{Lm}", "\\p{Lo}"};
    for (size_t i = 0; i < sizeof cats / sizeof cats[0]; i++)
        if (strstr(pattern, cats[i])) return 1;
    return 0;
}

void kiln_regex_free(kiln_regex *re)
{
    if (!re) return;
    for (int i = 0; i < re->n_classes; i++) free(re->classes[i].items);
    free(re->classes);
    free(re->nodes);
    free(re);
}

kiln_status kiln_regex_compile(const char *pattern, kiln_regex **out)
{
    *out = NULL;
    kiln_regex *re = calloc(1, sizeof *re);
    if (!re) return kiln_fail(KILN_ERR_OUT_OF_MEMORY, "pre-tokenizer regex: out of memory");
    re->collapsed = uses_categories(pattern);
    parser p = {re, pattern, 0, strlen(pattern), NULL};
    if (re->collapsed)
        for (size_t i = 0; i < p.len; i++)
            if ((unsigned char)pattern[i] >= 0x80) p.err = "a pattern with \\p{...} categories must be ASCII";
    re->root = p.err ? -1 : parse_alt(&p);
    if (!p.err && !at_end(&p)) p.err = ") without (";
    if (p.err || re->root < 0) {
        kiln_status st = kiln_fail(KILN_ERR_INVALID_ARG, "pre-tokenizer regex '%s': %s at offset %zu", pattern,
                                   p.err ? p.err : "cannot parse", p.pos);
        kiln_regex_free(re);
        return st;
    }
    *out = re;
    return KILN_OK;
}

/* ------------------------------------------------------------- matching */

typedef enum cont_kind { K_NODE, K_REPEAT, K_ACCEPT, K_ACCEPT_LOOK } cont_kind;

/* What remains to match after the current node. */
typedef struct cont {
    cont_kind kind;
    int node;             /* K_NODE: the node; K_REPEAT: the repeat */
    int count;            /* K_REPEAT: iterations done */
    size_t start;         /* K_REPEAT: where this iteration began */
    const struct cont *next;
} cont;

typedef struct matcher {
    const kiln_regex *re;
    const uint32_t *cp;
    size_t begin, end;
    size_t match_start;   /* K_ACCEPT: where the match began */
    int not_null;         /* K_ACCEPT: an empty match is refused */
    size_t match_end;
    int depth, overflow;
} matcher;

static int match(matcher *m, int ni, size_t pos, const cont *k);

static int is_word_at(const matcher *m, size_t i)
{
    return i >= m->begin && i < m->end && is_word_sym(view(m->re, m->cp[i]));
}

static int repeat(matcher *m, int ni, int count, size_t pos, const cont *k);

static int proceed(matcher *m, size_t pos, const cont *k)
{
    switch (k->kind) {
    case K_ACCEPT:
        if (m->not_null && pos == m->match_start) return 0;
        m->match_end = pos;
        return 1;
    case K_ACCEPT_LOOK: return 1;
    case K_REPEAT:
        /* ECMAScript: an iteration that matched nothing ends the repeat without success */
        if (pos == k->start) return 0;
        return repeat(m, k->node, k->count, pos, k->next);
    case K_NODE: break;
    }
    return match(m, k->node, pos, k->next);
}

static int repeat(matcher *m, int ni, int count, size_t pos, const cont *k)
{
    const node *n = &m->re->nodes[ni];
    const node *child = &m->re->nodes[n->a];
    if (child->kind == N_CLASS) {
        /* the longest run first, then shorter ones: a loop, not recursion */
        size_t run = 0, room = n->max == INF_REPEAT ? SIZE_MAX : (size_t)(n->max - count);
        while (run < room && pos + run < m->end && class_has(m->re, child->cls, m->cp[pos + run])) run++;
        if (run + (size_t)count < (size_t)n->min) return 0;
        size_t least = count >= n->min ? 0 : (size_t)(n->min - count);
        for (size_t r = run + 1; r-- > least;) {
            if (proceed(m, pos + r, k)) return 1;
            if (m->overflow) return 0;
        }
        return 0;
    }
    if (n->max == INF_REPEAT || count < n->max) {
        cont again = {K_REPEAT, ni, count + 1, pos, k};
        if (match(m, n->a, pos, &again)) return 1;
        if (m->overflow) return 0;
    }
    return count >= n->min ? proceed(m, pos, k) : 0;
}

static int match(matcher *m, int ni, size_t pos, const cont *k)
{
    if (++m->depth > MAX_DEPTH) {
        m->overflow = 1;
        m->depth--;
        return 0;
    }
    const node *n = &m->re->nodes[ni];
    int r = 0;
    switch (n->kind) {
    case N_EMPTY: r = proceed(m, pos, k); break;
    case N_CLASS: r = pos < m->end && class_has(m->re, n->cls, m->cp[pos]) && proceed(m, pos + 1, k); break;
    case N_CAT: {
        cont rest = {K_NODE, n->b, 0, 0, k};
        r = match(m, n->a, pos, &rest);
        break;
    }
    case N_ALT: r = match(m, n->a, pos, k) || (!m->overflow && match(m, n->b, pos, k)); break;
    case N_REPEAT: r = repeat(m, ni, 0, pos, k); break;
    case N_LOOK: {
        /* atomic: the inside matches once, without backtracking into it later */
        static const cont accept = {K_ACCEPT_LOOK, -1, 0, 0, NULL};
        int inside = match(m, n->a, pos, &accept);
        r = !m->overflow && inside != n->negate && proceed(m, pos, k);
        break;
    }
    case N_BOL: r = pos == m->begin && proceed(m, pos, k); break;
    case N_EOL: r = pos == m->end && proceed(m, pos, k); break;
    case N_WORDB: r = ((is_word_at(m, pos - 1) != is_word_at(m, pos)) != n->negate) && proceed(m, pos, k); break;
    }
    m->depth--;
    return r;
}

int kiln_regex_search(const kiln_regex *re, const uint32_t *cp, size_t begin, size_t end, size_t from,
                      int not_null_at_from, size_t *mb, size_t *me)
{
    matcher m = {re, cp, begin, end, 0, 0, 0, 0, 0};
    static const cont accept = {K_ACCEPT, -1, 0, 0, NULL};
    for (size_t s = from; s <= end; s++) {
        m.match_start = s;
        m.not_null = not_null_at_from && s == from;
        if (match(&m, re->root, s, &accept)) {
            *mb = s;
            *me = m.match_end;
            return 1;
        }
        if (m.overflow) {
            kiln_fail(KILN_ERR_UNSUPPORTED, "the text needs deeper backtracking than the regex matcher allows "
                                            "(over %d nested steps at code point %zu)", MAX_DEPTH, s);
            return -1;
        }
    }
    return 0;
}
