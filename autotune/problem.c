/* autotune/problem.c — a tuning problem: random inputs of one shape on a
 * context, several rotated copies (so timed runs stream from memory, not
 * cache), and the reference output of a few rows to check every candidate.
 *
 * The copies hold the same bytes: rotation only defeats the caches. The
 * reference is computed once, in double, on a subset of output rows (rows
 * are independent in every op), so checking a 4096 x 14336 x 512 matmul costs
 * four rows of reference, not 512. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "autotune/tune_internal.h"
#include "kernels/ref/ref.h"

#define MAX_ROT 8
#define CHECK_ROWS 4
#define CACHE_BYTES (64ull << 20) /* rotate beyond the largest last-level cache we meet (H100: 50 MB) */

struct kiln_tune_problem {
    kiln_context *ctx;
    kiln_tune_shape s;
    int rot;
    /* host data (one copy) */
    void *h_in[4];          /* matmul: x, w; attention: q, k, v; paged: q, k, v, table; norm: x, res */
    size_t in_bytes[4];
    int32_t *h_lens;
    float *h_weight;        /* norm */
    /* device buffers per rotation: inputs then the output */
    kiln_buffer *in[MAX_ROT][5];
    kiln_buffer *weight, *out[MAX_ROT], *sum[MAX_ROT];
    size_t out_bytes;
    kiln_dtype out_dtype;
    union {
        kiln_matmul_params mm;
        kiln_flash_attn_params fa;
        kiln_paged_attn_params pa;
        kiln_norm_params nm;
    } params[MAX_ROT];
    kiln_tensor weight_t, sum_t[MAX_ROT], res_t[MAX_ROT];
    /* reference of the checked rows */
    double *ref;
    size_t ref_count;       /* elements */
    size_t check_offset;    /* byte offset of the checked rows in the output */
    double tol;
};

static uint64_t rng_next(uint64_t *s)
{
    *s ^= *s << 13, *s ^= *s >> 7, *s ^= *s << 17;
    return *s;
}

static void gaussian(float *v, size_t n, float scale, uint64_t *seed)
{
    for (size_t i = 0; i < n; i += 2) {
        double u1 = ((rng_next(seed) >> 11) + 1.0) / 9007199254740993.0;
        double u2 = (rng_next(seed) >> 11) / 9007199254740992.0;
        double r = sqrt(-2 * log(u1));
        v[i] = (float)(r * cos(6.283185307179586 * u2)) * scale;
        if (i + 1 < n) v[i + 1] = (float)(r * sin(6.283185307179586 * u2)) * scale;
    }
}

/* n random values of dtype t (n a multiple of its block) into malloc'd bytes. */
static void *random_data(kiln_dtype t, size_t n, float scale, uint64_t *seed, size_t *bytes)
{
    float *f = malloc(n * sizeof *f);
    *bytes = kiln_row_bytes(t, (int64_t)n);
    void *d = *bytes ? malloc(*bytes) : NULL;
    if (!f || !d) {
        free(f);
        free(d);
        return NULL;
    }
    gaussian(f, n, scale, seed);
    if (t == KILN_F32) memcpy(d, f, n * sizeof *f);
    else if (kiln_quantize_row(t, f, d, (int64_t)n) == 0) {
        free(d);
        d = NULL;
    }
    free(f);
    return d;
}

static double tolerance(kiln_dtype fmt, kiln_dtype act)
{
    const kiln_dtype_info *fi = kiln_dtype_get(fmt);
    if (fi && fi->is_quantized) return 3e-2; /* activations may be quantized to 8 bits */
    if (fmt != KILN_F32 || act != KILN_F32) return 1e-2;
    return 1e-4;
}

static kiln_status upload_new(kiln_context *ctx, const void *data, size_t bytes, kiln_buffer **out)
{
    kiln_status st = kiln_buffer_alloc(ctx, bytes, out);
    if (st == KILN_OK && data) st = kiln_buffer_upload(*out, 0, data, bytes);
    return st;
}

static int rotations(size_t bytes_per_copy)
{
    size_t r = bytes_per_copy ? (size_t)(2 * CACHE_BYTES / bytes_per_copy) + 1 : 1;
    return r < 1 ? 1 : r > MAX_ROT ? MAX_ROT : (int)r;
}

static kiln_status make_matmul(kiln_tune_problem *p, uint64_t *seed)
{
    const kiln_tune_shape *s = &p->s;
    kiln_status st = KILN_OK;
    p->h_in[0] = random_data(s->act, (size_t)(s->n * s->k), 1.0f, seed, &p->in_bytes[0]);
    p->h_in[1] = random_data(s->fmt, (size_t)(s->m * s->k), 0.05f, seed, &p->in_bytes[1]);
    if (!p->h_in[0] || !p->h_in[1])
        return kiln_fail(KILN_ERR_INVALID_ARG, "tune: cannot make %s x %s data for k=%lld",
                         kiln_dtype_get(s->act)->name, kiln_dtype_get(s->fmt)->name, (long long)s->k);
    p->out_dtype = KILN_F32;
    p->out_bytes = (size_t)(s->n * s->m) * sizeof(float);
    p->rot = rotations(p->in_bytes[1]);
    for (int r = 0; r < p->rot && st == KILN_OK; r++) {
        st = upload_new(p->ctx, p->h_in[0], p->in_bytes[0], &p->in[r][0]);
        if (st == KILN_OK) st = upload_new(p->ctx, p->h_in[1], p->in_bytes[1], &p->in[r][1]);
        if (st == KILN_OK) st = upload_new(p->ctx, NULL, p->out_bytes, &p->out[r]);
        if (st != KILN_OK) break;
        kiln_matmul_params *mm = &p->params[r].mm;
        memset(mm, 0, sizeof *mm);
        mm->x = kiln_tensor_make(p->in[r][0], 0, s->act, 2, (int64_t[]){s->n, s->k});
        mm->w = kiln_tensor_make(p->in[r][1], 0, s->fmt, 2, (int64_t[]){s->m, s->k});
        mm->y = kiln_tensor_make(p->out[r], 0, KILN_F32, 2, (int64_t[]){s->n, s->m});
    }
    if (st != KILN_OK) return st;
    int64_t rows = s->n < CHECK_ROWS ? s->n : CHECK_ROWS;
    p->ref_count = (size_t)(rows * s->m);
    p->ref = malloc(p->ref_count * sizeof *p->ref);
    if (!p->ref) return kiln_fail(KILN_ERR_OUT_OF_MEMORY, "tune: out of memory");
    kiln_ref_matmul_args a = {.n = rows, .m = s->m, .k = s->k, .x_dtype = s->act, .x = p->h_in[0],
                              .w_dtype = s->fmt, .w = p->h_in[1], .residual_dtype = KILN_F32};
    return kiln_ref_matmul(&a, p->ref, NULL);
}

static kiln_status make_flash(kiln_tune_problem *p, uint64_t *seed)
{
    const kiln_tune_shape *s = &p->s;
    kiln_status st = KILN_OK;
    size_t nq = (size_t)(s->n_q * s->n_head * s->head_dim), nkv = (size_t)(s->n_kv * s->n_kv_head * s->head_dim);
    p->h_in[0] = random_data(s->act, nq, 1.0f, seed, &p->in_bytes[0]);
    p->h_in[1] = random_data(s->fmt, nkv, 1.0f, seed, &p->in_bytes[1]);
    p->h_in[2] = random_data(s->fmt, nkv, 1.0f, seed, &p->in_bytes[2]);
    if (!p->h_in[0] || !p->h_in[1] || !p->h_in[2]) return kiln_fail(KILN_ERR_OUT_OF_MEMORY, "tune: out of memory");
    p->out_dtype = s->act;
    p->out_bytes = p->in_bytes[0];
    p->rot = rotations(p->in_bytes[1] * 2 + p->in_bytes[0]);
    if (p->rot > 2) p->rot = 2; /* compute-bound: the copies matter little */
    int64_t q_shape[3] = {s->n_q, s->n_head, s->head_dim}, kv_shape[3] = {s->n_kv, s->n_kv_head, s->head_dim};
    for (int r = 0; r < p->rot && st == KILN_OK; r++) {
        for (int i = 0; i < 3 && st == KILN_OK; i++) st = upload_new(p->ctx, p->h_in[i], p->in_bytes[i], &p->in[r][i]);
        if (st == KILN_OK) st = upload_new(p->ctx, NULL, p->out_bytes, &p->out[r]);
        if (st != KILN_OK) break;
        kiln_flash_attn_params *fa = &p->params[r].fa;
        memset(fa, 0, sizeof *fa);
        fa->q = kiln_tensor_make(p->in[r][0], 0, s->act, 3, q_shape);
        fa->k = kiln_tensor_make(p->in[r][1], 0, s->fmt, 3, kv_shape);
        fa->v = kiln_tensor_make(p->in[r][2], 0, s->fmt, 3, kv_shape);
        fa->o = kiln_tensor_make(p->out[r], 0, s->act, 3, q_shape);
        fa->scale = 1.0f / sqrtf((float)s->head_dim);
        fa->causal = s->causal;
        fa->q_pos0 = s->n_kv - s->n_q;
    }
    if (st != KILN_OK) return st;
    /* check the last queries: with causal masking they see the most keys */
    int64_t rows = s->n_q < 2 ? s->n_q : 2, first = s->n_q - rows;
    size_t row_bytes = p->in_bytes[0] / (size_t)s->n_q;
    p->check_offset = (size_t)first * row_bytes;
    p->ref_count = (size_t)(rows * s->n_head * s->head_dim);
    p->ref = malloc(p->ref_count * sizeof *p->ref);
    if (!p->ref) return kiln_fail(KILN_ERR_OUT_OF_MEMORY, "tune: out of memory");
    kiln_ref_flash_attn_args a = {.n_q = rows, .n_kv = s->n_kv, .n_head = s->n_head, .n_kv_head = s->n_kv_head,
                                  .head_dim = s->head_dim, .q_dtype = s->act,
                                  .q = (const char *)p->h_in[0] + p->check_offset, .kv_dtype = s->fmt,
                                  .k = p->h_in[1], .v = p->h_in[2], .scale = 1.0 / sqrt((double)s->head_dim),
                                  .causal = s->causal, .q_pos0 = s->n_kv - s->n_q + first};
    return kiln_ref_flash_attn(&a, p->ref, NULL);
}

static kiln_status make_paged(kiln_tune_problem *p, uint64_t *seed)
{
    const kiln_tune_shape *s = &p->s;
    kiln_status st = KILN_OK;
    int64_t bs = s->block_size, per_seq = (s->n_kv + bs - 1) / bs, n_blocks = per_seq * s->n_q;
    size_t nq = (size_t)(s->n_q * s->n_head * s->head_dim);
    size_t nkv = (size_t)(n_blocks * bs * s->n_kv_head * s->head_dim);
    p->h_in[0] = random_data(s->act, nq, 1.0f, seed, &p->in_bytes[0]);
    p->h_in[1] = random_data(s->fmt, nkv, 1.0f, seed, &p->in_bytes[1]);
    p->h_in[2] = random_data(s->fmt, nkv, 1.0f, seed, &p->in_bytes[2]);
    p->in_bytes[3] = (size_t)n_blocks * sizeof(int32_t);
    p->h_in[3] = malloc(p->in_bytes[3]);
    p->h_lens = malloc((size_t)s->n_q * sizeof *p->h_lens);
    if (!p->h_in[0] || !p->h_in[1] || !p->h_in[2] || !p->h_in[3] || !p->h_lens)
        return kiln_fail(KILN_ERR_OUT_OF_MEMORY, "tune: out of memory");
    int32_t *table = p->h_in[3];
    for (int64_t i = 0; i < n_blocks; i++) table[i] = (int32_t)i;
    for (int64_t i = n_blocks - 1; i > 0; i--) { /* scrambled, as a real cache is */
        int64_t j = (int64_t)(rng_next(seed) % (uint64_t)(i + 1));
        int32_t t = table[i];
        table[i] = table[j];
        table[j] = t;
    }
    for (int64_t i = 0; i < s->n_q; i++) p->h_lens[i] = (int32_t)s->n_kv;
    p->out_dtype = s->act;
    p->out_bytes = p->in_bytes[0];
    p->rot = rotations(p->in_bytes[1] * 2);
    int64_t q_shape[3] = {s->n_q, s->n_head, s->head_dim};
    int64_t kv_shape[4] = {n_blocks, bs, s->n_kv_head, s->head_dim};
    for (int r = 0; r < p->rot && st == KILN_OK; r++) {
        for (int i = 0; i < 4 && st == KILN_OK; i++) st = upload_new(p->ctx, p->h_in[i], p->in_bytes[i], &p->in[r][i]);
        if (st == KILN_OK) st = upload_new(p->ctx, p->h_lens, (size_t)s->n_q * sizeof(int32_t), &p->in[r][4]);
        if (st == KILN_OK) st = upload_new(p->ctx, NULL, p->out_bytes, &p->out[r]);
        if (st != KILN_OK) break;
        kiln_paged_attn_params *pa = &p->params[r].pa;
        memset(pa, 0, sizeof *pa);
        pa->q = kiln_tensor_make(p->in[r][0], 0, s->act, 3, q_shape);
        pa->k_cache = kiln_tensor_make(p->in[r][1], 0, s->fmt, 4, kv_shape);
        pa->v_cache = kiln_tensor_make(p->in[r][2], 0, s->fmt, 4, kv_shape);
        pa->block_table = kiln_tensor_make(p->in[r][3], 0, KILN_I32, 2, (int64_t[]){s->n_q, per_seq});
        pa->seq_lens = kiln_tensor_make(p->in[r][4], 0, KILN_I32, 1, (int64_t[]){s->n_q});
        pa->o = kiln_tensor_make(p->out[r], 0, s->act, 3, q_shape);
        pa->scale = 1.0f / sqrtf((float)s->head_dim);
    }
    if (st != KILN_OK) return st;
    p->ref_count = nq;
    p->ref = malloc(p->ref_count * sizeof *p->ref);
    if (!p->ref) return kiln_fail(KILN_ERR_OUT_OF_MEMORY, "tune: out of memory");
    kiln_ref_paged_attn_args a = {.n_seq = s->n_q, .n_head = s->n_head, .n_kv_head = s->n_kv_head,
                                  .head_dim = s->head_dim, .n_blocks = n_blocks, .block_size = bs,
                                  .max_blocks_per_seq = per_seq, .q_dtype = s->act, .q = p->h_in[0],
                                  .kv_dtype = s->fmt, .k_cache = p->h_in[1], .v_cache = p->h_in[2],
                                  .block_table = table, .seq_lens = p->h_lens,
                                  .scale = 1.0 / sqrt((double)s->head_dim)};
    return kiln_ref_paged_attn(&a, p->ref, NULL);
}

static kiln_status make_norm(kiln_tune_problem *p, uint64_t *seed)
{
    const kiln_tune_shape *s = &p->s;
    kiln_status st = KILN_OK;
    size_t n = (size_t)(s->n * s->k);
    int residual = (s->flags & KILN_SPEC_NORM_RESIDUAL) != 0;
    kiln_norm_kind kind = (s->flags & KILN_SPEC_NORM_LAYER) ? KILN_NORM_LAYER : KILN_NORM_RMS;
    p->h_in[0] = random_data(s->act, n, 1.0f, seed, &p->in_bytes[0]);
    p->h_in[1] = random_data(s->act, n, 1.0f, seed, &p->in_bytes[1]);
    p->h_weight = malloc((size_t)s->k * sizeof(float));
    if (!p->h_in[0] || !p->h_in[1] || !p->h_weight) return kiln_fail(KILN_ERR_OUT_OF_MEMORY, "tune: out of memory");
    gaussian(p->h_weight, (size_t)s->k, 1.0f, seed);
    p->out_dtype = s->act;
    p->out_bytes = p->in_bytes[0];
    p->rot = rotations(p->in_bytes[0] * 4);
    st = upload_new(p->ctx, p->h_weight, (size_t)s->k * sizeof(float), &p->weight);
    if (st != KILN_OK) return st;
    p->weight_t = kiln_tensor_make(p->weight, 0, KILN_F32, 1, (int64_t[]){s->k});
    int64_t shape[2] = {s->n, s->k};
    for (int r = 0; r < p->rot && st == KILN_OK; r++) {
        st = upload_new(p->ctx, p->h_in[0], p->in_bytes[0], &p->in[r][0]);
        if (st == KILN_OK) st = upload_new(p->ctx, p->h_in[1], p->in_bytes[1], &p->in[r][1]);
        if (st == KILN_OK) st = upload_new(p->ctx, NULL, p->out_bytes, &p->out[r]);
        if (st == KILN_OK) st = upload_new(p->ctx, NULL, p->out_bytes, &p->sum[r]);
        if (st != KILN_OK) break;
        kiln_norm_params *nm = &p->params[r].nm;
        memset(nm, 0, sizeof *nm);
        nm->kind = kind;
        nm->x = kiln_tensor_make(p->in[r][0], 0, s->act, 2, shape);
        p->sum_t[r] = kiln_tensor_make(p->sum[r], 0, s->act, 2, shape);
        p->res_t[r] = kiln_tensor_make(p->in[r][1], 0, s->act, 2, shape);
        nm->residual = residual ? &p->res_t[r] : NULL;
        nm->weight = &p->weight_t;
        nm->sum_out = &p->sum_t[r];
        nm->y = kiln_tensor_make(p->out[r], 0, s->act, 2, shape);
        nm->eps = 1e-5f;
    }
    if (st != KILN_OK) return st;
    int64_t rows = s->n < 2 ? s->n : 2;
    p->ref_count = (size_t)(rows * s->k);
    p->ref = malloc(p->ref_count * sizeof *p->ref);
    if (!p->ref) return kiln_fail(KILN_ERR_OUT_OF_MEMORY, "tune: out of memory");
    kiln_ref_norm_args a = {.kind = kind, .rows = rows, .dim = s->k, .dtype = s->act, .x = p->h_in[0],
                            .residual = residual ? p->h_in[1] : NULL, .weight = p->h_weight, .eps = 1e-5};
    return kiln_ref_norm(&a, p->ref, NULL);
}

kiln_status kiln_tune_problem_create(kiln_context *ctx, const kiln_tune_shape *s, kiln_tune_problem **out)
{
    *out = NULL;
    kiln_tune_problem *p = calloc(1, sizeof *p);
    if (!p) return kiln_fail(KILN_ERR_OUT_OF_MEMORY, "tune: out of memory");
    p->ctx = ctx;
    p->s = *s;
    p->tol = tolerance(s->fmt, s->act);
    uint64_t seed = 0x9e3779b97f4a7c15ull ^ (uint64_t)s->op * 0x100000001b3ull ^ (uint64_t)s->k;
    kiln_status st;
    switch (s->op) {
    case KILN_OP_MATMUL: st = make_matmul(p, &seed); break;
    case KILN_OP_FLASH_ATTN: st = make_flash(p, &seed); break;
    case KILN_OP_PAGED_ATTN: st = make_paged(p, &seed); break;
    case KILN_OP_NORM: st = make_norm(p, &seed); break;
    default: st = kiln_fail(KILN_ERR_INVALID_ARG, "tune: bad op %d", (int)s->op); break;
    }
    if (st != KILN_OK) {
        kiln_tune_problem_free(p);
        return st;
    }
    *out = p;
    return KILN_OK;
}

void kiln_tune_problem_free(kiln_tune_problem *p)
{
    if (!p) return;
    for (int r = 0; r < MAX_ROT; r++) {
        for (int i = 0; i < 5; i++) kiln_buffer_free(p->in[r][i]);
        kiln_buffer_free(p->out[r]);
        kiln_buffer_free(p->sum[r]);
    }
    kiln_buffer_free(p->weight);
    for (int i = 0; i < 4; i++) free(p->h_in[i]);
    free(p->h_lens);
    free(p->h_weight);
    free(p->ref);
    free(p);
}

const void *kiln_tune_problem_params(kiln_tune_problem *p, int r) { return &p->params[r % p->rot]; }

int kiln_tune_problem_rotations(const kiln_tune_problem *p) { return p->rot; }

kiln_status kiln_tune_problem_poison(kiln_tune_problem *p, int r)
{
    size_t n = p->out_bytes;
    unsigned char *nan = malloc(n);
    if (!nan) return kiln_fail(KILN_ERR_OUT_OF_MEMORY, "tune: out of memory");
    memset(nan, 0xff, n); /* all-ones: NaN in f32, f16 and bf16 */
    kiln_status st = kiln_buffer_upload(p->out[r % p->rot], 0, nan, n);
    free(nan);
    return st;
}

kiln_status kiln_tune_problem_check(kiln_tune_problem *p, int r, const kiln_spec *spec)
{
    size_t esize = kiln_dtype_get(p->out_dtype)->block_bytes, bytes = p->ref_count * esize;
    void *got = malloc(bytes);
    double *val = malloc(p->ref_count * sizeof *val);
    if (!got || !val) {
        free(got);
        free(val);
        return kiln_fail(KILN_ERR_OUT_OF_MEMORY, "tune: out of memory");
    }
    kiln_status st = kiln_synchronize(p->ctx);
    if (st == KILN_OK) st = kiln_buffer_download(p->out[r % p->rot], p->check_offset, got, bytes);
    if (st == KILN_OK) st = kiln_ref_load_row(p->out_dtype, got, (int64_t)p->ref_count, val);
    double num = 0, den = 0;
    size_t bad = (size_t)-1;
    for (size_t i = 0; st == KILN_OK && i < p->ref_count; i++) {
        if (!isfinite(val[i])) {
            bad = i;
            break;
        }
        num += (val[i] - p->ref[i]) * (val[i] - p->ref[i]);
        den += p->ref[i] * p->ref[i];
    }
    free(got);
    free(val);
    if (st != KILN_OK) return st;
    char text[KILN_SPEC_TEXT_MAX];
    kiln_spec_to_text(spec, text, sizeof text);
    if (bad != (size_t)-1)
        return kiln_fail(KILN_ERR_INTERNAL, "candidate '%s' wrote a non-finite value at element %zu", text, bad);
    double rel = sqrt(num / (den > 0 ? den : 1));
    if (!(rel <= p->tol))
        return kiln_fail(KILN_ERR_INTERNAL, "candidate '%s' differs from the reference: relative error %.3g > %.3g",
                         text, rel, p->tol);
    return KILN_OK;
}
