/* runtime/session.h — a model placed on a kiln context (internal).
 *
 * Weights: on the cpu backend the host weights are wrapped in place (no copy);
 * on GPU backends each weight is uploaded to its own buffer once.
 * A forward step runs up to max_tokens tokens: the tokens of one sequence's
 * prefill (up to max_batch), or one token each of up to max_seqs sequences
 * (a decode step). Activations for them live in one buffer:
 *   x      f32 [max_tokens][dim]        the residual stream
 *   xn     f32 [max_tokens][dim]        normed x
 *   qkv    f32 q [n][n_head*hd], then k [n][n_kv*hd], then v [n][n_kv*hd],
 *          back to back for the n tokens of a step, so that the host round
 *          trip for RoPE is one download and one upload
 *   att    f32 [max_tokens][n_head*hd]  attention output
 *   ffn    f32 [max_tokens][hidden]     silu(gate) * up
 *   pos    i32 [max_tokens]             each token's position in its sequence
 *   slot   i32 [max_tokens]             each token's KV cache slot
 *   logits f32 [logits_rows][n_vocab]   of the last token of each sequence, or of
 *                                       logits_rows tokens of a prefill at a time */
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
    int32_t max_batch;           /* tokens of one prefill step */
    int32_t max_seqs;            /* sequences (= tokens of one decode step) */
    int32_t max_tokens;          /* max(max_batch, max_seqs) */
    int32_t logits_rows;         /* max_seqs .. max_tokens: rows of the logits area */
    kiln_buffer *act;
    size_t off_x, off_xn, off_qkv, off_att, off_ffn, off_pos, off_slot, off_logits;
    kiln_kv_cache kv;
    float *host_x;               /* embeddings [max_tokens][dim] */
    /* The step's tokens: position and KV slot of each (host copies of pos and
     * slot in the activation buffer), and each token's sequence. */
    int32_t *tok_pos, *tok_slot, *tok_seq;
    int32_t *step_lens;          /* decode: each sequence's length after the step */
    int32_t *host_ids;           /* a verify step's tokens, gathered from its sequences */
    /* Prompts go through the block table (paged attention, a row per token)
     * instead of flash attention over fresh K/V: set with prefix caching, so
     * that every token is computed the same way whether the blocks before it
     * came from the cache or not (bit-identical outputs). */
    int paged_prefill;
};

#endif
