/* gen/space.c — search spaces per op family and backend (see space.h).
 *
 * The table holds explicit declarations; anything not declared searches the
 * neighbourhood of the default tiles. Adding a backend's tuning is adding rows
 * here, never new tuner code. */
#include <string.h>

#include "formats/format_traits.h"
#include "gen/manifest.h"
#include "gen/space.h"
#include "gen/spec_fields.h"
#include "kiln/error.h"
#include "kiln/kernel.h"

typedef struct space_decl {
    kiln_op op;
    kiln_backend backend;
    int from_manifest;
    kiln_space_axis axes[KILN_SPACE_MAX_AXES];
} space_decl;

/* Explicit declarations. Values a template cannot take are pruned by
 * validation, can_implement, or at worst the reference check of the tuner.
 * The cpu's axes depend on the format and ISA: kiln_space_cpu_axes below. */
static const space_decl decls[] = {
    /* cpu kernels are compiled into the library: search the built-in instances */
    {.op = KILN_OP_MATMUL, .backend = KILN_BACKEND_CPU, .from_manifest = 1},
    {.op = KILN_OP_FLASH_ATTN, .backend = KILN_BACKEND_CPU, .from_manifest = 1},
    {.op = KILN_OP_PAGED_ATTN, .backend = KILN_BACKEND_CPU, .from_manifest = 1},
    {.op = KILN_OP_NORM, .backend = KILN_BACKEND_CPU, .from_manifest = 1},
    {.op = KILN_OP_ROPE, .backend = KILN_BACKEND_CPU, .from_manifest = 1},
};

/* ------------------------------------------------------------ the cpu */

int kiln_space_cpu_matmul_direct(kiln_isa isa, kiln_dtype fmt)
{
    if (isa != KILN_ISA_AVX2 && isa != KILN_ISA_AVX512) return 0;
    return kiln_format_has(fmt, KILN_FMT_F_FAST_CPU); /* formats/formats.def */
}

/* The formats whose AVX2 mat-mat runs 8-row panels
 * (kernels/cpu/templates/matmul_panel.c): each panel expands a chunk of
 * weights once per column block, so their blocks are longer. */
static int cpu_matmul_panels(kiln_isa isa, kiln_dtype fmt)
{
    if (isa != KILN_ISA_AVX2 && isa != KILN_ISA_AVX512) return 0;
    return kiln_format_has(fmt, KILN_FMT_F_FAST_CPU | KILN_FMT_F_FAST_CPU_PANEL);
}

/* What the tiles mean on the cpu (docs/CPU.md):
 *   matmul  tn: columns per L2 block (MM_NB); the direct paths keep 16 tokens
 *           of activations hot (64 for the panels, which spread their
 *           weight expansion over the block), the generic path dequantizes
 *           its row tile once per block and wants long ones. split: work chunks per task (1 =
 *           static ranges, > 1 = claimed dynamically).
 *   flash   tm: queries per tile (FLASH_TM), tn: keys per tile (ATTN_TILE).
 *   paged   tn: keys per tile (ATTN_TILE).
 *   norm    nothing: rows are split evenly and each streams once. */
#define CPU_MM_NB_DIRECT 16
#define CPU_MM_NB_PANELS 64
#define CPU_MM_NB_GENERIC 256
#define CPU_ATTN_TILE 32

void kiln_space_cpu_default_tiles(kiln_spec *s)
{
    switch (s->op) {
    case KILN_OP_MATMUL:
        s->tile.tn = cpu_matmul_panels(s->isa, s->fmt)               ? CPU_MM_NB_PANELS
                     : kiln_space_cpu_matmul_direct(s->isa, s->fmt) ? CPU_MM_NB_DIRECT
                                                                    : CPU_MM_NB_GENERIC;
        s->tile.split = 1; /* static: one contiguous range of row tiles per task */
        break;
    case KILN_OP_FLASH_ATTN:
        s->tile.tm = 1; /* one query per tile (FLASH_TM) */
        s->tile.tn = CPU_ATTN_TILE;
        break;
    case KILN_OP_PAGED_ATTN:
        s->tile.tn = CPU_ATTN_TILE;
        break;
    default:
        break;
    }
}

/* Formats whose cpu kernels get tile variants: the ones `kiln tune` measures
 * by default (autotune/classes.c). Each variant is a whole kernel in the
 * bundle (gen/bundle_cpu.c), so the list is short: build time, binary size. */
static int cpu_tuned_format(kiln_op op, kiln_dtype fmt)
{
    if (op == KILN_OP_MATMUL) return kiln_format_has(fmt, KILN_FMT_F_WEIGHT | KILN_FMT_F_TUNE);
    return fmt == KILN_F16; /* attention: f16 K/V */
}

int kiln_space_cpu_axes(const kiln_spec *dflt, kiln_space_axis axes[KILN_SPACE_MAX_AXES])
{
    if (dflt->backend != KILN_BACKEND_CPU || !cpu_tuned_format(dflt->op, dflt->fmt)) return 0;
    switch (dflt->op) {
    case KILN_OP_MATMUL: {
        /* tn: the default block and 4x (direct) or 1/4 (generic) of it, both
         * multiples of the 2-column micro-tile; split: static, or 8 chunks per
         * task claimed dynamically */
        int nb = dflt->tile.tn, other = kiln_space_cpu_matmul_direct(dflt->isa, dflt->fmt) ? nb * 4 : nb / 4;
        axes[0] = (kiln_space_axis){.field = "tn", .count = 2, .values = {nb, other}};
        axes[1] = (kiln_space_axis){.field = "split", .count = 2, .values = {dflt->tile.split, 8}};
        return 2;
    }
    case KILN_OP_FLASH_ATTN:
        /* queries per tile, at most FLASH_TM_MAX (4), and keys per tile, at
         * most ATTN_TILE_MAX (64): what the host's scratch holds */
        axes[0] = (kiln_space_axis){.field = "tm", .count = 2, .values = {dflt->tile.tm, 4}};
        axes[1] = (kiln_space_axis){.field = "tn", .count = 3, .values = {dflt->tile.tn, 16, 64}};
        return 2;
    case KILN_OP_PAGED_ATTN:
        axes[0] = (kiln_space_axis){.field = "tn", .count = 3, .values = {dflt->tile.tn, 16, 64}};
        return 1;
    default:
        return 0; /* norm: rows split evenly, each streamed once; no tile to choose */
    }
}

static int matches_base(const kiln_spec *a, const kiln_spec *b)
{
    return a->op == b->op && a->backend == b->backend && a->isa == b->isa && a->fmt == b->fmt &&
           a->act == b->act && a->out == b->out && a->acc == b->acc && a->epilogue == b->epilogue &&
           a->head_dim == b->head_dim;
}

static const char *const tile_keys[] = {"tm", "tn", "tk", "threads", "stages", "vec", "split"};
#define N_TILE_KEYS (sizeof tile_keys / sizeof tile_keys[0])

/* Whether s is a point of sp: its base, and the base's value in every field
 * held fixed (kiln_search_space_restrict). */
static int in_space(const kiln_search_space *sp, const kiln_spec *s)
{
    if (!matches_base(s, &sp->base)) return 0;
    for (size_t k = 0; k < N_TILE_KEYS; k++) {
        if (!(sp->fixed >> k & 1u)) continue;
        const kiln_spec_field *f = kiln_field_find(tile_keys[k], strlen(tile_keys[k]));
        if (kiln_field_get(s, f) != kiln_field_get(&sp->base, f)) return 0;
    }
    return 1;
}

/* x/4 .. 4x in powers of two around a used field's default. */
static void neighbourhood(const kiln_spec *base, kiln_search_space *sp)
{
    for (size_t i = 0; i < N_TILE_KEYS; i++) {
        const kiln_spec_field *f = kiln_field_find(tile_keys[i], strlen(tile_keys[i]));
        int d = f ? kiln_field_get(base, f) : 0;
        if (d <= 0) continue;
        kiln_space_axis *ax = &sp->axes[sp->n_axes++];
        ax->field = tile_keys[i];
        ax->count = 0;
        for (int s = -2; s <= 2; s++) {
            long v = s < 0 ? d >> -s : (long)d << s;
            if (v < 1 || v > 4096) continue;
            if (ax->count > 0 && ax->values[ax->count - 1] == v) continue;
            ax->values[ax->count++] = (int)v;
        }
    }
}

kiln_status kiln_search_space_make(const kiln_spec *base, kiln_search_space *out)
{
    if (!base || !out) return kiln_fail(KILN_ERR_INVALID_ARG, "kiln_search_space_make: NULL argument");
    memset(out, 0, sizeof *out);
    out->base = *base;
    for (size_t i = 0; i < sizeof decls / sizeof decls[0]; i++) {
        if (decls[i].op != base->op || decls[i].backend != base->backend) continue;
        out->from_manifest = decls[i].from_manifest;
        for (int a = 0; a < KILN_SPACE_MAX_AXES && decls[i].axes[a].field; a++)
            out->axes[out->n_axes++] = decls[i].axes[a];
        /* the cpu's axes, for coordinate descent over its compiled-in instances */
        if (base->backend == KILN_BACKEND_CPU) out->n_axes = kiln_space_cpu_axes(base, out->axes);
        if (out->n_axes == 0 && !out->from_manifest) neighbourhood(base, out);
        return KILN_OK;
    }
    neighbourhood(base, out);
    return KILN_OK;
}

size_t kiln_search_space_size(const kiln_search_space *sp)
{
    if (sp->from_manifest) {
        size_t n = 0;
        for (size_t i = 0, c = kiln_manifest_count(); i < c; i++)
            n += in_space(sp, kiln_manifest_get(i));
        return n;
    }
    size_t n = 1;
    for (int a = 0; a < sp->n_axes; a++) n *= (size_t)sp->axes[a].count;
    return n;
}

void kiln_search_space_apply(const kiln_search_space *sp, int a, int v, kiln_spec *s)
{
    const kiln_spec_field *f = kiln_field_find(sp->axes[a].field, strlen(sp->axes[a].field));
    if (f) kiln_field_set(s, f, sp->axes[a].values[v]);
}

kiln_status kiln_search_space_point(const kiln_search_space *sp, size_t i, kiln_spec *out)
{
    if (sp->from_manifest) {
        for (size_t j = 0, c = kiln_manifest_count(); j < c; j++) {
            const kiln_spec *s = kiln_manifest_get(j);
            if (!in_space(sp, s)) continue;
            if (i-- == 0) {
                *out = *s;
                return KILN_OK;
            }
        }
        return kiln_fail(KILN_ERR_INVALID_ARG, "search space point out of range");
    }
    *out = sp->base;
    for (int a = sp->n_axes - 1; a >= 0; a--) {
        int c = sp->axes[a].count;
        kiln_search_space_apply(sp, a, (int)(i % (size_t)c), out);
        i /= (size_t)c;
    }
    if (i != 0) return kiln_fail(KILN_ERR_INVALID_ARG, "search space point out of range");
    return kiln_spec_validate(out);
}

kiln_status kiln_search_space_restrict(kiln_search_space *sp, const char *fields)
{
    if (!sp || !fields) return kiln_fail(KILN_ERR_INVALID_ARG, "kiln_search_space_restrict: NULL argument");
    unsigned keep = 0;
    for (const char *p = fields; *p;) {
        size_t len = strcspn(p, ",");
        size_t k = 0;
        while (k < N_TILE_KEYS && (strlen(tile_keys[k]) != len || memcmp(tile_keys[k], p, len))) k++;
        if (k == N_TILE_KEYS)
            return kiln_fail(KILN_ERR_INVALID_ARG, "search axes: '%.*s' is not a tile field (tm tn tk threads stages vec split)",
                             (int)len, p);
        keep |= 1u << k;
        p += len + (p[len] == ',');
    }
    sp->fixed = ((1u << N_TILE_KEYS) - 1) & ~keep;
    int n = 0;
    for (int a = 0; a < sp->n_axes; a++) {
        size_t k = 0;
        while (k < N_TILE_KEYS && strcmp(tile_keys[k], sp->axes[a].field)) k++;
        if (k < N_TILE_KEYS && (keep >> k & 1u)) sp->axes[n++] = sp->axes[a];
    }
    sp->n_axes = n;
    return KILN_OK;
}
