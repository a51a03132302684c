/* gen/spec_validate.c — which specs make sense, and a valid default per op.
 *
 * The rules are the contract templates rely on: a template may assume that
 * every spec reaching it passed kiln_spec_validate (tk a whole number of
 * format blocks, threads whole warps, unused tiles 0, ...). Each rule fails
 * with a message naming the field, the value and what would be accepted. */
#include <stdio.h>
#include <string.h>

#include "gen/space.h"
#include "gen/spec_fields.h"
#include "kiln/error.h"
#include "kiln/spec.h"

#define TILE_MAX 4096
#define THREADS_MAX 1024
#define WARP 32

static int is_float_type(kiln_dtype t) { return t == KILN_F32 || t == KILN_F16 || t == KILN_BF16; }
static int is_pow2(int v) { return v > 0 && (v & (v - 1)) == 0; }
static const char *dtype_name(kiln_dtype t) { return kiln_dtype_get(t)->name; }

/* Which tile fields an op uses (by key), and which of those may still be 0. */
typedef struct op_tiles {
    const char *used;
    const char *zero_ok; /* 0 means "choose at run time" */
} op_tiles;

static const op_tiles tiles_of[KILN_OP_COUNT] = {
    [KILN_OP_MATMUL] = {" tm tn tk threads stages vec split ", ""},
    [KILN_OP_FLASH_ATTN] = {" tm tn threads stages ", ""},
    [KILN_OP_PAGED_ATTN] = {" tn threads split ", " split "},
    [KILN_OP_NORM] = {" threads vec ", ""},
    [KILN_OP_ROPE] = {" threads ", ""},
};

static int word_in(const char *list, const char *word)
{
    char w[32];
    snprintf(w, sizeof w, " %s ", word);
    return strstr(list, w) != NULL;
}

static kiln_status check_enums(const kiln_spec *s)
{
    if ((unsigned)s->op >= KILN_OP_COUNT) return kiln_fail(KILN_ERR_INVALID_ARG, "op %d out of range", (int)s->op);
    if ((unsigned)s->backend >= KILN_BACKEND_COUNT)
        return kiln_fail(KILN_ERR_INVALID_ARG, "backend %d out of range", (int)s->backend);
    if ((unsigned)s->isa >= KILN_ISA_COUNT) return kiln_fail(KILN_ERR_INVALID_ARG, "isa %d out of range", (int)s->isa);
    for (size_t i = 0; i < kiln_spec_field_count; i++) {
        const kiln_spec_field *f = &kiln_spec_fields[i];
        if (f->kind == KILN_FIELD_DTYPE && !kiln_dtype_get((kiln_dtype)kiln_field_get(s, f)))
            return kiln_fail(KILN_ERR_INVALID_ARG, "%s: type %d out of range", f->key, kiln_field_get(s, f));
    }
    return KILN_OK;
}

static kiln_status check_backend(const kiln_spec *s)
{
    if (s->backend == KILN_BACKEND_CPU && s->isa == KILN_ISA_NONE)
        return kiln_fail(KILN_ERR_INVALID_ARG, "backend=cpu needs an isa: cpu-generic, cpu-avx2 or cpu-avx512");
    if (s->backend != KILN_BACKEND_CPU && s->isa != KILN_ISA_NONE)
        return kiln_fail(KILN_ERR_INVALID_ARG, "isa %s is for backend=cpu only, not %s", kiln_isa_name(s->isa),
                         kiln_gen_backend_name(s->backend));
    return KILN_OK;
}

static kiln_status check_types(const kiln_spec *s)
{
    const char *op = kiln_op_name(s->op);
    if (!is_float_type(s->act))
        return kiln_fail(KILN_ERR_INVALID_ARG, "act=%s: activations are f32, f16 or bf16", dtype_name(s->act));
    if (!is_float_type(s->out))
        return kiln_fail(KILN_ERR_INVALID_ARG, "out=%s: outputs are f32, f16 or bf16", dtype_name(s->out));
    int attention = s->op == KILN_OP_FLASH_ATTN || s->op == KILN_OP_PAGED_ATTN;
    int acc_ok = s->acc == KILN_F32 || (s->acc == KILN_F16 && attention && s->backend != KILN_BACKEND_CPU);
    if (!acc_ok)
        return kiln_fail(KILN_ERR_INVALID_ARG, "acc=%s for %s on %s: accumulate in f32 (f16 only for attention on GPUs)",
                         dtype_name(s->acc), op, kiln_gen_backend_name(s->backend));
    switch (s->op) {
    case KILN_OP_MATMUL:
        if (!kiln_dtype_get(s->fmt)->is_weight_format)
            return kiln_fail(KILN_ERR_INVALID_ARG, "fmt=%s is not a weight format for matmul", dtype_name(s->fmt));
        break;
    case KILN_OP_FLASH_ATTN:
        if (!is_float_type(s->fmt))
            return kiln_fail(KILN_ERR_INVALID_ARG, "fmt=%s: flash_attn K/V are f32, f16 or bf16", dtype_name(s->fmt));
        break;
    case KILN_OP_PAGED_ATTN:
        if (s->fmt != KILN_F32 && s->fmt != KILN_F16 && s->fmt != KILN_Q8_0)
            return kiln_fail(KILN_ERR_INVALID_ARG, "fmt=%s: the paged K/V cache is f32, f16 or q8_0",
                             dtype_name(s->fmt));
        break;
    case KILN_OP_NORM:
        if (s->fmt != s->act)
            return kiln_fail(KILN_ERR_INVALID_ARG, "fmt=%s with act=%s: norm has one dtype (fmt = act)",
                             dtype_name(s->fmt), dtype_name(s->act));
        break;
    case KILN_OP_ROPE:
        /* fmt is the cache dtype; without the kv flag there is no cache and it stays f32 */
        if (s->epilogue & KILN_SPEC_ROPE_KV) {
            if (s->fmt != KILN_F32 && s->fmt != KILN_F16 && s->fmt != KILN_Q8_0)
                return kiln_fail(KILN_ERR_INVALID_ARG, "fmt=%s: the rope KV cache is f32, f16 or q8_0",
                                 dtype_name(s->fmt));
        } else if (s->fmt != KILN_F32) {
            return kiln_fail(KILN_ERR_INVALID_ARG, "fmt=%s without epi=kv: rope has no cache, fmt stays f32",
                             dtype_name(s->fmt));
        }
        if (s->act != KILN_F32 || s->out != KILN_F32)
            return kiln_fail(KILN_ERR_INVALID_ARG, "act=%s out=%s: rope rotates f32 q/k in place (act = out = f32)",
                             dtype_name(s->act), dtype_name(s->out));
        break;
    default: break;
    }
    /* kiln.h: norm's x, residual, sum_out and y share one dtype; attention's O may differ from Q. */
    if (s->op == KILN_OP_NORM && s->out != s->act)
        return kiln_fail(KILN_ERR_INVALID_ARG, "out=%s with act=%s: norm writes its output in the input's dtype",
                         dtype_name(s->out), dtype_name(s->act));
    return KILN_OK;
}

static kiln_status check_epilogue_and_head(const kiln_spec *s)
{
    int count;
    const char *const *names = kiln_gen_flag_names(s->op, &count);
    if (s->epilogue >> count) {
        char list[256] = "none";
        for (int i = 0, at = 0; i < count && at < (int)sizeof list; i++)
            at += snprintf(list + at, sizeof list - (size_t)at, "%s%s", i ? " " : "", names[i]);
        return kiln_fail(KILN_ERR_INVALID_ARG, "epilogue 0x%x has flags %s does not take (%s)", s->epilogue,
                         kiln_op_name(s->op), list);
    }
    int attention = s->op == KILN_OP_FLASH_ATTN || s->op == KILN_OP_PAGED_ATTN;
    if (!attention && s->head_dim != 0)
        return kiln_fail(KILN_ERR_INVALID_ARG, "hd=%d: head_dim is for attention only, %s takes 0", s->head_dim,
                         kiln_op_name(s->op));
    if (attention && (s->head_dim < 0 || s->head_dim > 256 || s->head_dim % 8))
        return kiln_fail(KILN_ERR_INVALID_ARG, "hd=%d: head_dim is 0 (generic) or a multiple of 8 up to 256",
                         s->head_dim);
    if (s->op == KILN_OP_PAGED_ATTN && s->fmt == KILN_Q8_0 && s->head_dim % 32)
        return kiln_fail(KILN_ERR_INVALID_ARG, "hd=%d: a q8_0 cache needs head_dim a multiple of 32 (its block)",
                         s->head_dim);
    return KILN_OK;
}

/* Presence per op, then the range of each tile field that is present. */
static kiln_status check_tiles(const kiln_spec *s)
{
    const op_tiles *use = &tiles_of[s->op];
    int cpu = s->backend == KILN_BACKEND_CPU;
    for (size_t i = 0; i < kiln_spec_field_count; i++) {
        const kiln_spec_field *f = &kiln_spec_fields[i];
        if (f->kind != KILN_FIELD_INT || !strcmp(f->key, "hd")) continue;
        int v = kiln_field_get(s, f);
        int used = word_in(use->used, f->key);
        /* cpu: threads 0 lets the runtime use all its workers; stages 0 = no pipelining */
        int zero_ok = word_in(use->zero_ok, f->key) || (cpu && (!strcmp(f->key, "threads") || !strcmp(f->key, "stages")));
        if (!used && v != 0)
            return kiln_fail(KILN_ERR_INVALID_ARG, "%s=%d: %s does not use %s, it must be 0 (absent)", f->key, v,
                             kiln_op_name(s->op), f->key);
        if (used && (v < 0 || (v == 0 && !zero_ok)))
            return kiln_fail(KILN_ERR_INVALID_ARG, "%s=%d: %s needs %s > 0", f->key, v, kiln_op_name(s->op), f->key);
        if (v > TILE_MAX) return kiln_fail(KILN_ERR_INVALID_ARG, "%s=%d: tiles are at most %d", f->key, v, TILE_MAX);
    }
    const kiln_tile *t = &s->tile;
    if (!cpu && (t->threads % WARP || t->threads > THREADS_MAX))
        return kiln_fail(KILN_ERR_INVALID_ARG,
                         "threads=%d: %s blocks are whole warps/subgroups, a multiple of %d up to %d", t->threads,
                         kiln_gen_backend_name(s->backend), WARP, THREADS_MAX);
    if (cpu && t->threads > 256)
        return kiln_fail(KILN_ERR_INVALID_ARG, "threads=%d: cpu kernels take at most 256 workers", t->threads);
    if (t->vec && (!is_pow2(t->vec) || t->vec > 64))
        return kiln_fail(KILN_ERR_INVALID_ARG, "vec=%d: bytes per load are a power of two up to 64", t->vec);
    if (t->stages > 8) return kiln_fail(KILN_ERR_INVALID_ARG, "stages=%d: at most 8 pipeline stages", t->stages);
    if (t->split > 256) return kiln_fail(KILN_ERR_INVALID_ARG, "split=%d: at most 256 splits", t->split);
    if (s->op == KILN_OP_MATMUL) {
        if (cpu && t->tn > 256)
            return kiln_fail(KILN_ERR_INVALID_ARG,
                             "tn=%d: cpu matmul column blocks are at most 256 tokens (their accumulators live in "
                             "each worker's fixed scratch)",
                             t->tn);
        int block = kiln_dtype_get(s->fmt)->block_elems;
        if (t->tk % block)
            return kiln_fail(KILN_ERR_INVALID_ARG, "tk=%d: the K-step must be a multiple of the %s block (%d)",
                             t->tk, dtype_name(s->fmt), block);
    }
    return KILN_OK;
}

kiln_status kiln_spec_validate(const kiln_spec *s)
{
    if (!s) return kiln_fail(KILN_ERR_INVALID_ARG, "kiln_spec_validate: spec is NULL");
    kiln_status st;
    if ((st = check_enums(s)) || (st = check_backend(s)) || (st = check_types(s)) ||
        (st = check_epilogue_and_head(s)) || (st = check_tiles(s)))
        return st;
    return KILN_OK;
}

/* ------------------------------------------------------------ defaults */

/* Bytes per load that fill one register of the ISA. */
static int cpu_vec(kiln_isa isa) { return isa == KILN_ISA_AVX512 ? 64 : isa == KILN_ISA_AVX2 ? 32 : 16; }

kiln_spec kiln_spec_default(kiln_op op, kiln_backend backend, kiln_isa isa, kiln_dtype fmt)
{
    kiln_spec s;
    memset(&s, 0, sizeof s);
    int cpu = backend == KILN_BACKEND_CPU;
    s.op = op;
    s.backend = backend;
    s.isa = cpu ? (isa == KILN_ISA_NONE ? KILN_ISA_GENERIC : isa) : KILN_ISA_NONE;
    s.fmt = fmt;
    /* Attention and norm compute in the K/V (or input) type when it is a float type. */
    s.act = (op != KILN_OP_MATMUL && is_float_type(fmt)) ? fmt : KILN_F32;
    s.out = s.act;
    s.acc = KILN_F32;
    int gpu_threads = backend == KILN_BACKEND_VULKAN ? 64 : 128;
    switch (op) {
    case KILN_OP_MATMUL:
        s.out = KILN_F32;
        s.tile = (kiln_tile){.tm = 4, .tn = 8, .tk = 256, .threads = cpu ? 0 : gpu_threads, .stages = 1,
                             .vec = cpu ? cpu_vec(s.isa) : 16, .split = 1};
        break;
    case KILN_OP_FLASH_ATTN:
        s.tile = (kiln_tile){.tm = cpu ? 16 : 64, .tn = 64, .threads = cpu ? 0 : gpu_threads, .stages = 1};
        break;
    case KILN_OP_PAGED_ATTN:
        s.tile = (kiln_tile){.tn = 32, .threads = cpu ? 0 : gpu_threads, .split = 0};
        break;
    case KILN_OP_NORM:
        s.fmt = s.act;
        s.tile = (kiln_tile){.threads = cpu ? 0 : 256, .vec = cpu ? cpu_vec(s.isa) : 16};
        break;
    case KILN_OP_ROPE:
        /* fmt names a cache: f32/f16/q8_0 get the kv flag, anything else none (fmt f32) */
        if (fmt == KILN_F32 || fmt == KILN_F16 || fmt == KILN_Q8_0) s.epilogue = KILN_SPEC_ROPE_KV;
        else s.fmt = KILN_F32;
        s.act = s.out = KILN_F32;
        s.tile = (kiln_tile){.threads = cpu ? 0 : gpu_threads};
        break;
    default: break;
    }
    /* the cpu's tiles mean what its templates make of them: its defaults are
     * the instances the cpu bundle compiles (gen/space.c) */
    if (cpu) kiln_space_cpu_default_tiles(&s);
    return s;
}
