/* runtime/tokenizer.c — building a tokenizer from GGUF metadata, splitting
 * special tokens out of the text, and turning ids back into text.
 * The two tokenization algorithms live in tokenizer_spm.c and tokenizer_bpe.c. */
#include "runtime/tokenizer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kiln/error.h"
#include "runtime/unicode.h"

kiln_status kiln_token_list_push(kiln_token_list *l, int32_t id)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        int32_t *ids = realloc(l->ids, cap * sizeof *ids);
        if (!ids) return kiln_fail(KILN_ERR_OUT_OF_MEMORY, "tokenize: out of memory for %zu ids", cap);
        l->ids = ids;
        l->cap = cap;
    }
    l->ids[l->n++] = id;
    return KILN_OK;
}

/* ---------------------------------------------------------------- loading */

static int str_is(kiln_gguf_str s, const char *lit)
{
    return s.len == strlen(lit) && memcmp(s.ptr, lit, s.len) == 0;
}

/* Optional integer metadata: keeps *out when the key is absent. */
static void get_opt_id(const kiln_gguf *g, const char *key, int32_t *out)
{
    int64_t v;
    if (kiln_gguf_find_key(g, key) >= 0 && kiln_gguf_get_i64(g, key, &v) == KILN_OK) *out = (int32_t)v;
}

static void get_opt_bool(const kiln_gguf *g, const char *key, int *out)
{
    int64_t i = kiln_gguf_find_key(g, key);
    if (i < 0) return;
    const kiln_gguf_value *v = kiln_gguf_kv_value(g, i);
    if (v && v->type == KILN_GGUF_BOOL) *out = v->v.b != 0;
}

static kiln_status load_tokens(kiln_tokenizer *t, const kiln_gguf *g)
{
    kiln_gguf_value tokens, scores, types;
    kiln_status st = kiln_gguf_get_arr(g, "tokenizer.ggml.tokens", &tokens);
    if (st != KILN_OK) return kiln_fail(KILN_ERR_FORMAT, "tokenizer: GGUF has no tokenizer.ggml.tokens array");
    if (tokens.v.arr.elem_type != KILN_GGUF_STRING || tokens.v.arr.count == 0 || tokens.v.arr.count > INT32_MAX)
        return kiln_fail(KILN_ERR_FORMAT, "tokenizer: tokenizer.ggml.tokens must be a non-empty string array");
    int has_scores = kiln_gguf_find_key(g, "tokenizer.ggml.scores") >= 0 &&
                     kiln_gguf_get_arr(g, "tokenizer.ggml.scores", &scores) == KILN_OK;
    int has_types = kiln_gguf_find_key(g, "tokenizer.ggml.token_type") >= 0 &&
                    kiln_gguf_get_arr(g, "tokenizer.ggml.token_type", &types) == KILN_OK;
    uint64_t n = tokens.v.arr.count;
    if (has_scores && scores.v.arr.count != n)
        return kiln_fail(KILN_ERR_FORMAT, "tokenizer: %llu scores for %llu tokens",
                         (unsigned long long)scores.v.arr.count, (unsigned long long)n);
    if (has_types && types.v.arr.count != n)
        return kiln_fail(KILN_ERR_FORMAT, "tokenizer: %llu token types for %llu tokens",
                         (unsigned long long)types.v.arr.count, (unsigned long long)n);

    t->n_vocab = (int32_t)n;
    t->text_off = malloc(n * sizeof *t->text_off);
    t->text_len = malloc(n * sizeof *t->text_len);
    t->scores = calloc(n, sizeof *t->scores);
    t->types = malloc(n);
    if (!t->text_off || !t->text_len || !t->scores || !t->types)
        return kiln_fail(KILN_ERR_OUT_OF_MEMORY, "tokenizer: out of memory for %llu tokens", (unsigned long long)n);
    size_t total = 0;
    for (uint64_t i = 0; i < n; i++) {
        kiln_gguf_str s;
        if (kiln_gguf_array_str(&tokens, i, &s) != KILN_OK || s.len > UINT32_MAX)
            return kiln_fail(KILN_ERR_FORMAT, "tokenizer: token %llu is not a valid string", (unsigned long long)i);
        t->text_off[i] = total;
        t->text_len[i] = (uint32_t)s.len;
        total += s.len;
    }
    t->text = malloc(total + 1);
    if (!t->text) return kiln_fail(KILN_ERR_OUT_OF_MEMORY, "tokenizer: out of memory for %zu bytes of token text", total);
    if ((st = kiln_strmap_init(&t->token_ids, n)) != KILN_OK) return st;
    for (uint64_t i = 0; i < n; i++) {
        kiln_gguf_str s;
        kiln_gguf_array_str(&tokens, i, &s);
        if (s.len) memcpy(t->text + t->text_off[i], s.ptr, s.len);
        if ((st = kiln_strmap_put(&t->token_ids, s.ptr, s.len, (int32_t)i)) != KILN_OK) return st;
        double score = 0;
        if (has_scores && kiln_gguf_array_f64(&scores, i, &score) != KILN_OK)
            return kiln_fail(KILN_ERR_FORMAT, "tokenizer: score %llu is not a number", (unsigned long long)i);
        t->scores[i] = (float)score;
        int64_t type = KILN_TOKEN_NORMAL;
        if (has_types && kiln_gguf_array_i64(&types, i, &type) != KILN_OK)
            return kiln_fail(KILN_ERR_FORMAT, "tokenizer: token type %llu is not an integer", (unsigned long long)i);
        t->types[i] = (uint8_t)(type >= 0 && type <= KILN_TOKEN_BYTE ? type : KILN_TOKEN_NORMAL);
    }
    return KILN_OK;
}

static kiln_status load_merges(kiln_tokenizer *t, const kiln_gguf *g)
{
    kiln_gguf_value merges;
    if (kiln_gguf_find_key(g, "tokenizer.ggml.merges") < 0 ||
        kiln_gguf_get_arr(g, "tokenizer.ggml.merges", &merges) != KILN_OK ||
        merges.v.arr.elem_type != KILN_GGUF_STRING)
        return kiln_fail(KILN_ERR_FORMAT, "tokenizer: a gpt2 (BPE) vocabulary needs a tokenizer.ggml.merges string array");
    kiln_status st = kiln_strmap_init(&t->merges, merges.v.arr.count);
    if (st != KILN_OK) return st;
    for (uint64_t i = 0; i < merges.v.arr.count && i < INT32_MAX; i++) {
        kiln_gguf_str s;
        if (kiln_gguf_array_str(&merges, i, &s) != KILN_OK)
            return kiln_fail(KILN_ERR_FORMAT, "tokenizer: merge %llu is not a valid string", (unsigned long long)i);
        /* Stored as "left right": the key is exactly that text. */
        if ((st = kiln_strmap_put(&t->merges, s.ptr, s.len, (int32_t)i)) != KILN_OK) return st;
    }
    return KILN_OK;
}

static int cmp_special(const void *a, const void *b, void *ctx)
{
    const kiln_tokenizer *t = ctx;
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    if (t->text_len[x] != t->text_len[y]) return t->text_len[x] > t->text_len[y] ? -1 : 1;
    return x < y ? -1 : x > y;
}

/* Special tokens are matched longest text first, so "<|a|b|>" wins over "<|a|". */
static kiln_status build_special(kiln_tokenizer *t)
{
    t->special = malloc((size_t)t->n_vocab * sizeof *t->special);
    if (!t->special) return kiln_fail(KILN_ERR_OUT_OF_MEMORY, "tokenizer: out of memory");
    for (int32_t i = 0; i < t->n_vocab; i++) {
        int ty = t->types[i];
        if ((ty == KILN_TOKEN_CONTROL || ty == KILN_TOKEN_USER_DEFINED || ty == KILN_TOKEN_UNKNOWN) && t->text_len[i] > 0)
            t->special[t->n_special++] = i;
    }
    qsort_r(t->special, (size_t)t->n_special, sizeof *t->special, cmp_special, t);
    return KILN_OK;
}

/* The pre-tokenizer of a BPE vocabulary: the override when given, else
 * tokenizer.ggml.pre (absent: llama.cpp's default). An unknown name is an
 * error, never a silent fallback that would tokenize differently. */
static kiln_status choose_pretok(kiln_tokenizer *t, const kiln_gguf *g, const char *override)
{
    const char *name = "default", *from = "the default for a file without tokenizer.ggml.pre";
    size_t len = strlen(name);
    kiln_gguf_str pre;
    if (override) {
        name = override, len = strlen(override), from = "tokenizer_pre";
    } else if (kiln_gguf_find_key(g, "tokenizer.ggml.pre") >= 0) {
        if (kiln_gguf_get_str(g, "tokenizer.ggml.pre", &pre) != KILN_OK)
            return kiln_fail(KILN_ERR_FORMAT, "tokenizer: tokenizer.ggml.pre is not a string");
        name = pre.ptr, len = pre.len, from = "tokenizer.ggml.pre";
    }
    t->pre = kiln_pretok_find(name, len);
    if (!t->pre)
        return kiln_fail(KILN_ERR_UNSUPPORTED,
                         "tokenizer: %s '%.*s' is no pre-tokenizer kiln knows (it knows llama.cpp's; "
                         "`kiln tokenize --help` lists them; --tokenizer-pre NAME chooses one)",
                         from, (int)(len > 64 ? 64 : len), name);
    kiln_status st = kiln_pretok_create(t->pre->def, &t->pretok);
    if (st != KILN_OK) return kiln_fail_prefix(st, "tokenizer: %s '%s'", from, t->pre->name);
    if (t->pre->flags & KILN_PRETOK_ADD_BOS) t->add_bos = 1;
    return KILN_OK;
}

kiln_status kiln_tokenizer_from_gguf(const kiln_gguf *g, kiln_tokenizer **out)
{
    return kiln_tokenizer_from_gguf_ex(g, NULL, out);
}

kiln_status kiln_tokenizer_from_gguf_ex(const kiln_gguf *g, const kiln_tokenizer_options *opts, kiln_tokenizer **out)
{
    if (!g || !out) return kiln_fail(KILN_ERR_INVALID_ARG, "kiln_tokenizer_from_gguf: null argument");
    *out = NULL;
    const char *override = opts ? opts->tokenizer_pre : NULL;
    kiln_gguf_str model;
    if (kiln_gguf_get_str(g, "tokenizer.ggml.model", &model) != KILN_OK)
        return kiln_fail(KILN_ERR_FORMAT, "tokenizer: GGUF has no tokenizer.ggml.model string (no vocabulary in this file)");
    kiln_tokenizer *t = calloc(1, sizeof *t);
    if (!t) return kiln_fail(KILN_ERR_OUT_OF_MEMORY, "tokenizer: out of memory");
    kiln_status st = KILN_OK;
    if (str_is(model, "llama")) {
        t->kind = KILN_VOCAB_SPM;
        t->bos = 1, t->eos = 2, t->unk = 0;
        t->add_bos = 1, t->add_space_prefix = 1;
        if (override) {
            free(t);
            return kiln_fail(KILN_ERR_INVALID_ARG, "tokenizer: tokenizer_pre '%s' given for a SentencePiece vocabulary, "
                                                   "which has no pre-tokenizer", override);
        }
    } else if (str_is(model, "gpt2")) {
        t->kind = KILN_VOCAB_BPE;
        t->bos = 11, t->eos = 11, t->unk = -1;
        if ((st = choose_pretok(t, g, override)) != KILN_OK) goto fail;
    } else {
        free(t);
        return kiln_fail(KILN_ERR_UNSUPPORTED, "tokenizer: tokenizer.ggml.model '%.*s' is not supported (kiln knows 'llama' and 'gpt2')",
                         (int)(model.len > 64 ? 64 : model.len), model.ptr);
    }
    if ((st = load_tokens(t, g)) != KILN_OK) goto fail;
    if (t->kind == KILN_VOCAB_BPE && (st = load_merges(t, g)) != KILN_OK) goto fail;
    get_opt_id(g, "tokenizer.ggml.bos_token_id", &t->bos);
    get_opt_id(g, "tokenizer.ggml.eos_token_id", &t->eos);
    get_opt_id(g, "tokenizer.ggml.unknown_token_id", &t->unk);
    get_opt_bool(g, "tokenizer.ggml.add_bos_token", &t->add_bos);
    get_opt_bool(g, "tokenizer.ggml.add_eos_token", &t->add_eos);
    get_opt_bool(g, "tokenizer.ggml.add_space_prefix", &t->add_space_prefix);
    if (t->bos >= t->n_vocab) t->bos = -1;
    if (t->eos >= t->n_vocab) t->eos = -1;
    if (t->unk >= t->n_vocab) t->unk = -1;
    if (t->pre && (t->pre->flags & KILN_PRETOK_NO_BOS)) t->bos = -1;
    for (int b = 0; b < 256; b++) {
        char name[8];
        snprintf(name, sizeof name, "<0x%02X>", b);
        t->byte_tokens[b] = kiln_strmap_get(&t->token_ids, name, 6);
    }
    if ((st = build_special(t)) != KILN_OK) goto fail;
    *out = t;
    return KILN_OK;
fail:
    kiln_tokenizer_free(t);
    return kiln_fail_prefix(st, "loading the vocabulary");
}

void kiln_tokenizer_free(kiln_tokenizer *t)
{
    if (!t) return;
    free(t->text);
    free(t->text_off);
    free(t->text_len);
    free(t->scores);
    free(t->types);
    free(t->special);
    kiln_strmap_free(&t->token_ids);
    kiln_strmap_free(&t->merges);
    kiln_pretok_free(t->pretok);
    free(t);
}

int32_t kiln_tokenizer_vocab_size(const kiln_tokenizer *t) { return t ? t->n_vocab : 0; }
int32_t kiln_tokenizer_bos(const kiln_tokenizer *t) { return t ? t->bos : -1; }
int32_t kiln_tokenizer_eos(const kiln_tokenizer *t) { return t ? t->eos : -1; }
int kiln_tokenizer_adds_bos(const kiln_tokenizer *t) { return t && t->add_bos && t->bos >= 0; }
const char *kiln_tokenizer_pre(const kiln_tokenizer *t) { return t && t->pre ? t->pre->name : ""; }

const char *kiln_tokenizer_pre_name(size_t i, const char **what)
{
    if (i >= kiln_pretok_names_count) return NULL;
    const kiln_pretok_def *d = kiln_pretok_names[i].def;
    if (what) *what = d->rules ? d->what : d->unsupported;
    return kiln_pretok_names[i].name;
}

/* ------------------------------------------------------------- tokenizing */

/* Position of the first occurrence of needle in hay, or -1. */
static ptrdiff_t find_bytes(const char *hay, size_t n, const char *needle, size_t m)
{
    if (m == 0 || m > n) return -1;
    for (size_t i = 0; i + m <= n; i++)
        if (hay[i] == needle[0] && memcmp(hay + i, needle, m) == 0) return (ptrdiff_t)i;
    return -1;
}

/* Tokenize plain text that follows a special token (or the start) or not:
 * SentencePiece prefixes a space only at the start and after special tokens. */
static kiln_status tokenize_run(const kiln_tokenizer *t, const char *text, size_t len, int after_special,
                                kiln_token_list *out)
{
    if (t->kind == KILN_VOCAB_BPE) return kiln_bpe_tokenize(t, text, len, out);
    if (!(t->add_space_prefix && after_special)) return kiln_spm_tokenize(t, text, len, out);
    char *buf = malloc(len + 1);
    if (!buf) return kiln_fail(KILN_ERR_OUT_OF_MEMORY, "tokenize: out of memory for %zu bytes", len);
    buf[0] = ' ';
    memcpy(buf + 1, text, len);
    kiln_status st = kiln_spm_tokenize(t, buf, len + 1, out);
    free(buf);
    return st;
}

/* The earliest special token in text[0..len), longest text first at the same
 * position. Returns its position or -1; *which gets its id. */
static ptrdiff_t next_special(const kiln_tokenizer *t, const char *text, size_t len, int parse_special,
                              int32_t *which)
{
    ptrdiff_t best = -1;
    for (int32_t s = 0; s < t->n_special; s++) {
        int32_t id = t->special[s];
        if (!parse_special && t->types[id] != KILN_TOKEN_USER_DEFINED) continue;
        size_t n;
        const char *p = kiln_tok_text(t, id, &n);
        ptrdiff_t at = find_bytes(text, len, p, n);
        if (at >= 0 && (best < 0 || at < best)) best = at, *which = id;
    }
    return best;
}

kiln_status kiln_tokenize(const kiln_tokenizer *t, const char *text, size_t len, int add_bos,
                          int parse_special, int32_t **ids, size_t *n_ids)
{
    if (!t || (!text && len) || !ids || !n_ids) return kiln_fail(KILN_ERR_INVALID_ARG, "kiln_tokenize: null argument");
    kiln_token_list out = {0};
    kiln_status st = KILN_OK;
    if (add_bos && t->bos >= 0) st = kiln_token_list_push(&out, t->bos);
    int after_special = 1;
    size_t pos = 0;
    while (st == KILN_OK && pos < len) {
        int32_t sid = -1;
        ptrdiff_t at = next_special(t, text + pos, len - pos, parse_special, &sid);
        size_t run = at < 0 ? len - pos : (size_t)at;
        if (run > 0) {
            st = tokenize_run(t, text + pos, run, after_special, &out);
            after_special = 0;
        }
        pos += run;
        if (st == KILN_OK && at >= 0) {
            st = kiln_token_list_push(&out, sid);
            pos += t->text_len[sid];
            after_special = 1;
        }
    }
    if (st != KILN_OK) {
        free(out.ids);
        return st;
    }
    if (!out.ids && (out.ids = malloc(sizeof *out.ids)) == NULL)
        return kiln_fail(KILN_ERR_OUT_OF_MEMORY, "tokenize: out of memory");
    *ids = out.ids;
    *n_ids = out.n;
    return KILN_OK;
}

/* ------------------------------------------------------------- detokenize */

static int put(char *buf, size_t cap, size_t at, char c)
{
    if (at < cap) buf[at] = c;
    return 1;
}

int kiln_token_to_text(const kiln_tokenizer *t, int32_t id, int special, char *buf, size_t cap)
{
    if (!t || id < 0 || id >= t->n_vocab) return -1;
    int ty = t->types[id];
    size_t n;
    const char *s = kiln_tok_text(t, id, &n);
    size_t w = 0;
    if (ty == KILN_TOKEN_CONTROL || ty == KILN_TOKEN_UNKNOWN || ty == KILN_TOKEN_UNUSED) {
        if (special)
            for (size_t i = 0; i < n; i++) w += put(buf, cap, w, s[i]);
        return (int)w;
    }
    if (t->kind == KILN_VOCAB_SPM) {
        if (ty == KILN_TOKEN_BYTE && n == 6 && !memcmp(s, "<0x", 3) && s[5] == '>') {
            char hex[3] = {s[3], s[4], 0};
            return put(buf, cap, 0, (char)strtol(hex, NULL, 16));
        }
        for (size_t i = 0; i < n; i++) {
            if (i + 2 < n && (unsigned char)s[i] == 0xE2 && (unsigned char)s[i + 1] == 0x96 &&
                (unsigned char)s[i + 2] == 0x81) {
                w += put(buf, cap, w, ' ');
                i += 2;
            } else {
                w += put(buf, cap, w, s[i]);
            }
        }
        return (int)w;
    }
    if (ty == KILN_TOKEN_USER_DEFINED) {
        for (size_t i = 0; i < n; i++) w += put(buf, cap, w, s[i]);
        return (int)w;
    }
    for (size_t i = 0; i < n;) {
        int used;
        uint32_t cp = kiln_utf8_decode(s + i, n - i, &used);
        int b = kiln_bpe_cp_to_byte(cp);
        if (b >= 0) w += put(buf, cap, w, (char)b);
        else for (int k = 0; k < used; k++) w += put(buf, cap, w, s[i + k]);
        i += (size_t)used;
    }
    return (int)w;
}
