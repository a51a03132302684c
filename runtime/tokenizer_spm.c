/* runtime/tokenizer_spm.c — SentencePiece tokenization as llama.cpp does it
 * (llm_tokenizer_spm): spaces become U+2581, the text is split into UTF-8
 * characters, and the adjacent pair whose concatenation is the highest-scoring
 * vocabulary token is merged, again and again (ties: leftmost first). Pieces
 * that are no token fall back to byte tokens <0xXX>. */
#include <stdlib.h>
#include <string.h>

#include "kiln/error.h"
#include "runtime/merge_queue.h"
#include "runtime/tokenizer.h"
#include "runtime/unicode.h"

typedef struct spm_symbol {
    int prev, next;   /* neighbours in the chain, -1 at the ends */
    const char *text;
    size_t n;         /* 0 once merged into its left neighbour */
} spm_symbol;

/* Queue the pair (left, right) if their concatenation is a token. */
static int try_add_bigram(const kiln_tokenizer *t, spm_symbol *sym, kiln_merge_queue *h, int left, int right)
{
    if (left < 0 || right < 0) return 0;
    size_t size = sym[left].n + sym[right].n;
    int32_t id = kiln_strmap_get(&t->token_ids, sym[left].text, size);
    if (id < 0) return 0;
    kiln_merge_pair b = {left, right, t->scores[id], size}; /* highest score first */
    return kiln_merge_queue_push(h, b);
}

/* A piece that is not a token: one byte token per byte (llama.cpp falls back
 * to the byte's own single-character token when the vocabulary has no <0xXX>). */
static kiln_status push_bytes(const kiln_tokenizer *t, const char *s, size_t n, kiln_token_list *out)
{
    for (size_t i = 0; i < n; i++) {
        int32_t id = t->byte_tokens[(unsigned char)s[i]];
        if (id < 0) id = kiln_strmap_get(&t->token_ids, s + i, 1);
        if (id < 0) id = t->unk;
        if (id < 0) return kiln_fail(KILN_ERR_FORMAT, "tokenize: byte 0x%02X has no token and the vocabulary has no <unk>",
                                     (unsigned char)s[i]);
        kiln_status st = kiln_token_list_push(out, id);
        if (st != KILN_OK) return st;
    }
    return KILN_OK;
}

kiln_status kiln_spm_tokenize(const kiln_tokenizer *t, const char *text, size_t len, kiln_token_list *out)
{
    if (len == 0) return KILN_OK;
    /* Escape: ' ' -> U+2581 (3 bytes). */
    size_t spaces = 0;
    for (size_t i = 0; i < len; i++) spaces += text[i] == ' ';
    size_t n = len + 2 * spaces;
    char *s = malloc(n);
    spm_symbol *sym = malloc(n * sizeof *sym);
    kiln_merge_queue heap = {0};
    kiln_status st = KILN_OK;
    if (!s || !sym) {
        st = kiln_fail(KILN_ERR_OUT_OF_MEMORY, "tokenize: out of memory for %zu bytes of text", len);
        goto done;
    }
    for (size_t i = 0, w = 0; i < len; i++) {
        if (text[i] == ' ') s[w++] = (char)0xE2, s[w++] = (char)0x96, s[w++] = (char)0x81;
        else s[w++] = text[i];
    }
    /* One symbol per UTF-8 character. */
    int n_sym = 0;
    for (size_t i = 0; i < n;) {
        size_t cl = (size_t)kiln_utf8_len((unsigned char)s[i]);
        if (cl > n - i) cl = n - i;
        sym[n_sym] = (spm_symbol){n_sym - 1, (i + cl < n) ? n_sym + 1 : -1, s + i, cl};
        n_sym++;
        i += cl;
    }
    for (int i = 1; i < n_sym; i++)
        if (try_add_bigram(t, sym, &heap, i - 1, i)) goto oom;
    while (heap.n) {
        kiln_merge_pair b = kiln_merge_queue_pop(&heap);
        spm_symbol *l = &sym[b.left], *r = &sym[b.right];
        if (l->n == 0 || r->n == 0 || l->n + r->n != b.size) continue;
        l->n += r->n;
        r->n = 0;
        l->next = r->next;
        if (r->next >= 0) sym[r->next].prev = b.left;
        if (try_add_bigram(t, sym, &heap, l->prev, b.left) || try_add_bigram(t, sym, &heap, b.left, l->next))
            goto oom;
    }
    for (int i = 0; i != -1 && st == KILN_OK; i = sym[i].next) {
        int32_t id = kiln_strmap_get(&t->token_ids, sym[i].text, sym[i].n);
        st = id >= 0 ? kiln_token_list_push(out, id) : push_bytes(t, sym[i].text, sym[i].n, out);
    }
    goto done;
oom:
    st = kiln_fail(KILN_ERR_OUT_OF_MEMORY, "tokenize: out of memory merging %zu bytes of text", len);
done:
    kiln_merge_queue_free(&heap);
    free(sym);
    free(s);
    return st;
}
