/* gen/space.c — search spaces per op family and backend (see space.h).
 *
 * The table holds explicit declarations; anything not declared searches the
 * neighbourhood of the default tiles. Adding a backend's tuning is adding rows
 * here, never new tuner code. */
#include <string.h>

#include "gen/manifest.h"
#include "gen/space.h"
#include "gen/spec_fields.h"
#include "kernels/core/backend.h"

typedef struct space_decl {
    kiln_op op;
    kiln_backend backend;
    int from_manifest;
    kiln_space_axis axes[KILN_SPACE_MAX_AXES];
} space_decl;

/* Explicit declarations. Values a template cannot take are pruned by
 * validation, can_implement, or at worst the reference check of the tuner. */
static const space_decl decls[] = {
    /* cpu kernels are compiled into the library: search the built-in instances */
    {.op = KILN_OP_MATMUL, .backend = KILN_BACKEND_CPU, .from_manifest = 1},
    {.op = KILN_OP_FLASH_ATTN, .backend = KILN_BACKEND_CPU, .from_manifest = 1},
    {.op = KILN_OP_PAGED_ATTN, .backend = KILN_BACKEND_CPU, .from_manifest = 1},
    {.op = KILN_OP_NORM, .backend = KILN_BACKEND_CPU, .from_manifest = 1},
};

static int matches_base(const kiln_spec *a, const kiln_spec *b)
{
    return a->op == b->op && a->backend == b->backend && a->isa == b->isa && a->fmt == b->fmt &&
           a->act == b->act && a->out == b->out && a->acc == b->acc && a->epilogue == b->epilogue &&
           a->head_dim == b->head_dim;
}

/* x/4 .. 4x in powers of two around a used field's default. */
static void neighbourhood(const kiln_spec *base, kiln_search_space *sp)
{
    static const char *const tile_keys[] = {"tm", "tn", "tk", "threads", "stages", "vec", "split"};
    for (size_t i = 0; i < sizeof tile_keys / sizeof tile_keys[0]; i++) {
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
            n += matches_base(kiln_manifest_get(i), &sp->base);
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
            if (!matches_base(s, &sp->base)) continue;
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
