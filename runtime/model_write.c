/* runtime/model_write.c — writing a kiln_model as GGUF, optionally converting
 * its matrices to another type (kiln convert, kiln quantize, kiln synth).
 *
 * Metadata: a model loaded from GGUF keeps all of its key/values (vocabulary
 * included) except the ones this writer sets; other models get the llama.*
 * keys of their config. Tensors: the llama names (arch_llama.c), ne innermost
 * first; a tied classifier is not written (loaders tie when output is absent). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kiln/error.h"
#include "runtime/model.h"

static void notef(kiln_note_fn note, void *user, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void notef(kiln_note_fn note, void *user, const char *fmt, ...)
{
    if (!note) return;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    note(user, msg);
}

/* The type a matrix of `cols` columns gets when `want` does not fit it:
 * the nearest smaller block that divides the row, as llama.cpp's quantizer does. */
static kiln_dtype fitting_type(kiln_dtype want, int64_t cols)
{
    if (kiln_row_bytes(want, cols)) return want;
    kiln_dtype chain[3] = {KILN_Q8_0, KILN_F16, KILN_F16};
    switch (want) {
    case KILN_Q4_K: chain[0] = KILN_Q5_0; chain[1] = KILN_Q8_0; break;
    case KILN_Q5_K: chain[0] = KILN_Q5_1; chain[1] = KILN_Q8_0; break;
    case KILN_Q6_K: chain[0] = KILN_Q8_0; break;
    default: break;
    }
    for (int i = 0; i < 3; i++)
        if (kiln_row_bytes(chain[i], cols)) return chain[i];
    return KILN_F32;
}

/* Fallbacks are reported once per tensor role and type, not per layer. */
typedef struct fallback_note {
    char role[48];
    int64_t cols;
    kiln_dtype to;
    int count;
} fallback_note;

typedef struct writer_state {
    kiln_gguf_writer *w;
    fallback_note notes[16];
    int n_notes;
    void **bufs;   /* converted tensor data, alive until the file is written */
    int n_bufs, cap_bufs;
    int type;
    kiln_note_fn note;
    void *user;
} writer_state;

static void record_fallback(writer_state *ws, const char *name, int64_t cols, kiln_dtype to)
{
    const char *role = name;
    if (!strncmp(name, "blk.", 4) && strchr(name + 4, '.')) role = strchr(name + 4, '.') + 1;
    for (int i = 0; i < ws->n_notes; i++)
        if (!strcmp(ws->notes[i].role, role) && ws->notes[i].cols == cols && ws->notes[i].to == to) {
            ws->notes[i].count++;
            return;
        }
    if (ws->n_notes == (int)(sizeof ws->notes / sizeof ws->notes[0])) return;
    fallback_note *n = &ws->notes[ws->n_notes++];
    snprintf(n->role, sizeof n->role, "%s", role);
    n->cols = cols, n->to = to, n->count = 1;
}

static void report_fallbacks(const writer_state *ws)
{
    const kiln_dtype_info *want = kiln_dtype_get((kiln_dtype)ws->type);
    for (int i = 0; i < ws->n_notes; i++) {
        const fallback_note *n = &ws->notes[i];
        notef(ws->note, ws->user, "%s (%d tensor%s): rows of %lld do not fit %s blocks of %d; written as %s", n->role,
              n->count, n->count > 1 ? "s" : "", (long long)n->cols, want->name, want->block_elems,
              kiln_dtype_get(n->to)->name);
    }
}

static kiln_status add_weight(writer_state *ws, const char *name, const kiln_weight *wt, int is_norm)
{
    int64_t ne[2] = {wt->cols, wt->rows};
    int n_dims = is_norm ? 1 : 2;
    kiln_dtype to = wt->dtype;
    if (!is_norm && ws->type >= 0) {
        to = fitting_type((kiln_dtype)ws->type, wt->cols);
        if (to != (kiln_dtype)ws->type) record_fallback(ws, name, wt->cols, to);
    }
    if (to == wt->dtype) return kiln_gguf_writer_add_tensor(ws->w, name, to, n_dims, ne, wt->data);

    size_t in_row = kiln_row_bytes(wt->dtype, wt->cols), out_row = kiln_row_bytes(to, wt->cols);
    char *out = malloc(out_row * (size_t)wt->rows);
    float *tmp = malloc((size_t)wt->cols * sizeof *tmp);
    if (ws->n_bufs == ws->cap_bufs) {
        int cap = ws->cap_bufs ? ws->cap_bufs * 2 : 64;
        void **b = realloc(ws->bufs, (size_t)cap * sizeof *b);
        if (b) ws->bufs = b, ws->cap_bufs = cap;
    }
    if (!out || !tmp || ws->n_bufs == ws->cap_bufs) {
        free(out), free(tmp);
        return kiln_fail(KILN_ERR_OUT_OF_MEMORY, "out of memory converting %s", name);
    }
    ws->bufs[ws->n_bufs++] = out;
    for (int64_t r = 0; r < wt->rows; r++) {
        if (kiln_dequantize_row(wt->dtype, (const char *)wt->data + (size_t)r * in_row, tmp, wt->cols) ||
            kiln_quantize_row(to, tmp, out + (size_t)r * out_row, wt->cols) == 0) {
            free(tmp);
            return kiln_fail(KILN_ERR_UNSUPPORTED, "converting %s from %s to %s failed", name,
                             kiln_dtype_get(wt->dtype)->name, kiln_dtype_get(to)->name);
        }
    }
    free(tmp);
    return kiln_gguf_writer_add_tensor(ws->w, name, to, n_dims, ne, out);
}

/* Keys this writer sets itself rather than copying. */
static int is_own_key(kiln_gguf_str k)
{
    static const char *const own[] = {"general.architecture", "general.alignment", "general.file_type",
                                      "general.quantization_version"};
    for (size_t i = 0; i < sizeof own / sizeof own[0]; i++)
        if (k.len == strlen(own[i]) && !memcmp(k.ptr, own[i], k.len)) return 1;
    return 0;
}

static kiln_status write_metadata(writer_state *ws, const kiln_model *m)
{
    kiln_gguf_writer *w = ws->w;
    const kiln_model_config *c = &m->cfg;
    kiln_status st;
    if (m->gguf) {
        for (int64_t i = 0; i < kiln_gguf_kv_count(m->gguf); i++) {
            kiln_gguf_str k = kiln_gguf_kv_key(m->gguf, i);
            if (is_own_key(k) || k.len > 255) continue;
            char key[256];
            memcpy(key, k.ptr, k.len);
            key[k.len] = 0;
            if ((st = kiln_gguf_writer_set_value(w, key, kiln_gguf_kv_value(m->gguf, i)))) return st;
        }
    }
    if ((st = kiln_gguf_writer_set_str(w, "general.architecture", "llama")) ||
        (!m->gguf && (st = kiln_gguf_writer_set_str(w, "general.name", "kiln"))) ||
        (st = kiln_gguf_writer_set_u32(w, "general.quantization_version", 2)) ||
        (st = kiln_gguf_writer_set_u32(w, "llama.context_length", (uint32_t)c->ctx_len)) ||
        (st = kiln_gguf_writer_set_u32(w, "llama.embedding_length", (uint32_t)c->dim)) ||
        (st = kiln_gguf_writer_set_u32(w, "llama.feed_forward_length", (uint32_t)c->hidden_dim)) ||
        (st = kiln_gguf_writer_set_u32(w, "llama.attention.head_count", (uint32_t)c->n_heads)) ||
        (st = kiln_gguf_writer_set_u32(w, "llama.attention.head_count_kv", (uint32_t)c->n_kv_heads)) ||
        (st = kiln_gguf_writer_set_u32(w, "llama.block_count", (uint32_t)c->n_layers)) ||
        (st = kiln_gguf_writer_set_u32(w, "llama.rope.dimension_count", (uint32_t)c->rope_dim)) ||
        (st = kiln_gguf_writer_set_f32(w, "llama.rope.freq_base", c->rope_theta)) ||
        (st = kiln_gguf_writer_set_f32(w, "llama.attention.layer_norm_rms_epsilon", c->norm_eps)))
        return st;
    if (c->rope_scale != 1.0f &&
        ((st = kiln_gguf_writer_set_str(w, "llama.rope.scaling.type", "linear")) ||
         (st = kiln_gguf_writer_set_f32(w, "llama.rope.scaling.factor", c->rope_scale))))
        return st;
    /* No vocabulary (synthetic models): say so the way llama.cpp reads it, so
     * llama-bench runs the same file for a same-machine comparison. */
    int has_vocab = m->tokenizer || (m->gguf && kiln_gguf_find_key(m->gguf, "tokenizer.ggml.model") >= 0);
    if (!has_vocab && ((st = kiln_gguf_writer_set_str(w, "tokenizer.ggml.model", "none")) ||
                       (st = kiln_gguf_writer_set_u32(w, "llama.vocab_size", (uint32_t)c->n_vocab))))
        return st;
    return KILN_OK;
}

kiln_status kiln_model_save_gguf(const kiln_model *m, const char *path, int type, kiln_note_fn note, void *user)
{
    if (!m || !path) return kiln_fail(KILN_ERR_INVALID_ARG, "kiln_model_save_gguf: null argument");
    if (type >= 0) {
        const kiln_dtype_info *ti = kiln_dtype_get((kiln_dtype)type);
        if (!ti || ti->ggml_type < 0 || type == KILN_Q8_K || type == KILN_I32 ||
            !(ti->is_weight_format || type == KILN_F32 || type == KILN_F16 || type == KILN_BF16))
            return kiln_fail(KILN_ERR_UNSUPPORTED, "cannot write weights as %s (not a GGUF weight type)",
                             ti ? ti->name : "?");
    }
    writer_state ws = {.type = type, .note = note, .user = user};
    kiln_status st = kiln_gguf_writer_create(&ws.w);
    if (st) return st;
    const kiln_arch *a = &kiln_arch_llama;
    if ((st = write_metadata(&ws, m)) ||
        (st = add_weight(&ws, a->tensor_names[KILN_ROLE_TOKEN_EMBD], &m->token_embd, 0)) ||
        (st = add_weight(&ws, a->tensor_names[KILN_ROLE_OUTPUT_NORM], &m->output_norm, 1)) ||
        (!m->cfg.tied_output && (st = add_weight(&ws, a->tensor_names[KILN_ROLE_OUTPUT], &m->output, 0))))
        goto done;
    for (int l = 0; l < m->cfg.n_layers; l++)
        for (int r = KILN_ROLE_FIRST_PER_LAYER; r < KILN_ROLE_COUNT; r++) {
            char name[128];
            snprintf(name, sizeof name, a->tensor_names[r], l);
            int is_norm = r == KILN_ROLE_ATTN_NORM || r == KILN_ROLE_FFN_NORM;
            if ((st = add_weight(&ws, name, &m->layers[l].w[r], is_norm))) goto done;
        }
    st = kiln_gguf_writer_write(ws.w, path, 3);
    if (st == KILN_OK) report_fallbacks(&ws);
done:
    kiln_gguf_writer_free(ws.w);
    for (int i = 0; i < ws.n_bufs; i++) free(ws.bufs[i]);
    free(ws.bufs);
    return st == KILN_OK ? st : kiln_fail_prefix(st, "writing %s", path);
}
