/* autotune/lookup.c — kiln_tune_chooser: what the op entry points ask, the
 * tuned spec for a call. A context that names it in its options opens one
 * cache (loaded on first use, released with the context). The call's class
 * (its heuristic kernel + band) is looked up in the device's cache; a class
 * not tuned borrows the nearest tuned band of the same kernel; otherwise the
 * core falls back to heuristics. kernels/core/choose.c memoizes the answer,
 * so this runs once per distinct kind of call per context. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "autotune/tune_internal.h"
#include "kiln/kernel.h"

struct kiln_tune_cache *kiln_tune_cache_loaded(kiln_context *ctx, struct kiln_tune_cache *c)
{
    if (c && !c->loaded) {
        /* a bad or stale file is not used: the defaults run, and the user hears of it once */
        if (kiln_tune_cache_load(ctx, c) != KILN_OK) {
            kiln_context_warn(ctx, "%s (the default kernels are used; `kiln tune` rewrites it)", c->problem);
            kiln_clear_error();
        }
    }
    return c;
}

struct kiln_tune_cache *kiln_tune_cache_of(kiln_context *ctx)
{
    return kiln_tune_cache_loaded(ctx, kiln_context_chooser_state(ctx, &kiln_tune_chooser));
}

/* Whether an entry may serve calls of its class on this context. The file is
 * input (in the user's home, shared between kiln versions, editable), so its
 * spec must be of the class it is filed under (everything but the tiles: op,
 * backend, ISA, formats, dtypes, epilogue) — a q8_0 spec under a q4_0 class
 * would read past the weights — valid, and one this build can run (a cpu tile
 * that is not built in, a cuda spec in a cpu file). Checked once; a bad entry
 * is skipped with one warning and the call gets the default kernel. */
static int entry_trusted(kiln_context *ctx, kiln_tune_entry *e)
{
    if (e->trust) return e->trust > 0;
    kiln_spec untiled = e->spec;
    memset(&untiled.tile, 0, sizeof untiled.tile);
    char text[KILN_SPEC_TEXT_MAX], why[KILN_SPEC_TEXT_MAX + 512] = "";
    if (kiln_spec_to_text(&untiled, text, sizeof text) < 0 || strcmp(text, e->base_key))
        snprintf(why, sizeof why, "its spec '%s' is not of that class", e->r.tuned_spec);
    else if (kiln_spec_validate(&e->spec) != KILN_OK)
        snprintf(why, sizeof why, "its spec is invalid: %s", kiln_last_error());
    else if (kiln_kernel_can_implement(ctx, &e->spec) != KILN_OK)
        snprintf(why, sizeof why, "this build cannot run its spec '%s'%s%s", e->r.tuned_spec,
                 kiln_last_error()[0] ? ": " : "", kiln_last_error());
    e->trust = why[0] ? -1 : 1;
    if (e->trust < 0) {
        char path[2048];
        if (kiln_tune_cache_path(ctx, path, sizeof path) != KILN_OK) snprintf(path, sizeof path, "the tuning cache");
        kiln_context_warn(ctx, "%s: entry '%s' skipped (the default kernel is used): %s", path, e->r.shape_class, why);
        kiln_clear_error();
    }
    return e->trust > 0;
}

static kiln_status tune_lookup(void *state, kiln_context *ctx, kiln_op op, const void *params, kiln_spec *out)
{
    struct kiln_tune_cache *c = kiln_tune_cache_loaded(ctx, state);
    if (!c || c->n == 0) return KILN_ERR_UNAVAILABLE;
    kiln_spec base;
    kiln_status st = kiln_choose_heuristic(ctx, op, params, &base);
    if (st != KILN_OK) return st;
    int band = kiln_shape_band(op, params);
    char key[KILN_SPEC_TEXT_MAX + 32];
    kiln_tune_class_key(&base, band, key, sizeof key);
    kiln_tune_entry *hit = (kiln_tune_entry *)kiln_tune_cache_find(c, key);
    if (hit && !entry_trusted(ctx, hit)) hit = NULL;
    if (!hit) {
        /* nearest tuned band of the same kernel */
        char *bar = strstr(key, " | ");
        if (bar) *bar = '\0';
        int best = 1 << 30;
        for (size_t i = 0; i < c->n; i++) {
            int d = abs(c->e[i].band - band);
            if (!strcmp(c->e[i].base_key, key) && d < best && entry_trusted(ctx, &c->e[i])) {
                best = d;
                hit = &c->e[i];
            }
        }
    }
    if (!hit) return KILN_ERR_UNAVAILABLE;
    *out = hit->spec;
    return KILN_OK;
}

static kiln_status tune_open(kiln_context *ctx, void **state)
{
    (void)ctx;
    *state = calloc(1, sizeof(struct kiln_tune_cache));
    return *state ? KILN_OK : kiln_fail(KILN_ERR_OUT_OF_MEMORY, "out of memory");
}

static void tune_close(void *state)
{
    kiln_tune_cache_clear(state);
    free(state);
}

const kiln_chooser kiln_tune_chooser = {
    .size = sizeof(kiln_chooser),
    .name = "autotune",
    .open = tune_open,
    .close = tune_close,
    .choose = tune_lookup,
};
