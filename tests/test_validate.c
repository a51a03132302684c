/* tests/test_validate.c — bad parameters are rejected by every entry point
 * with the right status, a message naming the problem, and no output touched.
 * Validation is shared by all backends (kernels/core/validate.c) and runs
 * before any spec is chosen, so one cpu context is enough here. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/core/backend.h"
#include "kernels/cpu/cpu_registry.h"
#include "kiln/kernel.h"
#include "support/harness.h"

/* Everything a test allocates is tracked and released by release_all (each
 * test's .fini), so the suite stays clean under LeakSanitizer. */
static kiln_context *contexts[64];
static kiln_buffer *buffers[1024];
static int n_contexts, n_buffers;

static kiln_buffer *track(kiln_buffer *b)
{
    cr_assert_lt(n_buffers, 1024, "test_validate: too many buffers");
    buffers[n_buffers++] = b;
    return b;
}

static void release_all(void)
{
    while (n_buffers) kiln_buffer_free(buffers[--n_buffers]);
    while (n_contexts) kiln_context_destroy(contexts[--n_contexts]);
}

static kiln_context *open_cpu(void)
{
    kiln_context *ctx = NULL;
    kiln_status st = kiln_context_create("cpu", NULL, &ctx);
    cr_assert_eq(st, KILN_OK, "kiln_context_create(cpu): %s", kiln_last_error());
    cr_assert_lt(n_contexts, 64, "test_validate: too many contexts");
    contexts[n_contexts++] = ctx;
    return ctx;
}

static kiln_buffer *alloc(kiln_context *ctx, size_t bytes)
{
    kiln_buffer *b = NULL;
    cr_assert_eq(kiln_buffer_alloc(ctx, bytes, &b), KILN_OK, "%s", kiln_last_error());
    return track(b);
}

static kiln_tensor tn(kiln_context *ctx, kiln_dtype dt, int ndim, const int64_t *ne)
{
    kiln_tensor t = kt_tensor(ctx, dt, ndim, ne, NULL);
    track(t.buf);
    return t;
}

static kiln_tensor t2(kiln_context *ctx, kiln_dtype dt, int64_t a, int64_t b)
{
    const int64_t ne[2] = {a, b};
    return tn(ctx, dt, 2, ne);
}

static kiln_tensor t1(kiln_context *ctx, kiln_dtype dt, int64_t a)
{
    return tn(ctx, dt, 1, &a);
}

/* Runs the op through its public entry point and expects a rejection whose
 * message contains each needle (NULL-terminated list), with out untouched. */
static void expect_rejected(kiln_context *ctx, kiln_op op, const void *params, kiln_status want,
                            kiln_buffer *const *outs, int n_outs, const char *needle1, const char *needle2)
{
    void *before[4] = {0};
    for (int i = 0; i < n_outs; i++) before[i] = kt_snapshot(outs[i]);
    kiln_clear_error();
    kiln_status st;
    switch (op) {
    case KILN_OP_MATMUL: st = kiln_matmul(ctx, params); break;
    case KILN_OP_FLASH_ATTN: st = kiln_flash_attn(ctx, params); break;
    case KILN_OP_PAGED_ATTN: st = kiln_paged_attn(ctx, params); break;
    case KILN_OP_ROPE: st = kiln_rope(ctx, params); break;
    default: st = kiln_norm(ctx, params); break;
    }
    const char *msg = kiln_last_error();
    cr_expect_eq(st, want, "%s: got status %s (%s), expected %s", kiln_op_name(op), kiln_status_name(st), msg, kiln_status_name(want));
    if (needle1) cr_expect(strstr(msg, needle1) != NULL, "%s: message '%s' should mention '%s'", kiln_op_name(op), msg, needle1);
    if (needle2) cr_expect(strstr(msg, needle2) != NULL, "%s: message '%s' should mention '%s'", kiln_op_name(op), msg, needle2);
    for (int i = 0; i < n_outs; i++) {
        void *after = kt_snapshot(outs[i]);
        cr_expect(memcmp(before[i], after, kiln_buffer_size(outs[i])) == 0, "%s: a rejected call wrote to output buffer %d",
                  kiln_op_name(op), i);
        free(after);
        free(before[i]);
    }
}

/* ---------------------------------------------------------------- matmul */

static kiln_tensor t3(kiln_context *ctx, kiln_dtype dt, int64_t a, int64_t b, int64_t c);

typedef struct mm {
    kiln_context *ctx;
    kiln_tensor x, w, w_up, bias, res, y;
    kiln_matmul_params p;
} mm;

/* A valid call: x f32 [3][64], w q4_0 [5][64], y f32 [3][5], all epilogues. */
static void mm_setup(mm *f)
{
    f->ctx = open_cpu();
    f->x = t2(f->ctx, KILN_F32, 3, 64);
    f->w = t2(f->ctx, KILN_Q4_0, 5, 64);
    f->w_up = t2(f->ctx, KILN_Q4_0, 5, 64);
    f->bias = t1(f->ctx, KILN_F32, 5);
    f->res = t2(f->ctx, KILN_F32, 3, 5);
    f->y = t2(f->ctx, KILN_F32, 3, 5);
    f->p = (kiln_matmul_params){.x = f->x, .w = f->w, .w_up = &f->w_up, .bias = &f->bias, .residual = &f->res, .y = f->y,
                                .epilogue = KILN_EPI_SWIGLU | KILN_EPI_BIAS | KILN_EPI_RESIDUAL};
}

static void mm_reject(mm *f, kiln_status want, const char *n1, const char *n2)
{
    kiln_buffer *outs[1] = {f->y.buf};
    expect_rejected(f->ctx, KILN_OP_MATMUL, &f->p, want, outs, 1, n1, n2);
}

Test(validate, matmul_valid_call_is_accepted, .fini = release_all)
{
    mm f;
    mm_setup(&f);
    kiln_status st = kiln_validate_params(f.ctx, KILN_OP_MATMUL, &f.p);
    cr_expect_eq(st, KILN_OK, "%s", kiln_last_error());
    f.p.epilogue = KILN_EPI_NONE;
    f.p.w_up = f.p.bias = f.p.residual = NULL;
    cr_expect_eq(kiln_validate_params(f.ctx, KILN_OP_MATMUL, &f.p), KILN_OK, "%s", kiln_last_error());
    /* residual may alias y exactly */
    f.p.epilogue = KILN_EPI_RESIDUAL;
    f.p.residual = &f.p.y;
    cr_expect_eq(kiln_validate_params(f.ctx, KILN_OP_MATMUL, &f.p), KILN_OK, "%s", kiln_last_error());
}

Test(validate, matmul_null_arguments, .fini = release_all)
{
    mm f;
    mm_setup(&f);
    cr_expect_eq(kiln_matmul(f.ctx, NULL), KILN_ERR_INVALID_ARG);
    cr_expect(strstr(kiln_last_error(), "params") != NULL, "%s", kiln_last_error());
    cr_expect_eq(kiln_matmul(NULL, &f.p), KILN_ERR_INVALID_ARG);
    cr_expect(strstr(kiln_last_error(), "ctx") != NULL, "%s", kiln_last_error());
    f.p.x.buf = NULL;
    mm_reject(&f, KILN_ERR_INVALID_ARG, "x", "buffer");
}

Test(validate, matmul_k_mismatch, .fini = release_all)
{
    mm f;
    mm_setup(&f);
    kiln_tensor x = t2(f.ctx, KILN_F32, 3, 172), w = t2(f.ctx, KILN_F16, 5, 176), wu = t2(f.ctx, KILN_F16, 5, 176);
    f.p.x = x;
    f.p.w = w;
    f.p.w_up = &wu;
    mm_reject(&f, KILN_ERR_SHAPE, "k=172", "k=176");
}

Test(validate, matmul_k_not_whole_blocks, .fini = release_all)
{
    mm f;
    mm_setup(&f);
    kiln_tensor x = t2(f.ctx, KILN_F32, 3, 48);
    kiln_tensor w = kiln_tensor_make(f.w.buf, 0, KILN_Q4_0, 2, (const int64_t[]){5, 48});
    f.p.x = x;
    f.p.w = w;
    mm_reject(&f, KILN_ERR_SHAPE, "48", "block");
}

Test(validate, matmul_y_shape_and_dtypes, .fini = release_all)
{
    mm f;
    mm_setup(&f);
    f.p.y = t2(f.ctx, KILN_F32, 3, 4);
    mm_reject(&f, KILN_ERR_SHAPE, "y", "m=5");
    mm_setup(&f);
    f.p.w.dtype = KILN_I32;
    mm_reject(&f, KILN_ERR_INVALID_ARG, "i32", "weight format");
    mm_setup(&f);
    f.p.x = t2(f.ctx, KILN_Q8_0, 3, 64);
    mm_reject(&f, KILN_ERR_INVALID_ARG, "x is q8_0", NULL);
    mm_setup(&f);
    f.p.y = t2(f.ctx, KILN_Q8_0, 3, 32);
    mm_reject(&f, KILN_ERR_INVALID_ARG, "y is q8_0", NULL);
}

Test(validate, matmul_tensor_layout, .fini = release_all)
{
    mm f;
    mm_setup(&f);
    f.p.x.ndim = 3;
    f.p.x.ne[2] = 1;
    mm_reject(&f, KILN_ERR_SHAPE, "ndim=3", NULL);
    mm_setup(&f);
    f.p.x.nb[1] = 8; /* innermost not contiguous */
    mm_reject(&f, KILN_ERR_SHAPE, "contiguous", NULL);
    mm_setup(&f);
    f.p.x.offset = 4; /* one float past the start: the last row now ends past the buffer */
    mm_reject(&f, KILN_ERR_SHAPE, "x spans", "768 bytes");
    mm_setup(&f);
    f.p.x.offset = 2; /* misaligned f32 */
    mm_reject(&f, KILN_ERR_SHAPE, "alignment", NULL);
    mm_setup(&f);
    f.p.x.nb[0] = 100; /* rows overlap */
    mm_reject(&f, KILN_ERR_SHAPE, "nb[0]=100", NULL);
    mm_setup(&f);
    f.p.x.ne[0] = 0;
    mm_reject(&f, KILN_ERR_SHAPE, "ne[0]=0", NULL);
}

/* Extents whose strides do not fit in int64 give stride -1, which validation
 * names; they never wrap into a small plausible stride (signed overflow). */
Test(validate, tensor_make_strides_never_wrap)
{
    kiln_tensor t = kiln_tensor_make(NULL, 0, KILN_F32, 4, (const int64_t[]){1 << 30, 1 << 30, 1 << 30, 64});
    cr_expect_eq(t.nb[3], 4);
    cr_expect_eq(t.nb[2], 256);
    cr_expect_eq(t.nb[1], 256LL << 30);
    cr_expect_eq(t.nb[0], -1, "nb[0]=%lld", (long long)t.nb[0]);
    cr_expect_eq(kiln_tensor_bytes(&t), 0);
    t = kiln_tensor_make(NULL, 0, KILN_F32, 3, (const int64_t[]){2, -3, 8});
    cr_expect_eq(t.nb[1], 32);
    cr_expect_eq(t.nb[0], -1, "a negative extent makes the outer strides invalid, nb[0]=%lld", (long long)t.nb[0]);
}

Test(validate, matmul_epilogue_tensors, .fini = release_all)
{
    mm f;
    mm_setup(&f);
    f.p.w_up = NULL;
    mm_reject(&f, KILN_ERR_INVALID_ARG, "SWIGLU", "w_up");
    mm_setup(&f);
    f.p.epilogue &= ~(unsigned)KILN_EPI_BIAS;
    mm_reject(&f, KILN_ERR_INVALID_ARG, "bias is set", NULL);
    mm_setup(&f);
    kiln_tensor wu = t2(f.ctx, KILN_Q4_0, 4, 64);
    f.p.w_up = &wu;
    mm_reject(&f, KILN_ERR_SHAPE, "w_up", "shape");
    mm_setup(&f);
    kiln_tensor wu8 = t2(f.ctx, KILN_Q8_0, 5, 64);
    f.p.w_up = &wu8;
    mm_reject(&f, KILN_ERR_INVALID_ARG, "w_up is q8_0", "w is q4_0");
    mm_setup(&f);
    kiln_tensor b16 = t1(f.ctx, KILN_F16, 5);
    f.p.bias = &b16;
    mm_reject(&f, KILN_ERR_INVALID_ARG, "bias is f16", NULL);
    mm_setup(&f);
    kiln_tensor b6 = t1(f.ctx, KILN_F32, 6);
    f.p.bias = &b6;
    mm_reject(&f, KILN_ERR_SHAPE, "bias has 6", "m=5");
    mm_setup(&f);
    kiln_tensor r16 = t2(f.ctx, KILN_F16, 3, 5);
    f.p.residual = &r16;
    mm_reject(&f, KILN_ERR_INVALID_ARG, "residual is f16", NULL);
    mm_setup(&f);
    f.p.epilogue |= 1u << 7;
    mm_reject(&f, KILN_ERR_INVALID_ARG, "unknown", NULL);
    /* gelu and scale (gen/epilogues.def): gelu excludes swiglu; scale is a
     * finite float, and 0 without the flag */
    mm_setup(&f);
    f.p.epilogue |= KILN_EPI_GELU;
    mm_reject(&f, KILN_ERR_INVALID_ARG, "swiglu and gelu", NULL);
    mm_setup(&f);
    f.p.scale = 2.0f;
    mm_reject(&f, KILN_ERR_INVALID_ARG, "scale is 2", "no SCALE");
    mm_setup(&f);
    f.p.epilogue |= KILN_EPI_SCALE;
    f.p.scale = INFINITY;
    mm_reject(&f, KILN_ERR_INVALID_ARG, "SCALE needs a finite scale", NULL);
    mm_setup(&f);
    f.p.epilogue = (f.p.epilogue & ~(unsigned)KILN_EPI_SWIGLU) | KILN_EPI_GELU | KILN_EPI_SCALE;
    f.p.w_up = NULL;
    f.p.scale = -0.5f;
    cr_expect_eq(kiln_validate_params(f.ctx, KILN_OP_MATMUL, &f.p), KILN_OK, "%s", kiln_last_error());
}

Test(validate, matmul_buffers_and_overlap, .fini = release_all)
{
    mm f;
    mm_setup(&f);
    kiln_context *other = open_cpu();
    const int64_t ne[2] = {3, 64};
    kiln_tensor xo = tn(other, KILN_F32, 2, ne);
    f.p.x = xo;
    mm_reject(&f, KILN_ERR_INVALID_ARG, "x", "another context");
    mm_setup(&f);
    /* y in the middle of x's buffer */
    kiln_tensor y = kiln_tensor_make(f.x.buf, 64, KILN_F32, 2, (const int64_t[]){3, 5});
    f.p.y = y;
    f.p.epilogue = KILN_EPI_NONE;
    f.p.w_up = f.p.bias = f.p.residual = NULL;
    kiln_buffer *outs[1] = {f.x.buf};
    expect_rejected(f.ctx, KILN_OP_MATMUL, &f.p, KILN_ERR_INVALID_ARG, outs, 1, "y", "overlaps x");
    /* a residual partially overlapping y */
    mm_setup(&f);
    kiln_tensor r = kiln_tensor_make(f.y.buf, 4, KILN_F32, 2, (const int64_t[]){3, 5});
    kiln_tensor y2 = kiln_tensor_make(f.y.buf, 0, KILN_F32, 2, (const int64_t[]){3, 5});
    kiln_buffer *big = alloc(f.ctx, 128);
    y2.buf = r.buf = big;
    f.p.y = y2;
    f.p.residual = &r;
    kiln_buffer *outs2[1] = {big};
    expect_rejected(f.ctx, KILN_OP_MATMUL, &f.p, KILN_ERR_INVALID_ARG, outs2, 1, "overlaps residual", "exactly");
}

Test(validate, kernel_run_validates_too, .fini = release_all)
{
    mm f;
    mm_setup(&f);
    f.p.y = t2(f.ctx, KILN_F32, 3, 4);
    kiln_spec spec = kiln_spec_default(KILN_OP_MATMUL, KILN_BACKEND_CPU, KILN_ISA_GENERIC, KILN_Q4_0);
    void *before = kt_snapshot(f.p.y.buf);
    kiln_status st = kiln_kernel_run(f.ctx, &spec, &f.p);
    /* either rejected by validation, or (if the spec itself is unusable here) by can_implement — never run */
    cr_expect_neq(st, KILN_OK);
    void *after = kt_snapshot(f.p.y.buf);
    cr_expect(memcmp(before, after, kiln_buffer_size(f.p.y.buf)) == 0);
    if (st == KILN_ERR_SHAPE) cr_expect(strstr(kiln_last_error(), "y") != NULL, "%s", kiln_last_error());
    free(before), free(after);
}

/* A built-in kernel of ctx's isa for op whose weight/KV format is not fmt. */
static kiln_spec builtin_other_format(kiln_context *ctx, kiln_op op, kiln_dtype fmt)
{
    for (size_t i = 0; i < kiln_cpu_kernel_count(); i++) {
        const kiln_spec *s = kiln_cpu_kernel_spec(i);
        if (s->op == op && s->isa == ctx->isa && s->fmt != fmt) return *s;
    }
    cr_assert_fail("no built-in %s kernel of another format than %s", kiln_op_name(op), kiln_dtype_get(fmt)->name);
    return (kiln_spec){0};
}

/* kiln_kernel_run with a runnable spec of another layout than the call's data
 * (a q8_0 kernel over q4_0 weights would read past them): rejected, untouched. */
Test(validate, kernel_run_rejects_a_spec_of_another_format, .fini = release_all)
{
    mm f;
    mm_setup(&f);
    kiln_spec good, bad = builtin_other_format(f.ctx, KILN_OP_MATMUL, KILN_Q4_0);
    cr_assert_eq(kiln_kernel_can_implement(f.ctx, &bad), KILN_OK, "%s", kiln_last_error());
    void *before = kt_snapshot(f.p.y.buf);
    cr_expect_eq(kiln_kernel_run(f.ctx, &bad, &f.p), KILN_ERR_INVALID_ARG);
    cr_expect(strstr(kiln_last_error(), "fmt=") && strstr(kiln_last_error(), "q4_0"), "%s", kiln_last_error());
    void *after = kt_snapshot(f.p.y.buf);
    cr_expect(memcmp(before, after, kiln_buffer_size(f.p.y.buf)) == 0, "y was written");
    free(before), free(after);
    cr_assert_eq(kiln_kernel_choose(f.ctx, KILN_OP_MATMUL, &f.p, &good), KILN_OK, "%s", kiln_last_error());
    cr_expect_eq(kiln_kernel_run(f.ctx, &good, &f.p), KILN_OK, "the right spec runs: %s", kiln_last_error());

    /* attention: a kernel for other K/V data */
    kiln_context *ctx = f.ctx;
    kiln_flash_attn_params fp = {.q = t3(ctx, KILN_F16, 4, 8, 64), .k = t3(ctx, KILN_F16, 6, 2, 64),
                                 .v = t3(ctx, KILN_F16, 6, 2, 64), .o = t3(ctx, KILN_F16, 4, 8, 64), .scale = 0.125f};
    kiln_spec fbad = builtin_other_format(ctx, KILN_OP_FLASH_ATTN, KILN_F16);
    cr_expect_eq(kiln_kernel_run(ctx, &fbad, &fp), KILN_ERR_INVALID_ARG, "flash_attn: %s", kiln_last_error());
    cr_expect(strstr(kiln_last_error(), "fmt="), "%s", kiln_last_error());
}

/* ---------------------------------------------------------------- flash attention */

typedef struct fa {
    kiln_context *ctx;
    kiln_flash_attn_params p;
} fa;

static kiln_tensor t3(kiln_context *ctx, kiln_dtype dt, int64_t a, int64_t b, int64_t c)
{
    const int64_t ne[3] = {a, b, c};
    return tn(ctx, dt, 3, ne);
}

/* q/o f16 [4][8][64], k/v f16 [6][2][64] */
static void fa_setup(fa *f)
{
    f->ctx = open_cpu();
    f->p = (kiln_flash_attn_params){.q = t3(f->ctx, KILN_F16, 4, 8, 64), .k = t3(f->ctx, KILN_F16, 6, 2, 64),
                                    .v = t3(f->ctx, KILN_F16, 6, 2, 64), .o = t3(f->ctx, KILN_F16, 4, 8, 64),
                                    .scale = 0.125f, .causal = 1, .q_pos0 = 2};
}

static void fa_reject(fa *f, kiln_status want, const char *n1, const char *n2)
{
    kiln_buffer *outs[1] = {f->p.o.buf};
    expect_rejected(f->ctx, KILN_OP_FLASH_ATTN, &f->p, want, outs, 1, n1, n2);
}

Test(validate, flash_attn, .fini = release_all)
{
    fa f;
    fa_setup(&f);
    cr_expect_eq(kiln_validate_params(f.ctx, KILN_OP_FLASH_ATTN, &f.p), KILN_OK, "%s", kiln_last_error());
    fa_setup(&f);
    f.p.k = t3(f.ctx, KILN_F16, 6, 3, 64);
    f.p.v = t3(f.ctx, KILN_F16, 6, 3, 64);
    fa_reject(&f, KILN_ERR_SHAPE, "n_head=8", "n_kv_head=3");
    fa_setup(&f);
    f.p.v = t3(f.ctx, KILN_F16, 6, 2, 80);
    fa_reject(&f, KILN_ERR_SHAPE, "head_dim", "80");
    fa_setup(&f);
    f.p.v = t3(f.ctx, KILN_BF16, 6, 2, 64);
    fa_reject(&f, KILN_ERR_INVALID_ARG, "k is f16", "v is bf16");
    fa_setup(&f);
    f.p.v = t3(f.ctx, KILN_F16, 5, 2, 64);
    fa_reject(&f, KILN_ERR_SHAPE, "v is [5]", NULL);
    fa_setup(&f);
    f.p.o = t3(f.ctx, KILN_F16, 4, 4, 64);
    fa_reject(&f, KILN_ERR_SHAPE, "o is [4][4]", NULL);
    fa_setup(&f);
    f.p.q_pos0 = -1;
    fa_reject(&f, KILN_ERR_INVALID_ARG, "q_pos0=-1", NULL);
    fa_setup(&f);
    f.p.scale = NAN;
    fa_reject(&f, KILN_ERR_INVALID_ARG, "scale", NULL);
    fa_setup(&f);
    f.p.q = t3(f.ctx, KILN_Q8_0, 4, 8, 64);
    fa_reject(&f, KILN_ERR_INVALID_ARG, "q is q8_0", NULL);
    fa_setup(&f);
    f.p.k.ndim = 2;
    fa_reject(&f, KILN_ERR_SHAPE, "k has ndim=2", NULL);
}

/* ---------------------------------------------------------------- paged attention */

typedef struct pa {
    kiln_context *ctx;
    kiln_paged_attn_params p;
    int32_t table[2][4], lens[2];
} pa;

static kiln_tensor t4(kiln_context *ctx, kiln_dtype dt, int64_t a, int64_t b, int64_t c, int64_t d)
{
    const int64_t ne[4] = {a, b, c, d};
    return tn(ctx, dt, 4, ne);
}

static void pa_upload_tables(pa *f)
{
    cr_assert_eq(kiln_buffer_upload(f->p.block_table.buf, 0, f->table, sizeof f->table), KILN_OK);
    cr_assert_eq(kiln_buffer_upload(f->p.seq_lens.buf, 0, f->lens, sizeof f->lens), KILN_OK);
}

/* 2 sequences, q/o f32 [2][4][64], caches q8_0 [6 blocks][16][2][64], 4 blocks per sequence */
static void pa_setup(pa *f, kiln_dtype kv, int64_t bs, int64_t hd)
{
    f->ctx = open_cpu();
    const int32_t table[2][4] = {{5, 1, 0, 0}, {2, 3, 4, 0}}, lens[2] = {20, 40};
    memcpy(f->table, table, sizeof table);
    memcpy(f->lens, lens, sizeof lens);
    f->p = (kiln_paged_attn_params){.q = t3(f->ctx, KILN_F32, 2, 4, hd), .o = t3(f->ctx, KILN_F32, 2, 4, hd),
                                    .k_cache = t4(f->ctx, kv, 6, bs, 2, hd), .v_cache = t4(f->ctx, kv, 6, bs, 2, hd),
                                    .block_table = t2(f->ctx, KILN_I32, 2, 4), .seq_lens = t1(f->ctx, KILN_I32, 2),
                                    .scale = 0.125f};
    pa_upload_tables(f);
}

static void pa_reject(pa *f, kiln_status want, const char *n1, const char *n2)
{
    kiln_buffer *outs[1] = {f->p.o.buf};
    expect_rejected(f->ctx, KILN_OP_PAGED_ATTN, &f->p, want, outs, 1, n1, n2);
}

Test(validate, paged_attn, .fini = release_all)
{
    pa f;
    pa_setup(&f, KILN_Q8_0, 16, 64);
    cr_expect_eq(kiln_validate_params(f.ctx, KILN_OP_PAGED_ATTN, &f.p), KILN_OK, "%s", kiln_last_error());
    const int64_t bad_bs[] = {4, 12, 256};
    for (int i = 0; i < 3; i++) {
        pa_setup(&f, KILN_F16, bad_bs[i], 64);
        pa_reject(&f, KILN_ERR_SHAPE, "block_size", "power of two");
    }
    pa_setup(&f, KILN_F16, 16, 48); /* f16 is fine with head_dim 48 ... */
    cr_expect_eq(kiln_validate_params(f.ctx, KILN_OP_PAGED_ATTN, &f.p), KILN_OK, "%s", kiln_last_error());
    f.p.k_cache = t4(f.ctx, KILN_Q8_0, 6, 16, 2, 64); /* ... q8_0 is not */
    f.p.v_cache = f.p.k_cache;
    f.p.k_cache.dtype = f.p.v_cache.dtype = KILN_Q8_0;
    f.p.k_cache.ne[3] = f.p.v_cache.ne[3] = 48;
    pa_reject(&f, KILN_ERR_SHAPE, "head_dim % 32", "48");
    pa_setup(&f, KILN_BF16, 16, 64);
    pa_reject(&f, KILN_ERR_INVALID_ARG, "k_cache is bf16", NULL);
    pa_setup(&f, KILN_F32, 16, 64);
    f.p.v_cache = t4(f.ctx, KILN_F16, 6, 16, 2, 64);
    pa_reject(&f, KILN_ERR_INVALID_ARG, "v_cache is f16", NULL);
    pa_setup(&f, KILN_F32, 16, 64);
    f.p.block_table.dtype = KILN_F32;
    pa_reject(&f, KILN_ERR_INVALID_ARG, "block_table is f32", NULL);
    pa_setup(&f, KILN_F32, 16, 64);
    f.p.seq_lens = t1(f.ctx, KILN_I32, 3);
    pa_reject(&f, KILN_ERR_SHAPE, "n_seq=2", NULL);
    pa_setup(&f, KILN_F32, 16, 64);
    f.lens[1] = 0;
    pa_upload_tables(&f);
    pa_reject(&f, KILN_ERR_SHAPE, "seq_lens[1]=0", NULL);
    pa_setup(&f, KILN_F32, 16, 64);
    f.lens[0] = 65; /* 4 blocks of 16 hold 64 */
    pa_upload_tables(&f);
    pa_reject(&f, KILN_ERR_SHAPE, "seq_lens[0]=65", "64");
    pa_setup(&f, KILN_F32, 16, 64);
    f.table[1][2] = 6; /* the cache has blocks 0..5 */
    pa_upload_tables(&f);
    pa_reject(&f, KILN_ERR_SHAPE, "block_table[1][2]=6", NULL);
    pa_setup(&f, KILN_F32, 16, 64);
    f.p.k_cache = t4(f.ctx, KILN_F32, 6, 16, 3, 64);
    f.p.v_cache = t4(f.ctx, KILN_F32, 6, 16, 3, 64);
    pa_reject(&f, KILN_ERR_SHAPE, "n_kv_head=3", NULL);
}

/* ---------------------------------------------------------------- norm */

typedef struct nm {
    kiln_context *ctx;
    kiln_tensor w, b, res, sum;
    kiln_norm_params p;
} nm;

static void nm_setup(nm *f)
{
    f->ctx = open_cpu();
    f->w = t1(f->ctx, KILN_F32, 172);
    f->b = t1(f->ctx, KILN_F32, 172);
    f->res = t2(f->ctx, KILN_F16, 5, 172);
    f->sum = t2(f->ctx, KILN_F16, 5, 172);
    f->p = (kiln_norm_params){.kind = KILN_NORM_LAYER, .x = t2(f->ctx, KILN_F16, 5, 172), .residual = &f->res,
                              .weight = &f->w, .bias = &f->b, .sum_out = &f->sum, .y = t2(f->ctx, KILN_F16, 5, 172),
                              .eps = 1e-5f};
}

static void nm_reject(nm *f, kiln_status want, const char *n1, const char *n2)
{
    kiln_buffer *outs[2] = {f->p.y.buf, f->sum.buf};
    expect_rejected(f->ctx, KILN_OP_NORM, &f->p, want, outs, 2, n1, n2);
}

Test(validate, norm, .fini = release_all)
{
    nm f;
    nm_setup(&f);
    cr_expect_eq(kiln_validate_params(f.ctx, KILN_OP_NORM, &f.p), KILN_OK, "%s", kiln_last_error());
    f.p.y = f.p.x; /* y may alias x; sum_out may alias the residual */
    f.p.sum_out = f.p.residual;
    cr_expect_eq(kiln_validate_params(f.ctx, KILN_OP_NORM, &f.p), KILN_OK, "%s", kiln_last_error());
    nm_setup(&f);
    f.p.eps = 0;
    nm_reject(&f, KILN_ERR_INVALID_ARG, "eps", NULL);
    nm_setup(&f);
    f.p.eps = INFINITY;
    nm_reject(&f, KILN_ERR_INVALID_ARG, "eps", NULL);
    nm_setup(&f);
    f.p.kind = KILN_NORM_RMS;
    nm_reject(&f, KILN_ERR_INVALID_ARG, "bias", "LAYER");
    nm_setup(&f);
    f.p.kind = (kiln_norm_kind)7;
    nm_reject(&f, KILN_ERR_INVALID_ARG, "kind=7", NULL);
    nm_setup(&f);
    kiln_tensor w = t1(f.ctx, KILN_F32, 171);
    f.p.weight = &w;
    nm_reject(&f, KILN_ERR_SHAPE, "weight has 171", "dim=172");
    nm_setup(&f);
    kiln_tensor w16 = t1(f.ctx, KILN_F16, 172);
    f.p.weight = &w16;
    nm_reject(&f, KILN_ERR_INVALID_ARG, "weight is f16", NULL);
    nm_setup(&f);
    kiln_tensor r = t2(f.ctx, KILN_F16, 4, 172);
    f.p.residual = &r;
    nm_reject(&f, KILN_ERR_SHAPE, "residual", "[4][172]");
    nm_setup(&f);
    f.p.y = t2(f.ctx, KILN_F32, 5, 172);
    nm_reject(&f, KILN_ERR_INVALID_ARG, "y is f32", "x is f16");
    nm_setup(&f);
    kiln_buffer *big = alloc(f.ctx, 2 * 1720);
    kiln_tensor y = kiln_tensor_make(big, 0, KILN_F16, 2, (const int64_t[]){5, 172});
    kiln_tensor s = kiln_tensor_make(big, 344, KILN_F16, 2, (const int64_t[]){5, 172}); /* starts at y's row 1 */
    f.p.y = y;
    f.p.sum_out = &s;
    kiln_buffer *outs[1] = {big};
    expect_rejected(f.ctx, KILN_OP_NORM, &f.p, KILN_ERR_INVALID_ARG, outs, 1, "sum_out", "overlaps y");
    nm_setup(&f);
    f.p.x = t2(f.ctx, KILN_Q4_0, 5, 32);
    nm_reject(&f, KILN_ERR_INVALID_ARG, "x is q4_0", NULL);
}

/* ---------------------------------------------------------------- rope */

typedef struct rp {
    kiln_context *ctx;
    kiln_tensor v, kc, vc, slots;
    kiln_rope_params p;
} rp;

static kiln_tensor i32_values(kiln_context *ctx, const int32_t *v, int64_t n)
{
    kiln_tensor t = t1(ctx, KILN_I32, n);
    cr_assert_eq(kiln_buffer_upload(t.buf, t.offset, v, (size_t)n * 4), KILN_OK);
    return t;
}

/* q f32 [3][4][64], k f32 [3][2][64], positions {0,1,2}; append to f16 caches
 * [4 blocks][8][2][64] at slots {0,1,2}. */
static void rp_setup(rp *f)
{
    f->ctx = open_cpu();
    kiln_context *c = f->ctx;
    f->v = t3(c, KILN_F32, 3, 2, 64);
    f->kc = t4(c, KILN_F16, 4, 8, 2, 64);
    f->vc = t4(c, KILN_F16, 4, 8, 2, 64);
    f->slots = i32_values(c, (const int32_t[]){0, 1, 2}, 3);
    f->p = (kiln_rope_params){.q = t3(c, KILN_F32, 3, 4, 64), .k = t3(c, KILN_F32, 3, 2, 64),
                              .positions = i32_values(c, (const int32_t[]){0, 1, 2}, 3), .rope_dim = 64,
                              .theta = 10000.0f, .freq_scale = 1.0f, .v = &f->v, .k_cache = &f->kc,
                              .v_cache = &f->vc, .slots = &f->slots};
}

static void rp_reject(rp *f, kiln_status want, const char *n1, const char *n2)
{
    kiln_buffer *outs[4] = {f->p.q.buf, f->p.k.buf, f->kc.buf, f->vc.buf};
    expect_rejected(f->ctx, KILN_OP_ROPE, &f->p, want, outs, 4, n1, n2);
}

Test(validate, rope, .fini = release_all)
{
    rp f;
    rp_setup(&f);
    cr_assert_eq(kiln_rope(f.ctx, &f.p), KILN_OK, "the valid call: %s", kiln_last_error());
    cr_expect_eq(kiln_rope(NULL, &f.p), KILN_ERR_INVALID_ARG);
    cr_expect_eq(kiln_rope(f.ctx, NULL), KILN_ERR_INVALID_ARG);

    rp_setup(&f), f.p.q = t3(f.ctx, KILN_F16, 3, 4, 64), rp_reject(&f, KILN_ERR_INVALID_ARG, "q", "f32");
    rp_setup(&f), f.p.positions = t1(f.ctx, KILN_F32, 3), rp_reject(&f, KILN_ERR_INVALID_ARG, "positions", "i32");
    rp_setup(&f), f.p.positions = t1(f.ctx, KILN_I32, 2), rp_reject(&f, KILN_ERR_SHAPE, "positions", "2 entries");
    rp_setup(&f), f.p.k = t3(f.ctx, KILN_F32, 3, 3, 64), rp_reject(&f, KILN_ERR_SHAPE, NULL, NULL); /* 4 heads over 3 */
    rp_setup(&f), f.p.rope_dim = 63, rp_reject(&f, KILN_ERR_INVALID_ARG, "rope_dim", NULL);
    rp_setup(&f), f.p.rope_dim = 66, rp_reject(&f, KILN_ERR_INVALID_ARG, "rope_dim", "head_dim");
    rp_setup(&f), f.p.theta = NAN, rp_reject(&f, KILN_ERR_INVALID_ARG, "theta", NULL);
    rp_setup(&f), f.p.freq_scale = INFINITY, rp_reject(&f, KILN_ERR_INVALID_ARG, "freq_scale", NULL);
    rp_setup(&f), f.p.neox = 2, rp_reject(&f, KILN_ERR_INVALID_ARG, "neox", NULL);
    /* aliasing: k written in place over q's bytes */
    rp_setup(&f), f.p.k = kiln_tensor_make(f.p.q.buf, 0, KILN_F32, 3, (int64_t[]){3, 2, 64}),
        rp_reject(&f, KILN_ERR_INVALID_ARG, "overlaps", NULL);
    /* the KV append: all four or none, matching caches, slots in range */
    rp_setup(&f), f.p.slots = NULL, rp_reject(&f, KILN_ERR_INVALID_ARG, "missing", "slots");
    rp_setup(&f), f.kc = t4(f.ctx, KILN_Q4_0, 4, 8, 2, 64), f.vc = t4(f.ctx, KILN_Q4_0, 4, 8, 2, 64),
        rp_reject(&f, KILN_ERR_INVALID_ARG, "k_cache", "q4_0");
    rp_setup(&f), f.vc = t4(f.ctx, KILN_F32, 4, 8, 2, 64), rp_reject(&f, KILN_ERR_INVALID_ARG, "v_cache", "f32");
    rp_setup(&f), f.kc = t4(f.ctx, KILN_F16, 4, 12, 2, 64), f.vc = t4(f.ctx, KILN_F16, 4, 12, 2, 64),
        rp_reject(&f, KILN_ERR_SHAPE, "block_size", NULL);
    rp_setup(&f), f.slots = i32_values(f.ctx, (const int32_t[]){0, 1, 32}, 3), rp_reject(&f, KILN_ERR_SHAPE, "slots[2]", "32");
    rp_setup(&f), f.vc = kiln_tensor_make(f.kc.buf, 0, KILN_F16, 4, (int64_t[]){4, 8, 2, 64}),
        rp_reject(&f, KILN_ERR_INVALID_ARG, "overlaps", "k_cache");
}
