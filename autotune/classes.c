/* autotune/classes.c — shape classes, and the shapes tuned for each.
 *
 * A class is the kernel (the base spec: everything but tiles) plus a band of
 * the size that moves the best tiles most: tokens for matmul, KV length for
 * attention, row length for norms. One tuned result serves its whole band. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "autotune/tune_internal.h"
#include "formats/format_traits.h"
#include "kiln/gguf.h"

static const char *const matmul_bands[] = {"n=1", "n=2-8", "n=9-64", "n=65+"};
static const char *const attn_bands[] = {"kv<=512", "kv<=4096", "kv>4096"};
static const char *const norm_bands[] = {"dim<=1024", "dim<=8192", "dim>8192"};

int kiln_tune_band_count(kiln_op op)
{
    return op == KILN_OP_MATMUL ? 4 : 3;
}

const char *kiln_tune_band_name(kiln_op op, int band)
{
    if (band < 0 || band >= kiln_tune_band_count(op)) return "?";
    switch (op) {
    case KILN_OP_MATMUL: return matmul_bands[band];
    case KILN_OP_NORM: return norm_bands[band];
    default: return attn_bands[band];
    }
}

void kiln_tune_class_key(const kiln_spec *base, int band, char *buf, size_t cap)
{
    kiln_spec s = *base;
    memset(&s.tile, 0, sizeof s.tile);
    char text[KILN_SPEC_TEXT_MAX];
    if (kiln_spec_to_text(&s, text, sizeof text) < 0) text[0] = '\0';
    snprintf(buf, cap, "%s | %s", text, kiln_tune_band_name(base->op, band));
}

void kiln_tune_shape_text(const kiln_tune_shape *s, char *buf, size_t cap)
{
    switch (s->op) {
    case KILN_OP_MATMUL:
        snprintf(buf, cap, "m=%lld k=%lld n=%lld", (long long)s->m, (long long)s->k, (long long)s->n);
        break;
    case KILN_OP_FLASH_ATTN:
        snprintf(buf, cap, "q=%lld kv=%lld heads=%lld/%lld hd=%lld%s", (long long)s->n_q, (long long)s->n_kv,
                 (long long)s->n_head, (long long)s->n_kv_head, (long long)s->head_dim, s->causal ? " causal" : "");
        break;
    case KILN_OP_PAGED_ATTN:
        snprintf(buf, cap, "seqs=%lld kv=%lld heads=%lld/%lld hd=%lld block=%lld", (long long)s->n_q,
                 (long long)s->n_kv, (long long)s->n_head, (long long)s->n_kv_head, (long long)s->head_dim,
                 (long long)s->block_size);
        break;
    default:
        snprintf(buf, cap, "rows=%lld dim=%lld", (long long)s->n, (long long)s->k);
        break;
    }
}

/* ---- shape lists */

typedef struct shape_list {
    kiln_tune_shape *v;
    size_t n, cap;
} shape_list;

static int push(shape_list *l, kiln_tune_shape s)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 32;
        kiln_tune_shape *v = realloc(l->v, cap * sizeof *v);
        if (!v) return 0;
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = s;
    return 1;
}

static int wants(const kiln_tune_options *o, kiln_op op) { return !o->ops || (o->ops & (1u << op)); }

/* The formats measured when the caller names none: the TUNE column of
 * formats/formats.def (the same ones the cpu compiles tile variants for). */
static int default_formats(kiln_dtype *out)
{
    int n = 0;
    for (int f = 0; f < KILN_DTYPE_COUNT; f++)
        if (kiln_format_has((kiln_dtype)f, KILN_FMT_F_WEIGHT | KILN_FMT_F_TUNE)) out[n++] = (kiln_dtype)f;
    return n;
}

/* Matmul: one shape per token band, for each format; attention and norm: one
 * per band. small: shapes a CPU or lavapipe measures in well under a second. */
static kiln_status add_shapes(const kiln_tune_options *o, int gpu, int64_t dim, int64_t ffn,
                              int64_t n_head, int64_t n_kv_head, shape_list *l)
{
    kiln_dtype dflt[KILN_DTYPE_COUNT];
    const kiln_dtype *fmts = o->formats ? o->formats : dflt;
    int nf = o->formats ? o->n_formats : default_formats(dflt);
    int small = o->small;
    int64_t hd = dim / n_head;
    if (wants(o, KILN_OP_MATMUL)) {
        static const int64_t big_n[] = {1, 8, 64, 512}, small_n[] = {1, 4, 16, 80};
        for (int f = 0; f < nf; f++)
            for (int b = 0; b < 4; b++) {
                if (!gpu && !small && b == 3) continue; /* n=512 on a CPU: minutes per candidate */
                kiln_tune_shape s = {.op = KILN_OP_MATMUL, .fmt = fmts[f], .act = KILN_F32};
                s.m = small ? 256 : dim;
                s.k = small ? 512 : ffn;
                s.n = small ? small_n[b] : big_n[b];
                if (!push(l, s)) return kiln_fail(KILN_ERR_OUT_OF_MEMORY, "tune: out of memory");
            }
    }
    if (wants(o, KILN_OP_FLASH_ATTN)) {
        static const int64_t big_l[] = {512, 4096, 8192}, small_l[] = {64, 600, 4200};
        for (int b = 0; b < 3; b++) {
            if ((small || !gpu) && b == 2) continue;
            int64_t L = small ? small_l[b] : big_l[b];
            /* a CPU takes seconds for a whole 4096-token prefill: the last 64
             * queries of it (the KV length, which picks the band, stays) */
            int64_t nq = small ? 16 : gpu ? L : 64;
            kiln_tune_shape s = {.op = KILN_OP_FLASH_ATTN, .fmt = KILN_F16, .act = KILN_F16, .causal = 1,
                                 .n_q = nq, .n_kv = L, .n_head = small ? 4 : n_head,
                                 .n_kv_head = small ? 2 : n_kv_head, .head_dim = small ? 64 : hd};
            if (!push(l, s)) return kiln_fail(KILN_ERR_OUT_OF_MEMORY, "tune: out of memory");
        }
    }
    if (wants(o, KILN_OP_PAGED_ATTN)) {
        static const int64_t big_kv[] = {512, 4096, 16384}, small_kv[] = {256, 1024, 4608};
        for (int b = 0; b < 3; b++) {
            if (small && b == 2) continue;
            kiln_tune_shape s = {.op = KILN_OP_PAGED_ATTN, .fmt = KILN_F16, .act = KILN_F32,
                                 .n_q = 1, .n_kv = small ? small_kv[b] : big_kv[b],
                                 .n_head = small ? 4 : n_head, .n_kv_head = small ? 2 : n_kv_head,
                                 .head_dim = small ? 64 : hd, .block_size = 32};
            if (!push(l, s)) return kiln_fail(KILN_ERR_OUT_OF_MEMORY, "tune: out of memory");
        }
    }
    if (wants(o, KILN_OP_NORM)) {
        static const int64_t dims[] = {1024, 4096, 16384};
        for (int b = 0; b < 3; b++) {
            kiln_tune_shape s = {.op = KILN_OP_NORM, .fmt = KILN_F32, .act = KILN_F32,
                                 .flags = KILN_SPEC_NORM_RESIDUAL, .n = small ? 8 : (gpu ? 4096 : 64),
                                 .k = b == 1 && o->model_path ? dim : dims[b]};
            if (!push(l, s)) return kiln_fail(KILN_ERR_OUT_OF_MEMORY, "tune: out of memory");
        }
    }
    return KILN_OK;
}

kiln_status kiln_tune_default_shapes(const kiln_context *ctx, const kiln_tune_options *o,
                                     kiln_tune_shape **out, size_t *n)
{
    shape_list l = {0};
    int gpu = ctx->vt->kind != KILN_BACKEND_CPU;
    /* Llama-2-7B: dim 4096, ffn 11008 (the anchors' mat-vec uses k = 14336) */
    kiln_status st = add_shapes(o, gpu, 4096, 14336, 32, 8, &l);
    if (st != KILN_OK) {
        free(l.v);
        return st;
    }
    *out = l.v;
    *n = l.n;
    return KILN_OK;
}

kiln_status kiln_tune_model_shapes(const kiln_tune_options *o, kiln_tune_shape **out, size_t *n)
{
    kiln_gguf *g;
    kiln_status st = kiln_gguf_open(o->model_path, &g);
    if (st != KILN_OK) return kiln_fail_prefix(st, "tune -m %s", o->model_path);
    kiln_gguf_str arch;
    char prefix[64] = "llama";
    if (kiln_gguf_get_str(g, "general.architecture", &arch) == KILN_OK && arch.len < 40)
        snprintf(prefix, sizeof prefix, "%.*s", (int)arch.len, arch.ptr);
    char key[128];
    uint64_t dim = 0, ffn = 0, heads = 0, kv_heads = 0;
    snprintf(key, sizeof key, "%s.embedding_length", prefix);
    st = kiln_gguf_get_u64(g, key, &dim);
    snprintf(key, sizeof key, "%s.feed_forward_length", prefix);
    if (st == KILN_OK) st = kiln_gguf_get_u64(g, key, &ffn);
    snprintf(key, sizeof key, "%s.attention.head_count", prefix);
    if (st == KILN_OK) st = kiln_gguf_get_u64(g, key, &heads);
    snprintf(key, sizeof key, "%s.attention.head_count_kv", prefix);
    if (st == KILN_OK && kiln_gguf_get_u64(g, key, &kv_heads) != KILN_OK) kv_heads = heads;
    /* the weight formats the model actually uses */
    kiln_dtype fmts[KILN_DTYPE_COUNT];
    int nf = 0;
    for (int64_t i = 0; st == KILN_OK && i < kiln_gguf_tensor_count(g); i++) {
        const kiln_gguf_tensor *t = kiln_gguf_tensor_at(g, i);
        if (t->n_dims != 2 || t->dtype < 0) continue;
        const kiln_dtype_info *info = kiln_dtype_get((kiln_dtype)t->dtype);
        if (!info || !info->is_weight_format) continue;
        int seen = 0;
        for (int f = 0; f < nf; f++) seen |= fmts[f] == (kiln_dtype)t->dtype;
        if (!seen) fmts[nf++] = (kiln_dtype)t->dtype;
    }
    kiln_gguf_close(g);
    if (st != KILN_OK) return kiln_fail_prefix(st, "tune -m %s: model shape", o->model_path);
    if (!dim || !heads || dim % heads)
        return kiln_fail(KILN_ERR_FORMAT, "tune -m %s: bad dims (dim %llu, heads %llu)", o->model_path,
                         (unsigned long long)dim, (unsigned long long)heads);
    kiln_tune_options mo = *o;
    if (!mo.formats) {
        mo.formats = fmts;
        mo.n_formats = nf;
    }
    shape_list l = {0};
    st = add_shapes(&mo, 1, (int64_t)dim, (int64_t)(ffn ? ffn : dim * 4), (int64_t)heads,
                    (int64_t)(kv_heads ? kv_heads : heads), &l);
    if (st != KILN_OK) {
        free(l.v);
        return st;
    }
    *out = l.v;
    *n = l.n;
    return KILN_OK;
}
