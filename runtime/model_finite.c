/* runtime/model_finite.c — refusing a model whose weights hold NaN or
 * infinity. Such a file (a broken conversion, a damaged download) would
 * otherwise run and print garbage ("0 0 0 ...") without a word.
 *
 * The check reads only the floating-point fields: every value of f32, f16 and
 * bf16 tensors, and the scales (and mins) of each quantized block — the codes
 * of a quantized block are integers and cannot be non-finite. It streams
 * the weights once at load, which a session does anyway. */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "formats/format_traits.h"
#include "kiln/error.h"
#include "runtime/model.h"

/* Whether the field at p is NaN or infinity: all exponent bits set. */
static int non_finite(kiln_scale_kind kind, const unsigned char *p)
{
    if (kind == KILN_SCALE_F32) {
        uint32_t u;
        memcpy(&u, p, 4);
        return (u & 0x7f800000u) == 0x7f800000u;
    }
    uint16_t h;
    memcpy(&h, p, 2);
    return kind == KILN_SCALE_F16 ? (h & 0x7c00u) == 0x7c00u : (h & 0x7f80u) == 0x7f80u;
}

/* The first block of w holding a non-finite value, or -1. Which fields of a
 * block are floats (kind, byte offsets): the scale columns of formats/formats.def. */
static int64_t first_bad_block(const kiln_weight *w)
{
    const kiln_dtype_info *t = kiln_dtype_get(w->dtype);
    const kiln_format *f = t ? kiln_format_get(w->dtype) : NULL;
    if (!w->data || !f || f->scale == KILN_SCALE_NONE) return -1;
    const int nf = f->scale_off[1] >= 0 ? 2 : 1;
    const unsigned char *base = w->data;
    int64_t blocks = w->rows * (w->cols / t->block_elems);
    size_t bb = (size_t)t->block_bytes;
    /* Chunks with a branch-free inner loop, so the common all-finite case streams. */
    for (int64_t c0 = 0; c0 < blocks; c0 += 4096) {
        int64_t c1 = c0 + 4096 < blocks ? c0 + 4096 : blocks;
        int bad = 0;
        for (int64_t b = c0; b < c1; b++)
            for (int i = 0; i < nf; i++) bad |= non_finite(f->scale, base + (size_t)b * bb + (size_t)f->scale_off[i]);
        if (bad)
            for (int64_t b = c0; b < c1; b++)
                for (int i = 0; i < nf; i++)
                    if (non_finite(f->scale, base + (size_t)b * bb + (size_t)f->scale_off[i])) return b;
    }
    return -1;
}

static kiln_status check_one(const kiln_weight *w, const char *name)
{
    int64_t b = first_bad_block(w);
    if (b < 0) return KILN_OK;
    const kiln_dtype_info *t = kiln_dtype_get(w->dtype);
    if (!t->is_quantized)
        return kiln_fail(KILN_ERR_FORMAT, "%s (%s) holds NaN or infinity at element %lld (row %lld); the file is damaged",
                         name, t->name, (long long)b, (long long)(b / w->cols));
    return kiln_fail(KILN_ERR_FORMAT,
                     "%s (%s) has a NaN or infinite scale in block %lld (row %lld); the file is damaged", name,
                     t->name, (long long)b, (long long)(b / (w->cols / t->block_elems)));
}

kiln_status kiln_model_check_finite(const kiln_model *m)
{
    kiln_status st;
    if ((st = check_one(&m->token_embd, "token_embd.weight")) || (st = check_one(&m->output_norm, "output_norm.weight")))
        return st;
    if (m->output.data != m->token_embd.data && (st = check_one(&m->output, "output.weight"))) return st;
    for (int l = 0; l < m->cfg.n_layers; l++)
        for (int r = KILN_ROLE_FIRST_PER_LAYER; r < KILN_ROLE_COUNT; r++) {
            char name[64];
            snprintf(name, sizeof name, "blk.%d.%s.weight", l, kiln_role_name((kiln_role)r));
            if ((st = check_one(&m->layers[l].w[r], name))) return st;
        }
    return KILN_OK;
}
