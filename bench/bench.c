/* bench/bench.c — building a benchmark case on a context and timing it.
 *
 * Inputs are random but realistic (Gaussian weights quantized by
 * kiln_quantize_row, so scales are sane). Quantizing a 4096 x 14336 matrix
 * row by row takes seconds for K-quants, so 64 distinct rows are quantized and
 * repeated: the op's memory traffic is the same. The weights (or K/V cache, or
 * norm input) exist in `copies` buffers whose total exceeds twice the
 * last-level cache, and run i uses copy i % copies, so each run streams from
 * memory like a real decode step rather than from a warm cache. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench/bench.h"
#include "kiln/kiln.h"

#define PATTERN_ROWS 64
#define MAX_COPIES 16
#define MAX_TOTAL_BYTES ((size_t)3 << 30) /* never allocate more than this for copies */

static const char *const op_names[KILN_BENCH_OP_COUNT] = {"matvec", "matmul", "flash_attn", "paged_attn", "norm",
                                                                   "rope"};

const char *kiln_bench_op_name(kiln_bench_op op) { return (unsigned)op < KILN_BENCH_OP_COUNT ? op_names[op] : "?"; }

int kiln_bench_op_from_name(const char *name)
{
    for (int i = 0; i < KILN_BENCH_OP_COUNT; i++)
        if (!strcmp(name, op_names[i])) return i;
    return -1;
}

/* Why the last kiln_bench_run failed, when the reason is the benchmark's own
 * (a shape it cannot build, host memory) rather than the library's. */
static char bench_why[256];

static kiln_status fail(kiln_status s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(bench_why, sizeof bench_why, fmt, ap);
    va_end(ap);
    return s;
}

const char *kiln_bench_error(void) { return bench_why[0] ? bench_why : kiln_last_error(); }

kiln_bench_case kiln_bench_default(kiln_bench_op op)
{
    kiln_bench_case c;
    memset(&c, 0, sizeof c);
    c.op = op;
    c.format = KILN_Q4_0;
    c.dtype = KILN_F32;
    c.m = 4096, c.k = 14336, c.n = op == KILN_BENCH_MATMUL ? 512 : 1;
    c.heads = 32, c.kv_heads = 8, c.head_dim = 128;
    c.q_len = op == KILN_BENCH_FLASH_ATTN || op == KILN_BENCH_ROPE ? 512 : 1;
    c.kv_len = op == KILN_BENCH_PAGED_ATTN ? 16384 : 512;
    c.seqs = 1, c.block_size = 16, c.causal = 1;
    if (op == KILN_BENCH_FLASH_ATTN || op == KILN_BENCH_PAGED_ATTN || op == KILN_BENCH_ROPE) c.format = KILN_F16;
    if (op == KILN_BENCH_FLASH_ATTN) c.dtype = KILN_F16;
    c.rows = 4096, c.dim = 4096, c.residual = 1;
    if (op == KILN_BENCH_NORM) c.dtype = KILN_F16;
    c.warmup = 3, c.min_runs = 5, c.max_runs = 200, c.min_seconds = 1.0;
    return c;
}

void kiln_bench_shape(const kiln_bench_case *c, char *buf, size_t cap)
{
    switch (c->op) {
    case KILN_BENCH_MATVEC:
    case KILN_BENCH_MATMUL:
        snprintf(buf, cap, "m=%lld k=%lld n=%lld", (long long)c->m, (long long)c->k, (long long)c->n);
        break;
    case KILN_BENCH_FLASH_ATTN:
        snprintf(buf, cap, "q=%lld kv=%lld heads=%lld/%lld hd=%lld%s", (long long)c->q_len, (long long)c->kv_len,
                 (long long)c->heads, (long long)c->kv_heads, (long long)c->head_dim, c->causal ? " causal" : "");
        break;
    case KILN_BENCH_PAGED_ATTN:
        snprintf(buf, cap, "seqs=%lld kv=%lld heads=%lld/%lld hd=%lld block=%lld", (long long)c->seqs,
                 (long long)c->kv_len, (long long)c->heads, (long long)c->kv_heads, (long long)c->head_dim,
                 (long long)c->block_size);
        break;
    case KILN_BENCH_NORM:
        snprintf(buf, cap, "rows=%lld dim=%lld %s%s", (long long)c->rows, (long long)c->dim, c->layer ? "layer" : "rms",
                 c->residual ? "+residual" : "");
        break;
    case KILN_BENCH_ROPE:
        snprintf(buf, cap, "tokens=%lld heads=%lld/%lld hd=%lld block=%lld", (long long)c->q_len, (long long)c->heads,
                 (long long)c->kv_heads, (long long)c->head_dim, (long long)c->block_size);
        break;
    default: snprintf(buf, cap, "?");
    }
}

/* ---------------------------------------------------------------- data */

static uint64_t rng_next(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* Roughly N(0, sigma^2): the sum of four uniforms, centred and scaled. */
static void fill_random(float *dst, size_t n, float sigma, uint64_t *s)
{
    for (size_t i = 0; i < n; i++) {
        double u = 0;
        for (int j = 0; j < 4; j++) u += (double)(rng_next(s) >> 11) * (1.0 / 9007199254740992.0);
        dst[i] = (float)((u - 2.0) * 1.7320508 * sigma);
    }
}

/* rows x cols of dtype t with random values (64 distinct rows repeated). */
static void *make_host(kiln_dtype t, int64_t rows, int64_t cols, float sigma, uint64_t *seed, size_t *bytes)
{
    size_t row_bytes = kiln_row_bytes(t, cols);
    if (!row_bytes) return NULL;
    *bytes = row_bytes * (size_t)rows;
    uint8_t *host = malloc(*bytes ? *bytes : 1);
    float *tmp = malloc((size_t)cols * sizeof *tmp);
    if (!host || !tmp) {
        fail(KILN_ERR_OUT_OF_MEMORY, "cannot allocate %zu bytes of host memory for %lld x %lld %s", *bytes,
             (long long)rows, (long long)cols, kiln_dtype_get(t)->name);
        free(host);
        free(tmp);
        return NULL;
    }
    int64_t distinct = rows < PATTERN_ROWS ? rows : PATTERN_ROWS;
    for (int64_t r = 0; r < distinct; r++) {
        fill_random(tmp, (size_t)cols, sigma, seed);
        if (t == KILN_I32)
            for (int64_t i = 0; i < cols; i++) ((int32_t *)(host + r * row_bytes))[i] = 0;
        else
            kiln_quantize_row(t, tmp, host + (size_t)r * row_bytes, cols);
    }
    for (int64_t r = distinct; r < rows; r++) memcpy(host + (size_t)r * row_bytes, host + (size_t)(r % distinct) * row_bytes, row_bytes);
    free(tmp);
    return host;
}

/* Buffers of a benchmark, freed together. */
typedef struct bench_buffers {
    kiln_buffer *list[3 * MAX_COPIES + 16];
    int count;
} bench_buffers;

static kiln_status upload_new(kiln_context *ctx, bench_buffers *bb, const void *host, size_t bytes, kiln_buffer **out)
{
    kiln_status s = kiln_buffer_alloc(ctx, bytes ? bytes : 1, out);
    if (s) return s;
    bb->list[bb->count++] = *out;
    return host && bytes ? kiln_buffer_upload(*out, 0, host, bytes) : KILN_OK;
}

static void free_all(bench_buffers *bb)
{
    for (int i = 0; i < bb->count; i++) kiln_buffer_free(bb->list[i]);
    bb->count = 0;
}

/* Copies of `bytes` so that all of them exceed twice the LLC (at least 1). */
static int copies_for(size_t bytes)
{
    size_t llc2 = 2 * kiln_bench_llc_bytes();
    if (!bytes) return 1;
    int copies = (int)(llc2 / bytes) + 1;
    if (copies > MAX_COPIES) copies = MAX_COPIES;
    while (copies > 1 && bytes * (size_t)copies > MAX_TOTAL_BYTES) copies--;
    return copies;
}

/* ---------------------------------------------------------------- timing */

typedef kiln_status (*run_fn)(kiln_context *ctx, void *state, int copy);

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static kiln_status time_runs(kiln_context *ctx, const kiln_bench_case *c, run_fn fn, void *state, int copies,
                             kiln_bench_result *r)
{
    kiln_status s;
    int run = 0;
    double t_start = kiln_bench_now();
    for (int i = 0; i < (c->warmup > 0 ? c->warmup : 0); i++, run++) {
        if ((s = fn(ctx, state, run % copies)) || (s = kiln_synchronize(ctx))) return s;
        if (kiln_bench_now() - t_start > 2.0 * (c->min_seconds > 0 ? c->min_seconds : 1.0)) break;
    }
    int cap = c->max_runs > 0 ? c->max_runs : 200;
    double *times = malloc(2 * (size_t)cap * sizeof *times), *cpu = times + cap;
    if (!times) return KILN_ERR_OUT_OF_MEMORY;
    int n = 0;
    double begin = kiln_bench_now();
    while (n < cap && (n < c->min_runs || kiln_bench_now() - begin < c->min_seconds)) {
        double t0 = kiln_bench_now(), c0 = kiln_bench_cpu_now();
        if ((s = fn(ctx, state, run % copies)) || (s = kiln_synchronize(ctx))) {
            free(times);
            return s;
        }
        times[n] = kiln_bench_now() - t0;
        cpu[n++] = kiln_bench_cpu_now() - c0;
        run++;
    }
    qsort(times, (size_t)n, sizeof *times, cmp_double);
    qsort(cpu, (size_t)n, sizeof *cpu, cmp_double);
    r->cpu_us = 1e6 * cpu[n / 2];
    r->runs = n;
    r->median_us = 1e6 * (n % 2 ? times[n / 2] : 0.5 * (times[n / 2 - 1] + times[n / 2]));
    r->min_us = 1e6 * times[0];
    r->max_us = 1e6 * times[n - 1];
    r->weight_copies = copies;
    free(times);
    return KILN_OK;
}

/* ---------------------------------------------------------------- ops */

typedef struct matmul_state {
    kiln_matmul_params p;
    kiln_tensor w[MAX_COPIES], w_up[MAX_COPIES], bias, residual;
} matmul_state;

static kiln_status matmul_run(kiln_context *ctx, void *state, int copy)
{
    matmul_state *s = state;
    s->p.w = s->w[copy];
    if (s->p.epilogue & KILN_EPI_SWIGLU) s->p.w_up = &s->w_up[copy];
    return kiln_matmul(ctx, &s->p);
}

static kiln_status bench_matmul(kiln_context *ctx, const kiln_bench_case *c, kiln_bench_result *r, bench_buffers *bb)
{
    uint64_t seed = 0x9e3779b97f4a7c15ull;
    size_t wbytes, xbytes, ybytes;
    void *wh = make_host(c->format, c->m, c->k, 0.02f, &seed, &wbytes);
    void *xh = make_host(c->dtype, c->n, c->k, 1.0f, &seed, &xbytes);
    void *yh = make_host(c->dtype, c->n, c->m, 1.0f, &seed, &ybytes);
    matmul_state *st = calloc(1, sizeof *st);
    kiln_status s = KILN_ERR_OUT_OF_MEMORY;
    if (!wh || !xh || !yh || !st) goto done;
    int swiglu = (c->epilogue & KILN_EPI_SWIGLU) != 0;
    int copies = copies_for(wbytes * (swiglu ? 2 : 1));
    kiln_buffer *b;
    for (int i = 0; i < copies; i++) {
        if ((s = upload_new(ctx, bb, wh, wbytes, &b))) goto done;
        st->w[i] = kiln_tensor_make(b, 0, c->format, 2, (int64_t[]){c->m, c->k});
        if (swiglu) {
            if ((s = upload_new(ctx, bb, wh, wbytes, &b))) goto done;
            st->w_up[i] = kiln_tensor_make(b, 0, c->format, 2, (int64_t[]){c->m, c->k});
        }
    }
    if ((s = upload_new(ctx, bb, xh, xbytes, &b))) goto done;
    st->p.x = kiln_tensor_make(b, 0, c->dtype, 2, (int64_t[]){c->n, c->k});
    if ((s = upload_new(ctx, bb, yh, ybytes, &b))) goto done;
    st->p.y = kiln_tensor_make(b, 0, c->dtype, 2, (int64_t[]){c->n, c->m});
    st->p.epilogue = c->epilogue;
    if (c->epilogue & KILN_EPI_BIAS) {
        float *bias = calloc((size_t)c->m, sizeof *bias);
        s = bias ? upload_new(ctx, bb, bias, (size_t)c->m * 4, &b) : KILN_ERR_OUT_OF_MEMORY;
        free(bias);
        if (s) goto done;
        st->bias = kiln_tensor_make(b, 0, KILN_F32, 1, (int64_t[]){c->m});
        st->p.bias = &st->bias;
    }
    if (c->epilogue & KILN_EPI_RESIDUAL) {
        st->residual = st->p.y; /* residual added in place, as a decode step does */
        st->p.residual = &st->residual;
    }
    if ((s = time_runs(ctx, c, matmul_run, st, copies, r))) goto done;
    r->bytes = (double)wbytes * (swiglu ? 2 : 1) + (double)xbytes + (double)ybytes *
               ((c->epilogue & KILN_EPI_RESIDUAL) ? 2 : 1);
    r->flops = 2.0 * (double)c->m * (double)c->n * (double)c->k * (swiglu ? 2 : 1);
done:
    free(wh);
    free(xh);
    free(yh);
    free(st);
    return s;
}

typedef struct attn_state {
    kiln_flash_attn_params f;
    kiln_paged_attn_params p;
    kiln_tensor k[MAX_COPIES], v[MAX_COPIES];
} attn_state;

static kiln_status flash_run(kiln_context *ctx, void *state, int copy)
{
    attn_state *s = state;
    s->f.k = s->k[copy];
    s->f.v = s->v[copy];
    return kiln_flash_attn(ctx, &s->f);
}

static kiln_status paged_run(kiln_context *ctx, void *state, int copy)
{
    attn_state *s = state;
    s->p.k_cache = s->k[copy];
    s->p.v_cache = s->v[copy];
    return kiln_paged_attn(ctx, &s->p);
}

static kiln_status bench_attention(kiln_context *ctx, const kiln_bench_case *c, kiln_bench_result *r, bench_buffers *bb)
{
    int paged = c->op == KILN_BENCH_PAGED_ATTN;
    uint64_t seed = 0x2545f4914f6cdd1dull;
    int64_t hd = c->head_dim, nq = paged ? c->seqs : c->q_len;
    int64_t bs = c->block_size, per_seq = (c->kv_len + bs - 1) / bs, n_blocks = c->seqs * per_seq;
    int64_t kv_rows = paged ? n_blocks * bs * c->kv_heads : c->kv_len * c->kv_heads;
    size_t qbytes, kvbytes, btbytes;
    void *qh = make_host(c->dtype, nq * c->heads, hd, 1.0f, &seed, &qbytes);
    void *kvh = make_host(c->format, kv_rows, hd, 1.0f, &seed, &kvbytes);
    int32_t *table = malloc((size_t)(n_blocks ? n_blocks : 1) * sizeof *table);
    int32_t *lens = malloc((size_t)(c->seqs ? c->seqs : 1) * sizeof *lens);
    attn_state *st = calloc(1, sizeof *st);
    kiln_status s = KILN_ERR_OUT_OF_MEMORY;
    if (!qh || !kvh || !table || !lens || !st) goto done;
    btbytes = (size_t)n_blocks * 4;
    /* a scrambled block table, as a cache that has been reused looks */
    for (int64_t i = 0; i < n_blocks; i++) table[i] = (int32_t)i;
    for (int64_t i = n_blocks - 1; i > 0; i--) {
        int64_t j = (int64_t)(rng_next(&seed) % (uint64_t)(i + 1));
        int32_t t = table[i];
        table[i] = table[j];
        table[j] = t;
    }
    for (int64_t i = 0; i < c->seqs; i++) lens[i] = (int32_t)c->kv_len;
    int copies = copies_for(2 * kvbytes);
    kiln_buffer *b;
    int64_t kv_ne_flash[3] = {c->kv_len, c->kv_heads, hd}, kv_ne_paged[4] = {n_blocks, bs, c->kv_heads, hd};
    for (int i = 0; i < copies; i++) {
        if ((s = upload_new(ctx, bb, kvh, kvbytes, &b))) goto done;
        st->k[i] = paged ? kiln_tensor_make(b, 0, c->format, 4, kv_ne_paged) : kiln_tensor_make(b, 0, c->format, 3, kv_ne_flash);
        if ((s = upload_new(ctx, bb, kvh, kvbytes, &b))) goto done;
        st->v[i] = paged ? kiln_tensor_make(b, 0, c->format, 4, kv_ne_paged) : kiln_tensor_make(b, 0, c->format, 3, kv_ne_flash);
    }
    int64_t q_ne[3] = {nq, c->heads, hd};
    kiln_tensor q, o;
    if ((s = upload_new(ctx, bb, qh, qbytes, &b))) goto done;
    q = kiln_tensor_make(b, 0, c->dtype, 3, q_ne);
    if ((s = upload_new(ctx, bb, NULL, qbytes, &b))) goto done;
    o = kiln_tensor_make(b, 0, c->dtype, 3, q_ne);
    float scale = 1.0f / sqrtf((float)hd);
    double keys; /* (query, key) pairs per head */
    if (paged) {
        kiln_tensor bt, sl;
        if ((s = upload_new(ctx, bb, table, btbytes, &b))) goto done;
        bt = kiln_tensor_make(b, 0, KILN_I32, 2, (int64_t[]){c->seqs, per_seq});
        if ((s = upload_new(ctx, bb, lens, (size_t)c->seqs * 4, &b))) goto done;
        sl = kiln_tensor_make(b, 0, KILN_I32, 1, (int64_t[]){c->seqs});
        st->p = (kiln_paged_attn_params){.q = q, .o = o, .block_table = bt, .seq_lens = sl, .scale = scale};
        if ((s = time_runs(ctx, c, paged_run, st, copies, r))) goto done;
        keys = (double)c->seqs * (double)c->kv_len;
        r->bytes = 2.0 * (double)kiln_row_bytes(c->format, hd) * (double)c->kv_heads * keys + 2.0 * (double)qbytes;
    } else {
        st->f = (kiln_flash_attn_params){.q = q, .o = o, .scale = scale, .causal = c->causal,
                                          .q_pos0 = c->causal ? c->kv_len - c->q_len : 0};
        if ((s = time_runs(ctx, c, flash_run, st, copies, r))) goto done;
        keys = (double)c->q_len * (double)c->kv_len;
        if (c->causal) { /* query i sees kv_len - q_len + i + 1 keys */
            double first = (double)(c->kv_len - c->q_len + 1);
            keys = (double)c->q_len * (first + (double)(c->kv_len)) / 2.0;
        }
        r->bytes = 2.0 * (double)kvbytes + 2.0 * (double)qbytes;
    }
    r->flops = 4.0 * keys * (double)c->heads * (double)hd;
done:
    free(qh);
    free(kvh);
    free(table);
    free(lens);
    free(st);
    return s;
}

typedef struct norm_state {
    kiln_norm_params p;
    kiln_tensor x[MAX_COPIES], residual, weight, sum_out;
} norm_state;

static kiln_status norm_run(kiln_context *ctx, void *state, int copy)
{
    norm_state *s = state;
    s->p.x = s->x[copy];
    return kiln_norm(ctx, &s->p);
}

static kiln_status bench_norm(kiln_context *ctx, const kiln_bench_case *c, kiln_bench_result *r, bench_buffers *bb)
{
    uint64_t seed = 0x853c49e6748fea9bull;
    size_t bytes, wbytes;
    void *xh = make_host(c->dtype, c->rows, c->dim, 1.0f, &seed, &bytes);
    void *wh = make_host(KILN_F32, 1, c->dim, 1.0f, &seed, &wbytes);
    norm_state *st = calloc(1, sizeof *st);
    kiln_status s = KILN_ERR_OUT_OF_MEMORY;
    if (!xh || !wh || !st) goto done;
    int64_t ne[2] = {c->rows, c->dim};
    int copies = copies_for(bytes);
    kiln_buffer *b;
    for (int i = 0; i < copies; i++) {
        if ((s = upload_new(ctx, bb, xh, bytes, &b))) goto done;
        st->x[i] = kiln_tensor_make(b, 0, c->dtype, 2, ne);
    }
    if ((s = upload_new(ctx, bb, wh, wbytes, &b))) goto done;
    st->weight = kiln_tensor_make(b, 0, KILN_F32, 1, (int64_t[]){c->dim});
    if ((s = upload_new(ctx, bb, NULL, bytes, &b))) goto done;
    st->p.y = kiln_tensor_make(b, 0, c->dtype, 2, ne);
    st->p.kind = c->layer ? KILN_NORM_LAYER : KILN_NORM_RMS;
    st->p.weight = &st->weight;
    st->p.eps = 1e-5f;
    double streams = 2; /* x in, y out */
    if (c->residual) {
        if ((s = upload_new(ctx, bb, xh, bytes, &b))) goto done;
        st->residual = kiln_tensor_make(b, 0, c->dtype, 2, ne);
        st->p.residual = &st->residual;
        if ((s = upload_new(ctx, bb, NULL, bytes, &b))) goto done;
        st->sum_out = kiln_tensor_make(b, 0, c->dtype, 2, ne);
        st->p.sum_out = &st->sum_out;
        streams += 2;
    }
    if ((s = time_runs(ctx, c, norm_run, st, copies, r))) goto done;
    r->bytes = streams * (double)bytes;
    r->flops = (c->layer ? 7.0 : 4.0) * (double)c->rows * (double)c->dim;
done:
    free(xh);
    free(wh);
    free(st);
    return s;
}

typedef struct rope_state {
    kiln_rope_params p;
    kiln_tensor q[MAX_COPIES], k[MAX_COPIES], v, pos, slots, kc, vc;
} rope_state;

static kiln_status rope_run(kiln_context *ctx, void *state, int copy)
{
    rope_state *s = state;
    s->p.q = s->q[copy], s->p.k = s->k[copy];
    return kiln_rope(ctx, &s->p);
}

/* A prefill's RoPE + KV append: q_len tokens at positions 0.. into consecutive
 * slots of a cache just large enough. Rotating in place again and again keeps
 * the values' size (rotations preserve norms). */
static kiln_status bench_rope(kiln_context *ctx, const kiln_bench_case *c, kiln_bench_result *r, bench_buffers *bb)
{
    uint64_t seed = 0x2545f4914f6cdd1dull;
    const int64_t n = c->q_len, blocks = (n + c->block_size - 1) / c->block_size;
    size_t qbytes, kbytes, vbytes;
    void *qh = make_host(KILN_F32, n * c->heads, c->head_dim, 1.0f, &seed, &qbytes);
    void *kh = make_host(KILN_F32, n * c->kv_heads, c->head_dim, 1.0f, &seed, &kbytes);
    void *vh = make_host(KILN_F32, n * c->kv_heads, c->head_dim, 1.0f, &seed, &vbytes);
    int32_t *idx = malloc((size_t)n * sizeof *idx);
    rope_state *st = calloc(1, sizeof *st);
    kiln_status s = KILN_ERR_OUT_OF_MEMORY;
    if (!qh || !kh || !vh || !idx || !st) goto done;
    for (int64_t t = 0; t < n; t++) idx[t] = (int32_t)t;
    const int64_t qne[3] = {n, c->heads, c->head_dim}, kne[3] = {n, c->kv_heads, c->head_dim};
    const int64_t cne[4] = {blocks, c->block_size, c->kv_heads, c->head_dim};
    const size_t cbytes = kiln_row_bytes(c->format, c->head_dim) * (size_t)(blocks * c->block_size * c->kv_heads);
    int copies = copies_for(qbytes + kbytes);
    kiln_buffer *b;
    for (int i = 0; i < copies; i++) {
        if ((s = upload_new(ctx, bb, qh, qbytes, &b))) goto done;
        st->q[i] = kiln_tensor_make(b, 0, KILN_F32, 3, qne);
        if ((s = upload_new(ctx, bb, kh, kbytes, &b))) goto done;
        st->k[i] = kiln_tensor_make(b, 0, KILN_F32, 3, kne);
    }
    if ((s = upload_new(ctx, bb, vh, vbytes, &b))) goto done;
    st->v = kiln_tensor_make(b, 0, KILN_F32, 3, kne);
    if ((s = upload_new(ctx, bb, idx, (size_t)n * 4, &b))) goto done;
    st->pos = kiln_tensor_make(b, 0, KILN_I32, 1, &n);
    if ((s = upload_new(ctx, bb, idx, (size_t)n * 4, &b))) goto done;
    st->slots = kiln_tensor_make(b, 0, KILN_I32, 1, &n);
    if ((s = upload_new(ctx, bb, NULL, cbytes, &b))) goto done;
    st->kc = kiln_tensor_make(b, 0, c->format, 4, cne);
    if ((s = upload_new(ctx, bb, NULL, cbytes, &b))) goto done;
    st->vc = kiln_tensor_make(b, 0, c->format, 4, cne);
    st->p = (kiln_rope_params){.rope_dim = (int)c->head_dim, .theta = 10000.0f, .freq_scale = 1.0f, .v = &st->v,
                               .k_cache = &st->kc, .v_cache = &st->vc, .slots = &st->slots, .positions = st->pos};
    if ((s = time_runs(ctx, c, rope_run, st, copies, r))) goto done;
    /* q, k read and written; v read; both caches written */
    r->bytes = 2.0 * (double)(qbytes + kbytes) + (double)vbytes + 2.0 * (double)(cbytes / (size_t)blocks / (size_t)c->block_size) * (double)n;
    r->flops = 6.0 * (double)n * (double)(c->heads + c->kv_heads) * (double)c->head_dim / 2.0;
done:
    free(qh), free(kh), free(vh), free(idx), free(st);
    return s;
}

static double host_memory_bytes(void)
{
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    return pages > 0 && page > 0 ? (double)pages * (double)page : 0.0;
}

/* A dimension must be at least 1 (and no larger than 2^31, so that products
 * of three fit int64). */
static kiln_status check_dims(const char *const names[], const int64_t values[], int n)
{
    for (int i = 0; i < n; i++)
        if (values[i] < 1 || values[i] > ((int64_t)1 << 31))
            return fail(KILN_ERR_INVALID_ARG, "--%s %lld: must be 1..2147483648", names[i], (long long)values[i]);
    return KILN_OK;
}

/* Rows of n elements must be whole blocks of t. */
static kiln_status check_blocks(const char *what, int64_t n, kiln_dtype t)
{
    if (!kiln_row_bytes(t, n))
        return fail(KILN_ERR_INVALID_ARG, "--%s %lld is not a multiple of %s's block of %d", what, (long long)n,
                    kiln_dtype_get(t)->name, kiln_dtype_get(t)->block_elems);
    return KILN_OK;
}

kiln_status kiln_bench_check(const kiln_bench_case *c)
{
    kiln_status s;
    double bytes = 0; /* of the largest input, one copy */
    bench_why[0] = 0;
    switch (c->op) {
    case KILN_BENCH_MATVEC:
    case KILN_BENCH_MATMUL: {
        static const char *const names[] = {"m", "k", "n"};
        if ((s = check_dims(names, (int64_t[]){c->m, c->k, c->n}, 3))) return s;
        if (!kiln_dtype_get(c->format)->is_weight_format)
            return fail(KILN_ERR_INVALID_ARG, "%s is not a weight format", kiln_dtype_get(c->format)->name);
        if ((s = check_blocks("k", c->k, c->format))) return s;
        bytes = (double)c->m * (double)kiln_row_bytes(c->format, c->k);
        break;
    }
    case KILN_BENCH_FLASH_ATTN:
    case KILN_BENCH_PAGED_ATTN: {
        static const char *const names[] = {"heads", "kv-heads", "head-dim", "q-len", "kv-len", "seqs", "block-size"};
        int64_t v[] = {c->heads, c->kv_heads, c->head_dim, c->q_len, c->kv_len, c->seqs, c->block_size};
        if ((s = check_dims(names, v, 7))) return s;
        if (c->heads % c->kv_heads)
            return fail(KILN_ERR_INVALID_ARG, "--heads %lld is not a multiple of --kv-heads %lld", (long long)c->heads,
                        (long long)c->kv_heads);
        if ((s = check_blocks("head-dim", c->head_dim, c->format))) return s;
        bytes = 2.0 * (double)c->kv_len * (double)c->seqs * (double)c->kv_heads *
                (double)kiln_row_bytes(c->format, c->head_dim);
        break;
    }
    case KILN_BENCH_NORM: {
        static const char *const names[] = {"rows", "dim"};
        if ((s = check_dims(names, (int64_t[]){c->rows, c->dim}, 2))) return s;
        bytes = (double)c->rows * (double)c->dim * 4.0;
        break;
    }
    case KILN_BENCH_ROPE: {
        static const char *const names[] = {"q-len", "heads", "kv-heads", "head-dim", "block-size"};
        if ((s = check_dims(names, (int64_t[]){c->q_len, c->heads, c->kv_heads, c->head_dim, c->block_size}, 5)))
            return s;
        if ((s = check_blocks("head-dim", c->head_dim, c->format))) return s;
        bytes = (double)c->q_len * (double)(c->heads + 2 * c->kv_heads) * (double)c->head_dim * 4.0;
        break;
    }
    default: return fail(KILN_ERR_INVALID_ARG, "unknown op %d", (int)c->op);
    }
    double have = host_memory_bytes();
    if (have > 0 && bytes > have)
        return fail(KILN_ERR_OUT_OF_MEMORY, "this shape needs %.1f GiB of host memory for its data; the host has %.1f GiB",
                    bytes / (1 << 30), have / (1 << 30));
    return KILN_OK;
}

kiln_status kiln_bench_run(kiln_context *ctx, const kiln_bench_case *c, kiln_bench_result *r)
{
    kiln_status chk = kiln_bench_check(c);
    if (chk != KILN_OK) return chk;
    memset(r, 0, sizeof *r);
    bench_buffers bb = {.count = 0};
    kiln_status s;
    switch (c->op) {
    case KILN_BENCH_MATVEC:
    case KILN_BENCH_MATMUL: s = bench_matmul(ctx, c, r, &bb); break;
    case KILN_BENCH_FLASH_ATTN:
    case KILN_BENCH_PAGED_ATTN: s = bench_attention(ctx, c, r, &bb); break;
    case KILN_BENCH_NORM: s = bench_norm(ctx, c, r, &bb); break;
    case KILN_BENCH_ROPE: s = bench_rope(ctx, c, r, &bb); break;
    default: s = KILN_ERR_INVALID_ARG;
    }
    free_all(&bb);
    if (s == KILN_OK && r->median_us > 0) {
        r->gbps = r->bytes / (r->median_us * 1e-6) / 1e9;
        r->gflops = r->flops / (r->median_us * 1e-6) / 1e9;
    }
    return s;
}
