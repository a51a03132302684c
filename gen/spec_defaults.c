/* gen/spec_defaults.c — the tiles of a spec text that names none: the
 * backends' own heuristics (header-only, shared with gen/manifest_<b>.c and
 * with the backends' run-time choice; see gen/spec_defaults.h). */
#include "gen/spec_defaults.h"

#include "gen/cuda_heuristic.h"
#include "gen/vk_specs.h"

/* The shapes a spec leaves open, fixed as the manifest fixes them. */
enum {
    DECODE_TOKENS = 1,   /* matmul: the mat-vec of one token (what sets decode speed) */
    NORM_ROW = 4096,     /* norm: a 7B model's hidden size */
    VK_FLASH_SHARED = 32768 /* vulkan flash attention: the shared memory every device has */
};

static kiln_tile cuda_tiles(const kiln_spec *s)
{
    switch (s->op) {
    case KILN_OP_MATMUL: return kiln_cuda_matmul_spec(s->fmt, s->act, s->out, s->epilogue, DECODE_TOKENS).tile;
    case KILN_OP_FLASH_ATTN: return kiln_cuda_flash_spec(s->fmt, s->head_dim).tile;
    case KILN_OP_PAGED_ATTN: return kiln_cuda_paged_spec(s->fmt, s->act, s->head_dim).tile;
    case KILN_OP_NORM: return kiln_cuda_norm_spec(s->act, s->epilogue, NORM_ROW).tile;
    case KILN_OP_ROPE:
        return kiln_cuda_rope_spec(s->epilogue & KILN_SPEC_ROPE_KV ? s->fmt : KILN_DTYPE_COUNT).tile;
    default: return s->tile;
    }
}

static kiln_tile vulkan_tiles(const kiln_spec *s)
{
    switch (s->op) {
    case KILN_OP_MATMUL: return kiln_vk_matmul_spec(s->fmt, s->act, s->out, s->epilogue, DECODE_TOKENS).tile;
    case KILN_OP_FLASH_ATTN: return kiln_vk_flash_spec(s->fmt, s->act, s->head_dim, VK_FLASH_SHARED).tile;
    case KILN_OP_PAGED_ATTN: return kiln_vk_paged_spec(s->fmt, s->act, s->head_dim).tile;
    case KILN_OP_NORM: return kiln_vk_norm_spec(s->act, s->epilogue, NORM_ROW).tile;
    case KILN_OP_ROPE: return kiln_vk_rope_spec(s->epilogue & KILN_SPEC_ROPE_KV ? s->fmt : KILN_DTYPE_COUNT).tile;
    default: return s->tile;
    }
}

void kiln_spec_heuristic_tiles(kiln_spec *s)
{
    switch (s->backend) {
    case KILN_BACKEND_CUDA: s->tile = cuda_tiles(s); break;
    case KILN_BACKEND_VULKAN: s->tile = vulkan_tiles(s); break;
    /* the cpu's default spec is the first instance its heuristic serves
     * calls with (gen/manifest_cpu.c, gen/space.c) */
    case KILN_BACKEND_CPU: s->tile = kiln_spec_default(s->op, s->backend, s->isa, s->fmt).tile; break;
    default: break;
    }
}
