/* kernels/cpu/templates/matmul.c — dequant-matmul y[n][m] = x[n][k] · W[m][k]ᵀ
 * (+ epilogue) for the cpu, one instance per ISA and weight format.
 *
 * Three paths, chosen at generation time by the format and ISA:
 * - integer: formats whose dot product GGUF engines do in int8 (q4_0, q4_1,
 *   q5_0, q5_1, q8_0 with q8_0 activations; q4_K, q5_K, q6_K with q8_K-style activations) on
 *   AVX2/AVX-512. The PREPARE phase quantizes x into args->scratch; RUN
 *   multiplies int8 blocks with maddubs/madd and applies the per-block scales
 *   in f32 (kernels/cpu/templates/matmul_int8.c).
 * - f16 (AVX2/AVX-512): f16 rows converted in registers with F16C, FMA with
 *   f32 activations (kernels/cpu/templates/matmul_f16.c).
 * - generic: every other format (and every format on the generic ISA):
 *   dequantize a tile of W rows to f32 with the shared element-wise
 *   kiln_dequant (gen/math/dequant.h; F16C for f16), then f32 dots.
 * All paths share the driver below: rows of W are split over the tasks in
 * tiles of MM_RM rows, columns (tokens) are walked in blocks that keep their
 * activations in L2, and the epilogue (flags chosen at run time, see
 * docs/CPU.md) is applied per output element.
 *
 * The spec's tiles that mean something here (the autotuner's cpu axes,
 * gen/space.c; the manifest compiles the variants in, gen/manifest_cpu.c):
 *   tn     columns (tokens) per L2 block when n > 1 (MM_NB): the W rows of a
 *          task stream once per block, so longer blocks re-read W less but
 *          need more activations resident.
 *   split  work chunks per task. 1: each task takes one contiguous range of
 *          row tiles (static, no shared state). s > 1: every column block is
 *          cut into ntasks * s chunks of row tiles, claimed in order through
 *          a shared counter, so a task on a core that is busy with other work
 *          takes fewer (dynamic).
 * tm (4: the row micro-tile the int8 and f16 kernels are written for), tk,
 * vec and stages are fixed on the cpu. */
#pragma kiln include "kernels/cpu/templates/cpu_abi.h"
#pragma kiln include "kernels/cpu/templates/cpu_simd.h"

/* Which formats take the integer path, and with which activation blocks, is
 * formats/formats.def's (KILN_FMT_FAST, KILN_FMT_ACT_*, emitted by gen/emit.c). */
#if KILN_SIMD_AVX2 && KILN_FMT_FAST && defined(KILN_FMT_ACT_Q8_0)
#define MM_PATH_Q8_0 1
#elif KILN_SIMD_AVX2 && KILN_FMT_FAST && defined(KILN_FMT_ACT_Q8_K)
#define MM_PATH_Q8_K 1
#endif
#ifndef MM_PATH_Q8_0
#define MM_PATH_Q8_0 0
#endif
#ifndef MM_PATH_Q8_K
#define MM_PATH_Q8_K 0
#endif
#define MM_PATH_INT8 (MM_PATH_Q8_0 || MM_PATH_Q8_K)
/* f16 weights on AVX2: converted in registers (F16C) right before the FMAs,
 * never written out as f32 rows. */
#if KILN_SIMD_AVX2 && defined(KILN_FMT_F16)
#define MM_PATH_F16 1
#else
#define MM_PATH_F16 0
#endif
/* Paths whose tile kernels read W directly (no dequantized row tile). */
#define MM_PATH_DIRECT (MM_PATH_INT8 || MM_PATH_F16)

/* Rows of W per tile (MM_RM) and columns per micro-tile (MM_RN). */
#if MM_PATH_DIRECT
#define MM_RM 4
#define MM_RN 1
#define MM_RM_WIDE 4 /* n > 1: 4 rows x 2 columns reuse both operands */
#define MM_RN_WIDE 2
#else
#define MM_RM 4
#define MM_RN 4
#endif
/* Columns per L2 block: the spec's tn. The manifest's defaults are 16 for the
 * direct paths (16 tokens of int8 / f32 activations stay in L2) and 256 for
 * the generic one (its row tile is dequantized once per block: long blocks). */
#define MM_NB KILN_TN
/* Work chunks per task: the spec's split (see the header). */
#define MM_SPLIT KILN_SPLIT
#if MM_NB < 1 || MM_SPLIT < 1
#error "cpu matmul: tn and split must be positive (kiln_spec_validate)"
#endif

/* Bytes of one activation row as the integer path stores it. */
#if MM_PATH_Q8_0
#define MM_XQ_BLOCK 32
#define MM_XQ_BYTES ((int64_t)sizeof(kiln_cpu_q8_0))
#elif MM_PATH_Q8_K
#define MM_XQ_BLOCK 256
#define MM_XQ_BYTES ((int64_t)sizeof(kiln_cpu_q8_k))
#endif

#pragma kiln include "kernels/cpu/templates/matmul_int8.c"
#pragma kiln include "kernels/cpu/templates/matmul_panel.c"
#pragma kiln include "kernels/cpu/templates/matmul_f16.c"
#pragma kiln include "kernels/cpu/templates/matmul_generic.c"

#if MM_PANELS
/* n >= MM_PANEL_MIN_N: the formats of matmul_panel.c run 8-row panels. Below it, expanding a chunk of weights costs more than
 * the 4x2 micro-tile loses (m = 4096, k = 14336, q8_0 at n = 2: 2.6 ms
 * against 1.8; at n = 3 the panels win, as the micro-tile reads W twice). */
#define MM_PANEL_MIN_N 3
static inline int mm_use_panels(const kiln_cpu_matmul_args *a) { return a->n >= MM_PANEL_MIN_N; }
#endif

/* Rows of W per tile: 8-row panels, the wide micro-tile's rows when n > 1,
 * else MM_RM. */
static inline int mm_rows_per_tile(const kiln_cpu_matmul_args *a)
{
#if MM_PANELS
    if (mm_use_panels(a)) return MM_PANEL_ROWS;
#endif
#if MM_PATH_DIRECT
    if (a->n > 1) return MM_RM_WIDE;
#endif
    (void)a;
    return MM_RM;
}

/* One output element through the epilogue: common.h's kiln_epilogue_apply
 * with the flags chosen at run time. acc_up is only read with swiglu. */
static inline float mm_epilogue(const kiln_cpu_matmul_args *a, int64_t row, int64_t col, float acc, float acc_up)
{
    unsigned e = a->epilogue;
    float b = (e & KILN_EPI_BIT_BIAS) ? a->bias[row] : 0.0f;
    float r = (e & KILN_EPI_BIT_RESIDUAL) ? a->residual[col * a->res_stride + row] : 0.0f;
    return kiln_epilogue_apply(e, acc, acc_up, b, a->scale, r);
}

/* The chunk counter of split > 1: the last cache line of the shared scratch.
 * cpu_run.c sizes that scratch at n * (2k + 512) bytes, far more than the
 * quantized activation rows at its start ever take. Task 0 zeroes it in
 * PREPARE, and the pool finishes every task of a phase before the next. */
static inline int64_t *mm_chunk_counter(const kiln_cpu_matmul_args *a)
{
    uintptr_t end = (uintptr_t)a->scratch + a->scratch_bytes;
    return (int64_t *)((end - 64) & ~(uintptr_t)63);
}

static void mm_prepare(const kiln_cpu_matmul_args *a, int task, int ntasks)
{
    if (MM_SPLIT > 1 && task == 0) __atomic_store_n(mm_chunk_counter(a), 0, __ATOMIC_RELAXED);
#if MM_PATH_INT8
    int64_t r0, r1;
    kiln_cpu_task_range(a->n, task, ntasks, &r0, &r1);
    for (int64_t r = r0; r < r1; r++) mm_quantize_row(a, r);
#else
    (void)a;
    (void)task;
    (void)ntasks;
#endif
}

/* y for rows row0.. (nrows) x columns col0.. (ncols) through the epilogue,
 * from dots/ups with element (r, c) at r * rs + c * cs. */
static void mm_store(const kiln_cpu_matmul_args *a, int64_t row0, int nrows, int64_t col0, int ncols,
                     const float *dots, const float *ups, int rs, int cs)
{
    int swiglu = (a->epilogue & KILN_EPI_BIT_SWIGLU) != 0;
    for (int c = 0; c < ncols; c++)
        for (int r = 0; r < nrows; r++) {
            float up = swiglu ? ups[r * rs + c * cs] : 0.0f;
            a->y[(col0 + c) * a->y_stride + row0 + r] = mm_epilogue(a, row0 + r, col0 + c, dots[r * rs + c * cs], up);
        }
}

/* mm_store for the tiles of mm_block: the epilogues of most of a decode step
 * (none: q, k, v, logits; residual: attention out, FFN down) without a call
 * and flag tests per element, which cost ~30 instructions an output
 * (callgrind: 5 % of a SmolLM2 decode step's). Others go to mm_store. The
 * residual may be y itself: each element is read before it is written. */
static void mm_store_tile(const kiln_cpu_matmul_args *a, int64_t row0, int nrows, int64_t col0, int ncols,
                          const float *dots, const float *ups, int rs)
{
    if (a->epilogue & ~2u) {
        mm_store(a, row0, nrows, col0, ncols, dots, ups, rs, 1);
        return;
    }
    for (int c = 0; c < ncols; c++) {
        float *y = a->y + (col0 + c) * a->y_stride + row0;
        const float *d = dots + c;
        if (a->epilogue) {
            const float *res = a->residual + (col0 + c) * a->res_stride + row0;
            for (int r = 0; r < nrows; r++) y[r] = d[r * rs] + res[r];
        } else {
            for (int r = 0; r < nrows; r++) y[r] = d[r * rs];
        }
    }
}

#if MM_PANELS
/* n >= MM_PANEL_MIN_N: 8-row panels x the whole column block (matmul_panel.c). */
static void mm_block_panels(const kiln_cpu_matmul_args *a, int task, int64_t nb, int64_t t0, int64_t t1)
{
    uint8_t *pack = a->thread_scratch + (size_t)task * a->thread_scratch_bytes;
    float *dots = (float *)(pack + (size_t)MM_KC * MM_PACK_BYTES), *ups = dots + 8 * MM_NB;
    int ncols = (int)(nb + MM_NB < a->n ? MM_NB : a->n - nb);
    for (int64_t t = t0; t < t1; t++) {
        int64_t row0 = t * MM_PANEL_ROWS;
        int nrows = (int)(a->m - row0 < MM_PANEL_ROWS ? a->m - row0 : MM_PANEL_ROWS);
        mm_panel(a, a->w, row0, nrows, nb, ncols, pack, dots);
        if (a->epilogue & KILN_EPI_BIT_SWIGLU) mm_panel(a, a->w_up, row0, nrows, nb, ncols, pack, ups);
        mm_store(a, row0, nrows, nb, ncols, dots, ups, 1, 8);
    }
}
#endif

/* Row tiles [t0, t1) x columns [nb, nb + MM_NB) of the output. */
static void mm_block(const kiln_cpu_matmul_args *a, int task, int64_t nb, int64_t t0, int64_t t1)
{
#if MM_PANELS
    if (mm_use_panels(a)) {
        mm_block_panels(a, task, nb, t0, t1);
        return;
    }
#endif
    int swiglu = (a->epilogue & KILN_EPI_BIT_SWIGLU) != 0;
#if MM_PATH_DIRECT
    int wide = a->n > 1;
    int rm = mm_rows_per_tile(a), rn = wide ? MM_RN_WIDE : MM_RN;
#else
    int rm = MM_RM, rn = MM_RN;
    float *rows = (float *)(a->thread_scratch + (size_t)task * a->thread_scratch_bytes); /* MM_RM rows of w, then of w_up */
    float *rows_up = rows + (size_t)MM_RM * (size_t)a->k;
#endif
    (void)task;
    float dots[MM_RM * MM_RN > 8 ? MM_RM * MM_RN : 8], ups[MM_RM * MM_RN > 8 ? MM_RM * MM_RN : 8];
    int64_t nb_end = nb + MM_NB < a->n ? nb + MM_NB : a->n;
    for (int64_t t = t0; t < t1; t++) {
        int64_t row0 = t * rm;
        int nrows = (int)(a->m - row0 < rm ? a->m - row0 : rm);
#if !MM_PATH_DIRECT
        mm_dequant_rows(a, a->w, row0, nrows, rows);
        if (swiglu) mm_dequant_rows(a, a->w_up, row0, nrows, rows_up);
#endif
        for (int64_t col0 = nb; col0 < nb_end; col0 += rn) {
            int ncols = (int)(nb_end - col0 < rn ? nb_end - col0 : rn);
#if MM_PATH_INT8
            mm_int8_tile(a, a->w, row0, nrows, col0, ncols, wide, dots);
            if (swiglu) mm_int8_tile(a, a->w_up, row0, nrows, col0, ncols, wide, ups);
#elif MM_PATH_F16
            mm_f16_tile(a, a->w, row0, nrows, col0, ncols, wide ? MM_RN_WIDE : MM_RN, dots);
            if (swiglu) mm_f16_tile(a, a->w_up, row0, nrows, col0, ncols, wide ? MM_RN_WIDE : MM_RN, ups);
#else
            mm_f32_tile(a, rows, nrows, col0, ncols, dots);
            if (swiglu) mm_f32_tile(a, rows_up, nrows, col0, ncols, ups);
#endif
            mm_store_tile(a, row0, nrows, col0, ncols, dots, ups, rn);
        }
    }
}

static void mm_run(const kiln_cpu_matmul_args *a, int task, int ntasks)
{
    int rm = mm_rows_per_tile(a);
    int64_t tiles = (a->m + rm - 1) / rm, t0, t1;
#if MM_SPLIT == 1
    kiln_cpu_task_range(tiles, task, ntasks, &t0, &t1);
    for (int64_t nb = 0; nb < a->n; nb += MM_NB) mm_block(a, task, nb, t0, t1);
#else
    /* chunk c is column block c / chunks, row chunk c % chunks: tasks move
     * through the column blocks together, so a block's activations are shared
     * in cache while it is worked on */
    int64_t chunks = (int64_t)ntasks * MM_SPLIT, blocks = (a->n + MM_NB - 1) / MM_NB;
    if (chunks > tiles) chunks = tiles;
    int64_t *next = mm_chunk_counter(a);
    for (int64_t c; (c = __atomic_fetch_add(next, 1, __ATOMIC_RELAXED)) < blocks * chunks;) {
        kiln_cpu_task_range(tiles, (int)(c % chunks), (int)chunks, &t0, &t1);
        mm_block(a, task, c / chunks * MM_NB, t0, t1);
    }
#endif
}

void KILN_ENTRY(const void *args, int phase, int task, int ntasks)
{
    const kiln_cpu_matmul_args *a = (const kiln_cpu_matmul_args *)args;
    if (phase == KILN_CPU_PHASE_PREPARE)
        mm_prepare(a, task, ntasks);
    else
        mm_run(a, task, ntasks);
}
