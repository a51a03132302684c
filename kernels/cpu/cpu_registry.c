/* kernels/cpu/cpu_registry.c — finding the built-in kernel for a spec.
 * The generated table holds canonical texts; they are parsed once into specs. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kiln/error.h"
#include "kernels/cpu/cpu_registry.h"

static kiln_spec *specs;       /* parallel to kiln_cpu_registry[]; NULL entries failed to parse */
static unsigned char *parsed_ok;
static size_t count;
static pthread_once_t parse_once = PTHREAD_ONCE_INIT;

static void parse_registry(void)
{
    size_t n = kiln_cpu_registry_count;
    if (!n) return;
    specs = calloc(n, sizeof *specs);
    parsed_ok = calloc(n, 1);
    if (!specs || !parsed_ok) {
        free(specs);
        free(parsed_ok);
        specs = NULL;
        return;
    }
    for (size_t i = 0; i < n; i++) parsed_ok[i] = kiln_spec_parse(kiln_cpu_registry[i].text, &specs[i]) == KILN_OK;
    kiln_clear_error();
    count = n;
}

size_t kiln_cpu_kernel_count(void)
{
    pthread_once(&parse_once, parse_registry);
    return count;
}

const kiln_spec *kiln_cpu_kernel_spec(size_t i)
{
    if (i >= kiln_cpu_kernel_count() || !parsed_ok[i]) return NULL;
    return &specs[i];
}

const kiln_cpu_registry_entry *kiln_cpu_kernel_entry(size_t i)
{
    if (i >= kiln_cpu_kernel_count()) return NULL;
    return &kiln_cpu_registry[i];
}

static int host_converts(kiln_dtype t) { return t == KILN_F32 || t == KILN_F16 || t == KILN_BF16; }

static int tiles_equal(const kiln_tile *a, const kiln_tile *b)
{
    return a->tm == b->tm && a->tn == b->tn && a->tk == b->tk && a->stages == b->stages && a->vec == b->vec &&
           a->split == b->split; /* threads: the pool decides on the cpu */
}

/* Whether built-in kernel k can run spec s (with host conversions). */
static int serves(const kiln_spec *k, const kiln_spec *s)
{
    if (k->op != s->op || k->isa != s->isa || k->backend != s->backend) return 0;
    if (s->acc != KILN_F32) return 0;
    if (!host_converts(s->act) || !host_converts(s->out)) return 0;
    if (s->op != KILN_OP_NORM && k->fmt != s->fmt) return 0;
    if (k->head_dim != 0 && k->head_dim != s->head_dim) return 0;
    if (s->op == KILN_OP_NORM) {
        if ((k->epilogue & KILN_SPEC_NORM_LAYER) != (s->epilogue & KILN_SPEC_NORM_LAYER)) return 0;
        if ((s->epilogue & KILN_SPEC_NORM_RESIDUAL) && !(k->epilogue & KILN_SPEC_NORM_RESIDUAL)) return 0;
    } else if ((s->epilogue & ~k->epilogue) != 0) {
        return 0;
    }
    return tiles_equal(&k->tile, &s->tile);
}

const kiln_cpu_registry_entry *kiln_cpu_kernel_find(const kiln_spec *spec)
{
    size_t n = kiln_cpu_kernel_count();
    const kiln_cpu_registry_entry *best = NULL;
    int best_exact = 0;
    for (size_t i = 0; i < n; i++) {
        const kiln_spec *k = kiln_cpu_kernel_spec(i);
        if (!k || !serves(k, spec)) continue;
        int exact = kiln_spec_equal(k, spec);
        /* a specialized head size beats the generic kernel; an exact match beats both */
        if (!best || exact > best_exact || (k->head_dim && !best_exact)) {
            best = &kiln_cpu_registry[i];
            best_exact = exact;
        }
    }
    if (!best) {
        char text[KILN_SPEC_TEXT_MAX];
        if (kiln_spec_to_text(spec, text, sizeof text) < 0) snprintf(text, sizeof text, "(unprintable spec)");
        kiln_fail(KILN_ERR_UNSUPPORTED, "cpu: no built-in kernel serves '%s' (%zu cpu kernels built in; see kiln-gen --list --backend cpu)",
                  text, n);
    }
    return best;
}
