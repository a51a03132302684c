/* kernels/core/choose.c — which spec runs an op call.
 *
 * In order: the context's chooser (kiln_context_options.chooser, consulted when
 * use_tuning is set: the autotune cache is autotune/lookup.c), the backend's
 * own heuristic (optional vtable entry), else the closest instance of the
 * manifest, else the generator's default spec. Choices are memoized per
 * context by the fields that decide them, so the hot path is one lookup.
 * The tuner and heuristics only choose specs; running them is the backend's job. */
#include <stdlib.h>
#include <string.h>

#include "gen/manifest.h"
#include "kernels/core/backend.h"
#include "kernels/core/hash.h"

/* The fields of a call that decide its spec. */
typedef struct call_key {
    int op, fmt, act, out;
    unsigned epilogue;
    int head_dim;
    int band;       /* kiln_shape_band */
    int small_n;    /* matmul: n <= 8 (mat-vec) */
} call_key;

#define MEMO_SLOTS 256
struct kiln_choice_memo {
    struct {
        int used;
        call_key key;
        kiln_spec spec;
        int planned;        /* kernel holds the backend's plan of spec (vtable plan) */
        const void *kernel;
    } slot[MEMO_SLOTS];
};

size_t kiln_choice_memo_bytes(void) { return sizeof(struct kiln_choice_memo); }

static int band3(int64_t v, int64_t a, int64_t b) { return v <= a ? 0 : v <= b ? 1 : 2; }

int kiln_shape_band(kiln_op op, const void *params)
{
    switch (op) {
    case KILN_OP_MATMUL: {
        int64_t n = ((const kiln_matmul_params *)params)->x.ne[0];
        return n <= 1 ? 0 : n <= 8 ? 1 : n <= 64 ? 2 : 3;
    }
    case KILN_OP_FLASH_ATTN:
        return band3(((const kiln_flash_attn_params *)params)->k.ne[0], 512, 4096);
    case KILN_OP_PAGED_ATTN: {
        /* the cache capacity per sequence: seq_lens live on the device */
        const kiln_paged_attn_params *p = params;
        return band3(p->block_table.ne[p->block_table.ndim - 1] * p->k_cache.ne[1], 512, 4096);
    }
    case KILN_OP_NORM: {
        const kiln_norm_params *p = params;
        return band3(p->x.ne[p->x.ndim - 1], 1024, 8192);
    }
    default:
        return 0;
    }
}

static call_key key_of(kiln_op op, const void *params)
{
    call_key k;
    memset(&k, 0, sizeof k); /* padding too: keys are compared with memcmp */
    k.op = op;
    switch (op) {
    case KILN_OP_MATMUL: {
        const kiln_matmul_params *p = params;
        k.fmt = p->w.dtype, k.act = p->x.dtype, k.out = p->y.dtype, k.epilogue = p->epilogue;
        k.small_n = p->x.ne[0] <= 8;
        break;
    }
    case KILN_OP_FLASH_ATTN: {
        const kiln_flash_attn_params *p = params;
        k.fmt = p->k.dtype, k.act = p->q.dtype, k.out = p->o.dtype;
        k.head_dim = (int)p->q.ne[p->q.ndim - 1];
        break;
    }
    case KILN_OP_PAGED_ATTN: {
        const kiln_paged_attn_params *p = params;
        k.fmt = p->k_cache.dtype, k.act = p->q.dtype, k.out = p->o.dtype;
        k.head_dim = (int)p->q.ne[p->q.ndim - 1];
        break;
    }
    case KILN_OP_NORM: {
        const kiln_norm_params *p = params;
        k.fmt = k.act = p->x.dtype, k.out = p->y.dtype;
        k.epilogue = (p->kind == KILN_NORM_LAYER ? KILN_SPEC_NORM_LAYER : 0u) |
                     (p->residual ? KILN_SPEC_NORM_RESIDUAL : 0u);
        break;
    }
    case KILN_OP_ROPE: {
        const kiln_rope_params *p = params;
        k.fmt = p->k_cache ? (int)p->k_cache->dtype : (int)KILN_F32;
        k.act = k.out = KILN_F32;
        k.epilogue = p->k_cache ? KILN_SPEC_ROPE_KV : 0u;
        break;
    }
    default:
        break;
    }
    k.band = kiln_shape_band(op, params);
    return k;
}

/* Higher is closer; -1 when the instance cannot serve the call. */
static int score(const kiln_context *ctx, const call_key *k, const kiln_spec *s)
{
    if ((int)s->op != k->op || s->backend != ctx->vt->kind || (int)s->fmt != k->fmt) return -1;
    if (s->backend == KILN_BACKEND_CPU && ctx->isa != KILN_ISA_NONE && s->isa != ctx->isa) return -1;
    if (s->head_dim != 0 && s->head_dim != k->head_dim) return -1;
    int v = 0;
    if (s->head_dim == k->head_dim) v += 16;
    if ((int)s->act == k->act) v += 8;
    if ((int)s->out == k->out) v += 4;
    if (s->epilogue == k->epilogue) v += 2;
    if (k->op == KILN_OP_MATMUL && (k->small_n == (s->tile.tn <= 8))) v += 3;
    return v;
}

kiln_status kiln_choose_heuristic(kiln_context *ctx, kiln_op op, const void *params, kiln_spec *out)
{
    if (ctx->vt->heuristic) return ctx->vt->heuristic(ctx, op, params, out);
    call_key k = key_of(op, params);
    int best = -1;
    for (size_t i = 0, n = kiln_manifest_count(); i < n; i++) {
        const kiln_spec *s = kiln_manifest_get(i);
        int v = score(ctx, &k, s);
        if (v > best) {
            best = v;
            *out = *s;
        }
    }
    if (best >= 0) return KILN_OK;
    /* Nothing built in: the generator's default (GPU backends compile any spec). */
    *out = kiln_spec_default(op, ctx->vt->kind, ctx->isa, (kiln_dtype)k.fmt);
    out->act = (kiln_dtype)k.act;
    out->out = (kiln_dtype)k.out;
    out->epilogue = k.epilogue;
    out->head_dim = 0;
    return KILN_OK;
}


void kiln_kernel_choices_forget(kiln_context *ctx)
{
    if (!ctx || !ctx->memo) return;
    pthread_mutex_lock(&ctx->memo_lock);
    memset(ctx->memo, 0, sizeof *ctx->memo);
    pthread_mutex_unlock(&ctx->memo_lock);
}

kiln_status kiln_kernel_choose(kiln_context *ctx, kiln_op op, const void *params, kiln_spec *out)
{
    if (!ctx || !params || !out) return kiln_fail(KILN_ERR_INVALID_ARG, "kiln_kernel_choose: NULL argument");
    if ((unsigned)op >= KILN_OP_COUNT) return kiln_fail(KILN_ERR_INVALID_ARG, "kiln_kernel_choose: bad op %d", (int)op);
    kiln_status st = kiln_validate_params(ctx, op, params);
    if (st != KILN_OK) return st;
    return kiln_choose_validated(ctx, op, params, out, NULL);
}

/* Under the memo lock: the chooser and the memo are shared by the threads of
 * one context (kiln.h "Threads"); a choice is made once per kind of call. */
kiln_status kiln_choose_validated(kiln_context *ctx, kiln_op op, const void *params, kiln_spec *out,
                                  const void **kernel)
{
    call_key k = key_of(op, params);
    uint64_t h = kiln_fnv1a(KILN_FNV1A_SEED, &k, sizeof k);
    kiln_status st = KILN_OK;
    pthread_mutex_lock(&ctx->memo_lock);
    if (ctx->memo) {
        for (size_t i = 0; i < MEMO_SLOTS; i++) {
            size_t j = (h + i) % MEMO_SLOTS;
            if (!ctx->memo->slot[j].used) break;
            if (!memcmp(&ctx->memo->slot[j].key, &k, sizeof k)) {
                *out = ctx->memo->slot[j].spec;
                if (kernel && !ctx->memo->slot[j].planned && ctx->vt->plan) {
                    st = ctx->vt->plan(ctx, out, &ctx->memo->slot[j].kernel);
                    ctx->memo->slot[j].planned = st == KILN_OK;
                }
                if (kernel) *kernel = ctx->memo->slot[j].kernel;
                pthread_mutex_unlock(&ctx->memo_lock);
                return st;
            }
        }
    }
    const kiln_chooser *c = ctx->opts.use_tuning ? ctx->opts.chooser : NULL;
    if (!(c && c->choose(ctx->chooser_state, ctx, op, params, out) == KILN_OK)) st = kiln_choose_heuristic(ctx, op, params, out);
    /* the backend's lookup of the spec's kernel, memoized with it: a one-call op then does no search either */
    const void *found = NULL;
    int planned = 0;
    if (st == KILN_OK && kernel && ctx->vt->plan) {
        st = ctx->vt->plan(ctx, out, &found);
        planned = st == KILN_OK;
    }
    if (kernel) *kernel = found;
    if (st == KILN_OK && ctx->memo) {
        for (size_t i = 0; i < MEMO_SLOTS; i++) {
            size_t j = (h + i) % MEMO_SLOTS;
            if (ctx->memo->slot[j].used) continue;
            ctx->memo->slot[j].used = 1;
            ctx->memo->slot[j].key = k;
            ctx->memo->slot[j].spec = *out;
            ctx->memo->slot[j].planned = planned;
            ctx->memo->slot[j].kernel = found;
            break;
        }
    }
    pthread_mutex_unlock(&ctx->memo_lock);
    return st;
}
