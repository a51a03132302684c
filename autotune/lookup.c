/* autotune/lookup.c — what the op entry points ask: the tuned spec for a call.
 * The call's class (its heuristic kernel + band) is looked up in the device's
 * cache; a class not tuned borrows the nearest tuned band of the same kernel;
 * otherwise the caller falls back to heuristics. kernels/core/choose.c memoizes
 * the answer, so this runs once per distinct kind of call per context. */
#include <stdlib.h>
#include <string.h>

#include "autotune/tune_internal.h"

struct kiln_tune_cache *kiln_tune_cache_of(kiln_context *ctx)
{
    if (!ctx->tune) {
        ctx->tune = calloc(1, sizeof *ctx->tune);
        if (!ctx->tune) return NULL;
    }
    if (!ctx->tune->loaded) {
        kiln_status st = kiln_tune_cache_load(ctx, ctx->tune); /* a bad file: reported by `kiln tune`, not used */
        (void)st;
    }
    return ctx->tune;
}

void kiln_tune_cache_release(kiln_context *ctx)
{
    if (!ctx || !ctx->tune) return;
    kiln_tune_cache_clear(ctx->tune);
    free(ctx->tune);
    ctx->tune = NULL;
}

kiln_status kiln_tune_lookup(kiln_context *ctx, kiln_op op, const void *params, kiln_spec *out)
{
    struct kiln_tune_cache *c = kiln_tune_cache_of(ctx);
    if (!c || c->n == 0) return KILN_ERR_UNAVAILABLE;
    kiln_spec base;
    kiln_status st = kiln_choose_heuristic(ctx, op, params, &base);
    if (st != KILN_OK) return st;
    int band = kiln_tune_band(op, params);
    char key[KILN_SPEC_TEXT_MAX + 32];
    kiln_tune_class_key(&base, band, key, sizeof key);
    const kiln_tune_entry *hit = kiln_tune_cache_find(c, key);
    if (!hit) {
        /* nearest tuned band of the same kernel */
        char *bar = strstr(key, " | ");
        if (bar) *bar = '\0';
        int best = 1 << 30;
        for (size_t i = 0; i < c->n; i++) {
            int d = abs(c->e[i].band - band);
            if (!strcmp(c->e[i].base_key, key) && d < best) {
                best = d;
                hit = &c->e[i];
            }
        }
    }
    if (!hit) return KILN_ERR_UNAVAILABLE;
    *out = hit->spec;
    return KILN_OK;
}
