/* runtime/tokenizer_pretok.c — GPT-2 and Llama 3 pre-tokenization.
 *
 * GPT-2:   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
 * Llama 3: (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|
 *          ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
 * Each alternative is tried in order at the current position, exactly as the
 * regex would; positions are code points, converted to byte offsets at the end. */
#include <stdlib.h>

#include "kernels/core/backend.h"
#include "runtime/pretok.h"
#include "runtime/unicode.h"

#define END_OF_TEXT 0xFFFFFFFFu

typedef struct scan {
    const uint32_t *cp;   /* [n] code points */
    const size_t *byte;   /* [n+1] byte offset of each code point */
    size_t n;
    size_t prev_end;      /* end of the last word, in code points */
    kiln_pretok_words *out;
} scan;

static uint32_t cpt(const scan *s, size_t i) { return i < s->n ? s->cp[i] : END_OF_TEXT; }
static unsigned flags(const scan *s, size_t i) { return i < s->n ? kiln_unicode_flags(s->cp[i]) : 0; }

/* Ends the current word at code point `end` (empty words are dropped). */
static void add_word(scan *s, size_t end)
{
    if (end > s->prev_end) s->out->start[++s->out->n] = s->byte[end];
    s->prev_end = end;
}

static uint32_t ascii_lower(uint32_t c) { return (c >= 'A' && c <= 'Z') ? c + 32 : c; }

/* 's 't 're 've 'm 'll 'd at pos: the length matched (0 if none). */
static size_t contraction(const scan *s, size_t pos, int ignore_case)
{
    if (cpt(s, pos) != '\'' || pos + 1 >= s->n) return 0;
    uint32_t a = cpt(s, pos + 1), b = cpt(s, pos + 2);
    if (ignore_case) a = ascii_lower(a), b = ascii_lower(b);
    if (a == 's' || a == 't' || a == 'm' || a == 'd') return 2;
    if (pos + 2 < s->n && ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l'))) return 3;
    return 0;
}

#define L KILN_UC_LETTER
#define N KILN_UC_NUMBER
#define W KILN_UC_WHITESPACE

static void split_gpt2(scan *s)
{
    size_t pos = 0;
    while (pos < s->n) {
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
    size_t pos = 0;
    while (pos < s->n) {
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

kiln_status kiln_pretokenize(kiln_pretok_kind kind, const char *text, size_t len, kiln_pretok_words *out)
{
    out->n = 0;
    out->start = malloc((len + 1) * sizeof *out->start);
    uint32_t *cp = malloc((len + 1) * sizeof *cp);
    size_t *byte = malloc((len + 1) * sizeof *byte);
    if (!out->start || !cp || !byte) {
        free(out->start), free(cp), free(byte);
        out->start = NULL;
        return kiln_fail(KILN_ERR_OUT_OF_MEMORY, "tokenize: out of memory for %zu bytes of text", len);
    }
    size_t n = 0;
    for (size_t i = 0; i < len;) {
        int used;
        byte[n] = i;
        cp[n++] = kiln_utf8_decode(text + i, len - i, &used);
        i += (size_t)used;
    }
    byte[n] = len;
    out->start[0] = 0;
    scan s = {cp, byte, n, 0, out};
    if (kind == KILN_PRETOK_LLAMA3) split_llama3(&s);
    else split_gpt2(&s);
    free(cp);
    free(byte);
    return KILN_OK;
}
