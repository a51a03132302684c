/* runtime/model.c — loading a model (dispatch on the source), checking its
 * tensors against its config, and freeing it. */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "kiln/error.h"
#include "runtime/model.h"

static const kiln_arch *const archs[] = {&kiln_arch_llama};

const kiln_arch *kiln_arch_find(const char *name, size_t len)
{
    for (size_t i = 0; i < sizeof archs / sizeof archs[0]; i++)
        if (strlen(archs[i]->name) == len && !memcmp(archs[i]->name, name, len)) return archs[i];
    return NULL;
}

const char *kiln_role_name(kiln_role r)
{
    static const char *const names[KILN_ROLE_COUNT] = {
        [KILN_ROLE_TOKEN_EMBD] = "token_embd", [KILN_ROLE_OUTPUT_NORM] = "output_norm",
        [KILN_ROLE_OUTPUT] = "output",         [KILN_ROLE_ATTN_NORM] = "attn_norm",
        [KILN_ROLE_ATTN_Q] = "attn_q",         [KILN_ROLE_ATTN_K] = "attn_k",
        [KILN_ROLE_ATTN_V] = "attn_v",         [KILN_ROLE_ATTN_OUT] = "attn_output",
        [KILN_ROLE_FFN_NORM] = "ffn_norm",     [KILN_ROLE_FFN_GATE] = "ffn_gate",
        [KILN_ROLE_FFN_UP] = "ffn_up",         [KILN_ROLE_FFN_DOWN] = "ffn_down",
    };
    return r < KILN_ROLE_COUNT ? names[r] : "?";
}

kiln_model *kiln_model_alloc(void)
{
    kiln_model *m = calloc(1, sizeof *m);
    if (m) strcpy(m->cfg.arch, "llama");
    return m;
}

void *kiln_model_own(kiln_model *m, size_t bytes)
{
    if (m->n_owned == m->cap_owned) {
        int cap = m->cap_owned ? m->cap_owned * 2 : 16;
        void **o = realloc(m->owned, (size_t)cap * sizeof *o);
        if (!o) return NULL;
        m->owned = o;
        m->cap_owned = cap;
    }
    /* 64-byte aligned: SIMD kernels and block formats like their rows aligned. */
    void *p = NULL;
    if (posix_memalign(&p, 64, bytes ? bytes : 1)) return NULL;
    m->owned[m->n_owned++] = p;
    return p;
}

void kiln_model_free(kiln_model *m)
{
    if (!m) return;
    for (int i = 0; i < m->n_owned; i++) free(m->owned[i]);
    free(m->owned);
    free(m->layers);
    kiln_tokenizer_free(m->tokenizer);
    kiln_gguf_close(m->gguf);
    free(m);
}

static kiln_status check_weight(const kiln_weight *w, const char *what, int layer, int64_t rows, int64_t cols,
                                int matrix)
{
    char name[64];
    if (layer >= 0) snprintf(name, sizeof name, "blk.%d.%s", layer, what);
    else snprintf(name, sizeof name, "%s", what);
    if (!w->data) return kiln_fail(KILN_ERR_FORMAT, "tensor %s is missing", name);
    if (w->rows != rows || w->cols != cols)
        return kiln_fail(KILN_ERR_SHAPE, "tensor %s is [%lld][%lld], the config says [%lld][%lld]", name,
                         (long long)w->rows, (long long)w->cols, (long long)rows, (long long)cols);
    const kiln_dtype_info *info = kiln_dtype_get(w->dtype);
    if (!info) return kiln_fail(KILN_ERR_UNSUPPORTED, "tensor %s has an unknown type", name);
    if (!matrix && w->dtype != KILN_F32)
        return kiln_fail(KILN_ERR_UNSUPPORTED, "norm weight %s is %s; kiln's norms take f32", name, info->name);
    if (matrix && !info->is_weight_format && w->dtype != KILN_F32 && w->dtype != KILN_F16 && w->dtype != KILN_BF16)
        return kiln_fail(KILN_ERR_UNSUPPORTED, "tensor %s has type %s, which kiln's matmul does not take as a weight",
                         name, info->name);
    if (kiln_row_bytes(w->dtype, cols) == 0)
        return kiln_fail(KILN_ERR_SHAPE, "tensor %s: rows of %lld elements do not fit %s blocks of %d", name,
                         (long long)cols, info->name, info->block_elems);
    return KILN_OK;
}

kiln_status kiln_model_check(const kiln_model *m)
{
    const kiln_model_config *c = &m->cfg;
    if (c->n_vocab <= 0 || c->dim <= 0 || c->n_layers <= 0 || c->n_heads <= 0 || c->n_kv_heads <= 0 ||
        c->hidden_dim <= 0 || c->head_dim <= 0)
        return kiln_fail(KILN_ERR_FORMAT, "model config has a non-positive size (vocab %d, dim %d, layers %d, heads %d/%d, hidden %d)",
                         c->n_vocab, c->dim, c->n_layers, c->n_heads, c->n_kv_heads, c->hidden_dim);
    if (c->n_heads % c->n_kv_heads)
        return kiln_fail(KILN_ERR_FORMAT, "head_count %d is not a multiple of head_count_kv %d", c->n_heads, c->n_kv_heads);
    if (c->rope_dim <= 0 || c->rope_dim > c->head_dim || c->rope_dim % 2)
        return kiln_fail(KILN_ERR_FORMAT, "rope dimension %d does not fit head size %d", c->rope_dim, c->head_dim);
    int64_t q_dim = (int64_t)c->n_heads * c->head_dim, kv_dim = (int64_t)c->n_kv_heads * c->head_dim;
    kiln_status st;
    if ((st = check_weight(&m->token_embd, "token_embd.weight", -1, c->n_vocab, c->dim, 1)) ||
        (st = check_weight(&m->output_norm, "output_norm.weight", -1, 1, c->dim, 0)) ||
        (st = check_weight(&m->output, "output.weight", -1, c->n_vocab, c->dim, 1)))
        return st;
    static const struct { kiln_role role; const char *name; int matrix; } per_layer[] = {
        {KILN_ROLE_ATTN_NORM, "attn_norm", 0}, {KILN_ROLE_ATTN_Q, "attn_q", 1},     {KILN_ROLE_ATTN_K, "attn_k", 1},
        {KILN_ROLE_ATTN_V, "attn_v", 1},       {KILN_ROLE_ATTN_OUT, "attn_output", 1}, {KILN_ROLE_FFN_NORM, "ffn_norm", 0},
        {KILN_ROLE_FFN_GATE, "ffn_gate", 1},   {KILN_ROLE_FFN_UP, "ffn_up", 1},     {KILN_ROLE_FFN_DOWN, "ffn_down", 1},
    };
    for (int l = 0; l < c->n_layers; l++) {
        for (size_t i = 0; i < sizeof per_layer / sizeof per_layer[0]; i++) {
            kiln_role r = per_layer[i].role;
            int64_t rows = 1, cols = c->dim;
            switch (r) {
            case KILN_ROLE_ATTN_Q: rows = q_dim; break;
            case KILN_ROLE_ATTN_K: case KILN_ROLE_ATTN_V: rows = kv_dim; break;
            case KILN_ROLE_ATTN_OUT: rows = c->dim, cols = q_dim; break;
            case KILN_ROLE_FFN_GATE: case KILN_ROLE_FFN_UP: rows = c->hidden_dim; break;
            case KILN_ROLE_FFN_DOWN: rows = c->dim, cols = c->hidden_dim; break;
            default: break;
            }
            char what[32];
            snprintf(what, sizeof what, "%s.weight", per_layer[i].name);
            if ((st = check_weight(&m->layers[l].w[r], what, l, rows, cols, per_layer[i].matrix))) return st;
        }
        /* SwiGLU runs gate and up in one matmul: they must share a format. */
        if (m->layers[l].w[KILN_ROLE_FFN_GATE].dtype != m->layers[l].w[KILN_ROLE_FFN_UP].dtype)
            return kiln_fail(KILN_ERR_UNSUPPORTED, "blk.%d.ffn_gate (%s) and ffn_up (%s) differ in type; the fused SwiGLU matmul needs one",
                             l, kiln_dtype_get(m->layers[l].w[KILN_ROLE_FFN_GATE].dtype)->name,
                             kiln_dtype_get(m->layers[l].w[KILN_ROLE_FFN_UP].dtype)->name);
    }
    return KILN_OK;
}

/* GGUF files start with the magic "GGUF"; anything else is taken for a
 * llama2.c checkpoint (which has no magic: its loader checks the header). */
static int is_gguf(const char *path)
{
    char magic[4] = {0};
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    size_t n = fread(magic, 1, 4, f);
    fclose(f);
    return n == 4 && !memcmp(magic, "GGUF", 4);
}

kiln_model_load_options kiln_model_load_options_default(void)
{
    return (kiln_model_load_options){.size = sizeof(kiln_model_load_options), .tokenizer_pre = NULL};
}

/* The caller's options as this library's struct (see runtime.h on versions):
 * the fields its size covers, the defaults for the rest. */
static kiln_status read_load_options(const kiln_model_load_options *in, kiln_model_load_options *o)
{
    *o = kiln_model_load_options_default();
    if (!in) return KILN_OK;
    if (in->size < sizeof in->size)
        return kiln_fail(KILN_ERR_INVALID_ARG, "kiln_model_load_ex: options.size is %zu (set it with "
                         "kiln_model_load_options_default())", in->size);
    if (in->size > sizeof *o) /* a newer caller: fine while it uses nothing this library lacks */
        for (size_t i = sizeof *o; i < in->size; i++)
            if (((const unsigned char *)in)[i])
                return kiln_fail(KILN_ERR_UNSUPPORTED, "kiln_model_load_ex: the options set fields this kiln "
                                 "does not know (size %zu, this kiln's %zu): a newer kiln.h than the library",
                                 in->size, sizeof *o);
    /* each field the caller's struct holds whole (an older struct ends at a field) */
#define TAKE(field) \
    if (in->size >= offsetof(kiln_model_load_options, field) + sizeof in->field) o->field = in->field
    TAKE(tokenizer_pre);
#undef TAKE
    return KILN_OK;
}

kiln_status kiln_model_load(const char *path, kiln_model **out) { return kiln_model_load_ex(path, NULL, out); }

kiln_status kiln_model_load_ex(const char *path, const kiln_model_load_options *opts, kiln_model **out)
{
    if (!path || !out) return kiln_fail(KILN_ERR_INVALID_ARG, "kiln_model_load: null argument");
    *out = NULL;
    kiln_model_load_options o;
    kiln_status st = read_load_options(opts, &o);
    if (st != KILN_OK) return st;
    kiln_model *m = kiln_model_alloc();
    if (!m) return kiln_fail(KILN_ERR_OUT_OF_MEMORY, "kiln_model_load: out of memory");
    int synthetic = !strncmp(path, "synthetic:", 10), gguf = 0;
    struct stat sb;
    if (synthetic) st = KILN_OK;
    else if (stat(path, &sb) != 0) st = kiln_fail(KILN_ERR_IO, "cannot open %s: %s", path, strerror(errno));
    else if (S_ISDIR(sb.st_mode)) st = kiln_fail(KILN_ERR_IO, "%s is a directory, not a model file", path);
    else gguf = is_gguf(path);
    if (st == KILN_OK && !gguf && o.tokenizer_pre) /* llama2.c checkpoints and synthetic models have no vocabulary */
        st = kiln_fail(KILN_ERR_INVALID_ARG, "tokenizer_pre '%s' given, but a %s has no vocabulary to apply it to",
                       o.tokenizer_pre, synthetic ? "synthetic model" : "llama2.c checkpoint");
    if (st == KILN_OK)
        st = synthetic ? kiln_model_load_synthetic(m, path + 10)
             : gguf    ? kiln_model_load_gguf(m, path, o.tokenizer_pre)
                       : kiln_model_load_llama2c(m, path);
    if (st == KILN_OK) st = kiln_model_check(m);
    if (st == KILN_OK && !synthetic) st = kiln_model_check_finite(m); /* generated weights are finite */
    if (st != KILN_OK) {
        kiln_model_free(m);
        return kiln_fail_prefix(st, "loading %s", path);
    }
    *out = m;
    return KILN_OK;
}

const kiln_model_config *kiln_model_get_config(const kiln_model *m) { return m ? &m->cfg : NULL; }
const kiln_tokenizer *kiln_model_tokenizer(const kiln_model *m) { return m ? m->tokenizer : NULL; }

static uint64_t weight_bytes(const kiln_weight *w)
{
    return w->data ? (uint64_t)w->rows * kiln_row_bytes(w->dtype, w->cols) : 0;
}

uint64_t kiln_model_weight_bytes(const kiln_model *m)
{
    if (!m) return 0;
    uint64_t n = weight_bytes(&m->token_embd) + weight_bytes(&m->output_norm);
    if (!m->cfg.tied_output) n += weight_bytes(&m->output);
    for (int l = 0; l < m->cfg.n_layers; l++)
        for (int r = KILN_ROLE_FIRST_PER_LAYER; r < KILN_ROLE_COUNT; r++) n += weight_bytes(&m->layers[l].w[r]);
    return n;
}
