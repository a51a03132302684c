/* runtime/tokenizer_pretok.c — running a pre-tokenizer: its rules applied in
 * turn, each splitting every piece the previous ones made into its matches and
 * the gaps between them (llama.cpp's unicode_regex_split, regex_iterator's
 * walk included), on the text's code points.
 *
 * Two patterns are written out by hand on Unicode categories, as llama.cpp's
 * unicode_regex_split_custom_* do (the regex engine would give the same words,
 * slower):
 * GPT-2:   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)
 * Llama 3: (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|
 *          ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
 * Each alternative is tried in order at the current position, exactly as the
 * regex would; a piece is its own text (nothing past its end is seen). */
#include <stdlib.h>
#include <string.h>

#include "kiln/error.h"
#include "runtime/pretok.h"
#include "runtime/pretok_regex.h"
#include "runtime/unicode.h"

#define END_OF_TEXT 0xFFFFFFFFu

/* Piece ends, in code points, growing. */
typedef struct ends {
    size_t *at;
    size_t n, cap;
    int oom;
} ends;

static void push_end(ends *e, size_t at)
{
    if (e->n == e->cap) {
        size_t cap = e->cap ? e->cap * 2 : 64;
        size_t *p = realloc(e->at, cap * sizeof *p);
        if (!p) {
            e->oom = 1;
            return;
        }
        e->at = p;
        e->cap = cap;
    }
    e->at[e->n++] = at;
}

/* One piece cp[begin..end) being split by a hand-written pattern. */
typedef struct scan {
    const uint32_t *cp;
    size_t begin, end;
    size_t prev_end;      /* end of the last word */
    ends *out;
} scan;

static uint32_t cpt(const scan *s, size_t i) { return i < s->end ? s->cp[i] : END_OF_TEXT; }
static unsigned flags(const scan *s, size_t i) { return i < s->end ? kiln_unicode_flags(s->cp[i]) : 0; }

/* Ends the current word at code point `end` (empty words are dropped). */
static void add_word(scan *s, size_t end)
{
    if (end > s->prev_end) push_end(s->out, end);
    s->prev_end = end;
}

static uint32_t ascii_lower(uint32_t c) { return (c >= 'A' && c <= 'Z') ? c + 32 : c; }

/* 's 't 're 've 'm 'll 'd at pos: the length matched (0 if none). */
static size_t contraction(const scan *s, size_t pos, int ignore_case)
{
    if (cpt(s, pos) != '\'' || pos + 1 >= s->end) return 0;
    uint32_t a = cpt(s, pos + 1), b = cpt(s, pos + 2);
    if (ignore_case) a = ascii_lower(a), b = ascii_lower(b);
    if (a == 's' || a == 't' || a == 'm' || a == 'd') return 2;
    if (pos + 2 < s->end && ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l'))) return 3;
    return 0;
}

#define L KILN_UC_LETTER
#define N KILN_UC_NUMBER
#define W KILN_UC_WHITESPACE

static void split_gpt2(scan *s)
{
    size_t pos = s->begin;
    while (pos < s->end) {
        uint32_t c = cpt(s, pos);
        size_t k = contraction(s, pos, 0);
        if (k) {
            add_word(s, pos += k);
            continue;
        }
        unsigned f2 = c == ' ' ? flags(s, pos + 1) : flags(s, pos);
        if (f2 & (L | N)) { /* ' ?\p{L}+'  ' ?\p{N}+' */
            unsigned cls = f2 & L ? L : N;
            pos += c == ' ';
            while (flags(s, pos) & cls) pos++;
            add_word(s, pos);
            continue;
        }
        if (!(f2 & (W | L | N)) && f2) { /* ' ?[^\s\p{L}\p{N}]+' */
            pos += c == ' ';
            for (unsigned f = flags(s, pos); !(f & (W | L | N)) && f; f = flags(s, pos)) pos++;
            add_word(s, pos);
            continue;
        }
        size_t ws = 0;
        while (flags(s, pos + ws) & W) ws++;
        if (ws > 1 && cpt(s, pos + ws) != END_OF_TEXT) { /* '\s+(?!\S)': leave the last space to the next word */
            add_word(s, pos += ws - 1);
            continue;
        }
        if (ws > 0) {
            add_word(s, pos += ws);
            continue;
        }
        add_word(s, ++pos);
    }
}

static void split_llama3(scan *s)
{
    size_t pos = s->begin;
    while (pos < s->end) {
        uint32_t c = cpt(s, pos);
        unsigned f = flags(s, pos);
        size_t k = contraction(s, pos, 1);
        if (k) {
            add_word(s, pos += k);
            continue;
        }
        /* [^\r\n\p{L}\p{N}]?\p{L}+ */
        if (!(c == '\r' || c == '\n' || (f & N)) && ((f & L) || (flags(s, pos + 1) & L))) {
            pos++;
            while (flags(s, pos) & L) pos++;
            add_word(s, pos);
            continue;
        }
        /* \p{N}{1,3} */
        if (f & N) {
            size_t first = pos;
            while (flags(s, pos) & N) {
                if (++pos - first >= 3) {
                    add_word(s, pos);
                    first = pos;
                }
            }
            add_word(s, pos);
            continue;
        }
        /* ' ?[^\s\p{L}\p{N}]+[\r\n]*' */
        unsigned f2 = c == ' ' ? flags(s, pos + 1) : f;
        if (!(f2 & (W | L | N)) && f) {
            pos += c == ' ';
            for (f2 = flags(s, pos); !(f2 & (W | L | N)) && f2; f2 = flags(s, pos)) pos++;
            while (cpt(s, pos) == '\r' || cpt(s, pos) == '\n') pos++;
            add_word(s, pos);
            continue;
        }
        size_t ws = 0, last_newline_end = 0;
        while (flags(s, pos + ws) & W) {
            uint32_t c2 = cpt(s, pos + ws);
            if (c2 == '\r' || c2 == '\n') last_newline_end = pos + ws + 1;
            ws++;
        }
        if (last_newline_end > 0) { /* \s*[\r\n]+ */
            add_word(s, pos = last_newline_end);
            continue;
        }
        if (ws > 1 && cpt(s, pos + ws) != END_OF_TEXT) {
            add_word(s, pos += ws - 1);
            continue;
        }
        if (ws > 0) {
            add_word(s, pos += ws);
            continue;
        }
        add_word(s, ++pos);
    }
}

#undef L
#undef N
#undef W

/* ------------------------------------------------------------- the rules */

typedef enum rule_kind { RULE_REGEX, RULE_GPT2, RULE_LLAMA3 } rule_kind;

typedef struct rule {
    rule_kind kind;
    kiln_regex *re;
} rule;

struct kiln_pretok {
    const kiln_pretok_def *def;
    rule *rules;
    int n_rules;
};

const kiln_pretok_name *kiln_pretok_find(const char *name, size_t len)
{
    for (size_t i = 0; i < kiln_pretok_names_count; i++)
        if (strlen(kiln_pretok_names[i].name) == len && !memcmp(kiln_pretok_names[i].name, name, len))
            return &kiln_pretok_names[i];
    return NULL;
}

void kiln_pretok_free(kiln_pretok *p)
{
    if (!p) return;
    for (int i = 0; i < p->n_rules; i++) kiln_regex_free(p->rules[i].re);
    free(p->rules);
    free(p);
}

kiln_status kiln_pretok_create(const kiln_pretok_def *def, kiln_pretok **out)
{
    *out = NULL;
    if (!def->rules) return kiln_fail(KILN_ERR_UNSUPPORTED, "pre-tokenizer '%s' is %s", def->id, def->unsupported);
    int n = 0;
    while (def->rules[n]) n++;
    kiln_pretok *p = calloc(1, sizeof *p);
    if (!p || !(p->rules = calloc((size_t)n, sizeof *p->rules))) {
        free(p);
        return kiln_fail(KILN_ERR_OUT_OF_MEMORY, "pre-tokenizer: out of memory");
    }
    p->def = def;
    for (; p->n_rules < n; p->n_rules++) {
        const char *rx = def->rules[p->n_rules];
        rule *r = &p->rules[p->n_rules];
        if (!strcmp(rx, kiln_pretok_rx_gpt2)) r->kind = RULE_GPT2;
        else if (!strcmp(rx, kiln_pretok_rx_llama3)) r->kind = RULE_LLAMA3;
        else {
            kiln_status st = kiln_regex_compile(rx, &r->re);
            if (st != KILN_OK) {
                kiln_pretok_free(p);
                return kiln_fail_prefix(st, "pre-tokenizer '%s'", def->id);
            }
        }
    }
    *out = p;
    return KILN_OK;
}

/* Splits cp[begin..end) by one regex the way llama.cpp walks std::regex_iterator
 * over it: each match and each gap before one become pieces (empty ones
 * dropped); after an empty match, a non-empty one is tried at the same place
 * before the search moves on. */
static kiln_status split_regex(const kiln_pretok *p, const kiln_regex *re, const uint32_t *cp, size_t begin,
                               size_t end, ends *out)
{
    size_t done = begin, from = begin;
    int not_null = 0;
    for (;;) {
        size_t mb, me;
        int r = kiln_regex_search(re, cp, begin, end, from, not_null, &mb, &me);
        if (r < 0) return kiln_fail_prefix(KILN_ERR_UNSUPPORTED, "pre-tokenizer '%s'", p->def->id);
        if (r == 0) break;
        if (mb > done) push_end(out, mb);
        if (me > mb) push_end(out, me);
        done = me;
        from = me;
        not_null = me == mb;
        if (not_null && me == end) break;
    }
    if (end > done) push_end(out, end);
    return KILN_OK;
}

kiln_status kiln_pretokenize(const kiln_pretok *p, const char *text, size_t len, kiln_pretok_words *out)
{
    memset(out, 0, sizeof *out);
    ends cur = {0}, next = {0};
    out->cp = malloc((len + 1) * sizeof *out->cp);
    if (!out->cp) return kiln_fail(KILN_ERR_OUT_OF_MEMORY, "tokenize: out of memory for %zu bytes of text", len);
    for (size_t i = 0; i < len;) {
        int used;
        out->cp[out->n_cp++] = kiln_utf8_decode(text + i, len - i, &used);
        i += (size_t)used;
    }
    kiln_status st = KILN_OK;
    if (out->n_cp) push_end(&cur, out->n_cp);
    for (int r = 0; r < p->n_rules && st == KILN_OK && !cur.oom; r++) {
        const rule *ru = &p->rules[r];
        next.n = 0;
        for (size_t i = 0, begin = 0; i < cur.n && st == KILN_OK; begin = cur.at[i++]) {
            if (ru->kind == RULE_REGEX) {
                st = split_regex(p, ru->re, out->cp, begin, cur.at[i], &next);
                continue;
            }
            scan s = {out->cp, begin, cur.at[i], begin, &next};
            if (ru->kind == RULE_GPT2) split_gpt2(&s);
            else split_llama3(&s);
        }
        ends t = cur;
        cur = next;
        next = t;
        if (next.oom) cur.oom = 1;
    }
    free(next.at);
    if (st == KILN_OK && cur.oom) st = kiln_fail(KILN_ERR_OUT_OF_MEMORY, "tokenize: out of memory splitting %zu bytes", len);
    if (st == KILN_OK && !(out->start = malloc((cur.n + 1) * sizeof *out->start)))
        st = kiln_fail(KILN_ERR_OUT_OF_MEMORY, "tokenize: out of memory for %zu words", cur.n);
    if (st != KILN_OK) {
        free(cur.at);
        kiln_pretok_words_free(out);
        return st;
    }
    out->start[0] = 0;
    if (cur.n) memcpy(out->start + 1, cur.at, cur.n * sizeof *cur.at);
    out->n = cur.n;
    free(cur.at);
    return KILN_OK;
}

void kiln_pretok_words_free(kiln_pretok_words *w)
{
    free(w->cp);
    free(w->start);
    memset(w, 0, sizeof *w);
}
