/* runtime/session.h — a model placed on a kiln context (internal).
 *
 * Weights: on the cpu backend the host weights are wrapped in place (no copy);
 * on GPU backends each weight is uploaded to its own buffer once.
 * Activations for up to max_batch tokens live in one buffer:
 *   x     f32 [max_batch][dim]        the residual stream
 *   xn    f32 [max_batch][dim]        normed x
 *   qkv   f32 q [n][n_head*hd], then k [n][n_kv*hd], then v [n][n_kv*hd],
 *         back to back for the n tokens of a call, so that the host round
 *         trip for RoPE is one download and one upload
 *   att   f32 [max_batch][n_head*hd]  attention output
 *   ffn   f32 [max_batch][hidden]     silu(gate) * up
 *   logits f32 [1][n_vocab]           of the last token only */
#ifndef KILN_RUNTIME_SESSION_H
#define KILN_RUNTIME_SESSION_H

#include "runtime/kv_cache.h"
#include "runtime/model.h"

typedef struct kiln_dev_layer {
    kiln_tensor w[KILN_ROLE_COUNT];
    /* GPU backends, when Q, K and V share a type: one buffer holding Wq, Wk,
     * Wv back to back (w[Q/K/V] are views into it), so a decode step computes
     * q|k|v in one matmul straight into the qkv layout. ndim 0 = not fused. */
    kiln_tensor wqkv;
} kiln_dev_layer;

struct kiln_session {
    const kiln_model *m;
    kiln_context *ctx;
    int host_visible;            /* activations readable in place (cpu backend) */
    kiln_buffer **weight_bufs;   /* every buffer holding weights */
    int n_weight_bufs;
    kiln_tensor output_norm, output;
    kiln_dev_layer *layers;      /* [n_layers] */
    int32_t max_batch;
    kiln_buffer *act;
    size_t off_x, off_xn, off_qkv, off_att, off_ffn, off_logits;
    kiln_kv_cache kv;
    float *rope_freq;            /* [rope_dim/2] */
    float *host_qkv;             /* staging of qkv when not host-visible */
    float *host_x;               /* embeddings [max_batch][dim] */
};

/* RoPE on consecutive pairs of the first rope_dim values of each head, for
 * n tokens at positions pos0.. (runtime/rope.c). */
void kiln_rope_freqs(float *freq, int rope_dim, float theta);
void kiln_rope_apply(float *v, int n, int n_heads, int head_dim, int rope_dim, int pos0, float scale,
                     const float *freq);

#endif
