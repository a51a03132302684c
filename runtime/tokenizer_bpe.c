/* runtime/tokenizer_bpe.c — byte-level BPE as GPT-2 and llama.cpp
 * (llm_tokenizer_bpe) do it: the text is first split into words by the
 * pre-tokenizer (tokenizer_pretok.c), each word's bytes are mapped to
 * printable code points (GPT-2's bytes_to_unicode), and adjacent symbols are
 * merged by the rank of their pair in tokenizer.ggml.merges, lowest rank
 * first (ties: leftmost first). */
#include <stdlib.h>
#include <string.h>

#include "kiln/error.h"
#include "runtime/pretok.h"
#include "runtime/merge_queue.h"
#include "runtime/tokenizer.h"
#include "runtime/unicode.h"

/* ----------------------------------------------------- bytes <-> unicode */

/* Printable bytes map to themselves; the other 68 (controls, space, DEL,
 * NBSP, soft hyphen, ...) to U+0100 onwards, in byte order. */
static int byte_is_printable(unsigned b)
{
    return (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
}

uint32_t kiln_bpe_byte_to_cp(unsigned char b)
{
    if (byte_is_printable(b)) return b;
    uint32_t k = 0;
    for (unsigned i = 0; i < b; i++) k += !byte_is_printable(i);
    return 0x100 + k;
}

int kiln_bpe_cp_to_byte(uint32_t cp)
{
    if (cp < 0x100) return byte_is_printable(cp) ? (int)cp : -1;
    uint32_t k = 0;
    for (unsigned b = 0; b < 256; b++) {
        if (byte_is_printable(b)) continue;
        if (0x100 + k == cp) return (int)b;
        k++;
    }
    return -1;
}

/* ----------------------------------------------------------------- merges */

typedef struct bpe_symbol {
    int prev, next;
    size_t off, n;    /* bytes in the mapped word; n = 0 once merged away */
} bpe_symbol;

typedef struct bpe_work {
    char *word;       /* the mapped word */
    size_t word_cap;
    bpe_symbol *sym;
    size_t sym_cap;
    char *key;        /* "left right" scratch for merge lookups */
    size_t key_cap;
    kiln_merge_queue heap;
} bpe_work;

static int reserve(void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap) return 0;
    size_t c = *cap ? *cap : 64;
    while (c < need) c *= 2;
    void *q = realloc(*p, c * elem);
    if (!q) return -1;
    *p = q;
    *cap = c;
    return 0;
}

static int try_add_bigram(const kiln_tokenizer *t, bpe_work *w, int left, int right)
{
    if (left < 0 || right < 0) return 0;
    const bpe_symbol *l = &w->sym[left], *r = &w->sym[right];
    size_t kn = l->n + 1 + r->n;
    if (reserve((void **)&w->key, &w->key_cap, kn, 1)) return -1;
    memcpy(w->key, w->word + l->off, l->n);
    w->key[l->n] = ' ';
    memcpy(w->key + l->n + 1, w->word + r->off, r->n);
    int32_t rank = kiln_strmap_get(&t->merges, w->key, kn);
    if (rank < 0) return 0;
    kiln_merge_pair b = {left, right, -(double)rank, l->n + r->n}; /* lowest rank first */
    return kiln_merge_queue_push(&w->heap, b);
}

static kiln_status merge_word(const kiln_tokenizer *t, bpe_work *w, const char *bytes, size_t nb,
                              kiln_token_list *out)
{
    /* Map bytes to code points: at most 2 UTF-8 bytes each (all below U+0200). */
    if (reserve((void **)&w->word, &w->word_cap, 2 * nb, 1) ||
        reserve((void **)&w->sym, &w->sym_cap, nb, sizeof *w->sym))
        return kiln_fail(KILN_ERR_OUT_OF_MEMORY, "tokenize: out of memory for a word of %zu bytes", nb);
    size_t wn = 0;
    for (size_t i = 0; i < nb; i++) wn += (size_t)kiln_utf8_encode(kiln_bpe_byte_to_cp((unsigned char)bytes[i]), w->word + wn);
    /* Llama 3 (and a few other) vocabularies skip the merges for a word that is a token as a
     * whole (llama.cpp's ignore_merges), which is not always what merging gives. */
    if (t->pre->flags & KILN_PRETOK_IGNORE_MERGES) {
        int32_t whole = kiln_strmap_get(&t->token_ids, w->word, wn);
        if (whole >= 0) return kiln_token_list_push(out, whole);
    }
    int n_sym = 0;
    for (size_t i = 0; i < wn;) {
        size_t cl = (size_t)kiln_utf8_len((unsigned char)w->word[i]);
        w->sym[n_sym] = (bpe_symbol){n_sym - 1, (i + cl < wn) ? n_sym + 1 : -1, i, cl};
        n_sym++;
        i += cl;
    }
    w->heap.n = 0;
    for (int i = 1; i < n_sym; i++)
        if (try_add_bigram(t, w, i - 1, i)) goto oom;
    while (w->heap.n) {
        kiln_merge_pair b = kiln_merge_queue_pop(&w->heap);
        bpe_symbol *l = &w->sym[b.left], *r = &w->sym[b.right];
        if (l->n == 0 || r->n == 0 || l->n + r->n != b.size) continue;
        l->n += r->n;
        r->n = 0;
        l->next = r->next;
        if (r->next >= 0) w->sym[r->next].prev = b.left;
        if (try_add_bigram(t, w, l->prev, b.left) || try_add_bigram(t, w, b.left, l->next)) goto oom;
    }
    for (int i = 0; i != -1; i = w->sym[i].next) {
        const char *s = w->word + w->sym[i].off;
        size_t n = w->sym[i].n;
        int32_t id = kiln_strmap_get(&t->token_ids, s, n);
        kiln_status st = KILN_OK;
        if (id >= 0) {
            st = kiln_token_list_push(out, id);
        } else {
            /* No token for the piece: its single characters, as llama.cpp does. */
            for (size_t j = 0; j < n && st == KILN_OK;) {
                size_t cl = (size_t)kiln_utf8_len((unsigned char)s[j]);
                int32_t cid = kiln_strmap_get(&t->token_ids, s + j, cl);
                if (cid < 0) cid = t->unk;
                if (cid >= 0) st = kiln_token_list_push(out, cid);
                j += cl;
            }
        }
        if (st != KILN_OK) return st;
    }
    return KILN_OK;
oom:
    return kiln_fail(KILN_ERR_OUT_OF_MEMORY, "tokenize: out of memory merging a word of %zu bytes", nb);
}

kiln_status kiln_bpe_tokenize(const kiln_tokenizer *t, const char *text, size_t len, kiln_token_list *out)
{
    if (len == 0) return KILN_OK;
    kiln_pretok_words words;
    kiln_status st = kiln_pretokenize(t->pretok, text, len, &words);
    if (st != KILN_OK) return st;
    bpe_work w = {0};
    char *bytes = NULL;
    size_t cap = 0;
    for (size_t i = 0; st == KILN_OK && i < words.n; i++) {
        /* the word's UTF-8 as llama.cpp makes it from the code points: a
         * malformed byte of the text is U+FFFD's three bytes here */
        size_t n = 0, n_cp = words.start[i + 1] - words.start[i];
        if (reserve((void **)&bytes, &cap, 4 * n_cp, 1)) {
            st = kiln_fail(KILN_ERR_OUT_OF_MEMORY, "tokenize: out of memory for a word of %zu code points", n_cp);
            break;
        }
        for (size_t c = words.start[i]; c < words.start[i + 1]; c++) n += (size_t)kiln_utf8_encode(words.cp[c], bytes + n);
        st = merge_word(t, &w, bytes, n, out);
    }
    free(bytes);
    free(w.word);
    free(w.sym);
    free(w.key);
    kiln_merge_queue_free(&w.heap);
    kiln_pretok_words_free(&words);
    return st;
}
